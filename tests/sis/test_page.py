"""The SIS page (sis.views.page) as district IT uses it and as others try to misuse it: pull
clients (the secret shown once, a district-wide client for district admins only, revoking, school
B never seeing or revoking school A's), the push connection (https only, the secret encrypted and
never shown or audited, kept when left empty), a dry run that sends nothing, a push pressed twice
that goes once (against the OneRoster test server over TLS), and bad input answered with a
message or a 404, never a 500."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import pytest
from django.contrib.auth.hashers import check_password
from django.test import Client
from django.urls import reverse
from django_scopes import scopes_disabled
from oauth2_provider.models import Application

from mastery.models import AuditEvent, District, DistrictMembership
from sis.credentials import secret_decrypt
from sis.models import SisAccepted, SisClient, SisConnection, SisDelivery
from tests.factories import make_member, make_user
from tests.sis.conftest import Bundle, make_bundle_school
from tests.sis.oneroster_server import OneRosterGradebookServer

pytestmark = pytest.mark.django_db

SECRET_SHOWN = re.compile(r"<dt>Client secret</dt><dd><code[^>]*>([^<]+)</code>")
ID_SHOWN = re.compile(r"<dt>Client id</dt><dd><code[^>]*>([^<]+)</code>")
PUSH_SECRET = "sis-issued-Secret-0f9e8d7c6b5a"


def page_url(b: Bundle) -> str:
    return reverse("sis:page", kwargs={"school_slug": b.school.slug})


@pytest.fixture
def admin(bundle_school):
    return make_member(bundle_school.school, "school_admin", "it@bundle.test", "Ida IT")


@pytest.fixture
def as_admin(client, admin) -> Client:
    client.force_login(admin)
    return client


@pytest.fixture
def other_school(db) -> Bundle:
    """School B: the same hand-made school under other ids, with its own admin."""
    b = make_bundle_school(base=7_200_001, slug="other-school")
    b.admin = make_member(b.school, "school_admin", "it@other.test", "Otto Other")
    return b


@pytest.fixture
def in_district(bundle_school) -> District:
    with scopes_disabled():
        district = District.objects.create(name="North", slug="north")
        bundle_school.school.district = district
        bundle_school.school.save(update_fields=["district"])
    return district


@pytest.fixture
def sis(settings) -> Iterator[OneRosterGradebookServer]:
    """The SIS's OneRoster Gradebook service on loopback over TLS, trusted and allowed as a
    district's own SIS inside its network would be."""
    with OneRosterGradebookServer() as server:
        settings.SIS_PUSH_ALLOWED_HOSTS = ["127.0.0.1"]
        settings.SIS_PUSH_CA_FILE = server.ca_file
        yield server


def text(response) -> str:
    return response.content.decode()


def make_client(client: Client, b: Bundle, name: str = "Campus", **extra):
    return client.post(page_url(b), {"action": "client", "client-name": name, **extra})


def connection_form(**changes) -> dict[str, str]:
    return {
        "action": "connection",
        "connection-name": "Campus",
        "connection-base_url": "https://sis.example.test/ims/oneroster/gradebook/v1p2",
        "connection-token_url": "https://sis.example.test/oauth/token",
        "connection-client_id": "mastery-prod",
        "connection-secret": PUSH_SECRET,
        "connection-scope": "",
        **changes,
    }


def connect_to(client: Client, b: Bundle, sis: OneRosterGradebookServer):
    response = client.post(
        page_url(b),
        connection_form(
            **{
                "connection-base_url": sis.base_url,
                "connection-token_url": sis.token_url,
                "connection-client_id": sis.client_id,
                "connection-secret": sis.client_secret,
            }
        ),
    )
    assert response.status_code == 302
    return response


def every_audit_row() -> str:
    with scopes_disabled():
        return repr(list(AuditEvent.objects.values()))


def token_for(client_id: str, secret: str):
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return Client().post(
        reverse("oauth_token"),
        {"grant_type": "client_credentials"},
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )


