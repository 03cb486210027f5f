"""The teacher's pages: the section grid, scoring, cell detail, assessments, reassessment, home."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django_scopes import scope, scopes_disabled

from gradebook.models import (
    Assessment,
    AssessmentFeedback,
    AssessmentTarget,
    Course,
    CourseTarget,
    Enrollment,
    Evidence,
    Mastery,
    ReassessmentRequest,
    Section,
    SectionTeacher,
)
from gradebook.services.evidence import evidence_record, evidence_void
from gradebook.services.grid import evidence_fill
from mastery.middleware import NoStoreMiddleware
from mastery.models import Competency, Department, LearningTarget, ProficiencyScale, ScaleLevel
from tests.factories import make_assessment, make_request, make_student

HTMX = {"HTTP_HX_REQUEST": "true"}

# Pinned query counts of the hot pages (docs/design.md section 6): the same for 3 students and 33.
# Each includes the user and the school-with-membership lookups of the request (the session is
# read from the cache); the cell POST also counts, inside the test transaction, the savepoint of
# the view's atomic block and the one guarding the INSERT against a concurrent save of the same
# cell (4 of its 25), and the one INSERT of its audit event.
QUERIES_GRID_PAGE = 8
QUERIES_SCORE_CELL_POST = 25
QUERIES_SCORING_PAGE = 13


# --- Helpers ---------------------------------------------------------------------------------------


def url(name: str, w, **kwargs) -> str:
    return reverse(f"gradebook:{name}", kwargs={"school_slug": w.school.slug, **kwargs})


def grid_url(w, section=None) -> str:
    return url("section_detail", w, section_id=(section or w.section).id)


def score_url(w, name: str = "score", assessment=None, section=None) -> str:
    return url(
        name,
        w,
        section_id=(section or w.section).id,
        assessment_id=(assessment or w.assessment).id,
    )


def cell_url(w, student, target, name: str = "cell_detail", section=None) -> str:
    return url(
        name, w, section_id=(section or w.section).id, student_id=student.id, target_id=target.id
    )


def void_url(w, evidence, section=None) -> str:
    return url("evidence_void", w, section_id=(section or w.section).id, evidence_id=evidence.id)


def key(student, target) -> str:
    return f"c-{student.id}-{target.id}"


def page(response) -> str:
    """The response body as text, HTML entities decoded (messages contain apostrophes)."""
    return html.unescape(response.content.decode())


def record(w, student, target, score="3", *, assessment=None, by=None, status="scored"):
    with scope(school=w.school):
        return evidence_record(
            school=w.school,
            recorded_by=by or w.teacher,
            student_id=student.id,
            target_id=target.id,
            assessment_id=(assessment or w.assessment).id,
            score=None if status != "scored" else score,
            status=status,
        ).evidence


def live(w, student, target, assessment=None) -> Evidence | None:
    with scopes_disabled():
        return Evidence.objects.filter(
            school=w.school,
            student=student,
            target=target,
            assessment=assessment or w.assessment,
            voided_at__isnull=True,
        ).first()


def rows(w, student, target, assessment=None) -> list[Evidence]:
    """Every evidence row of a cell, voided included, oldest first."""
    with scopes_disabled():
        return list(
            Evidence.objects.filter(
                school=w.school,
                student=student,
                target=target,
                assessment=assessment or w.assessment,
            ).order_by("id")
        )


def evidence_count(w) -> int:
    with scopes_disabled():
        return Evidence.objects.filter(school=w.school).count()


def mastery(w, student, target) -> Mastery | None:
    with scopes_disabled():
        return Mastery.objects.filter(school=w.school, student=student, target=target).first()


def days_ago(n: int) -> date:
    return date.today() - timedelta(days=n)


def enroll_more(w, count: int, *, section=None) -> list:
    section = section or w.section
    return [
        make_student(
            w.school,
            f"{w.school.slug}-more-{i}",
            first=f"More{i:02d}",
            last="Zed",
            sections=[section],
            enrolled_on=w.term.starts_on,
        )
        for i in range(count)
    ]


def fill(w, value: str, *, targets=None, assessment=None, by=None) -> list[int]:
    with scope(school=w.school):
        return evidence_fill(
            school=w.school,
            filled_by=by or w.teacher,
            section=w.section,
            assessment=assessment or w.assessment,
            text=value,
            target_ids=[t.id for t in targets] if targets else None,
        )


def section_of(content: str, start: str, end: str) -> str:
    """The part of the page from `start` up to the next `end` after it."""
    begin = content.index(start)
    stop = content.find(end, begin + len(start))
    return content[begin : stop if stop != -1 else len(content)]


# --- The section grid ------------------------------------------------------------------------------


@pytest.fixture
def graded(world_a):
    """Three students with different results: Student0 4/4, Student1 2/–, Student2 3/2."""
    w = world_a
    s0, s1, s2 = w.students
    t0, t1, _ = w.targets
    record(w, s0, t0, "4")
    record(w, s0, t1, "4")
    record(w, s1, t0, "2")
    record(w, s2, t0, "3")
    record(w, s2, t1, "2")
    return w


def test_the_grid_shows_every_student_every_target_and_the_course_grades(client, graded):
    w = graded
    client.force_login(w.teacher)
    response = client.get(grid_url(w))
    assert response.status_code == 200
    content = page(response)
    for student in w.students:
        assert student.sortable_name in content
    for other in w.other_students:
        assert other.sortable_name not in content
    for target in w.targets:
        assert f">{target.code}</a></th>" in content
    assert 'colspan="3" class="grid__group">Functions</th>' in content
    # The chip of Student1 on F1 says 2 Developing; the cell without evidence says so.
    s1, t0, t1 = w.students[1], w.targets[0], w.targets[1]
    cell = section_of(content, f'id="g-{s1.id}-{t0.id}"', "</td>")
    assert 'class="level__num">2<' in cell and "Developing" in cell
    empty = section_of(content, f'id="g-{s1.id}-{t1.id}"', "</td>")
    assert "no evidence yet" in empty
    # The course grade with its explanation.
    grade = section_of(content, f'id="gg-{w.students[0].id}"', "</td>")
    assert "<strong>A</strong>" in grade
    assert "The average of 2 target scores is 4, which is a A (A from 3, B from 2.5" in grade
    assert "1 target without enough evidence is not counted." in grade
    grade = section_of(content, f'id="gg-{w.students[2].id}"', "</td>")
    assert "<strong>B</strong>" in grade and "is 2.5, which is a B" in grade
    # The column distribution: F1 has one each of 2, 3 and 4; F2 one 2 and one 4; F3 none.
    # Each count follows its level's marker (the level's number in a ring, never a letter).
    columns = re.findall(r'class="grid__counts[^>]*>(.*?)</span>\s*</td>', content, re.S)
    dist = [
        " ".join(
            f"{n} at {lv}"
            for lv, n in re.findall(r'class="level__mark" aria-hidden="true">(\d)</span>(\d+)', c)
        )
        for c in columns
    ]
    assert dist == [
        "0 at 1 1 at 2 1 at 3 1 at 4",
        "0 at 1 1 at 2 0 at 3 1 at 4",
        "0 at 1 0 at 2 0 at 3 0 at 4",
    ]
    assert "<title>1 without a level</title>" in content  # F2: Student1 has no evidence


def test_the_grid_groups_targets_by_competency_in_competency_order(client, world_a):
    w = world_a
    with scopes_disabled():
        equations = Competency.objects.create(
            school=w.school, department=w.department, code="alpha-EQ", name="Equations", position=0
        )
        Competency.objects.filter(pk=w.competency.pk).update(position=1)
        solve = LearningTarget.objects.create(
            school=w.school,
            competency=equations,
            department=w.department,
            code="ALPHA.E1",
            statement="I can solve an equation.",
        )
        CourseTarget.objects.create(school=w.school, course=w.course, target=solve, position=9)
    client.force_login(w.teacher)
    content = page(client.get(grid_url(w)))
    groups = re.findall(r'colspan="(\d+)" class="grid__group">([^<]+)</th>', content)
    assert groups == [("1", "Equations"), ("3", "Functions")]
    codes = re.findall(r'class="grid__target[^"]*"><a [^>]*>([^<]+)</a>', content)
    assert codes == ["ALPHA.E1", "ALPHA.F1", "ALPHA.F2", "ALPHA.F3"]


def test_show_below_keeps_only_students_not_yet_proficient_on_the_target(client, graded):
    w = graded
    client.force_login(w.teacher)
    content = page(client.get(grid_url(w), {"show": "below", "target": w.targets[0].id}))
    assert w.students[1].sortable_name in content  # 2 on F1
    assert w.students[0].sortable_name not in content  # 4
    assert w.students[2].sortable_name not in content  # 3: proficient
    assert "1 shown" in content
    # On F2, Student1 has no evidence and Student2 a 2: both are not yet proficient.
    content = page(client.get(grid_url(w), {"show": "below", "target": w.targets[1].id}))
    assert w.students[1].sortable_name in content and w.students[2].sortable_name in content
    assert w.students[0].sortable_name not in content


def test_sort_by_grade_puts_the_highest_course_grade_first(client, graded):
    w = graded
    client.force_login(w.teacher)

    def order(response):
        content = page(response)
        names = re.findall(r'class="grid__student"><a [^>]*>([^<]+)</a>', content)
        return names

    by_name = order(client.get(grid_url(w)))
    assert by_name == [s.sortable_name for s in w.students]
    by_grade = order(client.get(grid_url(w), {"sort": "grade"}))
    s0, s1, s2 = (s.sortable_name for s in w.students)
    assert by_grade == [s0, s2, s1]  # 4, then 2.5, then 2


def test_an_htmx_request_for_the_grid_gets_only_the_grid_fragment(client, graded):
    w = graded
    client.force_login(w.teacher)
    response = client.get(
        grid_url(w), {"sort": "grade"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="grid"
    )
    assert response.status_code == 200
    content = page(response)
    assert content.lstrip().startswith('<div id="grid"')
    assert "<html" not in content and "<body" not in content
    assert 'class="filters"' not in content
    assert w.students[0].sortable_name in content
    # The whole page is still served to a normal request.
    full = page(client.get(grid_url(w)))
    assert "<html" in full and 'id="grid"' in full


# --- Pinned query counts ---------------------------------------------------------------------------


def _grow_class(w):
    """30 more students in the section, every one with evidence on F1 and F2."""
    more = enroll_more(w, 30)
    fill(w, "3", targets=[w.targets[0]])
    second = make_assessment(w.school, w.course, w.targets[1:2], on=days_ago(2))
    fill(w, "2", assessment=second)
    with scopes_disabled():
        for student in more[:5]:
            AssessmentFeedback.objects.create(
                school=w.school,
                assessment=w.assessment,
                student=student,
                text="Keep going.",
                updated_by=w.teacher,
            )
    return more


def test_the_grid_page_takes_a_pinned_number_of_queries_whatever_the_class_size(
    client, world_a, django_assert_num_queries
):
    w = world_a
    fill(w, "2", targets=[w.targets[0]])
    client.force_login(w.teacher)
    client.get(grid_url(w))  # warm up the per-process caches
    with django_assert_num_queries(QUERIES_GRID_PAGE):
        small = client.get(grid_url(w))
    _grow_class(w)
    with django_assert_num_queries(QUERIES_GRID_PAGE):
        large = client.get(grid_url(w))
    assert small.status_code == large.status_code == 200
    assert page(large).count('class="grid__student"') == 33 + 1  # 33 rows + the footer


def test_saving_one_cell_takes_a_pinned_number_of_queries_whatever_the_class_size(
    client, world_a, django_assert_num_queries
):
    w = world_a
    s0, s1, s2 = w.students
    t1 = w.targets[1]
    client.force_login(w.teacher)
    # Each measured POST writes a score into an empty cell.
    client.post(score_url(w, "score_cell"), {key(s2, t1): "2"}, **HTMX)
    with django_assert_num_queries(QUERIES_SCORE_CELL_POST):
        small = client.post(score_url(w, "score_cell"), {key(s0, t1): "3"}, **HTMX)
    _grow_class(w)
    assert live(w, s1, t1) is None
    with django_assert_num_queries(QUERIES_SCORE_CELL_POST):
        large = client.post(score_url(w, "score_cell"), {key(s1, t1): "4"}, **HTMX)
    assert small.status_code == large.status_code == 200
    assert live(w, s1, t1).score == Decimal(4)


def test_the_scoring_page_takes_a_pinned_number_of_queries_whatever_the_class_size(
    client, world_a, django_assert_num_queries
):
    w = world_a
    fill(w, "3", targets=[w.targets[0]])
    client.force_login(w.teacher)
    client.get(score_url(w))
    with django_assert_num_queries(QUERIES_SCORING_PAGE):
        small = client.get(score_url(w))
    _grow_class(w)
    with django_assert_num_queries(QUERIES_SCORING_PAGE):
        large = client.get(score_url(w))
    assert small.status_code == large.status_code == 200
    assert page(large).count('class="score-input"') == 33 * 2


# --- Scoring one cell (htmx) -----------------------------------------------------------------------


def post_cell(client, w, student, target, value, **extra):
    return client.post(
        score_url(w, "score_cell"),
        {key(student, target): value},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET=f"sc-{student.id}-{target.id}",
        **extra,
    )


def test_a_cell_saves_its_score_and_answers_with_the_cell_and_the_course_grade(client, world_a):
    w = world_a
    s, t = w.students[1], w.targets[0]
    client.force_login(w.teacher)
    response = post_cell(client, w, s, t, "3")
    assert response.status_code == 200
    evidence = live(w, s, t)
    assert evidence.score == Decimal(3) and evidence.status == "scored"
    assert evidence.recorded_by == w.teacher
    assert mastery(w, s, t).score == Decimal(3)
    content = page(response)
    cell = section_of(content, f'<td id="sc-{s.id}-{t.id}"', "</td>")
    assert 'class="score-cell is-saved"' in cell and "✓ Saved" in cell
    assert f'name="{key(s, t)}" value="3"' in cell
    oob = re.search(
        rf'<td id="sg-{s.id}" class="score-grid__grade" hx-swap-oob="true">(.*?)</td>',
        content,
        re.S,
    )
    assert oob, "the course grade is swapped out of band"
    assert "<strong>A</strong>" in oob[1] and "The average of 1 target score is 3" in oob[1]
    assert "<html" not in content


def test_a_score_off_the_scale_answers_422_with_the_message_and_writes_nothing(client, world_a):
    w = world_a
    s, t = w.students[1], w.targets[0]
    client.force_login(w.teacher)
    response = post_cell(client, w, s, t, "7")
    assert response.status_code == 422
    content = page(response)
    assert "7 is not on the scale" in content
    assert 'aria-invalid="true"' in content and f'name="{key(s, t)}" value="7"' in content
    assert evidence_count(w) == 0 and mastery(w, s, t) is None


def test_m_records_the_status_missing(client, world_a):
    w = world_a
    s, t = w.students[0], w.targets[1]
    client.force_login(w.teacher)
    response = post_cell(client, w, s, t, "m")
    assert response.status_code == 200
    evidence = live(w, s, t)
    assert evidence.status == "missing" and evidence.score is None
    assert f'name="{key(s, t)}" value="M"' in page(response)


def test_an_empty_value_clears_the_cell_by_voiding_its_evidence(client, world_a):
    w = world_a
    s, t = w.students[0], w.targets[0]
    old = record(w, s, t, "3")
    client.force_login(w.teacher)
    response = post_cell(client, w, s, t, "")
    assert response.status_code == 200
    assert live(w, s, t) is None
    old.refresh_from_db()
    assert old.voided_at is not None and old.void_reason == "Cleared in the scoring grid"
    assert old.voided_by == w.teacher and old.score == Decimal(3)
    assert mastery(w, s, t).score is None and mastery(w, s, t).evidence_count == 0


def test_a_target_not_on_the_assessment_answers_404_and_nothing_is_written(client, world_a):
    w = world_a
    client.force_login(w.teacher)
    response = post_cell(client, w, w.students[0], w.targets[2], "3")
    assert response.status_code == 404
    assert evidence_count(w) == 0


def test_a_student_outside_the_section_answers_404_and_nothing_is_written(client, world_a):
    w = world_a
    client.force_login(w.teacher)
    response = post_cell(client, w, w.other_students[0], w.targets[0], "3")
    assert response.status_code == 404
    assert evidence_count(w) == 0


def test_a_withdrawn_student_cannot_be_scored_in_the_grid(client, world_a):
    w = world_a
    s = w.students[2]
    with scopes_disabled():
        Enrollment.objects.filter(student=s, section=w.section).update(withdrawn_on=days_ago(1))
    client.force_login(w.teacher)
    assert post_cell(client, w, s, w.targets[0], "3").status_code == 404
    assert evidence_count(w) == 0


def _scoring_requests(w):
    s, t = w.students[0], w.targets[0]
    return [
        ("get", score_url(w), {}),
        ("post", score_url(w), {key(s, t): "3"}),
        ("post", score_url(w, "score_cell"), {key(s, t): "3"}),
        ("post", score_url(w, "score_feedback"), {f"fb-{s.id}": "Nice"}),
        ("post", score_url(w, "score_fill"), {"value": "3"}),
        ("post", score_url(w, "score_undo"), {}),
        ("get", url("assessment_create", w, section_id=w.section.id), {}),
        (
            "post",
            cell_url(w, s, t, "cell_reassess"),
            {"value": "4", "assessed_on": date.today().isoformat()},
        ),
    ]


def test_a_counselor_reads_the_grid_but_gets_403_on_every_scoring_page(client, world_a):
    w = world_a
    client.force_login(w.counselor)
    assert client.get(grid_url(w)).status_code == 200
    for method, target_url, data in _scoring_requests(w):
        response = getattr(client, method)(target_url, data, **HTMX)
        assert response.status_code == 403, (method, target_url)
    assert evidence_count(w) == 0


def test_a_teacher_of_another_section_gets_404_on_this_sections_pages(client, world_a):
    w = world_a
    client.force_login(w.other_teacher)
    assert client.get(grid_url(w)).status_code == 404
    assert client.get(grid_url(w, w.other_section)).status_code == 200
    assert client.get(cell_url(w, w.students[0], w.targets[0])).status_code == 404
    assert client.get(url("reassessment_list", w, section_id=w.section.id)).status_code == 404
    for method, target_url, data in _scoring_requests(w):
        response = getattr(client, method)(target_url, data, **HTMX)
        assert response.status_code == 404, (method, target_url)
    assert evidence_count(w) == 0


def test_a_section_of_school_b_under_school_as_slug_answers_404(client, world_a, world_b):
    client.force_login(world_a.admin)
    b_section = reverse(
        "gradebook:section_detail",
        kwargs={"school_slug": world_a.school.slug, "section_id": world_b.section.id},
    )
    assert client.get(b_section).status_code == 404
    b_cell = reverse(
        "gradebook:score_cell",
        kwargs={
            "school_slug": world_a.school.slug,
            "section_id": world_b.section.id,
            "assessment_id": world_b.assessment.id,
        },
    )
    response = client.post(b_cell, {key(world_b.students[0], world_b.targets[0]): "3"}, **HTMX)
    assert response.status_code == 404
    assert evidence_count(world_b) == 0


# --- The no-JavaScript scoring form ----------------------------------------------------------------


def test_the_full_form_saves_changed_cells_and_leaves_unchanged_ones_alone(client, world_a):
    w = world_a
    s0, s1, s2 = w.students
    t0, t1 = w.targets[0], w.targets[1]
    kept = record(w, s0, t0, "3")
    status = record(w, s0, t1, status="missing")
    changed = record(w, s1, t0, "2")
    client.force_login(w.teacher)
    data = {
        key(s0, t0): "3",  # unchanged
        key(s0, t1): "m",  # unchanged (the grid shows M)
        key(s1, t0): "4",  # changed
        key(s1, t1): "",  # still empty
        key(s2, t0): "2.5",  # new
        key(s2, t1): "ex",  # new status
        f"fb-{s1.id}": "Much better on the second try.",
        f"fb-{s0.id}": "",
    }
    response = client.post(score_url(w), data)
    assert response.status_code == 302 and response["Location"] == score_url(w)
    assert rows(w, s0, t0) == [kept] and rows(w, s0, t1) == [status]
    assert rows(w, s1, t1) == []
    assert live(w, s1, t0).score == Decimal(4)
    changed.refresh_from_db()
    assert changed.voided_at is not None
    assert live(w, s2, t0).score == Decimal("2.5") and live(w, s2, t1).status == "excused"
    with scopes_disabled():
        feedback = AssessmentFeedback.objects.get(assessment=w.assessment, student=s1)
        assert not AssessmentFeedback.objects.filter(student=s0).exists()
    assert feedback.text == "Much better on the second try." and feedback.updated_by == w.teacher
    assert "Saved 4 changes." in page(client.get(score_url(w)))


def test_the_full_form_reports_a_bad_cell_and_still_saves_the_valid_ones(client, world_a):
    w = world_a
    s0, s1, s2 = w.students
    t0, t1 = w.targets[0], w.targets[1]
    client.force_login(w.teacher)
    data = {key(s0, t0): "9", key(s1, t0): "3", key(s2, t1): "1", key(s0, t1): ""}
    response = client.post(score_url(w), data)
    assert response.status_code == 422
    content = page(response)
    assert "1 cell could not be saved; see the marked cells." in content
    bad = section_of(content, f'<td id="sc-{s0.id}-{t0.id}"', "</td>")
    assert "is-error" in bad and 'value="9"' in bad and "9 is not on the scale" in bad
    assert live(w, s0, t0) is None
    assert live(w, s1, t0).score == Decimal(3) and live(w, s2, t1).score == Decimal(1)
    good = section_of(content, f'<td id="sc-{s1.id}-{t0.id}"', "</td>")
    assert 'value="3"' in good and "is-error" not in good


def test_the_full_form_ignores_cells_of_students_outside_the_section(client, world_a):
    w = world_a
    client.force_login(w.teacher)
    response = client.post(score_url(w), {key(w.other_students[0], w.targets[0]): "3"})
    assert response.status_code == 302
    assert evidence_count(w) == 0


# --- Feedback -------------------------------------------------------------------------------------


def post_feedback(client, w, student, text):
    return client.post(score_url(w, "score_feedback"), {f"fb-{student.id}": text}, **HTMX)


def feedback_of(w, student) -> str | None:
    with scopes_disabled():
        row = AssessmentFeedback.objects.filter(assessment=w.assessment, student=student).first()
    return row.text if row else None


def test_feedback_is_saved_replaced_and_removed_by_empty_text(client, world_a):
    w = world_a
    s = w.students[1]
    client.force_login(w.teacher)
    response = post_feedback(client, w, s, "  Show your steps.  ")
    assert response.status_code == 200
    assert feedback_of(w, s) == "Show your steps."
    assert "✓ Saved" in page(response) and f'id="sf-{s.id}"' in page(response)
    post_feedback(client, w, s, "Great work.")
    assert feedback_of(w, s) == "Great work."
    assert post_feedback(client, w, s, "").status_code == 200
    assert feedback_of(w, s) is None


def test_feedback_over_4000_characters_is_refused_with_422(client, world_a):
    w = world_a
    s = w.students[1]
    client.force_login(w.teacher)
    post_feedback(client, w, s, "Keep this.")
    response = post_feedback(client, w, s, "x" * 4001)
    assert response.status_code == 422
    assert "Feedback is limited to 4000 characters." in page(response)
    assert feedback_of(w, s) == "Keep this."
    assert post_feedback(client, w, s, "y" * 4000).status_code == 200


def test_a_comment_of_4100_characters_is_refused_whole_with_its_count(client, world_a):
    # Issue [10] item 11: long comments were cut at 4,000 and still showed "Saved".
    w = world_a
    s = w.students[1]
    client.force_login(w.teacher)
    text = "word " * 798 + "x" * 110
    response = post_feedback(client, w, s, text)
    assert response.status_code == 422
    content = page(response)
    assert "This comment has 4,100: shorten it by 100. Nothing was saved." in content
    assert "✓ Saved" not in content
    assert text.strip() in content  # the box keeps every character typed
    assert feedback_of(w, s) is None


def test_a_line_break_counts_as_one_character_as_the_page_counts_it(client, world_a):
    # Browsers send a textarea's line breaks as CRLF; the page's counter counts one character.
    w = world_a
    s = w.students[1]
    client.force_login(w.teacher)
    text = "\r\n".join(["x" * 99] * 40)  # 3,999 characters as typed, 4,038 bytes as sent
    assert post_feedback(client, w, s, text).status_code == 200
    assert feedback_of(w, s) == text.replace("\r\n", "\n")


def test_the_grid_form_keeps_a_refused_comment_in_its_box(client, world_a):
    w = world_a
    s = w.students[0]
    client.force_login(w.teacher)
    text = "y" * 4100
    response = client.post(
        score_url(w), {f"fb-{s.id}": text, key(w.students[1], w.targets[0]): "3"}
    )
    assert response.status_code == 422
    box = section_of(page(response), f'<td id="sf-{s.id}"', "</td>")
    assert text in box and "is-error" in box and "Nothing was saved" in box
    assert feedback_of(w, s) is None


def test_feedback_for_a_student_outside_the_section_answers_404(client, world_a):
    w = world_a
    client.force_login(w.teacher)
    assert post_feedback(client, w, w.other_students[0], "Hi").status_code == 404
    assert feedback_of(w, w.other_students[0]) is None


# --- Fill empty cells, and undo it ----------------------------------------------------------------


def test_fill_puts_the_value_only_into_the_empty_cells_of_the_chosen_target(client, world_a):
    w = world_a
    s0, s1, s2 = w.students
    t0, t1 = w.targets[0], w.targets[1]
    existing = record(w, s0, t0, "2")
    client.force_login(w.teacher)
    response = client.post(score_url(w, "score_fill"), {"target": t0.id, "value": "m"})
    assert response.status_code == 302
    assert rows(w, s0, t0) == [existing] and existing.voided_at is None
    for s in (s1, s2):
        assert live(w, s, t0).status == "missing"
        assert live(w, s, t1) is None
    for other in w.other_students:  # a common assessment: other sections are not filled
        assert live(w, other, t0) is None
    assert "Filled 2 empty cells with M." in page(client.get(score_url(w)))


def test_fill_without_a_target_fills_every_empty_cell_of_the_section(client, world_a):
    w = world_a
    record(w, w.students[0], w.targets[0], "2")
    client.force_login(w.teacher)
    response = client.post(
        score_url(w, "score_fill"),
        {"target": "", "value": "3"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="score-grid",
    )
    assert response.status_code == 200
    content = page(response)
    assert content.lstrip().startswith('<div id="score-grid"') and "<html" not in content
    assert "Filled 5 empty cells with 3." in content
    assert live(w, w.students[0], w.targets[0]).score == Decimal(2)
    for s in w.students:
        assert live(w, s, w.targets[1]).score == Decimal(3)
    assert mastery(w, w.students[2], w.targets[1]).score == Decimal(3)


@pytest.mark.parametrize(
    ("value", "message"),
    [("7", "7 is not on the scale"), ("", "Choose a score or a status to fill the empty cells")],
)
def test_fill_with_an_invalid_value_says_so_and_writes_nothing(client, world_a, value, message):
    w = world_a
    client.force_login(w.teacher)
    response = client.post(score_url(w, "score_fill"), {"value": value}, follow=True)
    assert message in page(response)
    assert evidence_count(w) == 0
    assert "Nothing to undo" in page(response)


def test_fill_of_a_target_not_on_the_assessment_is_refused(client, world_a):
    w = world_a
    client.force_login(w.teacher)
    response = client.post(
        score_url(w, "score_fill"), {"target": w.targets[2].id, "value": "3"}, follow=True
    )
    assert "Those learning targets are not all aligned to this assessment." in page(response)
    assert evidence_count(w) == 0


def test_undo_after_fill_voids_exactly_the_filled_cells(client, world_a):
    w = world_a
    s0 = w.students[0]
    t0 = w.targets[0]
    existing = record(w, s0, t0, "2")
    client.force_login(w.teacher)
    client.post(score_url(w, "score_fill"), {"value": "1"})
    with scopes_disabled():
        filled = list(
            Evidence.objects.filter(school=w.school, voided_at__isnull=True).exclude(id=existing.id)
        )
    assert len(filled) == 5
    response = client.post(score_url(w, "score_undo"), follow=True)
    assert "Undone: fill 5 cells with 1." in page(response)
    for evidence in filled:
        evidence.refresh_from_db()
        assert evidence.voided_at is not None and evidence.void_reason == "Undone (fill)"
    existing.refresh_from_db()
    assert existing.voided_at is None
    assert mastery(w, w.students[1], t0).evidence_count == 0
    assert mastery(w, s0, t0).score == Decimal(2)


# --- The undo stack --------------------------------------------------------------------------------


def test_undo_takes_back_the_last_change_and_restores_the_previous_value(client, world_a):
    w = world_a
    s, t = w.students[1], w.targets[0]
    client.force_login(w.teacher)
    post_cell(client, w, s, t, "2")
    post_cell(client, w, s, t, "3")
    first, second = rows(w, s, t)
    response = client.post(score_url(w, "score_undo"), follow=True)
    assert response.status_code == 200
    restored = live(w, s, t)
    assert restored.score == Decimal(2)
    assert restored.id not in (first.id, second.id)  # a new row: history is never rewritten
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.voided_at is not None and first.void_reason == "Replaced by a new score"
    assert second.voided_at is not None and second.void_reason == "Undone"
    assert mastery(w, s, t).score == Decimal(2)
    assert f"Undone: {s.display_name}: 3 on {t.code} (was 2)." in page(response)


def test_undoing_twice_walks_back_to_the_empty_cell(client, world_a):
    w = world_a
    s, t = w.students[1], w.targets[0]
    client.force_login(w.teacher)
    post_cell(client, w, s, t, "2")
    post_cell(client, w, s, t, "3")
    client.post(score_url(w, "score_undo"))
    assert live(w, s, t).score == Decimal(2)
    response = client.post(score_url(w, "score_undo"), follow=True)
    assert "nothing was undone" not in page(response)
    assert live(w, s, t) is None
    assert all(e.voided_at is not None for e in rows(w, s, t))
    assert mastery(w, s, t).evidence_count == 0


def test_undo_of_a_single_score_empties_the_cell(client, world_a):
    w = world_a
    s, t = w.students[1], w.targets[0]
    client.force_login(w.teacher)
    post_cell(client, w, s, t, "2")
    client.post(score_url(w, "score_undo"))
    assert live(w, s, t) is None
    (only,) = rows(w, s, t)
    assert only.void_reason == "Undone"


def test_undo_of_a_clear_brings_the_score_back(client, world_a):
    w = world_a
    s, t = w.students[1], w.targets[0]
    record(w, s, t, "3")
    client.force_login(w.teacher)
    post_cell(client, w, s, t, "")
    assert live(w, s, t) is None
    client.post(score_url(w, "score_undo"))
    assert live(w, s, t).score == Decimal(3)
    assert mastery(w, s, t).score == Decimal(3)


def test_undo_on_an_empty_stack_says_nothing_to_undo_and_changes_nothing(client, world_a):
    w = world_a
    record(w, w.students[0], w.targets[0], "3")
    before = rows(w, w.students[0], w.targets[0])
    client.force_login(w.teacher)
    response = client.post(score_url(w, "score_undo"), follow=True)
    assert "There is nothing to undo." in page(response)
    assert rows(w, w.students[0], w.targets[0]) == before
    assert live(w, w.students[0], w.targets[0]).score == Decimal(3)


def test_each_teacher_has_their_own_undo_stack(client, world_a):
    w = world_a
    s, t = w.students[1], w.targets[0]
    client.force_login(w.admin)
    post_cell(client, w, s, t, "4")
    client.force_login(w.teacher)
    response = client.post(score_url(w, "score_undo"), follow=True)
    assert "There is nothing to undo." in page(response)
    assert live(w, s, t).score == Decimal(4)
    client.force_login(w.admin)
    client.post(score_url(w, "score_undo"))
    assert live(w, s, t) is None


def test_the_undo_stack_belongs_to_one_section_of_a_common_assessment(client, world_a):
    # Issue [10] item 2: Period 2's page offered, and reverted, a Period 1 change.
    w = world_a
    t = w.targets[0]
    with scopes_disabled():
        SectionTeacher.objects.create(school=w.school, section=w.other_section, teacher=w.teacher)
    client.force_login(w.teacher)
    post_cell(client, w, w.students[1], t, "2")
    period_2 = score_url(w, section=w.other_section)
    assert "Nothing to undo" in page(client.get(period_2))
    response = client.post(score_url(w, "score_undo", section=w.other_section), follow=True)
    assert "There is nothing to undo." in page(response)
    assert live(w, w.students[1], t).score == Decimal(2)
    other = w.other_students[0]
    client.post(
        score_url(w, "score_cell", section=w.other_section),
        {key(other, t): "4"},
        HTTP_HX_REQUEST="true",
    )
    label = f"{other.display_name}: 4 on {t.code} (was empty)"
    assert label in page(client.get(period_2))
    response = client.post(score_url(w, "score_undo", section=w.other_section), follow=True)
    assert f"Undone: {label}." in page(response)
    assert live(w, other, t) is None
    assert live(w, w.students[1], t).score == Decimal(2)
    # Period 1's stack still holds its own change.
    assert f"{w.students[1].display_name}: 2 on {t.code} (was empty)" in page(
        client.get(score_url(w))
    )


def test_the_undo_stack_belongs_to_one_assessment(client, world_a):
    w = world_a
    s, t = w.students[1], w.targets[0]
    other = make_assessment(w.school, w.course, [t], on=days_ago(1))
    client.force_login(w.teacher)
    post_cell(client, w, s, t, "4")
    response = client.post(score_url(w, "score_undo", assessment=other), follow=True)
    assert "There is nothing to undo." in page(response)
    assert live(w, s, t).score == Decimal(4)


# --- Cell detail: history, explanation, rubric, chart ---------------------------------------------


def test_the_cell_detail_shows_all_evidence_the_steps_the_rubric_and_the_chart(client, world_a):
    w = world_a
    s, t = w.students[1], w.targets[0]
    wrong = record(w, s, t, "1")
    with scope(school=w.school):
        evidence_void(
            school=w.school, evidence_id=wrong.id, voided_by=w.teacher, reason="Wrong student"
        )
    quiz = make_assessment(w.school, w.course, [t], on=days_ago(3), kind="formative", title="Quiz")
    record(w, s, t, "2")
    record(w, s, t, "4", assessment=quiz)
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


def test_the_cell_detail_of_a_target_outside_the_course_answers_404(client, world_a):
    w = world_a
    with scopes_disabled():
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
    record(w, s, t, "2")  # the summative, 7 days ago
    record(w, s, t, "2", assessment=quiz)  # 3 days ago: the latest original
    record(w, s, t, "2", assessment=earlier_retake)  # a reassessment is never an original
    record(w, s, w.targets[1], "3", assessment=later_other_target)  # another target
    record(w, w.students[0], t, "1", assessment=earlier_retake)
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
    with scopes_disabled():
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
    record(w, s, t, "2")  # Algebra 1, 7 days ago
    record(w, s, t, "2", assessment=geo_quiz, by=w.other_teacher)  # Geometry, 2 days ago
    client.force_login(w.teacher)
    response = client.post(
        cell_url(w, s, t, "cell_reassess"), {"value": "4", "assessed_on": date.today().isoformat()}
    )
    assert response.status_code == 302
    with scopes_disabled():
        new = Assessment.objects.get(school=w.school, kind="reassessment")
    assert new.course == w.course
    assert new.original == w.assessment


def test_a_reassessment_with_a_bad_date_answers_422_and_writes_nothing(client, world_a):
    w = world_a
    s, t = w.students[1], w.targets[0]
    client.force_login(w.teacher)
    with scopes_disabled():
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
    with scopes_disabled():
        assert Assessment.objects.filter(school=w.school).count() == assessments
    assert evidence_count(w) == 0


# --- Void from the cell detail ---------------------------------------------------------------------


def test_voiding_needs_a_reason(client, world_a):
    w = world_a
    s, t = w.students[1], w.targets[0]
    evidence = record(w, s, t, "3")
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
    keep = record(w, s, t, "2")
    wrong = record(w, s, t, "4", assessment=quiz)
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
    evidence = record(w, s, t, "3")
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
    other = record(w, w.students[2], t, "3")
    response = client.post(void_url(w, other), {"reason": "Typo"}, **HTMX)
    assert 'hx-swap-oob="true"' not in page(response)


def test_evidence_of_a_student_of_another_section_cannot_be_voided_here(client, world_a):
    w = world_a
    foreign = record(w, w.other_students[0], w.targets[0], "3", by=w.other_teacher)
    client.force_login(w.teacher)
    response = client.post(void_url(w, foreign), {"reason": "Not mine"})
    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.voided_at is None


def test_evidence_of_another_course_cannot_be_voided_through_ones_own_section(client, world_a):
    w = world_a
    shared = w.students[1]
    with scopes_disabled():
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
    bio_evidence = record(w, shared, target, "4", assessment=lab, by=w.other_teacher)
    client.force_login(w.teacher)  # teaches Algebra 1, Period 1 only
    response = client.post(void_url(w, bio_evidence), {"reason": "I do not teach Biology"})
    assert response.status_code == 404
    bio_evidence.refresh_from_db()
    assert bio_evidence.voided_at is None


# --- Assessments -----------------------------------------------------------------------------------


def assessment_data(w, **overrides) -> dict:
    data = {
        "title": "Unit 2 quiz",
        "kind": "formative",
        "assessed_on": days_ago(1).isoformat(),
        "scope": "course",
        "targets": [w.targets[0].id, w.targets[2].id],
        "tier": "",
        "original": "",
        "description": "",
    }
    data.update(overrides)
    return data


def test_the_assessment_list_shows_how_many_cells_are_left_to_score(client, world_a):
    w = world_a
    section_only = make_assessment(
        w.school, w.course, [w.targets[2]], on=days_ago(1), section=w.section, title="Exit ticket"
    )
    make_assessment(
        w.school, w.course, [w.targets[2]], on=days_ago(1), section=w.other_section, title="Theirs"
    )
    record(w, w.students[0], w.targets[0], "3")
    fill(w, "3", assessment=section_only)
    client.force_login(w.teacher)
    content = page(client.get(url("assessment_list", w, section_id=w.section.id)))
    row = section_of(content, w.assessment.title, "</tr>")
    assert "5 to score" in row  # 3 students × 2 targets, 1 scored
    row = section_of(content, "Exit ticket", "</tr>")
    assert "all scored" in row and "this section" in row
    assert "Theirs" not in content


def test_creating_a_common_assessment_redirects_to_its_scoring_page(client, world_a):
    w = world_a
    client.force_login(w.teacher)
    response = client.post(url("assessment_create", w, section_id=w.section.id), assessment_data(w))
    assert response.status_code == 302
    with scopes_disabled():
        created = Assessment.objects.get(school=w.school, title="Unit 2 quiz")
        aligned = set(created.targets.values_list("id", flat=True))
    assert response["Location"] == score_url(w, assessment=created)
    assert created.section is None and created.kind == "formative"
    assert created.created_by == w.teacher and aligned == {w.targets[0].id, w.targets[2].id}


def test_creating_an_assessment_for_this_section_only(client, world_a):
    w = world_a
    client.force_login(w.teacher)
    response = client.post(
        url("assessment_create", w, section_id=w.section.id),
        assessment_data(w, scope="section", title="Just us"),
        follow=True,
    )
    assert response.redirect_chain[0][1] == 302
    with scopes_disabled():
        created = Assessment.objects.get(school=w.school, title="Just us")
    assert created.section == w.section
    client.force_login(w.other_teacher)
    other_list = page(client.get(url("assessment_list", w, section_id=w.other_section.id)))
    assert "Just us" not in other_list


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"targets": []}, "This field is required."),
        ({"assessed_on": "2001-01-01"}, "Jan 1, 2001 is outside the term (This year)."),
        ({"kind": "formative", "original": "ORIGINAL"}, "Only a reassessment retakes an original"),
    ],
    ids=["no-targets", "outside-term", "original-on-formative"],
)
def test_an_invalid_assessment_is_refused_with_422_and_not_created(
    client, world_a, overrides, message
):
    w = world_a
    if overrides.get("original") == "ORIGINAL":
        overrides = {**overrides, "original": w.assessment.id}
    client.force_login(w.teacher)
    with scopes_disabled():
        before = Assessment.objects.filter(school=w.school).count()
    response = client.post(
        url("assessment_create", w, section_id=w.section.id), assessment_data(w, **overrides)
    )
    assert response.status_code == 422
    assert message in page(response)
    with scopes_disabled():
        assert Assessment.objects.filter(school=w.school).count() == before


def test_a_reassessment_may_name_its_original(client, world_a):
    w = world_a
    client.force_login(w.teacher)
    response = client.post(
        url("assessment_create", w, section_id=w.section.id),
        assessment_data(w, kind="reassessment", original=w.assessment.id, title="Retake"),
    )
    assert response.status_code == 302
    with scopes_disabled():
        assert Assessment.objects.get(school=w.school, title="Retake").original == w.assessment


def edit(client, w, assessment, **overrides):
    with scopes_disabled():
        targets = list(assessment.targets.values_list("id", flat=True))
    data = assessment_data(
        w,
        title=assessment.title,
        kind=assessment.kind,
        assessed_on=assessment.assessed_on.isoformat(),
        scope="section" if assessment.section_id else "course",
        targets=targets,
    )
    data.update(overrides)
    return client.post(
        url("assessment_edit", w, section_id=w.section.id, assessment_id=assessment.id), data
    )


def test_changing_the_kind_updates_the_evidence_and_the_levels(client, world_a):
    w = world_a
    s, t = w.students[0], w.targets[0]
    scored = record(w, s, t, "3")
    record(w, w.students[1], t, "2")
    record(w, w.students[1], t, "4")  # replaces (voids) the 2
    assert mastery(w, s, t).level == Decimal(3)
    client.force_login(w.teacher)
    response = edit(client, w, w.assessment, kind="pre")
    assert response.status_code == 302
    scored.refresh_from_db()
    assert scored.kind == "pre"
    result = mastery(w, s, t)
    assert result.score is None and result.level is None and not result.mastered
    assert result.evidence_count == 1 and result.scores_counted == 0
    assert mastery(w, w.students[1], t).level is None
    # And back: a summative counts again.
    edit(client, w, w.assessment, kind="summative")
    assert mastery(w, s, t).level == Decimal(3)


def test_moving_the_date_moves_the_evidence_dated_with_it(client, world_a):
    w = world_a
    evidence = record(w, w.students[0], w.targets[0], "3")
    client.force_login(w.teacher)
    edit(client, w, w.assessment, assessed_on=days_ago(20).isoformat())
    evidence.refresh_from_db()
    assert evidence.assessed_on == days_ago(20)
    assert mastery(w, w.students[0], w.targets[0]).last_evidence_on == days_ago(20)


def test_removing_a_target_that_has_scores_is_refused(client, world_a):
    w = world_a
    record(w, w.students[0], w.targets[0], "3")
    client.force_login(w.teacher)
    response = edit(client, w, w.assessment, targets=[w.targets[1].id])
    assert response.status_code == 422
    assert "exist on the targets you removed; void them first." in page(response)
    with scopes_disabled():
        aligned = set(
            AssessmentTarget.objects.filter(assessment=w.assessment).values_list(
                "target_id", flat=True
            )
        )
    assert aligned == {w.targets[0].id, w.targets[1].id}
    # A target without scores may go.
    assert edit(client, w, w.assessment, targets=[w.targets[0].id]).status_code == 302
    with scopes_disabled():
        assert list(w.assessment.targets.values_list("id", flat=True)) == [w.targets[0].id]


def test_a_common_assessment_with_other_sections_scores_is_not_narrowed_silently(client, world_a):
    w = world_a
    theirs = record(w, w.other_students[0], w.targets[0], "3", by=w.other_teacher)
    client.force_login(w.teacher)
    edit(client, w, w.assessment, scope="section")
    w.assessment.refresh_from_db()
    theirs.refresh_from_db()
    # Either the edit is refused, or nothing of another section is left live on the assessment.
    assert w.assessment.section_id is None or theirs.voided_at is not None
    client.force_login(w.other_teacher)
    if w.assessment.section_id is None:
        assert client.get(score_url(w, section=w.other_section)).status_code == 200


def test_another_sections_own_assessment_cannot_be_edited_or_scored_here(client, world_a):
    w = world_a
    theirs = make_assessment(
        w.school, w.course, [w.targets[0]], on=days_ago(1), section=w.other_section
    )
    client.force_login(w.teacher)
    assert edit(client, w, theirs, title="Hijacked").status_code == 404
    assert client.get(score_url(w, assessment=theirs)).status_code == 404
    theirs.refresh_from_db()
    assert theirs.title != "Hijacked"


# --- Who needs reassessment ------------------------------------------------------------------------


def test_the_reassessment_list_shows_students_below_mastery_per_target(client, world_a):
    w = world_a
    s0, s1, s2 = w.students
    t0, t1 = w.targets[0], w.targets[1]
    record(w, s0, t0, "4")
    record(w, s1, t0, "2")
    record(w, s2, t0, "1")
    record(w, s0, t1, "3")
    record(w, w.other_students[0], t0, "1", by=w.other_teacher)
    client.force_login(w.teacher)
    content = page(client.get(url("reassessment_list", w, section_id=w.section.id)))
    first = section_of(content, f'id="t-{t0.id}"', "</section>")
    assert "2 students not yet at mastery" in first
    assert s1.sortable_name in first and s2.sortable_name in first
    assert s0.sortable_name not in first
    assert w.other_students[0].sortable_name not in content
    assert first.index(s2.sortable_name) < first.index(s1.sortable_name)  # lowest first
    second = section_of(content, f'id="t-{t1.id}"', "</section>")
    assert "Everyone with evidence has reached mastery." in second


def test_open_requests_are_listed_and_can_be_declined(client, world_a):
    w = world_a
    request = make_request(w)
    client.force_login(w.teacher)
    list_url = url("reassessment_list", w, section_id=w.section.id)
    content = page(client.get(list_url))
    requests = section_of(content, "Requests from students", "</section>")
    assert f"<strong>{w.students[1].display_name}</strong> · {w.targets[0].code}" in requests
    response = client.post(
        url("request_resolve", w, section_id=w.section.id, request_id=request.id),
        {"status": "declined"},
    )
    assert response.status_code == 302 and response["Location"] == list_url
    request.refresh_from_db()
    assert request.status == "declined" and request.resolved_by == w.teacher
    assert request.resolved_at is not None
    assert "Requests from students" not in page(client.get(list_url))


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/phish",
        "//evil.example/s/alpha/",
        "/s/beta/sections/1/",
        "/accounts/logout/",
        "javascript:alert(1)",
    ],
)
def test_resolving_a_request_never_follows_a_next_url_outside_the_school(client, world_a, next_url):
    w = world_a
    request = make_request(w)
    client.force_login(w.teacher)
    response = client.post(
        url("request_resolve", w, section_id=w.section.id, request_id=request.id),
        {"status": "scheduled", "next": next_url},
    )
    assert response.status_code == 302
    assert response["Location"] == url("reassessment_list", w, section_id=w.section.id)
    request.refresh_from_db()
    assert request.status == "scheduled"


def test_resolving_a_request_follows_a_next_url_inside_the_school(client, world_a):
    w = world_a
    request = make_request(w)
    client.force_login(w.teacher)
    inside = reverse("school_home", kwargs={"school_slug": w.school.slug})
    response = client.post(
        url("request_resolve", w, section_id=w.section.id, request_id=request.id),
        {"status": "declined", "next": inside},
    )
    assert response["Location"] == inside


def test_a_request_cannot_be_completed_by_hand(client, world_a):
    w = world_a
    request = make_request(w)
    client.force_login(w.teacher)
    response = client.post(
        url("request_resolve", w, section_id=w.section.id, request_id=request.id),
        {"status": "completed"},
        follow=True,
    )
    assert "A request can be scheduled or declined here." in page(response)
    request.refresh_from_db()
    assert request.status == "open"


# --- The teacher's home page -----------------------------------------------------------------------


def test_home_lists_assessments_that_need_scoring_until_every_cell_is_filled(client, world_a):
    w = world_a
    record(w, w.students[0], w.targets[0], "3")
    home = reverse("school_home", kwargs={"school_slug": w.school.slug})
    client.force_login(w.teacher)
    content = page(client.get(home))
    todo = section_of(content, "Needs scoring", "</section>")
    assert w.assessment.title in todo and "5 cells empty" in todo
    assert score_url(w) in todo
    fill(w, "3")
    content = page(client.get(home))
    todo = section_of(content, "Needs scoring", "</section>")
    assert w.assessment.title not in todo
    assert "Every recent assessment is scored." in todo


def test_home_lists_open_reassessment_requests_of_ones_sections(client, world_a):
    w = world_a
    request = make_request(w)
    home = reverse("school_home", kwargs={"school_slug": w.school.slug})
    client.force_login(w.teacher)
    box = section_of(page(client.get(home)), "Reassessment requests", "</section>")
    assert f"{w.students[1].display_name} · {w.targets[0].code}" in box
    assert cell_url(w, w.students[1], w.targets[0]) in box
    client.force_login(w.other_teacher)
    box = section_of(page(client.get(home)), "Reassessment requests", "</section>")
    assert "No open requests." in box
    with scopes_disabled():
        ReassessmentRequest.objects.filter(pk=request.pk).update(status="declined")
    client.force_login(w.teacher)
    box = section_of(page(client.get(home)), "Reassessment requests", "</section>")
    assert "No open requests." in box


# --- Input no row or scale can hold (issue 21 item 6) -----------------------------------------------


@pytest.mark.parametrize(
    ("query", "wrong"),
    [
        ({"show": "level", "target": "1", "level": "sNaN"}, "level"),
        ({"show": "level", "level": "NaN"}, "level"),
        ({"level": "2.7"}, "level"),  # not a level of the scale
        ({"target": str(2**63)}, "target"),
        ({"target": "²"}, "target"),
        ({"sort": "sideways"}, "sort"),
    ],
)
def test_a_grid_query_its_controls_never_send_is_a_400_with_the_grid(client, world_a, query, wrong):
    w = world_a
    client.force_login(w.teacher)
    response = client.get(grid_url(w), query)
    assert response.status_code == 400
    content = page(response)
    assert w.students[0].display_name in content  # the grid as it opens, and what was wrong
    assert f"{wrong}: " in content


def test_a_grid_query_at_a_level_of_the_scale_still_filters(client, world_a):
    w = world_a
    record(w, w.students[0], w.targets[0], "3")
    client.force_login(w.teacher)
    query = {"show": "level", "target": w.targets[0].id, "level": "3.0"}
    response = client.get(grid_url(w), query)
    assert response.status_code == 200
    assert w.students[0].display_name in page(response)
    assert w.students[1].display_name not in page(response)


@pytest.mark.parametrize("target", ["²", str(2**63), "abc"])
def test_fill_with_a_target_no_row_can_have_is_refused_not_a_fill_of_every_target(
    client, world_a, target
):
    w = world_a
    client.force_login(w.teacher)
    response = client.post(score_url(w, "score_fill"), {"target": target, "value": "3"})
    assert response.status_code == 422
    assert "Choose a learning target of this assessment." in page(response)
    assert evidence_count(w) == 0


def test_fill_with_a_value_off_the_scale_answers_422(client, world_a):
    w = world_a
    client.force_login(w.teacher)
    response = client.post(score_url(w, "score_fill"), {"value": "7"}, **HTMX)
    assert response.status_code == 422 and "7 is not on the scale" in page(response)
    assert evidence_count(w) == 0


def test_the_grid_forms_refused_comment_answers_422(client, world_a):
    w = world_a
    client.force_login(w.teacher)
    response = client.post(score_url(w), {f"fb-{w.students[0].id}": "x" * 4001})
    assert response.status_code == 422
    assert "Feedback is limited to 4000 characters." in page(response)


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
    evidence = record(w, s, t, "3")
    client.force_login(w.teacher)
    response = client.post(void_url(w, evidence), {"reason": "typo\x00"})
    assert response.status_code == 422 and "Null characters are not allowed." in page(response)
    evidence.refresh_from_db()
    assert evidence.voided_at is None


def test_a_signed_in_persons_pages_are_never_kept_by_the_browser(client, world_a):
    # Pages change in place: a copy kept by the browser comes back stale on Back (issue [10] item 4).
    client.force_login(world_a.teacher)
    for response in (
        client.get(grid_url(world_a)),
        client.get(score_url(world_a, "score")),
        client.get(grid_url(world_a), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="grid"),
    ):
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"]
    # A family's child page too (its server-side page cache, mastery.pagecache, is another matter).
    client.force_login(world_a.guardian)
    child = reverse("reports:child", args=[world_a.school.slug, world_a.students[0].id])
    for _ in range(2):
        response = client.get(child)
        assert response.status_code == 200 and "no-store" in response["Cache-Control"]


def test_a_view_that_decides_its_own_caching_keeps_it(rf, world_a):
    cached = HttpResponse("a page that may be kept")
    patch_cache_control(cached, private=True, max_age=60)
    request = rf.get("/")
    request.user = world_a.teacher
    assert NoStoreMiddleware(lambda r: cached)(request)["Cache-Control"] == "private, max-age=60"
    request.user = AnonymousUser()
    assert not NoStoreMiddleware(lambda r: HttpResponse("a login page"))(request).has_header(
        "Cache-Control"
    )


def test_the_grids_level_filter_sends_numbers_as_markup_reads_them_in_spanish(client, world_a):
    # A Spanish-speaking teacher: the labels say "2,5", the option values stay "2.5" (a value is
    # read by the form, not by a person), and choosing one filters the grid.
    world_a.teacher.preferred_language = "es"
    world_a.teacher.save()
    with scopes_disabled():
        ScaleLevel.objects.create(
            school=world_a.school,
            scale=ProficiencyScale.objects.get(school=world_a.school, kind="achievement"),
            value=Decimal("2.5"),
            label="Casi",
            cutoff=Decimal("2.5"),
        )
    client.force_login(world_a.teacher)
    url = grid_url(world_a)
    page = client.get(url).content.decode()
    values = re.findall(r'<option value="([^"]*)"', page)
    levels = [v for v in values if v and v[0].isdigit()]
    assert "2.5" in levels and all("," not in v for v in levels)
    assert ">2,5 Casi<" in page
    assert client.get(url, {"show": "level", "level": "2.5"}).status_code == 200
