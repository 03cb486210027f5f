"""Terms and grading periods: academicSessions.csv into every school the import writes into."""

from __future__ import annotations

from gradebook.models import GradingPeriod, Term
from gradebook.oneroster import report as entities
from gradebook.oneroster.state import SESSIONS, ImportState, Kind, Target, Want
from gradebook.oneroster.upsert import upsert
from mastery.models import School

TERM_TYPES = ("term", "semester", "schoolYear")


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