# --- Pull clients ----------------------------------------------------------------------------------


def test_a_school_admin_makes_a_pull_client_and_sees_its_secret_once(as_admin, bundle_school):
    b = bundle_school
    response = make_client(as_admin, b, "Campus")
    assert response.status_code == 200
    page = text(response)
    assert "Copy it now: it is not shown again." in page
    secret = SECRET_SHOWN.search(page)[1]
    client_id = ID_SHOWN.search(page)[1]
    assert len(secret) >= 40

    made = SisClient.objects.get()
    assert (made.name, made.for_school_id, made.district_id) == ("Campus", b.school.pk, None)
    application = Application.objects.get(pk=made.application_id)
    assert application.client_id == client_id
    # Only a hash is kept: the stored value is not the secret, yet the secret checks against it.
    assert application.client_secret != secret and secret not in application.client_secret
    assert check_password(secret, application.client_secret)
    assert secret not in every_audit_row()

    # The page after a reload lists the client, and no longer shows its secret.
    again = text(as_admin.get(page_url(b)))
    assert client_id in again and "Campus" in again
    assert secret not in again and "Copy it now" not in again

    # The SIS takes a token with what was shown, and reads this school's results with it.
    token = token_for(client_id, secret)
    assert token.status_code == 200, token.content
    results = Client().get(
        "/ims/oneroster/gradebook/v1p2/results",
        HTTP_AUTHORIZATION=f"Bearer {token.json()['access_token']}",
    )
    assert results.status_code == 200
    assert len(results.json()["results"]) == 4


def test_a_client_needs_a_name(as_admin, bundle_school):
    response = make_client(as_admin, bundle_school, "")
    assert response.status_code == 422
    assert "This field is required." in text(response)
    assert not SisClient.objects.exists()


def test_only_a_district_admin_makes_a_client_for_the_whole_district(
    client, as_admin, bundle_school, in_district
):
    b = bundle_school
    # A school admin (no district membership) is not offered "for every school of the district";
    # ticked all the same (a hand-made request), it is refused.
    assert 'name="client-district_wide"' not in text(as_admin.get(page_url(b)))
    response = make_client(as_admin, b, "District SIS", **{"client-district_wide": "on"})
    assert response.status_code == 422
    assert "Only a district admin can make a client for the whole district." in text(response)
    assert SECRET_SHOWN.search(text(response)) is None
    assert not SisClient.objects.exists() and not Application.objects.exists()

    # A district admin of the school's district may.
    chief = make_user("chief@north.test", "Chief District")
    DistrictMembership.objects.create(district=in_district, user=chief)
    client.force_login(chief)
    assert 'name="client-district_wide"' in text(client.get(page_url(b)))
    response = make_client(client, b, "District SIS", **{"client-district_wide": "on"})
    assert response.status_code == 200
    assert SECRET_SHOWN.search(text(response))
    made = SisClient.objects.get()
    assert (made.district_id, made.for_school_id) == (in_district.pk, None)
    assert made.school_ids() == [b.school.pk]

    # The school admin sees it (the whole district) but may not revoke it.
    admin = make_member(b.school, "school_admin", "it2@bundle.test", "Ivo IT")
    client.force_login(admin)
    page = text(client.get(page_url(b)))
    assert "the whole district" in page
    assert f'name="client" value="{made.pk}"' not in page
    response = client.post(page_url(b), {"action": "revoke", "client": made.pk}, follow=True)
    assert "Only a district admin can revoke a district client." in text(response)
    made.refresh_from_db()
    assert made.revoked_at is None


def test_a_school_admin_without_a_district_cannot_make_a_district_client(as_admin, bundle_school):
    response = make_client(as_admin, bundle_school, "Campus", **{"client-district_wide": "on"})
    assert response.status_code == 422
    assert not SisClient.objects.exists()


