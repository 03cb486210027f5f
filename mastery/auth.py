"""Login by email, and login throttling with django-axes (settings: "Login throttling").

Failed logins are counted by axes per (account, address) pair: one account failing from one
address locks that pair only, so made-up emails typed behind a school's NAT never lock anybody
else out. On top of it, an address failing across many accounts (password spraying) is slowed
past a much higher ceiling (`LoginThrottleBackend`). Whatever reads the client's address does so
through `client_address`, which honours TRUSTED_PROXY_COUNT.
"""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import timedelta

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import Max, Sum
from django.forms import BaseForm
from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _

from mastery.accounts import password_signin_allowed

THROTTLED = _("Too many failed attempts. Wait a few minutes, or reset your password.")
# How long a successful sign-in from an address lets that account past the address's ceiling.
KNOWN_ADDRESS_DAYS = 30


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
            # A district that signs its staff and students in only through its identity
            # provider: their password (set before, or known to someone else) opens nothing.
            if not password_signin_allowed(user):
                return None
            return user
        return None


def client_address(request) -> str | None:
    """The client's IP address: REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies the address
    the outermost of them saw, which is the N-th entry from the right of X-Forwarded-For (each
    proxy appends the address that connected to it; whatever the client itself sent sits further
    left and is ignored). With fewer entries than proxies, the leftmost; an entry that is not an
    address (the header is garbled) falls back to REMOTE_ADDR. Django REST framework's throttles
    read the same setting (NUM_PROXIES)."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            address = _address(hops[-min(proxies, len(hops))])
            if address is not None:
                return address
    return _address(request.META.get("REMOTE_ADDR", ""))


def _address(value: str) -> str | None:
    """`value` as a normalised IP address ("[2001:db8::1]:443" and "192.0.2.1:80" lose the port),
    or None."""
    value = value.strip()
    if value.startswith("[") and "]" in value:
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:
        value = value.split(":")[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def login_username(request, credentials: dict | None = None) -> str | None:
    """The account a login attempt is for, as axes records it (AXES_USERNAME_CALLABLE): the email
    as the backend compares it, so "Teacher@School.org " and "teacher@school.org" are one account."""
    User = get_user_model()
    value = None
    if credentials:
        value = credentials.get("username") or credentials.get(User.USERNAME_FIELD)
    if value is None and request is not None:
        value = request.POST.get("username")
    if value is None:
        return None
    return User.objects.normalize_address(str(value))[:255]


def _known_key(username: str | None, address: str | None) -> str:
    digest = hashlib.sha256(f"{username}|{address}".encode()).hexdigest()[:40]
    return f"login-known:{digest}"


class LoginThrottleHandler(AxesDatabaseHandler):
    """Axes' database handler (see settings), remembering where each account signed in from."""

    def user_logged_in(self, sender, request, user, **kwargs):
        super().user_logged_in(sender, request, user, **kwargs)
        if request.axes_ip_address:
            key = _known_key(
                login_username(None, {"username": user.get_username()}), request.axes_ip_address
            )
            cache.set(key, True, KNOWN_ADDRESS_DAYS * 24 * 3600)


class LoginThrottleBackend(AxesStandaloneBackend):
    """First in AUTHENTICATION_BACKENDS: refuses an attempt before any password is checked when
    its (account, address) pair is locked (axes), or when its address is being slowed.

    Password spraying: an address with LOGIN_ADDRESS_FAILURE_LIMIT failures over all accounts
    inside the cool-off window (axes' own records) is slowed, not locked: after each further
    failure it waits LOGIN_ADDRESS_COOLOFF_SECONDS before its next attempt, so a script gets about
    one guess a minute instead of thousands. Slowing never touches an account anywhere else, and
    an account that signed in from that address in the last KNOWN_ADDRESS_DAYS is not slowed at
    all (only its own pair's lock applies): the teachers of a school whose NAT a student sprays
    from keep signing in. A refused attempt is not counted, so the address's count falls as its
    failures age out of the window.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            # No client to throttle (the test client's login(), a shell): nothing to refuse.
            # Every login page passes its request.
            return None
        super().authenticate(request, username, password, **kwargs)  # raises for a locked pair
        if settings.AXES_ENABLED and _address_is_slowed(request, username):
            # Like axes' own refusal: not recorded as a failure, answered with the lockout message.
            request.axes_locked_out = True
            raise AxesBackendPermissionDenied("Too many failed logins from this address")
        return None


def _address_is_slowed(request, username: str | None) -> bool:
    limit = settings.LOGIN_ADDRESS_FAILURE_LIMIT
    address = request.axes_ip_address
    if not limit or address is None:
        return False
    now = request.axes_attempt_time
    seen = AccessAttempt.objects.filter(
        ip_address=address, attempt_time__gte=now - get_cool_off(request)
    ).aggregate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
    if (seen["failures"] or 0) < limit:
        return False
    if seen["last"] <= now - timedelta(seconds=settings.LOGIN_ADDRESS_COOLOFF_SECONDS):
        return False
    return not cache.get(_known_key(login_username(request, {"username": username}), address))


def lockout_response(request, original_response=None, credentials=None):
    """What a refused login answers (AXES_LOCKOUT_CALLABLE): the login page it came from, as for
    a wrong password (status 200), with the lockout message as the form's error. The login page's
    form says so itself (LoginForm); the admin's login page gets the message here."""
    context = getattr(original_response, "context_data", None) or {}
    form = context.get("form")
    if not isinstance(form, BaseForm) or not form.is_bound:
        return HttpResponse(THROTTLED, status=429)
    if not form.has_error(NON_FIELD_ERRORS, "throttled"):
        form.errors.pop(NON_FIELD_ERRORS, None)
        form.add_error(None, ValidationError(THROTTLED, code="throttled"))
        original_response.content = original_response.rendered_content
    return original_response


class LoginForm(AuthenticationForm):
    """Django's login form, labelled for email, saying so when the attempt was refused."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _(
            "That email and password do not match an account. Check both and try again."
        ),
        "throttled": THROTTLED,
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = _("Email")
        self.fields["username"].widget.attrs.update({"autocomplete": "email", "inputmode": "email"})

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            # Axes marks the request when it refused the attempt, or when this failure locked.
            if getattr(self.request, "axes_locked_out", False):
                raise ValidationError(self.error_messages["throttled"], code="throttled") from None
            raise
