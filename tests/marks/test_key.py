"""The mark's key on hand-made data: whose evidence a posted mark counts, and that it never moves.

A posted mark belongs to a student, a section (a course in a term), a grading period and a
target (or the course grade, or a habit); its computed value counts that course's evidence in
that term up to the period's last day (docs/marks.md).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django_scopes import scope, scopes_disabled

from gradebook.models import (
    Course,
    CourseTarget,
    Evidence,
    GradingPeriod,
    Section,
    SectionTeacher,
)
from marks.computing import COURSE, TARGET, section_marks_compute
from marks.models import MarksAreAppendOnly, PostedMark
from marks.selectors import current_marks, mark_history
from marks.services import MarkEntry, PostingError, section_marks_post
from mastery.models import AuditEvent, GradingPolicy
from tests.factories import make_assessment, make_evidence, make_student

TODAY = date.today()


def periods(w):
    """Q1 ended ten days ago; Q2 runs to the end of the term."""
    with scopes_disabled():
        q1 = GradingPeriod.objects.create(
            school=w.school,
            term=w.term,
            name="Q1",
            starts_on=w.term.starts_on,
            ends_on=TODAY - timedelta(days=10),
        )
        q2 = GradingPeriod.objects.create(
            school=w.school,
            term=w.term,
            name="Q2",
            starts_on=TODAY - timedelta(days=9),
            ends_on=w.term.ends_on,
        )
    return q1, q2


def in_q1(w):
    """An assessment of the world's course on both first targets, dated inside Q1."""
    return make_assessment(w.school, w.course, w.targets[:2], on=TODAY - timedelta(days=40))


def computed(w, section, period):
    with scope(school=w.school):
        return section_marks_compute(school=w.school, section=section, period=period).computed


def post(w, section, period, entries, *, by=None, admin=False):
    with scope(school=w.school):
        return section_marks_post(
            school=w.school,
            section=section,
            period=period,
            posted_by=by or w.teacher,
            entries=entries,
            is_admin=admin,
        )


def post_all_computed(w, section, period, **kwargs):
    found = computed(w, section, period)
    return post(
        w,
        section,
        period,
        [MarkEntry(key=k, value=c.value, seen=c.value) for k, c in found.items()],
        **kwargs,
    )


def test_a_target_two_courses_share_is_marked_from_each_course_own_evidence(world_a):
    w = world_a
    q1, _ = periods(w)
    student, shared = w.students[1], w.targets[0]
    with scopes_disabled():
        geometry = Course.objects.create(
            school=w.school, department=w.department, code="GEO", name="Geometry"
        )
        CourseTarget.objects.create(school=w.school, course=geometry, target=shared)
        geo_section = Section.objects.create(
            school=w.school, course=geometry, term=w.term, name="Period 4"
        )
        SectionTeacher.objects.create(school=w.school, section=geo_section, teacher=w.teacher)
    make_student(w.school, "extra", sections=[])  # someone in neither section
    with scopes_disabled():
        geo_section.enrollments.create(
            school=w.school, student=student, enrolled_on=w.term.starts_on
        )
    algebra_test = make_assessment(w.school, w.course, [shared], on=TODAY - timedelta(days=40))
    geometry_test = make_assessment(w.school, geometry, [shared], on=TODAY - timedelta(days=40))
    make_evidence(w, student, shared, "2", assessment=algebra_test)
    make_evidence(w, student, shared, "4", assessment=geometry_test)

    algebra = computed(w, w.section, q1)[(student.id, TARGET, shared.id)]
    geometry_mark = computed(w, geo_section, q1)[(student.id, TARGET, shared.id)]
    assert (algebra.value, geometry_mark.value) == ("2", "4")
    # The live record mixes both courses; the marks of record do not.
    with scope(school=w.school):
        live = student.mastery_records.get(target=shared)
    assert live.level not in (2, 4)
    # Geometry's one target, the course grade and the habits: only that course's keys.
    geo_keys = {k for k in computed(w, geo_section, q1) if k[0] == student.id}
    assert (student.id, TARGET, w.targets[1].id) not in geo_keys
    assert (student.id, COURSE, 0) in geo_keys


