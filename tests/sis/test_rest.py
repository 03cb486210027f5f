"""The OneRoster 1.2 Gradebook REST binding as an SIS pulls it (issue [15] item 2): a token by
the client-credentials grant, the binding's paths, paging, filter, sort and fields, the same values
as the files; a school B token sees none of school A (404), an expired or revoked client 401, a
district client its district's schools and no other."""

from __future__ import annotations

import base64
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.utils import timezone
from django_scopes import scopes_disabled
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oauth2_provider.models import AccessToken

from gradebook.models import RosterSource
from mastery.models import District, School
from sis.models import SisClient
from sis.services import client_create, client_revoke
from tests.sis.conftest import make_bundle_school

pytestmark = pytest.mark.django_db
BASE = "/ims/oneroster/gradebook/v1p2"
READ = "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.readonly"


def token_for(client, sis_client: SisClient, secret: str, scope: str = READ) -> str:
    basic = base64.b64encode(f"{sis_client.application.client_id}:{secret}".encode()).decode()
    response = client.post(
        "/oauth/token/",
        {"grant_type": "client_credentials", "scope": scope},
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def get(client, path: str, token: str, **query):
    url = BASE + path
    if query:
        url += "?" + "&".join(f"{k}={quote(str(v))}" for k, v in query.items())
    return client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")


def school_client(b, name="Campus"):
    with scopes_disabled():
        return client_create(user=b.poster, school=b.school, name=name)


@pytest.fixture
def pulled(client, bundle_school):
    sis_client, secret = school_client(bundle_school)
    return bundle_school, token_for(client, sis_client, secret)


def test_the_sis_reads_the_class_results_with_the_files_values(client, pulled):
    b, token = pulled
    response = get(client, "/classes/cls-alg1-p2/results", token)
    assert response.status_code == 200
    assert response["X-Total-Count"] == "4"
    results = response.json()["results"]
    ben = next(r for r in results if r["student"]["sourcedId"] == "usr-ben" and r["score"] == 4)
    assert ben["textScore"] == "Advanced"
    assert ben["scoreStatus"] == "fully graded"
    assert ben["scoreDate"] == "2026-11-02"
    assert ben["comment"] == 'Strong work,\nkeep "graphing".'  # JSON keeps the line break
    assert ben["dateLastModified"] == "2026-11-03T01:30:00.000Z"
    # GUIDRefs carry href, sourcedId and type, as the binding requires.
    assert ben["student"] == {
        "href": "http://testserver/ims/oneroster/rostering/v1p2/users/usr-ben",
        "sourcedId": "usr-ben",
        "type": "user",
    }
    assert ben["lineItem"]["href"].startswith("http://testserver" + BASE + "/lineItems/")


def test_line_items_name_their_standards_by_case_identifier(client, pulled):
    _, token = pulled
    items = get(client, "/classes/cls-alg1-p2/lineItems", token).json()["lineItems"]
    assert [i["title"] for i in items] == ["Q1: ALG.1", "Q1: ALG.2"]
    assert items[0]["learningObjectiveSet"] == [
        {"source": "case", "learningObjectiveIds": ["c6a1a8d2-5d3b-4c11-9f0e-2b7f3a9e4d10"]}
    ]
    assert "learningObjectiveSet" not in items[1]
    assert items[0]["gradingPeriod"]["sourcedId"] == "gp-2026-q1"
    assert items[0]["school"]["sourcedId"] == "org-hs-001"
    one = get(client, f"/lineItems/{items[1]['sourcedId']}", token)
    assert one.status_code == 200
    assert one.json()["lineItem"]["title"] == "Q1: ALG.2"
    results = get(
        client, f"/classes/cls-alg1-p2/lineItems/{items[0]['sourcedId']}/results", token
    ).json()["results"]
    assert sorted(r["score"] for r in results) == [2, 3]
    scales = get(client, "/schools/org-hs-001/scoreScales", token).json()["scoreScales"]
    assert scales[0]["scoreScaleValue"][2] == {"itemValueLHS": "3", "itemValueRHS": "Proficient"}


def test_paging_filter_sort_and_fields(client, pulled):
    _, token = pulled
    page = get(client, "/results", token, limit=3, offset=0, sort="score", orderBy="desc")
    assert page.status_code == 200
    assert page["X-Total-Count"] == "4"
    assert [r["score"] for r in page.json()["results"]] == [4, 3.5, 3]
    assert 'rel="next"' in page["Link"] and "offset=3" in page["Link"]
    last = get(client, "/results", token, limit=3, offset=3, sort="score", orderBy="desc")
    assert [r["score"] for r in last.json()["results"]] == [2]
    assert 'rel="next"' not in last["Link"]
    newer = get(client, "/results", token, filter="dateLastModified>'2026-11-02T18:00:00.000Z'")
    assert [r["student"]["sourcedId"] for r in newer.json()["results"]] == ["usr-ben"]
    either = get(client, "/results", token, filter="textScore='Advanced' OR textScore='Developing'")
    assert either["X-Total-Count"] == "2"
    both = get(client, "/results", token, filter="student.sourcedId='usr-ana' AND score>='3.5'")
    assert [r["score"] for r in both.json()["results"]] == [3.5]
    slim = get(client, "/results", token, fields="sourcedId,score", limit=1)
    assert list(slim.json()["results"][0]) == ["sourcedId", "score"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"filter": "nosuchfield='1'"}, "invalid_filter_field"),
        ({"filter": "score=3"}, "invalid_filter_field"),
        ({"fields": "sourcedId,password"}, "invalid_selection_field"),
        ({"sort": "nothing"}, "invalid_selection_field"),
        ({"limit": "0"}, "invaliddata"),
        ({"limit": "many"}, "invaliddata"),
        ({"offset": "-1"}, "invaliddata"),
    ],
)
def test_bad_queries_answer_400_in_the_binding_s_words(client, pulled, query, code):
    _, token = pulled
    response = get(client, "/results", token, **query)
    assert response.status_code == 400
    body = response.json()
    assert body["imsx_codeMajor"] == "failure"
    assert body["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"] == code


