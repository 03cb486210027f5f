"""Writes of the marks of record: posting a section's marks, the posting window, the comment bank.

Posting is all or nothing: every mark sent is checked (its value on the scale or the school's
grade form, a reason for an override or a changed post, the computed value the teacher reviewed
still the computed value), and one problem refuses the whole post with every problem located, so
what the teacher typed stays on their screen and nothing is half-posted.

A mark sent exactly as it is already posted (same value, same comment) writes nothing: posting a
section again, or a double click, adds no version. A changed mark adds the next version; the old
ones stay (marks.models.PostedMark is append-only).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from gradebook.models import GradingPeriod, Section, Student
from marks.computing import (
    COURSE,
    HABIT,
    TARGET,
    Computed,
    Key,
    SectionMarks,
    section_marks_compute,
)
from marks.models import CommentBankEntry, CourseGradeForm, MarkSettings, PostedMark
from marks.selectors import current_marks
from mastery import audit, calculation
from mastery.models import (
    AuditEvent,
    Department,
    LearningTarget,
    ProficiencyScale,
    ScaleLevel,
    School,
    User,
)
from mastery.selectors import achievement_levels, allowed_scores

PLACEHOLDERS = ("first_name", "last_name", "course")
# A bank pick as typed or as the picker fills it in: the entry's code, alone or before its text.
BANK_PICK = re.compile(r"^([A-Za-z0-9_.-]{1,12})(?::\s+(.*))?$", re.S)


class PostingError(Exception):
    """The post was refused; `errors` maps a key (or None: the whole post) to its message."""

    def __init__(self, errors: Mapping[Key | None, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(self.errors.values()))


@dataclass(frozen=True)
class MarkEntry:
    """One mark as the teacher sends it."""

    key: Key
    value: str
    reason: str = ""
    # None: keep the comment already posted; "" : no comment; a bank code ("M3", or "M3: its
    # text" as the picker shows it) takes the bank's texts; anything else is the teacher's own.
    comment: str | None = None
    # The computed value the teacher reviewed (None: not checked, e.g. the API without it).
    seen: str | None = None
    # The version of the mark the teacher saw (0: not posted yet; None: not checked): a mark
    # posted by someone else since is refused, never overwritten.
    version_seen: int | None = None


@dataclass(frozen=True)
class PostResult:
    written: int
    unchanged: int
    overridden: int
    outside_window: bool


def window_allows(period: GradingPeriod, *, is_admin: bool, school: School) -> tuple[bool, bool]:
    """(may post, outside the window) for a poster today in the school's time zone."""
    today = school_today(school)
    inside = period.posting_open_on(today)
    return inside or is_admin, not inside


def school_today(school: School) -> date:
    """Today in the school's time zone (a window closes at the end of the school's day)."""
    return timezone.localtime(timezone.now(), zoneinfo.ZoneInfo(school.timezone)).date()


def window_message(period: GradingPeriod) -> str:
    if period.posting_closes_on and school_today(period.school) > period.posting_closes_on:
        return (
            f"Posting for {period.name} closed on {period.posting_closes_on:%b %-d, %Y}: "
            "ask a school admin to post these marks."
        )
    return (
        f"Posting for {period.name} opens on {period.posting_opens_on:%b %-d, %Y}."
        if period.posting_opens_on
        else f"Posting for {period.name} is not open."
    )


