"""Feedback cadence (issue [12], item 3): who has had no feedback within the school's interval, on
the grid, the teacher's home, the department dashboard and the school's feedback page, and who may
change the interval."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from gradebook.models import (
    AssessmentFeedback,
    Course,
    CourseTarget,
    Enrollment,
    Section,
    SectionTeacher,
)
from gradebook.selectors.feedback import (
    feedback_cadence,
    school_feedback_owed,
    section_feedback_owed,
    teacher_feedback_owed,
)
from gradebook.services.evidence import evidence_void
from gradebook.services.feedback import feedback_interval_save
from mastery.models import AuditEvent, Membership, Role, School
from tests.factories import World, make_assessment, make_evidence, make_student
from tests.gradebook.pages import grid_url, page
from tests.reports.dashboards import rows_of

TODAY = timezone.localdate


def moment(days_ago: int) -> datetime:
    """Noon, `days_ago` days before today, in the site's time zone (clear of any midnight)."""
    day = TODAY() - timedelta(days=days_ago)
    return datetime.combine(day, time(12), tzinfo=timezone.get_current_timezone())


def scored_with_feedback(w: World, student, days_ago: int, *, assessment=None, text="Show it."):
    """A score with feedback text, recorded `days_ago` days ago (dated the assessment's day)."""
    result = make_evidence(w, student, w.targets[0], "3", assessment=assessment, feedback=text)
    with scope(school=w.school):
        type(result.evidence).objects.filter(school=w.school, id=result.evidence.id).update(
            recorded_at=moment(days_ago)
        )
    return result.evidence


def commented(w: World, student, days_ago: int, *, assessment=None) -> AssessmentFeedback:
    with scope(school=w.school):
        return AssessmentFeedback.objects.create(
            school=w.school,
            assessment=assessment or w.assessment,
            student=student,
            text="Next time, label the axes.",
            updated_by=w.teacher,
            updated_at=moment(days_ago),
        )


def owed_ids(cadence) -> list[int]:
    return [o.student.id for o in cadence.owed] if cadence else []


def url(w: World) -> str:
    return reverse("gradebook:feedback_settings", kwargs={"school_slug": w.school.slug})


def interval(w: World) -> int:
    return School.objects.get(id=w.school.id).feedback_interval_days


def audit_count(w: World) -> int:
    with scope(school=w.school):
        return AuditEvent.objects.filter(school=w.school).count()


@pytest.fixture
def geometry(world_a):
    """A second course of the department (Geometry, Period 3, taught by the world's teacher) that
    the world's first student also takes."""
    w = world_a
    with scope(school=w.school):
        course = Course.objects.create(
            school=w.school, department=w.department, code="GEO", name="Geometry"
        )
        CourseTarget.objects.create(school=w.school, course=course, target=w.targets[0])
        section = Section.objects.create(
            school=w.school, course=course, term=w.term, name="Period 3", period=3
        )
        SectionTeacher.objects.create(school=w.school, section=section, teacher=w.teacher)
        Enrollment.objects.create(
            school=w.school, section=section, student=w.students[0], enrolled_on=w.term.starts_on
        )
    assessment = make_assessment(
        w.school, course, [w.targets[0]], on=TODAY() - timedelta(days=5), title="Geo quiz"
    )
    return section, assessment


# --- Who is owed feedback ------------------------------------------------------------------------


