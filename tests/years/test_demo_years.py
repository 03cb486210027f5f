"""The demo's school years: the current year and a closed last year whose levels show as context."""

from __future__ import annotations

from django.urls import reverse
from django_scopes import scope

from devtools.demo.years import demo_school_years
from gradebook.models import Mastery, SchoolYear, YearEndMastery
from grading.school import school_recompute_sql
from tests.factories import make_evidence
from tests.gradebook.pages import cell_url, page


def test_the_demo_years_are_made_once_and_show_as_last_years_context(client, world_a):
    w = world_a
    make_evidence(w, w.students[1], w.targets[0], "3")
    with scope(school=w.school):
        before = list(Mastery.objects.filter(school=w.school).values_list("score", "level"))
        for _ in range(2):
            current = demo_school_years(
                school=w.school, starts_on=w.term.starts_on, ends_on=w.term.ends_on
            )
        assert SchoolYear.objects.filter(school=w.school).count() == 2
        last = SchoolYear.objects.get(school=w.school, closed_at__isnull=False)
        kept = YearEndMastery.objects.filter(school=w.school, year=last)
        # Every enrolled student on each target of their course, once.
        assert kept.count() == (len(w.students) + len(w.other_students)) * len(w.targets)
        school_recompute_sql(w.school)
        after = list(Mastery.objects.filter(school=w.school).values_list("score", "level"))
    assert current.starts_on == w.term.starts_on and last.ends_on < current.starts_on
    assert after == before  # this year's evidence is all inside this year
    client.force_login(w.teacher)
    text = page(client.get(cell_url(w, w.students[1], w.targets[0])))
    assert f"Last year ({last.name}):" in text and "context, not this year's grade" in text
    client.force_login(w.admin)
    assert last.name in page(client.get(reverse("years:home", args=[w.school.slug])))
