"""Reads for the progress report and the portals: one student's progress, in the reader's language.

`student_report` gathers everything a report shows in a bounded number of queries (about 14,
whatever the number of courses); it reads the active language, so call it inside
`translation.override(lang)` to build a report in another language.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext_noop

from gradebook.models import (
    Assessment,
    AssessmentFeedback,
    AssessmentTarget,
    CourseTarget,
    Enrollment,
    Evidence,
    FileAttachment,
    Guardianship,
    Mastery,
    ReassessmentRequest,
    SectionTeacher,
    SelfAssessment,
    Student,
)
from gradebook.selectors.cells import attempt_chart, own_ratings
from gradebook.selectors.common import level_infos
from gradebook.selectors.reassessment import BY_FAMILY, BY_STUDENT
from gradebook.selectors.students import student_habits
from grading.policies import policy_for_course, policy_for_pair
from grading.rules import rules_in, rules_index, rules_statement
from intervention.models import WEEKDAY_NAMES, RosterEntry
from mastery import calculation
from mastery.models import LearningTarget, LevelDescriptor, School, User
from mastery.selectors import achievement_levels, allowed_scores, current_policies
from mastery.tenancy import all_schools
from reports import explain
from reports.models import StudentGoal

# The habits of work every school starts with (effort, participation, practice): families read a
# habit's name through the catalogue, so these read in their language; names a school gives its
# own habits show as written.
DEFAULT_HABIT_NAMES = (
    gettext_noop("Effort"),
    gettext_noop("Participation"),
    gettext_noop("Practice"),
)

TEMPLATE_VERSION = "8"  # bump when the report's layout changes: cached PDFs are then rendered anew


@dataclass
class TargetLine:
    target: LearningTarget
    statement: str
    record: ReportRecord | None
    level_label: str
    descriptor_now: str
    next_label: str
    descriptor_next: str
    sentence: str  # how the level was computed, the method named (one tap away for families)
    family_sentence: str  # the same in a parent's words
    chart: dict
    feedback: str
    feedback_on: date | None
    goals: list[StudentGoal] = field(default_factory=list)
    # The student's latest live rating of themselves on the target (shown beside the level).
    own_rating: SelfAssessment | None = None
    own_counts: bool = False  # the governing policy counts the student's ratings as evidence
    # Photos and files of the student's work on the target's live evidence (a count on the report).
    work_files: int = 0

    @property
    def score(self) -> Decimal | None:
        return self.record.score if self.record else None

    @property
    def level(self) -> Decimal | None:
        return self.record.level if self.record else None

    @property
    def mastered(self) -> bool:
        return bool(self.record and self.record.mastered)


@dataclass
class CourseReport:
    course_name: str
    section_name: str
    teachers: list[str]
    lines: list[TargetLine]
    grade: calculation.CourseGrade
    grade_sentence: str
    section_id: int

    @property
    def mastered_count(self) -> int:
        return sum(1 for line in self.lines if line.mastered)


@dataclass
class InterventionLine:
    cycle_number: int
    starts_on: date
    ends_on: date
    weekday: str
    what: str
    teacher: str
    room: str
    outcome: str
    waitlisted: bool


@dataclass
class StudentReport:
    school: School
    student: Student
    term_name: str
    generated_on: date
    language: str
    courses: list[CourseReport]
    habits: list
    interventions: list[InterventionLine]
    recent: list[Evidence]
    opportunities: list[tuple[LearningTarget, ReportRecord]]
    requests: list[ReassessmentRequest]
    levels: list
    # The reassessment rules in words: (the courses they govern, the sentences), one entry per
    # distinct set of rules (most schools: one); and the targets each kind of asker may ask on.
    reassessment_rules: list[tuple[list[str], list[str]]] = field(default_factory=list)
    may_ask: dict[str, set[int]] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """A digest of everything the report shows: unchanged data gives the same PDF."""
        data = {
            "v": TEMPLATE_VERSION,
            "lang": self.language,
            "on": str(self.generated_on),  # the report prints its date
            "school": self.school.name,  # in the heading and the footer of every page
            "student": [
                self.student.id,
                self.student.display_name,
                self.student.local_id,
                self.student.grade_level,
            ],
            "term": self.term_name,
            "courses": [
                [
                    c.course_name,
                    c.section_name,
                    c.teachers,
                    c.grade.letter,
                    str(c.grade.mean),
                    c.grade_sentence,
                    [
                        [
                            line.target.code,
                            line.statement,
                            str(line.score),
                            str(line.level),
                            line.sentence,
                            line.feedback,
                            [(p.x, p.y) for p in line.chart.get("points", [])],
                            line.work_files,
                        ]
                        for line in c.lines
                    ],
                ]
                for c in self.courses
            ],
            "habits": [[h.section.id, [(n, str(s)) for n, s, _, _ in h.rows]] for h in self.habits],
            "interventions": [
                [i.cycle_number, i.weekday, i.what, i.outcome] for i in self.interventions
            ],
            "reassessment_rules": self.reassessment_rules,
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(slots=True)
class LiveEvidence:
    """What the report reads of a live (unvoided) piece of evidence: no model instance per row."""

    id: int
    target_id: int
    score: Decimal | None
    status: str
    kind: str
    assessed_on: date
    feedback: str
    assessment_id: int
    voided_at: None = None


@dataclass(slots=True)
class ReportRecord:
    """The fields of a Mastery record the report shows."""

    target_id: int
    score: Decimal | None
    level: Decimal | None
    mastered: bool
    evidence_count: int
    scores_counted: int


def _latest_feedback(
    evidence: list[LiveEvidence], comments: dict[int, tuple[str, date]]
) -> tuple[str, date | None]:
    """The most recent teacher feedback on a target: a score's feedback or the assessment comment."""
    best: tuple[str, date | None] = ("", None)
    for e in evidence:
        candidates = []
        if e.feedback:
            candidates.append((e.feedback, e.assessed_on))
        if e.assessment_id in comments:
            candidates.append(comments[e.assessment_id])
        for text, day in candidates:
            if best[1] is None or day >= best[1]:
                best = (text, day)
    return best


