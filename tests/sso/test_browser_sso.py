"""District single sign-on end to end (issue [16] item 4): Debian's Chromium (Playwright) drives
the whole OpenID Connect code flow against a real provider on loopback (node's oidc-provider,
tests/sso/oidc.py) and the live server: the login page, "Sign in with your district account",
"Continue with …", the provider's own sign-in and consent pages, and back. Discovery, the code with
PKCE, the ID token's signature, issuer, audience and nonce are all the real thing; each test looks
at what the person sees and at what the database holds afterwards.

The browser reaches nothing but loopback: the provider's dev login page imports Google Fonts, and
every request to another host is aborted."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import jwt
import pytest
from allauth.socialaccount.models import SocialAccount
from cryptography.hazmat.primitives.asymmetric import rsa
from django_scopes import scopes_disabled
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Route, expect

from mastery.models import (
    AuditEvent,
    District,
    DistrictIdentityProvider,
    DistrictMembership,
    Membership,
    Role,
    User,
)
from mastery.sso import provider as sso_provider
from mastery.sso import services
from mastery.tenancy import all_schools
from tests.factories import PASSWORD, World, make_member, make_user, make_world
from tests.site.test_browser import ARTIFACTS, axe_problems, no_horizontal_scroll
from tests.sso.oidc import CLIENT_SECRET as OTHER_SECRET
from tests.sso.oidc import REDIRECT_URI, Client, OIDCProvider
from tests.sso.saml import SAMLProvider
from tests.sso.test_provider import authorization_url, callback_params, pkce_pair, token_request

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DOMAIN = "lake-high.test"  # make_world("lake-high") gives its people addresses here
CLIENT_ID = "mastery-gradebook"
CLIENT_SECRET = "browser-test-client-secret-0123456789"
BUTTON = "Lakeside Sign-In"
OTHER_APP = "another-app-of-the-district"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
REFUSED = "You could not be signed in"


@dataclass
class Sso:
    """A district with one school, its identity provider saved as its admin would, and the real
    provider that stands behind it."""

    district: District
    world: World
    it: User
    row: DistrictIdentityProvider
    idp: OIDCProvider
    live_url: str

    @property
    def school_url(self) -> str:
        return f"{self.live_url}/s/{self.world.school.slug}/"


@pytest.fixture
def district(transactional_db) -> tuple[District, World, User]:
    found = District.objects.create(name="Lakeside Unified", slug="lakeside-usd")
    world = make_world("lake-high", students=1)
    world.school.district = found
    world.school.save()
    it = make_user("it@lakeside-usd.test", "Ivy IT")
    DistrictMembership.objects.create(district=found, user=it)
    return found, world, it


def teacher_claims(world: World, **overrides: Any) -> dict[str, Any]:
    return {
        "sub": "teacher-subject-1",
        "email": world.teacher.email,
        "email_verified": True,
        "name": world.teacher.full_name,
        **overrides,
    }


@pytest.fixture
def set_up(district, live_server) -> Iterator[Callable[..., Sso]]:
    """`set_up(accounts, hosted_domain=…, tenant_id=…)`: the district's provider saved through
    mastery.sso.services.provider_save, then the loopback provider started with a client whose
    redirect_uri is that provider's callback on the live server (its provider id is known only
    once it is saved), and the saved issuer pointed at it."""
    found, world, it = district
    stack = ExitStack()

    def make(
        accounts: dict[str, dict[str, Any]],
        *,
        idp_clock: int = 0,
        idp_token_ttl: int = 3600,
        **provider_kwargs: Any,
    ) -> Sso:
        with all_schools():  # the change goes in the trail of every school of the district
            row = services.provider_save(
                user=it,
                district=found,
                provider=None,
                kind="oidc",
                name=BUTTON,
                issuer="http://127.0.0.1:9",  # replaced below, once the provider listens
                client_id=CLIENT_ID,
                secret=CLIENT_SECRET,
                email_domains=[DOMAIN],
                **provider_kwargs,
            )
        callback = f"{live_server.url}/sso/oidc/{row.provider_id}/login/callback/"
        idp = stack.enter_context(
            OIDCProvider(
                # Another application of the same provider: its tokens are genuine, for it.
                clients=[
                    Client(CLIENT_ID, CLIENT_SECRET, callback),
                    Client(OTHER_APP, OTHER_SECRET, REDIRECT_URI),
                ],
                accounts=accounts,
                clock_offset=idp_clock,
                id_token_ttl=idp_token_ttl,
            )
        )
        with all_schools():
            row = services.provider_save(
                user=it,
                district=found,
                provider=row,
                kind="oidc",
                name=BUTTON,
                issuer=idp.issuer,
                client_id=CLIENT_ID,
                secret="",  # keeps the saved one
                email_domains=[DOMAIN],
                **provider_kwargs,
            )
        assert row.issuer.startswith("http://127.0.0.1:")
        return Sso(found, world, it, row, idp, live_server.url)

    with stack:
        yield make


def _loopback_only(route: Route) -> None:
    if urlsplit(route.request.url).hostname in LOOPBACK:
        route.continue_()
    else:
        route.abort()


@pytest.fixture
def browser_page(new_context) -> Callable[..., Page]:
    """A page of a fresh browser (no cookies: neither ours nor the provider's) that reaches only
    loopback hosts."""

    def make(width: int = 1366, height: int = 900) -> Page:
        context: BrowserContext = new_context(viewport={"width": width, "height": height})
        context.route("**/*", _loopback_only)
        return context.new_page()

    return make


# --- Driving the flow --------------------------------------------------------------------------


def to_provider(page: Page, sso: Sso, *, language: str | None = None) -> None:
    """From the login page (on the way to the school's page) to the provider's sign-in form."""
    page.goto(f"{sso.live_url}/accounts/login/?next=/s/{sso.world.school.slug}/")
    if language == "es":
        page.get_by_role("button", name="Español").click()
        expect(page.locator("html")).to_have_attribute("lang", "es")
    page.locator(f"a[href^='/sso/?school={sso.world.school.slug}']").click()
    expect(page).to_have_url(re.compile(r"/sso/\?school="))
    label = "Continuar con" if language == "es" else "Continue with"
    page.get_by_role("button", name=f"{label} {BUTTON}").click()
    expect(page).to_have_url(re.compile("^" + re.escape(sso.idp.issuer) + "/interaction/"))


def at_provider(page: Page, sso: Sso, login: str) -> None:
    """The provider's own pages: its sign-in form (any password), then its consent."""
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("whatever-the-district-checks")
    page.locator("button[type=submit]").click()
    expect(page.get_by_role("button", name="Continue")).to_be_visible()
    page.get_by_role("button", name="Continue").click()


def sign_in(page: Page, sso: Sso, login: str, *, language: str | None = None) -> None:
    to_provider(page, sso, language=language)
    at_provider(page, sso, login)
    expect(page).not_to_have_url(re.compile("^" + re.escape(sso.idp.issuer)))


def expect_signed_in(page: Page, sso: Sso, user: User) -> None:
    expect(page).to_have_url(sso.school_url)
    expect(page.locator(".topbar__user")).to_contain_text(user.full_name)


def expect_refused(page: Page, sso: Sso, reason: str) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(REFUSED)
    expect(page.get_by_role("alert")).to_contain_text(reason)
    expect(page.locator(".topbar__user")).to_have_count(0)
    # And nobody is signed in: the school's page still sends this browser to the login page.
    page.goto(sso.school_url)
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))


