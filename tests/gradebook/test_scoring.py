"""Scoring: one cell over htmx, the no-JavaScript scoring form, who may score, and feedback."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from django.urls import reverse
from django_scopes import scope

from gradebook.models import AssessmentFeedback, Enrollment
from tests.factories import make_evidence
from tests.gradebook.pages import (
    HTMX,
    cell_url,
    days_ago,
    evidence_count,
    grid_url,
    key,
    live,
    mastery,
    page,
    post_cell,
    rows,
    score_url,
    section_of,
    url,
)

# --- Scoring one cell (htmx) -----------------------------------------------------------------------


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
    old = make_evidence(w, s, t, "3").evidence
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


def test_a_withdrawn_student_cannot_be_scored_in_the_grid(client, world_a, in_school):
    w = world_a
    s = w.students[2]
    with in_school(w):
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


def test_the_full_form_saves_changed_cells_and_leaves_unchanged_ones_alone(
    client, world_a, in_school
):
    w = world_a
    s0, s1, s2 = w.students
    t0, t1 = w.targets[0], w.targets[1]
    kept = make_evidence(w, s0, t0, "3").evidence
    status = make_evidence(w, s0, t1, status="missing").evidence
    changed = make_evidence(w, s1, t0, "2").evidence
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
    with in_school(w):
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


# --- Feedback --------------------------------------------------------------------------------------


def post_feedback(client, w, student, text):
    return client.post(score_url(w, "score_feedback"), {f"fb-{student.id}": text}, **HTMX)


def feedback_of(w, student) -> str | None:
    with scope(school=w.school):
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


# --- Input no row or scale can hold (issue 21 item 6) ----------------------------------------------


def test_the_grid_forms_refused_comment_answers_422(client, world_a):
    w = world_a
    client.force_login(w.teacher)
    response = client.post(score_url(w), {f"fb-{w.students[0].id}": "x" * 4001})
    assert response.status_code == 422
    assert "Feedback is limited to 4000 characters." in page(response)