def test_revoking_a_client_cuts_it_off(as_admin, admin, bundle_school):
    b = bundle_school
    page = text(make_client(as_admin, b, "Campus"))
    secret, client_id = SECRET_SHOWN.search(page)[1], ID_SHOWN.search(page)[1]
    made = SisClient.objects.get()
    assert token_for(client_id, secret).status_code == 200

    response = as_admin.post(page_url(b), {"action": "revoke", "client": made.pk}, follow=True)
    assert response.redirect_chain[-1][0] == page_url(b) + "#clients"
    assert "“Campus” is revoked: its tokens no longer work." in text(response)
    made.refresh_from_db()
    assert made.revoked_at is not None and made.revoked_by == admin
    assert "revoked " in text(response)
    assert f'name="client" value="{made.pk}"' not in text(response)
    assert token_for(client_id, secret).status_code == 401
    # Revoking it again changes nothing and breaks nothing.
    revoked_at = made.revoked_at
    assert as_admin.post(page_url(b), {"action": "revoke", "client": made.pk}).status_code == 302
    made.refresh_from_db()
    assert made.revoked_at == revoked_at


def test_school_b_neither_sees_nor_revokes_school_a_client(
    client, as_admin, bundle_school, other_school
):
    a, b = bundle_school, other_school
    page = text(make_client(as_admin, a, "Campus of A"))
    client_id = ID_SHOWN.search(page)[1]
    made = SisClient.objects.get()

    client.force_login(b.admin)
    own_page = client.get(page_url(b))
    assert own_page.status_code == 200
    assert "Campus of A" not in text(own_page) and client_id not in text(own_page)
    # B's admin posts A's client id on B's page, then on A's page: 404 both times.
    assert client.post(page_url(b), {"action": "revoke", "client": made.pk}).status_code == 404
    assert client.post(page_url(a), {"action": "revoke", "client": made.pk}).status_code == 404
    made.refresh_from_db()
    assert made.revoked_at is None


# --- The push connection ---------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["connection-base_url", "connection-token_url"])
def test_the_connection_is_https_only(as_admin, bundle_school, field):
    address = "http://sis.example.test/ims/oneroster/gradebook/v1p2"
    response = as_admin.post(page_url(bundle_school), connection_form(**{field: address}))
    assert response.status_code == 422
    assert "must start with https://." in text(response)
    assert PUSH_SECRET not in text(response)
    with scopes_disabled():
        assert not SisConnection.objects.exists()
    assert "SIS push set up" not in every_audit_row()


def test_the_connection_secret_is_stored_encrypted_and_shown_nowhere(as_admin, bundle_school):
    b = bundle_school
    response = as_admin.post(page_url(b), connection_form(), follow=True)
    assert response.redirect_chain[-1][0] == page_url(b) + "#push"
    assert "The SIS connection is saved." in text(response)
    with scopes_disabled():
        connection = SisConnection.objects.get(school=b.school)
    assert PUSH_SECRET not in connection.secret_encrypted
    assert secret_decrypt(connection.secret_encrypted) == PUSH_SECRET
    assert (connection.client_id, connection.base_url) == (
        "mastery-prod",
        "https://sis.example.test/ims/oneroster/gradebook/v1p2",
    )
    # The page shows the connection (the id, the addresses) but never the secret.
    page = text(response)
    assert 'value="mastery-prod"' in page and PUSH_SECRET not in page
    assert PUSH_SECRET not in text(as_admin.get(page_url(b)))
    audit = every_audit_row()
    assert "SIS push set up" in audit and PUSH_SECRET not in audit


