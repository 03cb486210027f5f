"""The section grid: students by targets with the course grades, its filters and sorting, the
hot pages' pinned query counts, and the pages never kept by the browser."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django_scopes import scope

from gradebook.models import AssessmentFeedback, CourseTarget
from mastery.middleware import NoStoreMiddleware
from mastery.models import Competency, LearningTarget, ProficiencyScale, ScaleLevel
from tests.factories import make_assessment, make_evidence, make_student
from tests.gradebook.pages import (
    HTMX,
    days_ago,
    fill,
    grid_url,
    key,
    live,
    page,
    score_url,
    section_of,
)

# Pinned query counts of the hot pages (docs/design.md section 6): the same for 3 students and 33.
# Each includes the user and the school-with-membership lookups of the request (the session is
# read from the cache); the cell POST also counts, inside the test transaction, the savepoint of
# the view's atomic block and the one guarding the INSERT against a concurrent save of the same
# cell (4 of its 26), the one INSERT of its audit event and the one of its alert (mastery.outbox).
# The grid page's last two read who is owed feedback (gradebook.selectors.feedback: the
# enrolments, then the latest feedback).
QUERIES_GRID_PAGE = 10


QUERIES_SCORE_CELL_POST = 26


QUERIES_SCORING_PAGE = 13


# --- Helpers ---------------------------------------------------------------------------------------


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


# --- The section grid ------------------------------------------------------------------------------


@pytest.fixture
def graded(world_a):
    """Three students with different results: Student0 4/4, Student1 2/–, Student2 3/2."""
    w = world_a
    s0, s1, s2 = w.students
    t0, t1, _ = w.targets
    make_evidence(w, s0, t0, "4")
    make_evidence(w, s0, t1, "4")
    make_evidence(w, s1, t0, "2")
    make_evidence(w, s2, t0, "3")
    make_evidence(w, s2, t1, "2")
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
            for lv, n in re.findall(
                r'class="level__mark" aria-hidden="true" data-mark="(\d)"></span>(\d+)', c
            )
        )
        for c in columns
    ]
    assert dist == [
        "0 at 1 1 at 2 1 at 3 1 at 4",
        "0 at 1 1 at 2 0 at 3 1 at 4",
        "0 at 1 0 at 2 0 at 3 0 at 4",
    ]
    assert "<title>1 without a level</title>" in content  # F2: Student1 has no evidence


def test_the_grid_groups_targets_by_competency_in_competency_order(client, world_a, in_school):
    w = world_a
    with in_school(w):
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
    with scope(school=w.school):
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


# --- Input no row or scale can hold (issue 21 item 6) ----------------------------------------------


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
    make_evidence(w, w.students[0], w.targets[0], "3")
    client.force_login(w.teacher)
    query = {"show": "level", "target": w.targets[0].id, "level": "3.0"}
    response = client.get(grid_url(w), query)
    assert response.status_code == 200
    grid = page(response).split('id="grid"', 1)[1]  # not the "owed feedback" notice above it
    assert w.students[0].display_name in grid
    assert w.students[1].display_name not in grid


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


def test_the_grids_level_filter_sends_numbers_as_markup_reads_them_in_spanish(
    client, world_a, in_school
):
    # A Spanish-speaking teacher: the labels say "2,5", the option values stay "2.5" (a value is
    # read by the form, not by a person), and choosing one filters the grid.
    world_a.teacher.preferred_language = "es"
    world_a.teacher.save()
    with in_school(world_a):
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
