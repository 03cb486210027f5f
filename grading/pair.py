"""One student × target recomputed in Python, in the transaction of the write that changed it.

`pair_recompute` is what recording or voiding a score calls: a constant 3 queries (+1 without the
levels). It runs the same engine (mastery/calculation.py) as the school-wide recompute, which is
tested to agree with it to the cent (tests/grading/test_recompute.py), over the same evidence:
this school year's, unless the policy carries prior years (tests/grading/test_year_boundary.py),
and the student's self-assessments only when the policy counts them.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from gradebook.models import Evidence, Mastery, SelfAssessment
from grading.policies import policy_for_pair, year_start_expression
from mastery import calculation, pagecache
from mastery.models import ScaleLevel, School
from mastery.selectors import achievement_levels

MASTERY_FIELDS = (
    "score",
    "level",
    "mastered",
    "evidence_count",
    "scores_counted",
    "last_evidence_on",
    "explanation",
    "policy",
    "computed_at",
)


def pair_evidence(
    *,
    school: School,
    student_id: int,
    target_id: int,
    carry_prior_years: bool = False,
    count_self_assessment: bool = False,
) -> list[calculation.Evidence]:
    """The pair's live evidence the engine counts: this school year's, or with
    `carry_prior_years` (the governing policy's setting) every year's. One query: the year's
    start is a subquery of it (grading.policies, "the year boundary"). With
    `count_self_assessment` (the policy's too), the student's live self-assessments in the same
    window follow, as evidence of kind "self" (one query more, only then)."""
    evidence = Evidence.objects.filter(
        school=school, student_id=student_id, target_id=target_id, voided_at__isnull=True
    )
    if not carry_prior_years:
        evidence = evidence.filter(assessed_on__gte=year_start_expression(school))
    rows = evidence.order_by("assessed_on", "id").values_list(
        "score", "assessed_on", "kind", "status"
    )
    found = [
        calculation.Evidence(score=score, assessed_on=day, kind=kind, status=status)
        for score, day, kind, status in rows
    ]
    if count_self_assessment:
        ratings = SelfAssessment.objects.filter(
            school=school, student_id=student_id, target_id=target_id, voided_at__isnull=True
        )
        if not carry_prior_years:
            ratings = ratings.filter(assessed_on__gte=year_start_expression(school))
        # After the evidence: the engine's stable sort by date puts a day's ratings after its
        # scores, as the SQL orders them.
        found += [r.as_engine_evidence() for r in ratings.order_by("assessed_on", "id")]
    return found


def mastery_from_outcome(
    *, school: School, student_id: int, target_id: int, outcome: calculation.Outcome, policy_id: int
) -> Mastery:
    return Mastery(
        school=school,
        student_id=student_id,
        target_id=target_id,
        score=outcome.score,
        level=Decimal(outcome.level) if outcome.level is not None else None,
        mastered=outcome.mastered,
        evidence_count=outcome.evidence_count,
        scores_counted=outcome.counted,
        last_evidence_on=outcome.last_assessed_on,
        explanation=outcome.summary,
        policy_id=policy_id,
        computed_at=timezone.now(),
    )


def mastery_upsert(records: list[Mastery], *, announce: bool = True) -> None:
    if announce and records:
        # The students' portal pages show these records (see mastery/pagecache.py).
        by_school: dict[int, set[int]] = defaultdict(set)
        for record in records:
            by_school[record.school_id].add(record.student_id)
        for school_id, student_ids in by_school.items():
            pagecache.students_changed(school_id, student_ids)
    Mastery.objects.bulk_create(
        records,
        update_conflicts=True,
        unique_fields=["school", "student", "target"],
        update_fields=list(MASTERY_FIELDS),
    )


def records_without_evidence_dropped(
    *, school: School, pairs: set[tuple[int, int]]
) -> set[tuple[int, int]]:
    """Of `pairs` (each with nothing to compute, under a policy that does not count ratings),
    those the teacher never gave any evidence (voided and earlier years' included): their records
    are deleted and they are returned. Such a record could only come from the student's own
    ratings while a policy counted them; the set recompute (grading.sql) deletes it too, so no
    level made from ratings that no longer count stays, under an old policy's id that would keep
    the school stale for ever. One query, one more if any is deleted."""
    if not pairs:
        return set()
    scored = set(
        Evidence.objects.filter(
            school=school,
            student_id__in={s for s, _ in pairs},
            target_id__in={t for _, t in pairs},
        )
        .values_list("student_id", "target_id")
        .distinct()
    )
    gone = pairs - scored
    if gone:
        which = Q()
        for student_id, target_id in gone:
            which |= Q(student_id=student_id, target_id=target_id)
        Mastery.objects.filter(which, school=school).delete()
        pagecache.students_changed(school.id, {s for s, _ in gone})
    return gone


def pair_recompute(
    *, school: School, student_id: int, target_id: int, levels: list[ScaleLevel] | None = None
) -> Mastery:
    """Recompute one Mastery record from its evidence: a constant 3 queries (+1 without levels;
    +1 or 2 for a pair with no live evidence whose policy does not count ratings).

    A pair with no evidence at all under such a policy has no record (its record is deleted):
    the unsaved record returned says it has no score."""
    levels = levels if levels is not None else achievement_levels(school)
    policy = policy_for_pair(school=school, student_id=student_id, target_id=target_id)
    evidence = pair_evidence(
        school=school,
        student_id=student_id,
        target_id=target_id,
        carry_prior_years=policy.carry_prior_years,
        count_self_assessment=policy.count_self_assessment,
    )
    outcome = calculation.compute(evidence, policy.to_engine(levels))
    record = mastery_from_outcome(
        school=school,
        student_id=student_id,
        target_id=target_id,
        outcome=outcome,
        policy_id=policy.id,
    )
    if (
        not evidence
        and not policy.count_self_assessment
        and records_without_evidence_dropped(school=school, pairs={(student_id, target_id)})
    ):
        return record
    mastery_upsert([record])
    return record
