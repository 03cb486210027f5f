"""The REST API: tokens, the school wall, roles, resources, evidence writes, filters, errors."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django_scopes import scope, scopes_disabled
from rest_framework.throttling import SimpleRateThrottle

from gradebook.models import Evidence, Mastery
from mastery.models import ApiToken, Membership, Role
from mastery.services import api_token_create
from tests.factories import make_assessment, make_evidence, make_intervention, make_member


def token_for(world, user=None) -> str:
    with scope(school=world.school):
        _, raw = api_token_create(school=world.school, user=user or world.admin, name="test")
    return raw


def api(token: str | None = None) -> Client:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return Client(**headers)


def url(world, resource: str, pk=None, action: str | None = None) -> str:
    base = f"/api/v1/schools/{world.school.slug}/{resource}/"
    if pk is not None:
        base += f"{pk}/"
    if action:
        base += f"{action}/"
    return base


def assert_error(response, status: int, code: str | None = None):
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert body["status"] == status and body["detail"], body
    if code:
        assert body["code"] == code, body
    return body


def evidence_rows(world):
    with scope(school=world.school):
        return list(
            Evidence.objects.filter(school=world.school)
            .order_by("id")
            .values_list("id", "score", "voided_at")
        )


# --- Tokens: made and revoked in the browser, stored hashed, shown once -------------------------


def test_a_token_is_made_in_the_browser_shown_once_and_stored_only_as_a_digest(
    world_a, login, in_school
):
    page = reverse("api_tokens", args=[world_a.school.slug])
    client = login(world_a.teacher)
    response = client.post(page, {"name": "SIS nightly sync"}, follow=True)
    assert response.status_code == 200 and response.redirect_chain  # a reload makes no second
    raw = response.context["new_secret"]
    assert raw.startswith("mgb_") and len(raw) > 40
    assert raw in response.content.decode()
    with in_school(world_a):
        token = ApiToken.objects.get(school=world_a.school, user=world_a.teacher)
    assert token.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {token.digest, token.key_prefix, token.name}
    # Shown once: the list never shows it again.
    again = client.get(page)
    assert raw not in again.content.decode() and token.key_prefix in again.content.decode()
    # It works, as that teacher.
    listing = api(raw).get(url(world_a, "students"))
    assert listing.status_code == 200
    assert {s["local_id"] for s in listing.json()["results"]} == {
        s.local_id for s in world_a.students
    }


def test_a_revoked_token_answers_401_and_the_revocation_is_kept(world_a, login, in_school):
    page = reverse("api_tokens", args=[world_a.school.slug])
    client = login(world_a.admin)
    raw = client.post(page, {"name": "warehouse"}, follow=True).context["new_secret"]
    assert api(raw).get(url(world_a, "departments")).status_code == 200
    with in_school(world_a):
        token = ApiToken.objects.get(school=world_a.school, user=world_a.admin)
    response = client.post(page, {"revoke": token.id})
    assert response.status_code == 302
    body = assert_error(api(raw).get(url(world_a, "departments")), 401, "authentication_failed")
    assert "revoked" in body["detail"]
    with scopes_disabled():
        token.refresh_from_db()
    assert token.revoked_at is not None  # kept, for the record


def test_tokens_page_refuses_bad_input_and_other_users_tokens(world_a, login, in_school):
    page = reverse("api_tokens", args=[world_a.school.slug])
    mine = token_for(world_a, world_a.counselor)
    client = login(world_a.teacher)
    response = client.post(page, {"name": "   "})
    assert response.status_code == 422 and "Name the token" in response.content.decode()
    with in_school(world_a):
        counselors = ApiToken.objects.get(user=world_a.counselor)
        assert not ApiToken.objects.filter(user=world_a.teacher).exists()
    assert client.post(page, {"revoke": counselors.id}).status_code == 404
    assert client.post(page, {"revoke": "abc"}).status_code == 404
    assert api(mine).get(url(world_a, "departments")).status_code == 200  # still works


def test_tokens_page_is_for_staff_and_of_ones_own_school(world_a, world_b, login):
    assert login(world_a.guardian).get(reverse("api_tokens", args=["alpha"])).status_code == 403
    assert login(world_a.student_user).get(reverse("api_tokens", args=["alpha"])).status_code == 403
    assert login(world_a.teacher).get(reverse("api_tokens", args=["beta"])).status_code == 404


def test_no_credentials_or_a_bad_token_answer_401_json(world_a):
    body = assert_error(Client().get(url(world_a, "students")), 401)
    assert "credentials" in body["detail"].lower()
    response = api("mgb_not-a-real-token").get(url(world_a, "students"))
    assert_error(response, 401, "authentication_failed")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert_error(Client(HTTP_AUTHORIZATION="Bearer").get(url(world_a, "students")), 401)


# --- The school wall -------------------------------------------------------------------------------


def test_a_token_never_reaches_another_school(world_a, world_b):
    raw = token_for(world_a)
    assert_error(api(raw).get(url(world_b, "students")), 404)
    assert_error(api(raw).get(f"/api/v1/schools/{world_b.school.slug}/"), 404)
    # Even when its user is also a member there: the token was made for school A.
    with scopes_disabled():
        Membership.objects.create(school=world_b.school, user=world_a.admin, role=Role.SCHOOL_ADMIN)
    assert_error(api(raw).get(url(world_b, "students")), 404)
    schools = api(raw).get("/api/v1/schools/").json()
    assert [s["slug"] for s in schools] == ["alpha"]


@pytest.mark.parametrize(
    "resource, attr",
    [
        ("students", lambda w: w.student.id),
        ("sections", lambda w: w.section.id),
        ("courses", lambda w: w.course.id),
        ("targets", lambda w: w.targets[0].id),
        ("competencies", lambda w: w.competency.id),
        ("departments", lambda w: w.department.id),
        ("assessments", lambda w: w.assessment.id),
        ("terms", lambda w: w.term.id),
        ("reports", lambda w: w.student.id),
    ],
)
def test_another_schools_ids_answer_404(world_a, world_b, resource, attr):
    raw = token_for(world_a)
    assert api(raw).get(url(world_a, resource, attr(world_a))).status_code == 200
    assert_error(api(raw).get(url(world_a, resource, attr(world_b))), 404)


def test_another_schools_evidence_and_mastery_answer_404(world_a, world_b):
    evidence_b = make_evidence(world_b).evidence
    with scopes_disabled():
        mastery_b = Mastery.objects.get(school=world_b.school)
    raw = token_for(world_a)
    assert_error(api(raw).get(url(world_a, "evidence", evidence_b.id)), 404)
    assert_error(api(raw).get(url(world_a, "mastery", mastery_b.id)), 404)
    before = evidence_rows(world_b)
    response = api(raw).post(
        url(world_a, "evidence", evidence_b.id, "void"),
        {"reason": "x"},
        content_type="application/json",
    )
    assert_error(response, 404)
    assert evidence_rows(world_b) == before


# --- Roles -------------------------------------------------------------------------------------------


def test_families_and_students_have_no_api(world_a):
    for user in (world_a.guardian, world_a.student_user):
        assert_error(api(token_for(world_a, user)).get(url(world_a, "students")), 403)


def test_a_teacher_sees_their_own_sections_and_students(world_a):
    raw = token_for(world_a, world_a.teacher)
    sections = api(raw).get(url(world_a, "sections")).json()["results"]
    assert [s["id"] for s in sections] == [world_a.section.id]
    assert sections[0]["teachers"][0]["full_name"] == "Tess Teacher"
    assert_error(api(raw).get(url(world_a, "sections", world_a.other_section.id)), 404)
    students = {s["id"] for s in api(raw).get(url(world_a, "students")).json()["results"]}
    assert students == {s.id for s in world_a.students}
    assert_error(api(raw).get(url(world_a, "students", world_a.other_students[0].id)), 404)
    # A counselor sees the whole school.
    everyone = api(token_for(world_a, world_a.counselor)).get(url(world_a, "students")).json()
    assert everyone["count"] == len(world_a.students) + len(world_a.other_students)


# --- Resources -------------------------------------------------------------------------------------


def test_the_framework_reads_with_descriptors_and_filters(world_a):
    raw = token_for(world_a)
    targets = api(raw).get(url(world_a, "targets"), {"course": world_a.course.id}).json()
    assert [t["code"] for t in targets["results"]] == [t.code for t in world_a.targets]
    first = targets["results"][0]
    assert [d["level_value"] for d in first["descriptors"]] == [1, 2, 3, 4]
    assert first["descriptors"][0]["text"] == "Level 1 of 1"
    assert first["competency_code"] == world_a.competency.code
    one = api(raw).get(url(world_a, "targets"), {"code": world_a.targets[1].code}).json()
    assert one["count"] == 1
    scale = api(raw).get(url(world_a, "scale")).json()
    assert [lv["value"] for lv in scale] == [1, 2, 3, 4]
    course = api(raw).get(url(world_a, "courses", world_a.course.id)).json()
    assert course["targets"] == [t.id for t in world_a.targets]
    school = api(raw).get(f"/api/v1/schools/{world_a.school.slug}/").json()
    assert school["slug"] == "alpha" and school["roles"] == ["school_admin"]


def test_roster_resources_and_their_filters(world_a):
    raw = token_for(world_a)
    enrollments = api(raw).get(url(world_a, "enrollments"), {"section": world_a.section.id}).json()
    assert {e["student"] for e in enrollments["results"]} == {s.id for s in world_a.students}
    in_section = api(raw).get(url(world_a, "students"), {"section": world_a.other_section.id})
    assert {s["id"] for s in in_section.json()["results"]} == {s.id for s in world_a.other_students}
    assessments = api(raw).get(url(world_a, "assessments"), {"section": world_a.section.id}).json()
    assert [a["id"] for a in assessments["results"]] == [world_a.assessment.id]
    assert assessments["results"][0]["targets"] == sorted(t.id for t in world_a.targets[:2])
    terms = api(raw).get(url(world_a, "terms")).json()
    assert terms["results"][0]["name"] == "This year"


def test_section_filters_return_each_row_once_and_only_the_sections(world_a):
    raw = token_for(world_a)
    own = make_assessment(
        world_a.school,
        world_a.course,
        world_a.targets[:1],
        on=world_a.assessment.assessed_on,
        section=world_a.section,
        title="Quiz only period 1",
    )
    common = api(raw).get(url(world_a, "assessments"), {"section": world_a.section.id}).json()
    assert sorted(a["id"] for a in common["results"]) == sorted([world_a.assessment.id, own.id])
    other = api(raw).get(url(world_a, "assessments"), {"section": world_a.other_section.id}).json()
    assert [a["id"] for a in other["results"]] == [world_a.assessment.id]
    post_evidence(raw, world_a, assessment=own.id)
    post_evidence(raw, world_a, student=world_a.other_students[0].id)
    in_p1 = api(raw).get(url(world_a, "evidence"), {"section": world_a.section.id}).json()
    assert [(e["student"], e["assessment"]) for e in in_p1["results"]] == [
        (world_a.student.id, own.id)
    ]
    in_p2 = api(raw).get(url(world_a, "evidence"), {"section": world_a.other_section.id}).json()
    assert [e["student"] for e in in_p2["results"]] == [world_a.other_students[0].id]


def test_lists_are_paged(world_a):
    raw = token_for(world_a)
    first = api(raw).get(url(world_a, "students"), {"page_size": 2}).json()
    assert first["count"] == 5 and len(first["results"]) == 2 and first["next"]
    rest = api(raw).get(first["next"]).json()
    assert len(rest["results"]) == 2 and rest["previous"]
    assert_error(api(raw).get(url(world_a, "students"), {"page": 99}), 404)


def test_bad_filters_answer_400_json(world_a):
    raw = token_for(world_a)
    body = assert_error(api(raw).get(url(world_a, "mastery"), {"level": "high"}), 400, "invalid")
    assert "level" in body["errors"]
    assert_error(api(raw).get(url(world_a, "mastery"), {"changed_since": "yesterday"}), 400)
    assert_error(api(raw).get(url(world_a, "mastery"), {"student": "1,x"}), 400)


def test_unknown_api_urls_answer_json_404(world_a):
    assert_error(Client().get("/api/v1/nothing-here/"), 404, "not_found")


# --- Evidence: the grid's validation, voided never deleted ------------------------------------------


def post_evidence(raw, world, **fields):
    body = {
        "student": world.student.id,
        "target": world.targets[0].id,
        "assessment": world.assessment.id,
        "score": 3,
    }
    body.update(fields)
    return api(raw).post(url(world, "evidence"), body, content_type="application/json")


def test_a_teacher_records_evidence_and_gets_the_new_mastery_record(world_a):
    raw = token_for(world_a, world_a.teacher)
    response = post_evidence(raw, world_a, score=3.5, feedback="Clear reasoning.")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["changed"] is True and body["replaced"] is None
    assert body["evidence"]["score"] == 3.5 and body["evidence"]["feedback"] == "Clear reasoning."
    assert body["mastery"]["score"] == 3.5 and body["mastery"]["level_label"]
    assert body["mastery"]["explanation"]
    # The same value again changes nothing.
    again = post_evidence(raw, world_a, score=3.5, feedback="Clear reasoning.")
    assert again.status_code == 200 and again.json()["changed"] is False
    assert len(evidence_rows(world_a)) == 1
    # A new value voids the old row and keeps it.
    changed = post_evidence(raw, world_a, score=2).json()
    assert changed["replaced"] == body["evidence"]["id"]
    rows = evidence_rows(world_a)
    assert len(rows) == 2 and rows[0][2] is not None and rows[1][2] is None


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"score": 7}, "score", ""),
        ({"score": "abc"}, "score", "number"),
        ({"status": "lost"}, "status", "valid choice"),
        ({"assessed_on": "2001-01-01"}, "assessed_on", "outside"),
        ({"target": 999999}, "target", "not aligned"),
        ({"assessment": 999999}, "assessment", "does not exist"),
        ({"student": None}, "student", ""),
    ],
)
def test_bad_evidence_gets_a_clear_json_error_and_writes_nothing(world_a, fields, field, message):
    raw = token_for(world_a)
    response = post_evidence(raw, world_a, **fields)
    body = assert_error(response, 400, "invalid")
    assert field in body["errors"], body
    assert message in " ".join(body["errors"][field]), body
    assert evidence_rows(world_a) == []


def test_evidence_for_another_schools_student_is_refused(world_a, world_b):
    raw = token_for(world_a)
    body = assert_error(post_evidence(raw, world_a, student=world_b.student.id), 400)
    assert "not enrolled" in " ".join(body["errors"]["student"])
    assert evidence_rows(world_a) == [] and evidence_rows(world_b) == []


def test_who_may_write_evidence(world_a):
    # Another teacher's student: 403; a counselor: 403 (read-only); a school admin: anywhere.
    other = token_for(world_a, world_a.teacher)
    assert_error(post_evidence(other, world_a, student=world_a.other_students[0].id), 403)
    assert_error(post_evidence(token_for(world_a, world_a.counselor), world_a), 403)
    assert evidence_rows(world_a) == []
    assert post_evidence(token_for(world_a), world_a).status_code == 201


def test_voiding_keeps_the_row_and_recomputes(world_a):
    raw = token_for(world_a, world_a.teacher)
    evidence_id = post_evidence(raw, world_a, score=3).json()["evidence"]["id"]
    void_url = url(world_a, "evidence", evidence_id, "void")
    body = assert_error(api(raw).post(void_url, {}, content_type="application/json"), 400)
    assert "reason" in body["errors"]
    response = api(raw).post(void_url, {"reason": "Wrong student"}, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["score"] is None and response.json()["evidence_count"] == 0
    detail = api(raw).get(url(world_a, "evidence", evidence_id)).json()
    assert detail["voided_at"] and detail["void_reason"] == "Wrong student"
    assert_error(api(raw).post(void_url, {"reason": "again"}, content_type="application/json"), 400)
    live = api(raw).get(url(world_a, "evidence"), {"voided": "false"}).json()
    assert live["count"] == 0
    assert api(raw).get(url(world_a, "evidence"), {"voided": "true"}).json()["count"] == 1


def test_session_auth_needs_csrf_for_writes(world_a):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world_a.admin)
    assert client.get(url(world_a, "students")).status_code == 200
    response = client.post(
        url(world_a, "evidence"),
        {"student": world_a.student.id, "target": world_a.targets[0].id, "assessment": 1},
        content_type="application/json",
    )
    assert_error(response, 403)
    assert evidence_rows(world_a) == []


# --- Mastery records --------------------------------------------------------------------------------


def test_mastery_records_filter_by_section_target_student_level_and_change(world_a, in_school):
    raw = token_for(world_a)
    for student, score in zip(world_a.students, (4, 2, 3), strict=True):
        post_evidence(raw, world_a, student=student.id, score=score)
    post_evidence(raw, world_a, student=world_a.students[0].id, target=world_a.targets[1].id)
    get = lambda **q: api(raw).get(url(world_a, "mastery"), q).json()  # noqa: E731
    assert get()["count"] == 4
    assert get(target=world_a.targets[1].id)["count"] == 1
    assert get(student=f"{world_a.students[1].id},{world_a.students[2].id}")["count"] == 2
    assert {r["score"] for r in get(level=4)["results"]} == {4}
    assert get(mastered="true")["count"] == 3
    assert get(section=world_a.section.id)["count"] == 4
    assert get(section=world_a.other_section.id)["count"] == 0
    with in_school(world_a):
        latest = Mastery.objects.filter(school=world_a.school).order_by("computed_at").last()
    changed = get(changed_since=(latest.computed_at - timedelta(microseconds=1)).isoformat())
    assert [r["id"] for r in changed["results"]] == [latest.id]
    record = get(student=world_a.students[1].id)["results"][0]
    assert record["student_local_id"] == world_a.students[1].local_id
    assert record["level_label"] and Decimal(str(record["level"])) == Decimal(2)


def test_a_teacher_reads_only_their_students_mastery(world_a):
    admin = token_for(world_a)
    post_evidence(admin, world_a, student=world_a.other_students[0].id)
    post_evidence(admin, world_a)
    teacher = api(token_for(world_a, world_a.teacher)).get(url(world_a, "mastery")).json()
    assert [r["student"] for r in teacher["results"]] == [world_a.student.id]


def test_the_mastery_list_has_a_constant_number_of_queries(world_a, django_assert_max_num_queries):
    raw = token_for(world_a)
    for student in world_a.students + world_a.other_students:
        post_evidence(raw, world_a, student=student.id)
    # Token lookup, school access, count, page, scale labels (+ last_used touch at most).
    with django_assert_max_num_queries(6):
        response = api(raw).get(url(world_a, "mastery"))
    assert response.json()["count"] == 5


# --- Intervention and reports --------------------------------------------------------------------------


def test_cycles_groups_and_rosters_read(world_a, in_school):
    raw = token_for(world_a)
    post_evidence(raw, world_a, score=1)
    cycle = make_intervention(world_a)
    cycles = api(raw).get(url(world_a, "cycles")).json()["results"]
    assert [c["id"] for c in cycles] == [cycle.id] and cycles[0]["status"] == "open"
    entries = api(raw).get(url(world_a, "roster-entries"), {"cycle": cycle.id}).json()["results"]
    assert {e["student"] for e in entries} == {world_a.student.id}
    assert entries[0]["target_code"] == world_a.targets[0].code
    groups = api(raw).get(url(world_a, "groups"), {"cycle": cycle.id}).json()["results"]
    assert {g["id"] for g in groups} >= {e["group"] for e in entries if e["group"]}
    teacher = token_for(world_a, world_a.teacher)
    assert api(teacher).get(url(world_a, "cycles")).status_code == 200
    # A teacher reads only the groups they lead and who is in them (as on the pages).
    leads = {g["id"]: g["teacher"] for g in groups}
    placed = next(e for e in entries if e["group"])
    by_id = {world_a.teacher.id: world_a.teacher, world_a.other_teacher.id: world_a.other_teacher}
    leader = by_id[leads[placed["group"]]]
    bystander = next(t for t in by_id.values() if t != leader)
    seen = api(token_for(world_a, leader)).get(url(world_a, "roster-entries")).json()["results"]
    assert placed["id"] in {e["id"] for e in seen}
    not_seen = api(token_for(world_a, bystander)).get(url(world_a, "roster-entries")).json()
    assert placed["id"] not in {e["id"] for e in not_seen["results"]}
    their_groups = api(token_for(world_a, bystander)).get(url(world_a, "groups")).json()
    assert {g["teacher"] for g in their_groups["results"]} <= {bystander.id}


def test_a_report_pdf_and_a_batch(world_a, settings, tmp_path, django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = tmp_path
    raw = token_for(world_a)
    post_evidence(raw, world_a)
    pdf = api(raw).get(url(world_a, "reports", world_a.student.id), {"lang": "es"})
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF")
    with django_capture_on_commit_callbacks(execute=True):  # the batch is queued on commit
        started = api(raw).post(
            url(world_a, "report-batches"),
            {"section": world_a.section.id, "language": "en"},
            content_type="application/json",
        )
    assert started.status_code == 201, started.content
    batch = api(raw).get(url(world_a, "report-batches", started.json()["id"])).json()
    assert batch["total"] == 3 and batch["finished"] and batch["download"]
    archive = api(raw).get(batch["download"])
    assert archive.status_code == 200 and archive["Content-Type"] == "application/zip"
    # A teacher must name one of their sections.
    teacher = token_for(world_a, world_a.teacher)
    response = api(teacher).post(
        url(world_a, "report-batches"), {}, content_type="application/json"
    )
    assert_error(response, 403)
    response = api(teacher).post(
        url(world_a, "report-batches"),
        {"section": world_a.other_section.id},
        content_type="application/json",
    )
    assert_error(response, 400)


# --- Documentation ---------------------------------------------------------------------------------------


def test_the_openapi_schema_and_self_hosted_docs(db):
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    doc = schema.json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    assert "/api/v1/schools/{school_slug}/mastery/" in paths
    assert "/api/v1/schools/{school_slug}/evidence/{id}/void/" in paths
    assert "apiToken" in doc["components"]["securitySchemes"]
    docs = Client().get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower()


def test_a_member_of_two_schools_picks_one_by_token(world_a, world_b):
    teacher_b = make_member(world_b.school, Role.TEACHER, "both@x.test")
    with scopes_disabled():
        Membership.objects.create(school=world_a.school, user=teacher_b, role=Role.COUNSELOR)
    raw = token_for(world_a, teacher_b)
    assert api(raw).get(url(world_a, "students")).json()["count"] == 5
    assert_error(api(raw).get(url(world_b, "students")), 404)


# --- CSV exports through the API ------------------------------------------------------------------


def test_the_section_gradebook_csv_is_the_grids_export(world_a, login):
    raw = token_for(world_a, world_a.teacher)
    post_evidence(raw, world_a, score=3)
    response = api(raw).get(url(world_a, "sections", world_a.section.id, "gradebook.csv"))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    page = login(world_a.teacher).get(
        reverse("gradebook:section_export", args=[world_a.school.slug, world_a.section.id])
    )
    assert response.content == page.content
    text = response.content.decode("utf-8-sig")
    assert f"{world_a.targets[0].code} level" in text.splitlines()[0]
    assert_error(
        api(raw).get(url(world_a, "sections", world_a.other_section.id, "gradebook.csv")), 404
    )


def test_the_school_mastery_csv_streams_with_filters_for_school_wide_roles(world_a):
    raw = token_for(world_a, world_a.counselor)
    admin = token_for(world_a)
    for student, score in zip(world_a.students, (4, 2, 3), strict=True):
        post_evidence(admin, world_a, student=student.id, score=score)
    response = api(raw).get(url(world_a, "mastery", action="export.csv"))
    assert response.status_code == 200 and response.streaming
    lines = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()
    assert len(lines) == 1 + 3
    filtered = api(raw).get(url(world_a, "mastery", action="export.csv"), {"level": "4"})
    assert len(b"".join(filtered.streaming_content).decode().splitlines()) == 2
    body = assert_error(
        api(raw).get(url(world_a, "mastery", action="export.csv"), {"level": "huge"}), 400
    )
    assert "level" in body["detail"]
    teacher = token_for(world_a, world_a.teacher)
    assert_error(api(teacher).get(url(world_a, "mastery", action="export.csv")), 403)


def test_a_client_over_its_rate_gets_429_json_with_retry_after(world_a, monkeypatch):

    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"user": "3/min", "anon": "3/min"})
    raw = token_for(world_a)
    statuses = [api(raw).get(url(world_a, "departments")).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    response = api(raw).get(url(world_a, "departments"))
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    # Another user has their own budget.
    assert (
        api(token_for(world_a, world_a.counselor)).get(url(world_a, "departments")).status_code
        == 200
    )


# --- Input no row can hold (issue 21 item 6) ------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "query"),
    [
        ("evidence", {"student": str(2**63)}),
        ("evidence", {"assessment": str(2**63)}),
        ("students", {"section": str(2**64)}),
        ("courses", {"department": "1e400"}),
        ("roster-entries", {"student": str(2**63)}),
        ("mastery", {"target": "1,²"}),
    ],
)
def test_a_filter_id_no_row_can_hold_is_a_400_naming_the_filter(world_a, resource, query):
    response = api(token_for(world_a)).get(url(world_a, resource), query)
    body = assert_error(response, 400, "invalid")
    assert set(body["errors"]) == set(query)


def test_evidence_with_an_id_beyond_64_bits_is_a_400_and_writes_nothing(world_a):
    w = world_a
    body = {"student": w.students[0].id, "target": w.targets[0].id, "assessment": w.assessment.id}
    for field in ("student", "target", "assessment"):
        response = api(token_for(w)).post(
            url(w, "evidence"),
            {**body, field: 2**63, "score": "3"},
            content_type="application/json",
        )
        assert set(assert_error(response, 400, "invalid")["errors"]) == {field}
    assert evidence_rows(w) == []


@pytest.mark.parametrize("nested", [b"[" * 10_000, b'{"a":' * 10_000])
def test_a_json_body_nested_too_deeply_is_a_400(world_a, nested):
    response = api(token_for(world_a)).post(
        url(world_a, "evidence"), nested, content_type="application/json"
    )
    assert "nested too deeply" in assert_error(response, 400, "parse_error")["detail"]
    assert evidence_rows(world_a) == []


def test_a_token_name_with_a_nul_character_answers_422(world_a, login, in_school):
    page = reverse("api_tokens", args=[world_a.school.slug])
    response = login(world_a.teacher).post(page, {"name": "ci\x00"})
    assert response.status_code == 422 and b"Null characters are not allowed." in response.content
    with in_school(world_a):
        assert not ApiToken.objects.filter(user=world_a.teacher).exists()
