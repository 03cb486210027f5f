"""District sign-in through a SAML 2.0 provider (issue [16] item 1): allauth's SAML views and
python3-saml against a real provider on loopback (tests/sso/saml.py: samlify signs its responses),
driven over HTTP with the Django test client, as the person's browser would: our sign-in POST, the
provider's sign-in form, its page posting the response to our assertion consumer service, and the
finish. The same identity rule as OpenID Connect: a first sign-in links by a vouched address in
the district's domains, after that only the provider's identifier (NameID) counts; nothing is
created; every response that is not a signed, fresh answer to our own request is refused."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount
from django.test import Client as Browser
from django_scopes import scopes_disabled

from mastery.models import (
    AuditEvent,
    District,
    DistrictIdentityProvider,
    DistrictMembership,
    Membership,
    Role,
    User,
)
from mastery.sso import services
from mastery.tenancy import all_schools
from tests.factories import World, make_member, make_user, make_world
from tests.sso.saml import SAMLProvider, key_and_certificate

pytestmark = pytest.mark.django_db
DOMAIN = "lake-high.test"
REFUSED = "You could not be signed in"


@dataclass
class Saml:
    district: District
    world: World
    row: DistrictIdentityProvider
    idp: SAMLProvider

    @property
    def base(self) -> str:
        return f"/sso/saml/{self.row.provider_id}"


@pytest.fixture
def district(db) -> tuple[District, World, User]:
    found = District.objects.create(name="Lakeside Unified", slug="lakeside-usd")
    world = make_world("lake-high", students=1)
    world.school.district = found
    world.school.save()
    it = make_user("it@lakeside-usd.test", "Ivy IT")
    DistrictMembership.objects.create(district=found, user=it)
    return found, world, it


def _users(world: World) -> dict[str, dict[str, Any]]:
    return {
        "tess": {"name_id": "tess-persistent-1", "attributes": {"email": world.teacher.email}},
    }


@pytest.fixture
def saml(district) -> Iterator[Saml]:
    """The district's SAML provider saved as its admin would, with the real provider's entity
    ID, sign-in URL and certificate; the provider told our entity ID and ACS."""
    found, world, it = district
    with SAMLProvider(sp_entity_id="pending", acs_url="pending", users=_users(world)) as idp:
        with all_schools():
            row = services.provider_save(
                user=it,
                district=found,
                provider=None,
                kind="saml",
                name="Lakeside ADFS",
                issuer=idp.entity_id,
                client_id="",
                secret="",
                sso_url=idp.sso_url,
                certificate=idp.certificate,
                email_domains=[DOMAIN],
            )
        base = f"http://testserver/sso/saml/{row.provider_id}"
        idp.set_sp(sp_entity_id=f"{base}/metadata/", acs_url=f"{base}/acs/")
        yield Saml(found, world, row, idp)


def start(browser: Browser, saml: Saml) -> str:
    """Our sign-in button: a POST that sends the browser to the provider with our request."""
    started = browser.post(f"{saml.base}/login/", {"next": f"/s/{saml.world.school.slug}/"})
    assert started.status_code == 302, started.content.decode()
    assert started["Location"].startswith(f"{saml.idp.sso_url}?SAMLRequest=")
    return started["Location"]


def deliver(browser: Browser, action: str, fields: dict[str, str]):
    """The provider's page posts the response to our ACS; the browser follows to the finish."""
    assert urlsplit(action).path.endswith("/acs/")
    posted = browser.post(urlsplit(action).path, fields)
    assert posted.status_code == 302, posted.content.decode()
    return browser.get(posted["Location"])


def sign_in(saml: Saml, login: str, browser: Browser | None = None):
    browser = browser or Browser()
    action, fields = saml.idp.sign_in(start(browser, saml), login)
    return browser, deliver(browser, action, fields)


def signed_in_as(browser: Browser) -> int | None:
    found = browser.session.get("_auth_user_id")
    return int(found) if found else None


def refused(answer, reason: str) -> bool:
    text = html.unescape(answer.content.decode())
    return answer.status_code in (400, 403) and REFUSED in text and reason in text


def links() -> list[tuple[int, str, str]]:
    return list(SocialAccount.objects.values_list("user_id", "provider", "uid"))


def people() -> tuple[int, int]:
    with scopes_disabled():
        return User.objects.count(), Membership.objects.count()


# --- The identity rule ----------------------------------------------------------------------------


