"""Students: a user with a student role (or a student enrollment) at a school."""

from __future__ import annotations

from collections import defaultdict

from gradebook.models import Student
from gradebook.oneroster import report as entities
from gradebook.oneroster.roster import People
from gradebook.oneroster.state import USERS, ImportState, Kind, Target, Want
from gradebook.oneroster.upsert import upsert
from mastery.models import School


def _grade_level(grades: list[str]) -> int | None:
    """CEDS grade codes: 01-13 are grades, KG and TK count as 0; the rest (PK, UG, …) none."""
    if not grades:
        return None
    code = grades[0]
    if code in ("KG", "TK"):
        return 0
    return int(code) if code.isdigit() and int(code) <= 32767 else None


def import_students(state: ImportState, people: People) -> None:
    users = state.rows[USERS]
    wants: dict[int, list[Want]] = defaultdict(list)
    for uid, school_ids in people.student_in.items():
        row = users.get(uid)
        if row is None:
            # Named by a delta's roles or enrollments only: the student imported before.
            for school_id in school_ids:
                student = state.mapped(
                    state.schools[school_id], Student, Kind.USER, uid, Target.STUDENT
                )
                if student is not None:
                    state.students[school_id][uid] = student
            continue
        local_id = state.text(row, "identifier", 40) if row["identifier"] else row.sid
        names = [state.text(row, c, 100) for c in ("givenName", "familyName", "preferredGivenName")]
        if local_id is None or None in names:
            continue
        if len(local_id) > 40:
            state.error(row, "identifier is empty and the sourcedId is too long to stand in")
            continue
        fields = {
            "local_id": local_id,
            "first_name": names[0],
            "last_name": names[1],
            "preferred_name": names[2],
            "grade_level": _grade_level(row.list("grades")),
            "is_active": True,
        }
        if uid in state.logins:
            fields["user_id"] = state.logins[uid].id
        for school_id in school_ids:
            wants[school_id].append(Want(row, dict(fields)))
    for school_id, school_wants in wants.items():
        state.students[school_id].update(
            upsert(
                state,
                state.schools[school_id],
                Student,
                kind=Kind.USER,
                target=Target.STUDENT,
                wants=school_wants,
                key=("local_id",),
                entity=entities.STUDENTS,
                describe=lambda f: f"the student number “{f['local_id']}”",
                also_unique={"user_id": "login"},
            )
        )


def find_student(state: ImportState, school: School, sid: str) -> Student | None:
    return state.students[school.id].get(sid) or state.mapped(
        school, Student, Kind.USER, sid, Target.STUDENT
    )
