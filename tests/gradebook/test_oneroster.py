"""OneRoster 1.2 CSV rostering: the first import, who gets access (enabledUser, the dates of
roles), and what a `tobedeleted` delta ends.

The fixtures under tests/fixtures/oneroster/ describe one district (Lakeside Unified) with two
schools: Lakeside High (five classes, a teacher in two of them, a co-teacher, an aide, a principal,
a counselor, five students, a parent of two and a guardian) and Hillcrest Middle (one class, two
students, a relative). `update` and `tobedeleted` are delta exports made after the base one;
`bad_rows` is the base export with a bad row of each kind added.
"""

from __future__ import annotations

import re
from datetime import date

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_scopes import scope, scopes_disabled

from gradebook.models import (
    Course,
    Enrollment,
    Evidence,
    GradingPeriod,
    Guardianship,
    Section,
    SectionTeacher,
    Student,
    Term,
)
from gradebook.oneroster.package import read_path
from gradebook.oneroster.service import oneroster_import
from gradebook.services.evidence import evidence_record
from mastery.models import (
    AuditEvent,
    Competency,
    District,
    LearningTarget,
    Membership,
    ProficiencyScale,
    Role,
    School,
    User,
)
from tests.factories import make_assessment
from tests.gradebook.oneroster import (
    BASE_CREATED,
    FIXTURES,
    TODAY,
    created,
    package_copy,
    rewrite,
    run,
    snapshot,
)

# --- Helpers ---------------------------------------------------------------------------------------


def changes(report) -> dict[str, tuple[int, int, int]]:
    return {
        entity: (t.created, t.updated, t.withdrawn)
        for entity, t in report.tallies.items()
        if t.touched
    }


def writes(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].startswith(("INSERT", "UPDATE", "DELETE"))]


def written_tables(queries) -> set[str]:
    return {re.search(r'(?:INTO|UPDATE|FROM) "(\w+)"', sql).group(1) for sql in writes(queries)}


def lakeside() -> School:
    return School.objects.get(slug="lakeside-high")


def student(local_id: str, school: School | None = None) -> Student:
    with scopes_disabled():
        return Student.objects.get(school=school or lakeside(), local_id=local_id)


def section(name: str, school: School | None = None) -> Section:
    with scopes_disabled():
        return Section.objects.select_related("term", "course__department").get(
            school=school or lakeside(), name=name
        )


# --- The first import ------------------------------------------------------------------------------