def test_a_teacher_signs_in_and_is_linked_by_the_persistent_name_id(saml):
    world = saml.world
    before = people()
    browser, answer = sign_in(saml, "tess")
    assert answer.status_code == 302
    assert answer["Location"] == f"/s/{world.school.slug}/"
    assert signed_in_as(browser) == world.teacher.pk
    assert links() == [(world.teacher.pk, saml.row.provider_id, "tess-persistent-1")]
    with scopes_disabled():
        (event,) = AuditEvent.objects.filter(action=AuditEvent.Action.LINK)
    assert event.object_id == world.teacher.pk
    assert "signed in with Lakeside ADFS for the first time" in event.summary
    assert people() == before

    # The address changes at the provider: the same NameID is the same person.
    saml.idp.set_user(
        "tess", name_id="tess-persistent-1", attributes={"email": f"t.renamed@{DOMAIN}"}
    )
    again, answer = sign_in(saml, "tess")
    assert signed_in_as(again) == world.teacher.pk
    assert len(links()) == 1

    # Another NameID with the teacher's address is someone else: refused, nothing linked.
    saml.idp.set_user("mallory", name_id="mallory-9", attributes={"email": world.teacher.email})
    stranger, answer = sign_in(saml, "mallory")
    assert refused(answer, "already linked to another identity")
    assert signed_in_as(stranger) is None
    assert len(links()) == 1


def _other_districts_teacher(world: World) -> dict[str, Any]:
    other = District.objects.create(name="Hill District", slug="hill")
    hill = make_world("hill-high", students=1)
    hill.school.district = other
    hill.school.save()
    teacher = make_member(hill.school, Role.TEACHER, f"hill.teacher@{DOMAIN}", "Hal Hill")
    return {"name_id": "hal-1", "attributes": {"email": teacher.email}}


def _guardian(world: World) -> dict[str, Any]:
    guardian = make_member(world.school, Role.GUARDIAN, f"parent@{DOMAIN}", "Gus Guardian")
    return {"name_id": "gus-1", "attributes": {"email": guardian.email}}


@pytest.mark.parametrize(
    ("user", "reason"),
    [
        pytest.param(
            lambda w: {"name_id": "x-1", "attributes": {"email": "tess@elsewhere.example"}},
            "not in one of the district's domains",
            id="outside the district's domains",
        ),
        pytest.param(
            lambda w: {"name_id": "x-2", "attributes": {"displayName": "No Address"}},
            "did not vouch for an email address",
            id="no email attribute",
        ),
        pytest.param(
            lambda w: {"name_id": "x-3", "attributes": {"email": f"nobody@{DOMAIN}"}},
            "no account of the district has this email address",
            id="no such account: none is made",
        ),
        pytest.param(_other_districts_teacher, "", id="another district's teacher"),
        pytest.param(_guardian, "families", id="a guardian"),
    ],
)
def test_a_person_the_district_does_not_vouch_for_is_refused(saml, user, reason):
    saml.idp.set_user("someone", **user(saml.world))
    before = people()
    browser, answer = sign_in(saml, "someone")
    assert refused(answer, reason), answer.content.decode()
    assert signed_in_as(browser) is None
    assert links() == []
    assert people() == before


# --- Responses that are not a signed, fresh answer to our own request -----------------------------


@pytest.mark.parametrize(
    ("mode", "why"),
    [
        pytest.param({"sign": "none"}, "No Signature found", id="unsigned"),
        pytest.param({"bad_key": True}, "Signature validation failed", id="signed by another key"),
        pytest.param({"skew_seconds": -1000}, "expired", id="expired"),
        pytest.param({"skew_seconds": 1000}, "not yet valid", id="not valid yet"),
        pytest.param(
            {"audience": "https://another-app.example/saml"},
            "is not a valid audience",
            id="for another application",
        ),
        pytest.param(
            {"destination": "https://another-app.example/acs"},
            "The response was received at",
            id="sent elsewhere",
        ),
        pytest.param(
            {"issuer": "https://another-idp.example/"}, "Invalid issuer", id="another issuer"
        ),
        pytest.param(
            {"in_response_to": "_a-request-we-never-made"},
            "Permission denied",  # no request of this browser's has that id
            id="answers another request",
        ),
    ],
)
def test_a_response_that_is_not_a_signed_fresh_answer_to_us_is_refused(saml, mode, why, caplog):
    saml.idp.set_mode(**mode)
    browser, answer = sign_in(saml, "tess")
    assert answer.status_code in (400, 403)
    assert why in caplog.text  # refused for this reason, not another
    assert signed_in_as(browser) is None
    assert links() == []


def test_each_signature_placement_the_providers_use_is_accepted(saml):
    for sign in ("assertion", "response", "both"):
        saml.idp.set_mode(sign=sign)
        browser, _answer = sign_in(saml, "tess")
        assert signed_in_as(browser) == saml.world.teacher.pk, sign


