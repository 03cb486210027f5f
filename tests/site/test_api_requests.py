"""The REST API of reassessment requests and rules: school A / school B, who may read and who may
resolve, noting a request against the rules, accepting (one sitting), declining, bad input refused
with nothing changed, and the rules in fields, in words and checked for a student."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_scopes import scopes_disabled

from gradebook.models import Assessment, AssessmentKind, ReassessmentRequest, ReassessmentRule
from tests.factories import make_assessment, make_evidence, make_request, make_student
from tests.site.test_api import api, assert_error, token_for, url

TODAY = timezone.localdate()
TOMORROW = TODAY + timedelta(days=1)
REQUESTS = "reassessment-requests"
RULES = "reassessment-rules"


def ready_to_ask(w, student, target=None):
    """An attempt a week ago and practice since: every default rule is met for `student`."""
    target = target or w.targets[0]
    for kind, days_ago in (("summative", 7), ("formative", 2)):
        made = make_assessment(
            w.school, w.course, [target], on=TODAY - timedelta(days=days_ago), kind=kind
        )
        make_evidence(w, student, target, "2", assessment=made)


def request_of(w, student, target=None, section=None, **values) -> ReassessmentRequest:
    with scopes_disabled():
        return ReassessmentRequest.objects.create(
            school=w.school,
            student=student,
            target=target or w.targets[0],
            section=section or w.section,
            requested_by=w.student_user,
            **values,
        )


def state(request: ReassessmentRequest) -> tuple:
    with scopes_disabled():
        request.refresh_from_db()
    return (
        request.status,
        request.scheduled_on,
        request.sitting_id,
        request.decline_reason,
        request.resolved_at,
    )


def sittings(w) -> int:
    with scopes_disabled():
        return Assessment.objects.filter(school=w.school, kind=AssessmentKind.REASSESSMENT).count()


def post(token, w, *, pk=None, action=None, **body):
    return api(token).post(url(w, REQUESTS, pk, action), body, content_type="application/json")


def school_rules(w, **values) -> ReassessmentRule:
    with scopes_disabled():
        rule, _ = ReassessmentRule.objects.update_or_create(
            school=w.school, course=None, defaults=values
        )
    return rule


# --- School A / school B -------------------------------------------------------------------------


def test_a_schools_list_never_shows_another_schools_requests(world_a, world_b):
    mine, theirs = make_request(world_a), make_request(world_b)
    listing = api(token_for(world_a)).get(url(world_a, REQUESTS))
    assert listing.status_code == 200
    assert [r["id"] for r in listing.json()["results"]] == [mine.id]
    row = listing.json()["results"][0]
    assert row["target"] == world_a.targets[0].id and row["target_code"] == "ALPHA.F1"
    assert row["student"] == world_a.students[1].id and row["section"] == world_a.section.id
    assert row["status"] == "open" and row["requested_by"] == "Stu Student"
    assert set(row) == {
        "id",
        "student",
        "target",
        "target_code",
        "section",
        "status",
        "note",
        "created_at",
        "scheduled_on",
        "sitting",
        "decline_reason",
        "rules",
        "requested_by",
        "resolved_at",
        "evidence",
    }
    # B's token: A's request is a 404, as is A's school; A's token reads no B request by id.
    b_token = token_for(world_b)
    assert_error(api(b_token).get(url(world_a, REQUESTS, mine.id)), 404)
    assert_error(api(b_token).get(url(world_b, REQUESTS, mine.id)), 404)
    assert_error(api(token_for(world_a)).get(url(world_a, REQUESTS, theirs.id)), 404)


def test_another_schools_token_cannot_accept_or_decline_a_request(world_a, world_b):
    mine = make_request(world_a)
    before = state(mine)
    b_token = token_for(world_b)
    assert_error(
        post(b_token, world_b, pk=mine.id, action="accept", scheduled_on=str(TOMORROW)), 404
    )
    assert_error(post(b_token, world_b, pk=mine.id, action="decline", reason="No."), 404)
    assert_error(post(b_token, world_a, pk=mine.id, action="decline", reason="No."), 404)
    assert state(mine) == before
    # A's own admin may (the route is there: B's 404 is the school wall).
    mine_now = post(token_for(world_a), world_a, pk=mine.id, action="decline", reason="No.")
    assert mine_now.status_code == 200 and mine_now.json()["status"] == "declined"


# --- Who reads what ---------------------------------------------------------------------------------


def test_a_teacher_lists_the_requests_of_their_sections_and_filters_them(world_a):
    w = world_a
    ours = make_request(w)  # students[1], targets[0], the teacher's section
    second = request_of(w, w.students[2], w.targets[1], status="declined", decline_reason="Soon.")
    theirs = request_of(w, w.other_students[0], section=w.other_section)
    teacher = api(token_for(w, w.teacher))

    def ids(**params):
        response = teacher.get(url(w, REQUESTS), params)
        assert response.status_code == 200, response.content
        return [r["id"] for r in response.json()["results"]]

    assert ids() == [ours.id, second.id]
    assert ids(status="declined") == [second.id]
    assert ids(student=str(w.students[1].id)) == [ours.id]
    assert ids(target=f"{w.targets[0].id},{w.targets[2].id}") == [ours.id]
    assert ids(section=w.other_section.id) == []
    assert_error(teacher.get(url(w, REQUESTS, theirs.id)), 404)
    assert_error(teacher.get(url(w, REQUESTS), {"status": "maybe"}), 400)
    other = api(token_for(w, w.other_teacher)).get(url(w, REQUESTS)).json()["results"]
    assert [r["id"] for r in other] == [theirs.id]
    counselor = api(token_for(w, w.counselor)).get(url(w, REQUESTS)).json()["results"]
    assert {r["id"] for r in counselor} == {ours.id, second.id, theirs.id}


# --- Noting a request --------------------------------------------------------------------------------


def test_a_teacher_notes_a_request_that_meets_the_rules_and_a_second_post_answers_the_first(
    world_a,
):
    w = world_a
    ready_to_ask(w, w.students[0])
    token = token_for(w, w.teacher)
    body = {"student": w.students[0].id, "target": w.targets[0].id, "note": "Retake Friday"}
    response = post(token, w, **body)
    assert response.status_code == 201, response.content
    made = response.json()
    assert made["status"] == "open" and made["section"] == w.section.id
    assert made["requested_by"] == "Tess Teacher" and made["note"] == "Retake Friday"
    assert {"rule": "Teachers may note a request for a student.", "met": True} in made["rules"]
    assert all(line["met"] for line in made["rules"])
    again = post(token, w, **body)
    assert again.status_code == 200 and again.json()["id"] == made["id"]
    with scopes_disabled():
        assert ReassessmentRequest.objects.filter(school=w.school).count() == 1


def test_a_request_the_rules_refuse_is_a_400_in_the_rules_words_and_nothing_is_made(world_a):
    w = world_a
    token = token_for(w, w.teacher)
    body = {"student": w.students[0].id, "target": w.targets[0].id}
    refused = assert_error(post(token, w, **body), 400, "invalid")
    assert refused["errors"]["target"] == ["There is no attempt on this target to retake yet."]
    ready_to_ask(w, w.students[0])
    school_rules(w, teachers_may_request=False)
    refused = assert_error(post(token, w, **body), 400)
    assert (
        "In this course, requests come from students, not from teachers."
        in (refused["errors"]["target"])
    )
    with scopes_disabled():
        assert not ReassessmentRequest.objects.filter(school=w.school).exists()


def test_only_the_students_teacher_or_an_admin_notes_a_request(world_a, world_b):
    w = world_a
    outsider = w.other_students[0]  # in the other teacher's section
    ready_to_ask(w, outsider)
    teacher = token_for(w, w.teacher)
    assert_error(post(teacher, w, student=outsider.id, target=w.targets[0].id), 403)
    counselor = token_for(w, w.counselor)
    assert_error(post(counselor, w, student=outsider.id, target=w.targets[0].id), 403)
    b_student = world_b.students[0].id
    body = assert_error(post(teacher, w, student=b_student, target=w.targets[0].id), 400)
    assert body["errors"]["student"] == ["No such student in this school."]
    body = assert_error(
        post(teacher, w, student=w.students[0].id, target=world_b.targets[0].id), 400
    )
    assert body["errors"]["target"] == ["No such learning target in this school."]
    with scopes_disabled():
        assert not ReassessmentRequest.objects.filter(school=w.school).exists()
    admin = post(token_for(w), w, student=outsider.id, target=w.targets[0].id)
    assert admin.status_code == 201 and admin.json()["section"] == w.other_section.id


# --- Accepting -------------------------------------------------------------------------------------


def test_the_sections_teacher_accepts_for_a_day_and_a_second_accept_makes_no_second_sitting(
    world_a,
):
    w = world_a
    asked = make_request(w)
    token = token_for(w, w.teacher)
    first = post(token, w, pk=asked.id, action="accept", scheduled_on=str(TOMORROW))
    assert first.status_code == 200, first.content
    assert first.json()["status"] == "scheduled"
    assert first.json()["scheduled_on"] == TOMORROW.isoformat()
    assert first.json()["sitting"] is not None
    again = post(token, w, pk=asked.id, action="accept", scheduled_on=str(TOMORROW))
    assert again.status_code == 200 and again.json()["sitting"] == first.json()["sitting"]
    assert sittings(w) == 1


def test_bulk_accept_puts_requests_on_one_target_and_day_into_one_sitting(world_a):
    w = world_a
    a, b = make_request(w), request_of(w, w.students[2])
    other_target = request_of(w, w.students[0], w.targets[1])
    response = post(
        token_for(w, w.teacher),
        w,
        action="accept",
        ids=[a.id, b.id, other_target.id, a.id],
        scheduled_on=str(TOMORROW),
    )
    assert response.status_code == 200, response.content
    rows = {r["id"]: r for r in response.json()}
    assert set(rows) == {a.id, b.id, other_target.id}
    assert {r["status"] for r in rows.values()} == {"scheduled"}
    assert rows[a.id]["sitting"] == rows[b.id]["sitting"] != rows[other_target.id]["sitting"]
    assert sittings(w) == 2
    # The same again: nothing new.
    post(token_for(w, w.teacher), w, action="accept", ids=[a.id, b.id], scheduled_on=str(TOMORROW))
    assert sittings(w) == 2


def test_accepting_needs_a_day_not_yet_passed_and_refuses_with_nothing_changed(world_a):
    w = world_a
    asked = make_request(w)
    before = state(asked)
    token = token_for(w, w.teacher)
    body = assert_error(post(token, w, pk=asked.id, action="accept"), 400, "invalid")
    assert body["errors"]["scheduled_on"] == ["Give the day of the reassessment."]
    body = assert_error(post(token, w, pk=asked.id, action="accept", scheduled_on=None), 400)
    assert body["errors"]["scheduled_on"] == ["Give the day of the reassessment."]
    yesterday = str(TODAY - timedelta(days=1))
    body = assert_error(post(token, w, pk=asked.id, action="accept", scheduled_on=yesterday), 400)
    assert body["errors"]["scheduled_on"] == ["The reassessment's day has already passed."]
    after_term = str(w.term.ends_on + timedelta(days=1))
    body = assert_error(post(token, w, pk=asked.id, action="accept", scheduled_on=after_term), 400)
    assert "is outside This year" in body["errors"]["scheduled_on"][0]
    assert_error(post(token, w, pk=asked.id, action="accept", scheduled_on="next friday"), 400)
    assert_error(post(token, w, pk=2**62, action="accept", scheduled_on=str(TOMORROW)), 404)
    assert state(asked) == before and sittings(w) == 0


def test_bulk_accept_refuses_unknown_and_other_schools_ids_and_changes_nothing(world_a, world_b):
    w = world_a
    asked, theirs = make_request(w), make_request(world_b)
    hidden = request_of(w, w.other_students[0], section=w.other_section)
    before = state(asked)
    token = token_for(w, w.teacher)

    def refused(ids, **extra):
        body = {"ids": ids, "scheduled_on": str(TOMORROW), **extra}
        return assert_error(post(token, w, action="accept", **body), 400)["errors"]

    assert refused([asked.id, theirs.id])["ids"] == [
        f"No such request in this school: {theirs.id}."
    ]
    assert refused([asked.id, 2**62])["ids"] == [f"No such request in this school: {2**62}."]
    # Another teacher's section: no such request for this teacher either.
    assert refused([asked.id, hidden.id])["ids"] == [
        f"No such request in this school: {hidden.id}."
    ]
    assert refused([])["ids"] == ["Give the ids of the requests to schedule."]
    assert refused([asked.id], scheduled_on=None)["scheduled_on"]
    assert "ids" in refused(["abc"])
    assert state(asked) == before and state(theirs)[0] == "open" and state(hidden)[0] == "open"
    assert sittings(w) == 0 and sittings(world_b) == 0


def test_another_teacher_gets_404_and_a_counselor_403_on_accept_and_decline(world_a):
    w = world_a
    asked = make_request(w)
    before = state(asked)
    other = token_for(w, w.other_teacher)
    assert_error(post(other, w, pk=asked.id, action="accept", scheduled_on=str(TOMORROW)), 404)
    assert_error(post(other, w, pk=asked.id, action="decline", reason="Not mine."), 404)
    counselor = token_for(w, w.counselor)
    assert api(counselor).get(url(w, REQUESTS, asked.id)).status_code == 200  # reads
    for action, body in (
        ("accept", {"scheduled_on": str(TOMORROW)}),
        ("decline", {"reason": "No."}),
    ):
        assert_error(post(counselor, w, pk=asked.id, action=action, **body), 403)
    body = {"ids": [asked.id], "scheduled_on": str(TOMORROW)}
    assert_error(post(counselor, w, action="accept", **body), 403)
    assert_error(post(counselor, w, student=w.students[1].id, target=w.targets[0].id), 403)
    assert state(asked) == before
    # A school admin resolves any section's request.
    admin = post(token_for(w), w, pk=asked.id, action="decline", reason="Come to tutoring first.")
    assert admin.status_code == 200 and admin.json()["status"] == "declined"


# --- Declining -------------------------------------------------------------------------------------


def test_declining_needs_a_reason_of_at_most_300_characters(world_a):
    w = world_a
    asked = make_request(w)
    before = state(asked)
    token = token_for(w, w.teacher)
    message = ["Say why the request is declined: the student reads it."]
    for reason in ("", "   "):
        body = assert_error(post(token, w, pk=asked.id, action="decline", reason=reason), 400)
        assert body["errors"]["reason"] == message
    assert assert_error(post(token, w, pk=asked.id, action="decline"), 400)["errors"]["reason"] == (
        message
    )
    body = assert_error(post(token, w, pk=asked.id, action="decline", reason="x" * 301), 400)
    assert body["errors"]["reason"] == ["Keep the reason to 300 characters or fewer."]
    assert state(asked) == before
    declined = post(token, w, pk=asked.id, action="decline", reason="  Practise   first. ")
    assert declined.status_code == 200, declined.content
    assert declined.json()["status"] == "declined"
    assert declined.json()["decline_reason"] == "Practise first."
    assert declined.json()["resolved_at"] is not None
    body = assert_error(post(token, w, pk=asked.id, action="decline", reason="Again."), 400)
    assert body["errors"]["request"] == ["That request is already declined."]
    body = assert_error(
        post(token, w, pk=asked.id, action="accept", scheduled_on=str(TOMORROW)), 400
    )
    assert body["errors"]["request"] == ["That request is already declined."]


# --- The rules -----------------------------------------------------------------------------------------


def test_the_rules_are_the_schools_defaults_until_set_then_the_schools_and_each_courses_own(
    world_a,
    world_b,
):
    w = world_a
    token = token_for(w, w.teacher)
    listing = api(token).get(url(w, RULES))
    assert listing.status_code == 200
    (defaults,) = listing.json()["results"]
    assert defaults["id"] is None and defaults["course"] is None
    assert defaults["max_per_period"] == 2 and defaults["teachers_may_request"] is True
    assert "At most 2 reassessments per target in each grading period." in defaults["statement"]
    school = school_rules(w, max_per_period=None, note="Ask in person too.")
    with scopes_disabled():
        course = ReassessmentRule.objects.create(
            school=w.school, course=w.course, max_per_period=1, min_days_after=0
        )
    rows = api(token).get(url(w, RULES)).json()["results"]
    assert [(r["id"], r["course"]) for r in rows] == [(school.id, None), (course.id, w.course.id)]
    assert "No limit on reassessments per target in a grading period." in rows[0]["statement"]
    assert rows[0]["statement"][-1] == "Ask in person too."
    assert "At most 1 reassessment per target in each grading period." in rows[1]["statement"]
    # With the sentence of what a new score does under the governing (default: latest) policy.
    assert any("new score" in sentence for sentence in rows[1]["statement"])
    one = api(token).get(url(w, RULES, course.id))
    assert one.status_code == 200 and one.json()["min_days_after"] == 0
    with scopes_disabled():
        theirs = ReassessmentRule.objects.create(school=world_b.school)
    assert_error(api(token).get(url(w, RULES, theirs.id)), 404)
    assert [
        r["id"] for r in api(token_for(world_b)).get(url(world_b, RULES)).json()["results"]
    ] == [theirs.id]


def test_no_rule_is_written_through_the_api(world_a):
    w = world_a
    rule = school_rules(w, max_per_period=3)
    admin = api(token_for(w))
    body = {"max_per_period": 9}
    assert_error(admin.post(url(w, RULES), body, content_type="application/json"), 405)
    for method in (admin.put, admin.patch):
        assert_error(method(url(w, RULES, rule.id), body, content_type="application/json"), 405)
    assert_error(admin.delete(url(w, RULES, rule.id)), 405)
    with scopes_disabled():
        rule.refresh_from_db()
    assert rule.max_per_period == 3


def test_the_check_answers_each_rule_met_or_not_for_a_student_the_caller_may_see(world_a, world_b):
    w = world_a
    token = token_for(w, w.teacher)
    check = url(w, RULES, action="check")
    not_yet = api(token).get(check, {"student": w.students[0].id, "target": w.targets[0].id})
    assert not_yet.status_code == 200, not_yet.content
    answer = not_yet.json()
    assert answer["allowed"] is False and answer["section"] == w.section.id
    assert answer["target_code"] == "ALPHA.F1"
    assert {"rule": "There is no attempt on this target to retake yet.", "met": False} in (
        answer["lines"]
    )
    assert {"rule": "Teachers may note a request for a student.", "met": True} in answer["lines"]
    ready_to_ask(w, w.students[0])
    ready = api(token).get(check, {"student": w.students[0].id, "target": w.targets[0].id}).json()
    assert ready["allowed"] is True and ready["opens_on"] is None
    assert ready["lines"] and all(line["met"] for line in ready["lines"])
    # Nothing is asked by checking.
    with scopes_disabled():
        assert not ReassessmentRequest.objects.filter(school=w.school).exists()
    # A student of another teacher, of another school, or none at all: refused.
    for student in (w.other_students[0].id, world_b.students[0].id):
        body = assert_error(
            api(token).get(check, {"student": student, "target": w.targets[0].id}), 400
        )
        assert body["errors"]["student"] == ["No such student among those you may see."]
    assert (
        "student" in assert_error(api(token).get(check, {"target": w.targets[0].id}), 400)["errors"]
    )
    assert (
        "target"
        in assert_error(api(token).get(check, {"student": w.students[0].id, "target": "x"}), 400)[
            "errors"
        ]
    )
    body = assert_error(
        api(token).get(check, {"student": w.students[0].id, "target": world_b.targets[0].id}), 400
    )
    assert body["errors"]["target"] == ["No such learning target in this school."]


def test_the_check_says_when_a_target_is_not_part_of_a_current_course(world_a):
    w = world_a
    loner = make_student(w.school, "alpha-loner")  # enrolled nowhere
    counselor = api(token_for(w, w.counselor))
    answer = counselor.get(
        url(w, RULES, action="check"), {"student": loner.id, "target": w.targets[0].id}
    ).json()
    assert answer == {
        "student": loner.id,
        "target": w.targets[0].id,
        "target_code": "ALPHA.F1",
        "section": None,
        "allowed": False,
        "lines": [{"rule": "This learning target is not part of a current course.", "met": False}],
        "opens_on": None,
    }
