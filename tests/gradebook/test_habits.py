"""Habits of work: scoring them on their own scale, their audit trail, and that they never touch mastery."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django_scopes import scope, scopes_disabled

from gradebook.models import Evidence, Habit, HabitScore
from mastery.models import AuditEvent
from tests.factories import make_evidence
from tests.gradebook.pages import days_ago, masteries, page, url

# --- Habits of work --------------------------------------------------------------------------------


@pytest.fixture
def habits(world_a, in_school):
    with in_school(world_a):
        return [
            Habit.objects.create(school=world_a.school, name="Effort", position=0),
            Habit.objects.create(school=world_a.school, name="Participation", position=1),
        ]


def habit_url(w, day: date) -> str:
    return url("habit_cell", w, section_id=w.section.id) + f"?date={day.isoformat()}"


def post_habit(client, w, student, habit, value, day=None):
    return client.post(
        habit_url(w, day or days_ago(1)),
        {f"h-{student.id}-{habit.id}": value},
        HTTP_HX_REQUEST="true",
    )


def habit_scores(w, **filters) -> list[HabitScore]:
    with scope(school=w.school):
        return list(HabitScore.objects.filter(school=w.school, **filters).order_by("id"))


def test_a_habit_score_on_the_habits_scale_is_saved(client, world_a, habits):
    w = world_a
    s = w.students[1]
    client.force_login(w.teacher)
    response = post_habit(client, w, s, habits[0], "3")
    assert response.status_code == 200
    assert "✓ Saved" in page(response) and f'id="hc-{s.id}-{habits[0].id}"' in page(response)
    (score,) = habit_scores(w)
    assert score.score == Decimal(3) and score.habit == habits[0] and score.student == s
    assert score.section == w.section and score.assessed_on == days_ago(1)
    assert score.recorded_by == w.teacher and score.voided_at is None
    grid = page(client.get(url("habits", w, section_id=w.section.id), {"date": days_ago(1)}))
    assert f'name="h-{s.id}-{habits[0].id}" value="3"' in grid


def test_a_habit_score_off_the_scale_is_refused_and_writes_nothing(client, world_a, habits):
    w = world_a
    client.force_login(w.teacher)
    for value in ("9", "2.5", "abc"):  # the habits scale has no half points
        response = post_habit(client, w, w.students[0], habits[0], value)
        assert response.status_code == 422, value
    assert "9 is not on the scale. Use one of: 1, 2, 3, 4." in page(
        post_habit(client, w, w.students[0], habits[0], "9")
    )
    assert habit_scores(w) == []


def test_a_new_habit_value_voids_the_old_one(client, world_a, habits):
    w = world_a
    s, h = w.students[0], habits[1]
    client.force_login(w.teacher)
    post_habit(client, w, s, h, "2")
    post_habit(client, w, s, h, "4")
    old, new = habit_scores(w)
    assert old.score == Decimal(2) and old.voided_at is not None
    assert old.void_reason == "Replaced by a new score"
    assert new.score == Decimal(4) and new.voided_at is None
    post_habit(client, w, s, h, "4")  # the same value again writes nothing
    assert len(habit_scores(w)) == 2
    post_habit(client, w, s, h, "")  # empty clears
    assert habit_scores(w, voided_at__isnull=True) == []


def test_every_change_of_a_habit_score_is_in_the_audit_trail(client, world_a, habits, in_school):
    w = world_a
    s, h = w.students[0], habits[0]
    client.force_login(w.teacher)
    day = days_ago(1)
    post_habit(client, w, s, h, "2", day)
    post_habit(client, w, s, h, "3", day)
    post_habit(client, w, s, h, "3", day)  # unchanged: nothing to record
    post_habit(client, w, s, h, "", day)
    with in_school(w):
        events = list(
            AuditEvent.objects.filter(
                school=w.school, object_type=AuditEvent.ObjectType.HABIT
            ).order_by("id")
        )
    first, second = habit_scores(w)
    when = f"{day:%b %-d, %Y}"
    assert [
        (e.action, e.object_id, e.student_id, e.actor_id, e.before, e.after, e.summary)
        for e in events
    ] == [
        ("record", first.id, s.id, w.teacher.id, None, {"score": "2"}, f"Effort, {when}: — → 2"),
        (
            "replace",
            second.id,
            s.id,
            w.teacher.id,
            {"score": "2"},
            {"score": "3"},
            f"Effort, {when}: 2 → 3",
        ),
        ("clear", second.id, s.id, w.teacher.id, {"score": "3"}, None, f"Effort, {when}: 3 → —"),
    ]
    # A refused value records nothing, and the school's audit page lists habit scores by type.
    post_habit(client, w, s, h, "9", day)
    with scopes_disabled():
        assert AuditEvent.objects.filter(object_type=AuditEvent.ObjectType.HABIT).count() == 3
    client.force_login(w.admin)
    log = page(
        client.get(
            reverse("audit_log", args=[w.school.slug]), {"type": AuditEvent.ObjectType.HABIT}
        )
    )
    assert f"Effort, {when}: 2 → 3" in log and "Habit score" in log


def test_habits_never_change_a_mastery_record(client, world_a, habits, in_school):
    w = world_a
    make_evidence(w, w.students[0], w.targets[0], "2")
    make_evidence(w, w.students[1], w.targets[0], "4")
    before = masteries(w)
    client.force_login(w.teacher)
    for student in w.students:
        for habit in habits:
            assert post_habit(client, w, student, habit, "4").status_code == 200
    response = client.post(
        url("habits", w, section_id=w.section.id) + f"?date={days_ago(2).isoformat()}",
        {f"h-{w.students[0].id}-{habits[0].id}": "1"},
    )
    assert response.status_code == 302
    assert len(habit_scores(w)) == 7
    assert masteries(w) == before
    with in_school(w):
        assert Evidence.objects.filter(school=w.school).count() == 2


@pytest.mark.parametrize("when", ["after-term", "not-a-date"])
def test_a_habit_score_dated_outside_the_term_is_refused(client, world_a, habits, when):
    w = world_a
    day = (
        (w.term.ends_on + timedelta(days=30)).isoformat() if when == "after-term" else "2024-02-30"
    )
    client.force_login(w.teacher)
    response = client.post(
        url("habit_cell", w, section_id=w.section.id) + f"?date={day}",
        {f"h-{w.students[0].id}-{habits[0].id}": "3"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert habit_scores(w) == []


def test_habit_scores_need_a_scorer_of_the_section(client, world_a, habits):
    w = world_a
    client.force_login(w.counselor)
    assert client.get(url("habits", w, section_id=w.section.id)).status_code == 200
    assert post_habit(client, w, w.students[0], habits[0], "3").status_code == 403
    client.force_login(w.other_teacher)
    assert post_habit(client, w, w.students[0], habits[0], "3").status_code == 404
    assert habit_scores(w) == []