def test_a_response_nobody_asked_for_is_refused(saml):
    """IdP-initiated sign-in: a genuine, signed response, but not an answer to a request of
    this browser's, so whoever holds it could sign someone in with it."""
    browser = Browser()
    action, fields = saml.idp.unsolicited("tess", relay_state=f"/s/{saml.world.school.slug}/")
    answer = deliver(browser, action, fields)
    assert refused(answer, "could not be completed")
    assert signed_in_as(browser) is None
    assert links() == []


def test_a_response_used_once_cannot_sign_in_again(saml):
    browser = Browser()
    action, fields = saml.idp.sign_in(start(browser, saml), "tess")
    deliver(browser, action, fields)
    assert signed_in_as(browser) == saml.world.teacher.pk

    # The same response replayed, from the same browser after signing out and from another.
    browser.post("/accounts/logout/")
    for replaying in (browser, Browser()):
        answer = deliver(replaying, action, fields)
        assert answer.status_code in (400, 403)
        assert signed_in_as(replaying) is None


def test_the_login_is_a_post(saml):
    assert Browser().get(f"{saml.base}/login/").status_code == 405


def test_single_logout_is_not_offered(saml):
    assert Browser().get(f"{saml.base}/sls/?SAMLRequest=x").status_code == 404


def test_our_metadata_names_our_entity_id_and_acs(saml):
    answer = Browser().get(f"{saml.base}/metadata/")
    assert answer.status_code == 200
    text = answer.content.decode()
    assert f'entityID="http://testserver{saml.base}/metadata/"' in text
    assert f'Location="http://testserver{saml.base}/acs/"' in text


def test_another_districts_admin_cannot_see_or_change_it(saml, client):
    other = District.objects.create(name="Hill District", slug="hill")
    admin = make_user("it@hill.test", "Hal IT")
    DistrictMembership.objects.create(district=other, user=admin)
    client.force_login(admin)
    page = f"/d/{saml.district.slug}/sign-in/"
    assert client.get(page).status_code == 404
    assert client.get(f"{page}?edit={saml.row.pk}").status_code == 404
    answer = client.post(f"/d/{other.slug}/sign-in/?edit={saml.row.pk}", {"action": "provider"})
    assert answer.status_code == 404


# --- Setting it up ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        pytest.param({"issuer": " "}, "issuer", "entity ID", id="no entity id"),
        pytest.param(
            {"sso_url": "http://adfs.lakeside.example/adfs/ls/"}, "sso_url", "https://", id="http"
        ),
        pytest.param({"sso_url": "adfs/ls"}, "sso_url", "https://", id="not an address"),
        pytest.param(
            {"certificate": "MIIB-not-a-certificate"}, "certificate", "PEM", id="bad certificate"
        ),
        pytest.param({"certificate": ""}, "certificate", "PEM", id="no certificate"),
    ],
)
def test_a_saml_provider_with_bad_settings_is_refused_and_nothing_saved(
    district, change, field, message
):
    found, _world, it = district
    _key, certificate = key_and_certificate("ADFS")
    values = {
        "issuer": "http://adfs.lakeside.example/adfs/services/trust",
        "sso_url": "https://adfs.lakeside.example/adfs/ls/",
        "certificate": certificate,
        **change,
    }
    with pytest.raises(services.SsoError) as refused_with, all_schools():
        services.provider_save(
            user=it,
            district=found,
            provider=None,
            kind="saml",
            name="ADFS",
            client_id="",
            secret="",
            email_domains=[DOMAIN],
            **values,
        )
    assert refused_with.value.field == field
    assert message in str(refused_with.value)
    assert DistrictIdentityProvider.objects.count() == 0


def test_a_certificate_pasted_from_metadata_is_taken_and_audited_by_fingerprint(district):
    found, _world, it = district
    _key, certificate = key_and_certificate("ADFS")
    body = "".join(line for line in certificate.splitlines() if "CERTIFICATE" not in line)
    with all_schools():
        row = services.provider_save(
            user=it,
            district=found,
            provider=None,
            kind="saml",
            name="ADFS",
            issuer="http://adfs.lakeside.example/adfs/services/trust",  # entity IDs may be http
            client_id="ignored",
            secret="ignored-too",
            sso_url="https://adfs.lakeside.example/adfs/ls/",
            certificate=f"  {body[:40]}\n{body[40:]}  ",  # bare base64, wrapped as in metadata
            email_domains=[DOMAIN],
        )
    assert row.certificate == certificate
    assert row.client_id == "" and row.secret_encrypted == ""
    with scopes_disabled():
        (event,) = AuditEvent.objects.filter(summary__startswith="District sign-in added")
    assert event.after["certificate"].startswith("SHA-256 ")
    assert body not in str(event.after)