def links() -> list[tuple[int, str, str]]:
    return list(SocialAccount.objects.values_list("user_id", "provider", "uid"))


def link_events() -> list[AuditEvent]:
    with scopes_disabled():
        return list(AuditEvent.objects.filter(action=AuditEvent.Action.LINK))


def people() -> tuple[int, int]:
    with scopes_disabled():
        return User.objects.count(), Membership.objects.count()


# --- 1. A first sign-in links the district's own account -----------------------------------------


def test_a_teacher_of_the_district_signs_in_with_the_district_account(
    district, set_up, browser_page
):
    _, world, _ = district
    sso = set_up({"tess": teacher_claims(world)})
    before = people()
    page = browser_page()
    sign_in(page, sso, "tess")
    expect_signed_in(page, sso, world.teacher)
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Tess")

    assert links() == [(world.teacher.pk, sso.row.provider_id, "teacher-subject-1")]
    (event,) = link_events()
    assert event.school_id == world.school.pk
    assert event.object_id == world.teacher.pk
    assert f"signed in with {BUTTON} for the first time" in event.summary
    assert people() == before  # no account, no membership made


# --- 2. After the first link: the subject, never the email ---------------------------------------


def test_the_link_follows_the_subject_never_the_email_claim(district, set_up, browser_page):
    _, world, _ = district
    sso = set_up({"tess": teacher_claims(world)})
    page = browser_page()
    sign_in(page, sso, "tess")
    expect_signed_in(page, sso, world.teacher)

    # The provider now sends another address for the same person: still the same account.
    sso.idp.set_account("tess", **teacher_claims(world, email=f"t.teacher@{DOMAIN}"))
    page = browser_page()
    sign_in(page, sso, "tess")
    expect_signed_in(page, sso, world.teacher)
    assert links() == [(world.teacher.pk, sso.row.provider_id, "teacher-subject-1")]
    world.teacher.refresh_from_db()
    assert world.teacher.email == f"teacher@{DOMAIN}"  # a claim changes no address here

    # Another subject carrying the teacher's address opens nothing.
    sso.idp.set_account("mallory", **teacher_claims(world, sub="mallory-subject-9"))
    page = browser_page()
    sign_in(page, sso, "mallory")
    expect_refused(page, sso, "already linked to another identity")
    assert links() == [(world.teacher.pk, sso.row.provider_id, "teacher-subject-1")]
    assert len(link_events()) == 1


