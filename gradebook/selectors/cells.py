"""One student on one target: every attempt, the chart, the rubric, requests and the audit trail;
and the students a section could reassess.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal, Protocol, overload, runtime_checkable

from django.db.models import Q
from django.utils import dateformat

from gradebook.extensions import student_target_goals
from gradebook.models import (
    Assessment,
    Evidence,
    EvidenceStatus,
    Mastery,
    ReassessmentRequest,
    Section,
    SelfAssessment,
    Student,
)
from gradebook.selectors.common import LevelInfo, course_targets, level_infos, section_students
from gradebook.selectors.students import LastYear, last_year_near
from grading.policies import counts_since, policy_for_pair, year_start
from mastery import calculation
from mastery.models import (
    AuditEvent,
    GradingPolicy,
    LearningTarget,
    LevelDescriptor,
    School,
)
from mastery.selectors import achievement_levels


class ChartAttempt(Protocol):
    """What `attempt_chart` reads of an attempt: an Evidence, or a lighter row of its values
    (the report's sparklines read no model instance per score)."""

    @property
    def voided_at(self) -> datetime | None: ...
    @property
    def status(self) -> str: ...
    @property
    def score(self) -> Decimal | None: ...
    @property
    def assessed_on(self) -> date: ...
    @property
    def kind(self) -> str: ...


class _Titled(Protocol):
    @property
    def title(self) -> str: ...


@runtime_checkable
class LabelledAttempt(ChartAttempt, Protocol):
    """An attempt a labelled chart names: with its assessment's title (an Evidence)."""

    @property
    def assessment(self) -> _Titled: ...


@dataclass
class ChartPoint:
    x: str  # SVG coordinates, written for markup (see attempt_chart)
    y: str
    label: str
    voided: bool
    counted: bool


@dataclass
class CellDetail:
    student: Student
    target: LearningTarget
    section: Section
    history: list[Evidence]
    record: Mastery | None
    outcome: calculation.Outcome
    descriptors: list[tuple[LevelInfo, LevelDescriptor | None, bool]]
    chart: dict
    requests: list[ReassessmentRequest]
    reassessments: list[Assessment]
    policy: GradingPolicy
    levels: list[LevelInfo] = field(default_factory=list)
    goals: list = field(default_factory=list)
    audit: list[AuditEvent] = field(default_factory=list)  # changes to this cell, newest first
    # The school year's window: evidence dated before `counts_since` is listed, not counted.
    counts_since: date | None = None
    earlier: int = 0  # live evidence of earlier school years
    last_year: LastYear | None = None  # last year's levels near the target, as context
    # The student's own ratings (live only: a withdrawn one is shown to nobody else), newest
    # first; counted in `outcome` only when the policy counts self-assessments.
    self_assessments: list[SelfAssessment] = field(default_factory=list)

    @property
    def live_request(self) -> ReassessmentRequest | None:
        return next((r for r in self.requests if r.live), None)


@overload
def attempt_chart(
    history: Sequence[LabelledAttempt],
    engine: calculation.Policy,
    width: int = 320,
    height: int = 120,
    pad: int = 24,
    labels: Literal[True] = True,
) -> dict: ...
@overload
def attempt_chart(
    history: Sequence[ChartAttempt],
    engine: calculation.Policy,
    width: int = 320,
    height: int = 120,
    pad: int = 24,
    *,
    labels: Literal[False],
) -> dict: ...
def attempt_chart(
    history: Sequence[ChartAttempt],
    engine: calculation.Policy,
    width: int = 320,
    height: int = 120,
    pad: int = 24,
    labels: bool = True,
) -> dict:
    """Coordinates for a small SVG of the attempts (scored, unvoided) and the mastery line.

    Without labels (the report's sparklines) the points carry no date and assessment title.
    Coordinates are strings in SVG's syntax: a float handed to a template is localized ("6,7" in
    Spanish), which no SVG parser reads, so a Spanish page drew the mastery line at the top.
    """
    scored = [e for e in history if e.voided_at is None and e.status == EvidenceStatus.SCORED]
    lo, hi = engine.scale_min, engine.scale_max
    n = len(scored)

    def y_of(value: Decimal | int) -> str:
        return _svg_number(pad / 2 + (height - pad) * float((hi - value) / (hi - lo)))

    points = []
    for i, e in enumerate(scored):
        # A scored attempt has a score (the check constraint evidence_score_iff_scored).
        assert e.score is not None
        x = pad + (width - 2 * pad) * (i / (n - 1) if n > 1 else 0.5)
        label = ""
        if labels:
            # The overloads: a labelled chart is drawn from attempts with their assessment.
            assert isinstance(e, LabelledAttempt)
            label = (
                f"{dateformat.format(e.assessed_on, 'M j')}: {calculation.fmt(e.score)} "
                f"({e.assessment.title})"
            )
        points.append(
            ChartPoint(
                _svg_number(x),
                y_of(e.score),
                label,
                False,
                engine.counts(
                    calculation.Evidence(score=e.score, assessed_on=e.assessed_on, kind=e.kind)
                ),
            )
        )
    gridlines = [
        (calculation.fmt(v), y_of(v)) for v in sorted({Decimal(lv) for lv in engine.levels})
    ]
    return {
        "width": width,
        "height": height,
        "points": points,
        "polyline": " ".join(f"{p.x},{p.y}" for p in points),
        # The same dots as two paths of zero-length strokes with round caps (a filled disc each):
        # every point, then the uncounted ones hollowed out in white. The report draws 90 small
        # charts, and WeasyPrint parses, styles and paints each SVG element on its own.
        "dots": _dots_path(points),
        "open_dots": _dots_path(p for p in points if not p.counted),
        "threshold_y": y_of(engine.mastery_threshold),
        "gridlines": gridlines,
        "pad": pad,
    }


def _svg_number(value: float) -> str:
    """A coordinate for an SVG attribute: one decimal, a point, whatever the reader's language."""
    return f"{value:.1f}"


def _dots_path(points: Iterable[ChartPoint]) -> str:
    """An SVG path that draws a dot at each point: a zero-length stroke, round-capped."""
    return " ".join(f"M{p.x} {p.y}h0" for p in points)


def cell_detail(
    *, school: School, section: Section, student: Student, target: LearningTarget
) -> CellDetail:
    history = list(
        Evidence.objects.filter(school=school, student=student, target=target)
        .select_related("assessment", "recorded_by", "voided_by")
        .order_by("assessed_on", "id")
    )
    levels = achievement_levels(school)
    infos = level_infos(levels)
    policy = policy_for_pair(school=school, student_id=student.id, target_id=target.id)
    engine = policy.to_engine(levels)
    # The level counts this school year's evidence (unless the policy carries earlier years),
    # as the recompute does; the history lists every year's.
    since = counts_since(policy, year_start(school))
    this_year = [e for e in history if since is None or e.assessed_on >= since]
    ratings = own_ratings(school=school, student_id=student.id, target_id=target.id)
    counted_ratings = (
        [r.as_engine_evidence() for r in ratings if since is None or r.assessed_on >= since]
        if policy.count_self_assessment
        else []
    )
    outcome = calculation.compute(
        [e.as_engine_evidence() for e in this_year if e.voided_at is None] + counted_ratings,
        engine,
    )
    record = Mastery.objects.filter(school=school, student=student, target=target).first()
    descriptors = {
        d.level_value: d for d in LevelDescriptor.objects.filter(school=school, target=target)
    }
    rubric = [
        (
            info,
            descriptors.get(info.value),
            outcome.level is not None and info.value == Decimal(outcome.level),
        )
        for info in reversed(infos)
    ]
    requests = list(
        ReassessmentRequest.objects.filter(school=school, student=student, target=target).order_by(
            "-created_at"
        )[:5]
    )
    reassessments = list(
        Assessment.objects.filter(
            school=school,
            kind="reassessment",
            course_id=section.course_id,
            alignments__target=target,
        )
        .filter(Q(section__isnull=True) | Q(section=section))
        .order_by("-assessed_on")[:10]
    )
    goals = student_target_goals(school=school, student=student, target=target)
    audit = list(
        AuditEvent.objects.filter(
            school=school,
            object_type=AuditEvent.ObjectType.EVIDENCE,
            student_id=student.id,
            target_id=target.id,
        )
        .select_related("actor")
        .order_by("-at", "-id")[:50]
    )
    return CellDetail(
        student,
        target,
        section,
        history,
        record,
        outcome,
        rubric,
        attempt_chart(this_year, engine),
        requests,
        reassessments,
        policy,
        infos,
        goals,
        audit,
        counts_since=since,
        earlier=len(history) - len(this_year),
        last_year=last_year_near(school=school, student=student, target=target),
        self_assessments=ratings[::-1],
    )


def reassessment_candidates(
    *, school: School, section: Section
) -> list[tuple[LearningTarget, list[tuple[Student, Mastery]]]]:
    """Per course target: students of the section with evidence who have not reached mastery."""
    targets = course_targets(school=school, course_id=section.course_id)
    students = {s.id: s for s in section_students(school=school, section=section)}
    records = Mastery.objects.filter(
        school=school,
        student_id__in=list(students),
        target__in=targets,
        mastered=False,
        evidence_count__gt=0,
    ).order_by("score")
    by_target: dict[int, list] = defaultdict(list)
    for record in records:
        by_target[record.target_id].append((students[record.student_id], record))
    return [(t, by_target[t.id]) for t in targets]


def pair_history(*, school: School, student_id: int, target_id: int) -> list[Evidence]:
    """All evidence of one student on one target, voided included, oldest first."""
    return list(
        Evidence.objects.filter(school=school, student_id=student_id, target_id=target_id)
        .select_related("assessment", "recorded_by", "voided_by")
        .order_by("assessed_on", "id")
    )


def own_ratings(*, school: School, student_id: int, target_id: int) -> list[SelfAssessment]:
    """A student's live self-assessments on a target, oldest first, with who answered them."""
    return list(
        SelfAssessment.objects.filter(
            school=school, student_id=student_id, target_id=target_id, voided_at__isnull=True
        )
        .select_related("replied_by")
        .order_by("assessed_on", "id")
    )
