"""The owner's own credential pages: the reset / activation link, the password change, and the
confirmation of a new email address. Every write goes through `mastery.accounts` (the identity
rule), which records each credential event in the account's schools."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from mastery import account_forms, accounts
from mastery.models import District


class SigninLinkView(auth_views.PasswordResetView):
    form_class = account_forms.SigninLinkForm


class ChoosePasswordView(auth_views.PasswordResetConfirmView):
    form_class = account_forms.OwnerSetPasswordForm

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["activating"] = self.user is not None and not self.user.is_activated
        return context


class OwnerPasswordChangeView(auth_views.PasswordChangeView):
    form_class = account_forms.OwnerPasswordChangeForm


@require_http_methods(["GET", "POST"])
def email_change_confirm(request, token: str):
    """Public: the person opened the link mailed to their new address. GET only asks (mail
    scanners open links); the POST changes the address."""
    pending = accounts.email_change_pending(token)
    if pending is None:
        return render(request, "registration/email_change_invalid.html", status=404)
    user, new_email = pending
    if request.method == "POST" and account_forms.EmailChangeConfirmForm(request.POST).is_valid():
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


@require_http_methods(["GET", "POST"])
@login_required
def district_signin_link(request, district_slug: str):
    """District IT: email one of the district's people a sign-in link (an activation link if they
    never signed in, a reset link otherwise) at their own address. Never sets a password."""
    district = District.objects.filter(slug=district_slug, memberships__user=request.user).first()
    if district is None:
        raise Http404("No such district, or not one you administer.")
    form = account_forms.DistrictSigninLinkForm(request.POST or None)
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
                form = account_forms.DistrictSigninLinkForm()
    return render(
        request,
        "mastery/district_signin_link.html",
        {"district": district, "form": form, "sent": sent},
        status=422 if form.errors else 200,
    )
