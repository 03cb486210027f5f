"""The Django admin, for setting up a school: scoped to the schools the user administers.

Superusers see every school. A school admin (a `school_admin` membership) may sign in to the admin
and sees, adds and changes only rows of the schools they administer; every foreign-key choice is
limited to those schools too. Evidence and Mastery records are read-only here: scores change only
through the services, which validate, void instead of overwrite, and recompute.
"""

from __future__ import annotations

import functools

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import (
    AdminPasswordChangeForm,
    AdminUserCreationForm,
    UserChangeForm,
)
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.http import Http404

from mastery import accounts, audit
from mastery.account_forms import OwnerPasswordChangeForm
from mastery.models import (
    AuditEvent,
    Competency,
    Department,
    District,
    DistrictMembership,
    GradingPolicy,
    LearningTarget,
    LevelDescriptor,
    Membership,
    ProficiencyScale,
    Role,
    ScaleLevel,
    School,
    TenantModel,
    User,
)
from mastery.services import school_provision
from mastery.tasks import activations_queue


def administered_school_ids(request) -> list[int] | None:
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

    def has_permission(self, request) -> bool:
        user = request.user
        if not (user.is_active and user.is_authenticated):
            return False
        return user.is_superuser or bool(administered_school_ids(request))

    def admin_view(self, view, cacheable=False):
        """Every admin page records its changes in the audit trail as the signed-in user."""
        inner = super().admin_view(view, cacheable)

        @functools.wraps(inner)
        def acting(request, *args, **kwargs):
            with audit.context(actor=request.user, source="admin"):
                return inner(request, *args, **kwargs)

        return acting


admin_site = MasteryAdminSite(name="admin")


def _limit_to_schools(queryset, school_ids):
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

    def get_queryset(self, request):
        return _limit_to_schools(super().get_queryset(request), administered_school_ids(request))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = _limit_to_schools(field.queryset, administered_school_ids(request))
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = _limit_to_schools(field.queryset, administered_school_ids(request))
        return field

    def _allowed(self, request) -> bool:
        return request.user.is_superuser or bool(administered_school_ids(request))

    def has_module_permission(self, request):
        return self._allowed(request)

    def has_view_permission(self, request, obj=None):
        return self._allowed(request)

    def has_add_permission(self, request, *args):
        return self._allowed(request) and not self.read_only

    def has_change_permission(self, request, obj=None):
        return self._allowed(request) and not self.read_only

    def has_delete_permission(self, request, obj=None):
        return self._allowed(request) and not self.read_only


class TenantAdmin(SchoolScopedMixin, admin.ModelAdmin):
    def get_list_filter(self, request):
        # Foreign-key filters list only values present in the (scoped) rows, never other schools'.
        filters = []
        for item in super().get_list_filter(request):
            if isinstance(item, str) and "__" not in item:
                field = self.model._meta.get_field(item)
                if isinstance(field, models.ForeignKey):
                    item = (item, admin.RelatedOnlyFieldListFilter)
            filters.append(item)
        return filters

    def save_model(self, request, obj, form, change):
        allowed = administered_school_ids(request)
        if allowed is not None and getattr(obj, "school_id", None) not in allowed:
            raise PermissionDenied("You can only change your own schools.")
        super().save_model(request, obj, form, change)


class TenantInline(SchoolScopedMixin, admin.TabularInline):
    extra = 0

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        parent = obj

        class SchoolFillingFormSet(formset):
            def save_new(self, form, commit=True):
                instance = form.save(commit=False)
                # The parent is a tenant row, or (memberships on the school's page) the school.
                owner = parent if parent is not None else self.instance
                instance.school_id = owner.pk if isinstance(owner, School) else owner.school_id
                if commit:
                    instance.save()
                return instance

        return SchoolFillingFormSet

    def get_exclude(self, request, obj=None):
        return [*(super().get_exclude(request, obj) or []), "school"]


def _audit_event(obj, object_type: str, action: str, before: dict | None, after: dict | None):
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

    def audit_state(self, obj) -> dict:
        raise NotImplementedError

    def audit_event(self, obj, action: str, before: dict | None, after: dict | None):
        return _audit_event(obj, self.audit_type, action, before, after)

    def save_model(self, request, obj, form, change):
        stored = type(obj)._base_manager.filter(pk=obj.pk).first() if change else None
        obj._audit_before = self.audit_state(stored) if stored is not None else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        obj = form.instance
        before, after = getattr(obj, "_audit_before", None), self.audit_state(obj)
        if before != after:
            action = AuditEvent.Action.UPDATE if before else AuditEvent.Action.CREATE
            audit.record_many([self.audit_event(obj, action, before, after)])

    def delete_model(self, request, obj):
        event = self.audit_event(obj, AuditEvent.Action.DELETE, self.audit_state(obj), None)
        super().delete_model(request, obj)
        audit.record_many([event])

    def delete_queryset(self, request, queryset):
        events = [
            self.audit_event(obj, AuditEvent.Action.DELETE, self.audit_state(obj), None)
            for obj in queryset
        ]
        super().delete_queryset(request, queryset)
        audit.record_many(events)


