"""Login by email, with throttling of failed attempts per address and per client."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


class EmailBackend(ModelBackend):
    """ModelBackend that matches the email case-insensitively."""

    def authenticate(self, request, username=None, password=None, email=None, **kwargs):
        username = email or username
        if username is None or password is None:
            return None
        User = get_user_model()
        try:
            user = User.objects.get_by_natural_key(username)
        except User.DoesNotExist:
            # Spend the same time as a real check so response times do not reveal accounts.
            User().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


def _throttle_keys(request, email: str) -> list[str]:
    client = request.META.get("REMOTE_ADDR", "") if request else ""
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return [f"login-fail:email:{digest}", f"login-fail:ip:{client}"]


class LoginForm(AuthenticationForm):
    """Django's login form, labelled for email, refusing after too many failures."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _(
            "That email and password do not match an account. Check both and try again."
        ),
        "throttled": _("Too many failed attempts. Wait a few minutes, or reset your password."),
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = _("Email")
        self.fields["username"].widget.attrs.update({"autocomplete": "email", "inputmode": "email"})

    def clean(self):
        email = self.cleaned_data.get("username") or ""
        keys = _throttle_keys(self.request, email)
        limit = settings.LOGIN_THROTTLE_ATTEMPTS
        if any((cache.get(key) or 0) >= limit for key in keys):
            raise ValidationError(self.error_messages["throttled"], code="throttled")
        try:
            return super().clean()
        except ValidationError:
            for key in keys:
                cache.add(key, 0, settings.LOGIN_THROTTLE_WINDOW_SECONDS)
                try:
                    cache.incr(key)
                except ValueError:
                    cache.set(key, 1, settings.LOGIN_THROTTLE_WINDOW_SECONDS)
            raise
