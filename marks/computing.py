"""The computed value of every mark of a section in a grading period (the key: docs/marks.md).

A section is one course in one term. For each student enrolled in it during the period:

- each target of the course: the evidence of that course's assessments (common to the course or
  given in any of its sections), dated from the term's first day to the period's last, live (not
  voided), through the engine under the course's policy (its own, else the school default). A
  target two courses share is marked once in each, each from its own course's evidence; evidence
  from before the term (last year's, for a student repeating the course) never enters, whatever
  the policy says about carrying prior years: a term's mark is that term's record. The student's
  own ratings count when that policy counts them, dated in the same span;
- the course grade: the policy's course grade of those target scores, in the school's form
  (letter, percent or grade points, `MarkSettings`);
- each habit of work: the mean of the habit scores given in this section during the period.

Later evidence, or evidence dated after the period, never changes a computed value already posted:
posted marks keep the value they were posted with (marks.models.PostedMark).

A constant number of queries whatever the section's size (`section_marks_compute`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Q

from gradebook.models import (
    CourseTarget,
    Enrollment,
    Evidence,
    GradingPeriod,
    Habit,
    HabitScore,
    Section,
    SelfAssessment,
    Student,
)
from grading.policies import policy_for_course
from marks.models import CourseGradeForm, MarkSettings, PostedMark
from mastery import calculation
from mastery.models import GradingPolicy, LearningTarget, School
from mastery.selectors import achievement_levels, current_policies

Key = tuple[int, str, int]  # (student_id, kind, subject_id): a mark within a section and period

TARGET, COURSE, HABIT = PostedMark.Kind.TARGET, PostedMark.Kind.COURSE, PostedMark.Kind.HABIT


@dataclass(frozen=True)
class Computed:
    """One mark's computed value, as it would be posted now."""

    value: str  # as shown and posted ("" = not enough evidence)
    score: Decimal | None
    explanation: str
    evidence_count: int


@dataclass
class SectionMarks:
    """A section's marks for a period: who, what, and each key's computed value."""

    section: Section
    period: GradingPeriod
    students: list[Student]
    targets: list[LearningTarget]
    habits: list[Habit]
    policy: GradingPolicy
    engine: calculation.Policy
    grade_form: str
    computed: dict[Key, Computed] = field(default_factory=dict)

    def keys(self) -> list[Key]:
        """Every key, row by row: the targets in course order, the course grade, the habits."""
        return [
            key
            for student in self.students
            for key in (
                *((student.id, TARGET, t.id) for t in self.targets),
                (student.id, COURSE, 0),
                *((student.id, HABIT, h.id) for h in self.habits),
            )
        ]


def grade_form(school: School) -> str:
    found = MarkSettings.objects.filter(school=school).values_list("course_grade_form", flat=True)
    return next(iter(found), CourseGradeForm.LETTER)


def grade_value(grade: calculation.CourseGrade, form: str) -> str:
    """The course grade in the school's form ("" when there is none yet)."""
    if form == CourseGradeForm.PERCENT:
        return calculation.fmt(grade.percent) if grade.percent is not None else ""
    if form == CourseGradeForm.GPA:
        return f"{grade.gpa:.1f}" if grade.gpa is not None else ""
    return grade.letter or ""


def period_students(school: School, section: Section, period: GradingPeriod) -> list[Student]:
    """The students enrolled in the section at any time during the period, by name."""
    rows = (
        Enrollment.objects.filter(school=school, section=section, enrolled_on__lte=period.ends_on)
        .filter(Q(withdrawn_on__isnull=True) | Q(withdrawn_on__gte=period.starts_on))
        .select_related("student")
        .order_by("student__last_name", "student__first_name", "student_id")
    )
    return [row.student for row in rows]


