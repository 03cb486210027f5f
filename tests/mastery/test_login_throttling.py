"""Login throttling (django-axes, mastery.auth), as people meet it on the login page.

Failures are counted per (account, address) pair: ten wrong passwords for one account from one
address lock that pair for a cool-off; nobody else is touched, so made-up emails typed behind a
school's NAT never lock out a real account. An address failing across many accounts (password
spraying) is slowed past a much higher ceiling. Behind the TLS proxy, the client is read from
X-Forwarded-For as far as TRUSTED_PROXY_COUNT says, and a forged header gets nowhere.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.db.models import F
from django.test import Client, RequestFactory
from django.urls import reverse

from mastery.auth import client_address
from mastery.services import api_token_create
from tests.factories import PASSWORD, make_user

THROTTLED = "Too many failed attempts. Wait a few minutes, or reset your password."
WRONG = "do not match an account"
SCHOOL = "10.0.0.1"  # one school's NAT: every teacher, student and parent there shares it


def sign_in(email: str, password: str = PASSWORD, *, address: str = SCHOOL, **headers):
    """One person opening the login page in a fresh browser and submitting it."""
    browser = Client()
    response = browser.post(
        reverse("login"), {"username": email, "password": password}, REMOTE_ADDR=address, **headers
    )
    response.signed_in = "_auth_user_id" in browser.session
    return response


def fail(email: str, times: int = 1, *, address: str = SCHOOL, **headers) -> None:
    for _ in range(times):
        response = sign_in(email, "wrong-password", address=address, **headers)
        assert not response.signed_in


def assert_signed_in(response) -> None:
    assert response.status_code == 302 and response.signed_in, response.content[:2000]


def assert_throttled(response) -> None:
    """The login page again (as today: 200, a form error), with the lockout message."""
    assert response.status_code == 200
    assert THROTTLED in response.content.decode()
    assert not response.signed_in


# --- Per account and address ---------------------------------------------------------------------


def test_made_up_emails_from_one_address_never_lock_out_a_real_account(world_a):
    for i in range(20):
        fail(f"nobody{i}@alpha.test", address=SCHOOL)
    fail("nobody0@alpha.test", times=15, address=SCHOOL)  # that made-up email's pair is locked

    assert_signed_in(sign_in("teacher@alpha.test", address=SCHOOL))
    assert_signed_in(sign_in("counselor@alpha.test", address=SCHOOL))


def test_an_account_locks_after_its_own_ten_failures_from_an_address(world_a):
    fail("teacher@alpha.test", times=9)
    assert_signed_in(sign_in("teacher@alpha.test"))  # nine: not yet, and signing in starts over
    fail("teacher@alpha.test", times=9)
    assert_signed_in(sign_in("teacher@alpha.test"))

    fail("teacher@alpha.test", times=5)
    fail("Teacher@Alpha.test ", times=5)  # the same account, however it is typed
    assert_throttled(sign_in("teacher@alpha.test"))  # even with the right password
    assert_throttled(sign_in("TEACHER@alpha.test"))


def test_the_tenth_failure_already_says_so(world_a):
    fail("teacher@alpha.test", times=9)
    tenth = sign_in("teacher@alpha.test", "wrong-password")
    assert_throttled(tenth)
    assert WRONG not in tenth.content.decode()


def test_a_locked_account_still_signs_in_from_another_address(world_a):
    fail("teacher@alpha.test", times=10, address=SCHOOL)
    assert_throttled(sign_in("teacher@alpha.test", address=SCHOOL))

    assert_signed_in(sign_in("teacher@alpha.test", address="192.0.2.44"))  # from home
    # Everyone else at the school still signs in from the school's address.
    assert_signed_in(sign_in("teacher2@alpha.test", address=SCHOOL))


def test_the_lock_ends_after_the_cool_off(world_a, settings):
    fail("teacher@alpha.test", times=10)
    assert_throttled(sign_in("teacher@alpha.test"))
    _attempts_happened_earlier(timedelta(minutes=15, seconds=1))
    assert_signed_in(sign_in("teacher@alpha.test"))


def test_the_limit_and_the_cool_off_are_settings(world_a, settings):
    settings.AXES_FAILURE_LIMIT = 3
    fail("teacher@alpha.test", times=3)
    assert_throttled(sign_in("teacher@alpha.test"))


def test_the_lockout_message_is_in_the_readers_language(world_a):
    fail("teacher@alpha.test", times=10)
    response = sign_in("teacher@alpha.test", HTTP_ACCEPT_LANGUAGE="es")
    assert response.status_code == 200 and not response.signed_in
    assert "Demasiados intentos fallidos" in response.content.decode()


# --- Password spraying: one address, many accounts -----------------------------------------------


def test_one_address_failing_on_many_accounts_is_slowed_past_the_ceiling(world_a):
    assert_signed_in(sign_in("teacher@alpha.test", address=SCHOOL))  # signs in there every day

    for i in range(49):
        fail(f"guess{i}@alpha.test", address=SCHOOL)
    assert_signed_in(sign_in("teacher2@alpha.test", address=SCHOOL))  # 49: under the ceiling

    fail("guess49@alpha.test", address=SCHOOL)  # the 50th
    # Accounts that have not signed in from there lately wait a minute after each failure...
    assert_throttled(sign_in("counselor@alpha.test", address=SCHOOL))
    # ...but are not locked anywhere else,
    assert_signed_in(sign_in("counselor@alpha.test", address="192.0.2.44"))
    # and people who sign in from that address go on as usual.
    assert_signed_in(sign_in("teacher@alpha.test", address=SCHOOL))

    # A minute later the address may try once more; each failure slows it for another minute.
    _attempts_happened_earlier(timedelta(seconds=61))
    fail("guess50@alpha.test", address=SCHOOL)
    assert_throttled(sign_in("guess51@alpha.test", "wrong-password", address=SCHOOL))
    _attempts_happened_earlier(timedelta(seconds=61))
    assert_signed_in(sign_in("admin@alpha.test", address=SCHOOL))


def test_the_ceiling_does_not_lock_any_real_account(world_a):
    for i in range(60):
        fail(f"guess{i}@alpha.test", address=SCHOOL)
    _attempts_happened_earlier(timedelta(seconds=61))
    assert_signed_in(sign_in("counselor@alpha.test", address=SCHOOL))


# --- Behind the TLS proxy ------------------------------------------------------------------------

PROXY = "10.9.0.2"  # the TLS proxy: every request reaches the app from its address


def test_behind_a_proxy_each_forwarded_client_is_counted_apart(world_a, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for i in range(12):
        fail(f"nobody{i}@alpha.test", address=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.5")
    fail("teacher@alpha.test", times=10, address=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.5")

    assert_throttled(
        sign_in("teacher@alpha.test", address=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.5")
    )
    # The client forges a header; the proxy appends the address it saw, which is what counts.
    assert_throttled(
        sign_in(
            "teacher@alpha.test",
            address=PROXY,
            HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.5",
        )
    )
    # Another client behind the same proxy is a different address.
    assert_signed_in(
        sign_in("teacher@alpha.test", address=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.6")
    )


def test_without_trusted_proxies_a_forwarded_header_is_ignored(world_a, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    for i in range(10):
        fail("teacher@alpha.test", address=SCHOOL, HTTP_X_FORWARDED_FOR=f"198.51.100.{i}")
    # A new X-Forwarded-For does not make the same client someone else.
    assert_throttled(
        sign_in("teacher@alpha.test", address=SCHOOL, HTTP_X_FORWARDED_FOR="198.51.100.99")
    )


@pytest.mark.parametrize(
    ("count", "remote", "forwarded", "client"),
    [
        (0, "10.0.0.1", None, "10.0.0.1"),
        (0, "10.0.0.1", "203.0.113.5", "10.0.0.1"),
        (1, "10.9.0.2", None, "10.9.0.2"),  # reached the app directly, not through the proxy
        (1, "10.9.0.2", "203.0.113.5", "203.0.113.5"),
        (1, "10.9.0.2", "198.51.100.7, 203.0.113.5", "203.0.113.5"),
        (1, "10.9.0.2", "198.51.100.7,203.0.113.5 ", "203.0.113.5"),
        (2, "10.9.0.3", "198.51.100.7, 203.0.113.5, 10.9.0.2", "203.0.113.5"),
        (2, "10.9.0.3", "203.0.113.5", "203.0.113.5"),  # fewer hops than proxies: the farthest
        (1, "10.9.0.2", "2001:db8::5", "2001:db8::5"),
        (1, "10.9.0.2", "not-an-address", "10.9.0.2"),  # nothing usable: the connection's
    ],
)
def test_the_client_address(settings, count, remote, forwarded, client):

    settings.TRUSTED_PROXY_COUNT = count
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    request = RequestFactory().get("/", REMOTE_ADDR=remote, **headers)
    assert client_address(request) == client


def test_invitation_code_tries_are_counted_per_client_behind_the_proxy(db, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(31):
        Client().post(
            reverse("invitation_code"),
            {"code": "AAAAA-BBBBB"},
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR="203.0.113.5",
        )
    tries = "Too many tries"
    blocked = Client().post(
        reverse("invitation_code"),
        {"code": "AAAAA-BBBBB"},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.5",
    )
    assert tries in blocked.content.decode()
    other = Client().post(
        reverse("invitation_code"),
        {"code": "AAAAA-BBBBB"},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="203.0.113.6",
    )
    assert other.status_code == 422 and tries not in other.content.decode()


# --- The admin's login, and the API --------------------------------------------------------------


def test_the_admin_login_is_throttled_with_the_same_message(db):
    make_user("root@example.test", is_staff=True, is_superuser=True)
    admin_login = reverse("admin:login")
    for _ in range(5):
        Client().post(
            admin_login, {"username": "root@example.test", "password": "no"}, REMOTE_ADDR=SCHOOL
        )
    fail("root@example.test", times=5)  # the login page and the admin count together

    browser = Client()
    response = browser.post(
        admin_login, {"username": "root@example.test", "password": PASSWORD}, REMOTE_ADDR=SCHOOL
    )
    assert response.status_code == 200
    assert THROTTLED in response.content.decode()
    assert "_auth_user_id" not in browser.session

    elsewhere = Client()
    response = elsewhere.post(
        admin_login,
        {"username": "root@example.test", "password": PASSWORD},
        REMOTE_ADDR="192.0.2.44",
    )
    assert response.status_code == 302 and "_auth_user_id" in elsewhere.session


def test_api_tokens_work_for_a_locked_out_account(world_a, in_school):
    with in_school(world_a):
        _, token = api_token_create(school=world_a.school, user=world_a.teacher, name="sis")
    fail("teacher@alpha.test", times=10)
    response = Client().get(
        f"/api/v1/schools/{world_a.school.slug}/students/",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        REMOTE_ADDR=SCHOOL,
    )
    assert response.status_code == 200


def _attempts_happened_earlier(delta: timedelta) -> None:
    """Time passes: every recorded failure moves back by `delta`."""

    AccessAttempt.objects.update(attempt_time=F("attempt_time") - delta)