def test_it_lists_who_has_gone_longer_than_the_interval(world_a, in_school):
    w = world_a
    s0, s1, s2 = w.students
    scored_with_feedback(w, s0, 13)  # within 14 days: not owed
    commented(w, s1, 15)  # a comment 15 days ago: owed
    # s2 never had any: owed, counted from the term's start (the day they enrolled)
    late = make_student(w.school, "late", first="Late", sections=[w.section])
    with in_school(w):
        Enrollment.objects.filter(school=w.school, student=late).update(
            enrolled_on=TODAY() - timedelta(days=3)
        )
        gone = make_student(w.school, "gone", first="Gone", sections=[w.section])
        Enrollment.objects.filter(school=w.school, student=gone).update(
            withdrawn_on=TODAY() - timedelta(days=1)
        )
        cadence = section_feedback_owed(school=w.school, section=w.section, today=TODAY())

    assert cadence is not None
    assert cadence.interval_days == 14
    assert cadence.students == 4  # the three and the late one; the withdrawn one is not counted
    assert owed_ids(cadence) == [s2.id, s1.id]  # the longest wait first
    never, fifteen = cadence.owed
    assert never.never and never.last_feedback_on is None
    assert never.days == (TODAY() - w.term.starts_on).days
    assert not fifteen.never and fifteen.days == 15
    assert fifteen.last_feedback_on == TODAY() - timedelta(days=15)
    assert fifteen.assessment_id == w.assessment.id  # where the teacher writes the comment


def test_a_student_who_joined_late_counts_from_the_day_they_joined(world_a, in_school):
    w = world_a
    s0, s1, s2 = w.students
    with in_school(w):
        Enrollment.objects.filter(school=w.school, section=w.section, student=s2).update(
            enrolled_on=TODAY() - timedelta(days=20)
        )
    commented(w, s0, 1)
    commented(w, s1, 1)
    with in_school(w):
        cadence = section_feedback_owed(school=w.school, section=w.section, today=TODAY())
    (joined,) = cadence.owed
    assert joined.student == s2 and joined.never and joined.days == 20
    assert joined.since == TODAY() - timedelta(days=20)


def test_voided_evidence_and_evidence_without_feedback_text_do_not_count(world_a, in_school):
    w = world_a
    s0, s1, _s2 = w.students
    voided = scored_with_feedback(w, s0, 1)
    make_evidence(w, s1, w.targets[0], "2")  # a score today, but no feedback text
    with in_school(w):
        evidence_void(school=w.school, evidence_id=voided.id, voided_by=w.teacher, reason="Typo")
        cadence = section_feedback_owed(school=w.school, section=w.section, today=TODAY())
    assert set(owed_ids(cadence)) == {s.id for s in w.students}


def test_feedback_counts_from_when_it_was_recorded_not_the_task_date(world_a, in_school):
    w = world_a
    s0 = w.students[0]
    old_task = make_assessment(
        w.school, w.course, [w.targets[0]], on=TODAY() - timedelta(days=30), title="Old task"
    )
    # A task from a month ago, scored with comments today: feedback given today.
    make_evidence(w, s0, w.targets[0], "3", assessment=old_task, feedback="Well argued.")
    with in_school(w):
        cadence = section_feedback_owed(school=w.school, section=w.section, today=TODAY())
    assert s0.id not in owed_ids(cadence)


def test_feedback_in_another_course_does_not_count(world_a, geometry, in_school):
    w = world_a
    s0 = w.students[0]
    geo_section, geo_quiz = geometry
    scored_with_feedback(w, s0, 1, assessment=geo_quiz)
    with in_school(w):
        cadences = teacher_feedback_owed(school=w.school, user=w.teacher, today=TODAY())
    assert set(cadences) == {w.section.id, geo_section.id}  # other_section is Otto's
    assert s0.id in owed_ids(cadences[w.section.id])  # Algebra: nothing for a month
    assert s0.id not in owed_ids(cadences[geo_section.id])  # Geometry: yesterday


def test_a_comment_on_another_sections_own_assessment_does_not_count(world_a, in_school):
    w = world_a
    s0 = w.students[0]
    theirs = make_assessment(
        w.school,
        w.course,
        [w.targets[0]],
        on=TODAY() - timedelta(days=2),
        section=w.other_section,
        title="Period 2's quiz",
    )
    commented(w, s0, 1, assessment=theirs)
    commented(w, w.students[1], 1)  # on the course's common assessment: counts
    with in_school(w):
        cadence = section_feedback_owed(school=w.school, section=w.section, today=TODAY())
    assert s0.id in owed_ids(cadence)
    assert w.students[1].id not in owed_ids(cadence)


