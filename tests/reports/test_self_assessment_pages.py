"""A student rates themselves on a target with a reflection; teachers of the student's section
answer; families read, never write; school A / school B; a double submit records one rating."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from django_scopes import scope, scopes_disabled

from gradebook.models import SelfAssessment
from gradebook.services.evidence import EvidenceError
from gradebook.services.self_assessment import (
    self_assessment_record,
    self_assessment_reply,
    self_assessment_withdraw,
)
from mastery import pagecache
from mastery.models import AuditEvent, GradingPolicy, LearningTarget, Role
from reports.services.records import student_records_export
from tests.factories import make_member, make_self_assessment, make_user
from tests.gradebook.pages import HTMX, cell_url, page


def rate_url(w, target=None) -> str:
    return reverse("reports:my_self_assessment", args=[w.school.slug, (target or w.targets[0]).id])


def withdraw_url(w, rating) -> str:
    return reverse("reports:my_self_assessment_withdraw", args=[w.school.slug, rating.id])


def reply_url(w, rating, section=None) -> str:
    return reverse(
        "gradebook:self_assessment_reply",
        kwargs={
            "school_slug": w.school.slug,
            "section_id": (section or w.section).id,
            "student_id": rating.student_id,
            "target_id": rating.target_id,
            "rating_id": rating.id,
        },
    )


def second_student_account(w):
    """The world's second student gets an account of their own (a student member of A)."""
    user = make_member(w.school, Role.STUDENT, "second.student@alpha.test", "Second Student")
    with scopes_disabled():
        w.students[1].user = user
        w.students[1].save(update_fields=["user"])
    return user


def ratings(w) -> list[SelfAssessment]:
    with scopes_disabled():
        return list(SelfAssessment.objects.filter(school=w.school).order_by("id"))


# --- The student ------------------------------------------------------------------------------


def test_a_student_rates_themselves_with_a_reflection_and_sees_it(client, world_a):
    w = world_a
    client.force_login(w.student_user)
    form = page(client.get(rate_url(w)))
    assert "Where am I on this target?" in form and "Level 3 of 1" in form, "the rubric to choose"
    assert "It does not change your level." in form, "the policy in words: not counted"
    response = client.post(
        rate_url(w), {"score": "3", "reflection": "I solved the hard ones", "submission": "x"}
    )
    assert response.status_code == 302
    (saved,) = ratings(w)
    assert (saved.score, saved.reflection, saved.student_id) == (
        Decimal(3),
        "I solved the hard ones",
        w.students[0].id,
    )
    assert saved.created_by == w.student_user
    again = page(client.get(rate_url(w)))
    assert "I solved the hard ones" in again and "My earlier ratings" in again
    portal = page(client.get(reverse("reports:me", args=[w.school.slug])))
    assert "My own rating" in portal and "I solved the hard ones" in portal
    with scopes_disabled():
        event = AuditEvent.objects.get(school=w.school, object_type="self", object_id=saved.id)
    assert event.actor == w.student_user and event.action == "create"


def test_rating_the_same_target_again_adds_to_the_history(client, world_a):
    w = world_a
    make_self_assessment(w, "2", reflection="Not yet", days_ago=10)
    make_self_assessment(w, "3", reflection="Better now")
    client.force_login(w.student_user)
    content = page(client.get(rate_url(w)))
    assert content.index("Better now") < content.index("Not yet"), "newest first"
    portal = page(client.get(reverse("reports:me", args=[w.school.slug])))
    assert "Better now" in portal and "Not yet" not in portal, "the portal shows the latest"
    assert len(ratings(w)) == 2


@pytest.mark.parametrize("score", ["5", "0", "2.75", "three", "", "1e400"])
def test_a_score_off_the_scale_is_refused_with_a_message_and_nothing_saved(client, world_a, score):
    w = world_a
    client.force_login(w.student_user)
    response = client.post(rate_url(w), {"score": score, "reflection": "x"})
    assert response.status_code == 422
    assert "Choose a level of the scale: 1, 1.5, 2, 2.5, 3, 3.5, 4." in page(response)
    assert ratings(w) == []


