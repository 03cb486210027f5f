"""The years page: who gets in, adding a year, the preview (a dry run) then the run, a double
submit, a plan that changed, bad input, the rollover's progress, a closed year's page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from gradebook.models import SchoolYear, Section
from mastery.models import AuditEvent, District, DistrictMembership
from tests.factories import make_user
from tests.gradebook.pages import HTMX, page
from tests.years.support import TODAY, closing_year, table_counts
from years.models import YearRollover


@pytest.fixture
def closing(world_a):
    return closing_year(world_a)


def years_url(w) -> str:
    return reverse("years:home", args=[w.school.slug])


def form_data(c, action: str = "preview", **changes) -> dict:
    data = {
        "action": action,
        "year": str(c.year.id),
        "name": c.next_year.name,
        "starts_on": c.next_year.starts_on.isoformat(),
        "ends_on": c.next_year.ends_on.isoformat(),
        "promote": "on",
        "top_grade": "12",
        "retained": f"{c.retained.local_id}\n",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def fingerprint(response) -> str:
    return re.search(r'name="confirm_of" value="(\w+)"', page(response)).group(1)


def rollovers(w) -> list[YearRollover]:
    with scope(school=w.school):
        return list(YearRollover.objects.filter(school=w.school))


# --- Who gets in ---------------------------------------------------------------------------------


@pytest.mark.parametrize("member", ["teacher", "counselor", "guardian", "student_user"])
def test_only_school_admins_open_the_years_pages(client, closing, member):
    c, w = closing, closing.w
    client.force_login(getattr(w, member))
    before = table_counts()
    assert client.get(years_url(w)).status_code == 403
    assert client.post(years_url(w), form_data(c)).status_code == 403
    assert client.get(reverse("years:year", args=[w.school.slug, c.year.id])).status_code == 403
    assert table_counts() == before


def test_a_district_admin_of_another_district_and_an_outsider_get_404(client, closing, outsider):
    w = closing.w
    north = District.objects.create(name="North", slug="north")
    chief = make_user("chief@north.test", "Chief")
    DistrictMembership.objects.create(district=north, user=chief)
    for user in (chief, outsider):
        client.force_login(user)
        assert client.get(years_url(w)).status_code == 404


def test_school_bs_admin_can_neither_see_nor_run_school_as_rollover(
    client, closing, world_b, django_capture_on_commit_callbacks
):
    c, w = closing, closing.w
    client.force_login(w.admin)
    preview = client.post(years_url(w), form_data(c))
    with django_capture_on_commit_callbacks(execute=False):
        client.post(years_url(w), form_data(c, "run", confirm_of=fingerprint(preview)))
    (rollover,) = rollovers(w)
    client.force_login(world_b.admin)
    before = table_counts()
    assert client.get(years_url(w)).status_code == 404
    assert client.post(years_url(w), form_data(c, "run")).status_code == 404
    a_url = reverse("years:rollover", args=[w.school.slug, rollover.id])
    assert client.get(a_url).status_code == 404
    # Through B's own address, A's rollover and A's year are not found either.
    assert (
        client.get(reverse("years:rollover", args=[world_b.school.slug, rollover.id])).status_code
        == 404
    )
    assert (
        client.post(reverse("years:rollover", args=[world_b.school.slug, rollover.id])).status_code
        == 404
    )
    assert (
        client.get(reverse("years:year", args=[world_b.school.slug, c.year.id])).status_code == 404
    )
    # B's own rollover form does not offer A's year.
    b_page = client.post(years_url(world_b), form_data(c))
    assert b_page.status_code == 422 and "2025-2026" not in page(b_page)
    assert table_counts() == before
    rollover.refresh_from_db()
    assert rollover.status == "planned"


def test_the_school_home_links_the_years_page_for_admins_only(client, closing):
    w = closing.w
    home = reverse("school_home", args=[w.school.slug])
    client.force_login(w.admin)
    assert years_url(w) in page(client.get(home))
    client.force_login(w.counselor)
    assert years_url(w) not in page(client.get(home))


# --- Preview, then run ---------------------------------------------------------------------------


def test_the_admin_previews_the_plan_then_runs_it(
    client, closing, django_capture_on_commit_callbacks
):
    c, w = closing, closing.w
    client.force_login(w.admin)
    first = client.get(years_url(w))
    assert first.status_code == 200
    assert 'value="2026-2027"' in page(first)  # the next year is suggested from the closing one
    before = table_counts()
    preview = client.post(years_url(w), form_data(c))
    text = page(preview)
    assert preview.status_code == 200
    assert "The plan: close 2025-2026, open 2026-2027" in text
    assert "Promote 3 students a grade" in text and "Retain 1 student" in text
    assert "Graduate 1 student" in text and "Archive 2 sections" in text
    assert "Keep 5 year-end records" in text and "Close 2 intervention cycles" in text
    assert table_counts() == before  # the dry run wrote nothing
    with django_capture_on_commit_callbacks(execute=True):
        ran = client.post(years_url(w), form_data(c, "run", confirm_of=fingerprint(preview)))
    (rollover,) = rollovers(w)
    assert ran.status_code == 302
    assert ran["Location"] == f"{years_url(w)}?rollover={rollover.id}"
    assert rollover.status == "done"
    shown = page(client.get(ran["Location"]))
    assert "2025-2026 is closed and 2026-2027 is open." in shown
    assert "3 students promoted, 1 retained, 1 graduated" in shown
    assert "Closed on" in shown
    # The status fragment stops polling once done.
    fragment = client.get(reverse("years:rollover", args=[w.school.slug, rollover.id]), **HTMX)
    assert "hx-get" not in page(fragment) and "5 year-end records kept" in page(fragment)


def test_a_double_click_or_a_resubmit_makes_one_run(
    client, closing, django_capture_on_commit_callbacks
):
    c, w = closing, closing.w
    client.force_login(w.admin)
    data = form_data(c, "run", confirm_of=fingerprint(client.post(years_url(w), form_data(c))))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = client.post(years_url(w), data)
        second = client.post(years_url(w), data)
    assert first["Location"] == second["Location"]
    assert len(rollovers(w)) == 1 and rollovers(w)[0].status == "done"
    assert [cb.__qualname__ for cb in callbacks].count("rollover_start.<locals>.<lambda>") == 1


def test_a_plan_that_changed_since_the_preview_is_shown_again_not_run(client, closing):
    c, w = closing, closing.w
    client.force_login(w.admin)
    old = fingerprint(client.post(years_url(w), form_data(c)))
    with scope(school=w.school):
        Section.objects.create(school=w.school, course=w.course, term=w.term, name="Period 9")
    again = client.post(years_url(w), form_data(c, "run", confirm_of=old))
    assert again.status_code == 200
    assert "The school changed since the plan was shown" in page(again)
    assert "Archive 3 sections" in page(again)
    assert fingerprint(again) != old
    assert rollovers(w) == []


def test_a_run_with_changed_settings_asks_again(client, closing):
    c, w = closing, closing.w
    client.force_login(w.admin)
    previewed = fingerprint(client.post(years_url(w), form_data(c)))
    changed = client.post(years_url(w), form_data(c, "run", confirm_of=previewed, retained=""))
    assert changed.status_code == 200 and "The school changed" in page(changed)
    assert rollovers(w) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"ends_on": (TODAY + timedelta(days=20)).isoformat()},
            "The next year ends after it starts.",
        ),
        ({"starts_on": (TODAY + timedelta(days=5)).isoformat()}, "starts after 2025-2026 ends"),
        ({"retained": "nobody-1\nalpha-1"}, "No student has the number “nobody-1”."),
        ({"year": "99999999999999999999999"}, "Select a valid choice"),
        ({"year": "²"}, "Select a valid choice"),
        ({"starts_on": "2026-13-45"}, "Enter the date as YYYY-MM-DD."),
        ({"starts_on": "0001-01-01"}, "Enter a date between"),
        ({"top_grade": "99"}, "less than or equal to 13"),
        ({"name": ""}, "This field is required."),
        ({"promote": None}, "tick “Promote”"),
    ],
)
def test_bad_input_gets_a_clear_message_and_changes_nothing(client, closing, changes, message):
    c, w = closing, closing.w
    client.force_login(w.admin)
    before = table_counts()
    for action in ("preview", "run"):
        response = client.post(years_url(w), form_data(c, action, confirm_of="x", **changes))
        assert response.status_code == 422, page(response)
        assert message in page(response)
    assert table_counts() == before


def test_a_queued_rollover_that_never_started_can_be_queued_again(
    client, closing, django_capture_on_commit_callbacks
):
    c, w = closing, closing.w
    client.force_login(w.admin)
    data = form_data(c, "run", confirm_of=fingerprint(client.post(years_url(w), form_data(c))))
    with django_capture_on_commit_callbacks(execute=False):  # the broker lost it
        client.post(years_url(w), data)
    (rollover,) = rollovers(w)
    status_url = reverse("years:rollover", args=[w.school.slug, rollover.id])
    polling = page(client.get(status_url, **HTMX))
    assert "hx-get" in polling and "Queue it again" not in polling
    with scopes_disabled():
        YearRollover.objects.filter(pk=rollover.pk).update(
            created_at=timezone.now() - timedelta(minutes=5)
        )
    assert "Queue it again" in page(client.get(status_url, **HTMX))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(status_url)
    rollover.refresh_from_db()
    assert rollover.status == "done"


# --- Adding a year, a closed year's page ---------------------------------------------------------


def test_an_admin_adds_the_schools_first_year_audited_and_an_overlap_is_refused(
    client, world_a, django_capture_on_commit_callbacks
):
    w = world_a
    client.force_login(w.admin)
    assert "No school year yet" in page(client.get(years_url(w)))
    data = {
        "action": "add",
        "add-name": "2026-2027",
        "add-starts_on": (TODAY - timedelta(days=100)).isoformat(),
        "add-ends_on": (TODAY + timedelta(days=200)).isoformat(),
    }
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        added = client.post(years_url(w), data)
    assert added.status_code == 302
    # The year has begun: the recompute is queued, the evidence window having moved.
    assert [cb.__qualname__ for cb in callbacks].count("school_year_add.<locals>.<lambda>") == 1
    with scope(school=w.school):
        assert SchoolYear.objects.get(school=w.school).name == "2026-2027"
        assert AuditEvent.objects.filter(
            school=w.school, object_type="year", action="create"
        ).exists()
    overlap = client.post(years_url(w), {**data, "add-name": "Other"})
    assert overlap.status_code == 422 and "It overlaps 2026-2027" in page(overlap)


def test_a_closed_years_page_lists_its_students_and_its_archived_sections(
    client, closing, django_capture_on_commit_callbacks
):
    c, w = closing, closing.w
    client.force_login(w.admin)
    data = form_data(c, "run", confirm_of=fingerprint(client.post(years_url(w), form_data(c))))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(years_url(w), data)
    text = page(client.get(reverse("years:year", args=[w.school.slug, c.year.id])))
    assert c.retained.sortable_name in text and "Retained (grade 9)" in text
    assert "Promoted (10→11)" in text and "Graduated (grade 12)" in text
    assert "archived" in text
    section_url = reverse("gradebook:section_detail", args=[w.school.slug, w.section.id])
    assert section_url in text
    # An archived section is still readable at its address.
    client.force_login(w.teacher)
    assert client.get(section_url).status_code == 200
