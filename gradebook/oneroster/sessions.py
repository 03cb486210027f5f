"""Terms and grading periods: academicSessions.csv into every school the import writes into;
and school years: a session of type schoolYear is a term and also a school year
(gradebook.models.SchoolYear, the span a year's levels count evidence over).

How the import fits the year rollover (years.services), in either order:
- next year's roster imported before the rollover: the import makes the next SchoolYear (and its
  terms, sections and enrollments); the rollover then finds that year by name, keeps it as it is
  and closes the old one (its own terms and sections only). The years page suggests it as the
  next year, and warns that students already enrolled in it may have next year's grade levels
  from the SIS (then the admin unticks "Promote");
- imported after the rollover: the rollover made the next year; the import finds it by name and
  takes the SIS's dates for it.
A school year is found by its title, else by its first day (a renamed year): RosterSource's
targets name no school year, and a year's name is unique in its school. A closed year is never
changed by an import. A year made or moved whose first day has passed moves the evidence window
of every level: the school's recompute is queued once the import is saved.
"""

from __future__ import annotations

from django.db import transaction

from gradebook.models import GradingPeriod, SchoolYear, Term
from gradebook.oneroster import report as entities
from gradebook.oneroster.parser import Row
from gradebook.oneroster.report import Tally
from gradebook.oneroster.state import SESSIONS, ImportState, Kind, Target, Want
from gradebook.oneroster.upsert import upsert
from grading.services import enqueue_school_recompute
from mastery.models import School

TERM_TYPES = ("term", "semester", "schoolYear")
# The report's line for school years (a tally of its own, added when an import has any).
SCHOOL_YEARS = "school years"
YEAR_NAME_LIMIT = 40


def import_sessions(state: ImportState) -> None:
    sessions = state.rows[SESSIONS]
    terms, periods = [], []
    for row in sessions.values():
        kind = row["type"]
        if row.deleted:
            state.report.skip(SESSIONS, "tobedeleted: a term is never removed by an import")
        elif kind.startswith("ext:"):
            state.report.skip(SESSIONS, f"session type {kind} is not imported")
        elif kind == "gradingPeriod":
            parent = sessions.get(row["parentSourcedId"])
            if not row["parentSourcedId"]:
                state.error(row, "a grading period needs its term in parentSourcedId")
            elif parent is not None and parent["type"] not in TERM_TYPES:
                state.error(
                    row,
                    "the parent of a grading period must be a term, semester or school year",
                )
            else:
                periods.append(row)
        else:
            parent_sid = row["parentSourcedId"]
            if parent_sid and parent_sid not in sessions and not _known_session(state, parent_sid):
                state.unknown(row, "parentSourcedId", parent_sid, SESSIONS, "session")
            terms.append(row)
    for school in state.schools.values():
        wants = [
            Want(
                row,
                {
                    "name": name,
                    "starts_on": row.date("startDate"),
                    "ends_on": row.date("endDate"),
                },
            )
            for row in terms
            if (name := state.text(row, "title", 80)) is not None
        ]
        state.terms[school.id].update(
            upsert(
                state,
                school,
                Term,
                kind=Kind.ACADEMIC_SESSION,
                target=Target.TERM,
                wants=wants,
                key=("name",),
                entity=entities.TERMS,
                describe=lambda f: f"the term title “{f['name']}”",
            )
        )
        wants = []
        for row in periods:
            term = find_term(state, school, row["parentSourcedId"])
            name = state.text(row, "title", 80)
            if term is None:
                state.unknown(row, "parentSourcedId", row["parentSourcedId"], SESSIONS, "term")
            elif name is not None:
                wants.append(
                    Want(
                        row,
                        {
                            "term_id": term.id,
                            "name": name,
                            "starts_on": row.date("startDate"),
                            "ends_on": row.date("endDate"),
                        },
                    )
                )
        upsert(
            state,
            school,
            GradingPeriod,
            kind=Kind.ACADEMIC_SESSION,
            target=Target.GRADING_PERIOD,
            wants=wants,
            key=("term_id", "name"),
            entity=entities.GRADING_PERIODS,
            describe=lambda f: f"the grading period title “{f['name']}” in its term",
        )
        import_school_years(state, school, [row for row in terms if row["type"] == "schoolYear"])


