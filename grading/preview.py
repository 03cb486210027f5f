"""What saving a policy version would change, before it is saved (the policy page's preview).

The candidate's outcomes are computed by the recompute's own statement (or the engine on SQLite)
over the pairs it would govern, and compared with the records as they stand. The candidate's
evidence is this school year's, or every year's when it carries prior years (so turning
`carry_prior_years` on or off previews its effect too).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import cast

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet

from gradebook.models import CourseTarget, Enrollment, Evidence, Mastery, SelfAssessment, Student
from grading.policies import (
    counts_since,
    create_pair_policy,
    override_assignments,
    window_sql,
    year_start,
)
from grading.school import engine_evidence, pairs_in_order
from grading.sql import policy_statement
from mastery import calculation
from mastery.models import GradingPolicy, LearningTarget, School
from mastery.selectors import achievement_levels, current_policies


@dataclass
class PolicyPreview:
    pairs: int = 0
    level_changes: int = 0
    students_changing: int = 0
    targets_changing: int = 0
    mastered_gained: int = 0
    mastered_lost: int = 0
    grade_changes: int = 0
    students_with_grade_change: int = 0
    examples: list[str] = field(default_factory=list)


def _candidate_outcomes(
    school: School, candidate: GradingPolicy, engine: calculation.Policy
) -> dict[tuple[int, int], tuple[Decimal | None, Decimal | None, bool]]:
    """(student, target) -> (score, level, mastered) under the candidate, for the pairs it governs."""
    course_id = candidate.course_id
    start = year_start(school)
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            if course_id is None:
                create_pair_policy(cursor, school)
                scope_sql = (
                    "AND NOT EXISTS (SELECT 1 FROM pair_policy pp WHERE pp.student_id = e.student_id"
                    " AND pp.target_id = e.target_id)"
                )
            else:
                scope_sql = (
                    f"AND e.target_id IN (SELECT target_id FROM gradebook_coursetarget WHERE school_id = %(school_id)s"
                    f" AND course_id = {int(course_id)}) AND e.student_id IN (SELECT en.student_id FROM"
                    " gradebook_enrollment en JOIN gradebook_section s ON s.id = en.section_id"
                    f" WHERE en.school_id = %(school_id)s AND s.course_id = {int(course_id)})"
                )
            cursor.execute(
                policy_statement(
                    engine,
                    scope_sql=scope_sql,
                    select_only=True,
                    window_sql=window_sql(candidate, start),
                ),
                {"school_id": school.id, "year_start": start},
            )
            return {(r[0], r[1]): (r[2], r[3], r[4]) for r in cursor.fetchall()}
    # SQLite (the demo): the engine over the governed pairs.
    assigned = override_assignments(school)
    if course_id is not None:
        targets = set(
            CourseTarget.objects.filter(school=school, course_id=course_id).values_list(
                "target_id", flat=True
            )
        )
        students = set(
            Enrollment.objects.filter(school=school, section__course_id=course_id).values_list(
                "student_id", flat=True
            )
        )
    outcomes = {}
    since = counts_since(candidate, start)
    counts_self = (lambda _s, _t: True) if candidate.count_self_assessment else None
    for student_id, target_id, rows in pairs_in_order(school, counts_self=counts_self):
        pair = (student_id, target_id)
        if course_id is None and pair in assigned:
            continue
        if course_id is not None and (student_id not in students or target_id not in targets):
            continue
        o = calculation.compute(engine_evidence(rows, since), engine)
        outcomes[pair] = (o.score, Decimal(o.level) if o.level is not None else None, o.mastered)
    return outcomes


def _rated_only_pairs(school: School, course_id: int | None) -> set[tuple[int, int]]:
    """The pairs the candidate would govern that have a record but no evidence, only the
    student's ratings: a level made from ratings alone, which the recompute deletes under a
    policy that does not count them (grading.sql)."""

    def of_the_pair(rows: QuerySet) -> Exists:
        return Exists(
            rows.filter(
                school=school, student_id=OuterRef("student_id"), target_id=OuterRef("target_id")
            )
        )

    records = set(
        Mastery.objects.filter(school=school)
        .filter(of_the_pair(SelfAssessment.objects.all()))
        .exclude(of_the_pair(Evidence.objects.all()))
        .values_list("student_id", "target_id")
    )
    if not records:
        return set()
    if course_id is None:
        assigned = override_assignments(school)
        return {pair for pair in records if pair not in assigned}
    targets = set(
        CourseTarget.objects.filter(school=school, course_id=course_id).values_list(
            "target_id", flat=True
        )
    )
    students = set(
        Enrollment.objects.filter(school=school, section__course_id=course_id).values_list(
            "student_id", flat=True
        )
    )
    return {pair for pair in records if pair[0] in students and pair[1] in targets}


def policy_preview(*, school: School, candidate: GradingPolicy) -> PolicyPreview:
    """What saving `candidate` (an unsaved policy version) would change on the school's data now."""
    levels = achievement_levels(school)
    engine = candidate.to_engine(levels)
    new = _candidate_outcomes(school, candidate, engine)
    pairs_governed = len(new)
    if not candidate.count_self_assessment and any(
        p.count_self_assessment for p in current_policies(school)
    ):
        # Ratings stop counting for some pairs: those only the student rated lose their record.
        for pair in _rated_only_pairs(school, candidate.course_id) - new.keys():
            new[pair] = (None, None, False)
    old = {
        (m.student_id, m.target_id): (m.score, m.level, m.mastered)
        for m in Mastery.objects.filter(school=school).only(
            "student", "target", "score", "level", "mastered"
        )
    }
    preview = PolicyPreview(pairs=pairs_governed)
    changed_students: set[int] = set()
    changed_targets: set[int] = set()
    samples: list[tuple[tuple[int, int], tuple, tuple]] = []
    for pair, (score, level, mastered) in new.items():
        before = old.get(pair, (None, None, False))
        if before[1] != level:
            preview.level_changes += 1
            changed_students.add(pair[0])
            changed_targets.add(pair[1])
            if len(samples) < 5:
                samples.append((pair, before, (score, level)))
        if mastered and not before[2]:
            preview.mastered_gained += 1
        if before[2] and not mastered:
            preview.mastered_lost += 1
    preview.students_changing, preview.targets_changing = (
        len(changed_students),
        len(changed_targets),
    )

    # Course grades: every (student, course) that a changed result belongs to, old vs new rule.
    policies = {p.course_id: p for p in current_policies(school)}
    course_targets_map: dict[int, list[int]] = defaultdict(list)
    for course_id, target_id in CourseTarget.objects.filter(school=school).values_list(
        "course_id", "target_id"
    ):
        course_targets_map[course_id].append(target_id)
    engines_old = {cid: p.to_engine(levels) for cid, p in policies.items()}
    graded_students = set()
    # Every course grade the candidate governs: letters come from scores, so a new band or method can
    # change a grade without changing any level.
    governed = (
        [candidate.course_id]
        if candidate.course_id is not None
        else [cid for cid in course_targets_map if cid not in policies]
    )
    for student_id, course_id in (
        Enrollment.objects.filter(
            school=school, withdrawn_on__isnull=True, section__course_id__in=governed
        )
        .values_list("student_id", "section__course_id")
        .distinct()
    ):
        targets = course_targets_map[course_id]
        old_engine = engines_old.get(course_id, engines_old[None])
        grade_before = calculation.course_grade(
            [old.get((student_id, t), (None,))[0] for t in targets], old_engine
        )
        grade_after = calculation.course_grade(
            [new.get((student_id, t), old.get((student_id, t), (None,)))[0] for t in targets],
            engine,
        )
        if grade_before.letter != grade_after.letter:
            preview.grade_changes += 1
            graded_students.add(student_id)
    preview.students_with_grade_change = len(graded_students)

    names = {
        s.id: s.display_name
        for s in Student.objects.filter(school=school, id__in=[p[0] for p, _, _ in samples])
    }
    codes = dict(
        LearningTarget.objects.filter(
            school=school, id__in=[p[1] for p, _, _ in samples]
        ).values_list("id", "code")
    )
    labels = {lv.value: lv.label for lv in levels}

    def shown(score: Decimal | None, level: Decimal | None) -> str:
        return (
            "no level"
            if level is None
            # A level comes with a score.
            else f"{calculation.fmt(cast(Decimal, score))} {labels.get(level, '')}".strip()
        )

    preview.examples = [
        f"{names.get(pair[0], pair[0])}, {codes.get(pair[1], pair[1])}: {shown(*before[:2])} → {shown(*after)}"
        for pair, before, after in samples
    ]
    return preview