def test_changing_the_interval_to_7_moves_students_in(world_a, in_school):
    w = world_a
    s0, s1, s2 = w.students
    for student in w.students:
        commented(w, student, 10 if student == s0 else 2)
    with in_school(w):
        assert owed_ids(section_feedback_owed(school=w.school, section=w.section)) == []
        feedback_interval_save(school=w.school, changed_by=w.admin, days=7)
        cadence = section_feedback_owed(school=w.school, section=w.section)
    assert cadence.interval_days == 7
    assert owed_ids(cadence) == [s0.id]
    assert cadence.owed[0].days == 10


def test_archived_sections_and_ended_terms_owe_nothing(world_a, in_school):
    w = world_a
    with in_school(w):
        Section.objects.filter(school=w.school, id=w.section.id).update(archived_at=timezone.now())
        cadences = school_feedback_owed(school=w.school, today=TODAY())
        assert set(cadences) == {w.other_section.id}
        after_the_term = w.term.ends_on + timedelta(days=1)
        assert school_feedback_owed(school=w.school, today=after_the_term) == {}


def test_a_department_and_a_school_take_two_queries_whatever_their_size(
    world_a, in_school, django_assert_num_queries
):
    w = world_a
    scored_with_feedback(w, w.students[0], 20)
    commented(w, w.students[1], 3)
    with in_school(w), django_assert_num_queries(2):
        small = school_feedback_owed(school=w.school, department=w.department, today=TODAY())
    for i in range(8):
        student = make_student(
            w.school,
            f"more-{i}",
            sections=[w.section, w.other_section],
            enrolled_on=w.term.starts_on,
        )
        commented(w, student, 30 - i)
    with in_school(w), django_assert_num_queries(2):
        large = school_feedback_owed(school=w.school, today=TODAY())
    with in_school(w), django_assert_num_queries(2):
        teacher_feedback_owed(school=w.school, user=w.teacher, today=TODAY())
    assert small[w.section.id].students == 3 and large[w.section.id].students == 11
    # Each extra student: a comment 23-30 days ago, on the common assessment of both sections.
    assert large[w.other_section.id].owed_count == 2 + 8


def test_another_schools_sections_are_never_read(world_a, world_b, in_school):
    a, b = world_a, world_b
    with in_school(a):
        assert feedback_cadence(school=a.school, section_ids=[b.section.id], today=TODAY()) == {}


# --- The grid and the teacher's home ------------------------------------------------------------


def test_the_grid_shows_who_is_owed_feedback_with_a_link_to_comment(client, world_a):
    w = world_a
    s0, s1, s2 = w.students
    commented(w, s0, 2)
    commented(w, s1, 16)
    client.force_login(w.teacher)
    text = page(client.get(grid_url(w)))
    assert "Owed feedback (2)" in text
    score = reverse(
        "gradebook:score",
        kwargs={
            "school_slug": w.school.slug,
            "section_id": w.section.id,
            "assessment_id": w.assessment.id,
        },
    )
    assert f'href="{score}#sr-{s1.id}"' in text and "16 days" in text
    assert f'href="{score}#sr-{s2.id}"' in text and "never" in text
    assert f"#sr-{s0.id}" not in text


def test_a_counselor_reading_the_grid_gets_links_to_the_students_pages(client, world_a):
    w = world_a
    client.force_login(w.counselor)
    text = page(client.get(grid_url(w)))
    assert "Owed feedback (3)" in text
    assert "#sr-" not in text  # counselors do not score: no link to a scoring page
    student = reverse(
        "gradebook:student_detail",
        kwargs={"school_slug": w.school.slug, "student_id": w.students[0].id},
    )
    assert f'href="{student}"' in text