def test_an_empty_secret_keeps_the_saved_one_and_a_new_one_replaces_it(as_admin, bundle_school):
    b = bundle_school
    # The first save needs a secret.
    first = as_admin.post(page_url(b), connection_form(**{"connection-secret": ""}))
    assert first.status_code == 422
    assert "Enter the client secret the SIS issued." in text(first)
    assert as_admin.post(page_url(b), connection_form()).status_code == 302

    changed = connection_form(**{"connection-secret": "", "connection-client_id": "mastery-2"})
    assert as_admin.post(page_url(b), changed).status_code == 302
    with scopes_disabled():
        connection = SisConnection.objects.get(school=b.school)
    assert connection.client_id == "mastery-2"
    assert secret_decrypt(connection.secret_encrypted) == PUSH_SECRET

    new = connection_form(**{"connection-secret": "a-brand-new-secret-42"})
    assert as_admin.post(page_url(b), new).status_code == 302
    connection.refresh_from_db()
    assert secret_decrypt(connection.secret_encrypted) == "a-brand-new-secret-42"
    audit = every_audit_row()
    assert "(new secret)" in audit
    assert PUSH_SECRET not in audit and "a-brand-new-secret-42" not in audit
    with scopes_disabled():
        assert SisConnection.objects.count() == 1


# --- Dry run and push ------------------------------------------------------------------------------


def test_a_dry_run_shows_the_counts_and_sends_nothing(as_admin, bundle_school, sis):
    b = bundle_school
    connect_to(as_admin, b, sis)
    response = as_admin.post(page_url(b), {"action": "dry_run", "period": b.period.pk})
    assert response.status_code == 200
    page = re.sub(r"\s+", " ", text(response))
    assert "Dry run: what a push of Q1 would send now" in page
    assert "6 records to send; 0 already accepted by the SIS as they are. Nothing was sent." in page
    assert "2 line items" in page and "4 results" in page
    assert sis.requests == []  # the SIS heard nothing, not even a token request
    with scopes_disabled():
        assert not SisAccepted.objects.exists()
        assert not SisDelivery.objects.filter(kind=SisDelivery.Kind.PUSH).exists()
        assert SisDelivery.objects.get().kind == SisDelivery.Kind.DRY_RUN


def test_pressing_push_twice_sends_the_grades_once(
    as_admin, bundle_school, sis, django_capture_on_commit_callbacks
):
    b = bundle_school
    connect_to(as_admin, b, sis)
    push = {"action": "push", "period": b.period.pk}
    # Two presses before the first push has run: one push, and the second press is sent to it.
    with django_capture_on_commit_callbacks() as queued:
        first = as_admin.post(page_url(b), push)
        second = as_admin.post(page_url(b), push, follow=True)
    with scopes_disabled():
        delivery = SisDelivery.objects.get(kind=SisDelivery.Kind.PUSH)
    delivery_url = reverse(
        "sis:delivery", kwargs={"school_slug": b.school.slug, "delivery_id": delivery.pk}
    )
    assert first.status_code == 302 and first["Location"] == delivery_url
    assert second.redirect_chain == [(delivery_url, 302)]
    assert "A push of Q1 is already under way." in text(second)
    assert "Still under way" in text(second)
    assert len(queued) == 1  # one task queued, not two

    for run in queued:  # the commit: the task runs (Celery eager in the tests)
        run()
    delivery.refresh_from_db()
    assert delivery.status == SisDelivery.Status.DONE
    assert delivery.counts["sent"] == 6 and delivery.counts["refused"] == 0
    assert len(sis.line_items) == 2 and len(sis.results) == 4
    assert all(sis.puts(sid) == 1 for sid in [*sis.line_items, *sis.results])
    page = re.sub(r"\s+", " ", text(as_admin.get(delivery_url)))
    assert "<dt>Sent and accepted</dt><dd>6</dd>" in page

    # Pushed again later: a new push, which sends nothing the SIS already has.
    with django_capture_on_commit_callbacks(execute=True):
        again = as_admin.post(page_url(b), push)
    assert again.status_code == 302 and again["Location"] != delivery_url
    with scopes_disabled():
        latest = SisDelivery.objects.filter(kind=SisDelivery.Kind.PUSH).first()
    assert (latest.status, latest.counts["sent"], latest.counts["unchanged"]) == ("done", 0, 6)
    assert all(sis.puts(sid) == 1 for sid in [*sis.line_items, *sis.results])