def test_school_b_token_finds_nothing_of_school_a(client, bundle_school):
    other = make_bundle_school(base=7_200_001, slug="bundle-b")
    # School B's roster reuses nothing of A's: rename its sourcedIds so they cannot collide.
    with scopes_disabled():
        for row in RosterSource.objects.filter(school=other.school):
            row.sourced_id = "b-" + row.sourced_id
            row.save()
    sis_client, secret = school_client(other, "B's SIS")
    token = token_for(client, sis_client, secret)
    assert get(client, "/classes/cls-alg1-p2/results", token).status_code == 404
    assert get(client, "/classes/cls-alg1-p2/lineItems", token).status_code == 404
    assert get(client, "/schools/org-hs-001/scoreScales", token).status_code == 404
    a_token = token_for(client, *school_client(bundle_school, "A's SIS"))
    a_item = get(client, "/lineItems", a_token).json()["lineItems"][0]["sourcedId"]
    missing = get(client, f"/lineItems/{a_item}", token)
    assert missing.status_code == 404
    minor = missing.json()["imsx_CodeMinor"]["imsx_codeMinorField"][0]
    assert minor["imsx_codeMinorFieldValue"] == "unknownobject"
    everything = get(client, "/results", token, limit=100).json()["results"]
    assert everything and all(r["student"]["sourcedId"].startswith("b-") for r in everything)