def _number(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


class _Values:
    """What a value may be, per kind of mark, for one school (read once per post)."""

    def __init__(self, school: School, marks: SectionMarks):
        self.level_values = set(allowed_scores(achievement_levels(school)))
        self.levels = {calculation.fmt(v) for v in self.level_values}
        habit_levels = list(
            ScaleLevel.objects.filter(school=school, scale__kind=ProficiencyScale.Kind.HABITS)
        )
        values = [lv.value for lv in habit_levels]
        self.habit_range = (min(values), max(values)) if values else (Decimal(1), Decimal(4))
        engine = marks.engine
        # The letters the course's rule can give: its bands' (the rule in use first), then the
        # fallback; listed once each.
        bands = (
            engine.grade_bands
            if engine.course_grade_rule == "mean_band"
            else engine.threshold_bands
        )
        self.letters = list(dict.fromkeys([*(b.letter for b in bands), engine.fallback_letter]))
        self.top_gpa = max((p for _, p in engine.gpa_points), default=Decimal(4))
        self.form = marks.grade_form

    def clean(self, kind: str, text: str) -> tuple[str, str | None]:
        """(the value as posted, or an error message)."""
        text = (text or "").strip()
        if not text:
            return "", None
        if kind == TARGET:
            number = _number(text)
            # Compared as numbers first: "3.0" is 3, and "1e26" is no level (and never formatted).
            shown = calculation.fmt(number) if number in self.level_values else text
            if shown not in self.levels:
                allowed = ", ".join(sorted(self.levels, key=Decimal))
                return text, f"“{text}” is not a level of the scale ({allowed}, or empty)."
            return shown, None
        if kind == HABIT:
            number = _number(text)
            low, high = self.habit_range
            if number is None or not low <= number <= high:
                return text, (
                    f"“{text}” is not a habit score "
                    f"({calculation.fmt(low)} to {calculation.fmt(high)}, or empty)."
                )
            return calculation.fmt(calculation.round_score(number)), None
        if self.form == CourseGradeForm.LETTER:
            letter = next((lt for lt in self.letters if lt.upper() == text.upper()), None)
            if letter is None:
                letters = ", ".join(self.letters)
                return text, f"“{text}” is not a letter of this course's policy ({letters})."
            return letter, None
        number = _number(text)
        top = Decimal(100) if self.form == CourseGradeForm.PERCENT else self.top_gpa
        if number is None or not Decimal(0) <= number <= top:
            return text, f"“{text}” is not a course grade from 0 to {calculation.fmt(top)}."
        if self.form == CourseGradeForm.GPA:
            return f"{number.quantize(Decimal('0.1')):.1f}", None
        return calculation.fmt(number.quantize(Decimal("0.1"))), None


def _fill(text: str, values: Mapping[str, str]) -> str:
    for name in PLACEHOLDERS:
        text = text.replace("{" + name + "}", values.get(name, ""))
    return text.strip()


def live_bank(school: School) -> dict[str, CommentBankEntry]:
    """The bank's live entries by code (lower case), read once per post."""
    return {
        entry.code.lower(): entry
        for entry in CommentBankEntry.objects.filter(school=school, retired_at__isnull=True)
    }


def bank_pick(bank: Mapping[str, CommentBankEntry], text: str) -> CommentBankEntry | None:
    """The entry a comment picks: its code alone, or its code and one of its texts as the picker
    shows them ("M3: {first_name} explains…"). A teacher's own words after a code are their own."""
    match = BANK_PICK.match((text or "").strip())
    if not match:
        return None
    entry = bank.get(match[1].lower())
    if entry is None:
        return None
    if match[2] is None or match[2].strip() in {t.strip() for t in entry.texts.values()}:
        return entry
    return None


REASON_MAX = 300
COMMENT_MAX = 2000


def _comment_of(
    entry: MarkEntry,
    was: PostedMark | None,
    student: Student,
    section: Section,
    language: str,
    bank: Mapping[str, CommentBankEntry],
) -> tuple[dict, int | None, str | None]:
    """(the comment per language, its bank entry id, a problem) for one mark as sent."""
    kept = (was.comment, was.comment_entry_id) if was is not None else ({}, None)
    if entry.comment is None:
        return (*kept, None)
    text = entry.comment.strip()
    if "\x00" in text or len(text) > COMMENT_MAX:
        return ({}, None, f"A comment is plain text of at most {COMMENT_MAX} characters.")
    # The grid shows a posted comment in the reader's language, placeholders filled: sent back
    # as it was shown, it is the same comment (every language of it kept), not a new one.
    if was is not None and text in {t.strip() for t in was.comment.values()}:
        return (*kept, None)
    if not text:
        return ({}, None, None)
    picked = bank_pick(bank, text)
    fill = {
        "first_name": student.first_name,
        "last_name": student.last_name,
        "course": section.course.name,
    }
    if picked is not None:
        texts = {lang: _fill(t, fill) for lang, t in picked.texts.items() if t.strip()}
        return (texts, picked.id, None)
    return ({language: _fill(text, fill)}, None, None)


def _version(
    was: PostedMark,
    *,
    posted_by: User,
    comment: dict,
    comment_entry_id: int | None,
    outside: bool,
    source: str,
) -> PostedMark:
    """The next version of a mark whose comment alone changes: all else as it was posted."""
    return PostedMark(
        school_id=was.school_id,
        student_id=was.student_id,
        section_id=was.section_id,
        period_id=was.period_id,
        kind=was.kind,
        target_id=was.target_id,
        habit_id=was.habit_id,
        subject_id=was.subject_id,
        version=was.version + 1,
        computed_value=was.computed_value,
        computed_score=was.computed_score,
        explanation=was.explanation,
        evidence_count=was.evidence_count,
        value=was.value,
        grade_form=was.grade_form,
        reason=was.reason,
        comment=comment,
        comment_entry_id=comment_entry_id,
        policy_id=was.policy_id,
        posted_by=posted_by,
        outside_window=outside,
        source=source,
    )


@transaction.atomic
def section_marks_post(
    *,
    school: School,
    section: Section,
    period: GradingPeriod,
    posted_by: User,
    entries: Iterable[MarkEntry],
    is_admin: bool,
    language: str = "en",
    source: str = "grid",
) -> PostResult:
    """Post (or post again) marks of a section for a period; all or nothing (PostingError)."""
    # One post of a section at a time: a second teacher's post waits, then sees the first's
    # versions (and an unchanged re-send writes nothing).
    Section.objects.select_for_update().filter(school=school, pk=section.pk).first()
    if period.term_id != section.term_id:
        raise PostingError({None: f"{period.name} is not a grading period of {section.term}."})
    allowed, outside = window_allows(period, is_admin=is_admin, school=school)
    if not allowed:
        raise PostingError({None: window_message(period)})
    marks = section_marks_compute(school=school, section=section, period=period)
    current = current_marks(school=school, section=section, period=period)
    values = _Values(school, marks)
    names = {s.id: s for s in marks.students}
    keys = set(marks.keys())
    bank: dict[str, CommentBankEntry] | None = None
    errors: dict[Key | None, str] = {}
    new: list[PostedMark] = []
    seen_keys: set[Key] = set()
    unchanged = 0
    for entry in entries:
        key = entry.key
        if key not in keys:
            errors[key] = "That is not a mark of this section in this period."
            continue
        if key in seen_keys:
            errors[key] = "This mark was sent twice in one post."
            continue
        seen_keys.add(key)
        student_id, kind, subject_id = key
        was = current.get(key)
        typed = (entry.value or "").strip()
        if bank is None and entry.comment:
            bank = live_bank(school)  # read once per post, at the first comment
        comment, entry_id, problem = _comment_of(
            entry, was, names[student_id], section, language, bank or {}
        )
        if problem:
            errors[key] = problem
            continue
        # Exactly as posted (the value as shown, the comment as posted): nothing to write, and
        # nothing to check either, so a later change of the scale or of the school's grade form
        # never blocks posting the rest of the section.
        if was is not None and typed == was.value and comment == was.comment:
            unchanged += 1
            continue
        if entry.version_seen is not None and entry.version_seen != (was.version if was else 0):
            errors[key] = (
                f"Someone posted this mark meanwhile ({was.value or 'no mark'}, by "
                f"{was.posted_by.full_name}): reload the page to see it, then post again."
                if was is not None
                else "This mark was posted differently meanwhile: reload the page."
            )
            continue
        reason = (entry.reason or "").strip()
        if "\x00" in reason or len(reason) > REASON_MAX:
            errors[key] = f"A reason is plain text of at most {REASON_MAX} characters."
            continue
        if was is not None and typed == was.value:
            # Only the comment changes: the mark keeps what it was when posted (its computed
            # value, form, policy and reason); the new version says so.
            new.append(
                _version(
                    was,
                    posted_by=posted_by,
                    comment=comment,
                    comment_entry_id=entry_id,
                    outside=outside,
                    source=source,
                )
            )
            continue
        value, problem = values.clean(kind, typed)
        if problem:
            errors[key] = problem
            continue
        computed: Computed = marks.computed[key]
        if was is None and value == computed.value:
            reason = ""  # a first post of the computed value has nothing to explain
        if entry.seen is not None and entry.seen.strip() != computed.value:
            errors[key] = (
                f"The computed mark changed since the page was opened "
                f"(now {computed.value or 'not enough evidence'}): check it and post again."
            )
            continue
        if value != computed.value and not reason:
            errors[key] = (
                f"{value or 'No mark'} is not the computed "
                f"{computed.value or 'not enough evidence'}: say why (the reason is required)."
            )
            continue
        if was is not None and not reason:
            errors[key] = f"This mark was posted as {was.value or 'no mark'}: say why it changes."
            continue
        new.append(
            PostedMark(
                school=school,
                student_id=student_id,
                section=section,
                period=period,
                kind=kind,
                target_id=subject_id if kind == TARGET else None,
                habit_id=subject_id if kind == HABIT else None,
                subject_id=subject_id,
                version=(was.version + 1) if was else 1,
                computed_value=computed.value,
                computed_score=computed.score,
                explanation=computed.explanation,
                evidence_count=computed.evidence_count,
                value=value,
                grade_form=marks.grade_form if kind == COURSE else "",
                reason=reason,
                comment=comment,
                comment_entry_id=entry_id,
                policy=marks.policy,
                posted_by=posted_by,
                outside_window=outside,
                source=source,
            )
        )
    if errors:
        raise PostingError(errors)
    try:
        with transaction.atomic():
            PostedMark.objects.bulk_create(new)
    except IntegrityError as exc:
        # The section's row lock serializes posts through this service; a version that exists
        # already means a write that went around it. Refuse, never overwrite.
        raise PostingError(
            {None: "These marks were posted by someone else meanwhile: reload and post again."}
        ) from exc
    audit.record_many(_events(school, section, period, new, current, outside))
    return PostResult(
        written=len(new),
        unchanged=unchanged,
        overridden=sum(1 for m in new if m.overridden),
        outside_window=outside and bool(new),
    )


def _events(
    school: School,
    section: Section,
    period: GradingPeriod,
    marks: list[PostedMark],
    current: Mapping[Key, PostedMark],
    outside: bool,
) -> Iterable[AuditEvent]:
    where = f"{section} · {period.name}"
    for mark in marks:
        was = current.get(mark.key)
        what = {"target": "target", "course": "course grade", "habit": "habit"}[mark.kind]
        comment_only = was is not None and was.value == mark.value
        summary = (
            (
                f"Changed the comment of the posted {what} mark {mark.value or 'none'} ({where})"
                if comment_only
                else f"{'Posted again' if was else 'Posted'} {what} mark {mark.value or 'none'} "
                f"({where})"
            )
            + (
                f"; override of {mark.computed_value or 'none'}: {mark.reason}"
                if mark.overridden
                else ""
            )
            + ("; outside the posting window" if outside else "")
        )
        yield audit.event(
            school=school,
            action=AuditEvent.Action.REPOST if was else AuditEvent.Action.POST,
            object_type=AuditEvent.ObjectType.MARK,
            object_id=None,
            student_id=mark.student_id,
            target_id=mark.target_id,
            summary=summary,
            before=_state(was) if was else None,
            after=_state(mark),
            actor=mark.posted_by,
        )


def _state(mark: PostedMark) -> dict:
    return {
        "period": mark.period_id,
        "section": mark.section_id,
        "kind": mark.kind,
        "subject": mark.subject_id,
        "version": mark.version,
        "computed": mark.computed_value,
        "value": mark.value,
        "reason": mark.reason,
        "comment": mark.comment,
    }


@transaction.atomic
def posting_window_set(
    *,
    school: School,
    period: GradingPeriod,
    opens_on: date | None,
    closes_on: date | None,
    by: User,
) -> GradingPeriod:
    """Set a period's posting window (a school admin), audited."""
    if opens_on and closes_on and closes_on < opens_on:
        raise PostingError({None: "The window must close on or after the day it opens."})
    before = {"opens": period.posting_opens_on, "closes": period.posting_closes_on}
    period.posting_opens_on, period.posting_closes_on = opens_on, closes_on
    period.save(update_fields=["posting_opens_on", "posting_closes_on"])
    audit.record(
        school=school,
        action=AuditEvent.Action.UPDATE,
        object_type=AuditEvent.ObjectType.PERIOD,
        object_id=period.id,
        summary=f"Posting window of {period}",
        before=before,
        after={"opens": opens_on, "closes": closes_on},
        actor=by,
    )
    return period


@transaction.atomic
def grade_form_set(*, school: School, form: str, by: User) -> MarkSettings:
    if form not in CourseGradeForm.values:
        raise PostingError({None: "Choose letter, percent or grade points."})
    # get_or_create first, then lock: two admins saving at once both find the one row.
    MarkSettings.objects.get_or_create(school=school)
    found = MarkSettings.objects.select_for_update().get(school=school)
    before = found.course_grade_form
    if before != form:
        found.course_grade_form = form
        found.save(update_fields=["course_grade_form"])
        audit.record(
            school=school,
            action=AuditEvent.Action.UPDATE,
            object_type=AuditEvent.ObjectType.SCHOOL,
            summary="Course grade of record shown as " + found.get_course_grade_form_display(),
            before={"course_grade_form": before},
            after={"course_grade_form": form},
            actor=by,
        )
    return found


# --- The comment bank (school admins) ---------------------------------------------------------------

# What the posting grid's picker reads as a code (BANK_PICK): a code it could not read would be an
# entry no teacher can pick by typing.
BANK_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,12}$")
BRACED = re.compile(r"\{([^{}]*)\}")
TEXT_MAX = 2000