def test_it_imports_a_district_export(db):
    report = run("base")
    assert report.ok, report.errors
    assert created(report) == BASE_CREATED
    assert report.updated == report.withdrawn == 0
    assert report.not_imported_rows() == [
        ("orgs.csv", "an org of type department is context, not a record", 1),
        ("roles.csv", "role districtAdministrator is not imported", 1),
        ("users.csv", "no role at a school of the files", 1),
    ]
    with scopes_disabled():
        high, middle = lakeside(), School.objects.get(slug="hillcrest-middle")
        assert (high.name, middle.name) == ("Lakeside High School", "Hillcrest Middle School")
        assert high.district == middle.district == District.objects.get(slug="lakeside-usd")
        # A new school is ready to use: its scale and default policy exist.
        assert ProficiencyScale.objects.filter(school=high).exists()
        assert sorted(Term.objects.filter(school=high).values_list("name", flat=True)) == [
            "2026-2027",
            "Fall 2026",
            "Spring 2027",
        ]
        assert sorted(
            GradingPeriod.objects.filter(school=high, term__name="Fall 2026").values_list(
                "name", "starts_on", "ends_on"
            )
        ) == [
            ("Q1", date(2026, 8, 17), date(2026, 10, 16)),
            ("Q2", date(2026, 10, 19), date(2026, 12, 18)),
        ]
        departments = dict(
            Course.objects.filter(school=high).values_list("code", "department__name")
        )
        assert departments == {
            "ALG1": "Mathematics",
            "ENG9": "English Language Arts",
            "BIO": "Science",  # no subject: the course's department org
            "ADV": "General",  # a district course with no subject
        }
        assert Course.objects.get(school=high, code="ALG1").grade_levels == "9-10"
        assert list(Course.objects.filter(school=middle).values_list("code", flat=True)) == [
            "MATH7"
        ]

    algebra = section("Algebra 1 - Period 1")
    assert (algebra.course.code, algebra.term.name, algebra.period, algebra.room) == (
        "ALG1",
        "2026-2027",
        1,
        "Room 101",
    )
    assert section("Biology - Period 4").term.name == "Spring 2027"  # Q3 stands for its term
    assert section("Advisory 9A").period is None  # periods "HR" is not a number

    with scopes_disabled():
        garcia = User.objects.get(email="maria.garcia@lakeside.example")
        assert garcia.full_name == "Maria Garcia" and not garcia.has_usable_password()
        assert sorted(
            SectionTeacher.objects.filter(teacher=garcia).values_list("section__name", "is_primary")
        ) == [("Algebra 1 - Period 1", True), ("Algebra 1 - Period 3", True)]
        assert (
            SectionTeacher.objects.get(
                section__name="Algebra 1 - Period 1", teacher__email="david.chen@lakeside.example"
            ).is_primary
            is False
        )
        roles = set(Membership.objects.filter(school=high).values_list("user__email", "role"))
        assert {
            ("priya.patel@lakeside.example", Role.SCHOOL_ADMIN),
            ("alicia.brooks@lakeside.example", Role.COUNSELOR),
            ("sam.lee@lakeside.example", Role.TEACHER),  # an aide
            ("ana.rivera@students.lakeside.example", Role.STUDENT),
            ("laura.rivera@example.com", Role.GUARDIAN),
        } <= roles
        assert not Membership.objects.filter(user__email="dana.whitfield@lakeside.example").exists()

    ben = student("1002")
    assert (ben.first_name, ben.last_name, ben.preferred_name, ben.grade_level) == (
        "Benjamin",
        "Rivera",
        "Ben",
        9,
    )
    assert ben.user is None  # no email, no login
    assert student("1001").user.email == "ana.rivera@students.lakeside.example"
    with scopes_disabled():
        assert sorted(
            Guardianship.objects.filter(guardian__email="laura.rivera@example.com").values_list(
                "student__local_id", "relationship"
            )
        ) == [("1001", "parent"), ("1002", "parent")]
        # Read from the student's side (agentSourcedIds of the student row).
        assert Guardianship.objects.get(student__local_id="1003").relationship == "guardian"
        assert Guardianship.objects.get(school=middle).relationship == "relative"
        enrolled = {
            (e.student.local_id, e.section.name): (e.enrolled_on, e.withdrawn_on)
            for e in Enrollment.objects.select_related("student", "section")
        }
    assert enrolled[("1005", "English 9 - Period 2")] == (date(2026, 9, 8), None)
    # No beginDate: the term's first day.
    assert enrolled[("1002", "Algebra 1 - Period 3")] == (date(2026, 8, 17), None)
    # An endDate before the term's end is a withdrawal; the term's last day is not.
    assert enrolled[("1004", "English 9 - Period 2")] == (date(2026, 8, 17), date(2026, 10, 2))
    assert enrolled[("1003", "Biology - Period 4")] == (date(2027, 1, 5), None)


def test_importing_the_same_files_again_changes_nothing(db):
    run("base")
    before = snapshot()
    with CaptureQueriesContext(connection) as queries:
        report = run("base")
    assert report.ok
    assert (report.created, report.updated, report.withdrawn) == (0, 0, 0)
    assert writes(queries) == []  # not one row is rewritten, mappings included
    assert snapshot() == before
    assert report.tally("students").unchanged == 7


def test_an_update_changes_only_what_changed(db):
    run("base")
    before = snapshot()
    with CaptureQueriesContext(connection) as queries:
        report = run("update")
    assert report.ok, report.errors
    assert changes(report) == {
        "users": (0, 2, 0),  # David Chen's preferred name, Emma's new family name
        "students": (0, 1, 0),
        "sections": (0, 1, 0),
        "enrollments": (1, 0, 0),
    }
    assert written_tables(queries) == {
        "mastery_user",
        "gradebook_student",
        "gradebook_section",
        "gradebook_enrollment",
        "gradebook_rostersource",
    }
    section_update = next(sql for sql in writes(queries) if '"gradebook_section"' in sql)
    assert '"room"' in section_update and '"name"' not in section_update
    with scopes_disabled():
        assert User.objects.get(email="david.chen@lakeside.example").full_name == "Dave Chen"
        assert student("1005").last_name == "Johnson-Park"
        assert section("English 9 - Period 2").room == "Room 210"
        assert Enrollment.objects.filter(
            student__local_id="1002", section__name="Biology - Period 4"
        ).exists()
    after = snapshot()
    changed = {
        model: after[model] - before[model] for model in after if after[model] != before[model]
    }
    assert set(changed) == {"User", "Student", "Section", "Enrollment", "RosterSource"}
    assert len(changed["Student"]) == len(changed["Section"]) == 1


