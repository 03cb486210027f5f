"""People and schools in the admin: accounts, memberships, districts and schools.

The identity rule's admin forms live here: a school admin names people but never sets their
credentials (mastery.accounts), and attaches an existing account only as the rule allows.
"""

from __future__ import annotations

from typing import Any

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
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest, HttpResponse

from mastery import accounts, audit
from mastery.admin.site import (
    AuditedAdmin,
    SchoolScopedMixin,
    TenantAdmin,
    TenantInline,
    admin_site,
    administered_school_ids,
    audit_event_of,
)
from mastery.models import (
    AuditEvent,
    District,
    DistrictMembership,
    Membership,
    School,
    User,
)
from mastery.services import school_provision
from mastery.tasks import activations_queue


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

    def clean_email(self) -> str:
        email = User.objects.normalize_address(self.cleaned_data["email"])
        if User.objects.filter(email=email).exists():
            raise ValidationError(
                "An account already uses this address. Give it a role in your school from "
                "Memberships instead: the account stays its owner's."
            )
        return email

    def save(self, commit: bool = True) -> User:
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

    def save(self, commit: bool = True) -> User:
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

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser and obj is not None:
            fields += self.OWNER_FIELDS
        return fields

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> list:
        if obj is None and not request.user.is_superuser:
            return self.school_admin_add_fieldsets
        return super().get_fieldsets(request, obj)

    def get_form(
        self, request: HttpRequest, obj: User | None = None, **kwargs: Any
    ) -> type[forms.ModelForm]:
        if obj is None and not request.user.is_superuser:
            kwargs["form"] = SchoolAdminUserCreationForm
        return super().get_form(request, obj, **kwargs)

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        if not request.user.is_superuser:
            if self.get_object(request, unquote(id)) is None:
                raise Http404  # another school's person: as if there were none
            raise PermissionDenied("Only the account's owner sets its password.")
        return super().user_change_password(request, id, form_url)

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
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

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return request.user.is_superuser

    def save_model(
        self, request: HttpRequest, obj: models.Model, form: forms.ModelForm, change: bool
    ) -> None:
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
    def email_signin_link(self, request: HttpRequest, queryset: models.QuerySet[User]) -> None:
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

    def clean(self) -> dict[str, Any]:
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

    def get_formset(
        self, request: HttpRequest, obj: models.Model | None = None, **kwargs: Any
    ) -> type[BaseInlineFormSet]:
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = type("SchoolMembershipForm", (formset.form,), {"link_school": obj})
        return formset


@admin.register(District, site=admin_site)
class DistrictAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    def has_module_permission(self, request: HttpRequest) -> bool:
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
    # Set on the school's feedback page, where the change is audited.
    exclude = ["feedback_interval_days"]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False  # a school holds children's records: never deleted from a web form

    def save_model(
        self, request: HttpRequest, obj: models.Model, form: forms.ModelForm, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        school_provision(school=obj)

    def save_formset(
        self, request: HttpRequest, form: forms.ModelForm, formset: BaseInlineFormSet, change: bool
    ) -> None:
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
                    audit_event_of(
                        membership, AuditEvent.ObjectType.MEMBERSHIP, action, was_state, now_state
                    )
                )
        audit.record_many(events)
        _memberships_given(
            [after[pk] for pk in sorted(after.keys() - before.keys())],
            request.build_absolute_uri("/"),
        )


def _memberships_of(school: School) -> dict[int, Membership]:
    return {m.pk: m for m in Membership.objects.filter(school=school).select_related("user")}


@admin.register(Membership, site=admin_site)
class MembershipAdmin(AuditedAdmin, TenantAdmin):
    audit_type = AuditEvent.ObjectType.MEMBERSHIP
    list_display = ["user", "role", "school"]
    list_filter = ["role", "school"]
    search_fields = ["user__email", "user__full_name"]
    autocomplete_fields = ["user"]
    form = MembershipAdminForm

    def audit_state(self, obj: Membership) -> dict:
        return audit.membership_state(obj)

    def save_model(
        self, request: HttpRequest, obj: models.Model, form: forms.ModelForm, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        if not change or "user" in form.changed_data or "school" in form.changed_data:
            _memberships_given([obj], request.build_absolute_uri("/"))
