"""Who may see or score what inside a school (docs/design.md section 4, "Roles decide…").

- school admins, counselors and district admins see every student and section;
- a teacher sees and scores the sections they teach (and the students in them);
- a guardian sees only their own children, a student only themselves; both read only.
"""

from __future__ import annotations

from django.db.models import QuerySet

from gradebook.models import Enrollment, Section, SectionTeacher, Student
from mastery.models import Role
from mastery.tenancy import DISTRICT_ADMIN, SchoolAccess

SCHOOL_WIDE = (Role.SCHOOL_ADMIN, Role.COUNSELOR, DISTRICT_ADMIN)


def visible_sections(access: SchoolAccess, user) -> QuerySet[Section]:
    sections = Section.objects.filter(school=access.school)
    if access.has(*SCHOOL_WIDE):
        return sections
    if access.has(Role.TEACHER):
        return sections.filter(
            id__in=SectionTeacher.objects.filter(school=access.school, teacher=user).values(
                "section_id"
            )
        )
    return sections.none()


def visible_students(access: SchoolAccess, user) -> QuerySet[Student]:
    students = Student.objects.filter(school=access.school)
    if access.has(*SCHOOL_WIDE):
        return students
    allowed = students.none()
    if access.has(Role.TEACHER):
        allowed = allowed | students.filter(
            id__in=Enrollment.objects.filter(
                school=access.school,
                section__in=visible_sections(access, user).filter(section_teachers__teacher=user),
            ).values("student_id")
        )
    if access.has(Role.GUARDIAN):
        allowed = allowed | students.filter(guardianships__guardian=user)
    if access.has(Role.STUDENT):
        allowed = allowed | students.filter(user=user)
    return allowed.distinct()


def can_score_section(access: SchoolAccess, user, section: Section) -> bool:
    """Teachers score their own sections; school admins may correct any section."""
    if access.has(Role.SCHOOL_ADMIN):
        return True
    return (
        access.has(Role.TEACHER)
        and SectionTeacher.objects.filter(
            school=access.school, section=section, teacher=user
        ).exists()
    )


def can_edit_department(access: SchoolAccess, user, department) -> bool:
    """School admins, and teachers who teach a course of the department, edit its targets."""
    if access.has(Role.SCHOOL_ADMIN):
        return True
    return (
        access.has(Role.TEACHER)
        and SectionTeacher.objects.filter(
            school=access.school, teacher=user, section__course__department=department
        ).exists()
    )