def test_a_reflection_over_the_limit_is_refused_whole(client, world_a):
    w = world_a
    client.force_login(w.student_user)
    response = client.post(rate_url(w), {"score": "3", "reflection": "a" * 1001})
    assert response.status_code == 422
    assert "Keep it to 1,000 characters or fewer." in page(response)
    assert ratings(w) == []
    assert client.post(rate_url(w), {"score": "3", "reflection": "a" * 1000}).status_code == 302


def test_a_double_submit_records_one_rating(client, world_a):
    w = world_a
    client.force_login(w.student_user)
    form = page(client.get(rate_url(w)))
    token = form.split('name="submission" value="')[1].split('"')[0]
    body = {"score": "3", "reflection": "Once", "submission": token}
    assert client.post(rate_url(w), body).status_code == 302
    assert client.post(rate_url(w), body).status_code == 302
    assert len(ratings(w)) == 1
    # Back to an older copy of the form, sent again (the browser restores what was typed, with a
    # token of its own): the same score and reflection the same day are the rating made.
    fresh = page(client.get(rate_url(w))).split('name="submission" value="')[1].split('"')[0]
    assert client.post(rate_url(w), {**body, "submission": fresh}).status_code == 302
    assert client.post(rate_url(w), {"score": "3", "reflection": "Once"}).status_code == 302
    assert len(ratings(w)) == 1
    # A different rating is a new one: the history grows.
    client.post(rate_url(w), {**body, "reflection": "Thought again", "submission": fresh})
    assert [r.reflection for r in ratings(w)] == ["Once", "Thought again"]


def test_a_target_outside_the_students_courses_is_not_found(client, world_a):
    w = world_a
    with scopes_disabled():
        elsewhere = LearningTarget.objects.create(
            school=w.school,
            competency=w.competency,
            department=w.department,
            code="ELSEWHERE.1",
            statement="I can do something taught elsewhere.",
        )
    client.force_login(w.student_user)
    assert client.get(rate_url(w, elsewhere)).status_code == 404
    assert client.post(rate_url(w, elsewhere), {"score": "3"}).status_code == 404
    with scope(school=w.school), pytest.raises(EvidenceError, match="not in your courses"):
        self_assessment_record(
            school=w.school,
            student=w.students[0],
            target=elsewhere,
            score="3",
            recorded_by=w.student_user,
        )
    assert ratings(w) == []


def test_nobody_rates_another_student(world_a):
    """The service refuses a rating made by any account but the student's own: another student,
    a guardian, a teacher."""
    w = world_a
    other = make_user("other.student@alpha.test", "Olga Other")
    for who in (other, w.guardian, w.teacher):
        with scope(school=w.school), pytest.raises(EvidenceError, match="only rate yourself"):
            self_assessment_record(
                school=w.school,
                student=w.students[0],
                target=w.targets[0],
                score="3",
                recorded_by=who,
            )
    assert ratings(w) == []


def test_a_student_withdraws_their_own_rating_and_nobody_else_sees_it(client, world_a):
    w = world_a
    rating = make_self_assessment(w, "4", reflection="Too proud of this one")
    client.force_login(w.student_user)
    assert client.post(withdraw_url(w, rating)).status_code == 302
    assert client.post(withdraw_url(w, rating)).status_code == 302, "a double tap answers again"
    (kept,) = ratings(w)
    assert kept.voided_at is not None and kept.voided_by == w.student_user, "voided, kept"
    assert "Too proud" not in page(client.get(rate_url(w)))
    client.force_login(w.teacher)
    assert "Too proud" not in page(client.get(cell_url(w, w.students[0], w.targets[0])))
    client.force_login(w.guardian)
    child = reverse("reports:child", args=[w.school.slug, w.students[0].id])
    assert "Too proud" not in page(client.get(child))