def student_report(*, school: School, student: Student, with_goals: bool = False) -> StudentReport:
    """Everything the progress report (and the portal's child page) shows for one student."""
    language = translation.get_language() or "en"
    enrollments = list(
        Enrollment.objects.filter(school=school, student=student, withdrawn_on__isnull=True)
        .select_related("section__course", "section__term")
        .order_by("section__course__name")
    )
    course_ids = [e.section.course_id for e in enrollments]
    targets_by_course: dict[int, list[LearningTarget]] = defaultdict(list)
    for ct in (
        CourseTarget.objects.filter(school=school, course_id__in=course_ids)
        .select_related("target")
        .order_by("position", "target__code")
    ):
        targets_by_course[ct.course_id].append(ct.target)
    target_ids = {t.id for targets in targets_by_course.values() for t in targets}
    records = {
        row[0]: ReportRecord(*row)
        for row in Mastery.objects.filter(
            school=school, student=student, target_id__in=target_ids
        ).values_list("target_id", "score", "level", "mastered", "evidence_count", "scores_counted")
    }
    live = defaultdict(list)
    for row in (
        Evidence.objects.filter(
            school=school, student=student, voided_at__isnull=True, target_id__in=target_ids
        )
        .order_by("assessed_on", "id")
        .values_list(
            "id",
            "target_id",
            "score",
            "status",
            "kind",
            "assessed_on",
            "feedback",
            "assessment_id",
        )
    ):
        live[row[1]].append(LiveEvidence(*row))
    comments = {
        f.assessment_id: (f.text, f.assessment.assessed_on)
        for f in AssessmentFeedback.objects.filter(school=school, student=student).select_related(
            "assessment"
        )
    }
    scale = achievement_levels(school)
    infos = level_infos(scale)
    by_value = {lv.value: lv for lv in scale}
    # Descriptor texts in the report's language (the school's Spanish, else English).
    descriptors: dict[int, dict[Decimal, str]] = defaultdict(dict)
    for target_id, value, text, text_es in LevelDescriptor.objects.filter(
        school=school, target_id__in=target_ids
    ).values_list("target_id", "level_value", "text", "text_es"):
        descriptors[target_id][value] = text_es if language == "es" and text_es else text
    policies = current_policies(school)
    teachers: dict[int, list[str]] = defaultdict(list)
    for st in SectionTeacher.objects.filter(
        school=school, section_id__in=[e.section_id for e in enrollments]
    ).select_related("teacher"):
        teachers[st.section_id].append(st.teacher.full_name)
    own_ratings = {
        r.target_id: r  # oldest first, so the latest of each target stays
        for r in SelfAssessment.objects.filter(
            school=school, student=student, voided_at__isnull=True, target_id__in=target_ids
        )
        .select_related("replied_by")
        .order_by("assessed_on", "id")
    }
    work_files = dict(
        FileAttachment.objects.filter(
            school=school,
            student=student,
            voided_at__isnull=True,
            file__voided_at__isnull=True,
            evidence__voided_at__isnull=True,
            evidence__target_id__in=target_ids,
        )
        .values_list("evidence__target_id")
        .annotate(n=Count("id"))
        .values_list("evidence__target_id", "n")
    )
    goals: dict[int, list[StudentGoal]] = defaultdict(list)
    if with_goals:
        for goal in StudentGoal.objects.filter(school=school, student=student):
            goals[goal.target_id].append(goal)

    courses = []
    for enrollment in enrollments:
        course = enrollment.section.course
        policy = policy_for_course(school=school, course_id=course.id, policies=policies)
        engine = policy.to_engine(scale)
        lines = []
        for target in targets_by_course[course.id]:
            record = records.get(target.id)
            current = by_value.get(record.level) if record and record.level is not None else None
            above = [lv for lv in scale if current is None or lv.value > current.value]
            if current is None:
                # No level yet: the next step is mastery itself.
                above = [lv for lv in scale if lv.value >= engine.mastery_threshold] or above
            nxt = above[0] if above else None
            now_text = descriptors[target.id].get(current.value, "") if current else ""
            next_text = descriptors[target.id].get(nxt.value, "") if nxt else ""
            feedback, feedback_on = _latest_feedback(live[target.id], comments)
            lines.append(
                TargetLine(
                    target=target,
                    statement=target.display_statement,
                    record=record,
                    level_label=current.display_label if current else "",
                    descriptor_now=now_text,
                    next_label=nxt.display_label if nxt else "",
                    descriptor_next=next_text,
                    sentence=explain.record_sentence(record, policy),
                    family_sentence=explain.family_sentence(record, policy),
                    chart=attempt_chart(
                        live[target.id],
                        engine,
                        width=72,
                        height=18,
                        pad=4,
                        labels=False,
                    ),
                    feedback=feedback,
                    feedback_on=feedback_on,
                    goals=goals.get(target.id, []),
                    own_rating=own_ratings.get(target.id),
                    own_counts=policy.count_self_assessment,
                    work_files=work_files.get(target.id, 0),
                )
            )
        grade = calculation.course_grade([line.score for line in lines], engine)
        courses.append(
            CourseReport(
                course.name,
                enrollment.section.name,
                teachers[enrollment.section_id],
                lines,
                grade,
                explain.grade_sentence(grade, policy),
                enrollment.section_id,
            )
        )

    interventions = [
        InterventionLine(
            e.cycle.number,
            e.cycle.starts_on,
            e.cycle.ends_on,
            str(WEEKDAY_NAMES.get(e.weekday, "")),
            e.target.display_statement if e.target else translation.gettext("Enrichment"),
            e.group.teacher.full_name if e.group and e.group.teacher else "",
            e.group.room if e.group else "",
            e.get_outcome_display(),
            e.group_id is None,
        )
        for e in RosterEntry.objects.filter(school=school, student=student)
        .select_related("cycle", "target", "group__teacher")
        .order_by("-cycle__number", "weekday")[:6]
    ]
    recent = list(
        Evidence.objects.filter(school=school, student=student, voided_at__isnull=True)
        .select_related("assessment", "target")
        .order_by("-assessed_on", "-id")[:8]
    )
    opportunities = [
        (line.target, line.record)
        for course in courses
        for line in course.lines
        if line.record is not None and line.record.evidence_count and not line.mastered
    ]
    requests = list(
        ReassessmentRequest.objects.filter(
            school=school,
            student=student,
            status__in=[ReassessmentRequest.Status.OPEN, ReassessmentRequest.Status.SCHEDULED],
        ).select_related("target")
    )
    # The rules of each course in the reader's language, courses with the same rules together.
    statements: dict[tuple[str, ...], tuple[list[str], list[str]]] = {}
    may_ask: dict[str, set[int]] = {BY_STUDENT: set(), BY_FAMILY: set()}
    index = rules_index(school)
    for enrollment in enrollments:
        course = enrollment.section.course
        rule = rules_in(index, school, course.id)
        policy = policy_for_course(school=school, course_id=course.id, policies=policies)
        sentences = rules_statement(rule, policy)
        statements.setdefault(tuple(sentences), ([], sentences))[0].append(course.name)
        course_targets = {t.id for t in targets_by_course[course.id]}
        if rule.students_may_request:
            may_ask[BY_STUDENT] |= course_targets
        if rule.families_may_request:
            may_ask[BY_FAMILY] |= course_targets
    # The term by its months, in the reader's language: its name is the school's, in one language.
    terms = sorted({(e.section.term.starts_on, e.section.term.ends_on) for e in enrollments})
    return StudentReport(
        school=school,
        student=student,
        term_name=", ".join(
            f"{date_format(start, 'YEAR_MONTH_FORMAT')} – {date_format(end, 'YEAR_MONTH_FORMAT')}"
            for start, end in terms
        ),
        generated_on=timezone.localdate(),
        language=language,
        courses=courses,
        habits=student_habits(school=school, student=student),
        interventions=interventions,
        recent=recent,
        opportunities=opportunities,
        requests=requests,
        levels=infos,
        reassessment_rules=list(statements.values()),
        may_ask=may_ask,
    )


