"""What the gradebook's pages share: how a cell shows a score or a status, the levels with their
colours, a course's targets and a section's students, and the Mastery records of a set of cells.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, QuerySet

from gradebook.models import (
    CourseTarget,
    Enrollment,
    Evidence,
    EvidenceStatus,
    Mastery,
    Section,
    Student,
)
from mastery import calculation
from mastery.models import (
    Competency,
    LearningTarget,
    ScaleLevel,
    School,
)

# What a teacher types for a status, and back.
STATUS_CODES: dict[str, str] = {
    EvidenceStatus.MISSING: "M",
    EvidenceStatus.EXCUSED: "EX",
    EvidenceStatus.INCOMPLETE: "INC",
    EvidenceStatus.INSUFFICIENT: "IE",
}


CODE_STATUSES = {code: status for status, code in STATUS_CODES.items()}


def evidence_display(evidence: Evidence | None) -> str:
    """What a scoring cell shows: 3, 2.5, or a status code."""
    if evidence is None:
        return ""
    if evidence.status == EvidenceStatus.SCORED:
        # A scored row has a score (the check constraint evidence_score_iff_scored).
        assert evidence.score is not None
        return calculation.fmt(evidence.score)
    return STATUS_CODES.get(evidence.status, evidence.status)


def cell_state_display(state: dict | None) -> str:
    """A cell's values as kept by undo (gradebook.services.grid.cell_state), shown as in the cell."""
    if state is None:
        return ""
    if state["status"] == EvidenceStatus.SCORED:
        return calculation.fmt(Decimal(state["score"]))
    return STATUS_CODES.get(state["status"], state["status"])


@dataclass(frozen=True)
class LevelInfo:
    value: Decimal
    label: str
    abbreviation: str
    cutoff: Decimal
    color: str


def level_infos(levels: list[ScaleLevel]) -> list[LevelInfo]:
    """The scale's levels with a short, unique abbreviation for dense grids (B, D, P, A)."""
    abbreviations: dict[Decimal, str] = {}
    for size in (1, 2, 3):
        candidate = {lv.value: lv.label[:size].upper() for lv in levels}
        if len(set(candidate.values())) == len(levels):
            abbreviations = candidate
            break
    else:
        abbreviations = {lv.value: calculation.fmt(lv.value) for lv in levels}
    return [
        LevelInfo(lv.value, lv.display_label, abbreviations[lv.value], lv.cutoff, lv.color)
        for lv in levels
    ]


def level_for(value: Decimal | None, infos: list[LevelInfo]) -> LevelInfo | None:
    if value is None:
        return None
    for info in infos:
        if info.value == value:
            return info
    return None


def course_targets(*, school: School, course_id: int) -> list[LearningTarget]:
    """The course's targets, grouped by competency (competency order, then the course's order)."""
    rows = (
        CourseTarget.objects.filter(school=school, course_id=course_id)
        .select_related("target__competency")
        .order_by(
            "target__competency__position", "target__competency__code", "position", "target__code"
        )
    )
    return [ct.target for ct in rows]


def group_by_competency(
    targets: list[LearningTarget],
) -> list[tuple[Competency, list[LearningTarget]]]:
    groups: list[tuple[Competency, list[LearningTarget]]] = []
    for target in targets:
        if groups and groups[-1][0].id == target.competency_id:
            groups[-1][1].append(target)
        else:
            groups.append((target.competency, [target]))
    return groups


def section_students(*, school: School, section: Section) -> list[Student]:
    return list(
        Student.objects.filter(
            school=school,
            enrollments__section=section,
            enrollments__withdrawn_on__isnull=True,
        ).order_by("last_name", "first_name")
    )


def section_student_ids(section: Section) -> QuerySet:
    """The ids of the section's active students, as a subquery."""
    return Enrollment.objects.filter(
        school=section.school_id, section=section, withdrawn_on__isnull=True
    ).values("student_id")


def section_cells_q(section: Section) -> Q:
    """The student × target cells of a section's grid, as a filter on Mastery (or any table with
    student and target columns): its active students on its course's targets."""
    return Q(
        student_id__in=section_student_ids(section),
        target_id__in=CourseTarget.objects.filter(
            school=section.school_id, course_id=section.course_id
        ).values("target_id"),
    )


@dataclass(slots=True)
class MasteryCell:
    """The fields of a Mastery record that grids show (without a model instance per cell)."""

    student_id: int
    target_id: int
    score: Decimal | None
    level: Decimal | None
    mastered: bool
    evidence_count: int
    explanation: str


CELL_FIELDS = (
    "student_id",
    "target_id",
    "score",
    "level",
    "mastered",
    "evidence_count",
    "explanation",
)


def mastery_map(
    *, school: School, student_ids: Iterable[int], target_ids: Iterable[int]
) -> dict[tuple[int, int], MasteryCell]:
    return {
        (row[0], row[1]): MasteryCell(*row)
        for row in Mastery.objects.filter(
            school=school, student_id__in=student_ids, target_id__in=target_ids
        ).values_list(*CELL_FIELDS)
    }


def course_grades(
    students: Iterable[Student],
    target_ids: Collection[int],
    cells: Mapping[tuple[int, int], MasteryCell],
    engine: calculation.Policy,
) -> dict[int, calculation.CourseGrade]:
    return {
        s.id: calculation.course_grade(
            [cells[(s.id, t)].score if (s.id, t) in cells else None for t in target_ids], engine
        )
        for s in students
    }
