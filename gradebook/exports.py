"""CSV exports of the gradebook: plain functions that views, the REST API and commands share.

Row producers return `(header, rows)`: the header is a list of column names; each row a list of
plain Python values (str, int, bool, Decimal, date, datetime or None), so an API can serialize
them as it likes. `csv_chunks` / `csv_text` turn them into spreadsheet-safe CSV text.

Every query is filtered by the school passed in; the caller authorizes (who may see the section,
who may export the school).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from functools import lru_cache

from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.text import slugify

from gradebook.models import Mastery, ReassessmentRequest, Section
from gradebook.selectors import common as common_reads
from gradebook.selectors import grid as grid_reads
from gradebook.services.evidence import score_number
from mastery import calculation, rls
from mastery.fields import parse_id
from mastery.models import LearningTarget, School
from mastery.selectors import achievement_levels

# What the grid shows as "IE": evidence exists, but not enough of it counts for a level.
INSUFFICIENT = "Insufficient evidence"

# Rows fetched per round trip of the server-side cursor (psycopg's default of 100 is ~3× slower).
FETCH_ROWS = 10_000
# Characters of CSV text gathered before a chunk goes to the client.
CHUNK_CHARS = 64 * 1024

# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

BOM = "\ufeff"  # so Excel reads the file as UTF-8 (accents in Spanish names)
CONTENT_TYPE = "text/csv; charset=utf-8"


class ExportFilterError(ValueError):
    """A filter value of an export is not understood; the message says why, for the user."""


# --- Writing CSV -----------------------------------------------------------------------------------


def csv_cell(value) -> str:
    """One value as CSV text: numbers as people write them, dates in ISO, formulas defused."""
    kind = type(value)
    if kind is str:
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    formatter = _FORMATTERS.get(kind)
    if formatter is not None:
        return formatter(value)
    if value is None:
        return ""
    return csv_cell(str(value))


@lru_cache(maxsize=4096)
def _decimal_text(value: Decimal) -> str:
    # A school export holds 180,000 scores drawn from a few hundred values: format each once.
    return calculation.fmt(value)


def _datetime_text(value: datetime) -> str:
    # The offset is part of the key: equal instants in other zones are equal datetimes.
    return _moment_text(value, value.utcoffset())


@lru_cache(maxsize=1024)
def _moment_text(value: datetime, offset) -> str:
    # Records computed by one recompute share their timestamp: format it once.
    return value.isoformat(timespec="seconds")


_FORMATTERS = {
    int: str,
    bool: lambda value: "yes" if value else "no",
    Decimal: _decimal_text,
    datetime: _datetime_text,
    date: date.isoformat,
}


def csv_chunks(
    header: list[str], rows: Iterable[list], *, bom: bool = True, chunk_chars: int = CHUNK_CHARS
) -> Iterator[str]:
    """The CSV text in chunks of about `chunk_chars` characters, for a streaming response."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if bom:
        buffer.write(BOM)
    writer.writerow([csv_cell(h) for h in header])
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
        if buffer.tell() >= chunk_chars:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def csv_text(header: list[str], rows: Iterable[list], *, bom: bool = True) -> str:
    """The whole CSV as one string (for small exports such as one section)."""
    return "".join(csv_chunks(header, rows, bom=bom))


def export_filename(school: School, *parts: str, on: date | None = None) -> str:
    """`<school-slug>-<parts…>-<date>.csv`, ASCII only (safe in a Content-Disposition header)."""
    on = on or timezone.localdate()
    words = [school.slug, *(slugify(p) for p in parts if p), on.isoformat()]
    return "-".join(w for w in words if w) + ".csv"


def section_export_filename(school: School, section: Section, *, on: date | None = None) -> str:
    return export_filename(school, section.course.code, section.name, on=on)


# --- A section's gradebook -------------------------------------------------------------------------


def level_text(level: Decimal | None, evidence_count: int, labels: dict[Decimal, str]) -> str:
    """The level as the grid shows it: its label, "Insufficient evidence" or empty.

    The grid's IE is evidence without a level; its – is no evidence at all.
    """
    if not evidence_count:
        return ""
    if level is None:
        return INSUFFICIENT
    return labels.get(level) or calculation.fmt(level)


