"""The owner's own credential pages: the reset / activation link, the password change, and the
confirmation of a new email address. Every write goes through `mastery.accounts` (the identity
rule), which records each credential event in the account's schools."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm, PasswordResetForm, SetPasswordForm
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from mastery import accounts
from mastery.models import District, User


class SigninLinkForm(PasswordResetForm):
    """The reset form, which also activates: it emails a link to any account that may receive
    one (Django's form skips accounts without a usable password, so imported people could never
    get in). The page says the same whatever the address, so it reveals no account."""

    def get_users(self, email):
        user = User.objects.filter(
            email=User.objects.normalize_address(email), is_active=True
        ).first()
        return [user] if user is not None and accounts.may_receive_signin_link(user) else []

    def save(self, *, request=None, **kwargs):
        for user in self.get_users(self.cleaned_data["email"]):
            accounts.signin_link_send(
                user=user, base_url=request.build_absolute_uri("/"), source="reset form"
            )


class OwnerSetPasswordForm(SetPasswordForm):
    """The password chosen through the emailed link (reset or activation)."""

    def save(self, commit=True):
        return accounts.password_set(
            user=self.user,
            password=self.cleaned_data["new_password1"],
            actor=self.user,
            source="emailed link",
        )


class OwnerPasswordChangeForm(PasswordChangeForm):
    def save(self, commit=True):
        return accounts.password_set(
            user=self.user,
            password=self.cleaned_data["new_password1"],
            actor=self.user,
            source="account page",
        )


class SigninLinkView(auth_views.PasswordResetView):
    form_class = SigninLinkForm


class ChoosePasswordView(auth_views.PasswordResetConfirmView):
    form_class = OwnerSetPasswordForm

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["activating"] = self.user is not None and not self.user.is_activated
        return context


class OwnerPasswordChangeView(auth_views.PasswordChangeView):
    form_class = OwnerPasswordChangeForm


class _Confirm(forms.Form):
    pass


@require_http_methods(["GET", "POST"])
def email_change_confirm(request, token: str):
    """Public: the person opened the link mailed to their new address. GET only asks (mail
    scanners open links); the POST changes the address."""
    pending = accounts.email_change_pending(token)
    if pending is None:
        return render(request, "registration/email_change_invalid.html", status=404)
    user, new_email = pending
    if request.method == "POST" and _Confirm(request.POST).is_valid():
        try:
            accounts.email_change_confirm(token=token)
        except ValidationError:
            return render(request, "registration/email_change_invalid.html", status=404)
        messages.success(
            request, _("Your account now signs in with %(email)s.") % {"email": new_email}
        )
        return redirect("login")
    return render(
        request,
        "registration/email_change_confirm.html",
        {"account": user, "new_email": new_email},
    )


class DistrictSigninLinkForm(forms.Form):
    email = forms.EmailField(label="Their email", max_length=254)


@require_http_methods(["GET", "POST"])
@login_required
def district_signin_link(request, district_slug: str):
    """District IT: email one of the district's people a sign-in link (an activation link if they
    never signed in, a reset link otherwise) at their own address. Never sets a password."""
    district = District.objects.filter(slug=district_slug, memberships__user=request.user).first()
    if district is None:
        raise Http404("No such district, or not one you administer.")
    form = DistrictSigninLinkForm(request.POST or None)
    sent = None
    if request.method == "POST" and form.is_valid():
        person = accounts.district_person(district=district, email=form.cleaned_data["email"])
        if person is None:
            form.add_error("email", "No one in this district's schools uses that address.")
        else:
            sent = accounts.signin_link_send(
                user=person,
                base_url=request.build_absolute_uri("/"),
                actor=request.user,
                source="district",
            )
            if not sent:
                form.add_error(
                    "email",
                    "No link was sent: the account is switched off, or it is a family account "
                    "that has never been used (families get in with their school's printed "
                    "letter, since the address on file may be mistyped).",
                )
            else:
                sent = person.email
                form = DistrictSigninLinkForm()
    return render(
        request,
        "mastery/district_signin_link.html",
        {"district": district, "form": form, "sent": sent},
        status=422 if form.errors else 200,
    )
