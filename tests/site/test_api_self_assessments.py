"""The REST API of students' self-assessments: who reads them, who answers them, withdrawn ones
hidden, bad input refused with nothing changed, school A / school B."""

from __future__ import annotations

from django_scopes import scope, scopes_disabled

from gradebook.models import (
    Course,
    CourseTarget,
    Enrollment,
    LearningTarget,
    Section,
    SectionTeacher,
    SelfAssessment,
)
from gradebook.services.self_assessment import self_assessment_withdraw
from mastery.models import AuditEvent
from tests.factories import make_self_assessment
from tests.site.test_api import api, assert_error, token_for, url

RATINGS = "self-assessments"


def reply_of(rating) -> str:
    with scopes_disabled():
        rating.refresh_from_db()
    return rating.reply


def test_a_teacher_lists_the_ratings_of_their_students_filtered_by_target(world_a):
    w = world_a
    first = make_self_assessment(w, "3", reflection="Getting there")
    make_self_assessment(w, "4", target=w.targets[1])
    client = api(token_for(w, w.teacher))
    rows = client.get(url(w, RATINGS), {"target": w.targets[0].id}).json()["results"]
    assert [(r["id"], r["score"], r["reflection"], r["target_code"]) for r in rows] == [
        (first.id, 3.0, "Getting there", w.targets[0].code)
    ]
    both = client.get(url(w, RATINGS), {"student": w.students[0].id}).json()
    assert both["count"] == 2


def test_a_withdrawn_rating_is_shown_to_nobody(world_a):
    w = world_a
    rating = make_self_assessment(w, "4")
    with scope(school=w.school):
        self_assessment_withdraw(
            school=w.school, student=w.students[0], rating_id=rating.id, withdrawn_by=w.student_user
        )
    client = api(token_for(w))
    assert client.get(url(w, RATINGS)).json()["count"] == 0
    assert_error(client.get(url(w, RATINGS, rating.id)), 404)
    assert_error(client.post(url(w, RATINGS, rating.id, "reply"), {"reply": "Hi"}), 404)


def test_the_students_teacher_answers_and_the_answer_is_audited(world_a):
    w = world_a
    rating = make_self_assessment(w, "3")
    client = api(token_for(w, w.teacher))
    response = client.post(
        url(w, RATINGS, rating.id, "reply"),
        {"reply": "Show me the third one again."},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["reply"], body["replied_by"]) == ("Show me the third one again.", "Tess Teacher")
    with scopes_disabled():
        event = AuditEvent.objects.get(school=w.school, object_type="self", action="update")
    assert event.actor == w.teacher and event.source == "api"


def test_only_the_students_teachers_and_admins_answer(world_a):
    w = world_a
    rating = make_self_assessment(w, "3")
    body = {"reply": "Hi"}
    assert_error(
        api(token_for(w, w.counselor)).post(url(w, RATINGS, rating.id, "reply"), body), 403
    )
    # The other section's teacher does not see the student at all.
    assert_error(
        api(token_for(w, w.other_teacher)).post(url(w, RATINGS, rating.id, "reply"), body), 404
    )
    assert reply_of(rating) == ""
    admin = api(token_for(w)).post(url(w, RATINGS, rating.id, "reply"), body)
    assert admin.status_code == 200 and reply_of(rating) == "Hi"


def test_an_empty_or_overlong_answer_is_refused_and_nothing_changes(world_a):
    w = world_a
    rating = make_self_assessment(w, "3")
    client = api(token_for(w, w.teacher))
    for body in ({}, {"reply": ""}, {"reply": "a" * 1001}):
        assert_error(
            client.post(url(w, RATINGS, rating.id, "reply"), body, content_type="application/json"),
            400,
        )
    assert reply_of(rating) == ""


def test_school_bs_ratings_are_not_found_with_school_as_token(world_a, world_b):
    theirs = make_self_assessment(world_b, "3")
    client = api(token_for(world_a))
    # School A's URL with school B's id, and school B's URL with school A's token.
    assert_error(client.get(url(world_a, RATINGS, theirs.id)), 404)
    assert_error(client.post(url(world_a, RATINGS, theirs.id, "reply"), {"reply": "x"}), 404)
    assert_error(client.get(url(world_b, RATINGS)), 404)
    assert client.get(url(world_a, RATINGS)).json()["count"] == 0
    with scopes_disabled():
        assert SelfAssessment.objects.get(id=theirs.id).reply == ""


def test_a_teacher_of_another_course_of_the_student_reads_only_that_courses_ratings(world_a):
    """The student is in Otto's Geometry section too. Otto reads and answers their ratings on
    Geometry's target, never their Algebra ratings and reflections (the cell page's rule: a
    target of the course of a section the teacher teaches the student in); Tess, their Algebra
    teacher, never reads the Geometry one."""
    w = world_a
    with scopes_disabled():
        geometry = Course.objects.create(
            school=w.school, department=w.department, code="GEO", name="Geometry"
        )
        proof = LearningTarget.objects.create(
            school=w.school,
            competency=w.competency,
            department=w.department,
            code="ALPHA.G1",
            statement="I can write a proof.",
            position=9,
        )
        CourseTarget.objects.create(school=w.school, course=geometry, target=proof, position=0)
        period_3 = Section.objects.create(
            school=w.school, course=geometry, term=w.term, name="Period 3", period=3
        )
        SectionTeacher.objects.create(school=w.school, section=period_3, teacher=w.other_teacher)
        Enrollment.objects.create(
            school=w.school,
            section=period_3,
            student=w.students[0],
            enrolled_on=w.term.starts_on,
        )
    algebra = make_self_assessment(w, "2", reflection="Algebra is hard for me at home")
    geo = make_self_assessment(w, "3", target=proof, reflection="Proofs click")
    otto = api(token_for(w, w.other_teacher))
    rows = otto.get(url(w, RATINGS), {"student": w.students[0].id}).json()["results"]
    assert [(r["id"], r["reflection"]) for r in rows] == [(geo.id, "Proofs click")]
    assert_error(otto.get(url(w, RATINGS, algebra.id)), 404)
    assert_error(
        otto.post(
            url(w, RATINGS, algebra.id, "reply"), {"reply": "Hi"}, content_type="application/json"
        ),
        404,
    )
    assert reply_of(algebra) == ""
    answered = otto.post(
        url(w, RATINGS, geo.id, "reply"), {"reply": "Nice"}, content_type="application/json"
    )
    assert answered.status_code == 200 and reply_of(geo) == "Nice"
    tess = api(token_for(w, w.teacher))
    rows = tess.get(url(w, RATINGS), {"student": w.students[0].id}).json()["results"]
    assert [r["id"] for r in rows] == [algebra.id]
    assert_error(tess.get(url(w, RATINGS, geo.id)), 404)
    # School-wide roles read both, as before.
    assert api(token_for(w, w.counselor)).get(url(w, RATINGS)).json()["count"] == 2
    assert api(token_for(w)).get(url(w, RATINGS)).json()["count"] == 2
