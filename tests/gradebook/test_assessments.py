"""Assessments: the list, creating one (common or for one section), and editing it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django_scopes import scopes_disabled

from gradebook.models import Assessment, AssessmentTarget
from tests.factories import make_assessment, make_evidence
from tests.gradebook.pages import days_ago, fill, mastery, page, score_url, section_of, url

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
    make_evidence(w, w.students[0], w.targets[0], "3")
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
    client, world_a, overrides, message, in_school
):
    w = world_a
    if overrides.get("original") == "ORIGINAL":
        overrides = {**overrides, "original": w.assessment.id}
    client.force_login(w.teacher)
    with in_school(w):
        before = Assessment.objects.filter(school=w.school).count()
    response = client.post(
        url("assessment_create", w, section_id=w.section.id), assessment_data(w, **overrides)
    )
    assert response.status_code == 422
    assert message in page(response)
    with in_school(w):
        assert Assessment.objects.filter(school=w.school).count() == before


def test_a_reassessment_may_name_its_original(client, world_a, in_school):
    w = world_a
    client.force_login(w.teacher)
    response = client.post(
        url("assessment_create", w, section_id=w.section.id),
        assessment_data(w, kind="reassessment", original=w.assessment.id, title="Retake"),
    )
    assert response.status_code == 302
    with in_school(w):
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
    scored = make_evidence(w, s, t, "3").evidence
    make_evidence(w, w.students[1], t, "2")
    make_evidence(w, w.students[1], t, "4")  # replaces (voids) the 2
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
    evidence = make_evidence(w, w.students[0], w.targets[0], "3").evidence
    client.force_login(w.teacher)
    edit(client, w, w.assessment, assessed_on=days_ago(20).isoformat())
    evidence.refresh_from_db()
    assert evidence.assessed_on == days_ago(20)
    assert mastery(w, w.students[0], w.targets[0]).last_evidence_on == days_ago(20)


def test_removing_a_target_that_has_scores_is_refused(client, world_a, in_school):
    w = world_a
    make_evidence(w, w.students[0], w.targets[0], "3")
    client.force_login(w.teacher)
    response = edit(client, w, w.assessment, targets=[w.targets[1].id])
    assert response.status_code == 422
    assert "exist on the targets you removed; void them first." in page(response)
    with in_school(w):
        aligned = set(
            AssessmentTarget.objects.filter(assessment=w.assessment).values_list(
                "target_id", flat=True
            )
        )
    assert aligned == {w.targets[0].id, w.targets[1].id}
    # A target without scores may go.
    assert edit(client, w, w.assessment, targets=[w.targets[0].id]).status_code == 302
    with in_school(w):
        assert list(w.assessment.targets.values_list("id", flat=True)) == [w.targets[0].id]


def test_a_common_assessment_with_other_sections_scores_is_not_narrowed_silently(client, world_a):
    w = world_a
    theirs = make_evidence(w, w.other_students[0], w.targets[0], "3", by=w.other_teacher).evidence
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
