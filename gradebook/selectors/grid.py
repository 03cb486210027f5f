"""The section grid: students × the course's targets, course grades and each column's levels.

A constant number of queries whatever the size of the class (pinned by the tests).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from gradebook.models import (
    Section,
    Student,
)
from gradebook.selectors.common import (
    LevelInfo,
    MasteryCell,
    course_grades,
    course_targets,
    group_by_competency,
    level_infos,
    mastery_map,
    section_students,
)
from grading.policies import policy_for_course
from mastery import calculation
from mastery.models import (
    Competency,
    GradingPolicy,
    LearningTarget,
    School,
)
from mastery.selectors import achievement_levels


@dataclass
class GridRow:
    student: Student
    cells: list[MasteryCell | None]
    grade: calculation.CourseGrade


@dataclass
class ColumnSummary:
    target: LearningTarget
    counts: list[tuple[LevelInfo, int]]
    insufficient: int
    no_evidence: int

    @property
    def total(self) -> int:
        return sum(c for _, c in self.counts) + self.insufficient + self.no_evidence

    def bar(self, width: int = 100) -> list[tuple[str, int, int, str]]:
        """(css class, x, width, title) segments of a stacked bar, for an inline SVG."""
        total = self.total or 1
        x, segments = 0, []
        parts = [(f"fill-{c.abbreviation}", n, f"{n} {c.label}") for c, n in self.counts]
        parts.append(
            (
                "fill-none",
                self.insufficient + self.no_evidence,
                f"{self.insufficient + self.no_evidence} without a level",
            )
        )
        for i, (css, n, title) in enumerate(parts):
            w = round(width * n / total) if i < len(parts) - 1 else width - x
            if n:
                segments.append((css, x, max(w, 0), title))
            x += max(w, 0)
        return segments


@dataclass
class SectionGrid:
    section: Section
    groups: list[tuple[Competency, list[LearningTarget]]]
    targets: list[LearningTarget]
    rows: list[GridRow]
    levels: list[LevelInfo]
    columns: list[ColumnSummary]
    policy: GradingPolicy
    engine: calculation.Policy
    total_students: int
    sort: str = "name"
    focus: LearningTarget | None = None
    show: str = "all"
    level: Decimal | None = None

    @property
    def rule_in_words(self) -> list[str]:
        return calculation.describe_policy(self.engine)


def section_grid(
    *,
    school: School,
    section: Section,
    sort: str = "name",
    focus_id: int | None = None,
    show: str = "all",
    level: Decimal | None = None,
) -> SectionGrid:
    """Students × the course's targets (grouped by competency), with grades and distributions.

    sort: "name", "grade" (highest first), "target" (lowest first on the focus target).
    show: "all", "below" (not yet proficient on the focus target, or on any target without one),
    "level" (at `level` on the focus target). A constant 6 queries.
    """
    targets = course_targets(school=school, course_id=section.course_id)
    students = section_students(school=school, section=section)
    levels = achievement_levels(school)
    infos = level_infos(levels)
    cells = mastery_map(
        school=school, student_ids=[s.id for s in students], target_ids=[t.id for t in targets]
    )
    policy = policy_for_course(school=school, course_id=section.course_id)
    engine = policy.to_engine(levels)
    grades = course_grades(students, [t.id for t in targets], cells, engine)
    rows = [GridRow(s, [cells.get((s.id, t.id)) for t in targets], grades[s.id]) for s in students]

    columns = []
    for i, target in enumerate(targets):
        counts: Counter[Decimal] = Counter()
        insufficient = no_evidence = 0
        for row in rows:
            record = row.cells[i]
            if record is None or record.evidence_count == 0:
                no_evidence += 1
            elif record.level is None:
                insufficient += 1
            else:
                counts[record.level] += 1
        columns.append(
            ColumnSummary(
                target, [(info, counts[info.value]) for info in infos], insufficient, no_evidence
            )
        )

    focus = next((t for t in targets if t.id == focus_id), None)
    focus_index = targets.index(focus) if focus else None
    threshold = engine.mastery_threshold

    def not_yet(record: MasteryCell | None) -> bool:
        return record is None or record.score is None or record.score < threshold

    if show == "below":
        if focus_index is not None:
            rows = [r for r in rows if not_yet(r.cells[focus_index])]
        else:
            rows = [r for r in rows if any(not_yet(c) for c in r.cells)]
    elif show == "level" and focus_index is not None and level is not None:
        rows = [r for r in rows if (c := r.cells[focus_index]) and c.level == level]

    if sort == "grade":
        rows.sort(key=lambda r: (r.grade.mean is None, -(r.grade.mean or 0), r.student.last_name))
    elif sort == "target" and focus_index is not None:

        def by_focus_score(r: GridRow) -> tuple[bool, Decimal | int, str]:
            """Students without a score on the focus target first, then the lowest scores."""
            cell = r.cells[focus_index]
            score = cell.score if cell is not None else None
            return (score is not None, score if score is not None else 0, r.student.last_name)

        rows.sort(key=by_focus_score)
    return SectionGrid(
        section=section,
        groups=group_by_competency(targets),
        targets=targets,
        rows=rows,
        levels=infos,
        columns=columns,
        policy=policy,
        engine=engine,
        total_students=len(students),
        sort=sort,
        focus=focus,
        show=show,
        level=level,
    )
