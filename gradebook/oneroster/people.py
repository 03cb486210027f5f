"""People: students, logins, memberships and guardianships, in the order they depend on each other.

Who is what where is read first (`roster`), then written: logins (`logins`), students
(`students`), memberships and guardianships (`memberships`).
"""

from __future__ import annotations

from gradebook.oneroster.logins import import_logins
from gradebook.oneroster.memberships import (
    guardianships_of,
    import_guardianships,
    import_memberships,
)
from gradebook.oneroster.report import OTHER_SCHOOL
from gradebook.oneroster.roster import (
    People,
    Planned,
    read_agents,
    read_enrollment,
    read_known_users,
    read_role,
)
from gradebook.oneroster.state import ENROLLMENTS, ROLES, USERS, ImportState
from gradebook.oneroster.students import import_students


def import_people(state: ImportState) -> list[Planned]:
    """Students, logins and memberships from roles and enrollments; guardianships from agents.

    Returns the enrollments to write (row, school, section, user sourcedId).
    """
    users = state.rows[USERS]
    gone = {sid for sid, r in users.items() if r.deleted}
    people = People()
    plan: list[Planned] = []
    for row in state.rows[ROLES].values():
        if not row.deleted and row["userSourcedId"] not in gone:
            read_role(state, row, people)
    for row in state.rows[ENROLLMENTS].values():
        if not row.deleted and row["userSourcedId"] not in gone:
            found = read_enrollment(state, row, people)
            if found is not None:
                plan.append(found)
    read_known_users(state, people)
    read_agents(state, people)

    import_logins(state, people)
    import_students(state, people)
    guardianships = guardianships_of(state, people)
    import_memberships(state, people, guardianships)
    import_guardianships(state, guardianships)

    taken = set(people.student_in) | set(people.members) | set(people.children)
    taken |= {uid for _, uid in people.staff}
    for uid, row in users.items():
        if uid not in taken and not row.deleted:
            state.report.skip(
                USERS,
                OTHER_SCHOOL
                if uid in people.elsewhere
                else "no role at a school of the files"
                if state.only is None
                else "no role at this school",
            )
    return plan
