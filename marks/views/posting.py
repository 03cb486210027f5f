"""The posting grid: a teacher reviews a section's computed marks for a grading period and posts
them, overriding with a reason where they must, with a comment per student from the bank or their
own words. One form, posted whole (marks.services.section_marks_post: all or nothing); what the
teacher typed comes back with every problem marked when the post is refused.

Who: the section's teachers and school admins post; counselors read; families never see it (404).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.contrib import messages
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language

from gradebook.models import GradingPeriod
from gradebook.permissions import can_score_section
from gradebook.views.common import section_for
from marks import selectors
from marks.computing import COURSE, HABIT, TARGET, Key, SectionMarks, section_marks_compute
from marks.models import CommentBankEntry, PostedMark
from marks.services import MarkEntry, PostingError, school_today, section_marks_post
from mastery import calculation
from mastery.fields import parse_id
from mastery.models import Role
from mastery.selectors import achievement_levels

FIELD = re.compile(r"^m-([0-9]+)-(target|course|habit)-([0-9]+)$")


def _subject(text: str) -> int | None:
    """A target's or habit's id, or 0: the course grade's subject (written as ids are written:
    "07" is no id, so one mark has one field name)."""
    if text == "0":
        return 0
    found = parse_id(text)
    return found if found is not None and str(found) == text else None


@dataclass
class Cell:
    key: Key
    name: str  # the input's name: m-<student>-<kind>-<subject>
    label: str  # for screen readers: the student and the column
    value: str  # shown in the input: as typed, else as posted, else the computed value
    computed: str  # the computed value now
    posted: PostedMark | None
    error: str = ""

    @property
    def overridden(self) -> bool:
        """Not the computed value: as posted (the value it was posted against) while it holds
        the posted value, else against today's computed value."""
        if self.posted is not None and self.value.strip() == self.posted.value:
            return self.posted.overridden
        return self.value.strip() != self.computed

    @property
    def drifted(self) -> bool:
        """Posted, and the evidence now computes something else (the posted mark stays)."""
        return self.posted is not None and self.posted.computed_value != self.computed


@dataclass
class Row:
    student_id: int
    name: str
    cells: list[Cell] = field(default_factory=list)
    reason: str = ""
    comment: str = ""
    posted_comment: str = ""
    error: str = ""


def _field_name(key: Key) -> str:
    student_id, kind, subject_id = key
    return f"m-{student_id}-{kind}-{subject_id}"


def _rows(
    marks: SectionMarks,
    current: dict[Key, PostedMark],
    *,
    typed: dict | None = None,
    errors: dict | None = None,
    language: str,
) -> list[Row]:
    typed, errors = typed or {}, errors or {}
    columns = (
        [(TARGET, t.id, t.code) for t in marks.targets]
        + [(COURSE, 0, "course grade")]
        + [(HABIT, h.id, h.name) for h in marks.habits]
    )
    rows = []
    for student in marks.students:
        row = Row(student.id, student.sortable_name)
        for kind, subject_id, title in columns:
            key = (student.id, kind, subject_id)
            posted = current.get(key)
            computed = marks.computed[key].value
            name = _field_name(key)
            # As typed (a refused post), else as posted, else the computed value to review.
            shown = posted.value if posted is not None else computed
            value = typed.get(name, shown)
            row.cells.append(
                Cell(
                    key=key,
                    name=name,
                    label=f"{student.sortable_name}, {title}",
                    value=value,
                    computed=computed,
                    posted=posted,
                    error=errors.get(key, ""),
                )
            )
        course = current.get((student.id, COURSE, 0))
        row.posted_comment = course.comment_in(language) if course else ""
        row.reason = typed.get(f"reason-{student.id}", "")
        row.comment = typed.get(f"comment-{student.id}", row.posted_comment)
        rows.append(row)
    return rows


def _period(request, section) -> tuple[list[GradingPeriod], GradingPeriod | None]:
    """The period asked for (?period=; a post names the one its page showed), else the one whose
    window is open. A post without its period is refused: the marks reviewed were one period's."""
    periods = selectors.periods_of(request.school, section)
    asked = request.GET.get("period")
    if request.method == "POST":
        posted = request.POST.get("period") or asked
        if not posted or (asked and posted != asked):
            raise BadRequest("Say which grading period these marks are for.")
        asked = posted
    wanted = parse_id(asked or "")
    if asked:
        chosen = next((p for p in periods if p.id == wanted), None)
        if chosen is None:
            raise Http404("No such grading period for this section")
        return periods, chosen
    return periods, selectors.open_period(periods, school_today(request.school))


