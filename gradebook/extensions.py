"""What the apps above the gradebook add to its pages and rules, without the gradebook importing them.

The teacher's cell page (a student on a target) shows the goals the student set there, and goals
belong to the reports app, which sits above the gradebook. Rather than import upward, the
gradebook asks whatever readers were registered here; reports registers its own when Django
starts (reports/apps.py). With reports not installed the page simply shows no goals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from gradebook.models import Student
from mastery.models import LearningTarget, School

GoalReader = Callable[[School, Student, LearningTarget], Sequence[Any]]

_goal_readers: list[GoalReader] = []


def register_goal_reader(reader: GoalReader) -> None:
    """Add a reader of a student's goals on a target (once: a second registration is ignored)."""
    if reader not in _goal_readers:
        _goal_readers.append(reader)


def student_target_goals(*, school: School, student: Student, target: LearningTarget) -> list[Any]:
    """The student's goals on the target, from every registered reader."""
    return [goal for reader in _goal_readers for goal in reader(school, student, target)]


# Practice outside the gradebook that a reassessment rule accepts: intervention sessions attended
# (registered by intervention/apps.py). A reader answers the dates of the student's practice on the
# target on or after `since`.
PracticeReader = Callable[[School, Student, LearningTarget, date], Sequence[date]]

_practice_readers: list[PracticeReader] = []


def register_practice_reader(reader: PracticeReader) -> None:
    """Add a reader of practice dates (once: a second registration is ignored)."""
    if reader not in _practice_readers:
        _practice_readers.append(reader)


def practice_dates(
    *, school: School, student: Student, target: LearningTarget, since: date
) -> list[date]:
    """The dates of the student's practice on the target since `since`, from every reader."""
    return [day for reader in _practice_readers for day in reader(school, student, target, since)]
