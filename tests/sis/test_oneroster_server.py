"""The OneRoster 1.2 Gradebook test server (tests/sis/oneroster_server.py) checked on its own.

Plain http.client over TLS, no Django and no database: no test here asks for `db`.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pytest

from tests.sis.oneroster_server import (
    SCOPE_CREATEPUT,
    SCOPE_READONLY,
    OneRosterGradebookServer,
    schema_problems,
)


@pytest.fixture
def sis() -> Iterator[OneRosterGradebookServer]:
    with OneRosterGradebookServer() as server:
        yield server


def call(
    sis: OneRosterGradebookServer,
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> tuple[int, dict[str, str], Any]:
    """One request; the status, the headers and the body (parsed when it is JSON)."""
    parts = urlsplit(url)
    connection = http.client.HTTPSConnection(
        parts.hostname, parts.port, context=context or sis.ssl_context(), timeout=10
    )
    sent = dict(headers or {})
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    if data is not None:
        sent.setdefault("Content-Type", "application/json")
    try:
        connection.request(method, parts.path, body=data, headers=sent)
        response = connection.getresponse()
        raw = response.read()
        answer_headers = dict(response.getheaders())
        parsed = (
            json.loads(raw) if raw and "json" in response.getheader("Content-Type", "") else raw
        )
        return response.status, answer_headers, parsed
    finally:
        connection.close()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def post_form(
    sis: OneRosterGradebookServer, form: dict[str, str], headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    status, _, body = call(
        sis, "POST", sis.token_url, urlencode(form).encode(), {**FORM, **(headers or {})}
    )
    return status, body


def token_for(sis: OneRosterGradebookServer, **form: str) -> tuple[int, Any]:
    basic = base64.b64encode(f"{sis.client_id}:{sis.client_secret}".encode()).decode()
    return post_form(
        sis, {"grant_type": "client_credentials", **form}, {"Authorization": f"Basic {basic}"}
    )


def put(
    sis: OneRosterGradebookServer, path: str, payload: Any, token: str
) -> tuple[int, dict[str, str], Any]:
    return call(sis, "PUT", f"{sis.base_url}/{path}", payload, bearer(token))


def code_minor(imsx: dict[str, Any]) -> str:
    assert (imsx["imsx_codeMajor"], imsx["imsx_severity"]) == ("failure", "error")
    return imsx["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ref(kind: str, sourced_id: str) -> dict[str, str]:
    return {
        "href": f"https://sis.example.test/ims/{kind}/{sourced_id}",
        "sourcedId": sourced_id,
        "type": kind,
    }


def line_item(sourced_id: str = "li-1", **changes: Any) -> dict[str, Any]:
    return {
        "sourcedId": sourced_id,
        "status": "active",
        "dateLastModified": "2024-04-23T18:25:43.511Z",
        "title": "Fractions: unit test",
        "assignDate": "2024-04-01T08:00:00Z",
        "dueDate": "2024-04-08T08:00:00Z",
        "class": ref("class", "class-7a"),
        "school": ref("org", "school-1"),
        "category": ref("category", "cat-assessments"),
        "resultValueMin": 0,
        "resultValueMax": 4,
        "learningObjectiveSet": [
            {"source": "case", "learningObjectiveIds": ["6b1e1b8a-3c1f-4f4e-9a57-3f2a2d7c1c01"]}
        ],
        **changes,
    }


def result(sourced_id: str = "r-1", line_item_id: str = "li-1", **changes: Any) -> dict[str, Any]:
    return {
        "sourcedId": sourced_id,
        "status": "active",
        "dateLastModified": "2024-04-23T18:25:43Z",
        "lineItem": ref("lineItem", line_item_id),
        "student": ref("user", "student-1"),
        "scoreStatus": "fully graded",
        "score": 3,
        "scoreDate": "2024-04-23",
        **changes,
    }


def test_the_token_endpoint_takes_client_credentials_by_basic_or_in_the_form(sis):
    status, body = token_for(sis, scope=SCOPE_CREATEPUT)
    assert status == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    assert body["scope"] == SCOPE_CREATEPUT and body["access_token"]

    form = {
        "grant_type": "client_credentials",
        "client_id": sis.client_id,
        "client_secret": sis.client_secret,
    }
    status, body = post_form(sis, form)
    assert status == 200 and body["access_token"]
    assert token_for(sis, scope="https://example.test/everything") == (
        400,
        {"error": "invalid_scope"},
    )
    assert post_form(sis, {**form, "grant_type": "password"}) == (
        400,
        {"error": "unsupported_grant_type"},
    )
    assert post_form(sis, {**form, "client_secret": "wrong"}) == (401, {"error": "invalid_client"})
    assert sis.tokens_issued == 2


def test_a_put_without_a_live_token_is_unauthorised(sis):
    status, headers, body = call(
        sis, "PUT", f"{sis.base_url}/lineItems/li-1", {"lineItem": line_item()}
    )
    assert (status, code_minor(body)) == (401, "unauthorisedrequest")
    assert headers["WWW-Authenticate"].startswith("Bearer")

    token = token_for(sis)[1]["access_token"]
    sis.expire_tokens()
    assert put(sis, "lineItems/li-1", {"lineItem": line_item()}, token)[0] == 401
    assert sis.line_items == {}

    # A token with only a read scope may read but not write.
    status, _, body = put(
        sis, "lineItems/li-1", {"lineItem": line_item()}, sis.issue_token([SCOPE_READONLY])
    )
    assert (status, code_minor(body)) == (403, "forbidden")


def test_it_stores_a_line_item_and_a_result_and_reads_them_back(sis):
    token = token_for(sis)[1]["access_token"]
    assert put(sis, "lineItems/li-1", {"lineItem": line_item()}, token)[::2] == (201, b"")
    assert put(sis, "results/r-1", {"result": result()}, token)[0] == 201

    # The same sourcedId again replaces the object ([OAS] lists only 201 for PUT).
    assert (
        put(sis, "lineItems/li-1", {"lineItem": line_item(title="Fractions: retake")}, token)[0]
        == 201
    )
    assert sis.puts("li-1") == 2 and sis.puts("r-1") == 1
    assert sis.line_items["li-1"]["title"] == "Fractions: retake"

    status, _, body = call(sis, "GET", f"{sis.base_url}/results/r-1", headers=bearer(token))
    assert (status, body) == (200, {"result": result()})
    status, _, body = call(sis, "GET", f"{sis.base_url}/results/nope", headers=bearer(token))
    assert (status, code_minor(body)) == (404, "unknownobject")
    assert body["imsx_description"].startswith("Unknown Object")


def test_a_replacement_can_answer_200_when_asked(sis):
    sis.replaced_status = 200
    token = sis.issue_token()
    statuses = [put(sis, "lineItems/li-1", {"lineItem": line_item()}, token)[0] for _ in range(2)]
    assert statuses == [201, 200]


def test_an_invalid_object_is_refused_with_422_naming_each_field(sis):
    token = sis.issue_token()
    bad = line_item(
        status="inactive", assignDate="2024-04-01", school=ref("class", "s-1"), colour="red"
    )
    del bad["title"]
    status, _, body = put(sis, "lineItems/li-2", {"lineItem": bad}, token)
    assert (status, code_minor(body)) == (422, "invaliddata")
    for field in (
        "lineItem.title: required, missing",
        "lineItem.status: 'inactive' is not one of active, tobedeleted",
        "lineItem.assignDate: must be an ISO 8601 date-time",
        "lineItem.school.type: 'class' is not one of org",
        "lineItem.colour: not a property of this object",
        "lineItem.sourcedId: 'li-1' is not the sourcedId in the path, 'li-2'",
    ):
        assert field in body["imsx_description"]
    assert sis.line_items == {} and sis.puts("li-2") == 0

    status, _, body = put(sis, "lineItems/li-1", b"{not json", token)
    assert (status, code_minor(body)) == (400, "invaliddata")


def test_the_schema_checks_follow_the_specification():
    assert schema_problems("lineItem", {"lineItem": line_item()}, "li-1") == []
    assert schema_problems("result", {"result": result()}, "r-1") == []
    assert schema_problems("result", {"result": result(scoreStatus="ext:resubmitted")}) == []

    def first_problem(**changes: Any) -> str:
        return schema_problems("result", {"result": result(**changes)})[0]

    assert first_problem(scoreStatus="graded").startswith("result.scoreStatus")
    assert first_problem(scoreDate="2024-04-23T00:00:00Z").startswith("result.scoreDate")
    assert first_problem(late=True).startswith("result.late")
    assert first_problem(dateLastModified="2024-04-23T18:25:43+02:00").startswith(
        "result.dateLastModified"
    )
    assert first_problem(student={"sourcedId": "s-1"}) == "result.student.href: required, missing"

    not_a_uuid = line_item(
        learningObjectiveSet=[{"source": "case", "learningObjectiveIds": ["NBT.1"]}]
    )
    assert schema_problems("lineItem", {"lineItem": not_a_uuid}) == [
        "lineItem.learningObjectiveSet[0].learningObjectiveIds[0]: a CASE identifier must be a UUID, not 'NBT.1'"
    ]
    assert schema_problems("lineItem", {"lineItems": [line_item()]}) == [
        "lineItems: not a property of this object",
        "lineItem: required, missing (the body is {'lineItem': {...}})",
    ]


def test_a_result_must_name_a_line_item_the_sis_holds_and_score_within_it(sis):
    token = sis.issue_token()
    status, _, body = put(sis, "results/r-1", {"result": result()}, token)
    assert (status, code_minor(body)) == (422, "unknownobject")
    assert "result.lineItem.sourcedId: Unknown Object" in body["imsx_description"]

    sis.seed_line_item(line_item())
    status, _, body = put(sis, "results/r-1", {"result": result(score=5)}, token)
    assert status == 422 and "above the lineItem's resultValueMax 4" in body["imsx_description"]
    assert sis.results == {}


def test_refusals_and_transient_failures_store_nothing(sis):
    token = sis.issue_token()
    payload = {"lineItem": line_item()}
    sis.refuse("li-1", status=422, description="Class 7A is closed for grading.")
    status, _, body = put(sis, "lineItems/li-1", payload, token)
    assert (status, body["imsx_description"]) == (422, "Class 7A is closed for grading.")
    sis.stop_refusing("li-1")

    sis.fail_next(2, status=503, retry_after=7)
    for _ in range(2):
        status, headers, body = put(sis, "lineItems/li-1", payload, token)
        assert (status, headers["Retry-After"], code_minor(body)) == (503, "7", "server_busy")
    assert sis.puts("li-1") == 0
    assert put(sis, "lineItems/li-1", payload, token)[0] == 201
    assert sis.puts("li-1") == 1

    assert [(r.method, r.status) for r in sis.requests] == [
        ("PUT", 422),
        ("PUT", 503),
        ("PUT", 503),
        ("PUT", 201),
    ]
    last = sis.requests[-1]
    assert last.body == payload and last.headers["authorization"] == f"Bearer {token}"

    sis.reset()
    assert (sis.requests, sis.line_items, sis.puts("li-1")) == ([], {}, 0)


def test_a_sourced_id_with_a_slash_travels_percent_encoded(sis):
    path = f"lineItems/{quote('term-1/li-9', safe='')}"
    assert put(sis, path, {"lineItem": line_item("term-1/li-9")}, sis.issue_token())[0] == 201
    assert list(sis.line_items) == ["term-1/li-9"]


def test_a_client_that_does_not_trust_the_test_ca_is_refused(sis):
    with pytest.raises(ssl.SSLCertVerificationError):
        call(sis, "GET", f"{sis.base_url}/lineItems/li-1", context=ssl.create_default_context())
    # The server shrugs it off and goes on serving.
    status, _, _ = call(
        sis, "GET", f"{sis.base_url}/lineItems/li-1", headers=bearer(sis.issue_token())
    )
    assert status == 404
