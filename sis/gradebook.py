"""A period's marks of record as the OneRoster 1.2 Gradebook service's objects.

One reading of the posted marks feeds all three ways out (the CSV bundle, the REST binding the
SIS pulls, the push), so the files, the pull and the push always carry the same values — and the
same values as the report card: the current version of each posted mark (marks.PostedMark), never
a fresh computation.

The mapping (docs/sis.md):
- a section is a OneRoster class, a student a user, the grading period an academicSession, the
  school an org, the course a course: with the sourcedIds the roster import keeps
  (gradebook.RosterSource), so the SIS matches them; objects made in the app get a stable UUID;
- one lineItem per section × period × what is marked (each learning target of the course, the
  course grade, each habit of work), in one of three categories (learning targets, course grade,
  habits of work); a target's lineItem names its standards by CASE identifier where it is aligned;
- one result per student and lineItem with a posted value (a mark posted as "no mark" is not a
  result); the target's result repeats its level against the CASE identifiers;
- one scoreScale per class and kind (the achievement levels, the habit levels, the course grade
  in the school's form), as the Gradebook model has a score scale belong to a class.

Field names and required fields are those of the OneRoster 1.2 Gradebook Service information
model (the REST binding's JSON, OneRoster 1.2 Gradebook Service OpenAPI 3 definition,
components.schemas LineItemDType, ResultDType, CategoryDType, ScoreScaleDType).

Our own records' sourcedIds are UUIDs (version 5) of what they are — a result's is of its student,
section, period and subject, not of a version — so a re-post changes the record in place at the
SIS instead of adding one, and an export made twice names everything the same.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Case, Exists, F, Min, OuterRef, Q, QuerySet, Value, When

from gradebook.models import (
    Course,
    GradingPeriod,
    Habit,
    RosterSource,
    Section,
    Student,
)
from grading.policies import policy_for_course
from marks.models import CourseGradeForm, PostedMark
from mastery import calculation
from mastery.models import (
    LearningTarget,
    ProficiencyScale,
    ScaleLevel,
    School,
    TargetAlignment,
)
from mastery.selectors import achievement_levels, current_policies

# Our UUIDs' namespace: uuid5(NAMESPACE_URL, "urn:mastery-gradebook:oneroster").
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:mastery-gradebook:oneroster")

ACTIVE = "active"
TO_BE_DELETED = "tobedeleted"
# ResultDType.scoreStatus: "exempt", "fully graded", "not submitted", "partially graded",
# "submitted" (or an "ext:" term). A mark of record is final.
FULLY_GRADED = "fully graded"
NOT_SUBMITTED = "not submitted"  # a withdrawn mark's last word, with status tobedeleted
# LearningObjectiveSetDType.source: "case" for CASE identifiers (Gradebook information model).
CASE_SOURCE = "case"

CATEGORY_TITLES: dict[str, str] = {
    PostedMark.Kind.TARGET: "Learning targets",
    PostedMark.Kind.COURSE: "Course grade",
    PostedMark.Kind.HABIT: "Habits of work",
}
KIND_ORDER: dict[str, int] = {
    PostedMark.Kind.TARGET: 0,
    PostedMark.Kind.COURSE: 1,
    PostedMark.Kind.HABIT: 2,
}


def our_id(*parts: object) -> str:
    """The stable sourcedId of one of our own records."""
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


def ref(kind: str, sourced_id: str) -> dict[str, str]:
    """A GUIDRef without its href (the REST binding adds the href; the CSV keeps the id)."""
    return {"sourcedId": sourced_id, "type": kind}


# Where a GUIDRef's href points: the gradebook's own objects under the gradebook service, the
# roster's under the rostering service (REST binding paths, by the object's plural).
PLURALS = {
    "category": "categories",
    "lineItem": "lineItems",
    "result": "results",
    "scoreScale": "scoreScales",
    "class": "classes",
    "user": "users",
    "org": "orgs",
    "academicSession": "academicSessions",
    "course": "courses",
}
GRADEBOOK_TYPES = frozenset({"category", "lineItem", "result", "scoreScale"})


def href_at(gradebook: str, rostering: str) -> Callable[[str, str], str]:
    """`href(type, sourcedId)` for GUIDRefs, given the two services' base addresses."""

    def href(kind: str, sourced_id: str) -> str:
        base = gradebook if kind in GRADEBOOK_TYPES else rostering
        return f"{base}/{PLURALS[kind]}/{sourced_id}"

    return href