def test_the_grid_says_nothing_when_everyone_had_feedback(client, world_a):
    w = world_a
    for student in w.students:
        commented(w, student, 1)
    client.force_login(w.teacher)
    assert "Owed feedback" not in page(client.get(grid_url(w)))


def test_the_teachers_home_lists_each_sections_owed_students(client, world_a, geometry):
    w = world_a
    s0, s1, s2 = w.students
    geo_section, geo_quiz = geometry
    commented(w, s0, 1)
    commented(w, s1, 1)
    commented(w, s0, 1, assessment=geo_quiz)
    client.force_login(w.teacher)
    text = page(client.get(reverse("school_home", kwargs={"school_slug": w.school.slug})))
    assert "Algebra 1 · Period 1: Owed feedback (1)" in text
    assert s2.display_name in text
    assert "Geometry · Period 3: Owed feedback" not in text  # its one student had feedback
    assert "Period 2: Owed feedback" not in text  # Otto's section


def test_the_home_says_so_when_nobody_is_owed(client, world_a):
    w = world_a
    for student in w.students:
        commented(w, student, 1)
    client.force_login(w.teacher)
    text = page(client.get(reverse("school_home", kwargs={"school_slug": w.school.slug})))
    assert "Owed feedback" not in text
    assert "Every student has had feedback in the last 14 days." in text


def test_a_foreign_schools_section_answers_404(client, world_a, world_b):
    a, b = world_a, world_b
    client.force_login(a.teacher)
    assert client.get(grid_url(b)).status_code == 404  # B's slug: not a member
    foreign = reverse(
        "gradebook:section_detail",
        kwargs={"school_slug": a.school.slug, "section_id": b.section.id},
    )
    assert client.get(foreign).status_code == 404  # B's section under A's slug


# --- The department dashboard ---------------------------------------------------------------------


def test_the_department_dashboard_counts_owed_students_per_section(client, world_a):
    w = world_a
    s0, s1, _s2 = w.students
    x0, _x1 = w.other_students
    commented(w, s0, 1)
    commented(w, s1, 20)
    commented(w, x0, 5)
    client.force_login(w.admin)
    base = reverse(
        "reports:dashboard_department",
        kwargs={"school_slug": w.school.slug, "department_id": w.department.id},
    )
    rows = {r["Section"]: r for r in rows_of(client.get(f"{base}?csv=feedback-owed"))}
    assert (rows["ALG1 Period 1"]["Students"], rows["ALG1 Period 1"]["Owed feedback"]) == ("3", "2")
    assert (rows["ALG1 Period 2"]["Students"], rows["ALG1 Period 2"]["Owed feedback"]) == ("2", "1")
    assert rows["ALG1 Period 1"]["Teachers"] == "Tess Teacher"
    assert "Owed feedback, by section" in page(client.get(base))


# --- The school's feedback page -------------------------------------------------------------------


def test_a_school_admin_sets_the_interval_and_it_is_audited(client, world_a):
    w = world_a
    client.force_login(w.admin)
    response = client.get(url(w))
    assert response.status_code == 200
    text = page(response)
    assert 'name="days"' in text and 'value="14"' in text
    assert "Algebra 1 · Period 1" in text and "Algebra 1 · Period 2" in text

    response = client.post(url(w), {"days": "7"})
    assert response.status_code == 302
    assert interval(w) == 7
    with scope(school=w.school):
        event = AuditEvent.objects.filter(school=w.school).order_by("-id").first()
    assert event.actor_id == w.admin.id
    assert (event.before, event.after) == (
        {"feedback_interval_days": 14},
        {"feedback_interval_days": 7},
    )
    assert "Feedback interval: 14 → 7 days" in event.summary
    assert "Feedback interval saved: 7 days." in page(client.get(url(w)))


def test_saving_the_same_interval_records_nothing(world_a, in_school):
    w = world_a
    before = audit_count(w)
    with in_school(w):
        feedback_interval_save(school=w.school, changed_by=w.admin, days=14)
    assert audit_count(w) == before


