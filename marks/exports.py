"""The CSV of record: a grading period's posted marks, of one section or of the whole school.

One row per current posted mark (its latest version), overrides marked, in the order a registrar
reads them: course, section, student, then the targets, the course grade and the habits. The rows
come from one query whatever the school's size (joined, not looked up per row) that formats every
cell itself, and PostgreSQL writes them as CSV (COPY … TO STDOUT) straight into the streamed
response: a school of 2,000 students (about 200,000 marks) downloads in a few seconds at constant
memory. Cells follow gradebook.exports (formulas defused, yes/no, ISO moments, UTF-8 with a BOM).

The caller authorizes (who may see the section, who may export the school); every query is
filtered by the school passed in.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from itertools import chain
from typing import Any

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Case, F, Func, IntegerField, QuerySet, TextField, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, Concat
from django.db.models.sql.compiler import SQLCompiler
from django.http import StreamingHttpResponse

from gradebook import exports as csv_files
from gradebook.models import GradingPeriod, Section
from marks.models import PostedMark
from mastery import rls
from mastery.fields import parse_id
from mastery.models import School

HEADER = [
    "student number",
    "student name",
    "course code",
    "section",
    "period",
    "what",
    "computed",
    "posted",
    "overridden",
    "reason",
    "comment",
    "posted by",
    "posted at",
    "version",
]

COURSE_GRADE = "Course grade"

# The query's columns, in HEADER's order.
COLUMNS = (
    "c_number",
    "c_name",
    "c_course",
    "c_section",
    "c_period",
    "c_what",
    "c_computed",
    "c_value",
    "c_overridden",
    "c_reason",
    "c_comment",
    "c_posted_by",
    "c_posted_at",
    "c_version",
)


class PeriodChoiceError(ValueError):
    """The export's ?period= names no grading period it can export; the message says why."""


def period_from_query(
    school: School, raw: str | None, *, section: Section | None = None
) -> GradingPeriod:
    """The grading period `?period=<id>` names, of the school (and of the section's term)."""
    raw = (raw or "").strip()
    if not raw:
        raise PeriodChoiceError("Choose a grading period: ?period=<its id>.")
    period_id = parse_id(raw)
    period = (
        GradingPeriod.objects.filter(school=school, id=period_id).select_related("term").first()
        if period_id is not None
        else None
    )
    if period is None:
        raise PeriodChoiceError(f"There is no grading period {raw!r} in this school.")
    if section is not None and period.term_id != section.term_id:
        raise PeriodChoiceError(f"{period.name} is not a grading period of {section.term}.")
    return period


# --- Cells the database writes ----------------------------------------------------------------