def post_marks(request, school_slug: str, section_id: int):
    """GET: the grid to review; POST: post it (the section's teachers, school admins)."""
    section = section_for(request, section_id)
    can_post = can_score_section(request.access, request.user, section)
    periods, period = _period(request, section)
    if period is None:
        return render(
            request,
            "marks/post.html",
            {"section": section, "periods": periods, "period": None, "can_post": can_post},
        )
    language = get_language() or request.school.default_language
    typed: dict[str, str] = {}
    errors: dict = {}
    status = 200
    if request.method == "POST":
        if not can_post:
            raise PermissionDenied(
                "Only the section's teachers (or a school admin) post its marks."
            )
        typed = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}
        entries = _entries(request.POST)
        try:
            result = section_marks_post(
                school=request.school,
                section=section,
                period=period,
                posted_by=request.user,
                entries=entries,
                is_admin=request.access.has(Role.SCHOOL_ADMIN),
                language=language,
            )
        except PostingError as exc:
            errors = exc.errors
            status = 422
            whole = errors.pop(None, None)
            if whole:
                messages.error(request, f"Nothing was posted: {whole}")
            else:
                messages.error(
                    request,
                    f"Nothing was posted: {len(errors)} mark{'s' if len(errors) != 1 else ''} "
                    "need attention (marked below). What you typed is still here.",
                )
        else:
            if result.written:
                messages.success(
                    request,
                    f"Posted {result.written} mark{'s' if result.written != 1 else ''}"
                    + (f", {result.overridden} overridden" if result.overridden else "")
                    + (
                        f"; {result.unchanged} already posted as they are"
                        if result.unchanged
                        else ""
                    )
                    + (
                        " (outside the posting window: recorded in the audit trail)"
                        if result.outside_window
                        else ""
                    )
                    + ".",
                )
            else:
                messages.info(request, "Nothing changed: every mark was already posted as it is.")
            return redirect(
                reverse("marks:post", args=[school_slug, section.id]) + f"?period={period.id}"
            )
    marks = section_marks_compute(school=request.school, section=section, period=period)
    current = selectors.current_marks(school=request.school, section=section, period=period)
    rows = _rows(marks, current, typed=typed, errors=errors, language=language)
    today = school_today(request.school)
    bank = selectors.comment_bank(request.school, department_id=section.course.department_id)
    context = {
        "section": section,
        "periods": periods,
        "period": period,
        "marks": marks,
        "rows": rows,
        "can_post": can_post,
        # Teachers type only while the window is open; a school admin posts any time (audited).
        "editable": can_post
        and (period.posting_open_on(today) or request.access.has(Role.SCHOOL_ADMIN)),
        "window_open": period.posting_open_on(today),
        "is_admin": request.access.has(Role.SCHOOL_ADMIN),
        "posted_count": len(current),
        "drifted": sum(1 for row in rows for cell in row.cells if cell.drifted),
        "bank": [(entry, _bank_label(entry, language)) for entry in bank],
        "suggested": _suggestions(rows, bank, language, {t.id for t in marks.targets}),
        "levels": achievement_levels(request.school),
        "errors": errors,
    }
    return render(request, "marks/post.html", context, status=status)


def _suggestions(
    rows: list[Row], bank: list[CommentBankEntry], language: str, course_targets: set[int]
) -> dict[int, list[str]]:
    """Each student's picker: the bank's entries for a target of the course at the level the
    student's mark shows first, then the entries for any target or level; an entry for another
    course's target, or for a level this student has on none of its targets, is left out."""
    found: dict[int, list[str]] = {}
    for row in rows:
        shown = {cell.key[2]: cell.value.strip() for cell in row.cells if cell.key[1] == TARGET}
        close, general = [], []
        for entry in bank:
            if entry.target_id is not None and entry.target_id not in course_targets:
                continue
            level = calculation.fmt(entry.level) if entry.level is not None else None
            targets = [entry.target_id] if entry.target_id is not None else list(shown)
            if level is not None and not any(shown.get(t) == level for t in targets):
                continue
            label = _bank_label(entry, language)
            (close if entry.target_id is not None or level is not None else general).append(label)
        found[row.student_id] = close + general
    return found


def _bank_label(entry: CommentBankEntry, language: str) -> str:
    text = (
        entry.texts.get(language) or entry.texts.get("en") or next(iter(entry.texts.values()), "")
    )
    return f"{entry.code}: {text}"


def _entries(data) -> list[MarkEntry]:
    """The marks the form sends: one per mark input; the row's reason goes with each of its marks,
    the row's comment with its course grade."""
    entries = []
    for name, value in data.items():
        match = FIELD.fullmatch(name)
        if not match:
            continue
        student_id, subject_id = _subject(match[1]), _subject(match[3])
        if student_id == 0:
            continue
        if student_id is None or subject_id is None:
            continue
        kind = match[2]
        comment = data.get(f"comment-{student_id}") if kind == COURSE else None
        entries.append(
            MarkEntry(
                key=(student_id, kind, subject_id),
                value=value,
                reason=data.get(f"reason-{student_id}", ""),
                comment=comment,
                seen=data.get(f"seen-{name[2:]}"),
                version_seen=_subject(data.get(f"ver-{name[2:]}", "") or "-"),
            )
        )
    return entries


def mark_history(request, school_slug: str, section_id: int):
    """Every version of one mark: computed, posted, reason, comment, who and when."""
    section = section_for(request, section_id)
    periods, period = _period(request, section)
    student_id = parse_id(request.GET.get("student") or "")
    subject_id = _subject(request.GET.get("subject") or "0")
    kind = request.GET.get("kind") or ""
    if (
        period is None
        or student_id is None
        or subject_id is None
        or kind not in PostedMark.Kind.values
    ):
        raise Http404("No such mark")
    versions = selectors.mark_history(
        school=request.school, section=section, period=period, key=(student_id, kind, subject_id)
    )
    if not versions:
        raise Http404("This mark has not been posted")
    return render(
        request,
        "marks/history.html",
        {"section": section, "period": period, "versions": versions, "mark": versions[0]},
    )
