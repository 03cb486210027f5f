"""After the rollover: teachers see last year's levels as context (never as this year's grade),
a closed year stays readable on the student's page, archived sections leave the home page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django_scopes import scope

from gradebook.models import Enrollment, Section, SectionTeacher, Term
from tests.factories import make_assessment, make_evidence
from tests.gradebook.pages import cell_url, page
from tests.years.support import TODAY, closing_year, roll_over


@pytest.fixture
def new_year(world_a, django_capture_on_commit_callbacks):
    """2025-2026 closed by a rollover run three days into 2026-2027, and the teacher's
    Algebra section of the new year with the same students."""
    c = closing_year(
        world_a,
        ends_on=TODAY - timedelta(days=4),
        next_starts_on=TODAY - timedelta(days=3),
        intervention=False,
    )
    _, rollover = roll_over(c, django_capture_on_commit_callbacks)
    assert rollover.status == "done", rollover.error
    w = c.w
    with scope(school=w.school):
        term = Term.objects.create(
            school=w.school,
            name="2026-2027",
            starts_on=c.next_year.starts_on,
            ends_on=c.next_year.ends_on,
        )
        section = Section.objects.create(
            school=w.school, course=w.course, term=term, name="Period 1 (new)", period=1
        )
        SectionTeacher.objects.create(school=w.school, section=section, teacher=w.teacher)
        for student in w.students:
            Enrollment.objects.create(school=w.school, section=section, student=student)
    return c, section


def test_the_cell_shows_last_years_level_as_context_not_as_this_years(client, new_year):
    c, section = new_year
    w = c.w
    client.force_login(w.teacher)
    text = page(client.get(cell_url(w, c.retained, w.targets[0], section=section)))
    assert "Last year (2025-2026): 2 Developing — context, not this year's grade." in text
    # The same competency's other target, last year.
    assert f"{w.targets[1].code}: 3 Proficient" in text
    # This year's level has no evidence yet; last year's attempt is listed, not counted.
    assert "No evidence yet" in text
    assert "1 piece of evidence below is from an earlier school year" in text


def test_this_years_first_score_is_the_level_and_last_years_stays_context(client, new_year):
    c, section = new_year
    w = c.w
    fresh = make_assessment(w.school, w.course, w.targets[:1], on=TODAY - timedelta(days=1))
    make_evidence(w, c.retained, w.targets[0], "4", assessment=fresh)
    client.force_login(w.teacher)
    text = page(client.get(cell_url(w, c.retained, w.targets[0], section=section)))
    assert "of 1 score: 4" in text
    assert "Last year (2025-2026): 2 Developing — context, not this year's grade." in text


def test_a_student_without_last_year_levels_shows_no_context(client, new_year):
    c, section = new_year
    w = c.w
    client.force_login(w.teacher)
    text = page(client.get(cell_url(w, c.no_grade, w.targets[0], section=section)))
    assert "Last year (" not in text


def test_the_student_page_shows_last_years_level_and_the_closed_year(client, new_year):
    c, _ = new_year
    w = c.w
    client.force_login(w.teacher)
    url = reverse("gradebook:student_detail", args=[w.school.slug, c.retained.id])
    text = page(client.get(url))
    assert "Last year (2025-2026): 2 Developing — context, not this year's grade." in text
    assert "Period 1 (new)" in text and "· Period 2" not in text  # this year's section only
    assert f"?year={c.year.id}" in text
    closed = page(client.get(url, {"year": c.year.id}))
    assert "2025-2026 as it stood when the year was closed" in closed
    assert "Developing" in closed and "Proficient" in closed
    assert "Last year (" not in closed


@pytest.mark.parametrize("year", ["nope", "0", "99999999999999999999999", "open"])
def test_a_year_that_is_not_a_closed_year_of_the_school_answers_404(
    client, new_year, world_b, year
):
    c, _ = new_year
    w = c.w
    if year == "open":
        with scope(school=w.school):
            year = str(w.school.gradebook_schoolyear_set.get(name="2026-2027").id)
    client.force_login(w.teacher)
    url = reverse("gradebook:student_detail", args=[w.school.slug, c.retained.id])
    assert client.get(url, {"year": year}).status_code == 404


def test_archived_sections_leave_the_teachers_home_but_stay_readable(client, new_year):
    c, section = new_year
    w = c.w
    client.force_login(w.teacher)
    home = page(client.get(reverse("school_home", args=[w.school.slug])))
    assert reverse("gradebook:section_detail", args=[w.school.slug, section.id]) in home
    archived = reverse("gradebook:section_detail", args=[w.school.slug, w.section.id])
    assert archived not in home
    assert client.get(archived).status_code == 200