def with_hrefs(value: Any, href: Callable[[str, str], str]) -> Any:
    """Every GUIDRef given its href, `href(type, sourcedId)` (GUIDRefDType: href, sourcedId and
    type are all required); the REST answer points them here, the push at the SIS."""
    if isinstance(value, list):
        return [with_hrefs(v, href) for v in value]
    if isinstance(value, dict):
        if set(value) == {"sourcedId", "type"}:
            return {
                "href": href(value["type"], value["sourcedId"]),
                "sourcedId": value["sourcedId"],
                "type": value["type"],
            }
        return {k: with_hrefs(v, href) for k, v in value.items()}
    return value


def datetime_text(moment: datetime) -> str:
    """ISO 8601 in UTC to the millisecond, as OneRoster examples write dateLastModified."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def number_text(value: Decimal | float | int) -> str:
    """A float field as text: no exponent, no trailing zeros ("3", "3.5", "87.25")."""
    text = format(Decimal(str(value)).normalize(), "f")
    return text


def number(value: Decimal) -> float | int:
    """A float field for JSON: whole numbers as integers (3, not 3.0)."""
    normalized = value.normalize()
    return int(normalized) if normalized == normalized.to_integral() else float(normalized)


@dataclass
class Gradebook:
    """A period's gradebook objects, each list in a fixed order (an export twice is identical)."""

    school: School
    period: GradingPeriod
    categories: list[dict[str, Any]] = field(default_factory=list)
    score_scales: list[dict[str, Any]] = field(default_factory=list)
    line_items: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    # For the CSV: the org, course and class of each score scale (the JSON has course and class).
    scale_org: dict[str, str] = field(default_factory=dict)
    # For people (the SIS page): each line item's and result's sourcedId → what it is.
    labels: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {
            "categories": len(self.categories),
            "scoreScales": len(self.score_scales),
            "lineItems": len(self.line_items),
            "results": len(self.results),
        }


class SourcedIds:
    """The sourcedIds the roster import keeps for a school's objects, ours where it has none."""

    def __init__(self, school: School) -> None:
        self.school = school
        self._known: dict[tuple[str, int], str] = {}
        wanted = {
            RosterSource.Target.SCHOOL,
            RosterSource.Target.GRADING_PERIOD,
            RosterSource.Target.TERM,
            RosterSource.Target.COURSE,
            RosterSource.Target.SECTION,
            RosterSource.Target.STUDENT,
        }
        # Several rows may map to one object (an object re-rostered under a new sourcedId): the
        # latest import wins, as that is the sourcedId the SIS uses now.
        for target, object_id, sourced_id in (
            RosterSource.objects.filter(school=school, target__in=wanted)
            .order_by("imported_at", "id")
            .values_list("target", "object_id", "sourced_id")
        ):
            self._known[(target, object_id)] = sourced_id

    def of(self, target: str, object_id: int) -> str:
        key = (target, object_id)
        found = self._known.get(key)
        if found is None:  # ours, worked out once per object
            found = self._known[key] = our_id(self.school.pk, target, object_id)
        return found

    def org(self) -> str:
        return self.of(RosterSource.Target.SCHOOL, self.school.pk)

    def session(self, period: GradingPeriod) -> str:
        return self.of(RosterSource.Target.GRADING_PERIOD, period.pk)

    def course(self, course_id: int) -> str:
        return self.of(RosterSource.Target.COURSE, course_id)

    def klass(self, section_id: int) -> str:
        return self.of(RosterSource.Target.SECTION, section_id)

    def user(self, student_id: int) -> str:
        return self.of(RosterSource.Target.STUDENT, student_id)