@dataclass
class RatingChoice:
    """One score a student may give themselves: the scale's value, its level, and what the
    target's rubric says at that level (empty for a half point)."""

    value: str
    label: str
    descriptor: str
    level_value: Decimal | None


def self_assessment_page(
    *, school: School, student: Student, target: LearningTarget
) -> dict[str, Any]:
    """What the student's rating page shows: the level now, the rubric as choices (highest
    first), their earlier live ratings (newest first) with the teachers' answers, and whether
    the governing policy counts ratings."""
    language = translation.get_language() or "en"
    scale = achievement_levels(school)
    by_value = {lv.value: lv for lv in scale}
    texts = {
        value: (text_es if language == "es" and text_es else text)
        for value, text, text_es in LevelDescriptor.objects.filter(
            school=school, target=target
        ).values_list("level_value", "text", "text_es")
    }
    choices = []
    for value in reversed(allowed_scores(scale)):
        # The level a score of this value bands into (as a computed score would): a half point
        # may reach the level above (3.5 is Advanced on the default scale).
        reached = [lv for lv in sorted(scale, key=lambda lv: lv.cutoff) if lv.cutoff <= value]
        band = reached[-1] if reached else None
        choices.append(
            RatingChoice(
                value=calculation.fmt(value),
                label=band.display_label if band else "",
                descriptor=texts.get(value, "") if value in by_value else "",
                level_value=band.value if band else None,
            )
        )
    policy = policy_for_pair(school=school, student_id=student.id, target_id=target.id)
    return {
        "student": student,
        "target": target,
        "record": Mastery.objects.filter(school=school, student=student, target=target).first(),
        "levels": level_infos(scale),
        "choices": choices,
        "history": own_ratings(school=school, student_id=student.id, target_id=target.id)[::-1],
        "counted": policy.count_self_assessment,
    }


