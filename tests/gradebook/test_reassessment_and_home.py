"""Who needs reassessment (the list and the families' requests), and the teacher's home page."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_scopes import scopes_disabled

from gradebook.models import ReassessmentRequest
from tests.factories import make_evidence, make_request
from tests.gradebook.pages import cell_url, fill, page, score_url, section_of, url

# --- Who needs reassessment ------------------------------------------------------------------------


def test_the_reassessment_list_shows_students_below_mastery_per_target(client, world_a):
    w = world_a
    s0, s1, s2 = w.students
    t0, t1 = w.targets[0], w.targets[1]
    make_evidence(w, s0, t0, "4")
    make_evidence(w, s1, t0, "2")
    make_evidence(w, s2, t0, "1")
    make_evidence(w, s0, t1, "3")
    make_evidence(w, w.other_students[0], t0, "1", by=w.other_teacher)
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
        {"status": "declined", "reason": "Practise with the set on slopes first."},
    )
    assert response.status_code == 302 and response["Location"] == list_url
    request.refresh_from_db()
    assert request.status == "declined" and request.resolved_by == w.teacher
    assert request.decline_reason == "Practise with the set on slopes first."
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
        {"status": "scheduled", "scheduled_on": w.term.ends_on.isoformat(), "next": next_url},
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
        {"status": "declined", "reason": "Not this week.", "next": inside},
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
    assert "A request can be accepted or declined here." in page(response)
    request.refresh_from_db()
    assert request.status == "open"


# --- The teacher's home page -----------------------------------------------------------------------


def test_home_lists_assessments_that_need_scoring_until_every_cell_is_filled(client, world_a):
    w = world_a
    make_evidence(w, w.students[0], w.targets[0], "3")
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
        ReassessmentRequest.objects.filter(pk=request.pk).update(
            status="declined", decline_reason="Not now."
        )
    client.force_login(w.teacher)
    box = section_of(page(client.get(home)), "Reassessment requests", "</section>")
    assert "No open requests." in box
