"""The admin site and the lockdown of what a school admin may see and do in it.

Superusers see every school. A school admin (a `school_admin` membership) may sign in to the admin
and sees, adds and changes only rows of the schools they administer; every foreign-key choice is
limited to those schools too. The ModelAdmins (mastery.admin.people, mastery.admin.framework,
gradebook.admin) build on the base classes here and register onto `admin_site`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import models
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse

from mastery import audit
from mastery.account_forms import OwnerPasswordChangeForm
from mastery.models import (
    AuditEvent,
    Membership,
    Role,
    School,
    TenantModel,
    User,
)


def administered_school_ids(request: HttpRequest) -> list[int] | None:
    """Ids of the schools this admin user may manage; None means all (superuser)."""
    if request.user.is_superuser:
        return None
    if not request.user.is_authenticated:
        return []  # the admin's login page asks too, before anyone has logged in
    if not hasattr(request, "_admin_school_ids"):
        request._admin_school_ids = list(
            Membership.objects.filter(user=request.user, role=Role.SCHOOL_ADMIN).values_list(
                "school_id", flat=True
            )
        )
    return request._admin_school_ids


class MasteryAdminSite(admin.AdminSite):
    site_header = "Mastery gradebook administration"
    site_title = "Mastery gradebook admin"
    index_title = "Set up your school"
    # One's own password, changed in the admin: recorded like any other credential event.
    password_change_form = OwnerPasswordChangeForm

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        if not (user.is_active and user.is_authenticated):
            return False
        return user.is_superuser or bool(administered_school_ids(request))

    def admin_view(
        self, view: Callable[..., HttpResponse], cacheable: bool = False
    ) -> Callable[..., HttpResponse]:
        """Every admin page records its changes in the audit trail as the signed-in user."""
        inner = super().admin_view(view, cacheable)

        @functools.wraps(inner)
        def acting(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            with audit.context(actor=request.user, source="admin"):
                return inner(request, *args, **kwargs)

        return acting


admin_site = MasteryAdminSite(name="admin")


def _limit_to_schools(queryset: models.QuerySet, school_ids: list[int] | None) -> models.QuerySet:
    model = queryset.model
    if school_ids is None:
        return queryset
    if model is School:
        return queryset.filter(id__in=school_ids)
    if issubclass(model, TenantModel):
        return queryset.filter(school_id__in=school_ids)
    if model is User:
        # Members of the admin's schools, plus accounts not attached to any school yet (so a
        # newly created teacher can be given a membership); never superusers or other schools' people.
        return queryset.filter(
            models.Q(memberships__school_id__in=school_ids)
            | models.Q(
                memberships__isnull=True, district_memberships__isnull=True, is_superuser=False
            )
        ).distinct()
    return queryset


class SchoolScopedMixin:
    """For ModelAdmins and inlines of tenant models: every query limited to the admin's schools."""

    read_only = False

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        return _limit_to_schools(super().get_queryset(request), administered_school_ids(request))

    def formfield_for_foreignkey(
        self, db_field: models.ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> forms.Field | None:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = _limit_to_schools(field.queryset, administered_school_ids(request))
        return field

    def formfield_for_manytomany(
        self, db_field: models.ManyToManyField, request: HttpRequest, **kwargs: Any
    ) -> forms.Field | None:
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = _limit_to_schools(field.queryset, administered_school_ids(request))
        return field

    def _allowed(self, request: HttpRequest) -> bool:
        return request.user.is_superuser or bool(administered_school_ids(request))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request)

    def has_view_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._allowed(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._allowed(request) and not self.read_only

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._allowed(request) and not self.read_only

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._allowed(request) and not self.read_only


class TenantAdmin(SchoolScopedMixin, admin.ModelAdmin):
    def get_list_filter(self, request: HttpRequest) -> list:
        # Foreign-key filters list only values present in the (scoped) rows, never other schools'.
        filters = []
        for item in super().get_list_filter(request):
            if isinstance(item, str) and "__" not in item:
                field = self.model._meta.get_field(item)
                if isinstance(field, models.ForeignKey):
                    item = (item, admin.RelatedOnlyFieldListFilter)
            filters.append(item)
        return filters

    def save_model(
        self, request: HttpRequest, obj: models.Model, form: forms.ModelForm, change: bool
    ) -> None:
        allowed = administered_school_ids(request)
        if allowed is not None and getattr(obj, "school_id", None) not in allowed:
            raise PermissionDenied("You can only change your own schools.")
        super().save_model(request, obj, form, change)


class TenantInline(SchoolScopedMixin, admin.TabularInline):
    extra = 0

    def get_formset(
        self, request: HttpRequest, obj: models.Model | None = None, **kwargs: Any
    ) -> type[BaseInlineFormSet]:
        formset = super().get_formset(request, obj, **kwargs)
        parent = obj

        class SchoolFillingFormSet(formset):
            def save_new(self, form: forms.ModelForm, commit: bool = True) -> models.Model:
                instance = form.save(commit=False)
                # The parent is a tenant row, or (memberships on the school's page) the school.
                owner = parent if parent is not None else self.instance
                instance.school_id = owner.pk if isinstance(owner, School) else owner.school_id
                if commit:
                    instance.save()
                return instance

        return SchoolFillingFormSet

    def get_exclude(self, request: HttpRequest, obj: models.Model | None = None) -> list[str]:
        return [*(super().get_exclude(request, obj) or []), "school"]


def audit_event_of(
    obj: Any, object_type: str, action: str, before: dict | None, after: dict | None
) -> AuditEvent:
    return audit.event(
        school=obj.school_id,
        action=action,
        object_type=object_type,
        object_id=obj.pk,
        target_id=obj.pk if object_type == AuditEvent.ObjectType.TARGET else None,
        before=before,
        after=after,
        summary=str(obj),
    )


class AuditedAdmin:
    """Records each save and delete of the admin's model in the audit trail, before → after.

    The "before" is read from the database before the form's values are saved; the "after" once
    the inlines are saved too (scale levels, target descriptors), so one event covers the page.
    """

    audit_type: str

    def audit_state(self, obj: Any) -> dict:
        raise NotImplementedError

    def audit_event(
        self, obj: models.Model, action: str, before: dict | None, after: dict | None
    ) -> AuditEvent:
        return audit_event_of(obj, self.audit_type, action, before, after)

    def save_model(
        self, request: HttpRequest, obj: models.Model, form: forms.ModelForm, change: bool
    ) -> None:
        stored = type(obj)._base_manager.filter(pk=obj.pk).first() if change else None
        obj._audit_before = self.audit_state(stored) if stored is not None else None
        super().save_model(request, obj, form, change)

    def save_related(
        self,
        request: HttpRequest,
        form: forms.ModelForm,
        formsets: list[BaseInlineFormSet],
        change: bool,
    ) -> None:
        super().save_related(request, form, formsets, change)
        obj = form.instance
        before, after = getattr(obj, "_audit_before", None), self.audit_state(obj)
        if before != after:
            action = AuditEvent.Action.UPDATE if before else AuditEvent.Action.CREATE
            audit.record_many([self.audit_event(obj, action, before, after)])

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        event = self.audit_event(obj, AuditEvent.Action.DELETE, self.audit_state(obj), None)
        super().delete_model(request, obj)
        audit.record_many([event])

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        events = [
            self.audit_event(obj, AuditEvent.Action.DELETE, self.audit_state(obj), None)
            for obj in queryset
        ]
        super().delete_queryset(request, queryset)
        audit.record_many(events)
