"""Memberships (the roles the roster gives, per school) and guardianships (from agentSourcedIds)."""

from __future__ import annotations

from collections import defaultdict

from gradebook.models import Guardianship
from gradebook.oneroster import report as entities
from gradebook.oneroster.parser import Row
from gradebook.oneroster.roster import People
from gradebook.oneroster.state import USERS, ImportState, Kind, Target
from gradebook.oneroster.students import find_student
from mastery import accounts, audit
from mastery.models import AuditEvent, Membership, Role, School

# school id → (guardian sourcedId, student id) → relationship (the guardian's role)
Guardianships = dict[int, dict[tuple[str, int], str]]


def guardianships_of(state: ImportState, people: People) -> Guardianships:
    """school id → (guardian sourcedId, student id) → relationship (the guardian's role)."""
    result: dict[int, dict[tuple[str, int], str]] = defaultdict(dict)
    for guardian, children in people.children.items():
        if guardian not in state.logins:
            continue
        for child in children:
            for school in state.schools.values():
                student = find_student(state, school, child)
                if student is not None:
                    result[school.id][(guardian, student.id)] = people.guardian_role[guardian]
    return result


def import_memberships(state: ImportState, people: People, guardianships: Guardianships) -> None:
    """The memberships the roster gives, per school. Those the rows take away (a disabled
    user's, a role's out of its dates) leave with the tobedeleted withdrawals
    (deletions.apply_leaving)."""
    tally = state.report.tally(entities.MEMBERSHIPS)
    # Who holds what where, grouped by school once (user sourcedId → roles).
    holds: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for (school_id, uid), roles in people.staff.items():
        holds[school_id][uid] |= roles
    for uid, school_ids in people.student_in.items():
        for school_id in school_ids:
            holds[school_id][uid].add(Role.STUDENT)
    for school_id, pairs in guardianships.items():
        for guardian, _ in pairs:
            holds[school_id][guardian].add(Role.GUARDIAN)
    for uid, school_ids in people.members.items():
        for school_id in school_ids:
            holds[school_id].setdefault(uid, set())  # known here before: keep the mapping
    grants: dict[int | None, list[tuple[Row, str]]] = defaultdict(list)
    for row, school_id, role in people.grants:
        grants[school_id].append((row, role))
    users = state.rows[USERS]
    disabled = {
        uid for uid, row in users.items() if not row.deleted and not row.flag("enabledUser")
    }
    for school in state.schools.values():
        wanted = {
            (state.logins[uid].id, role)
            for uid, roles in holds[school.id].items()
            if uid in state.logins and uid not in disabled
            for role in roles
        }
        revoked = _revoked(state, school, people, disabled, granted=wanted)
        for login_id, role in revoked:
            state.leaving[school.id].memberships[role].add(login_id)
        existing = {
            (m.user_id, m.role): m
            for m in state.existing(school, Membership).values()
            if (m.user_id, m.role) not in revoked and (m.user_id, None) not in revoked
        }
        new = {
            key: Membership(school=school, user_id=key[0], role=key[1])
            for key in sorted(wanted - existing.keys())
        }
        Membership.objects.bulk_create(new.values())
        logins = {u.id: u for u in state.logins.values()}
        accounts.links_announce(
            school=school, grants=[(logins[m.user_id], m.role) for m in new.values()]
        )
        state.to_activate |= {login_id for login_id, role in wanted if role != Role.GUARDIAN}
        audit.record_many(
            audit.membership_event(
                action=AuditEvent.Action.CREATE, membership=m, user=logins[m.user_id]
            )
            for m in new.values()
        )
        tally.created += len(new)
        tally.unchanged += len(wanted & existing.keys())
        existing.update(new)
        state.existing(school, Membership).update((m.id, m) for m in new.values())
        for uid in holds[school.id]:
            if uid in users and uid in state.logins:
                login, applied = state.logins[uid], uid not in state.not_renamed
                state.record(school, Kind.USER, users[uid], Target.USER, login, applied=applied)
        for row, role in grants[school.id] + grants[None]:
            login = state.logins.get(row["userSourcedId"])
            membership = existing.get((login.id, role)) if login is not None else None
            if membership is not None:
                state.record(school, Kind.ROLE, row, Target.MEMBERSHIP, membership)
            elif role == Role.STUDENT:
                student = find_student(state, school, row["userSourcedId"])
                if student is not None:
                    state.record(school, Kind.ROLE, row, Target.STUDENT, student)


def _revoked(
    state: ImportState,
    school: School,
    people: People,
    disabled: set[str],
    *,
    granted: set[tuple[int, str]],
) -> set[tuple[int, str | None]]:
    """(login id, role) memberships the rows take away here: every role (None) of a disabled
    user, and the role of each role row out of its dates that no current row grants."""
    revoked: set[tuple[int, str | None]] = set()
    for uid in disabled:
        if (login_id := state.login_id(school, uid)) is not None:
            revoked.add((login_id, None))
    for uid, school_id, role in people.withheld:
        if school_id not in (school.id, None):
            continue
        login_id = state.login_id(school, uid)
        if login_id is not None and (login_id, role) not in granted:
            revoked.add((login_id, role))
    return revoked


def import_guardianships(state: ImportState, guardianships: Guardianships) -> None:
    tally = state.report.tally(entities.GUARDIANSHIPS)
    for school_id, pairs in guardianships.items():
        school = state.schools[school_id]
        existing = {
            (g.guardian_id, g.student_id): g for g in state.existing(school, Guardianship).values()
        }
        new, changed = [], []
        for (guardian, student_id), relationship in sorted(pairs.items()):
            guardian_id = state.logins[guardian].id
            current = existing.get((guardian_id, student_id))
            if current is None:
                new.append(
                    Guardianship(
                        school=school,
                        guardian_id=guardian_id,
                        student_id=student_id,
                        relationship=relationship,
                    )
                )
            elif current.relationship != relationship:
                current.relationship = relationship
                changed.append(current)
            else:
                tally.unchanged += 1
        Guardianship.objects.bulk_create(new)
        Guardianship.objects.bulk_update(changed, ["relationship"])
        tally.created += len(new)
        tally.updated += len(changed)