def _scale_values(levels: Iterable[tuple[Decimal, str]]) -> list[dict[str, str]]:
    """ScoreScaleValueDType: the left-hand side is the reference point (the score), the right
    its meaning (the level's label, the letter)."""
    return [{"itemValueLHS": number_text(v), "itemValueRHS": label} for v, label in levels]


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


@dataclass
class _Mark:
    section_id: int
    student_id: int
    kind: str
    subject_id: int
    value: str
    grade_form: str
    comment: str
    posted_at: datetime


def results_query(
    *,
    school: School,
    period: GradingPeriod,
    section_ids: Iterable[int] | None = None,
    student_ids: Iterable[int] | None = None,
    modified_from: datetime | None = None,
) -> QuerySet[PostedMark]:
    """The posted marks that are results (current versions with a value), in the results' order:
    by section, kind (targets, course grade, habits), subject, student. The REST binding pages
    through it in SQL."""
    marks = PostedMark.objects.filter(school=school, period=period)
    if section_ids is not None:
        marks = marks.filter(section_id__in=list(section_ids))
    if student_ids is not None:
        marks = marks.filter(student_id__in=list(student_ids))
    # A mark posted again as "no mark" after it had a value stays a result, to be deleted: the
    # SIS that took the value must hear that it is withdrawn.
    had_value = PostedMark.objects.filter(
        school=OuterRef("school"),
        student=OuterRef("student"),
        section=OuterRef("section"),
        period=OuterRef("period"),
        kind=OuterRef("kind"),
        subject_id=OuterRef("subject_id"),
        version__lt=OuterRef("version"),
    ).exclude(value="")
    marks = marks.current().filter(~Q(value="") | Exists(had_value))
    if modified_from is not None:
        marks = marks.filter(posted_at__gte=modified_from)
    return marks.annotate(
        kind_rank=Case(
            *(When(kind=kind, then=Value(rank)) for kind, rank in KIND_ORDER.items()),
            default=Value(9),
        )
    ).order_by("section_id", "kind_rank", "subject_id", "student_id")