def section_gradebook_rows(*, school: School, section: Section) -> tuple[list[str], list[list]]:
    """The section grid as rows: one per actively enrolled student, in the grid's order.

    Columns: student number, last name, first name, then `<code> level` and `<code> score` for
    each of the course's targets in the grid's order, then the course grade and its average.
    Built from `grid_reads.section_grid`, so it shows exactly what the grid shows (6 queries).
    """
    if section.school_id != school.id:
        raise ValueError("The section belongs to another school.")
    grid = grid_reads.section_grid(school=school, section=section)
    labels = {info.value: info.label for info in grid.levels}
    header = ["student number", "last name", "first name"]
    for target in grid.targets:
        header += [f"{target.code} level", f"{target.code} score"]
    header += ["course grade", "course average"]
    rows = []
    for grid_row in grid.rows:
        student = grid_row.student
        row: list = [student.local_id, student.last_name, student.first_name]
        for cell in grid_row.cells:
            if cell is None or not cell.evidence_count:
                row += ["", None]
            else:
                row += [level_text(cell.level, cell.evidence_count, labels), cell.score]
        row += [grid_row.grade.letter, grid_row.grade.mean]
        rows.append(row)
    return header, rows


# --- A school's mastery records --------------------------------------------------------------------

MASTERY_FILTERS = ("section", "target", "level", "changed_since")

MASTERY_HEADER = [
    "student number",
    "student name",
    "target code",
    "target statement",
    "competency code",
    "department",
    "score",
    "level label",
    "mastered",
    "evidence count",
    "last evidence date",
    "policy version",
    "computed at",
]


@dataclass(frozen=True)
class MasteryFilters:
    """Which Mastery records a school export holds (every one when nothing is set)."""

    section: Section | None = None  # its active students × its course's targets
    target: LearningTarget | None = None
    level: Decimal | None = None  # a level value of the school's scale
    changed_since: datetime | None = None  # computed at or after (aware)


def parse_mastery_filters(
    params: Mapping[str, str], *, school: School, ignore: Iterable[str] = ()
) -> MasteryFilters:
    """Filters from a query string; raises ExportFilterError with a message for the user.

    - section: a section id of the school;
    - target: a learning target's code (or id) in the school;
    - level: a level value of the school's scale (3, 2.5) or its label ("Proficient");
    - changed_since: an ISO date (2026-03-01, from midnight) or date-time (2026-03-01T14:30,
      local time unless it carries an offset).
    Empty values are ignored; an unknown parameter (outside `ignore`) is an error, so that a typo
    never silently exports everything.
    """
    unknown = sorted(set(params) - set(MASTERY_FILTERS) - set(ignore))
    if unknown:
        raise ExportFilterError(
            f"Unknown filter {', '.join(repr(u) for u in unknown)}: "
            f"use {', '.join(MASTERY_FILTERS)}."
        )
    value = {name: (params.get(name) or "").strip() for name in MASTERY_FILTERS}
    return MasteryFilters(
        section=_section_filter(school, value["section"]) if value["section"] else None,
        target=_target_filter(school, value["target"]) if value["target"] else None,
        level=_level_filter(school, value["level"]) if value["level"] else None,
        changed_since=_since_filter(value["changed_since"]) if value["changed_since"] else None,
    )


def _section_filter(school: School, raw: str) -> Section:
    section_id = parse_id(raw)
    if section_id is None:
        raise ExportFilterError(f"section must be a section id (a number), not {raw!r}.")
    section = Section.objects.filter(school=school, id=section_id).select_related("course").first()
    if section is None:
        raise ExportFilterError(f"There is no section {raw} in this school.")
    return section


def _target_filter(school: School, raw: str) -> LearningTarget:
    if "\x00" in raw:  # PostgreSQL refuses NUL in text: no code holds one
        raise ExportFilterError(f"There is no learning target {raw!r} in this school.")
    targets = LearningTarget.objects.filter(school=school)
    target = targets.filter(code=raw).first()
    target_id = parse_id(raw)
    if target is None and target_id is not None:
        target = targets.filter(id=target_id).first()
    if target is None:
        raise ExportFilterError(f"There is no learning target {raw!r} in this school.")
    return target


