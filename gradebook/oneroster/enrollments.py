"""Enrollments and teaching: a student's enrollment → Enrollment, a teacher's → SectionTeacher."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import models

from gradebook.models import Enrollment, Section, SectionTeacher, Term
from gradebook.oneroster import report as entities
from gradebook.oneroster.parser import Row
from gradebook.oneroster.roster import Planned, teaching_ended
from gradebook.oneroster.state import ENROLLMENTS, USERS, ImportState, Kind, Target, Want
from gradebook.oneroster.students import find_student
from gradebook.oneroster.upsert import upsert
from mastery.models import School


def import_enrollments(state: ImportState, plan: list[Planned]) -> None:
    students: dict[int, list[Want]] = defaultdict(list)
    teachers: dict[int, list[Want]] = defaultdict(list)
    for row, school, section, uid in plan:
        term = state.existing(school, Term)[section.term_id]
        if row["role"] == "student":
            student = find_student(state, school, uid)
            if student is None:
                if not state.failed(USERS, uid):
                    state.error(row, f"user “{uid}” is not a student of this school")
                continue
            end = row.date("endDate")
            fields = {
                "section_id": section.id,
                "student_id": student.id,
                # An endDate on (or after) the term's last day is the planned end, not a leaving.
                "withdrawn_on": end if end is not None and end < term.ends_on else None,
            }
            if row["beginDate"]:
                fields["enrolled_on"] = row.date("beginDate")
            students[school.id].append(Want(row, fields, {"enrolled_on": term.starts_on}))
        elif teaching_ended(state, row):
            # The teacher no longer teaches the class (a long-term substitute, a handover):
            # they leave it as a tobedeleted row would take them off; its evidence stays.
            teaching = find_teaching(state, school, row, section)
            if teaching is not None:
                state.leaving[school.id].teachings.add(teaching.id)
            state.report.skip(ENROLLMENTS, "the teacher's enrollment has ended (endDate)")
        elif uid in state.logins:  # without one, the users.csv row was reported (no email)
            teachers[school.id].append(
                Want(
                    row,
                    {
                        "section_id": section.id,
                        "teacher_id": state.logins[uid].id,
                        "is_primary": row.flag("primary"),
                    },
                )
            )
    for school_id, wants in students.items():
        upsert(
            state,
            state.schools[school_id],
            Enrollment,
            kind=Kind.ENROLLMENT,
            target=Target.ENROLLMENT,
            wants=wants,
            key=("section_id", "student_id"),
            entity=entities.ENROLLMENTS,
            describe=lambda f: "the student's enrollment in this class",
        )
    for school_id, wants in teachers.items():
        upsert(
            state,
            state.schools[school_id],
            SectionTeacher,
            kind=Kind.ENROLLMENT,
            target=Target.SECTION_TEACHER,
            wants=wants,
            key=("section_id", "teacher_id"),
            entity=entities.SECTION_TEACHERS,
            describe=lambda f: "the teacher's enrollment in this class",
        )


def find_teaching(
    state: ImportState, school: School, row: Row, section: Section | None
) -> SectionTeacher | None:
    """The teaching assignment an enrollment row made: by its sourcedId, else by class and
    teacher (made by hand, or before the row was remembered)."""
    teaching = state.mapped(
        school, SectionTeacher, Kind.ENROLLMENT, row.sid, Target.SECTION_TEACHER
    )
    login_id = state.login_id(school, row["userSourcedId"])
    if teaching is None and section is not None and login_id is not None:
        teaching = by_key(state, school, SectionTeacher, ("section_id", "teacher_id")).get(
            (section.id, login_id)
        )
    return teaching


def by_key(
    state: ImportState, school: School, model: type[models.Model], key: tuple[str, ...]
) -> dict[tuple, Any]:
    """The school's rows of a model by their natural key (`key`), read once."""
    cache_key = (school.id, model, key)
    if cache_key not in state.cache:
        state.cache[cache_key] = {
            tuple(getattr(o, f) for f in key): o for o in state.existing(school, model).values()
        }
    return state.cache[cache_key]
