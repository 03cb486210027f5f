"""District sign-in as its district admin sets it up, and what turning password sign-in off does
(issue [16] items 1-3, without the provider: tests/sso/test_browser_sso.py signs in for real).
Who may see the page, the secret kept encrypted and never shown or audited, the issuer fixed once
people signed in through it, the password paths closed for staff and students only, the login
page's way to the district's sign-in."""

from __future__ import annotations

import pytest
from allauth.socialaccount.models import SocialAccount
from django.core import mail
from django.urls import reverse
from django_scopes import scopes_disabled

from mastery import accounts, crypto
from mastery.models import (
    AuditEvent,
    District,
    DistrictIdentityProvider,
    DistrictMembership,
    Membership,
    Role,
)
from mastery.sso import services
from tests.factories import PASSWORD, make_member, make_user, make_world

pytestmark = pytest.mark.django_db
SECRET = "s3cret-from-the-identity-provider"


@pytest.fixture
def district(db):
    found = District.objects.create(name="Lakeside Unified", slug="lakeside-usd")
    world = make_world("lake-high")
    world.school.district = found
    world.school.save()
    found.world = world
    found.it = make_user("it@lakeside.example", "Ivy IT")
    DistrictMembership.objects.create(district=found, user=found.it)
    return found


def page(district) -> str:
    return reverse("sso_district", kwargs={"district_slug": district.slug})


def provider_post(**overrides) -> dict:
    return {
        "action": "provider",
        "kind": "oidc",
        "name": "ClassLink",
        "issuer": "https://launchpad.classlink.example/oidc",
        "client_id": "mastery-app",
        "secret": SECRET,
        "email_domains": "lakeside.example students.lakeside.example",
        "enabled": "on",
        **overrides,
    }


def can_log_in(client, email: str) -> bool:
    client.logout()
    response = client.post(reverse("login"), {"username": email, "password": PASSWORD})
    ok = response.status_code == 302
    client.logout()
    return ok


def test_only_the_districts_own_admins_see_its_sign_in_page(client, district):
    other = District.objects.create(name="Elsewhere", slug="elsewhere")
    stranger = make_user("it@elsewhere.example")
    DistrictMembership.objects.create(district=other, user=stranger)
    assert client.get(page(district)).status_code == 302  # to the login page
    for user in (district.world.admin, district.world.teacher, stranger):
        client.force_login(user)
        assert client.get(page(district)).status_code == 404
    client.force_login(district.it)
    assert client.get(page(district)).status_code == 200


def test_a_provider_is_saved_with_its_secret_encrypted_never_shown_nor_audited(client, district):
    client.force_login(district.it)
    response = client.post(page(district), provider_post())
    assert response.status_code == 302
    saved = DistrictIdentityProvider.objects.get(district=district)
    assert saved.email_domains == ["lakeside.example", "students.lakeside.example"]
    assert SECRET not in saved.secret_encrypted
    assert crypto.secret_decrypt(saved.secret_encrypted, purpose=services.PURPOSE) == SECRET
    html = client.get(page(district)).content.decode()
    assert "ClassLink" in html and SECRET not in html
    with scopes_disabled():
        events = list(AuditEvent.objects.filter(school=district.world.school))
    assert any("District sign-in added: ClassLink" in e.summary for e in events)
    assert all(SECRET not in f"{e.summary} {e.before} {e.after}" for e in events)
    # Saved again without a secret: the one saved stays.
    edit = provider_post(secret="", name="ClassLink LaunchPad", provider=str(saved.pk))
    assert client.post(page(district), edit).status_code == 302
    saved.refresh_from_db()
    assert saved.name == "ClassLink LaunchPad"
    assert crypto.secret_decrypt(saved.secret_encrypted, purpose=services.PURPOSE) == SECRET


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kind": "google", "hosted_domain": ""}, "hosted domain"),
        ({"kind": "entra", "tenant_id": ""}, "tenant id"),
        ({"issuer": "http://idp.example/oidc"}, "https://"),
        ({"email_domains": ""}, "This field is required"),
        ({"email_domains": "not a domain"}, "is not an email domain"),
        ({"secret": ""}, "client secret"),
    ],
)
def test_bad_settings_are_refused_with_a_reason_and_nothing_saved(
    client, district, overrides, message
):
    client.force_login(district.it)
    response = client.post(page(district), provider_post(**overrides))
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not DistrictIdentityProvider.objects.exists()


def test_google_and_entra_take_their_issuer_from_what_the_district_names(client, district):
    client.force_login(district.it)
    client.post(page(district), provider_post(kind="google", hosted_domain="Lakeside.example"))
    client.post(
        page(district),
        provider_post(kind="entra", name="Microsoft", tenant_id="9F1C2B3A-0000-4000-8000-1234"),
    )
    found = {p.kind: p for p in DistrictIdentityProvider.objects.all()}
    assert found["google"].issuer == "https://accounts.google.com"
    assert found["google"].hosted_domain == "lakeside.example"
    assert found["entra"].issuer == (
        "https://login.microsoftonline.com/9f1c2b3a-0000-4000-8000-1234/v2.0"
    )


