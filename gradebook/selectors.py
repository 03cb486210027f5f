"""Reads of the gradebook. Every function takes the school and filters every table by it.

The page selectors (section_grid, scoring_grid, cell_detail) run a constant number of queries,
whatever the size of the class: the query-count tests pin them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import dateformat

from gradebook.extensions import student_target_goals
from gradebook.models import (
    Assessment,
    AssessmentFeedback,
    AssessmentTarget,
    Course,
    CourseTarget,
    Enrollment,
    Evidence,
    EvidenceStatus,
    Habit,
    HabitScore,
    Mastery,
    ReassessmentRequest,
    ScoringUndo,
    Section,
    SectionTeacher,
    Student,
)
from grading.policies import policy_for_course, policy_for_pair
from mastery import calculation
from mastery.models import (
    AuditEvent,
    Competency,
    GradingPolicy,
    LearningTarget,
    LevelDescriptor,
    ScaleLevel,
    School,
)
from mastery.selectors import achievement_levels, allowed_scores, current_policies

# What a teacher types for a status, and back.
STATUS_CODES = {
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
        return calculation.fmt(evidence.score)
    return STATUS_CODES.get(evidence.status, evidence.status)


def cell_state_display(state: dict | None) -> str:
    """A cell's values as kept by undo (gradebook.services.grid.cell_state), shown as in the cell."""
    if state is None:
        return ""
    if state["status"] == EvidenceStatus.SCORED:
        return calculation.fmt(Decimal(state["score"]))
    return STATUS_CODES.get(state["status"], state["status"])


def scoring_undo_stack(
    *, school: School, user, section: Section, assessment: Assessment
) -> QuerySet[ScoringUndo]:
    """One user's undo stack in one grid: a section's scoring page of one assessment.

    A common assessment is scored in every section of the course: keyed by the assessment alone,
    Period 2's page offered (and reverted) a Period 1 change. Each entry keeps its section.
    """
    return ScoringUndo.objects.filter(
        school=school, user=user, assessment=assessment, action__section=section.id
    )


def scoring_undo_label(*, school: School, user, section: Section, assessment: Assessment):
    """What the scoring page's Undo button will take back (the top of the stack), or None."""
    stack = scoring_undo_stack(school=school, user=user, section=section, assessment=assessment)
    return stack.order_by("-id").values_list("description", flat=True).first()


# --- Levels ------------------------------------------------------------------------------------


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


# --- Teacher home --------------------------------------------------------------------------------


def sections_with_counts(*, school: School, ids) -> list[Section]:
    """Sections with `student_count` (active enrollments), by period."""
    return list(
        Section.objects.filter(school=school, id__in=ids)
        .select_related("course", "term")
        .annotate(
            student_count=Count("enrollments", filter=Q(enrollments__withdrawn_on__isnull=True))
        )
        .order_by("period", "course__code")
    )


def sections_taught_by(*, school: School, user) -> list[Section]:
    return sections_with_counts(
        school=school,
        ids=SectionTeacher.objects.filter(school=school, teacher=user).values("section_id"),
    )


@dataclass
class ScoringTodo:
    section: Section
    assessment: Assessment
    scored: int
    expected: int

    @property
    def missing(self) -> int:
        return self.expected - self.scored


def scoring_todo(
    *, school: School, sections: list[Section], since_days: int = 60
) -> list[ScoringTodo]:
    """Assessments of these sections from the last weeks with cells still empty (3 queries)."""
    if not sections:
        return []
    since = date.today() - timedelta(days=since_days)
    by_id = {s.id: s for s in sections}
    course_ids = {s.course_id for s in sections}
    assessments = list(
        Assessment.objects.filter(school=school, course_id__in=course_ids, assessed_on__gte=since)
        # A reassessment is taken only by the students who need it: empty cells are expected.
        .exclude(kind="reassessment")
        .filter(Q(section__isnull=True) | Q(section_id__in=by_id))
        .annotate(target_count=Count("alignments"))
        .order_by("-assessed_on")
    )
    if not assessments:
        return []
    # Live evidence per (assessment, section of the student).
    scored = {
        (row["assessment_id"], row["student__enrollments__section_id"]): row["n"]
        for row in Evidence.objects.filter(
            school=school,
            assessment__in=assessments,
            voided_at__isnull=True,
            student__enrollments__section_id__in=by_id,
            student__enrollments__withdrawn_on__isnull=True,
        )
        .values("assessment_id", "student__enrollments__section_id")
        .annotate(n=Count("id"))
    }
    todo = []
    for assessment in assessments:
        for section in sections:
            if section.course_id != assessment.course_id:
                continue
            if assessment.section_id and assessment.section_id != section.id:
                continue
            expected = section.student_count * assessment.target_count
            done = scored.get((assessment.id, section.id), 0)
            if expected and done < expected:
                todo.append(ScoringTodo(section, assessment, done, expected))
    return todo