# --- People and schools --------------------------------------------------------------------------


class SiteAdminUserCreationForm(AdminUserCreationForm):
    """A superuser's: may set a first password (or leave the account to its activation link)."""

    class Meta:
        model = User
        fields = ("email", "full_name", "preferred_language")


class SchoolAdminUserCreationForm(forms.ModelForm):
    """A school admin's: the person, never their password. The account waits for its owner's
    activation link, emailed once it is given a staff or student role (mastery.accounts)."""

    class Meta:
        model = User
        fields = ("email", "full_name", "preferred_language")

    def clean_email(self):
        email = User.objects.normalize_address(self.cleaned_data["email"])
        if User.objects.filter(email=email).exists():
            raise ValidationError(
                "An account already uses this address. Give it a role in your school from "
                "Memberships instead: the account stays its owner's."
            )
        return email

    def save(self, commit=True):
        user = super().save(commit=False)
        user.set_unusable_password()
        if commit:
            user.save()
        return user


class AdminUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class AuditedPasswordChangeForm(AdminPasswordChangeForm):
    """A superuser sets (or disables) someone's password: recorded like the owner's own change."""

    def save(self, commit=True):
        if self.cleaned_data["set_usable_password"]:
            return accounts.password_set(
                user=self.user, password=self.cleaned_data["password1"], source="admin"
            )
        self.user.set_unusable_password()
        self.user.save(update_fields=["password"])
        accounts.credential_record(
            user=self.user,
            action=AuditEvent.Action.PASSWORD_SET,
            summary="password sign-in was turned off by a site administrator",
            source="admin",
        )
        return self.user