def test_a_file_the_manifest_says_is_absent_is_neither_required_nor_read(db, tmp_path):
    run("base")
    # The update export has no orgs, sessions, courses or roles: it imports all the same.
    assert run("update").ok
    package = package_copy(tmp_path)
    manifest = (
        (package / "manifest.csv").read_text().replace("file.roles,bulk", "file.roles,absent")
    )
    (package / "manifest.csv").write_text(manifest)
    report = run(read_path(package))
    assert report.ok
    assert ("roles.csv", 0, "Not read: manifest.csv says file.roles is absent") in [
        (w.file, w.line, w.message) for w in report.warnings
    ]


def test_a_teacher_of_both_schools_has_one_login_and_a_membership_in_each(db, tmp_path):
    package = package_copy(tmp_path)
    with (package / "roles.csv").open("a") as roles:
        roles.write("r-okafor-lhs,,,t-okafor,secondary,teacher,,,org-lhs,\n")
    report = run(read_path(package))
    assert report.ok
    assert report.tally("users").created == BASE_CREATED["users"]
    with scopes_disabled():
        okafor = User.objects.get(email="ngozi.okafor@lakeside.example")
        assert set(Membership.objects.filter(user=okafor).values_list("school__slug", "role")) == {
            ("lakeside-high", Role.TEACHER),
            ("hillcrest-middle", Role.TEACHER),
        }


def test_one_schools_roster_does_not_rename_a_login_another_school_uses(db, tmp_path):
    package = package_copy(tmp_path)
    with (package / "roles.csv").open("a") as roles:
        roles.write("r-okafor-lhs,,,t-okafor,secondary,teacher,,,org-lhs,\n")
    run(read_path(package))
    rename = package_copy(tmp_path, "update")
    (rename / "users.csv").write_text(
        (FIXTURES / "base" / "users.csv").read_text().splitlines()[0]
        + "\nt-okafor,active,2026-10-20T14:05:00Z,true,t-okafor,{SIS:T200},Ngozi,Okafor-Bell,,"
        "T200,ngozi.okafor@lakeside.example,,,,,,,,,,,,\n"
    )
    (rename / "classes.csv").unlink()
    (rename / "enrollments.csv").unlink()
    rewrite(rename / "manifest.csv", "file.classes,delta", "file.classes,absent")
    rewrite(rename / "manifest.csv", "file.enrollments,delta", "file.enrollments,absent")
    high = lakeside()
    with scope(school=high):
        report = oneroster_import(files=read_path(rename), school=high, today=TODAY)
    assert report.ok and report.updated == 0
    assert [w.message for w in report.warnings] == [
        "ngozi.okafor@lakeside.example was not renamed: they also belong to a school this "
        "import does not cover."
    ]
    assert User.objects.get(email="ngozi.okafor@lakeside.example").full_name == "Ngozi Okafor"
    # The district's own import, which covers both schools, may.
    assert run(read_path(rename)).tally("users").updated == 1
    assert User.objects.get(email="ngozi.okafor@lakeside.example").full_name == "Ngozi Okafor-Bell"


# --- Access: enabledUser and the dates of roles ----------------------------------------------------


def memberships_of(email: str) -> set[tuple[str, str]]:
    with scopes_disabled():
        return set(Membership.objects.filter(user__email=email).values_list("school__slug", "role"))


def removed_memberships() -> list[str]:
    with scopes_disabled():
        return sorted(
            AuditEvent.objects.filter(
                object_type=AuditEvent.ObjectType.MEMBERSHIP, action=AuditEvent.Action.DELETE
            ).values_list("summary", flat=True)
        )