def open_reassessment_requests(
    *, school: School, sections: list[Section]
) -> list[ReassessmentRequest]:
    return list(
        ReassessmentRequest.objects.filter(
            school=school,
            status__in=[ReassessmentRequest.Status.OPEN, ReassessmentRequest.Status.SCHEDULED],
            section__in=sections,
        )
        .select_related("student", "target", "section__course")
        .order_by("created_at")
    )


# --- The section grid ----------------------------------------------------------------------------


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


@dataclass
class GridRow:
    student: Student
    cells: list[Mastery | None]
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


def mastery_map(*, school: School, student_ids, target_ids) -> dict[tuple[int, int], MasteryCell]:
    return {
        (row[0], row[1]): MasteryCell(*row)
        for row in Mastery.objects.filter(
            school=school, student_id__in=student_ids, target_id__in=target_ids
        ).values_list(*CELL_FIELDS)
    }


def course_grades(students, target_ids, cells, engine) -> dict[int, calculation.CourseGrade]:
    return {
        s.id: calculation.course_grade(
            [cells[(s.id, t)].score if (s.id, t) in cells else None for t in target_ids], engine
        )
        for s in students
    }


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
        counts = Counter()
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

    def not_yet(record: Mastery | None) -> bool:
        return record is None or record.score is None or record.score < threshold

    if show == "below":
        if focus_index is not None:
            rows = [r for r in rows if not_yet(r.cells[focus_index])]
        else:
            rows = [r for r in rows if any(not_yet(c) for c in r.cells)]
    elif show == "level" and focus_index is not None and level is not None:
        rows = [r for r in rows if r.cells[focus_index] and r.cells[focus_index].level == level]

    if sort == "grade":
        rows.sort(key=lambda r: (r.grade.mean is None, -(r.grade.mean or 0), r.student.last_name))
    elif sort == "target" and focus_index is not None:
        rows.sort(
            key=lambda r: (
                r.cells[focus_index] is not None and r.cells[focus_index].score is not None,
                r.cells[focus_index].score
                if r.cells[focus_index] and r.cells[focus_index].score is not None
                else 0,
                r.student.last_name,
            )
        )
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


# --- Scoring an assessment ------------------------------------------------------------------------


def section_assessments(*, school: School, section: Section) -> QuerySet[Assessment]:
    """Assessments a section scores: common to its course, or its own."""
    return (
        Assessment.objects.filter(school=school, course_id=section.course_id)
        .filter(Q(section__isnull=True) | Q(section=section))
        .prefetch_related(
            Prefetch(
                "targets",
                queryset=LearningTarget.objects.filter(school=school)
                .select_related("competency")
                .order_by("code"),
            )
        )
        .select_related("original")
        .order_by("-assessed_on", "title")
    )


@dataclass
class ScoringRow:
    student: Student
    cells: list[tuple[LearningTarget, Evidence | None, Mastery | None]]
    grade: calculation.CourseGrade
    feedback: str


@dataclass
class ScoringGrid:
    section: Section
    assessment: Assessment
    targets: list[LearningTarget]
    rows: list[ScoringRow]
    levels: list[LevelInfo]
    allowed: list[Decimal]
    engine: calculation.Policy

    @property
    def allowed_text(self) -> str:
        return ", ".join(calculation.fmt(a) for a in self.allowed)

    @property
    def empty_cells(self) -> int:
        return sum(1 for row in self.rows for _, e, _ in row.cells if e is None)


def assessment_targets(*, school: School, assessment: Assessment) -> list[LearningTarget]:
    """The assessment's targets in the course's order (competency, then position, then code)."""
    prefetched = getattr(assessment, "_prefetched_objects_cache", {}).get("targets")
    if prefetched is not None:  # section_assessments() loaded them with their competencies
        return sorted(prefetched, key=lambda t: (t.competency.position, t.position, t.code))
    return [
        at.target
        for at in AssessmentTarget.objects.filter(school=school, assessment=assessment)
        .select_related("target")
        .order_by("target__competency__position", "target__position", "target__code")
    ]


def scoring_grid(
    *, school: School, section: Section, assessment: Assessment, students=None
) -> ScoringGrid:
    """Students × the assessment's targets with each live score, the mastery now, and the grade.

    A constant 8 queries; pass `students` to build only some rows (the htmx fragments).
    """
    targets = assessment_targets(school=school, assessment=assessment)
    students = (
        students if students is not None else section_students(school=school, section=section)
    )
    student_ids = [s.id for s in students]
    live = {
        (e.student_id, e.target_id): e
        for e in Evidence.objects.filter(
            school=school, assessment=assessment, student_id__in=student_ids, voided_at__isnull=True
        )
    }
    # The course's targets, for the course grade: only their ids are needed here.
    course_target_ids = list(
        CourseTarget.objects.filter(school=school, course_id=section.course_id).values_list(
            "target_id", flat=True
        )
    )
    cells = mastery_map(
        school=school,
        student_ids=student_ids,
        target_ids=course_target_ids + [t.id for t in targets],
    )
    levels = achievement_levels(school)
    engine = policy_for_course(school=school, course_id=section.course_id).to_engine(levels)
    grades = course_grades(students, course_target_ids, cells, engine)
    feedback = dict(
        AssessmentFeedback.objects.filter(
            school=school, assessment=assessment, student_id__in=student_ids
        ).values_list("student_id", "text")
    )
    rows = [
        ScoringRow(
            s,
            [(t, live.get((s.id, t.id)), cells.get((s.id, t.id))) for t in targets],
            grades[s.id],
            feedback.get(s.id, ""),
        )
        for s in students
    ]
    return ScoringGrid(
        section, assessment, targets, rows, level_infos(levels), allowed_scores(levels), engine
    )