def _placeholder_problem(text: str) -> str | None:
    """Why a text's braces would not fill in when posted (None: they all would)."""
    unknown = [name for name in BRACED.findall(text) if name not in PLACEHOLDERS]
    known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
    if unknown:
        names = ", ".join("{" + name + "}" for name in dict.fromkeys(unknown))
        return f"Unknown placeholder {names}: the placeholders are {known}."
    # A lone brace would be printed as typed on the report card.
    if "{" in BRACED.sub("", text) or "}" in BRACED.sub("", text):
        return f"Braces are only for the placeholders {known}; remove the lone brace."
    return None


def _entry_state(entry: CommentBankEntry) -> dict:
    return {
        "code": entry.code,
        "department": entry.department_id,
        "target": entry.target_id,
        "level": calculation.fmt(entry.level) if entry.level is not None else None,
        "texts": entry.texts,
    }


@transaction.atomic
def comment_entry_save(
    *,
    school: School,
    by: User,
    code: str,
    texts: Mapping[str, str],
    department_id: int | None = None,
    target_id: int | None = None,
    level: Decimal | None = None,
    entry: CommentBankEntry | None = None,
) -> CommentBankEntry:
    """Add an entry to the school's comment bank (`entry` None) or change one, audited.

    `texts` maps a language of settings.LANGUAGES to its text; at least one is needed, and only
    the placeholders posting fills in ({first_name}, {last_name}, {course}) may appear. The
    department, target and level narrow who it is offered for (None: any). Refused with a
    ValidationError naming the field: "code", "department", "target", "level", "texts", or
    "text_<language>". Marks already posted keep the texts they copied: an edit changes what is
    posted from now on, never a posted mark. Saving an entry unchanged writes nothing.
    """
    errors: dict[str, str] = {}
    code = (code or "").strip()
    if not BANK_CODE.match(code):
        errors["code"] = (
            "A code is 1 to 12 letters, digits, dots, dashes or underscores, no spaces (e.g. M3)."
        )
    else:
        # Teachers type codes in any case: two codes differing only by case would be one pick.
        taken = CommentBankEntry.objects.filter(school=school, code__iexact=code)
        if entry is not None:
            taken = taken.exclude(pk=entry.pk)
        other = taken.first()
        if other is not None:
            errors["code"] = f"The code {other.code} is already used" + (
                " by a retired entry." if other.retired_at else "."
            )
    languages = dict(settings.LANGUAGES)
    cleaned: dict[str, str] = {}
    for language, raw in texts.items():
        text = (raw or "").strip()
        if language not in languages:
            errors["texts"] = f"{language} is not a language of this site."
            continue
        if not text:
            continue
        if len(text) > TEXT_MAX:
            errors[f"text_{language}"] = f"Keep the text under {TEXT_MAX} characters."
        elif problem := _placeholder_problem(text):
            errors[f"text_{language}"] = problem
        cleaned[language] = text
    if not cleaned and "texts" not in errors:
        errors["texts"] = "Write the comment in at least one language."
    department = None
    if department_id is not None:
        department = Department.objects.filter(school=school, pk=department_id).first()
        if department is None:
            errors["department"] = "Choose a department of this school."
    if target_id is not None:
        target = LearningTarget.objects.filter(school=school, pk=target_id).first()
        if target is None:
            errors["target"] = "Choose a learning target of this school."
        elif department is not None and target.department_id != department.id:
            errors["target"] = f"{target.code} is not a target of {department.name}."
    if level is not None:
        levels = allowed_scores(achievement_levels(school))
        if level not in levels:
            allowed = ", ".join(calculation.fmt(v) for v in levels)
            errors["level"] = f"Choose a level of the school's scale ({allowed}), or any level."
    if errors:
        raise ValidationError(errors)
    ordered = {lang: cleaned[lang] for lang in languages if lang in cleaned}
    if entry is None:
        entry = CommentBankEntry(school=school, created_by=by)
        before = None
    else:
        entry = CommentBankEntry.objects.select_for_update().get(school=school, pk=entry.pk)
        before = _entry_state(entry)
    entry.code, entry.texts, entry.level = code, ordered, level
    entry.department_id, entry.target_id = department_id, target_id
    after = _entry_state(entry)
    if before == after:
        return entry
    try:
        # A savepoint: two admins adding one code at the same moment meet the unique constraint.
        with transaction.atomic():
            entry.save()
    except IntegrityError:
        raise ValidationError({"code": f"The code {code} is already used."}) from None
    audit.record(
        school=school,
        action=AuditEvent.Action.CREATE if before is None else AuditEvent.Action.UPDATE,
        object_type=AuditEvent.ObjectType.COMMENT_BANK,
        object_id=entry.id,
        summary=f"{'Added' if before is None else 'Changed'} comment bank entry {entry.code}",
        before=before,
        after=after,
        actor=by,
    )
    return entry


@transaction.atomic
def comment_entry_retire(
    *, school: School, entry: CommentBankEntry, by: User, retired: bool = True
) -> CommentBankEntry:
    """Retire an entry (teachers no longer pick it; posted marks keep its texts), or bring a
    retired one back (`retired=False`). Never deleted: posted marks point to it. Audited; asking
    for the state it is already in writes nothing (a double click)."""
    entry = CommentBankEntry.objects.select_for_update().get(school=school, pk=entry.pk)
    if (entry.retired_at is not None) == retired:
        return entry
    before = entry.retired_at
    entry.retired_at = timezone.now() if retired else None
    entry.save(update_fields=["retired_at"])
    audit.record(
        school=school,
        action=AuditEvent.Action.UPDATE,
        object_type=AuditEvent.ObjectType.COMMENT_BANK,
        object_id=entry.id,
        summary=f"{'Retired' if retired else 'Brought back'} comment bank entry {entry.code}",
        before={"retired_at": before},
        after={"retired_at": entry.retired_at},
        actor=by,
    )
    return entry
