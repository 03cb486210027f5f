"""status=tobedeleted: withdraw and remove what the rows name; never delete a student or evidence."""

from __future__ import annotations

from django.db.models import Q

from gradebook.models import Enrollment, Guardianship, SectionTeacher, Student
from gradebook.oneroster import report as entities
from gradebook.oneroster.courses import find_section
from gradebook.oneroster.enrollments import by_key, find_teaching
from gradebook.oneroster.parser import Row
from gradebook.oneroster.report import OTHER_SCHOOL
from gradebook.oneroster.state import (
    CLASSES,
    ENROLLMENTS,
    GUARDIAN_ROLES,
    OTHER,
    ROLES,
    STAFF_ROLES,
    USERS,
    ImportState,
    Kind,
    Leaving,
    Target,
)
from gradebook.oneroster.students import find_student
from mastery import audit
from mastery.models import AuditEvent, Membership, Role, School


def apply_deletions(state: ImportState) -> None:
    """Withdraw and remove what tobedeleted rows name; never delete a student or evidence.

    The rows are read first (no query per row), then each school's withdrawals run as a
    handful of set-based updates and deletes.
    """
    if not state.report.ok:
        return  # the import is refused: nothing to work out
    for row in state.rows[CLASSES].values():
        if row.deleted:
            _leave_class(state, row)
    for row in state.rows[ENROLLMENTS].values():
        if row.deleted:
            _leave_enrollment(state, row)
    for row in state.rows[ROLES].values():
        if row.deleted:
            _leave_role(state, row)
    for row in state.rows[USERS].values():
        if row.deleted:
            _leave_user(state, row)
    for school_id, leaving in state.leaving.items():
        apply_leaving(state, state.schools[school_id], leaving)


def _leave_class(state: ImportState, row: Row) -> None:
    school = state.school_for(row, "schoolSourcedId")
    if school is OTHER:
        state.report.skip(CLASSES, OTHER_SCHOOL)
    elif school is not None and (section := find_section(state, school, row.sid)) is not None:
        # The section stays (its assessments, evidence and history); its students leave it.
        state.leaving[school.id].sections.add(section.id)
        state.record(school, Kind.CLASS, row, Target.SECTION, section)


def _leave_enrollment(state: ImportState, row: Row) -> None:
    school = state.school_for(row, "schoolSourcedId")
    if school is OTHER:
        state.report.skip(ENROLLMENTS, OTHER_SCHOOL)
        return
    if school is None:
        return
    leaving = state.leaving[school.id]
    section = find_section(state, school, row["classSourcedId"])
    enrollment = state.mapped(school, Enrollment, Kind.ENROLLMENT, row.sid, Target.ENROLLMENT)
    student = find_student(state, school, row["userSourcedId"])
    if enrollment is None and section is not None and student is not None:
        enrollment = by_key(state, school, Enrollment, ("section_id", "student_id")).get(
            (section.id, student.id)
        )
    if enrollment is not None:
        leaving.enrollments[row.date("endDate") or state.today].add(enrollment.id)
        state.record(school, Kind.ENROLLMENT, row, Target.ENROLLMENT, enrollment)
    teaching = find_teaching(state, school, row, section)
    if teaching is not None:
        leaving.teachings.add(teaching.id)
    if enrollment is None and teaching is None:
        state.report.skip(ENROLLMENTS, "tobedeleted: nothing (left) to withdraw")


def _leave_role(state: ImportState, row: Row) -> None:
    role, uid = row["role"], row["userSourcedId"]
    if role in GUARDIAN_ROLES:
        schools = list(state.schools.values())  # guardians are where their children are
    elif role in STAFF_ROLES or role == "student":
        school = state.school_for(row, "orgSourcedId")
        if school is OTHER:
            state.report.skip(ROLES, OTHER_SCHOOL)
            return
        schools = [school] if school is not None else []
    else:
        state.report.skip(ROLES, f"role {role} is not imported")
        return
    for school in schools:
        leaving = state.leaving[school.id]
        login_id = state.login_id(school, uid)
        if role == "student":
            student = find_student(state, school, uid)
            if student is not None:
                leaving.students.add(student.id)
        granted = (
            Role.GUARDIAN
            if role in GUARDIAN_ROLES
            else Role.STUDENT
            if role == "student"
            else STAFF_ROLES[role]
        )
        if login_id is None:
            continue
        leaving.memberships[granted].add(login_id)
        if granted == Role.GUARDIAN:
            leaving.guardians.add(login_id)
        elif granted == Role.TEACHER:
            leaving.teachers.add(login_id)


def _leave_user(state: ImportState, row: Row) -> None:
    known = [s for s in state.schools.values() if state.known_user(s.id, row.sid)]
    if not known:
        state.report.skip(USERS, "tobedeleted: nothing (left) to withdraw")
    for school in known:
        leaving = state.leaving[school.id]
        student = find_student(state, school, row.sid)
        if student is not None:
            leaving.students.add(student.id)
            state.record(school, Kind.USER, row, Target.STUDENT, student)
        login_id = state.login_id(school, row.sid)
        if login_id is not None:
            # The login itself stays: it may belong to other schools, and evidence names its author.
            leaving.memberships[None].add(login_id)
            leaving.teachers.add(login_id)
            leaving.guardians.add(login_id)


def apply_leaving(state: ImportState, school: School, leaving: Leaving) -> None:
    tallies = state.report.tally
    enrollments = Enrollment.objects.filter(school=school, withdrawn_on__isnull=True)
    # Dated withdrawals first: an enrollment's own endDate beats "today" from a wider removal.
    for on, ids in sorted(leaving.enrollments.items()):
        tallies(entities.ENROLLMENTS).withdrawn += enrollments.filter(id__in=ids).update(
            withdrawn_on=on
        )
    if leaving.students:
        # Students leave: inactive, every enrollment withdrawn; their evidence stays as it is.
        tallies(entities.STUDENTS).withdrawn += Student.objects.filter(
            school=school, id__in=leaving.students, is_active=True
        ).update(is_active=False)
    if leaving.students or leaving.sections:
        tallies(entities.ENROLLMENTS).withdrawn += enrollments.filter(
            Q(student_id__in=leaving.students) | Q(section_id__in=leaving.sections)
        ).update(withdrawn_on=state.today)
    removals = [
        (
            entities.SECTION_TEACHERS,
            SectionTeacher,
            Q(id__in=leaving.teachings) | Q(teacher_id__in=leaving.teachers),
        ),
        (entities.GUARDIANSHIPS, Guardianship, Q(guardian_id__in=leaving.guardians)),
    ]
    memberships = Q(pk__in=[])
    for role, user_ids in leaving.memberships.items():
        memberships |= Q(user_id__in=user_ids, **({"role": role} if role else {}))
    removals.append((entities.MEMBERSHIPS, Membership, memberships))
    audit.record_many(
        audit.membership_event(action=AuditEvent.Action.DELETE, membership=m)
        for m in Membership.objects.filter(memberships, school=school).select_related("user")
    )
    for entity, model, condition in removals:
        deleted, _ = model.objects.filter(condition, school=school).delete()
        tallies(entity).withdrawn += deleted