def test_once_people_signed_in_through_it_its_issuer_never_changes(client, district):
    client.force_login(district.it)
    client.post(page(district), provider_post())
    saved = DistrictIdentityProvider.objects.get()
    SocialAccount.objects.create(
        user=district.world.teacher, provider=saved.provider_id, uid="sub-1", extra_data={}
    )
    moved = provider_post(issuer="https://other-idp.example/oidc", provider=str(saved.pk))
    response = client.post(page(district), moved)
    assert response.status_code == 422
    assert "issuer cannot change" in response.content.decode()
    saved.refresh_from_db()
    assert saved.issuer == "https://launchpad.classlink.example/oidc"


def test_password_sign_in_off_closes_the_password_paths_of_staff_and_students_only(
    client, district
):
    w = district.world
    client.force_login(district.it)
    refused = client.post(page(district), {"action": "password"})
    assert refused.status_code == 422
    assert "Add an identity provider" in refused.content.decode()
    client.post(page(district), provider_post())
    assert client.post(page(district), {"action": "password"}).status_code == 302
    district.refresh_from_db()
    assert district.password_signin is False
    assert not can_log_in(client, w.teacher.email)
    assert not can_log_in(client, w.student_user.email)
    assert can_log_in(client, w.guardian.email)  # families keep their own sign-in
    mail.outbox.clear()
    client.post(reverse("password_reset"), {"email": w.teacher.email})
    assert mail.outbox == []
    client.post(reverse("password_reset"), {"email": w.guardian.email})
    assert len(mail.outbox) == 1
    # And back on.
    client.force_login(district.it)
    client.post(page(district), {"action": "password", "password_signin": "on"})
    assert can_log_in(client, w.teacher.email)


def test_who_the_districts_sign_in_may_ever_open(district):
    w = district.world
    for user in (w.teacher, w.counselor, w.admin, w.student_user, district.it):
        assert accounts.sso_refusal(district=district, user=user) is None, user
    assert "families" in accounts.sso_refusal(district=district, user=w.guardian)
    elsewhere = make_world("far-high")
    assert "another district" in accounts.sso_refusal(district=district, user=elsewhere.teacher)
    # A teacher here who also teaches in another district: the provider cannot vouch for them.
    with scopes_disabled():
        Membership.objects.create(school=elsewhere.school, user=w.teacher, role=Role.TEACHER)
    assert "another district" in accounts.sso_refusal(district=district, user=w.teacher)
    root = make_member(w.school, Role.TEACHER, "root@lakeside.example")
    root.is_superuser = True
    root.save()
    assert "site administrators" in accounts.sso_refusal(district=district, user=root)


def test_the_login_page_leads_to_the_schools_district_sign_in(client, district):
    client.force_login(district.it)
    client.post(page(district), provider_post())
    client.logout()
    school = district.world.school
    login = client.get(reverse("login") + f"?next=/s/{school.slug}/")
    assert f"school={school.slug}" in login.content.decode()
    start = client.get(reverse("sso_start") + f"?school={school.slug}&next=/s/{school.slug}/")
    html = start.content.decode()
    assert "Continue with ClassLink" in html
    # Its forms may lead to the provider, and only there.
    csp = start["Content-Security-Policy"]
    assert "form-action 'self' https://launchpad.classlink.example" in csp
    by_email = client.post(reverse("sso_start"), {"email": "ms.rivera@students.lakeside.example"})
    assert "Continue with ClassLink" in by_email.content.decode()
    unknown = client.post(reverse("sso_start"), {"email": "someone@gmail.example"})
    assert "No district signs in people with that email" in unknown.content.decode()


def test_allauths_own_pages_are_not_there(client, district):
    for path in ("/accounts/signup/", "/accounts/3rdparty/", "/accounts/password/reset/"):
        assert client.get(path).status_code == 404, path
    assert client.post("/sso/oidc/district-999-1/login/").status_code == 404
    assert client.get("/sso/oidc/district-999-1/login/").status_code == 405


def test_a_loopback_issuer_is_refused_unless_the_operator_allows_it(client, district, settings):
    """The server fetches the issuer's discovery and keys itself: a district admin must not be
    able to point it at the server's own services."""
    settings.SSO_LOOPBACK_ISSUERS = False
    client.force_login(district.it)
    for issuer in ("http://127.0.0.1:6379", "https://localhost/oidc"):
        response = client.post(page(district), provider_post(issuer=issuer))
        assert response.status_code == 422, issuer
    assert not DistrictIdentityProvider.objects.exists()
    settings.SSO_LOOPBACK_ISSUERS = True
    assert (
        client.post(page(district), provider_post(issuer="http://127.0.0.1:9/")).status_code == 302
    )