def test_push_and_dry_run_ask_for_a_connection_first(as_admin, bundle_school):
    b = bundle_school
    for action in ("push", "dry_run"):
        response = as_admin.post(page_url(b), {"action": action, "period": b.period.pk})
        assert response.status_code == 422
        assert "Set up the SIS connection first." in text(response)
    with scopes_disabled():
        assert not SisDelivery.objects.exists()


# --- Bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["", "explode", "DRY_RUN", "client "])
def test_an_unknown_action_gets_a_message(as_admin, bundle_school, action):
    response = as_admin.post(page_url(bundle_school), {"action": action})
    assert response.status_code == 400
    assert "Choose what to do." in text(response)


@pytest.mark.parametrize("action", ["dry_run", "push"])
@pytest.mark.parametrize(
    "period", ["", "abc", "-1", "0", "1.5", "²", "99999999999999999999", "7100001 OR 1=1"]
)
def test_a_garbage_period_answers_404(as_admin, bundle_school, action, period):
    as_admin.post(page_url(bundle_school), connection_form())
    response = as_admin.post(page_url(bundle_school), {"action": action, "period": period})
    assert response.status_code == 404


@pytest.mark.parametrize("action", ["dry_run", "push"])
def test_a_period_of_another_school_answers_404(as_admin, bundle_school, other_school, action):
    as_admin.post(page_url(bundle_school), connection_form())
    response = as_admin.post(
        page_url(bundle_school), {"action": action, "period": other_school.period.pk}
    )
    assert response.status_code == 404
    with scopes_disabled():
        assert not SisDelivery.objects.exists()


@pytest.mark.parametrize("client_id", ["", "abc", "-3", "99999999999999999999", "1,2"])
def test_a_garbage_client_id_answers_404(as_admin, bundle_school, client_id):
    make_client(as_admin, bundle_school)
    response = as_admin.post(page_url(bundle_school), {"action": "revoke", "client": client_id})
    assert response.status_code == 404
    assert SisClient.objects.get().revoked_at is None


def test_garbage_in_the_connection_form_is_a_form_error(as_admin, bundle_school):
    response = as_admin.post(
        page_url(bundle_school),
        connection_form(
            **{"connection-base_url": "javascript:alert(1)", "connection-client_id": ""}
        ),
    )
    assert response.status_code == 422
    assert "Enter a valid URL." in text(response) and "This field is required." in text(response)
    with scopes_disabled():
        assert not SisConnection.objects.exists()


def test_deliveries_and_bundles_of_other_schools_or_no_such_id_answer_404(
    as_admin, bundle_school, other_school
):
    a, b = bundle_school, other_school
    with scopes_disabled():
        theirs = SisDelivery.objects.create(
            school=b.school, period=b.period, kind=SisDelivery.Kind.FILES, status="done"
        )
    for delivery_id in (theirs.pk, 99999999999999999999):
        url = reverse(
            "sis:delivery", kwargs={"school_slug": a.school.slug, "delivery_id": delivery_id}
        )
        assert as_admin.get(url).status_code == 404
    huge = reverse(
        "sis:bundle", kwargs={"school_slug": a.school.slug, "period_id": 99999999999999999999}
    )
    assert as_admin.get(huge).status_code == 404


def test_a_period_without_marks_sends_the_admin_back_with_the_reason(as_admin, bundle_school):
    b = bundle_school
    with scopes_disabled():
        empty = type(b.period).objects.create(
            school=b.school,
            term=b.period.term,
            name="Q2",
            starts_on=b.period.ends_on,
            ends_on=b.period.term.ends_on,
        )
    url = reverse("sis:bundle", kwargs={"school_slug": b.school.slug, "period_id": empty.pk})
    response = as_admin.get(url, follow=True)
    assert response.redirect_chain == [(page_url(b), 302)]
    assert "No marks have been posted for Q2 yet." in text(response)
    page = re.sub(r"\s+", " ", text(response))
    assert "No marks posted yet" in page