# --- 3. What a provider's claims can never open ----------------------------------------------------


def _other_districts_teacher(world: World) -> dict[str, Any]:
    elsewhere = District.objects.create(name="Far Away Unified", slug="far-usd")
    far = make_world("far-high", students=1)
    far.school.district = elsewhere
    far.school.save()
    far_teacher = make_member(far.school, Role.TEACHER, f"ferris@{DOMAIN}", "Ferris Far")
    return {"sub": "far-1", "email": far_teacher.email, "email_verified": True}


def _teacher_of_two_districts(world: World) -> dict[str, Any]:
    elsewhere = District.objects.create(name="Far Away Unified", slug="far-usd")
    far = make_world("far-high", students=1)
    far.school.district = elsewhere
    far.school.save()
    with scopes_disabled():
        Membership.objects.create(school=far.school, user=world.teacher, role=Role.TEACHER)
    return teacher_claims(world)


def _guardian(world: World) -> dict[str, Any]:
    return {"sub": "gus-1", "email": world.guardian.email, "email_verified": True}


REFUSALS = {
    "email-outside-the-domains": (
        lambda w: teacher_claims(w, email="tess@gmail.example"),
        {},
        "not in one of the district's domains",
    ),
    "email-not-verified": (
        lambda w: teacher_claims(w, email_verified=False),
        {},
        "did not vouch for an email address",
    ),
    "google-hd-of-another-domain": (
        lambda w: teacher_claims(w, hd="elsewhere.test"),
        {"hosted_domain": DOMAIN},
        "not in the district's Google Workspace",
    ),
    "google-hd-missing": (
        lambda w: teacher_claims(w),
        {"hosted_domain": DOMAIN},
        "not in the district's Google Workspace",
    ),
    "entra-tenant-of-another": (
        lambda w: teacher_claims(w, tid="00000000-0000-4000-8000-00000000beef"),
        {"tenant_id": "9f1c2b3a-0000-4000-8000-000000001234"},
        "not in the district's Microsoft tenant",
    ),
    "account-of-another-district": (
        _other_districts_teacher,
        {},
        "no account of the district has this email address",
    ),
    "account-also-in-another-district": (
        _teacher_of_two_districts,
        {},
        "belongs to a person in another district too",
    ),
    "guardian-of-the-district": (
        _guardian,
        {},
        "families sign in with their own email and password",
    ),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_a_sign_in_the_district_does_not_vouch_for_is_refused(district, set_up, browser_page, case):
    _, world, _ = district
    claims_of, provider_kwargs, reason = REFUSALS[case]
    sso = set_up({"someone": claims_of(world)}, **provider_kwargs)
    before = people()
    page = browser_page()
    sign_in(page, sso, "someone")
    expect_refused(page, sso, reason)
    assert links() == []
    assert link_events() == []
    assert people() == before


def test_the_right_hd_and_tenant_are_let_through(district, set_up, browser_page):
    """The other side of the hd and tid refusals: the same claims with the district's values."""
    _, world, _ = district
    tenant = "9f1c2b3a-0000-4000-8000-000000001234"
    sso = set_up(
        {"tess": teacher_claims(world, hd=DOMAIN, tid=tenant)},
        hosted_domain=DOMAIN,
        tenant_id=tenant,
    )
    page = browser_page()
    sign_in(page, sso, "tess")
    expect_signed_in(page, sso, world.teacher)
    assert len(links()) == 1


# --- 4. Tampering on the way back ------------------------------------------------------------------


def _hold_callback(page: Page, sso: Sso) -> list[str]:
    """Stop the provider's way back to us after consent, keeping the callback URL (the code and
    state it carries) unrequested. Playwright routes no request a redirect makes, so the consent
    POST is sent from here and its redirects followed up to our callback, in the browser's own
    cookie jar (route.fetch and page.request share it)."""
    held: list[str] = []

    def hold(route: Route) -> None:
        if "prompt=consent" not in (route.request.post_data or ""):
            route.fallback()
            return
        answer = route.fetch(max_redirects=0)
        url = urljoin(route.request.url, answer.headers["location"])
        while not url.startswith(sso.live_url):
            answer = page.request.get(url, max_redirects=0)
            url = urljoin(url, answer.headers["location"])
        held.append(url)
        route.fulfill(status=200, content_type="text/plain", body="held")

    page.route(f"{sso.idp.issuer}/interaction/**", hold)
    return held


def test_a_callback_with_a_wrong_state_is_refused(district, set_up, browser_page):
    _, world, _ = district
    sso = set_up({"tess": teacher_claims(world)})
    page = browser_page()
    held = _hold_callback(page, sso)
    to_provider(page, sso)
    at_provider(page, sso, "tess")
    expect(page.locator("body")).to_have_text("held")
    (genuine,) = held
    parts = urlsplit(genuine)
    query = dict(parse_qsl(parts.query))
    assert query["code"] and query["state"]

    forged = {**query, "state": "A" * len(query["state"])}
    page.goto(parts._replace(query=urlencode(forged)).geturl())
    expect_refused(page, sso, "could not be completed")
    assert links() == []

    # The same code with its own state goes through: only the state was wrong.
    page.goto(genuine)
    expect(page).to_have_url(sso.school_url)
    expect(page.locator(".topbar__user")).to_contain_text(world.teacher.full_name)
    assert len(links()) == 1


def test_an_id_token_not_signed_by_the_providers_key_is_refused(
    district, set_up, browser_page, monkeypatch
):
    """Someone on the back channel hands us the provider's ID token with its claims changed to
    another subject and signed with their own key under the provider's key id."""
    _, world, _ = district
    sso = set_up({"tess": teacher_claims(world)})
    attacker_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    original = sso_provider.VerifyingAdapter.get_access_token_data

    def tampered(self, *args, **kwargs):
        data = original(self, *args, **kwargs)
        header = jwt.get_unverified_header(data["id_token"])
        claims = jwt.decode(data["id_token"], options={"verify_signature": False})
        claims["sub"] = "someone-else"
        data["id_token"] = jwt.encode(
            claims, attacker_key, algorithm="RS256", headers={"kid": header["kid"]}
        )
        return data

    monkeypatch.setattr(sso_provider.VerifyingAdapter, "get_access_token_data", tampered)
    page = browser_page()
    sign_in(page, sso, "tess")
    expect_refused(page, sso, "could not be completed")
    assert links() == []
    assert link_events() == []


def test_an_id_token_the_provider_issued_to_another_application_is_refused(
    district, set_up, browser_page, monkeypatch
):
    """A genuine ID token, signed by the district's provider, for the same person — but issued to
    another application of the district: its audience is not this site, and it opens nothing."""
    _, world, _ = district
    sso = set_up({"tess": teacher_claims(world)})
    verifier, challenge = pkce_pair()
    callback = sso.idp.sign_in(authorization_url(sso.idp, challenge, OTHER_APP), "tess")
    status, tokens = token_request(sso.idp, callback_params(callback)["code"], verifier, OTHER_APP)
    assert status == 200, tokens
    assert jwt.decode(tokens["id_token"], options={"verify_signature": False})["aud"] == OTHER_APP
    original = sso_provider.VerifyingAdapter.get_access_token_data

    def swapped(self, *args, **kwargs):
        return {**original(self, *args, **kwargs), "id_token": tokens["id_token"]}

    monkeypatch.setattr(sso_provider.VerifyingAdapter, "get_access_token_data", swapped)
    page = browser_page()
    sign_in(page, sso, "tess")
    # Refused when the token is read (its audience), before any claim is looked at.
    expect_refused(page, sso, "could not be completed")
    assert links() == []
    assert link_events() == []


def test_a_genuine_id_token_of_an_earlier_sign_in_is_refused(
    district, set_up, browser_page, monkeypatch
):
    """A token captured from the teacher's earlier sign-in — genuine, signed, for this site, not
    expired — handed in on someone else's sign-in: it carries the earlier request's nonce, not
    this one's, and opens nothing."""
    _, world, _ = district
    sso = set_up({"tess": teacher_claims(world), "mo": {"sub": "mo-1", "email": "mo@x.test"}})
    captured: list[str] = []
    original = sso_provider.VerifyingAdapter.get_access_token_data

    def capture(self, *args, **kwargs):
        data = original(self, *args, **kwargs)
        captured.append(data["id_token"])
        return data

    monkeypatch.setattr(sso_provider.VerifyingAdapter, "get_access_token_data", capture)
    first = browser_page()
    sign_in(first, sso, "tess")
    expect_signed_in(first, sso, world.teacher)
    (earlier,) = captured

    def replay(self, *args, **kwargs):
        return {**original(self, *args, **kwargs), "id_token": earlier}

    monkeypatch.setattr(sso_provider.VerifyingAdapter, "get_access_token_data", replay)
    page = browser_page()
    sign_in(page, sso, "mo")
    expect_refused(page, sso, "does not answer this sign-in")
    assert len(links()) == 1  # the teacher's own first link only


@pytest.mark.parametrize(
    ("clock", "ttl"),
    [
        pytest.param(-600, 60, id="expired ten minutes ago-provider clock behind"),
        pytest.param(600, 3600, id="issued ten minutes from now-provider clock ahead"),
    ],
)
def test_an_id_token_outside_its_lifetime_is_refused(district, set_up, browser_page, clock, ttl):
    """The provider's clock is off: every token it issues is genuine and signed, and either
    expired before it reaches us (exp) or not valid yet (iat). Neither opens anything."""
    _, world, _ = district
    sso = set_up({"tess": teacher_claims(world)}, idp_clock=clock, idp_token_ttl=ttl)
    page = browser_page()
    sign_in(page, sso, "tess")
    expect_refused(page, sso, "could not be completed")
    assert links() == []
    assert link_events() == []


def test_a_sign_in_cancelled_at_the_provider_is_refused_on_our_page(district, set_up, browser_page):
    _, world, _ = district
    sso = set_up({"tess": teacher_claims(world)})
    page = browser_page()
    to_provider(page, sso)
    page.get_by_role("link", name="[ Cancel ]").click()
    expect(page).to_have_url(re.compile(r"/login/callback/\?error=access_denied"))
    expect_refused(page, sso, "cancelled at your district's sign-in page")
    assert links() == []


# --- 5. Password sign-in off ---------------------------------------------------------------------


def test_with_password_sign_in_off_the_teacher_signs_in_only_through_the_district(
    district, set_up, browser_page
):
    found, world, it = district
    sso = set_up({"tess": teacher_claims(world)})
    with all_schools():
        services.password_signin_set(user=it, district=found, allowed=False)
    page = browser_page()
    page.goto(f"{sso.live_url}/accounts/login/?next=/s/{world.school.slug}/")
    page.get_by_label("Email").fill(world.teacher.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    expect(page.locator(".topbar__user")).to_have_count(0)
    expect(page.get_by_role("alert")).to_be_visible()

    sign_in(page, sso, "tess")
    expect_signed_in(page, sso, world.teacher)


# --- 6. The pages, in Spanish on a phone -----------------------------------------------------------


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_the_start_and_refusal_pages_fit_a_phone_in_spanish(district, set_up, browser_page):
    _, world, _ = district
    sso = set_up({"gus": _guardian(world)})
    page = browser_page(390, 844)
    errors: list[str] = []

    def ours(message: ConsoleMessage) -> None:
        # Our own pages' errors (a CSP violation, a script's): not the provider's blocked fonts,
        # nor the refusal's own 403, which Chromium reports as a resource that failed to load.
        if (
            message.type == "error"
            and message.location["url"].startswith(sso.live_url)
            and "status of 403" not in message.text
        ):
            errors.append(message.text)

    page.on("console", ours)
    page.goto(f"{sso.live_url}/accounts/login/?next=/s/{world.school.slug}/")
    page.get_by_role("button", name="Español").click()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    page.locator(f"a[href^='/sso/?school={world.school.slug}']").click()
    # The family's language all the way: the district's button, then the refusal, in Spanish.
    expect(page.get_by_role("button", name=f"Continuar con {BUTTON}")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    assert axe_problems(page) == []
    assert no_horizontal_scroll(page)
    _shot(page, "sso-start-390-es.png")

    page.get_by_role("button", name=f"Continuar con {BUTTON}").click()
    at_provider(page, sso, "gus")
    expect(page.get_by_role("heading", level=1)).to_have_text("No se pudo iniciar su sesión")
    expect(page.get_by_role("alert")).to_contain_text("las familias inician sesión")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    assert axe_problems(page) == []
    assert no_horizontal_scroll(page)
    _shot(page, "sso-refused-390-es.png")
    page.set_viewport_size({"width": 1366, "height": 900})
    _shot(page, "sso-refused-1366.png")
    assert errors == []
    assert links() == []


# --- 7. The district admin's page ------------------------------------------------------------------


def test_district_it_sets_up_the_sign_in_on_a_phone(district, live_server, browser_page):
    """District IT, on a phone: adds the provider (a mistake first), finds the redirect address
    to register, then turns password sign-in off. The secret typed is never shown again."""
    found, world, it = district
    secret = "classlink-secret-typed-once-0123456789"
    page = browser_page(390, 844)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(it.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/d/{found.slug}/sign-in/")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"District sign-in: {found.name}")
    expect(page.get_by_text("No provider yet.")).to_be_visible()

    page.get_by_label("Kind").select_option("oidc")
    page.get_by_label("Name on the button").fill("ClassLink")
    page.get_by_label("Issuer").fill("http://launchpad.classlink.example/oidc")
    page.get_by_label("Client id").fill("mastery-app")
    page.get_by_label("Client secret").fill(secret)
    page.get_by_label("Email domains it vouches for").fill(f"{DOMAIN} students.{DOMAIN}")
    page.get_by_role("button", name="Save the provider").click()
    # Plain http: refused where it was typed, nothing saved, the secret not sent back.
    expect(page.get_by_text("The issuer must be an https:// address.")).to_be_visible()
    assert DistrictIdentityProvider.objects.count() == 0
    expect(page.get_by_label("Client secret")).to_have_value("")
    assert axe_problems(page) == []
    assert no_horizontal_scroll(page)
    _shot(page, "sso-district-error-390.png")

    page.get_by_label("Issuer").fill("https://launchpad.classlink.example/oidc")
    page.get_by_label("Client secret").fill(secret)
    page.get_by_role("button", name="Save the provider").click()
    expect(page.get_by_text("“ClassLink” is saved.")).to_be_visible()
    row = DistrictIdentityProvider.objects.get()
    callback = f"{live_server.url}/sso/oidc/{row.provider_id}/login/callback/"
    listed = page.locator(".providers__item").filter(has_text="ClassLink")
    expect(listed).to_contain_text(callback)
    expect(listed).to_contain_text(f"{DOMAIN}, students.{DOMAIN}")
    assert secret not in page.content()
    assert services.secret_of(row) == secret
    assert axe_problems(page) == []
    assert no_horizontal_scroll(page)
    _shot(page, "sso-district-390.png")

    page.get_by_label("Staff and students may also sign in with a password").uncheck()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    found.refresh_from_db()
    assert found.password_signin is False
    page.set_viewport_size({"width": 1366, "height": 900})
    _shot(page, "sso-district-1366.png")


# --- 8. SAML 2.0 ---------------------------------------------------------------------------------

SAML_BUTTON = "Lakeside ADFS"


@pytest.fixture
def saml_set_up(
    district, live_server
) -> Iterator[Callable[..., tuple[DistrictIdentityProvider, SAMLProvider]]]:
    """`saml_set_up(users)`: the district's SAML provider saved through provider_save with the
    real loopback provider's entity ID, sign-in URL and certificate, the provider told our
    entity ID and ACS on the live server."""
    found, _world, it = district
    stack = ExitStack()

    def make(users: dict[str, dict[str, Any]]) -> tuple[DistrictIdentityProvider, SAMLProvider]:
        idp = stack.enter_context(SAMLProvider(sp_entity_id="-", acs_url="-", users=users))
        with all_schools():
            row = services.provider_save(
                user=it,
                district=found,
                provider=None,
                kind="saml",
                name=SAML_BUTTON,
                issuer=idp.entity_id,
                client_id="",
                secret="",
                sso_url=idp.sso_url,
                certificate=idp.certificate,
                email_domains=[DOMAIN],
            )
        base = f"{live_server.url}/sso/saml/{row.provider_id}"
        idp.set_sp(sp_entity_id=f"{base}/metadata/", acs_url=f"{base}/acs/")
        return row, idp

    with stack:
        yield make


def saml_sign_in(page: Page, live_url: str, world: World, login: str) -> None:
    """The login page, "Sign in with your district account", the district's SAML button, the
    provider's own sign-in form; its page then posts the response back to us by itself."""
    page.goto(f"{live_url}/accounts/login/?next=/s/{world.school.slug}/")
    page.locator(f"a[href^='/sso/?school={world.school.slug}']").click()
    page.get_by_role("button", name=f"Continue with {SAML_BUTTON}").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("test SAML provider")
    page.get_by_label("Username").fill(login)
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Sign in").click()


def test_a_teacher_signs_in_through_the_districts_saml_provider(
    district, live_server, saml_set_up, browser_page
):
    _, world, _ = district
    row, _idp = saml_set_up(
        {
            "tess": {"name_id": "tess-persistent-1", "attributes": {"email": world.teacher.email}},
            "gus": {"name_id": "gus-1", "attributes": {"email": world.guardian.email}},
        }
    )
    page = browser_page()
    saml_sign_in(page, live_server.url, world, "tess")
    expect(page).to_have_url(f"{live_server.url}/s/{world.school.slug}/")
    expect(page.locator(".topbar__user")).to_contain_text(world.teacher.full_name)
    assert links() == [(world.teacher.pk, row.provider_id, "tess-persistent-1")]

    # A guardian, at the same provider, in another browser: refused on our page.
    other = browser_page(390, 844)
    saml_sign_in(other, live_server.url, world, "gus")
    expect(other.get_by_role("heading", level=1)).to_have_text(REFUSED)
    expect(other.get_by_role("alert")).to_contain_text("families")
    assert axe_problems(other) == []
    assert no_horizontal_scroll(other)
    assert len(links()) == 1
