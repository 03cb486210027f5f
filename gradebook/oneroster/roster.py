"""Who is what where: roles.csv, enrollments.csv and agentSourcedIds read into `People` (nothing is
written here; `people.import_people` writes logins, students, memberships and guardianships from it).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from gradebook.models import Section
from gradebook.oneroster.courses import find_section
from gradebook.oneroster.parser import Mode, Row
from gradebook.oneroster.report import OTHER_SCHOOL
from gradebook.oneroster.state import (
    CLASSES,
    ENROLLMENTS,
    GUARDIAN_ROLES,
    ORGS,
    OTHER,
    ROLES,
    STAFF_ROLES,
    USERS,
    ImportState,
    Target,
)
from mastery.models import Role, School

# An enrollment to write: (row, school, section, user sourcedId).
Planned = tuple[Row, School, Section, str]


@dataclass
class People:
    """Who is what where, as roles.csv, enrollments.csv and agentSourcedIds tell it."""

    student_in: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    staff: dict[tuple[int, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    # users named by rows of other schools (the upload page skips them)
    elsewhere: set[str] = field(default_factory=set)
    # users with a login imported into these schools before (a delta may rename them)
    members: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    guardian_role: dict[str, str] = field(default_factory=dict)
    children: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # role rows and what they grant where (None: a guardian, wherever their children are)
    grants: list[tuple[Row, int | None, str]] = field(default_factory=list)
    # role rows out of their dates: (user sourcedId, school id or None, the role they granted)
    withheld: list[tuple[str, int | None, str]] = field(default_factory=list)


def read_role(state: ImportState, row: Row, people: People) -> None:
    role, uid = row["role"], row["userSourcedId"]
    if role not in (*STAFF_ROLES, *GUARDIAN_ROLES, "student"):
        state.report.skip(ROLES, f"role {role} is not imported")
        return
    if role in GUARDIAN_ROLES:
        # A guardian belongs where their children are, whatever org the role names.
        if state.school_for_quietly(row["orgSourcedId"]) is OTHER:
            people.elsewhere.add(uid)
        if uid not in state.rows[USERS] and not state.known_anywhere(uid):
            state.unknown(row, "userSourcedId", uid, USERS, "user")
            return
        if _withheld(state, row, people, None, Role.GUARDIAN):
            return
        people.guardian_role.setdefault(uid, role)
        people.grants.append((row, None, Role.GUARDIAN))
        return
    org = state.rows[ORGS].get(row["orgSourcedId"])
    if (
        row["orgSourcedId"] not in state.school_of_org
        and org is not None
        and org["type"] != "school"
    ):
        state.report.skip(ROLES, f"a {role} role at an org of type {org['type']} is not imported")
        return
    school = state.school_for(row, "orgSourcedId")
    if school is OTHER:
        state.report.skip(ROLES, OTHER_SCHOOL)
        people.elsewhere.add(uid)
        return
    if school is None:
        return
    if uid not in state.rows[USERS] and not state.known_user(school.id, uid):
        state.unknown(row, "userSourcedId", uid, USERS, "user")
        return
    granted = Role.STUDENT if role == "student" else STAFF_ROLES[role]
    if _withheld(state, row, people, school.id, granted):
        return
    if granted == Role.STUDENT:
        people.student_in[uid].add(school.id)
    else:
        people.staff[(school.id, uid)].add(granted)
    people.grants.append((row, school.id, granted))


def _withheld(
    state: ImportState, row: Row, people: People, school_id: int | None, granted: str
) -> bool:
    """Whether a role row is out of its dates today: it then grants nothing, and the
    membership it granted before goes (see memberships.import_memberships)."""
    begins, ends = row.date("beginDate"), row.date("endDate")
    if begins is not None and begins > state.today:
        state.report.skip(ROLES, "the role begins later (beginDate)")
    elif ends is not None and ends < state.today:
        state.report.skip(ROLES, "the role has ended (endDate)")
    else:
        return False
    people.withheld.append((row["userSourcedId"], school_id, granted))
    return True


def read_enrollment(state: ImportState, row: Row, people: People) -> Planned | None:
    role, uid, class_sid = row["role"], row["userSourcedId"], row["classSourcedId"]
    school = state.school_for(row, "schoolSourcedId")
    if school is OTHER:
        state.report.skip(ENROLLMENTS, OTHER_SCHOOL)
        people.elsewhere.add(uid)
        return None
    if school is None:
        return None
    section = find_section(state, school, class_sid)
    if section is None:
        class_row = state.rows[CLASSES].get(class_sid)
        if class_row is not None and class_row["schoolSourcedId"] != row["schoolSourcedId"]:
            state.error(row, f"schoolSourcedId is not the school of class “{class_sid}”")
        elif not state.failed(CLASSES, class_sid) and not (class_row and class_row.deleted):
            state.unknown(row, "classSourcedId", class_sid, CLASSES, "class")
        return None
    if role not in ("student", "teacher"):
        state.report.skip(ENROLLMENTS, f"an enrollment as {role} is not imported")
        return None
    if uid not in state.rows[USERS] and not state.known_user(school.id, uid):
        state.unknown(row, "userSourcedId", uid, USERS, "user")
        return None
    if role == "student":
        people.student_in[uid].add(school.id)
    elif not teaching_ended(state, row):  # an ended teaching grants no access (see below)
        people.staff[(school.id, uid)].add(Role.TEACHER)
    return row, school, section, uid


def teaching_ended(state: ImportState, row: Row) -> bool:
    ends = row.date("endDate")
    return row["role"] == "teacher" and ends is not None and ends < state.today


def read_known_users(state: ImportState, people: People) -> None:
    """Users a delta names again (a new name or email) without their roles or enrollments:
    they are where they were imported before."""
    for uid, row in state.rows[USERS].items():
        if row.deleted:
            continue
        for school_id in state.schools:
            if state.known_user(school_id, uid, (Target.STUDENT,)):
                people.student_in[uid].add(school_id)
            if state.known_user(school_id, uid, (Target.USER,)):
                people.members[uid].add(school_id)


def read_agents(state: ImportState, people: People) -> None:
    """Children as the files tell them, from either side of agentSourcedIds."""
    users = state.rows[USERS]
    for uid, row in users.items():
        if row.deleted:
            continue
        for agent in row.list("agentSourcedIds"):
            if agent not in users and not state.known_anywhere(agent):
                # The page sees one school's records: in a delta, an agent it does not know
                # may be another school's. A bulk file (or the command line) sees everyone.
                if state.only is None or state.package.mode(USERS) is Mode.BULK:
                    state.unknown(row, "agentSourcedIds", agent, USERS, "user")
                continue
            is_child = agent in people.student_in or state.known_anywhere(agent, (Target.STUDENT,))
            if uid in people.guardian_role and is_child:
                people.children[uid].add(agent)
            elif agent in people.guardian_role and uid in people.student_in:
                people.children[agent].add(uid)