def test_a_linked_provider_keeps_its_kind_and_entity_id(saml):
    sign_in(saml, "tess")
    assert len(links()) == 1
    it = User.objects.get(email="it@lakeside-usd.test")
    for change in ({"kind": "oidc", "issuer": saml.row.issuer}, {"issuer": "urn:another"}):
        values = {
            "kind": "saml",
            "issuer": saml.row.issuer,
            "sso_url": saml.row.sso_url,
            "certificate": saml.row.certificate,
            **change,
        }
        with pytest.raises(services.SsoError), all_schools():
            services.provider_save(
                user=it,
                district=saml.district,
                provider=saml.row,
                name="Changed",
                client_id="x",
                secret="y",
                email_domains=[DOMAIN],
                **values,
            )
    saml.row.refresh_from_db()
    assert saml.row.kind == "saml" and saml.row.name == "Lakeside ADFS"


def test_the_district_page_lists_what_to_register_at_the_provider(saml, client):
    it = User.objects.get(email="it@lakeside-usd.test")
    client.force_login(it)
    page = html.unescape(client.get(f"/d/{saml.district.slug}/sign-in/").content.decode())
    assert f"http://testserver{saml.base}/metadata/" in page
    assert f"http://testserver{saml.base}/acs/" in page
    assert services.certificate_summary(saml.row.certificate) in page
    assert "-----BEGIN CERTIFICATE" not in page.split("<form")[0]


# --- Identifiers that are not stable, responses that are not XML ----------------------------------

EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"


@pytest.mark.parametrize("name_id_format", [EMAIL_FORMAT, TRANSIENT])
def test_a_name_id_that_is_an_address_or_transient_is_refused(saml, name_id_format):
    """An email NameID would match whoever holds the address next; a transient one never
    again. Without a stable identifier attribute, the sign-in is refused and nothing linked."""
    saml.idp.set_user(
        "tess",
        name_id=saml.world.teacher.email,
        name_id_format=name_id_format,
        attributes={"email": saml.world.teacher.email},
    )
    browser, answer = sign_in(saml, "tess")
    assert refused(answer, "did not send a persistent identifier")
    assert signed_in_as(browser) is None
    assert links() == []


def test_a_subject_id_attribute_is_the_identifier_whatever_the_name_id(saml):
    subject = "urn:oasis:names:tc:SAML:attribute:subject-id"
    saml.idp.set_user(
        "tess",
        name_id=saml.world.teacher.email,
        name_id_format=EMAIL_FORMAT,
        attributes={"email": saml.world.teacher.email, subject: "8c1f2a@lake-high.test"},
    )
    browser, _answer = sign_in(saml, "tess")
    assert signed_in_as(browser) == saml.world.teacher.pk
    assert links() == [(saml.world.teacher.pk, saml.row.provider_id, "8c1f2a@lake-high.test")]


@pytest.mark.parametrize(
    "xml",
    [
        pytest.param(b"x", id="not XML"),
        pytest.param(b'<!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>', id="a DTD"),
        pytest.param(
            b"<samlp:Response xmlns:samlp='urn:oasis:names:tc:SAML:2.0:protocol'/>", id="empty"
        ),
    ],
)
def test_a_response_that_is_not_one_gets_our_page_not_a_500(saml, xml):
    browser = Browser()
    start(browser, saml)
    answer = deliver(
        browser, f"http://testserver{saml.base}/acs/", {"SAMLResponse": base64.b64encode(xml)}
    )
    assert answer.status_code in (400, 403)
    assert signed_in_as(browser) is None


def test_the_openid_connect_urls_do_not_serve_a_saml_provider(saml):
    assert Browser().post(f"/sso/oidc/{saml.row.provider_id}/login/").status_code == 404
    assert Browser().get(f"/sso/oidc/{saml.row.provider_id}/login/callback/").status_code == 404


def test_a_one_word_sign_in_host_is_refused_when_saved(district):
    found, _world, it = district
    _key, certificate = key_and_certificate("ADFS")
    with pytest.raises(services.SsoError, match="full host name"), all_schools():
        services.provider_save(
            user=it,
            district=found,
            provider=None,
            kind="saml",
            name="ADFS",
            issuer="urn:adfs",
            client_id="",
            secret="",
            sso_url="https://adfs/adfs/ls/",
            certificate=certificate,
            email_domains=[DOMAIN],
        )
