"""Forms of the owner's own credential pages (mastery.account_views): they validate, and save
through mastery.accounts (the identity rule), which records each credential event."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import PasswordChangeForm, PasswordResetForm, SetPasswordForm
from django.core.cache import cache

from mastery import accounts
from mastery.models import User


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
            if _links_this_hour(user) > LINKS_PER_HOUR:
                continue  # someone is filling the person's mailbox: the page still says "sent"
            accounts.signin_link_send(
                user=user, base_url=request.build_absolute_uri("/"), source="reset form"
            )


# The reset form is public: a few links an hour per account is plenty for its owner, and keeps a
# stranger from flooding their mailbox (and their schools' audit trail).
LINKS_PER_HOUR = 5


def _links_this_hour(user: User) -> int:
    key = f"signin-links:{user.pk}"
    cache.add(key, 0, 3600)
    try:
        return cache.incr(key)
    except ValueError:  # the entry expired in between: this is the first again
        cache.set(key, 1, 3600)
        return 1


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


class EmailChangeConfirmForm(forms.Form):
    """A button: the POST that moves the account to its new address."""


class DistrictSigninLinkForm(forms.Form):
    email = forms.EmailField(label="Their email", max_length=254)
