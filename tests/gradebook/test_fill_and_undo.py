"""Filling the empty cells of an assessment, and the undo stack."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gradebook.models import Evidence, SectionTeacher
from tests.factories import make_assessment, make_evidence
from tests.gradebook.pages import (
    HTMX,
    days_ago,
    evidence_count,
    key,
    live,
    mastery,
    page,
    post_cell,
    rows,
    score_url,
)

# --- Fill empty cells, and undo it -----------------------------------------------------------------


def test_fill_puts_the_value_only_into_the_empty_cells_of_the_chosen_target(client, world_a):
    w = world_a
    s0, s1, s2 = w.students
    t0, t1 = w.targets[0], w.targets[1]
    existing = make_evidence(w, s0, t0, "2").evidence
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
    make_evidence(w, w.students[0], w.targets[0], "2")
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


def test_undo_after_fill_voids_exactly_the_filled_cells(client, world_a, in_school):
    w = world_a
    s0 = w.students[0]
    t0 = w.targets[0]
    existing = make_evidence(w, s0, t0, "2").evidence
    client.force_login(w.teacher)
    client.post(score_url(w, "score_fill"), {"value": "1"})
    with in_school(w):
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
    make_evidence(w, s, t, "3")
    client.force_login(w.teacher)
    post_cell(client, w, s, t, "")
    assert live(w, s, t) is None
    client.post(score_url(w, "score_undo"))
    assert live(w, s, t).score == Decimal(3)
    assert mastery(w, s, t).score == Decimal(3)


def test_undo_on_an_empty_stack_says_nothing_to_undo_and_changes_nothing(client, world_a):
    w = world_a
    make_evidence(w, w.students[0], w.targets[0], "3")
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


def test_the_undo_stack_belongs_to_one_section_of_a_common_assessment(client, world_a, in_school):
    # Issue [10] item 2: Period 2's page offered, and reverted, a Period 1 change.
    w = world_a
    t = w.targets[0]
    with in_school(w):
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


# --- Input no row or scale can hold (issue 21 item 6) ----------------------------------------------


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