def import_school_years(state: ImportState, school: School, rows: list[Row]) -> None:
    """Each schoolYear session as a SchoolYear of the school: made, given the SIS's name and
    dates, or found unchanged (idempotent). A year that cannot be one (a title over 40
    characters, dates overlapping another year) is a warning: it is still imported as a term."""
    if not rows:
        return
    tally = state.report.tallies.setdefault(SCHOOL_YEARS, Tally())
    years = list(SchoolYear.objects.filter(school=school).order_by("starts_on"))
    begun = False
    for row in sorted(rows, key=lambda r: r["startDate"]):
        name, starts_on, ends_on = row["title"], row.date("startDate"), row.date("endDate")
        if starts_on is None or ends_on is None:
            continue  # the parser reported it
        if len(name) > YEAR_NAME_LIMIT:
            _warn(
                state,
                row,
                f"the school year “{name}” has a title over {YEAR_NAME_LIMIT} "
                "characters: imported as a term only",
            )
            continue
        year = next((y for y in years if y.name == name), None) or next(
            (y for y in years if y.starts_on == starts_on), None
        )
        if year is not None and (year.name, year.starts_on, year.ends_on) == (
            name,
            starts_on,
            ends_on,
        ):
            tally.unchanged += 1
            continue
        if year is not None and year.closed_at is not None:
            _warn(state, row, f"the school year {year.name} is closed: kept as it was closed")
            tally.unchanged += 1
            continue
        overlap = next(
            (
                y
                for y in years
                if y is not year and y.starts_on <= ends_on and y.ends_on >= starts_on
            ),
            None,
        )
        if overlap is not None:
            _warn(
                state,
                row,
                f"the school year “{name}” overlaps {overlap.name} ({overlap.starts_on} – "
                f"{overlap.ends_on}) in {school.name}: imported as a term only",
            )
            continue
        if year is None:
            years.append(
                SchoolYear.objects.create(
                    school=school, name=name, starts_on=starts_on, ends_on=ends_on
                )
            )
            tally.created += 1
            begun = begun or starts_on <= state.today
        else:
            begun = begun or (
                year.starts_on != starts_on and min(year.starts_on, starts_on) <= state.today
            )
            year.name, year.starts_on, year.ends_on = name, starts_on, ends_on
            year.save(update_fields=["name", "starts_on", "ends_on"])
            tally.updated += 1
    if begun:
        school_id = school.id
        transaction.on_commit(lambda: enqueue_school_recompute(school_id=school_id))


def _warn(state: ImportState, row: Row, message: str) -> None:
    """A warning once per row (a row is read for each school it concerns)."""
    problem = (row.file, row.line, message)
    if problem not in state.reported:
        state.reported.add(problem)
        state.report.add_warning(*problem)


def _known_session(state: ImportState, sid: str) -> bool:
    return any(
        state.mapping(s, Kind.ACADEMIC_SESSION, sid, t) is not None
        for s in state.schools
        for t in (Target.TERM, Target.GRADING_PERIOD)
    )


def find_term(state: ImportState, school: School, sid: str) -> Term | None:
    """The Term a session stands for in the school (a grading period: the term it is part of)."""
    if sid in state.terms[school.id]:
        return state.terms[school.id][sid]
    term = state.mapped(school, Term, Kind.ACADEMIC_SESSION, sid, Target.TERM)
    if term is not None:
        return term
    row = state.rows[SESSIONS].get(sid)
    if row is not None and row["type"] == "gradingPeriod":
        return find_term(state, school, row["parentSourcedId"])
    period = state.mapped(school, GradingPeriod, Kind.ACADEMIC_SESSION, sid, Target.GRADING_PERIOD)
    return state.existing(school, Term).get(period.term_id) if period else None