def test_a_disabled_user_stays_on_the_roster_but_loses_access_until_enabled_again(
    db, client, tmp_path
):
    run("base")
    disabled = package_copy(tmp_path)
    for sid in ("t-garcia", "s-1001"):
        rewrite(disabled / "users.csv", f"{sid},,,true,", f"{sid},,,false,")
    garcia, ana = "maria.garcia@lakeside.example", "ana.rivera@students.lakeside.example"
    assert memberships_of(garcia) == {("lakeside-high", Role.TEACHER)}
    assert memberships_of(ana) == {("lakeside-high", Role.STUDENT)}
    with scopes_disabled():
        roster_before = {
            model: set(model.objects.values_list())
            for model in (Student, Enrollment, SectionTeacher, Guardianship)
        }

    report = run(read_path(disabled))
    assert report.ok, report.errors
    assert changes(report) == {"memberships": (0, 0, 2)}
    assert memberships_of(garcia) == memberships_of(ana) == set()
    with scopes_disabled():
        # Still on the roster: Ana is an active student in her classes, Garcia teaches hers.
        assert {model: set(model.objects.values_list()) for model in roster_before} == roster_before
        assert Student.objects.get(local_id="1001").is_active
        login = User.objects.get(email=garcia)
    assert removed_memberships() == [
        "Took away Ana Rivera the role Student",
        "Took away Maria Garcia the role Teacher",
    ]
    client.force_login(login)  # the login itself stays (evidence names its author)
    home = reverse("school_home", kwargs={"school_slug": "lakeside-high"})
    assert client.get(home).status_code == 404
    assert run(read_path(disabled)).withdrawn == 0  # idempotent

    enabled = run("base")
    assert changes(enabled) == {"memberships": (2, 0, 0)}
    assert memberships_of(garcia) == {("lakeside-high", Role.TEACHER)}
    assert memberships_of(ana) == {("lakeside-high", Role.STUDENT)}
    assert client.get(home).status_code == 200


def test_a_disabled_user_imported_for_the_first_time_gets_no_membership(db, tmp_path):
    disabled = package_copy(tmp_path)
    rewrite(disabled / "users.csv", "c-brooks,,,true,", "c-brooks,,,false,")
    report = run(read_path(disabled))
    assert report.ok, report.errors
    assert report.tally("memberships").created == BASE_CREATED["memberships"] - 1
    assert memberships_of("alicia.brooks@lakeside.example") == set()


def test_a_role_out_of_its_dates_grants_nothing_and_takes_back_what_it_granted(db, tmp_path):
    run("base")
    dated = package_copy(tmp_path)
    roles = dated / "roles.csv"
    # The counselor's role ended before today; the principal's begins next term; Tom Nguyen is no
    # longer a guardian; Sam Lee's aide role ended but a current one follows it.
    rewrite(roles, "c-brooks,primary,counselor,,,", "c-brooks,primary,counselor,,2026-10-31,")
    rewrite(
        roles,
        "adm-patel,primary,siteAdministrator,,,",
        "adm-patel,primary,siteAdministrator,2027-01-04,,",
    )
    rewrite(roles, "g-nguyen,primary,guardian,,,", "g-nguyen,primary,guardian,,2026-11-19,")
    rewrite(roles, "a-lee,primary,aide,,,", "a-lee,primary,aide,2025-08-01,2026-06-30,")
    with roles.open("a") as more:
        more.write("r-lee-2026,,,a-lee,primary,aide,2026-08-01,2027-06-30,org-lhs,\n")

    report = run(read_path(dated))
    assert report.ok, report.errors
    assert changes(report) == {"memberships": (0, 0, 3)}
    assert {why: count for (file, why), count in report.not_imported.items() if "Date)" in why} == {
        "the role has ended (endDate)": 3,
        "the role begins later (beginDate)": 1,
    }
    assert memberships_of("alicia.brooks@lakeside.example") == set()
    assert memberships_of("priya.patel@lakeside.example") == set()
    assert memberships_of("tom.nguyen@example.com") == set()
    assert memberships_of("sam.lee@lakeside.example") == {("lakeside-high", Role.TEACHER)}
    assert removed_memberships() == [
        "Took away Alicia Brooks the role Counselor",
        "Took away Priya Patel the role School admin",
        "Took away Tom Nguyen the role Guardian",
    ]
    # An import on the day the principal's role begins grants it; an ended role stays ended.
    later = run(read_path(dated), today=date(2027, 1, 4))
    assert later.ok, later.errors
    assert memberships_of("priya.patel@lakeside.example") == {("lakeside-high", Role.SCHOOL_ADMIN)}
    assert memberships_of("alicia.brooks@lakeside.example") == set()