def _level_filter(school: School, raw: str) -> Decimal:
    levels = achievement_levels(school)
    number = score_number(raw)  # read as a typed score is: exact, never rounded onto a level
    for level in levels:
        if number is not None and level.value == number:
            return level.value
        if raw.casefold() in {level.label.casefold(), (level.label_es or "").casefold()}:
            return level.value
    choices = ", ".join(f"{calculation.fmt(lv.value)} ({lv.label})" for lv in levels)
    raise ExportFilterError(f"level must be one of the scale's levels: {choices}; not {raw!r}.")


def _since_filter(raw: str) -> datetime:
    try:
        moment = parse_datetime(raw)
        day = None if moment else parse_date(raw)
    except ValueError:  # well-formed but impossible, e.g. 2026-02-30
        moment = day = None
    if moment is None and day is not None:
        moment = datetime.combine(day, time.min)
    if moment is None:
        raise ExportFilterError(
            f"changed_since must be an ISO date (2026-03-01) or date-time (2026-03-01T14:30), "
            f"not {raw!r}."
        )
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def mastery_records(*, school: School, filters: MasteryFilters | None = None) -> QuerySet:
    """The filtered Mastery records of the school joined with what the export shows, as tuples.

    One query (the filters' subqueries included). Student, target and competency are filtered by
    school; department and policy are reached through those rows' own foreign keys.
    """
    filters = filters or MasteryFilters()
    records = Mastery.objects.filter(
        school=school,
        student__school=school,
        target__school=school,
        target__competency__school=school,
    )
    if filters.section is not None:
        records = records.filter(common_reads.section_cells_q(filters.section))
    if filters.target is not None:
        records = records.filter(target=filters.target)
    if filters.level is not None:
        records = records.filter(level=filters.level)
    if filters.changed_since is not None:
        records = records.filter(computed_at__gte=filters.changed_since)
    return records.order_by(
        "student__last_name", "student__first_name", "student_id", "target__code"
    ).values_list(
        "student__local_id",
        "student__last_name",
        "student__first_name",
        "target__code",
        "target__statement",
        "target__competency__code",
        "target__department__name",
        "score",
        "level",
        "mastered",
        "evidence_count",
        "last_evidence_on",
        "policy__version",
        "computed_at",
    )


def school_mastery_rows(
    *, school: School, filters: MasteryFilters | None = None
) -> tuple[list[str], Iterator[list]]:
    """Every Mastery record of the school (as filtered), one row each, streamed.

    The query is built here, inside the caller's school scope; the rows come lazily from a
    server-side cursor, FETCH_ROWS at a time, so 180,000 records never sit in memory at once.
    """
    records = mastery_records(school=school, filters=filters)
    # Read now, in the request: the rows are produced after the view has returned.
    labels = {level.value: level.display_label for level in achievement_levels(school)}
    zone = timezone.get_current_timezone()

    def rows() -> Iterator[list]:
        local_times: dict[datetime, datetime] = {}  # one recompute stamps many records alike
        for (
            local_id,
            last_name,
            first_name,
            code,
            statement,
            competency,
            department,
            score,
            level,
            mastered,
            evidence_count,
            last_evidence_on,
            policy_version,
            computed_at,
        ) in records.iterator(chunk_size=FETCH_ROWS):
            computed_local = local_times.get(computed_at)
            if computed_local is None:
                if len(local_times) >= 4096:
                    local_times.clear()
                computed_local = local_times[computed_at] = timezone.localtime(computed_at, zone)
            yield [
                local_id,
                f"{last_name}, {first_name}",
                code,
                statement,
                competency,
                department,
                score,
                level_text(level, evidence_count, labels),
                mastered,
                evidence_count,
                last_evidence_on,
                policy_version,
                computed_local,
            ]

    return list(MASTERY_HEADER), rows()


