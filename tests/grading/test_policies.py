"""Which policy governs a student and a target: the one rule, and its three answers agree.

The world (tests/factories.py): Algebra 1 with targets F1-F3 and two sections. Here a Science
course shares F2 with Algebra and adds its own lab target, and a Geometry course shares F2 too.
"""

from __future__ import annotations

from django.db import connection, transaction

from gradebook.models import Course, CourseTarget, Section
from grading.policies import (
    create_pair_policy,
    override_assignments,
    policy_for_course,
    policy_for_pair,
)
from grading.services import policy_change, policy_remove_override
from mastery.models import GradingPolicy, LearningTarget
from tests.factories import make_student


def shared_target_school(w):
    """Two overriding courses that share F2, and students in one, both or neither."""
    f1, f2, _f3 = w.targets
    lab = LearningTarget.objects.create(
        school=w.school, competency=w.competency, code="ALPHA.LAB", statement="I can run a lab."
    )
    courses = {}
    for code in ("SCI", "GEO"):
        course = Course.objects.create(
            school=w.school, department=w.department, code=code, name=code.title()
        )
        CourseTarget.objects.create(school=w.school, course=course, target=f2)
        courses[code] = (
            course,
            Section.objects.create(school=w.school, course=course, term=w.term, name=f"{code} 1"),
        )
    CourseTarget.objects.create(school=w.school, course=courses["SCI"][0], target=lab)
    science, geometry = courses["SCI"][0], courses["GEO"][0]
    both = make_student(
        w.school, "both", sections=[w.section, courses["SCI"][1], courses["GEO"][1]]
    )
    geo_only = make_student(w.school, "geo", sections=[courses["GEO"][1]])
    sci = policy_change(school=w.school, changed_by=w.admin, course=science, method="highest")
    geo = policy_change(school=w.school, changed_by=w.admin, course=geometry, method="mean")
    default = GradingPolicy.objects.get(school=w.school, course__isnull=True, is_current=True)
    students = [w.students[0], both, geo_only]
    return students, [f1, f2, lab], {"sci": sci, "geo": geo, "default": default}


def sql_assignments(school) -> dict[tuple[int, int], int]:
    with transaction.atomic(), connection.cursor() as cursor:
        create_pair_policy(cursor, school)
        cursor.execute("SELECT student_id, target_id, policy_id FROM pair_policy")
        return {(s, t): p for s, t, p in cursor.fetchall()}


def test_the_python_sql_and_one_pair_answers_agree_on_every_pair(world_a, in_school):
    w = world_a
    with in_school(w):
        students, targets, policy = shared_target_school(w)
        batch = override_assignments(w.school)
        in_sql = sql_assignments(w.school)
        for student in students:
            for target in targets:
                pair = (student.id, target.id)
                one = policy_for_pair(school=w.school, student_id=student.id, target_id=target.id)
                assert (
                    one.id
                    == batch.get(pair, policy["default"].id)
                    == in_sql.get(pair, policy["default"].id)
                ), (student.local_id, target.code)
        both, geo_only = students[1], students[2]
        f1, f2, lab = targets
        # The rule, by hand: F2 is in both overriding courses; the lower course id (Science) wins.
        assert batch[(both.id, f2.id)] == policy["sci"].id
        assert batch[(geo_only.id, f2.id)] == policy["geo"].id  # only enrolled in Geometry
        assert batch[(both.id, lab.id)] == policy["sci"].id
        assert (both.id, f1.id) not in batch  # Algebra has no override: the school's default
        assert (students[0].id, f2.id) not in batch  # not enrolled in an overriding course


def test_a_course_reads_its_own_policy_or_the_schools(world_a, in_school):
    w = world_a
    with in_school(w):
        _students, _targets, policy = shared_target_school(w)
        science = Course.objects.get(school=w.school, code="SCI")
        assert policy_for_course(school=w.school, course_id=science.id) == policy["sci"]
        assert policy_for_course(school=w.school, course_id=w.course.id) == policy["default"]


def test_an_override_removed_falls_back_to_the_default_everywhere(world_a, in_school):
    w = world_a
    with in_school(w):
        students, targets, policy = shared_target_school(w)
        geometry = Course.objects.get(school=w.school, code="GEO")
        policy_remove_override(school=w.school, course=geometry, changed_by=w.admin)
        geo_only, f2 = students[2], targets[1]
        assert (geo_only.id, f2.id) not in override_assignments(w.school)
        assert (geo_only.id, f2.id) not in sql_assignments(w.school)
        one = policy_for_pair(school=w.school, student_id=geo_only.id, target_id=f2.id)
        assert one == policy["default"]