def test_evidence_after_the_period_and_before_the_term_never_enters(world_a):
    w = world_a
    q1, q2 = periods(w)
    student, target = w.students[1], w.targets[1]
    in_q1 = make_assessment(w.school, w.course, [target], on=TODAY - timedelta(days=30))
    in_q2 = make_assessment(w.school, w.course, [target], on=TODAY - timedelta(days=2))
    make_evidence(w, student, target, "1", assessment=in_q1)
    make_evidence(w, student, target, "4", assessment=in_q2)
    # The student repeats the course: last year's evidence on the same course and target, dated
    # before this term, written as the year rollover leaves it.
    last_year = make_assessment(w.school, w.course, [target], on=w.term.starts_on - timedelta(1))
    with scopes_disabled():
        Evidence.objects.create(
            school=w.school,
            student=student,
            target=target,
            assessment=last_year,
            score=4,
            kind="summative",
            assessed_on=last_year.assessed_on,
            recorded_by=w.teacher,
        )
        # Even under a policy that carries prior years into live mastery.
        GradingPolicy.objects.filter(school=w.school, is_current=True).update(
            carry_prior_years=True
        )
    assert computed(w, w.section, q1)[(student.id, TARGET, target.id)].value == "1"
    q2_mark = computed(w, w.section, q2)[(student.id, TARGET, target.id)]
    # Q2 counts the term so far: 1 then 4 under the decaying average (0.35 × 1 + 0.65 × 4).
    assert q2_mark.score == Decimal("2.95") and q2_mark.evidence_count == 2


def test_posting_keeps_computed_and_posted_values_and_a_resend_adds_nothing(world_a):
    w = world_a
    q1, _ = periods(w)
    make_evidence(w, w.students[1], w.targets[0], "3", assessment=in_q1(w))
    result = post_all_computed(w, w.section, q1)
    keys = computed(w, w.section, q1).keys()
    assert result.written == len(keys) and result.overridden == 0
    # Sent again (a double click, or the page posted twice): no second version.
    again = post_all_computed(w, w.section, q1)
    assert again.written == 0 and again.unchanged == len(keys)
    with scope(school=w.school):
        marks = current_marks(school=w.school, section=w.section, period=q1)
        mark = marks[(w.students[1].id, TARGET, w.targets[0].id)]
        assert (mark.computed_value, mark.value, mark.version) == ("3", "3", 1)
        assert mark.posted_by == w.teacher and not mark.overridden
        events = AuditEvent.objects.filter(school=w.school, object_type="mark")
        assert events.count() == len(keys)


def test_an_override_needs_a_reason_and_is_refused_whole_without_one(world_a):
    w = world_a
    q1, _ = periods(w)
    make_evidence(w, w.students[1], w.targets[0], "3", assessment=in_q1(w))
    key = (w.students[1].id, TARGET, w.targets[0].id)
    other = (w.students[2].id, TARGET, w.targets[0].id)
    entries = [MarkEntry(key=other, value=""), MarkEntry(key=key, value="4")]
    with pytest.raises(PostingError) as refused:
        post(w, w.section, q1, entries)
    assert "reason is required" in refused.value.errors[key]
    with scopes_disabled():
        assert not PostedMark.objects.exists()  # the good mark was not posted either
    post(w, w.section, q1, [MarkEntry(key=key, value="4", reason="Oral defence on Friday")])
    with scope(school=w.school):
        mark = current_marks(school=w.school, section=w.section, period=q1)[key]
    assert mark.overridden and (mark.computed_value, mark.value) == ("3", "4")
    with scopes_disabled():
        event = AuditEvent.objects.get(object_type="mark", student_id=w.students[1].id)
    assert "override of 3: Oral defence on Friday" in event.summary


def test_a_value_off_the_scale_is_refused_with_its_message(world_a):
    w = world_a
    q1, _ = periods(w)
    key = (w.students[1].id, TARGET, w.targets[0].id)
    grade = (w.students[1].id, COURSE, 0)
    with pytest.raises(PostingError) as refused:
        post(
            w,
            w.section,
            q1,
            [
                MarkEntry(key=key, value="7", reason="x"),
                MarkEntry(key=grade, value="Q", reason="x"),
            ],
        )
    assert "not a level of the scale" in refused.value.errors[key]
    assert "not a letter of this course's policy" in refused.value.errors[grade]


def test_a_repost_adds_a_version_with_its_reason_and_the_history_stays(world_a):
    w = world_a
    q1, _ = periods(w)
    make_evidence(w, w.students[1], w.targets[0], "3", assessment=in_q1(w))
    key = (w.students[1].id, TARGET, w.targets[0].id)
    post(w, w.section, q1, [MarkEntry(key=key, value="3")])
    with pytest.raises(PostingError) as refused:
        post(w, w.section, q1, [MarkEntry(key=key, value="4", reason="")])
    assert "reason is required" in refused.value.errors[key]
    post(w, w.section, q1, [MarkEntry(key=key, value="4", reason="Late lab counted")])
    post(w, w.section, q1, [MarkEntry(key=key, value="3", reason="Back to the evidence")])
    with scope(school=w.school):
        history = mark_history(school=w.school, section=w.section, period=q1, key=key)
    assert [(m.version, m.value, m.reason) for m in history] == [
        (3, "3", "Back to the evidence"),
        (2, "4", "Late lab counted"),
        (1, "3", ""),
    ]