def mastery_export_filename(
    school: School, filters: MasteryFilters | None = None, *, on: date | None = None
) -> str:
    section = filters.section if filters else None
    parts = ["mastery"]
    if section is not None:
        parts += [section.course.code, section.name]
    if filters and filters.target is not None:
        parts.append(filters.target.code)
    return export_filename(school, *parts, on=on)


# --- Responses (the pages and the API answer the same files) --------------------------------------


def section_response(*, school: School, section: Section) -> HttpResponse:
    header, rows = section_gradebook_rows(school=school, section=section)
    response = HttpResponse(csv_text(header, rows), content_type=CONTENT_TYPE)
    return _attachment(response, section_export_filename(school, section))


def mastery_response(*, school: School, filters: MasteryFilters) -> StreamingHttpResponse:
    header, rows = school_mastery_rows(school=school, filters=filters)
    # Read in one transaction: the rows come from a server-side cursor that must not outlive it.
    chunks = rls.read_in_one_transaction(csv_chunks(header, rows))
    response = StreamingHttpResponse(chunks, content_type=CONTENT_TYPE)
    return _attachment(response, mastery_export_filename(school, filters))


def _attachment(response, filename: str):
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- Reassessment requests -------------------------------------------------------------------------

REQUESTS_HEADER = [
    "student number",
    "student",
    "target code",
    "status",
    "asked on",
    "requested by",
    "scheduled on",
    "decline reason",
    "resolved on",
]
# The school's export: the same columns, then where each request was made.
SCHOOL_REQUESTS_HEADER = [*REQUESTS_HEADER, "course", "section"]


def reassessment_requests(*, school: School, section: Section | None = None) -> QuerySet:
    """The school's reassessment requests (or one section's), every status, oldest first, joined
    with what the export shows, as tuples (one query). Student and target are filtered by
    school; the section, its course and the requester are reached through the row's own keys."""
    requests = ReassessmentRequest.objects.filter(
        school=school, student__school=school, target__school=school
    )
    if section is not None:
        if section.school_id != school.id:
            raise ValueError("The section belongs to another school.")
        requests = requests.filter(section=section)
    return requests.order_by("created_at", "id").values_list(
        "student__local_id",
        "student__last_name",
        "student__first_name",
        "target__code",
        "status",
        "created_at",
        "requested_by__full_name",
        "scheduled_on",
        "decline_reason",
        "resolved_at",
        "section__course__code",
        "section__name",
    )


def requests_rows(
    *, school: School, section: Section | None = None
) -> tuple[list[str], Iterator[list]]:
    """The requests as rows, streamed: with `section`, that section's (REQUESTS_HEADER); without,
    the whole school's, with each request's course and section (SCHOOL_REQUESTS_HEADER). The
    moments (asked, resolved) are local dates."""
    requests = reassessment_requests(school=school, section=section)
    zone = timezone.get_current_timezone()  # read now, in the request

    def day(moment: datetime | None) -> date | None:
        return None if moment is None else timezone.localtime(moment, zone).date()

    def rows() -> Iterator[list]:
        for (
            local_id,
            last_name,
            first_name,
            code,
            status,
            created_at,
            requested_by,
            scheduled_on,
            decline_reason,
            resolved_at,
            course_code,
            section_name,
        ) in requests.iterator(chunk_size=FETCH_ROWS):
            row = [
                local_id,
                f"{last_name}, {first_name}",
                code,
                status,
                day(created_at),
                requested_by,
                scheduled_on,
                decline_reason,
                day(resolved_at),
            ]
            if section is None:
                row += [course_code, section_name]
            yield row

    header = REQUESTS_HEADER if section is not None else SCHOOL_REQUESTS_HEADER
    return list(header), rows()


def requests_response(*, school: School, section: Section | None = None) -> StreamingHttpResponse:
    """A section's requests (or, without one, the school's) as a CSV download."""
    header, rows = requests_rows(school=school, section=section)
    parts = ["requests"]
    if section is not None:
        parts += [section.course.code, section.name]
    chunks = rls.read_in_one_transaction(csv_chunks(header, rows))  # as mastery_response
    response = StreamingHttpResponse(chunks, content_type=CONTENT_TYPE)
    return _attachment(response, export_filename(school, *parts))