def test_a_student_cannot_withdraw_or_read_another_students_rating(client, world_a):
    w = world_a
    rating = make_self_assessment(w, "4", reflection="Mine alone")
    second = second_student_account(w)
    client.force_login(second)
    assert client.post(withdraw_url(w, rating)).status_code == 404
    assert ratings(w)[0].voided_at is None
    assert "Mine alone" not in page(client.get(rate_url(w)))
    with scope(school=w.school), pytest.raises(EvidenceError):
        self_assessment_withdraw(
            school=w.school, student=w.students[1], rating_id=rating.id, withdrawn_by=second
        )


# --- Families -----------------------------------------------------------------------------------


def test_a_family_reads_the_rating_and_the_answer_but_cannot_rate(client, world_a):
    w = world_a
    rating = make_self_assessment(w, "3", reflection="I can explain slopes now")
    with scope(school=w.school):
        self_assessment_reply(
            school=w.school,
            rating_id=rating.id,
            reply="Yes, show me on Friday.",
            replied_by=w.teacher,
        )
    client.force_login(w.guardian)
    child = page(client.get(reverse("reports:child", args=[w.school.slug, w.students[0].id])))
    assert "The student's own rating" in child and "I can explain slopes now" in child
    assert "Yes, show me on Friday." in child
    assert "Rate myself" not in child
    assert client.get(rate_url(w)).status_code == 403
    assert client.post(rate_url(w), {"score": "4"}).status_code == 403
    assert client.post(withdraw_url(w, rating)).status_code == 403
    assert len(ratings(w)) == 1 and ratings(w)[0].voided_at is None


# --- Teachers -----------------------------------------------------------------------------------


def test_the_cell_shows_the_rating_beside_the_scores_and_its_teacher_answers(client, world_a):
    w = world_a
    rating = make_self_assessment(w, "3", reflection="I get it when I draw it")
    client.force_login(w.teacher)
    cell = page(client.get(cell_url(w, w.students[0], w.targets[0])))
    assert "The student's own ratings" in cell and "I get it when I draw it" in cell
    assert "never counted toward the level" in cell
    response = client.post(reply_url(w, rating), {"reply": "Great: try it without the drawing."})
    assert response.status_code == 302
    again = client.post(reply_url(w, rating), {"reply": "Great: try it without the drawing."})
    assert again.status_code == 302
    saved = ratings(w)[0]
    assert (saved.reply, saved.replied_by) == ("Great: try it without the drawing.", w.teacher)
    with scopes_disabled():
        events = list(
            AuditEvent.objects.filter(school=w.school, object_type="self", action="update")
        )
    assert len(events) == 1, "the same answer twice is one change"
    assert events[0].actor == w.teacher and events[0].after["reply"] == saved.reply
    client.force_login(w.student_user)
    assert "Great: try it without the drawing." in page(client.get(rate_url(w)))


def test_an_answer_by_htmx_redraws_the_cell(client, world_a):
    w = world_a
    rating = make_self_assessment(w, "3")
    client.force_login(w.teacher)
    response = client.post(reply_url(w, rating), {"reply": "Nice."}, **HTMX)
    assert response.status_code == 200 and 'id="cell-detail"' in page(response)
    assert "Nice." in page(response)


def test_an_empty_or_overlong_answer_is_refused_and_nothing_changes(client, world_a):
    w = world_a
    rating = make_self_assessment(w, "3")
    client.force_login(w.teacher)
    empty = client.post(reply_url(w, rating), {"reply": "  "})
    long = client.post(reply_url(w, rating), {"reply": "a" * 1001})
    assert (empty.status_code, long.status_code) == (422, 422)
    assert "Write an answer first." in page(empty)
    assert "Keep it to 1,000 characters or fewer." in page(long)
    assert ratings(w)[0].reply == ""


def test_only_a_teacher_of_the_students_section_answers(client, world_a):
    w = world_a
    rating = make_self_assessment(w, "3")
    client.force_login(w.other_teacher)
    assert client.post(reply_url(w, rating), {"reply": "Hi"}).status_code == 404
    # Through the other teacher's own section the student is not there either.
    other = reply_url(w, rating, section=w.other_section)
    assert client.post(other, {"reply": "Hi"}).status_code == 404
    client.force_login(w.counselor)
    assert client.post(reply_url(w, rating), {"reply": "Hi"}).status_code == 403
    for who in (w.student_user, w.guardian):
        client.force_login(who)
        assert client.post(reply_url(w, rating), {"reply": "Hi"}).status_code == 404
    assert ratings(w)[0].reply == ""