def test_the_database_refuses_to_change_or_delete_a_posted_mark(world_a):
    w = world_a
    q1, _ = periods(w)
    key = (w.students[1].id, COURSE, 0)
    post(w, w.section, q1, [MarkEntry(key=key, value="")])
    with scopes_disabled():
        mark = PostedMark.objects.get()
        with pytest.raises(MarksAreAppendOnly):
            PostedMark.objects.filter(pk=mark.pk).update(value="A")
        with pytest.raises(MarksAreAppendOnly):
            mark.delete()
    for statement in (
        "UPDATE marks_postedmark SET value = 'A'",
        "DELETE FROM marks_postedmark",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
    with scopes_disabled():
        assert PostedMark.objects.get().value == ""


def test_a_posted_mark_is_frozen_when_later_evidence_arrives(world_a):
    w = world_a
    q1, _ = periods(w)
    student, target = w.students[1], w.targets[0]
    early = make_assessment(w.school, w.course, [target], on=TODAY - timedelta(days=40))
    make_evidence(w, student, target, "2", assessment=early)
    post_all_computed(w, w.section, q1)
    # A late score dated inside Q1, after posting: the computed value moves, the posted one not.
    late = make_assessment(w.school, w.course, [target], on=TODAY - timedelta(days=12))
    make_evidence(w, student, target, "4", assessment=late)
    key = (student.id, TARGET, target.id)
    assert computed(w, w.section, q1)[key].value == "3"
    with scope(school=w.school):
        mark = current_marks(school=w.school, section=w.section, period=q1)[key]
    assert (mark.value, mark.computed_value, mark.version) == ("2", "2", 1)
    # Posting the section again as it stands (the posted values) writes nothing.
    again = post(w, w.section, q1, [MarkEntry(key=key, value="2")])
    assert again.written == 0


def test_the_computed_value_the_teacher_reviewed_must_still_be_the_computed_one(world_a):
    w = world_a
    q1, _ = periods(w)
    key = (w.students[1].id, TARGET, w.targets[0].id)
    make_evidence(w, w.students[1], w.targets[0], "3", assessment=in_q1(w))
    with pytest.raises(PostingError) as refused:
        post(w, w.section, q1, [MarkEntry(key=key, value="2", seen="2", reason="x")])
    assert "changed since the page was opened (now 3)" in refused.value.errors[key]


def test_the_window_rules_per_role(world_a):
    w = world_a
    q1, _ = periods(w)
    with scopes_disabled():
        GradingPeriod.objects.filter(pk=q1.pk).update(
            posting_opens_on=TODAY - timedelta(days=9), posting_closes_on=TODAY - timedelta(days=1)
        )
        q1.refresh_from_db()
    key = (w.students[1].id, COURSE, 0)
    with pytest.raises(PostingError) as refused:
        post(w, w.section, q1, [MarkEntry(key=key, value="")])
    assert (
        "closed on" in refused.value.errors[None] and "school admin" in refused.value.errors[None]
    )
    result = post(w, w.section, q1, [MarkEntry(key=key, value="")], by=w.admin, admin=True)
    assert result.outside_window
    with scopes_disabled():
        assert PostedMark.objects.get().outside_window
        assert "outside the posting window" in AuditEvent.objects.get(object_type="mark").summary
    with scopes_disabled():
        GradingPeriod.objects.filter(pk=q1.pk).update(posting_closes_on=TODAY)
        q1.refresh_from_db()
    other = (w.students[2].id, COURSE, 0)
    assert not post(w, w.section, q1, [MarkEntry(key=other, value="")]).outside_window


def test_a_period_of_another_term_or_a_key_of_another_section_is_refused(world_a):
    w = world_a
    q1, _ = periods(w)
    stranger = (w.other_students[0].id, COURSE, 0)
    with pytest.raises(PostingError) as refused:
        post(w, w.section, q1, [MarkEntry(key=stranger, value="")])
    assert "not a mark of this section" in refused.value.errors[stranger]


def test_one_mark_twice_in_one_post_is_refused_whole(world_a):
    w = world_a
    q1, _ = periods(w)
    key = (w.students[1].id, COURSE, 0)
    with pytest.raises(PostingError) as refused:
        post(w, w.section, q1, [MarkEntry(key=key, value=""), MarkEntry(key=key, value="")])
    assert "sent twice" in refused.value.errors[key]
    with scopes_disabled():
        assert not PostedMark.objects.exists()
