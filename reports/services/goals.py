"""Writes of the student portal: a student's goals on their own courses' targets."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from gradebook.models import CourseTarget, Student
from mastery import pagecache
from mastery.models import LearningTarget, School
from reports.models import StudentGoal


@transaction.atomic
def goal_create(
    *, school: School, student: Student, target: LearningTarget, note: str
) -> StudentGoal:
    """A student's goal on one of their own courses' targets."""
    pagecache.students_changed(school.id, [student.id])
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": ["Write your goal in a few words."]})
    if not CourseTarget.objects.filter(
        school=school, target=target, course__sections__enrollments__student=student
    ).exists():
        raise ValidationError({"target": ["Choose a learning target of your courses."]})
    return StudentGoal.objects.create(
        school=school, student=student, target=target, note=note[:300]
    )


@transaction.atomic
def goal_achieve(*, school: School, student: Student, goal_id: int) -> StudentGoal:
    pagecache.students_changed(school.id, [student.id])
    goal = StudentGoal.objects.filter(school=school, student=student, pk=goal_id).first()
    if goal is None:
        raise ValidationError("That goal does not exist.")
    if goal.achieved_at is None:
        goal.achieved_at = timezone.now()
        goal.save(update_fields=["achieved_at"])
    return goal
