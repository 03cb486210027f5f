"""The cell detail: a student's evidence on a target, reassessing and voiding from it."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django_scopes import scope, scopes_disabled

from gradebook.models import Assessment, Course, CourseTarget, Enrollment, Section, SectionTeacher
from gradebook.services.evidence import evidence_void
from mastery.models import Competency, Department, LearningTarget
from tests.factories import make_assessment, make_evidence, make_request
from tests.gradebook.pages import (
    HTMX,
    cell_url,
    days_ago,
    evidence_count,
    live,
    mastery,
    page,
    section_of,
    url,
)

# --- Helpers ---------------------------------------------------------------------------------------


def void_url(w, evidence, section=None) -> str:
    return url("evidence_void", w, section_id=(section or w.section).id, evidence_id=evidence.id)


# --- Cell detail: history, explanation, rubric, chart ----------------------------------------------


def test_the_cell_detail_shows_all_evidence_the_steps_the_rubric_and_the_chart(client, world_a):
    w = world_a
    s, t = w.students[1], w.targets[0]
    wrong = make_evidence(w, s, t, "1").evidence
    with scope(school=w.school):
        evidence_void(
            school=w.school, evidence_id=wrong.id, voided_by=w.teacher, reason="Wrong student"
        )
    quiz = make_assessment(w.school, w.course, [t], on=days_ago(3), kind="formative", title="Quiz")
    make_evidence(w, s, t, "2")
    make_evidence(w, s, t, "4", assessment=quiz)
    client.force_login(w.teacher)
    response = client.get(cell_url(w, s, t))
    assert response.status_code == 200
    content = page(response)
    assert "<del>1</del>" in content and "Wrong student" in content
    assert "Voided by Tess Teacher" in content
    assert "<strong>2</strong>" in content and "<strong>4</strong>" in content
    # The engine's steps: 2, then 4 at 65% -> 3.3, level 3, mastered.
    steps = section_of(content, '<ol class="explanation">', "</ol>")
    assert "3.3 is level 3 (Proficient); mastery is 3 or above: mastered." in steps
    assert "Decaying average" in steps
    # The rubric marks the current level, and only that one.
    current = re.findall(r'<li class="rubric__row is-current">(.*?)</li>', content, re.S)
    assert len(current) == 1
    assert "Here now" in current[0] and "Level 3 of 1" in current[0]
    assert content.count("Here now") == 1
    # The chart has one dot per live score (the voided one is not plotted).
    chart = section_of(content, '<svg class="attempts"', "</svg>")
    assert chart.count("<circle") == 2
    assert "Quiz" in chart


def test_the_cell_detail_of_a_target_outside_the_course_answers_404(client, world_a, in_school):
    w = world_a
    with in_school(w):
        stray = LearningTarget.objects.create(
            school=w.school,
            competency=w.competency,
            department=w.department,
            code="ALPHA.X9",
            statement="I am not in the course.",
        )
    client.force_login(w.teacher)
    assert client.get(cell_url(w, w.students[0], stray)).status_code == 404
    assert client.get(cell_url(w, w.other_students[0], w.targets[0])).status_code == 404


# --- Reassess from the cell detail -----------------------------------------------------------------


def test_a_reassessment_creates_its_assessment_links_the_original_and_raises_the_level(
    client, world_a
):
    w = world_a
    s, t = w.students[1], w.targets[0]
    quiz = make_assessment(w.school, w.course, w.targets[:2], on=days_ago(3), kind="formative")
    later_other_target = make_assessment(w.school, w.course, [w.targets[1]], on=days_ago(1))
    earlier_retake = make_assessment(w.school, w.course, [t], on=days_ago(2), kind="reassessment")
    make_evidence(w, s, t, "2")  # the summative, 7 days ago
    make_evidence(w, s, t, "2", assessment=quiz)  # 3 days ago: the latest original
    make_evidence(w, s, t, "2", assessment=earlier_retake)  # a reassessment is never an original
    make_evidence(w, s, w.targets[1], "3", assessment=later_other_target)  # another target
    make_evidence(w, w.students[0], t, "1", assessment=earlier_retake)
    request = make_request(w)  # Student1 asked to be reassessed on F1
    assert mastery(w, s, t).level == Decimal(2)
    client.force_login(w.teacher)
    response = client.post(
        cell_url(w, s, t, "cell_reassess"),
        {"value": "4", "assessed_on": date.today().isoformat(), "feedback": "Solid now."},
    )
    assert response.status_code == 302 and response["Location"] == cell_url(w, s, t)
    with scopes_disabled():
        new = Assessment.objects.exclude(
            id__in=[w.assessment.id, quiz.id, later_other_target.id, earlier_retake.id]
        ).get(school=w.school)
        assert list(new.targets.all()) == [t]
    assert new.kind == "reassessment" and new.section == w.section
    assert new.original == quiz and new.assessed_on == date.today()
    assert new.created_by == w.teacher
    evidence = live(w, s, t, new)
    assert evidence.score == Decimal(4) and evidence.feedback == "Solid now."
    result = mastery(w, s, t)
    assert result.level == Decimal(3) and result.mastered  # 2, 2, 2, 4 -> 3.3
    request.refresh_from_db()
    assert request.status == "completed" and request.evidence == evidence
    assert request.resolved_by == w.teacher


def _second_course_sharing(w, target, student):
    """Geometry, another course of the department sharing `target`, which `student` also takes."""
    with scope(school=w.school):
        geometry = Course.objects.create(
            school=w.school, department=w.department, code="GEO", name="Geometry"
        )
        CourseTarget.objects.create(school=w.school, course=geometry, target=target)
        geo_section = Section.objects.create(
            school=w.school, course=geometry, term=w.term, name="Geo 4", period=4
        )
        SectionTeacher.objects.create(school=w.school, section=geo_section, teacher=w.other_teacher)
        Enrollment.objects.create(
            school=w.school, section=geo_section, student=student, enrolled_on=w.term.starts_on
        )
    return geometry, geo_section


def test_a_reassessment_takes_its_original_from_the_sections_course(client, world_a):
    w = world_a
    s, t = w.students[1], w.targets[0]
    geometry, geo_section = _second_course_sharing(w, t, s)
    geo_quiz = make_assessment(w.school, geometry, [t], on=days_ago(2), section=geo_section)
    make_evidence(w, s, t, "2")  # Algebra 1, 7 days ago
    make_evidence(w, s, t, "2", assessment=geo_quiz, by=w.other_teacher)  # Geometry, 2 days ago
    client.force_login(w.teacher)
    response = client.post(
        cell_url(w, s, t, "cell_reassess"), {"value": "4", "assessed_on": date.today().isoformat()}
    )
    assert response.status_code == 302
    with scopes_disabled():
        new = Assessment.objects.get(school=w.school, kind="reassessment")
    assert new.course == w.course
    assert new.original == w.assessment


def test_a_reassessment_with_a_bad_date_answers_422_and_writes_nothing(client, world_a, in_school):
    w = world_a
    s, t = w.students[1], w.targets[0]
    client.force_login(w.teacher)
    with in_school(w):
        assessments = Assessment.objects.filter(school=w.school).count()
    for bad in ("not-a-date", "2024-13-40", ""):
        response = client.post(
            cell_url(w, s, t, "cell_reassess"), {"value": "3", "assessed_on": bad}
        )
        assert response.status_code == 422
        assert "Enter the date as YYYY-MM-DD." in page(response)
    outside = (w.term.ends_on + timedelta(days=1)).isoformat()
    response = client.post(
        cell_url(w, s, t, "cell_reassess"), {"value": "3", "assessed_on": outside}
    )
    assert response.status_code == 422 and "is outside This year" in page(response)
    response = client.post(
        cell_url(w, s, t, "cell_reassess"), {"value": "", "assessed_on": date.today().isoformat()}
    )
    assert response.status_code == 422
    with in_school(w):
        assert Assessment.objects.filter(school=w.school).count() == assessments
    assert evidence_count(w) == 0


# --- Void from the cell detail ---------------------------------------------------------------------


def test_voiding_needs_a_reason(client, world_a):
    w = world_a
    s, t = w.students[1], w.targets[0]
    evidence = make_evidence(w, s, t, "3").evidence
    client.force_login(w.teacher)
    response = client.post(void_url(w, evidence), {"reason": "   "})
    assert response.status_code == 422
    assert "Say why this evidence is voided." in page(response)
    evidence.refresh_from_db()
    assert evidence.voided_at is None and mastery(w, s, t).score == Decimal(3)


def test_voiding_keeps_the_evidence_struck_through_and_recomputes(client, world_a):
    w = world_a
    s, t = w.students[1], w.targets[0]
    quiz = make_assessment(w.school, w.course, [t], on=days_ago(2), kind="formative")
    keep = make_evidence(w, s, t, "2").evidence
    wrong = make_evidence(w, s, t, "4", assessment=quiz).evidence
    assert mastery(w, s, t).score == Decimal("3.30")
    client.force_login(w.teacher)
    response = client.post(void_url(w, wrong), {"reason": "Scored the wrong paper"}, follow=True)
    assert response.redirect_chain[-1][0] == cell_url(w, s, t)
    wrong.refresh_from_db()
    assert wrong.voided_at is not None and wrong.void_reason == "Scored the wrong paper"
    assert wrong.voided_by == w.teacher and wrong.score == Decimal(4)
    keep.refresh_from_db()
    assert keep.voided_at is None
    assert mastery(w, s, t).score == Decimal(2)
    content = page(response)
    assert "<del>4</del>" in content and "Scored the wrong paper" in content


def test_voiding_from_the_grid_redraws_the_grid_cell_out_of_band(client, world_a):
    w = world_a
    s, t = w.students[1], w.targets[0]
    evidence = make_evidence(w, s, t, "3").evidence
    client.force_login(w.teacher)
    response = client.post(
        void_url(w, evidence),
        {"reason": "Typo", "ctx": "grid"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="cell-detail",
    )
    assert response.status_code == 200
    content = page(response)
    assert "<html" not in content and 'id="cell-detail"' in content
    oob = re.search(
        rf'<td id="g-{s.id}-{t.id}" class="grid__cell" hx-swap-oob="true">(.*?)</td>', content, re.S
    )
    assert oob and "no evidence yet" in oob[1]
    assert f'<td id="gg-{s.id}" class="grid__grade" hx-swap-oob="true">' in content
    column = re.search(
        rf'<td id="gd-{t.id}" class="grid__dist" hx-swap-oob="true">(.*?)</td>', content, re.S
    )
    assert column and "0 Proficient" in column[1]
    # Table cells outside a table are dropped by the HTML parser: they travel in a <template>.
    assert content.index("<template>") < oob.start() < content.index("</template>")
    # Without the grid context no grid cell is sent.
    other = make_evidence(w, w.students[2], t, "3").evidence
    response = client.post(void_url(w, other), {"reason": "Typo"}, **HTMX)
    assert 'hx-swap-oob="true"' not in page(response)


def test_evidence_of_a_student_of_another_section_cannot_be_voided_here(client, world_a):
    w = world_a
    foreign = make_evidence(w, w.other_students[0], w.targets[0], "3", by=w.other_teacher).evidence
    client.force_login(w.teacher)
    response = client.post(void_url(w, foreign), {"reason": "Not mine"})
    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.voided_at is None


def test_evidence_of_another_course_cannot_be_voided_through_ones_own_section(
    client, world_a, in_school
):
    w = world_a
    shared = w.students[1]
    with in_school(w):
        science = Department.objects.create(school=w.school, name="Science", code="SCI")
        cells = Competency.objects.create(
            school=w.school, department=science, code="alpha-CELL", name="Cells"
        )
        target = LearningTarget.objects.create(
            school=w.school,
            competency=cells,
            department=science,
            code="ALPHA.B1",
            statement="I can describe a cell.",
        )
        biology = Course.objects.create(
            school=w.school, department=science, code="BIO", name="Biology"
        )
        CourseTarget.objects.create(school=w.school, course=biology, target=target)
        bio_section = Section.objects.create(
            school=w.school, course=biology, term=w.term, name="Bio 3", period=3
        )
        SectionTeacher.objects.create(school=w.school, section=bio_section, teacher=w.other_teacher)
        Enrollment.objects.create(
            school=w.school, section=bio_section, student=shared, enrolled_on=w.term.starts_on
        )
    lab = make_assessment(w.school, biology, [target], on=days_ago(2), section=bio_section)
    bio_evidence = make_evidence(
        w, shared, target, "4", assessment=lab, by=w.other_teacher
    ).evidence
    client.force_login(w.teacher)  # teaches Algebra 1, Period 1 only
    response = client.post(void_url(w, bio_evidence), {"reason": "I do not teach Biology"})
    assert response.status_code == 404
    bio_evidence.refresh_from_db()
    assert bio_evidence.voided_at is None


# --- Input no row or scale can hold (issue 21 item 6) ----------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("assessed_on", "9999-12-31", "Enter a date between 1900-01-01 and 9998-12-31."),
        ("assessment", "²", "Choose one from the list."),
        ("assessment", str(2**63), "Choose one from the list."),
        ("feedback", "nul\x00", "Feedback: Null characters are not allowed."),
        ("title", "x" * 201, "Title: Ensure this value has at most 200 characters"),
    ],
)
def test_a_reassessment_with_malformed_fields_answers_422_and_writes_nothing(
    client, world_a, field, value, message
):
    w = world_a
    client.force_login(w.teacher)
    data = {"value": "3", "assessed_on": date.today().isoformat(), field: value}
    response = client.post(cell_url(w, w.students[1], w.targets[0], "cell_reassess"), data)
    assert response.status_code == 422 and message in page(response)
    assert evidence_count(w) == 0


def test_a_void_reason_with_a_nul_character_answers_422(client, world_a):
    w = world_a
    s, t = w.students[1], w.targets[0]
    evidence = make_evidence(w, s, t, "3").evidence
    client.force_login(w.teacher)
    response = client.post(void_url(w, evidence), {"reason": "typo\x00"})
    assert response.status_code == 422 and "Null characters are not allowed." in page(response)
    evidence.refresh_from_db()
    assert evidence.voided_at is None
