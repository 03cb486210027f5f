"""The learning framework in the admin: departments, competencies, targets, scales; policies and
the audit trail read-only.

Evidence and Mastery records are read-only here too (gradebook.admin): scores change only through
the services, which validate, void instead of overwrite, and recompute.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db import models

from mastery import audit
from mastery.admin.site import AuditedAdmin, TenantAdmin, TenantInline, admin_site
from mastery.models import (
    AuditEvent,
    Competency,
    Department,
    GradingPolicy,
    LearningTarget,
    LevelDescriptor,
    ProficiencyScale,
    ScaleLevel,
)


@admin.register(Department, site=admin_site)
class DepartmentAdmin(TenantAdmin):
    list_display = ["name", "code", "school"]
    list_filter = ["school"]
    search_fields = ["name"]


@admin.register(Competency, site=admin_site)
class CompetencyAdmin(TenantAdmin):
    list_display = ["code", "name", "kind", "department", "school"]
    list_filter = ["kind", "school", "department"]
    search_fields = ["code", "name"]


class LevelDescriptorInline(TenantInline):
    model = LevelDescriptor
    formfield_overrides = {
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 60})}
    }


@admin.register(LearningTarget, site=admin_site)
class LearningTargetAdmin(AuditedAdmin, TenantAdmin):
    audit_type = AuditEvent.ObjectType.TARGET
    list_display = ["code", "statement", "competency", "standard_code", "dok_level", "is_active"]
    list_filter = ["school", "department", "dok_level", "is_active"]
    search_fields = ["code", "statement", "standard_code"]
    inlines = [LevelDescriptorInline]

    def audit_state(self, obj: LearningTarget) -> dict:
        return audit.target_state(obj)


class ScaleLevelInline(TenantInline):
    model = ScaleLevel


@admin.register(ProficiencyScale, site=admin_site)
class ProficiencyScaleAdmin(AuditedAdmin, TenantAdmin):
    """The scale's labels, cut-offs and half points change here (and only here): audited."""

    audit_type = AuditEvent.ObjectType.SCALE
    list_display = ["name", "kind", "allows_half_points", "school"]
    list_filter = ["school", "kind"]
    inlines = [ScaleLevelInline]

    def audit_state(self, obj: ProficiencyScale) -> dict:
        return audit.scale_state(obj)


@admin.register(GradingPolicy, site=admin_site)
class GradingPolicyAdmin(TenantAdmin):
    """Read-only: a policy changes through `policy_change`, which versions it and recomputes."""

    read_only = True
    list_display = ["__str__", "school", "course", "version", "is_current", "method", "created_at"]
    list_filter = ["school", "is_current", "method"]


@admin.register(AuditEvent, site=admin_site)
class AuditEventAdmin(TenantAdmin):
    """Read-only, like the table itself: the trail is looked at, never edited."""

    read_only = True
    list_display = ["at", "actor", "action", "object_type", "summary", "source", "school"]
    list_filter = ["school", "object_type", "action", "source"]
    search_fields = ["summary", "actor__email", "actor__full_name"]
    date_hierarchy = "at"
    list_select_related = ["actor", "school"]