def test_no_expired_or_revoked_token_reads_anything(client, bundle_school):
    sis_client, secret = school_client(bundle_school)
    assert client.get(BASE + "/results").status_code == 401
    assert get(client, "/results", "not-a-token").status_code == 401
    token = token_for(client, sis_client, secret)
    AccessToken.objects.filter(application=sis_client.application).update(
        expires=timezone.now() - timedelta(seconds=1)
    )
    expired = get(client, "/results", token)
    assert expired.status_code == 401
    minor = expired.json()["imsx_CodeMinor"]["imsx_codeMinorField"][0]
    assert minor["imsx_codeMinorFieldValue"] == "unauthorisedrequest"
    token = token_for(client, sis_client, secret)
    assert get(client, "/results", token).status_code == 200
    with scopes_disabled():
        client_revoke(user=bundle_school.poster, school=bundle_school.school, client=sis_client)
    assert get(client, "/results", token).status_code == 401
    # And the revoked client gets no new token with its old secret.
    basic = base64.b64encode(f"{sis_client.application.client_id}:{secret}".encode()).decode()
    refused = client.post(
        "/oauth/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    assert refused.status_code == 401


def test_a_district_client_reads_its_district_and_never_another(client, bundle_school):
    b = bundle_school
    second = make_bundle_school(base=7_300_001, slug="bundle-c")
    outside = make_bundle_school(base=7_400_001, slug="bundle-d")
    with scopes_disabled():
        district = District.objects.create(name="North", slug="north")
        School.objects.filter(pk__in=[b.school.pk, second.school.pk]).update(district=district)
        for prefix, bundle in (("c-", second), ("d-", outside)):
            for row in RosterSource.objects.filter(school=bundle.school):
                row.sourced_id = prefix + row.sourced_id
                row.save()
        sis_client, secret = client_create(
            user=b.poster, school=b.school, name="North SIS", district=district
        )
    token = token_for(client, sis_client, secret)
    students = {r["student"]["sourcedId"] for r in get(client, "/results", token).json()["results"]}
    assert students == {"usr-ana", "usr-ben", "c-usr-ana", "c-usr-ben"}
    assert get(client, "/classes/c-cls-alg1-p2/results", token).status_code == 200
    assert get(client, "/classes/d-cls-alg1-p2/results", token).status_code == 404


def test_pages_read_in_sql_are_the_same_results_as_the_whole_list(client, bundle_school):
    """Without a sort, results are paged in SQL (only the page's rows are read): the pages, put
    together, are the whole list as a filter that forces reading everything gives it; the
    delta filter dateLastModified>… answered in SQL is the filter applied to everything."""
    b = bundle_school
    second = make_bundle_school(base=7_600_001, slug="bundle-e")
    with scopes_disabled():
        district = District.objects.create(name="South", slug="south")
        School.objects.filter(pk__in=[b.school.pk, second.school.pk]).update(district=district)
        for row in RosterSource.objects.filter(school=second.school):
            row.sourced_id = "e-" + row.sourced_id
            row.save()
        sis_client, secret = client_create(
            user=b.poster, school=b.school, name="South SIS", district=district
        )
    token = token_for(client, sis_client, secret)
    whole = get(client, "/results", token, filter="status='active'", limit=100).json()["results"]
    assert len(whole) == 8
    pages = []
    for offset in range(0, 8, 3):
        page = get(client, "/results", token, limit=3, offset=offset)
        assert page["X-Total-Count"] == "8"
        pages += page.json()["results"]
    assert pages == whole
    for op, moment in ((">", "2026-11-02T17:05:00.123Z"), (">=", "2026-11-03T01:30:00.000Z")):
        delta = f"dateLastModified{op}'{moment}'"
        in_sql = get(client, "/results", token, filter=delta).json()["results"]
        everything = [
            r
            for r in whole
            if (r["dateLastModified"] > moment) or (op == ">=" and r["dateLastModified"] == moment)
        ]
        assert in_sql == everything and len(in_sql) == 2
    one_class = get(client, "/classes/e-cls-alg1-p2/results", token, limit=2, offset=1)
    assert one_class["X-Total-Count"] == "4"
    assert [r["sourcedId"] for r in one_class.json()["results"]] == [
        r["sourcedId"] for r in whole if r["class"]["sourcedId"] == "e-cls-alg1-p2"
    ][1:3]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    query=st.dictionaries(
        st.sampled_from(["filter", "sort", "orderBy", "fields", "limit", "offset"]),
        st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
        | st.sampled_from(
            [
                "score>'3'",
                "dateLastModified>'2026-11-02T17:05:00.123Z'",
                "a='b' AND c='d' OR",
                "score",
                "-1",
                "0",
                "99999999999999999999",
                "sourcedId,score",
                "desc",
            ]
        ),
        max_size=4,
    )
)
def test_no_query_string_makes_the_binding_fail(client, pulled, query):
    """Whatever an SIS (or someone with its token) puts in the query: an answer or a 400 in the
    binding's words, never a 500."""
    _, token = pulled
    response = client.get(BASE + "/results", query, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code in (200, 400), (query, response.content[:300])
    if response.status_code == 400:
        assert response.json()["imsx_codeMajor"] == "failure"