def target_goals(school: School, student: Student, target: LearningTarget) -> list[StudentGoal]:
    """The student's latest goals on one target (the gradebook's cell page shows them)."""
    return list(StudentGoal.objects.filter(school=school, student=student, target=target)[:5])


def student_targets_by_id(school: School, student: Student) -> dict[int, LearningTarget]:
    return {t.id: t for t in student_targets(school, student)}


def student_requests(*, school: School, student: Student) -> list[ReassessmentRequest]:
    """The student's reassessment requests, live ones first, then the latest ended (the portal's
    list: what was asked, and what became of it)."""
    requests = list(
        ReassessmentRequest.objects.filter(school=school, student=student)
        .select_related("target")
        .order_by("-created_at")[:20]
    )
    return sorted(requests, key=lambda r: not r.live)


def student_targets(school: School, student: Student) -> list[LearningTarget]:
    """The active learning targets of the student's current courses (what goals may be set on)."""
    return list(
        LearningTarget.objects.filter(
            school=school,
            is_active=True,
            course_targets__course__sections__enrollments__student=student,
            course_targets__course__sections__enrollments__withdrawn_on__isnull=True,
        )
        .distinct()
        .order_by("code")
    )


def guardian_children(user: User) -> list[tuple[School, Student, Mapping[str, Any]]]:
    """Every child of a guardian across schools, with a count of targets mastered (2 queries)."""

    with all_schools():  # a family's children may be in several schools
        links = list(
            Guardianship.objects.filter(guardian=user)
            .select_related("student", "school")
            .order_by("school__name", "student__first_name")
        )
        # By school and student, so the lookup uses the (school, student, target) index.
        by_school: dict[int, list[int]] = {}
        for g in links:
            by_school.setdefault(g.school_id, []).append(g.student_id)
        children = Q(pk__in=[])
        for school_id, student_ids in by_school.items():
            children |= Q(school_id=school_id, student_id__in=student_ids)
        counts = {
            row["student_id"]: row
            for row in Mastery.objects.filter(children, evidence_count__gt=0)
            .values("student_id")
            .annotate(total=Count("id"), mastered=Count("id", filter=Q(mastered=True)))
        }
    return [
        (g.school, g.student, counts.get(g.student_id, {"total": 0, "mastered": 0})) for g in links
    ]