def period_gradebook(
    *,
    school: School,
    period: GradingPeriod,
    section_ids: Iterable[int] | None = None,
    student_ids: Iterable[int] | None = None,
    window: tuple[int, int] | None = None,
    modified_from: datetime | None = None,
    with_results: bool = True,
) -> Gradebook:
    """The period's posted marks (current versions) as OneRoster gradebook objects, for the whole
    school or some of its sections or students; `window` (offset, limit) takes only those
    results of `results_query` (and what they refer to), `modified_from` only the results
    posted since; `with_results=False` leaves the results out (line items, categories and
    scales only)."""
    book = Gradebook(school=school, period=period)
    ids = SourcedIds(school)
    org_id = ids.org()
    session_id = ids.session(period)
    language = school.default_language
    zone = ZoneInfo(school.timezone)

    marks_qs = PostedMark.objects.filter(school=school, period=period)
    if section_ids is not None:
        section_ids = list(section_ids)
        marks_qs = marks_qs.filter(section_id__in=section_ids)
    if student_ids is not None:
        student_ids = list(student_ids)
        marks_qs = marks_qs.filter(student_id__in=student_ids)
    # When each key was first posted: a lineItem's dateLastModified (see below).
    first_posted = {
        (row["section_id"], row["kind"], row["subject_id"]): row["first"]
        for row in marks_qs.values("section_id", "kind", "subject_id")
        .annotate(first=Min("posted_at"))
        .order_by()
    }
    rows = results_query(
        school=school,
        period=period,
        section_ids=section_ids,
        student_ids=student_ids,
        modified_from=modified_from,
    )
    if window is not None:
        rows = rows[window[0] : window[0] + window[1]]
    # Plain rows, not model instances: a school's period is some 200,000 marks.
    marks = [
        _Mark(section_id, student_id, kind, subject_id, value, form, _comment(texts, language), at)
        for section_id, student_id, kind, subject_id, value, form, texts, at in (
            # Most marks carry no comment: the database says so rather than every empty {}
            # being decoded.
            rows.annotate(
                texts=Case(When(comment={}, then=Value(None)), default=F("comment"))
            ).values_list(
                "section_id",
                "student_id",
                "kind",
                "subject_id",
                "value",
                "grade_form",
                "texts",
                "posted_at",
            )
        )
    ]
    if not marks:
        return book

    sections = {
        s.id: s
        for s in Section.objects.filter(
            school=school, id__in={m.section_id for m in marks}
        ).select_related("course")
    }
    courses = {
        c.id: c
        for c in Course.objects.filter(
            school=school, id__in={s.course_id for s in sections.values()}
        )
    }
    target_ids = {m.subject_id for m in marks if m.kind == PostedMark.Kind.TARGET}
    habit_ids = {m.subject_id for m in marks if m.kind == PostedMark.Kind.HABIT}
    targets = {t.id: t for t in LearningTarget.objects.filter(school=school, id__in=target_ids)}
    names = {
        sid: f"{last}, {first}"
        for sid, last, first in Student.objects.filter(
            school=school, id__in={m.student_id for m in marks}
        ).values_list("id", "last_name", "first_name")
    }
    habits = {h.id: h for h in Habit.objects.filter(school=school, id__in=habit_ids)}
    aligned: dict[int, list[str]] = defaultdict(list)
    for target_id, identifier in (
        TargetAlignment.objects.filter(school=school, target_id__in=target_ids)
        .order_by("item__identifier")
        .values_list("target_id", "item__identifier")
    ):
        aligned[target_id].append(str(identifier))
    levels = achievement_levels(school)
    # A target's textScore is the level its value reached, as the report card prints it: a half
    # point between two levels is the level below it.
    label_of = [(lv.value, lv.label) for lv in levels]
    habit_levels = (
        list(
            ScaleLevel.objects.filter(
                school=school, scale__kind=ProficiencyScale.Kind.HABITS
            ).order_by("value")
        )
        or levels
    )
    policies = current_policies(school)

    # Categories: one per kind of mark present.
    # Categories and score scales are the school's (per class): dated by the school's first
    # posted mark, so that every export and every page of the pull dates them the same.
    earliest = PostedMark.objects.filter(school=school).aggregate(first=Min("posted_at"))[
        "first"
    ] or min(first_posted.values())
    kinds = sorted({m.kind for m in marks}, key=KIND_ORDER.__getitem__)
    category_of = {kind: our_id(school.pk, "category", kind) for kind in kinds}
    for kind in kinds:
        book.categories.append(
            {
                "sourcedId": category_of[kind],
                "status": ACTIVE,
                "dateLastModified": datetime_text(earliest),
                "title": CATEGORY_TITLES[kind],
            }
        )

    letter_points: dict[int, dict[str, Decimal]] = {}

    def points_of(course_id: int) -> dict[str, Decimal]:
        """The course policy's grade points of each letter (its letter and 4.0 scales)."""
        if course_id not in letter_points:
            engine = policy_for_course(
                school=school, course_id=course_id, policies=policies
            ).to_engine(levels)
            letter_points[course_id] = dict(engine.gpa_points)
        return letter_points[course_id]

    # Score scales: per class and kind.
    scale_of: dict[tuple[int, str, str], str] = {}
    scale_range: dict[tuple[int, str, str], tuple[Decimal, Decimal] | None] = {}
    seen_scales: set[tuple[int, str, str]] = set()
    for m in marks:
        form = m.grade_form if m.kind == PostedMark.Kind.COURSE else ""
        key = (m.section_id, m.kind, form)
        if key in seen_scales:
            continue
        seen_scales.add(key)
        section = sections[m.section_id]
        sourced_id = our_id(school.pk, "scoreScale", m.section_id, m.kind, form)
        scale_of[key] = sourced_id
        if m.kind == PostedMark.Kind.TARGET:
            title, scale_type = "Achievement levels", "mastery"
            pairs = [(lv.value, lv.label) for lv in levels]
        elif m.kind == PostedMark.Kind.HABIT:
            title, scale_type = "Habits of work levels", "mastery"
            pairs = [(lv.value, lv.label) for lv in habit_levels]
        elif form == CourseGradeForm.PERCENT:
            title, scale_type = "Course grade (percent)", "percent"
            pairs = [(Decimal(0), "0"), (Decimal(100), "100")]
        else:
            title, scale_type = (
                ("Course grade (grade points)", "grade points")
                if form == CourseGradeForm.GPA
                else ("Course grade (letter)", "letter")
            )
            pairs = sorted((p, letter) for letter, p in points_of(section.course_id).items())
        scale_range[key] = (pairs[0][0], pairs[-1][0]) if pairs else None
        book.score_scales.append(
            {
                "sourcedId": sourced_id,
                "status": ACTIVE,
                "dateLastModified": datetime_text(earliest),
                "title": title,
                "type": scale_type,
                "course": ref("course", ids.course(section.course_id)),
                "class": ref("class", ids.klass(m.section_id)),
                "scoreScaleValue": _scale_values(pairs),
            }
        )
        book.scale_org[sourced_id] = org_id

    # Line items, then results, in the marks' order.
    line_item_of: dict[tuple[int, str, int], str] = {}
    for m in marks:
        item_key = (m.section_id, m.kind, m.subject_id)
        form = m.grade_form if m.kind == PostedMark.Kind.COURSE else ""
        scale_key = (m.section_id, m.kind, form)
        section = sections[m.section_id]
        if item_key not in line_item_of:
            sourced_id = our_id(
                school.pk, "lineItem", m.section_id, period.pk, m.kind, m.subject_id
            )
            line_item_of[item_key] = sourced_id
            item: dict[str, Any] = {
                "sourcedId": sourced_id,
                "status": ACTIVE,
                "dateLastModified": datetime_text(first_posted[item_key]),
                "title": _title(m, period, courses[section.course_id], targets, habits),
                "description": _description(m, targets, habits),
                # date-times in the JSON binding, dates in the CSV one: whole days, UTC.
                "assignDate": f"{period.starts_on.isoformat()}T00:00:00.000Z",
                "dueDate": f"{period.ends_on.isoformat()}T00:00:00.000Z",
                "class": ref("class", ids.klass(m.section_id)),
                "school": ref("org", org_id),
                "category": ref("category", category_of[m.kind]),
                "gradingPeriod": ref("academicSession", session_id),
                "scoreScale": ref("scoreScale", scale_of[scale_key]),
            }
            bounds = scale_range.get(scale_key)
            if bounds is not None:
                item["resultValueMin"] = number(bounds[0])
                item["resultValueMax"] = number(bounds[1])
            if m.kind == PostedMark.Kind.TARGET and aligned.get(m.subject_id):
                item["learningObjectiveSet"] = [
                    {"source": CASE_SOURCE, "learningObjectiveIds": aligned[m.subject_id]}
                ]
            book.line_items.append(item)
            book.labels[sourced_id] = f"{section} · {item['title']}"

        if not with_results:
            continue
        withdrawn = not m.value
        score, text = (
            (None, "") if withdrawn else _score(m, label_of, partial(points_of, section.course_id))
        )
        result: dict[str, Any] = {
            "sourcedId": our_id(
                school.pk, "result", m.section_id, period.pk, m.kind, m.subject_id, m.student_id
            ),
            "status": TO_BE_DELETED if withdrawn else ACTIVE,
            "dateLastModified": datetime_text(m.posted_at),
            "lineItem": ref("lineItem", line_item_of[item_key]),
            "student": ref("user", ids.user(m.student_id)),
            "class": ref("class", ids.klass(m.section_id)),
            "scoreScale": ref("scoreScale", scale_of[scale_key]),
            "scoreStatus": NOT_SUBMITTED if withdrawn else FULLY_GRADED,
            "scoreDate": m.posted_at.astimezone(zone).date().isoformat(),
        }
        if score is not None:
            result["score"] = number(score)
        if text:
            result["textScore"] = text
        if m.comment:
            result["comment"] = m.comment
        if m.kind == PostedMark.Kind.TARGET and aligned.get(m.subject_id) and not withdrawn:
            result["learningObjectiveSet"] = [
                {
                    "source": CASE_SOURCE,
                    "learningObjectiveResults": [
                        {
                            "learningObjectiveId": identifier,
                            **({"score": number(score)} if score is not None else {}),
                            **({"textScore": text} if text else {}),
                        }
                        for identifier in aligned[m.subject_id]
                    ],
                }
            ]
        book.results.append(result)
        book.labels[result["sourcedId"]] = (
            f"{names.get(m.student_id, m.student_id)} · {book.labels[line_item_of[item_key]]}"
        )
    return book