def section_marks_compute(
    *, school: School, section: Section, period: GradingPeriod
) -> SectionMarks:
    """Every mark's computed value for the section and period (nothing is written)."""
    students = period_students(school, section, period)
    targets = [
        ct.target
        for ct in CourseTarget.objects.filter(school=school, course_id=section.course_id)
        .select_related("target")
        .order_by("position", "target__code")
    ]
    habits = list(Habit.objects.filter(school=school).order_by("position", "name"))
    policy = policy_for_course(
        school=school, course_id=section.course_id, policies=current_policies(school)
    )
    engine = policy.to_engine(achievement_levels(school))
    marks = SectionMarks(
        section=section,
        period=period,
        students=students,
        targets=targets,
        habits=habits,
        policy=policy,
        engine=engine,
        grade_form=grade_form(school),
    )
    student_ids = [s.id for s in students]
    target_ids = [t.id for t in targets]
    term_start = section.term.starts_on
    rows: dict[tuple[int, int], list[calculation.Evidence]] = defaultdict(list)
    if student_ids and target_ids:
        evidence = (
            Evidence.objects.filter(
                school=school,
                student_id__in=student_ids,
                target_id__in=target_ids,
                assessment__course_id=section.course_id,
                voided_at__isnull=True,
                assessed_on__gte=term_start,
                assessed_on__lte=period.ends_on,
            )
            .order_by("student_id", "target_id", "assessed_on", "id")
            .values_list("student_id", "target_id", "score", "assessed_on", "kind", "status")
        )
        for student_id, target_id, score, day, kind, status in evidence:
            rows[(student_id, target_id)].append(
                calculation.Evidence(score=score, assessed_on=day, kind=kind, status=status)
            )
        if policy.count_self_assessment:
            ratings = (
                SelfAssessment.objects.filter(
                    school=school,
                    student_id__in=student_ids,
                    target_id__in=target_ids,
                    voided_at__isnull=True,
                    assessed_on__gte=term_start,
                    assessed_on__lte=period.ends_on,
                )
                .order_by("student_id", "target_id", "assessed_on", "id")
                .values_list("student_id", "target_id", "score", "assessed_on")
            )
            for student_id, target_id, score, day in ratings:
                # After the evidence of the same day, as the recompute orders them (a stable
                # sort by date inside the engine keeps this order).
                rows[(student_id, target_id)].append(
                    calculation.Evidence(score=score, assessed_on=day, kind=calculation.SELF)
                )
    habit_scores: dict[tuple[int, int], list[Decimal]] = defaultdict(list)
    if student_ids and habits:
        for student_id, habit_id, score in HabitScore.objects.filter(
            school=school,
            section=section,
            student_id__in=student_ids,
            voided_at__isnull=True,
            assessed_on__gte=period.starts_on,
            assessed_on__lte=period.ends_on,
        ).values_list("student_id", "habit_id", "score"):
            habit_scores[(student_id, habit_id)].append(score)

    for student in students:
        scores: list[Decimal | None] = []
        for target in targets:
            outcome = calculation.compute(rows.get((student.id, target.id), []), engine)
            scores.append(outcome.score)
            marks.computed[(student.id, TARGET, target.id)] = Computed(
                value=calculation.fmt(outcome.level) if outcome.level is not None else "",
                score=outcome.score,
                explanation=outcome.explanation or outcome.summary,
                evidence_count=outcome.evidence_count,
            )
        grade = calculation.course_grade(scores, engine)
        marks.computed[(student.id, COURSE, 0)] = Computed(
            value=grade_value(grade, marks.grade_form),
            score=grade.mean,
            explanation=grade.explanation,
            evidence_count=grade.targets_counted,
        )
        for habit in habits:
            given = habit_scores.get((student.id, habit.id), [])
            mean = calculation.round_score(sum(given, Decimal(0)) / len(given)) if given else None
            marks.computed[(student.id, HABIT, habit.id)] = Computed(
                value=calculation.fmt(mean) if mean is not None else "",
                score=mean,
                explanation=(
                    f"The average of {len(given)} score{'s' if len(given) != 1 else ''} "
                    f"from {period.starts_on:%b %-d} to {period.ends_on:%b %-d}."
                    if given
                    else "No habit scores in this period."
                ),
                evidence_count=len(given),
            )
    return marks