@admin.register(User, site=admin_site)
class UserAdmin(SchoolScopedMixin, DjangoUserAdmin):
    """People. Credentials belong to their owner (mastery.accounts): a school admin sees and
    names the people of their schools, and may email them a sign-in link, but never sets a
    password, an email address, or who may sign in. Superusers may, and it is audited."""

    form = AdminUserChangeForm
    add_form = SiteAdminUserCreationForm
    change_password_form = AuditedPasswordChangeForm
    ordering = ["full_name"]
    list_display = ["email", "full_name", "preferred_language", "is_active"]
    search_fields = ["email", "full_name"]
    list_filter = ["is_active", "preferred_language"]
    actions = ["email_signin_link"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Person", {"fields": ["full_name", "preferred_language"]}),
        (
            "Access",
            {"fields": ["is_active", "is_staff", "is_superuser", "last_login", "date_joined"]},
        ),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": [
                    "email",
                    "full_name",
                    "preferred_language",
                    "usable_password",
                    "password1",
                    "password2",
                ],
            },
        ),
    ]
    school_admin_add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": ["email", "full_name", "preferred_language"],
                "description": "The person chooses their own password: they get an activation "
                "email once you give them a staff or student role in your school.",
            },
        ),
    ]
    readonly_fields = ["last_login", "date_joined"]
    # What only the owner (or a superuser) may change.
    OWNER_FIELDS = ["email", "password", "is_active", "is_staff", "is_superuser"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser and obj is not None:
            fields += self.OWNER_FIELDS
        return fields

    def get_fieldsets(self, request, obj=None):
        if obj is None and not request.user.is_superuser:
            return self.school_admin_add_fieldsets
        return super().get_fieldsets(request, obj)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None and not request.user.is_superuser:
            kwargs["form"] = SchoolAdminUserCreationForm
        return super().get_form(request, obj, **kwargs)

    def user_change_password(self, request, id, form_url=""):
        if not request.user.is_superuser:
            if self.get_object(request, unquote(id)) is None:
                raise Http404  # another school's person: as if there were none
            raise PermissionDenied("Only the account's owner sets its password.")
        return super().user_change_password(request, id, form_url)

    def has_change_permission(self, request, obj=None):
        # A school admin edits the name and language of their own schools' people only: never a
        # superuser's, and never an account that is also someone elsewhere (another school, a
        # district): that account is viewed, not changed (as the import does not rename it).
        if (
            obj is not None
            and not request.user.is_superuser
            and accounts.shared_beyond(user=obj, school_ids=administered_school_ids(request))
        ):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def save_model(self, request, obj, form, change):
        stored = User.objects.filter(pk=obj.pk).values_list("email", flat=True).first()
        if stored is not None and not request.user.is_superuser and obj.email != stored:
            raise PermissionDenied("Only the account's owner changes its email.")
        super().save_model(request, obj, form, change)
        if change and stored is not None and stored != obj.email:
            accounts.credential_record(
                user=obj,
                action=AuditEvent.Action.EMAIL_CHANGE,
                summary=f"the email was changed from {stored} by a site administrator",
                before={"email": stored},
                after={"email": obj.email},
            )

    @admin.action(description="Email them a sign-in link (activation or password reset)")
    def email_signin_link(self, request, queryset):
        base_url = request.build_absolute_uri("/")
        sent = sum(
            accounts.signin_link_send(
                user=user, base_url=base_url, actor=request.user, source="admin"
            )
            for user in queryset
        )
        skipped = queryset.count() - sent
        self.message_user(
            request,
            f"Sign-in links emailed: {sent}."
            + (
                f" Not sent: {skipped} (inactive, or a family account that has not signed in"
                " yet: families get in with the school's printed letter)."
                if skipped
                else ""
            ),
        )


class MembershipAdminForm(forms.ModelForm):
    """A role for an account in a school. An existing account is attached only as the identity
    rule allows (mastery.accounts.link_refusals)."""

    link_school: School | None = None  # the school page's inline: the page's school

    def clean(self):
        data = super().clean()
        user = data.get("user")
        school = self.link_school or data.get("school")
        if user is None or school is None:
            return data
        already = Membership.objects.filter(school=school, user=user).exclude(pk=self.instance.pk)
        if not already.exists():
            try:
                accounts.link_check(school=school, user=user)
            except ValidationError as exc:
                raise ValidationError({"user": exc.messages}) from exc
        return data


def _memberships_given(memberships: list[Membership], base_url: str) -> None:
    """What giving these roles sets off: the account's other schools are told, and a new staff
    member or student who has not signed in yet gets their activation email (after the commit)."""
    by_school: dict[int, list[Membership]] = {}
    for membership in memberships:
        by_school.setdefault(membership.school_id, []).append(membership)
    for school_memberships in by_school.values():
        school = school_memberships[0].school
        accounts.links_announce(
            school=school, grants=[(m.user, m.role) for m in school_memberships]
        )
    user_ids = [m.user_id for m in memberships]
    transaction.on_commit(lambda: activations_queue(user_ids=user_ids, base_url=base_url))


class MembershipInline(TenantInline):
    model = Membership
    form = MembershipAdminForm
    autocomplete_fields = ["user"]

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = type("SchoolMembershipForm", (formset.form,), {"link_school": obj})
        return formset


@admin.register(District, site=admin_site)
class DistrictAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    def has_module_permission(self, request):
        return request.user.is_superuser

    has_view_permission = has_add_permission = has_change_permission = has_delete_permission = (
        lambda self, request, obj=None: request.user.is_superuser
    )


@admin.register(DistrictMembership, site=admin_site)
class DistrictMembershipAdmin(DistrictAdmin):
    list_display = ["user", "district"]
    prepopulated_fields = {}
    autocomplete_fields = ["user"]


@admin.register(School, site=admin_site)
class SchoolAdmin(SchoolScopedMixin, admin.ModelAdmin):
    list_display = ["name", "slug", "district", "timezone"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    def has_add_permission(self, request, *args):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return False  # a school holds children's records: never deleted from a web form

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        school_provision(school=obj)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        before = _memberships_of(form.instance)
        super().save_formset(request, form, formset, change)
        after = _memberships_of(form.instance)
        events = []
        for pk in sorted(before.keys() | after.keys()):
            was, now = before.get(pk), after.get(pk)
            was_state = audit.membership_state(was) if was else None
            now_state = audit.membership_state(now) if now else None
            if was_state != now_state:
                action = (
                    AuditEvent.Action.CREATE
                    if was is None
                    else AuditEvent.Action.DELETE
                    if now is None
                    else AuditEvent.Action.UPDATE
                )
                membership = now or was
                events.append(
                    _audit_event(
                        membership, AuditEvent.ObjectType.MEMBERSHIP, action, was_state, now_state
                    )
                )
        audit.record_many(events)
        _memberships_given(
            [after[pk] for pk in sorted(after.keys() - before.keys())],
            request.build_absolute_uri("/"),
        )


def _memberships_of(school) -> dict:
    return {m.pk: m for m in Membership.objects.filter(school=school).select_related("user")}


@admin.register(Membership, site=admin_site)
class MembershipAdmin(AuditedAdmin, TenantAdmin):
    audit_type = AuditEvent.ObjectType.MEMBERSHIP
    list_display = ["user", "role", "school"]
    list_filter = ["role", "school"]
    search_fields = ["user__email", "user__full_name"]
    autocomplete_fields = ["user"]
    form = MembershipAdminForm

    def audit_state(self, obj) -> dict:
        return audit.membership_state(obj)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change or "user" in form.changed_data or "school" in form.changed_data:
            _memberships_given([obj], request.build_absolute_uri("/"))


# --- The learning framework --------------------------------------------------------------------


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

    def audit_state(self, obj) -> dict:
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

    def audit_state(self, obj) -> dict:
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