@dataclass
class UpcomingReassessment:
    assessed_on: date
    statements: list[str]  # what it is about, in the reader's language


def upcoming_reassessments(*, school: School, student: Student) -> list[UpcomingReassessment]:
    """Reassessments scheduled from today that concern the student (at most 5).

    A reassessment concerns a student when it is given in one of their sections (or common to one
    of their courses), nobody has been scored on it yet, and the student has not mastered one of
    its targets. One recorded for particular students (the cell detail makes an assessment for
    each retake it records) has been given to them: it is in their latest work, and it is never
    shown to a classmate's family as scheduled.
    """
    enrolled = Enrollment.objects.filter(school=school, student=student, withdrawn_on__isnull=True)
    mastered = Mastery.objects.filter(school=school, student=student, mastered=True).values(
        "target_id"
    )
    given = Evidence.objects.filter(
        school=school, assessment=OuterRef("pk"), voided_at__isnull=True
    )
    still_to_master = AssessmentTarget.objects.filter(
        school=school, assessment=OuterRef("pk")
    ).exclude(target_id__in=mastered)
    assessments = (
        Assessment.objects.filter(
            school=school, kind="reassessment", assessed_on__gte=timezone.localdate()
        )
        .filter(
            Q(section_id__in=enrolled.values("section_id"))
            | Q(section__isnull=True, course_id__in=enrolled.values("section__course_id"))
        )
        .filter(~Exists(given), Exists(still_to_master))
        .prefetch_related(
            Prefetch(
                "alignments",
                queryset=AssessmentTarget.objects.filter(school=school)
                .select_related("target")
                .order_by("target__position", "target__code"),
            )
        )
        .order_by("assessed_on", "id")[:5]
    )
    return [
        UpcomingReassessment(
            a.assessed_on, [at.target.display_statement for at in a.alignments.all()]
        )
        for a in assessments
    ]