class Defused(Func):
    """A text cell with a spreadsheet formula defused, in SQL: one starting with =, +, -, @, a tab
    or a carriage return gets an apostrophe first (gradebook.exports.csv_cell)."""

    output_field = TextField()

    def as_sql(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> tuple[str, tuple[Any, ...]]:
        sql, params = compiler.compile(self.source_expressions[0])
        starts = ", ".join(["%s"] * len(csv_files.FORMULA_STARTS))
        quote = "''''"  # one apostrophe, as an SQL literal
        return (
            # NULL for an empty cell: PostgreSQL's CSV writes it bare, not as "".
            f"NULLIF(CASE WHEN substr({sql}, 1, 1) IN ({starts}) THEN {quote} || {sql}"
            f" ELSE {sql} END, '')",
            (*params, *csv_files.FORMULA_STARTS, *params, *params),
        )


class LocalMoment(Func):
    """A moment in ISO 8601 in a time zone, with its offset, as datetime.isoformat writes it
    (2026-12-07T09:05:00-08:00), without touching the session's time zone."""

    output_field = TextField()

    def __init__(self, expression: Any, zone: str):
        super().__init__(expression, Value(zone))

    def as_sql(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> tuple[str, tuple[Any, ...]]:
        moment, moment_params = compiler.compile(self.source_expressions[0])
        zone, zone_params = compiler.compile(self.source_expressions[1])
        local = f"({moment} AT TIME ZONE {zone})"
        local_params = (*moment_params, *zone_params)
        offset = f"(extract(epoch FROM {local} - ({moment} AT TIME ZONE 'UTC')) / 60)::int"
        offset_params = (*local_params, *moment_params)
        stamp = "'YYYY-MM-DD\"T\"HH24:MI:SS'"
        sql = (
            f"to_char({local}, {stamp})"
            f" || CASE WHEN {offset} < 0 THEN '-' ELSE '+' END"
            f" || lpad((abs({offset}) / 60)::text, 2, '0') || ':'"
            f" || lpad(mod(abs({offset}), 60)::text, 2, '0')"
        )
        return sql, (*local_params, *offset_params, *offset_params, *offset_params)

    def as_sqlite(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> tuple[str, tuple[Any, ...]]:
        # The demo's database keeps moments in UTC and knows no time zones.
        moment, params = compiler.compile(self.source_expressions[0])
        return f"strftime('%%Y-%%m-%%dT%%H:%%M:%%S', {moment}) || '+00:00'", tuple(params)


class AnyText(Func):
    """The first text of a {language: text} object (the demo's SQLite: none)."""

    output_field = TextField()

    def as_sql(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> tuple[str, tuple[Any, ...]]:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"(jsonb_path_query_first({sql}, '$.*') #>> '{{}}')", tuple(params)

    def as_sqlite(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> tuple[str, tuple[Any, ...]]:
        return "NULL", ()


def posted_marks_csv_query(
    *, school: School, period: GradingPeriod, section: Section | None = None
) -> QuerySet:
    """The period's current posted marks (of one section, or of the school) as the CSV's cells,
    formatted and defused by the database, in the file's order, in one query. The student and
    section are filtered by school too; target, habit and poster are reached through the mark's
    own keys."""
    marks = PostedMark.objects.filter(
        school=school, period=period, student__school=school, section__school=school
    )
    if section is not None:
        if section.school_id != school.id:
            raise ValueError("The section belongs to another school.")
        marks = marks.filter(section=section)
    # Targets first, then the course grade, then the habits, as the posting grid shows a row.
    kind_order = Case(
        When(kind=PostedMark.Kind.TARGET, then=Value(0)),
        When(kind=PostedMark.Kind.COURSE, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    text = TextField()
    what = Case(
        When(kind=PostedMark.Kind.TARGET, then=F("target__code")),
        When(kind=PostedMark.Kind.COURSE, then=Value(COURSE_GRADE)),
        default=F("habit__name"),
        output_field=text,
    )
    # In the school's language, else English, else the first text it has (as
    # PostedMark.comment_in does), read as text: no JSON decoded per row.
    comment = Coalesce(
        KT(f"comment__{school.default_language}"),
        KT("comment__en"),
        AnyText("comment"),
        Value(""),
        output_field=text,
    )
    name = Concat("student__last_name", Value(", "), "student__first_name", output_field=text)
    return (
        marks.current()
        .annotate(
            c_number=Defused(F("student__local_id")),
            c_name=Defused(name),
            c_course=Defused(F("section__course__code")),
            c_section=Defused(F("section__name")),
            c_period=Value(csv_files.csv_cell(period.name), output_field=text),
            c_what=Defused(what),
            c_computed=Defused(F("computed_value")),
            c_value=Defused(F("value")),
            c_overridden=Case(
                When(value=F("computed_value"), then=Value("no")),
                default=Value("yes"),
                output_field=text,
            ),
            c_reason=Defused(F("reason")),
            c_comment=Defused(comment),
            c_posted_by=Defused(F("posted_by__full_name")),
            c_posted_at=LocalMoment(F("posted_at"), school.timezone),
            c_version=Cast("version", output_field=text),
        )
        .order_by(
            "section__course__code",
            "section__name",
            "section_id",
            "student__last_name",
            "student__first_name",
            "student_id",
            kind_order,
            "target__code",
            "habit__position",
            "habit__name",
            "subject_id",
        )
        .values_list(*COLUMNS)
    )


# --- The file -----------------------------------------------------------------------------------


def _header() -> bytes:
    buffer = io.StringIO()
    buffer.write(csv_files.BOM)
    csv.writer(buffer).writerow([csv_files.csv_cell(name) for name in HEADER])
    return buffer.getvalue().encode()


def _copied(statement: str) -> Iterator[bytes]:
    """The rows as PostgreSQL writes them (COPY … TO STDOUT as CSV), gathered into chunks.

    A school's 200,000 marks fetched as Python rows and written by the csv module take most of
    the 5 s budget on their own; the database writes the same file in a fraction of it. Django's
    query log does not see a COPY: it is logged here, so that query counts include it."""
    started = time.monotonic()
    buffer = bytearray()
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for data in copy:
            buffer += data
            if len(buffer) >= csv_files.CHUNK_CHARS:
                yield bytes(buffer)
                buffer.clear()
    if buffer:
        yield bytes(buffer)
    if connection.queries_logged:
        connection.queries_log.append(
            {"sql": statement, "time": f"{time.monotonic() - started:.3f}"}
        )


def _written(rows: QuerySet) -> Iterator[bytes]:
    """The rows fetched and written by the csv module (the demo's SQLite has no COPY)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows.iterator(chunk_size=csv_files.FETCH_ROWS):
        writer.writerow(row)
        if buffer.tell() >= csv_files.CHUNK_CHARS:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


def posted_marks_csv(
    *, school: School, period: GradingPeriod, section: Section | None = None
) -> Iterator[bytes]:
    """The CSV file in chunks: the header, then one row per current mark. The query is built
    now, in the request (inside its school's scope); its rows are read as the response is sent,
    in one transaction with the school's wall (the COPY reaches the driver directly)."""
    rows = posted_marks_csv_query(school=school, period=period, section=section)
    if connection.vendor != "postgresql":
        return chain([_header()], _written(rows))
    sql, params = rows.query.sql_with_params()
    query = connection.ops.compose_sql(sql, params)  # type: ignore[attr-defined]  # PostgreSQL's
    statement = f"COPY ({query}) TO STDOUT WITH (FORMAT csv)"
    return rls.read_in_one_transaction(chain([_header()], _copied(statement)))


def posted_marks_response(
    *, school: School, period: GradingPeriod, section: Section | None = None
) -> StreamingHttpResponse:
    """The CSV download: `<school>-marks[-<course>-<section>]-<period>-<date>.csv`."""
    chunks = posted_marks_csv(school=school, period=period, section=section)
    parts = ["marks"]
    if section is not None:
        parts += [section.course.code, section.name]
    parts.append(period.name)
    response = StreamingHttpResponse(chunks, content_type=csv_files.CONTENT_TYPE)
    filename = csv_files.export_filename(school, *parts)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