def _comment(texts: dict[str, str] | None, language: str) -> str:
    """As PostedMark.comment_in: the school's language, else English, else any text there is."""
    texts = texts or {}
    return texts.get(language) or texts.get("en") or next(iter(texts.values()), "")


def _title(
    m: _Mark,
    period: GradingPeriod,
    course: Course,
    targets: dict[int, LearningTarget],
    habits: dict[int, Habit],
) -> str:
    if m.kind == PostedMark.Kind.TARGET:
        target = targets.get(m.subject_id)
        what = target.code if target else f"Target {m.subject_id}"
    elif m.kind == PostedMark.Kind.HABIT:
        habit = habits.get(m.subject_id)
        what = habit.name if habit else f"Habit {m.subject_id}"
    else:
        what = f"{course.code} course grade"
    return f"{period.name}: {what}"


def _description(m: _Mark, targets: dict[int, LearningTarget], habits: dict[int, Habit]) -> str:
    if m.kind == PostedMark.Kind.TARGET and m.subject_id in targets:
        return targets[m.subject_id].statement
    if m.kind == PostedMark.Kind.HABIT and m.subject_id in habits:
        return habits[m.subject_id].description
    return ""


def _score(
    m: _Mark,
    label_of: list[tuple[Decimal, str]],
    letter_points: Callable[[], dict[str, Decimal]],
) -> tuple[Decimal | None, str]:
    """(score, textScore) of a posted value: a level with its label, a percent or grade points
    as the number, a letter as its text with its grade points as the number."""
    if m.kind == PostedMark.Kind.COURSE and m.grade_form == CourseGradeForm.LETTER:
        return letter_points().get(m.value), m.value
    value = _decimal(m.value)
    if value is None:
        return None, m.value
    if m.kind == PostedMark.Kind.TARGET:
        reached = [label for level, label in label_of if level <= value]
        return value, reached[-1] if reached else calculation.fmt(value)
    return value, m.value


def student_ids_of(school: School, sourced_ids: Iterable[str]) -> dict[str, int]:
    """Our student ids for OneRoster user sourcedIds (rostered ones and our own)."""
    wanted = set(sourced_ids)
    found = dict(
        RosterSource.objects.filter(
            school=school, target=RosterSource.Target.STUDENT, sourced_id__in=wanted
        ).values_list("sourced_id", "object_id")
    )
    missing = wanted - set(found)
    if missing:
        for student_id in Student.objects.filter(school=school).values_list("id", flat=True):
            sid = our_id(school.pk, RosterSource.Target.STUDENT, student_id)
            if sid in missing:
                found[sid] = student_id
    return found