def test_a_teacher_whose_enrollment_ended_leaves_the_class(db, tmp_path):
    run("base")
    ended = package_copy(tmp_path)
    rewrite(
        ended / "enrollments.csv",
        "e-chen-biop4,,,cls-bio-p4,org-lhs,t-chen,teacher,true,,",
        "e-chen-biop4,,,cls-bio-p4,org-lhs,t-chen,teacher,true,2026-08-17,2026-11-13",
    )
    report = run(read_path(ended))
    assert report.ok, report.errors
    assert changes(report) == {"section teachers": (0, 0, 1)}
    with scopes_disabled():
        assert set(
            SectionTeacher.objects.filter(teacher__email="david.chen@lakeside.example").values_list(
                "section__name", flat=True
            )
        ) == {"Algebra 1 - Period 1", "English 9 - Period 2"}
    # His teacher role (roles.csv) still gives him the school.
    assert memberships_of("david.chen@lakeside.example") == {("lakeside-high", Role.TEACHER)}
    assert run(read_path(ended)).withdrawn == 0


def test_a_role_on_its_last_day_still_grants(db, tmp_path):
    dated = package_copy(tmp_path)
    rewrite(
        dated / "roles.csv",
        "c-brooks,primary,counselor,,,",
        f"c-brooks,primary,counselor,{TODAY},{TODAY},",
    )
    assert run(read_path(dated)).ok
    assert memberships_of("alicia.brooks@lakeside.example") == {("lakeside-high", Role.COUNSELOR)}


# --- tobedeleted -----------------------------------------------------------------------------------


def test_tobedeleted_withdraws_and_removes_but_keeps_students_and_their_evidence(db):
    run("base")
    high = lakeside()
    diego, ana = student("1004"), student("1001")
    with scopes_disabled():
        garcia = User.objects.get(email="maria.garcia@lakeside.example")
        algebra = Course.objects.get(school=high, code="ALG1")
        functions = Competency.objects.create(
            school=high, department=algebra.department, code="ALG-F", name="Functions"
        )
        target = LearningTarget.objects.create(
            school=high,
            competency=functions,
            department=algebra.department,
            code="ALG.F1",
            statement="I can interpret a function.",
        )
    assessment = make_assessment(high, algebra, [target], on=date(2026, 9, 15))
    with scope(school=high):
        for kid in (diego, ana):
            evidence_record(
                school=high,
                recorded_by=garcia,
                student_id=kid.id,
                target_id=target.id,
                assessment_id=assessment.id,
                score="3",
            )
        evidence_before = set(Evidence.objects.values_list())

    report = run("tobedeleted")
    assert report.ok, report.errors
    assert changes(report) == {
        "students": (0, 0, 1),  # Diego leaves the school
        "enrollments": (0, 0, 4),  # Diego's Algebra, Ana's English, Advisory's two students
        "section teachers": (0, 0, 1),  # David Chen no longer teaches Biology
        "memberships": (0, 0, 1),  # Tom Nguyen's guardian role ends …
        "guardianships": (0, 0, 1),  # … and with it his guardianship of Chloe
    }
    diego.refresh_from_db()
    assert diego.is_active is False  # inactive, never deleted
    with scopes_disabled():
        assert set(Evidence.objects.values_list()) == evidence_before  # kept, none voided
        assert Evidence.objects.filter(student=diego, voided_at__isnull=True).count() == 1
        left = {
            (e.student.local_id, e.section.name): e.withdrawn_on
            for e in Enrollment.objects.filter(school=high).select_related("student", "section")
        }
        assert sum(1 for day in left.values() if day is not None) == 5
        assert left[("1004", "Algebra 1 - Period 3")] == TODAY
        assert left[("1004", "English 9 - Period 2")] == date(2026, 10, 2)  # withdrawn before
        assert left[("1001", "English 9 - Period 2")] == TODAY
        assert left[("1001", "Advisory 9A")] == left[("1002", "Advisory 9A")] == TODAY
        assert left[("1001", "Algebra 1 - Period 1")] is None
        # The class stays, with its teacher: its history is still there to read.
        assert SectionTeacher.objects.filter(section__name="Advisory 9A").exists()
        assert not SectionTeacher.objects.filter(
            section__name="Biology - Period 4", teacher__email="david.chen@lakeside.example"
        ).exists()
        assert (
            SectionTeacher.objects.filter(teacher__email="david.chen@lakeside.example").count() == 2
        )
        nguyen = User.objects.get(email="tom.nguyen@example.com")  # the login stays
        assert not Membership.objects.filter(user=nguyen).exists()
        assert not Guardianship.objects.filter(guardian=nguyen).exists()

    again = run("tobedeleted")
    assert (again.created, again.updated, again.withdrawn) == (0, 0, 0)