@pytest.mark.parametrize("value", ["0", "61", "abc", "", "7.5", "-3"])
def test_bad_input_changes_nothing_and_says_why(client, world_a, value):
    w = world_a
    before = audit_count(w)
    client.force_login(w.admin)
    response = client.post(url(w), {"days": value})
    assert response.status_code == 422
    assert "Enter a whole number of days from 1 to 60. Nothing was changed." in page(response)
    assert interval(w) == 14
    assert audit_count(w) == before


def test_a_post_without_the_field_changes_nothing(client, world_a):
    w = world_a
    client.force_login(w.admin)
    assert client.post(url(w), {}).status_code == 422
    assert interval(w) == 14


@pytest.mark.parametrize("days", [0, 61, -1, True])
def test_the_service_refuses_out_of_range_values(world_a, in_school, days):
    w = world_a
    with in_school(w), pytest.raises(ValidationError):
        feedback_interval_save(school=w.school, changed_by=w.admin, days=days)
    assert interval(w) == 14


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("teacher", 403),
        ("other_teacher", 403),
        ("counselor", 403),
        ("guardian", 403),
        ("student_user", 403),
    ],
)
def test_only_a_school_admin_changes_the_interval(client, world_a, who, status):
    w = world_a
    before = audit_count(w)
    client.force_login(getattr(w, who))
    assert client.post(url(w), {"days": "7"}).status_code == status
    assert interval(w) == 14
    assert audit_count(w) == before


def test_a_teacher_reads_only_their_own_sections(client, world_a):
    w = world_a
    client.force_login(w.teacher)
    response = client.get(url(w))
    assert response.status_code == 200
    text = page(response)
    assert "Algebra 1 · Period 1" in text
    assert "Algebra 1 · Period 2" not in text
    assert 'name="days"' not in text  # no form: they read the interval
    assert "At least every 14 days." in text


def test_a_counselor_reads_every_section_but_cannot_change_it(client, world_a):
    w = world_a
    client.force_login(w.counselor)
    text = page(client.get(url(w)))
    assert "Algebra 1 · Period 1" in text and "Algebra 1 · Period 2" in text
    assert 'name="days"' not in text


@pytest.mark.parametrize("who", ["guardian", "student_user"])
def test_families_and_students_cannot_open_the_page(client, world_a, who):
    w = world_a
    client.force_login(getattr(w, who))
    assert client.get(url(w)).status_code == 403


def test_another_schools_admin_gets_404_and_changes_nothing(client, world_a, world_b):
    a, b = world_a, world_b
    client.force_login(b.admin)
    assert client.get(url(a)).status_code == 404
    assert client.post(url(a), {"days": "7"}).status_code == 404
    assert interval(a) == 14
    # B's own page lists B's sections only, and B's change leaves A alone.
    response = client.get(url(b))
    assert response.status_code == 200
    assert f'data-section="{b.section.id}"' in page(response)
    assert f'data-section="{a.section.id}"' not in page(response)
    assert client.post(url(b), {"days": "21"}).status_code == 302
    assert (interval(a), interval(b)) == (14, 21)


def test_a_teacher_who_is_also_admin_elsewhere_cannot_change_this_school(client, world_a, world_b):
    a, b = world_a, world_b
    with scopes_disabled():
        Membership.objects.create(school=b.school, user=a.teacher, role=Role.SCHOOL_ADMIN)
    client.force_login(a.teacher)
    assert client.post(url(a), {"days": "5"}).status_code == 403
    assert client.post(url(b), {"days": "5"}).status_code == 302
    assert (interval(a), interval(b)) == (14, 5)


def test_the_school_page_shows_counts_by_section(client, world_a):
    w = world_a
    commented(w, w.students[0], 1)
    client.force_login(w.admin)
    text = page(client.get(url(w)))
    assert "3 of 5 enrolled students owed feedback." not in text
    assert "4 of 5 enrolled students owed feedback." in text
