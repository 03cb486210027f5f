"""Departments and courses (courses.csv), then sections (classes.csv)."""

from __future__ import annotations

from collections import defaultdict

from gradebook.models import Course, Section
from gradebook.oneroster import report as entities
from gradebook.oneroster.parser import Row
from gradebook.oneroster.report import OTHER_SCHOOL
from gradebook.oneroster.sessions import find_term
from gradebook.oneroster.state import (
    CLASSES,
    COURSES,
    ORGS,
    OTHER,
    SESSIONS,
    ImportState,
    Kind,
    Target,
    Want,
)
from gradebook.oneroster.upsert import upsert
from mastery.models import Department, School

DEFAULT_DEPARTMENT = "General"


def _grade_levels(grades: list[str]) -> str:
    numbers = [int(g) for g in grades if g.isdigit()]
    if numbers and len(numbers) == len(grades):
        low, high = min(numbers), max(numbers)
        return str(low) if low == high else f"{low}-{high}"
    return ", ".join(grades)[:40]


# --- departments and courses ----------------------------------------------------------------------


def _class_school(state: ImportState, row: Row) -> School | None:
    """The school of a class row when it is one this import writes into (no errors reported)."""
    return state.school_of_org.get(row["schoolSourcedId"])


def import_courses(state: ImportState) -> None:
    orgs = state.rows[ORGS]
    used_in: dict[str, set[int]] = defaultdict(set)
    for row in state.rows[CLASSES].values():
        school = _class_school(state, row)
        if school is not None and not row.deleted:
            used_in[row["courseSourcedId"]].add(school.id)
    wants: dict[int, list[Want]] = defaultdict(list)
    for row in state.rows[COURSES].values():
        if row.deleted:
            state.report.skip(COURSES, "tobedeleted: a course is never removed by an import")
            continue
        org_sid = row["orgSourcedId"]
        org = orgs.get(org_sid)
        owner = state.school_of_org.get(org_sid)
        if owner is None and org is not None and org["type"] == "department":
            owner = state.school_of_org.get(org["parentSourcedId"])
        if state.only is None and org is None and owner is None and org_sid not in state.known_orgs:
            state.unknown(row, "orgSourcedId", org_sid, ORGS, "org")
            continue
        schools = used_in[row.sid] | ({owner.id} if owner is not None else set())
        if not schools:
            other = state.only is not None and org is not None and org["type"] == "school"
            state.report.skip(
                COURSES, OTHER_SCHOOL if other else "not used by a class of an imported school"
            )
            continue
        code = state.text(row, "courseCode", 40) if row["courseCode"] else row.sid
        name = state.text(row, "title", 200)
        if code is None or name is None:
            continue
        if len(code) > 40:
            state.error(row, "courseCode is empty and the sourcedId is too long to stand in")
            continue
        subjects = row.list("subjects")
        if subjects:
            department = subjects[0]
        elif org is not None and org["type"] == "department":
            department = org["name"]
        else:
            department = DEFAULT_DEPARTMENT
        if len(department) > 120:
            state.error(row, "the subject is longer than 120 characters")
            continue
        codes = row.list("subjectCodes")
        for school_id in schools:
            wants[school_id].append(
                Want(
                    row,
                    {
                        "code": code,
                        "name": name,
                        "department_id": None,  # set below, once departments exist
                        "grade_levels": _grade_levels(row.list("grades")),
                    },
                    {"department": (department, codes[0][:20] if codes else "")},
                )
            )
    for school_id, school_wants in wants.items():
        school = state.schools[school_id]
        departments = _departments(
            state, school, [w.defaults.pop("department") for w in school_wants]
        )
        for want, department in zip(school_wants, departments, strict=True):
            want.fields["department_id"] = department.id
        state.courses[school_id].update(
            upsert(
                state,
                school,
                Course,
                kind=Kind.COURSE,
                target=Target.COURSE,
                wants=school_wants,
                key=("code",),
                entity=entities.COURSES,
                describe=lambda f: f"the course code “{f['code']}”",
            )
        )


def _departments(
    state: ImportState, school: School, wanted: list[tuple[str, str]]
) -> list[Department]:
    """The department of each (name, code), by name without case; missing ones are created."""
    departments = {d.name.casefold(): d for d in state.existing(school, Department).values()}
    new: dict[str, Department] = {}
    for name, code in wanted:
        if name.casefold() not in departments and name.casefold() not in new:
            new[name.casefold()] = Department(school=school, name=name, code=code)
    Department.objects.bulk_create(new.values())
    state.report.tally(entities.DEPARTMENTS).created += len(new)
    state.existing(school, Department).update((d.id, d) for d in new.values())
    departments.update(new)
    return [departments[name.casefold()] for name, _ in wanted]


def _course(state: ImportState, school: School, sid: str) -> Course | None:
    return state.courses[school.id].get(sid) or state.mapped(
        school, Course, Kind.COURSE, sid, Target.COURSE
    )


# --- sections ---------------------------------------------------------------------------------------


def import_classes(state: ImportState) -> None:
    wants: dict[int, list[Want]] = defaultdict(list)
    for row in state.rows[CLASSES].values():
        school = state.school_for(row, "schoolSourcedId")
        if school is OTHER:
            state.report.skip(CLASSES, OTHER_SCHOOL)
            continue
        if school is None or row.deleted:
            continue  # reported by school_for, or withdrawn by apply_deletions
        course_sid = row["courseSourcedId"]
        course = _course(state, school, course_sid)
        if course is None:
            if not state.failed(COURSES, course_sid):
                state.error(
                    row,
                    f"the class refers to an unknown course “{course_sid}” "
                    "(not in courses.csv nor imported before)",
                )
            continue
        term_sid = (row.list("termSourcedIds") or [""])[0]
        term = find_term(state, school, term_sid)
        if term is None:
            state.unknown(row, "termSourcedIds", term_sid, SESSIONS, "session")
            continue
        name = state.text(row, "title", 80)
        room = state.text(row, "location", 40)
        if name is None or room is None:
            continue
        periods = row.list("periods")
        first = periods[0] if periods else ""
        wants[school.id].append(
            Want(
                row,
                {
                    "course_id": course.id,
                    "term_id": term.id,
                    "name": name,
                    "period": int(first) if first.isdigit() and int(first) <= 32767 else None,
                    "room": room,
                },
            )
        )
    for school_id, school_wants in wants.items():
        state.sections[school_id].update(
            upsert(
                state,
                state.schools[school_id],
                Section,
                kind=Kind.CLASS,
                target=Target.SECTION,
                wants=school_wants,
                key=("term_id", "course_id", "name"),
                entity=entities.SECTIONS,
                describe=lambda f: f"the class title “{f['name']}” (same course and term)",
            )
        )


def find_section(state: ImportState, school: School, sid: str) -> Section | None:
    return state.sections[school.id].get(sid) or state.mapped(
        school, Section, Kind.CLASS, sid, Target.SECTION
    )