def test_a_withdrawn_rating_cannot_be_answered(client, world_a):
    w = world_a
    rating = make_self_assessment(w, "3")
    with scope(school=w.school):
        self_assessment_withdraw(
            school=w.school, student=w.students[0], rating_id=rating.id, withdrawn_by=w.student_user
        )
    client.force_login(w.teacher)
    assert client.post(reply_url(w, rating), {"reply": "Hi"}).status_code == 404


# --- School A / school B ------------------------------------------------------------------------


def test_school_bs_rating_is_not_found_from_school_a(client, world_a, world_b):
    theirs = make_self_assessment(world_b, "3", reflection="Beta's own words")
    client.force_login(world_a.teacher)
    forged = reverse(
        "gradebook:self_assessment_reply",
        kwargs={
            "school_slug": world_a.school.slug,
            "section_id": world_a.section.id,
            "student_id": world_a.students[0].id,
            "target_id": world_a.targets[0].id,
            "rating_id": theirs.id,
        },
    )
    assert client.post(forged, {"reply": "Hi"}).status_code == 404
    client.force_login(world_a.student_user)
    assert client.post(withdraw_url(world_a, theirs)).status_code == 404
    assert client.get(rate_url(world_a, world_b.targets[0])).status_code == 404
    # And school B's own URLs answer 404 to school A's people.
    assert client.get(rate_url(world_b)).status_code == 404
    with scopes_disabled():
        kept = SelfAssessment.objects.get(id=theirs.id)
    assert kept.voided_at is None and kept.reply == ""


# --- The records export ----------------------------------------------------------------------


def test_the_students_records_hold_every_rating_withdrawn_ones_and_answers_too(world_a):
    w = world_a
    kept = make_self_assessment(w, "3", reflection="Kept")
    gone = make_self_assessment(w, "4", reflection="Withdrawn later")
    with scope(school=w.school):
        self_assessment_reply(
            school=w.school, rating_id=kept.id, reply="Good.", replied_by=w.teacher
        )
        self_assessment_withdraw(
            school=w.school, student=w.students[0], rating_id=gone.id, withdrawn_by=w.student_user
        )
        records = student_records_export(school=w.school, student=w.students[0])
    rows = {r["id"]: r for r in records["self_assessments"]}
    assert rows[kept.id]["score"] == "3.00" and rows[kept.id]["reply"] == "Good."
    assert rows[kept.id]["replied_by"] == "Tess Teacher"
    assert rows[kept.id]["created_by"] == "Stu Student" and rows[kept.id]["voided_at"] is None
    assert rows[gone.id]["reflection"] == "Withdrawn later"
    assert rows[gone.id]["void_reason"] == "Withdrawn by the student"
    assert {e["object_type"] for e in records["change_history"]} >= {"self"}


def test_the_progress_report_shows_the_latest_rating_beside_the_level(client, world_a):
    w = world_a
    make_self_assessment(w, "2", reflection="Earlier thoughts", days_ago=5)
    make_self_assessment(w, "3.5", reflection="Almost there")
    client.force_login(w.guardian)
    report = page(
        client.get(reverse("reports:child_report", args=[w.school.slug, w.students[0].id]))
    )
    assert "The student's own rating" in report and "Almost there" in report
    assert "3.5" in report and "Earlier thoughts" not in report


def test_the_portal_says_whether_the_rating_counts_toward_the_level(client, world_a):
    w = world_a
    make_self_assessment(w, "3")
    client.force_login(w.guardian)
    child = reverse("reports:child", args=[w.school.slug, w.students[0].id])
    assert "Shown beside the teacher's scores; it does not change the level." in page(
        client.get(child)
    )
    with scopes_disabled():
        GradingPolicy.objects.filter(school=w.school, is_current=True).update(
            count_self_assessment=True
        )
        pagecache.school_changed(w.school.id)
    assert "The school counts it as one more score toward the level." in page(client.get(child))