# --- Cell detail ----------------------------------------------------------------------------------


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


def attempt_chart(
    history: list[Evidence],
    engine: calculation.Policy,
    width=320,
    height=120,
    pad=24,
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

    def y_of(value: Decimal) -> str:
        return _svg_number(pad / 2 + (height - pad) * float((hi - value) / (hi - lo)))

    points = []
    for i, e in enumerate(scored):
        x = pad + (width - 2 * pad) * (i / (n - 1) if n > 1 else 0.5)
        points.append(
            ChartPoint(
                _svg_number(x),
                y_of(e.score),
                f"{dateformat.format(e.assessed_on, 'M j')}: {calculation.fmt(e.score)} ({e.assessment.title})"
                if labels
                else "",
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
    outcome = calculation.compute(
        [e.as_engine_evidence() for e in history if e.voided_at is None], engine
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
        attempt_chart(history, engine),
        requests,
        reassessments,
        policy,
        infos,
        goals,
        audit,
    )


# --- Students who need a reassessment -------------------------------------------------------------


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


# --- A student's progress -------------------------------------------------------------------------


@dataclass
class CourseProgress:
    course: Course
    section: Section
    targets: list[LearningTarget]
    records: dict[int, Mastery]
    grade: calculation.CourseGrade


def student_progress(*, school: School, student: Student) -> list[CourseProgress]:
    """The student's courses with each target's Mastery record and the course grade."""
    enrollments = list(
        Enrollment.objects.filter(school=school, student=student, withdrawn_on__isnull=True)
        .select_related("section__course", "section__term")
        .order_by("section__course__code")
    )
    course_ids = [e.section.course_id for e in enrollments]
    targets_by_course: dict[int, list[LearningTarget]] = {cid: [] for cid in course_ids}
    for ct in (
        CourseTarget.objects.filter(school=school, course_id__in=course_ids)
        .select_related("target")
        .order_by("position", "target__code")
    ):
        targets_by_course[ct.course_id].append(ct.target)
    records = {m.target_id: m for m in Mastery.objects.filter(school=school, student=student)}
    levels = achievement_levels(school)
    policies = current_policies(school)
    progress = []
    for enrollment in enrollments:
        course = enrollment.section.course
        targets = targets_by_course[course.id]
        engine = policy_for_course(school=school, course_id=course.id, policies=policies).to_engine(
            levels
        )
        grade = calculation.course_grade(
            [records[t.id].score if t.id in records else None for t in targets], engine
        )
        progress.append(
            CourseProgress(
                course,
                enrollment.section,
                targets,
                {t.id: records.get(t.id) for t in targets},
                grade,
            )
        )
    return progress


def target_with_descriptors(*, school: School, target_id: int) -> LearningTarget | None:
    return (
        LearningTarget.objects.filter(school=school, id=target_id)
        .select_related("competency", "department")
        .prefetch_related(
            Prefetch(
                "descriptors",
                queryset=LevelDescriptor.objects.filter(school=school).order_by("level_value"),
            )
        )
        .first()
    )


@dataclass
class HabitSummary:
    section: Section
    rows: list[
        tuple[str, Decimal | None, int, date | None]
    ]  # habit, latest score, count, latest date


def student_habits(*, school: School, student: Student) -> list[HabitSummary]:
    """Habits of work per section: the latest score of each habit (on its own scale), never mixed in."""
    habits = list(Habit.objects.filter(school=school).order_by("position", "name"))
    scores = (
        HabitScore.objects.filter(school=school, student=student, voided_at__isnull=True)
        .select_related("section__course")
        .order_by("assessed_on", "id")
    )
    by_section: dict[int, dict] = {}
    sections: dict[int, Section] = {}
    for score in scores:
        sections[score.section_id] = score.section
        entry = by_section.setdefault(score.section_id, {})
        latest, count, _ = entry.get(score.habit_id, (None, 0, None))
        entry[score.habit_id] = (score.score, count + 1, score.assessed_on)
    return [
        HabitSummary(
            sections[sid], [(h.name, *by_section[sid].get(h.id, (None, 0, None))) for h in habits]
        )
        for sid in sorted(sections, key=lambda i: sections[i].course.name)
    ]
