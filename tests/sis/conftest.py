"""A hand-made school for the OneRoster gradebook tests: 2 students × 2 learning targets posted for
one grading period, every object with a fixed id and the sourcedIds a roster import would have
kept, so that the bundle it exports can be compared byte for byte with tests/sis/expected_bundle/
(written by hand from the OneRoster 1.2 CSV binding)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django_scopes import scopes_disabled

from gradebook.models import (
    Course,
    CourseTarget,
    Enrollment,
    GradingPeriod,
    RosterSource,
    Section,
    Student,
    Term,
)
from marks.models import PostedMark
from mastery.models import (
    Competency,
    Department,
    Framework,
    FrameworkItem,
    LearningTarget,
    ProficiencyScale,
    ScaleLevel,
    School,
    TargetAlignment,
)
from tests.factories import make_user

ID = 7_100_001
T1 = datetime(2026, 11, 2, 17, 5, 0, 123_000, tzinfo=UTC)
# 17:30 on Nov 2 in Los Angeles: the result's scoreDate is the school's day, not UTC's.
T2 = datetime(2026, 11, 3, 1, 30, 0, tzinfo=UTC)
CASE_ITEM = uuid.UUID("c6a1a8d2-5d3b-4c11-9f0e-2b7f3a9e4d10")


@dataclass
class Bundle:
    school: School
    period: GradingPeriod
    section: Section
    targets: list[LearningTarget]
    students: list[Student]
    poster: object


def make_bundle_school(base: int = ID, slug: str = "bundle-school") -> Bundle:
    with scopes_disabled():
        school = School.objects.create(
            pk=base, name="Bundle High", slug=slug, timezone="America/Los_Angeles"
        )
        scale = ProficiencyScale.objects.create(
            school=school, name="Levels", kind=ProficiencyScale.Kind.ACHIEVEMENT
        )
        for value, label, cutoff in (
            (1, "Beginning", "0"),
            (2, "Developing", "1.5"),
            (3, "Proficient", "2.5"),
            (4, "Advanced", "3.5"),
        ):
            ScaleLevel.objects.create(
                school=school, scale=scale, value=value, label=label, cutoff=Decimal(cutoff)
            )
        department = Department.objects.create(pk=base, school=school, name="Math")
        competency = Competency.objects.create(
            pk=base, school=school, department=department, code="ALG", name="Algebra"
        )
        targets = [
            LearningTarget.objects.create(
                pk=base + i,
                school=school,
                competency=competency,
                department=department,
                code=code,
                statement=statement,
                position=i,
            )
            for i, (code, statement) in enumerate(
                [
                    ("ALG.1", "I can solve linear equations."),
                    ("ALG.2", "I can graph, and read, linear functions."),
                ]
            )
        ]
        framework = Framework.objects.create(
            owner_school=school,
            identifier=uuid.uuid4(),
            uri="https://case.example/frameworks/1",
            title="Algebra standards",
        )
        item = FrameworkItem.objects.create(
            framework=framework,
            identifier=CASE_ITEM,
            uri=f"https://case.example/items/{CASE_ITEM}",
            full_statement="Solve linear equations in one variable.",
        )
        TargetAlignment.objects.create(school=school, target=targets[0], item=item)
        course = Course.objects.create(
            pk=base, school=school, department=department, code="ALG1", name="Algebra 1"
        )
        for i, target in enumerate(targets):
            CourseTarget.objects.create(school=school, course=course, target=target, position=i)
        term = Term.objects.create(
            pk=base,
            school=school,
            name="2026-27",
            starts_on=date(2026, 8, 24),
            ends_on=date(2027, 6, 11),
        )
        period = GradingPeriod.objects.create(
            pk=base,
            school=school,
            term=term,
            name="Q1",
            starts_on=date(2026, 8, 24),
            ends_on=date(2026, 10, 30),
        )
        section = Section.objects.create(
            pk=base, school=school, course=course, term=term, name="Period 2", period=2
        )
        students = [
            Student.objects.create(
                pk=base + i, school=school, local_id=f"S{i}", first_name=first, last_name=last
            )
            for i, (first, last) in enumerate([("Ana", "Lopez"), ("Ben", "Okafor")])
        ]
        for student in students:
            Enrollment.objects.create(
                school=school, section=section, student=student, enrolled_on=date(2026, 8, 24)
            )
        for kind, sid, target, object_id in (
            ("org", "org-hs-001", RosterSource.Target.SCHOOL, school.pk),
            ("academicSession", "gp-2026-q1", RosterSource.Target.GRADING_PERIOD, period.pk),
            ("course", "crs-alg1", RosterSource.Target.COURSE, course.pk),
            ("class", "cls-alg1-p2", RosterSource.Target.SECTION, section.pk),
            ("user", "usr-ana", RosterSource.Target.STUDENT, students[0].pk),
            ("user", "usr-ben", RosterSource.Target.STUDENT, students[1].pk),
        ):
            RosterSource.objects.create(
                school=school,
                kind=kind,
                sourced_id=sid,
                target=target,
                object_id=object_id,
                fingerprint="x",
            )
        poster = make_user(f"poster@{slug}.test", "Pat Poster")
        for student, target, value, at, comment in (
            (students[0], targets[0], "3", T1, {}),
            (students[1], targets[0], "2", T1, {}),
            (students[0], targets[1], "3.5", T1, {}),
            (students[1], targets[1], "4", T2, {"en": 'Strong work,\nkeep "graphing".'}),
        ):
            PostedMark.objects.create(
                school=school,
                student=student,
                section=section,
                period=period,
                kind=PostedMark.Kind.TARGET,
                target=target,
                subject_id=target.pk,
                computed_value=value,
                value=value,
                comment=comment,
                posted_by=poster,
                posted_at=at,
            )
    return Bundle(school, period, section, targets, students, poster)


@pytest.fixture
def bundle_school(db) -> Bundle:
    return make_bundle_school()
