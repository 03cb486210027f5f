"""The learning framework (targets, CSV import), habits of work, and the grading policy pages."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import reverse
from django_scopes import scope, scopes_disabled

from gradebook.models import (
    Course,
    CourseTarget,
    Evidence,
    Habit,
    HabitScore,
    Mastery,
    RecomputeRun,
    Section,
)
from gradebook.services.evidence import evidence_record
from grading.forms import PolicyForm
from grading.preview import policy_preview
from grading.school import school_recompute_python, school_recompute_sql
from grading.services import policy_candidate, policy_change
from mastery.models import (
    AuditEvent,
    Competency,
    Department,
    GradingPolicy,
    LearningTarget,
    LevelDescriptor,
    Role,
)
from mastery.services import targets_import_csv
from tests.factories import make_assessment, make_member, make_student

# --- Helpers ---------------------------------------------------------------------------------------


def url(name: str, w, **kwargs) -> str:
    return reverse(f"gradebook:{name}", kwargs={"school_slug": w.school.slug, **kwargs})


def dept_url(name: str, w, department=None, **kwargs) -> str:
    return url(name, w, department_id=(department or w.department).id, **kwargs)


def page(response) -> str:
    return html.unescape(response.content.decode())


def days_ago(n: int) -> date:
    return date.today() - timedelta(days=n)


def record(w, student, target, score, *, assessment=None):
    with scope(school=w.school):
        return evidence_record(
            school=w.school,
            recorded_by=w.teacher,
            student_id=student.id,
            target_id=target.id,
            assessment_id=(assessment or w.assessment).id,
            score=score,
        )


def targets_of(w) -> list[tuple[str, int]]:
    """(code, position) of the world's department targets, in display order."""
    with scopes_disabled():
        return list(
            LearningTarget.objects.filter(school=w.school, department=w.department)
            .order_by("position", "code")
            .values_list("code", "position")
        )


def descriptors_of(target) -> dict[Decimal, str]:
    with scopes_disabled():
        return dict(
            LevelDescriptor.objects.filter(target=target).values_list("level_value", "text")
        )


def counts(w) -> tuple[int, int, int]:
    with scopes_disabled():
        return (
            LearningTarget.objects.filter(school=w.school).count(),
            Competency.objects.filter(school=w.school).count(),
            LevelDescriptor.objects.filter(school=w.school).count(),
        )


def masteries(w) -> list[tuple]:
    with scopes_disabled():
        return list(
            Mastery.objects.filter(school=w.school)
            .order_by("student_id", "target_id")
            .values_list("student_id", "target_id", "score", "level", "policy_id", "computed_at")
        )


# --- The department's targets ----------------------------------------------------------------------


def target_data(w, **overrides) -> dict:
    data = {
        "competency": w.competency.id,
        "code": "ALPHA.F9",
        "statement": "I can compose two functions.",
        "standard_code": "CCSS.MATH.CONTENT.HSF.BF.A.1.C",
        "dok_level": "2",
        "d1": "I can evaluate f(g(x)) with help.",
        "d2": "I can evaluate f(g(x)) at a number.",
        "d3": "I can write f(g(x)) as one expression.",
        "d4": "I can decompose a function into two.",
    }
    data.update(overrides)
    return data


@pytest.fixture
def stranger_teacher(world_a):
    """A teacher of the school who teaches no course of the Mathematics department."""
    return make_member(world_a.school, Role.TEACHER, "newbie@alpha.test", "Nina Newbie")


def test_the_department_page_lists_competencies_targets_and_descriptors(client, world_a):
    w = world_a
    client.force_login(w.teacher)
    response = client.get(dept_url("department_targets", w))
    assert response.status_code == 200
    content = page(response)
    assert "Functions" in content and w.competency.code in content
    for i, target in enumerate(w.targets, start=1):
        assert target.code in content and target.statement in content
        for level in (1, 2, 3, 4):
            assert f"Level {level} of {i}" in content
    assert content.index("ALPHA.F1") < content.index("ALPHA.F2") < content.index("ALPHA.F3")
    assert dept_url("target_create", w) in content  # a teacher of the department may edit


def test_a_teacher_of_the_department_creates_a_target_with_four_descriptors(client, world_a):
    w = world_a
    client.force_login(w.teacher)
    response = client.post(dept_url("target_create", w), target_data(w))
    assert response.status_code == 302
    assert response["Location"] == dept_url("department_targets", w)
    with scopes_disabled():
        target = LearningTarget.objects.get(school=w.school, code="ALPHA.F9")
    assert target.statement == "I can compose two functions."
    assert target.competency == w.competency and target.department == w.department
    assert target.dok_level == 2 and target.standard_code == "CCSS.MATH.CONTENT.HSF.BF.A.1.C"
    assert target.position == 3  # after the competency's three targets
    assert descriptors_of(target) == {
        Decimal(1): "I can evaluate f(g(x)) with help.",
        Decimal(2): "I can evaluate f(g(x)) at a number.",
        Decimal(3): "I can write f(g(x)) as one expression.",
        Decimal(4): "I can decompose a function into two.",
    }


def test_editing_a_target_changes_it_and_an_emptied_descriptor_goes(client, world_a):
    w = world_a
    target = w.targets[1]
    client.force_login(w.teacher)
    edit_url = dept_url("target_edit", w, target_id=target.id)
    form = page(client.get(edit_url))
    assert "I can do thing 2." in form and "Level 4 of 2" in form
    response = client.post(
        edit_url,
        target_data(
            w, code=target.code, statement="I can do thing 2, better.", d1="", d4="Exceeds."
        ),
    )
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.statement == "I can do thing 2, better." and target.code == "ALPHA.F2"
    texts = descriptors_of(target)
    assert Decimal(1) not in texts and texts[Decimal(4)] == "Exceeds."
    assert texts[Decimal(2)] == "I can evaluate f(g(x)) at a number."


def test_a_duplicate_code_is_refused_with_422(client, world_a, world_b):
    w = world_a
    client.force_login(w.teacher)
    before = counts(w)
    response = client.post(dept_url("target_create", w), target_data(w, code="ALPHA.F2"))
    assert response.status_code == 422
    assert "Another learning target already uses the code ALPHA.F2." in page(response)
    assert counts(w) == before
    # Renaming a target onto another one's code is refused too.
    response = client.post(
        dept_url("target_edit", w, target_id=w.targets[0].id), target_data(w, code="ALPHA.F3")
    )
    assert response.status_code == 422
    w.targets[0].refresh_from_db()
    assert w.targets[0].code == "ALPHA.F1"
    # Another school's codes do not clash.
    response = client.post(dept_url("target_create", w), target_data(w, code="BETA.F1"))
    assert response.status_code == 302


def move(client, w, target, direction):
    return client.post(dept_url("target_move", w, target_id=target.id), {"direction": direction})


def test_moving_a_target_up_and_down_changes_the_order(client, world_a):
    w = world_a
    f1, f2, f3 = w.targets
    client.force_login(w.teacher)
    response = move(client, w, f3, "up")
    assert response.status_code == 302
    assert response["Location"] == dept_url("department_targets", w) + f"#t-{f3.id}"
    assert targets_of(w) == [("ALPHA.F1", 0), ("ALPHA.F3", 1), ("ALPHA.F2", 2)]
    move(client, w, f1, "down")
    assert targets_of(w) == [("ALPHA.F3", 0), ("ALPHA.F1", 1), ("ALPHA.F2", 2)]
    move(client, w, f3, "up")  # already first: nothing moves
    move(client, w, f2, "down")  # already last
    assert targets_of(w) == [("ALPHA.F3", 0), ("ALPHA.F1", 1), ("ALPHA.F2", 2)]
    content = page(client.get(dept_url("department_targets", w)))
    assert content.index("ALPHA.F3") < content.index("ALPHA.F1") < content.index("ALPHA.F2")


def _framework_writes(w):
    return [
        ("get", dept_url("target_create", w), None),
        ("post", dept_url("target_create", w), target_data(w)),
        ("get", dept_url("target_edit", w, target_id=w.targets[0].id), None),
        (
            "post",
            dept_url("target_edit", w, target_id=w.targets[0].id),
            target_data(w, code="ALPHA.F1", statement="Changed"),
        ),
        ("get", dept_url("target_import", w), None),
        (
            "post",
            dept_url("target_import", w),
            {"file": SimpleUploadedFile("t.csv", CSV_HEADER.encode() + b"F,ALPHA.Q1,I can.\n")},
        ),
        ("post", dept_url("target_move", w, target_id=w.targets[2].id), {"direction": "up"}),
        ("get", dept_url("competency_create", w), None),
    ]


@pytest.mark.parametrize("who", ["stranger_teacher", "counselor", "guardian", "student_user"])
def test_only_the_departments_teachers_and_admins_edit_its_targets(client, world_a, who, request):
    w = world_a
    user = request.getfixturevalue(who) if who == "stranger_teacher" else getattr(w, who)
    client.force_login(user)
    before, order = counts(w), targets_of(w)
    for method, target_url, data in _framework_writes(w):
        response = getattr(client, method)(target_url, data) if data else client.get(target_url)
        assert response.status_code == 403, (who, method, target_url)
    assert counts(w) == before and targets_of(w) == order
    w.targets[0].refresh_from_db()
    assert w.targets[0].statement == "I can do thing 1."


def test_a_teacher_who_teaches_no_course_of_the_department_may_still_read_it(
    client, world_a, stranger_teacher
):
    w = world_a
    client.force_login(stranger_teacher)
    response = client.get(dept_url("department_targets", w))
    assert response.status_code == 200
    assert dept_url("target_create", w) not in page(response)


def test_a_school_admin_edits_every_departments_targets(client, world_a):
    w = world_a
    with scopes_disabled():
        science = Department.objects.create(school=w.school, name="Science", code="SCI")
        cells = Competency.objects.create(
            school=w.school, department=science, code="alpha-CELL", name="Cells"
        )
    client.force_login(w.admin)
    assert client.get(dept_url("target_create", w, department=science)).status_code == 200
    response = client.post(
        dept_url("target_create", w, department=science),
        target_data(w, competency=cells.id, code="ALPHA.B1"),
    )
    assert response.status_code == 302
    with scopes_disabled():
        assert LearningTarget.objects.get(code="ALPHA.B1").department == science
    assert move(client, w, w.targets[1], "up").status_code == 302
    # The Algebra teacher teaches no Science course.
    client.force_login(w.teacher)
    assert client.get(dept_url("target_create", w, department=science)).status_code == 403


def test_a_competency_of_another_department_cannot_hold_a_new_target(client, world_a):
    w = world_a
    with scopes_disabled():
        science = Department.objects.create(school=w.school, name="Science", code="SCI")
        cells = Competency.objects.create(
            school=w.school, department=science, code="alpha-CELL", name="Cells"
        )
    client.force_login(w.teacher)
    before = counts(w)
    response = client.post(dept_url("target_create", w), target_data(w, competency=cells.id))
    assert response.status_code == 422
    assert counts(w) == before


# --- CSV import ------------------------------------------------------------------------------------

CSV_HEADER = (
    "competency,target code,statement,standard code,"
    "descriptor 1,descriptor 2,descriptor 3,descriptor 4\n"
)
VALID_CSV = CSV_HEADER + (
    "Functions,ALPHA.F1,I can read a function from a graph.,,one,two,three,four\n"
    'Linear equations,ALPHA.L1,I can solve a linear equation.,CCSS.A.REI.3,"Solve x+1=2",'
    "Solve with fractions,Solve any linear equation,Solve and justify each step\n"
    "Linear equations,ALPHA.L2,I can graph a line.,,,,,\n"
)


def upload(client, w, content: bytes | str, *, dry_run=False, follow=False):
    if isinstance(content, str):
        content = content.encode()
    data = {"file": SimpleUploadedFile("targets.csv", content, content_type="text/csv")}
    if dry_run:
        data["dry_run"] = "on"
    return client.post(dept_url("target_import", w), data, follow=follow)


def import_csv(w, content: str | bytes, *, dry_run=False):
    if isinstance(content, str):
        content = content.encode()
    with scope(school=w.school):
        return targets_import_csv(
            school=w.school, department=w.department, data=content, dry_run=dry_run
        )


def test_a_valid_file_creates_targets_competencies_and_descriptors(client, world_a):
    w = world_a
    client.force_login(w.teacher)
    response = upload(client, w, VALID_CSV, follow=True)
    assert response.redirect_chain[0] == (dept_url("department_targets", w), 302)
    assert "Imported: 2 new targets, 1 updated, 1 new competency." in page(response)
    with scopes_disabled():
        linear = Competency.objects.get(school=w.school, name="Linear equations")
        l1 = LearningTarget.objects.get(school=w.school, code="ALPHA.L1")
        l2 = LearningTarget.objects.get(school=w.school, code="ALPHA.L2")
    assert linear.department == w.department
    assert l1.competency == linear and l2.competency == linear
    assert l1.department == w.department and l1.standard_code == "CCSS.A.REI.3"
    assert descriptors_of(l1) == {
        Decimal(1): "Solve x+1=2",
        Decimal(2): "Solve with fractions",
        Decimal(3): "Solve any linear equation",
        Decimal(4): "Solve and justify each step",
    }
    assert descriptors_of(l2) == {}
    w.targets[0].refresh_from_db()
    assert w.targets[0].statement == "I can read a function from a graph."
    assert descriptors_of(w.targets[0])[Decimal(3)] == "three"
    assert "Linear equations" in page(response) and "ALPHA.L2" in page(response)


def test_importing_the_same_file_again_creates_nothing_new(client, world_a):
    w = world_a
    client.force_login(w.teacher)
    upload(client, w, VALID_CSV)
    after_first = counts(w)
    response = upload(client, w, VALID_CSV, follow=True)
    assert "Imported: 0 new targets, 3 updated, 0 new competencies." in page(response)
    assert counts(w) == after_first
    report = import_csv(w, VALID_CSV)
    assert (report.created, report.updated, report.competencies_created) == (0, 3, 0)
    assert counts(w) == after_first


def test_every_bad_row_is_reported_with_its_line_and_nothing_is_imported(client, world_a):
    w = world_a
    with scopes_disabled():
        science = Department.objects.create(school=w.school, name="Science", code="SCI")
        cells = Competency.objects.create(
            school=w.school, department=science, code="alpha-CELL", name="Cells"
        )
        LearningTarget.objects.create(
            school=w.school,
            competency=cells,
            department=science,
            code="SCI.1",
            statement="I can describe a cell.",
        )
    long_code = "X" * 41
    content = CSV_HEADER + (
        "Brand new competency,ALPHA.N1,,,,,,\n"  # line 2: no statement
        "Functions,ALPHA.N2,I can do a.,,,,,\n"  # line 3: fine
        "Functions,ALPHA.N2,I can do b.,,,,,\n"  # line 4: the same code as line 3
        f"Functions,{long_code},I can do c.,,,,,\n"  # line 5: code too long
        "Functions,SCI.1,I can do d.,,,,,\n"  # line 6: a Science target's code
        "Another new one,ALPHA.N3,I can do e.,,one,two,three,four\n"  # line 7: fine
    )
    before = counts(w)
    client.force_login(w.teacher)
    response = upload(client, w, content)
    assert response.status_code == 422
    text = page(response)
    assert "4 problems; nothing was imported" in text
    assert "Line 2: The statement is empty." in text
    # (Compared without case: the messages lower-case the codes, see the test below.)
    assert "line 4: the target code alpha.n2 is also on line 3." in text.lower()
    assert "Line 5: The target code is longer than 40 characters." in text
    assert "line 6: the code sci.1 belongs to a target of another department." in text.lower()
    assert "Line 3:" not in text and "Line 7:" not in text
    assert counts(w) == before
    report = import_csv(w, content)
    assert [line for line, _ in report.errors] == [2, 4, 5, 6]
    assert not report.ok and report.created == report.updated == 0
    assert counts(w) == before
    with scopes_disabled():
        assert not LearningTarget.objects.filter(code__in=["ALPHA.N2", "ALPHA.N3"]).exists()
        assert not Competency.objects.filter(name__in=["Another new one"]).exists()


def test_import_errors_name_the_codes_as_written_in_the_file(world_a):
    w = world_a
    content = CSV_HEADER + (
        "Functions,ALPHA.N2,I can do a.,,,,,\n"  # line 2
        "Functions,ALPHA.N2,I can do b.,,,,,\n"  # line 3
    )
    report = import_csv(w, content)
    assert report.errors == [(3, "The target code ALPHA.N2 is also on line 2.")]


def test_line_numbers_stay_right_after_a_blank_line(world_a):
    w = world_a
    content = CSV_HEADER + (
        "Functions,ALPHA.N1,I can do a.,,,,,\n"  # line 2
        "\n"  # line 3: blank
        "Functions,ALPHA.N2,,,,,,\n"  # line 4: no statement
    )
    report = import_csv(w, content)
    assert report.errors == [(4, "The statement is empty.")]


def test_a_file_without_a_required_column_is_refused(client, world_a):
    w = world_a
    content = (
        "competency,target code,standard code,descriptor 1,descriptor 2,descriptor 3,"
        "descriptor 4\nFunctions,ALPHA.N1,,,,,\n"
    )
    before = counts(w)
    report = import_csv(w, content)
    assert report.errors == [(1, "Missing column: statement.")]
    client.force_login(w.teacher)
    response = upload(client, w, content)
    assert response.status_code == 422 and "Line 1: Missing column: statement." in page(response)
    assert counts(w) == before


def test_a_file_that_is_not_utf8_is_refused(client, world_a):
    w = world_a
    content = (CSV_HEADER + "Fonctions,ALPHA.N1,Je peux déduire,,,,,\n").encode("latin-1")
    before = counts(w)
    report = import_csv(w, content)
    assert len(report.errors) == 1 and "The file is not UTF-8 text." in report.errors[0][1]
    client.force_login(w.teacher)
    response = upload(client, w, content)
    assert response.status_code == 422 and "not UTF-8" in page(response)
    assert counts(w) == before
    # UTF-8 with a byte-order mark (Excel's "CSV UTF-8") is fine.
    ok = import_csv(w, "\ufeff" + CSV_HEADER + "Fonctions,ALPHA.N1,Je peux déduire.,,,,,\n")
    assert ok.ok and ok.created == 1


def test_an_empty_file_is_refused(client, world_a):
    w = world_a
    before = counts(w)
    assert import_csv(w, b"").errors == [(0, "The file is empty.")]
    assert import_csv(w, b"\n , ,\n\n").errors == [(0, "The file is empty.")]
    client.force_login(w.teacher)
    response = upload(client, w, b"")
    assert "The submitted file is empty." in page(response)
    response = upload(client, w, b" , \n")
    assert response.status_code == 422 and "The file is empty." in page(response)
    assert counts(w) == before


def test_a_dry_run_checks_the_file_and_writes_nothing(client, world_a):
    w = world_a
    before = counts(w)
    report = import_csv(w, VALID_CSV, dry_run=True)
    assert report.ok and (report.created, report.updated, report.competencies_created) == (0, 0, 0)
    assert counts(w) == before
    client.force_login(w.teacher)
    response = upload(client, w, VALID_CSV, dry_run=True)
    assert response.status_code == 200
    assert "The file is valid and ready to import." in page(response)
    assert counts(w) == before
    w.targets[0].refresh_from_db()
    assert w.targets[0].statement == "I can do thing 1."
    # A dry run of a bad file lists its problems all the same.
    bad = import_csv(w, CSV_HEADER + "Functions,,I can.,,,,,\n", dry_run=True)
    assert bad.errors == [(2, "The target code is empty.")]


# --- Habits of work --------------------------------------------------------------------------------


@pytest.fixture
def habits(world_a):
    with scopes_disabled():
        return [
            Habit.objects.create(school=world_a.school, name="Effort", position=0),
            Habit.objects.create(school=world_a.school, name="Participation", position=1),
        ]


def habit_url(w, day: date) -> str:
    return url("habit_cell", w, section_id=w.section.id) + f"?date={day.isoformat()}"


def post_habit(client, w, student, habit, value, day=None):
    return client.post(
        habit_url(w, day or days_ago(1)),
        {f"h-{student.id}-{habit.id}": value},
        HTTP_HX_REQUEST="true",
    )


def habit_scores(w, **filters) -> list[HabitScore]:
    with scopes_disabled():
        return list(HabitScore.objects.filter(school=w.school, **filters).order_by("id"))


def test_a_habit_score_on_the_habits_scale_is_saved(client, world_a, habits):
    w = world_a
    s = w.students[1]
    client.force_login(w.teacher)
    response = post_habit(client, w, s, habits[0], "3")
    assert response.status_code == 200
    assert "✓ Saved" in page(response) and f'id="hc-{s.id}-{habits[0].id}"' in page(response)
    (score,) = habit_scores(w)
    assert score.score == Decimal(3) and score.habit == habits[0] and score.student == s
    assert score.section == w.section and score.assessed_on == days_ago(1)
    assert score.recorded_by == w.teacher and score.voided_at is None
    grid = page(client.get(url("habits", w, section_id=w.section.id), {"date": days_ago(1)}))
    assert f'name="h-{s.id}-{habits[0].id}" value="3"' in grid


def test_a_habit_score_off_the_scale_is_refused_and_writes_nothing(client, world_a, habits):
    w = world_a
    client.force_login(w.teacher)
    for value in ("9", "2.5", "abc"):  # the habits scale has no half points
        response = post_habit(client, w, w.students[0], habits[0], value)
        assert response.status_code == 422, value
    assert "9 is not on the scale. Use one of: 1, 2, 3, 4." in page(
        post_habit(client, w, w.students[0], habits[0], "9")
    )
    assert habit_scores(w) == []


def test_a_new_habit_value_voids_the_old_one(client, world_a, habits):
    w = world_a
    s, h = w.students[0], habits[1]
    client.force_login(w.teacher)
    post_habit(client, w, s, h, "2")
    post_habit(client, w, s, h, "4")
    old, new = habit_scores(w)
    assert old.score == Decimal(2) and old.voided_at is not None
    assert old.void_reason == "Replaced by a new score"
    assert new.score == Decimal(4) and new.voided_at is None
    post_habit(client, w, s, h, "4")  # the same value again writes nothing
    assert len(habit_scores(w)) == 2
    post_habit(client, w, s, h, "")  # empty clears
    assert habit_scores(w, voided_at__isnull=True) == []


def test_every_change_of_a_habit_score_is_in_the_audit_trail(client, world_a, habits):
    w = world_a
    s, h = w.students[0], habits[0]
    client.force_login(w.teacher)
    day = days_ago(1)
    post_habit(client, w, s, h, "2", day)
    post_habit(client, w, s, h, "3", day)
    post_habit(client, w, s, h, "3", day)  # unchanged: nothing to record
    post_habit(client, w, s, h, "", day)
    with scopes_disabled():
        events = list(
            AuditEvent.objects.filter(
                school=w.school, object_type=AuditEvent.ObjectType.HABIT
            ).order_by("id")
        )
    first, second = habit_scores(w)
    when = f"{day:%b %-d, %Y}"
    assert [
        (e.action, e.object_id, e.student_id, e.actor_id, e.before, e.after, e.summary)
        for e in events
    ] == [
        ("record", first.id, s.id, w.teacher.id, None, {"score": "2"}, f"Effort, {when}: — → 2"),
        (
            "replace",
            second.id,
            s.id,
            w.teacher.id,
            {"score": "2"},
            {"score": "3"},
            f"Effort, {when}: 2 → 3",
        ),
        ("clear", second.id, s.id, w.teacher.id, {"score": "3"}, None, f"Effort, {when}: 3 → —"),
    ]
    # A refused value records nothing, and the school's audit page lists habit scores by type.
    post_habit(client, w, s, h, "9", day)
    with scopes_disabled():
        assert AuditEvent.objects.filter(object_type=AuditEvent.ObjectType.HABIT).count() == 3
    client.force_login(w.admin)
    log = page(
        client.get(
            reverse("audit_log", args=[w.school.slug]), {"type": AuditEvent.ObjectType.HABIT}
        )
    )
    assert f"Effort, {when}: 2 → 3" in log and "Habit score" in log


def test_habits_never_change_a_mastery_record(client, world_a, habits):
    w = world_a
    record(w, w.students[0], w.targets[0], "2")
    record(w, w.students[1], w.targets[0], "4")
    before = masteries(w)
    client.force_login(w.teacher)
    for student in w.students:
        for habit in habits:
            assert post_habit(client, w, student, habit, "4").status_code == 200
    response = client.post(
        url("habits", w, section_id=w.section.id) + f"?date={days_ago(2).isoformat()}",
        {f"h-{w.students[0].id}-{habits[0].id}": "1"},
    )
    assert response.status_code == 302
    assert len(habit_scores(w)) == 7
    assert masteries(w) == before
    with scopes_disabled():
        assert Evidence.objects.filter(school=w.school).count() == 2


@pytest.mark.parametrize("when", ["after-term", "not-a-date"])
def test_a_habit_score_dated_outside_the_term_is_refused(client, world_a, habits, when):
    w = world_a
    day = (
        (w.term.ends_on + timedelta(days=30)).isoformat() if when == "after-term" else "2024-02-30"
    )
    client.force_login(w.teacher)
    response = client.post(
        url("habit_cell", w, section_id=w.section.id) + f"?date={day}",
        {f"h-{w.students[0].id}-{habits[0].id}": "3"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert habit_scores(w) == []


def test_habit_scores_need_a_scorer_of_the_section(client, world_a, habits):
    w = world_a
    client.force_login(w.counselor)
    assert client.get(url("habits", w, section_id=w.section.id)).status_code == 200
    assert post_habit(client, w, w.students[0], habits[0], "3").status_code == 403
    client.force_login(w.other_teacher)
    assert post_habit(client, w, w.students[0], habits[0], "3").status_code == 404
    assert habit_scores(w) == []


# --- The grading policy page -----------------------------------------------------------------------


def school_policy(w) -> GradingPolicy:
    with scopes_disabled():
        return GradingPolicy.objects.get(school=w.school, course__isnull=True, is_current=True)


def policy_data(policy: GradingPolicy, action: str, **changes) -> dict:
    """Every field of the policy form as the page would post it, with `changes` applied."""
    values = {**PolicyForm.initial_from(policy), **changes}
    data = {"action": action}
    for name, value in values.items():
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif isinstance(value, list):
            data[name] = [str(v) for v in value]
        elif value is None:
            data[name] = ""
        else:
            data[name] = str(value)
    return data


def policy_save(client, url: str, data: dict):
    """Save as an admin does: Save, then confirm with the preview's numbers."""
    asked = client.post(url, data)
    assert asked.status_code == 200, page(asked)
    fingerprint = re.search(r'name="confirm_of" value="(\w+)"', page(asked)).group(1)
    return client.post(url, {**data, "action": "confirm", "confirm_of": fingerprint})


def policy_url(w, course=None) -> str:
    if course is not None:
        return reverse(
            "policy_course", kwargs={"school_slug": w.school.slug, "course_id": course.id}
        )
    return reverse("policy", kwargs={"school_slug": w.school.slug})


def policy_counts(w) -> tuple[int, int]:
    with scopes_disabled():
        return (
            GradingPolicy.objects.filter(school=w.school).count(),
            RecomputeRun.objects.filter(school=w.school).count(),
        )


@pytest.fixture
def spread(world_a):
    """Two students whose level on F1 depends on the method (decaying average vs highest).

    Student0: 4 then 2 -> decaying 2.7 (level 2), highest 4 (level 4).
    Student1: 3 then 1 -> decaying 1.7 (level 1), highest 3 (level 3).
    Student2: 3 -> 3 under both.
    """
    w = world_a
    later = make_assessment(w.school, w.course, w.targets[:1], on=days_ago(3), kind="formative")
    s0, s1, s2 = w.students
    t0 = w.targets[0]
    record(w, s0, t0, "4")
    record(w, s0, t0, "2", assessment=later)
    record(w, s1, t0, "3")
    record(w, s1, t0, "1", assessment=later)
    record(w, s2, t0, "3")
    return w


def score_of(w, student, target) -> Mastery:
    with scopes_disabled():
        return Mastery.objects.select_related("policy").get(
            school=w.school, student=student, target=target
        )


@pytest.mark.parametrize("member", ["teacher", "counselor"])
def test_teachers_and_counselors_read_the_policy_but_cannot_change_it(client, world_a, member):
    w = world_a
    client.force_login(getattr(w, member))
    response = client.get(policy_url(w))
    assert response.status_code == 200
    content = page(response)
    assert "Each new score counts 65%" in content
    assert 'name="action" value="save"' not in content
    before = policy_counts(w)
    for action in ("preview", "save"):
        data = policy_data(school_policy(w), action, method="highest")
        assert client.post(policy_url(w), data).status_code == 403
    assert (
        client.post(policy_url(w, w.course), policy_data(school_policy(w), "save")).status_code
        == 403
    )
    assert policy_counts(w) == before


@pytest.mark.parametrize("member", ["guardian", "student_user"])
def test_families_and_students_get_403_on_the_policy_pages(client, world_a, member):
    w = world_a
    client.force_login(getattr(w, member))
    assert client.get(policy_url(w)).status_code == 403
    assert client.get(policy_url(w, w.course)).status_code == 403
    with scopes_disabled():
        run = RecomputeRun.objects.create(school=w.school, policy=school_policy(w))
    run_url = reverse("policy_run", kwargs={"school_slug": w.school.slug, "run_id": run.id})
    assert client.get(run_url).status_code == 403


def test_a_preview_shows_what_would_change_and_saves_nothing(client, spread):
    w = spread
    before, levels = policy_counts(w), masteries(w)
    client.force_login(w.admin)
    response = client.post(
        policy_url(w), policy_data(school_policy(w), "preview", method="highest")
    )
    assert response.status_code == 200
    content = page(response)
    preview = content[content.index("Preview on today's data") :]
    assert "2 of 3 results change level (2 students, 1 target)" in preview
    assert "2 results become mastered, 0 stop being mastered, out of 3 computed." in preview
    assert "Student0 Student, ALPHA.F1: 2.7 Developing → 4 Advanced" in preview
    assert "Highest score." in content  # the rule with the changes, in words
    assert "Nothing is saved until you choose Save." in content
    assert policy_counts(w) == before and masteries(w) == levels
    assert school_policy(w).version == 1 and school_policy(w).method == "decaying_average"


def test_saving_writes_a_new_version_and_recomputes_every_level(
    client, spread, django_capture_on_commit_callbacks
):
    w = spread
    old = school_policy(w)
    client.force_login(w.admin)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = policy_save(
            client,
            policy_url(w),
            policy_data(old, "save", method="highest", note="Latest learning counts most"),
        )
    # One recompute queued (the portal's cache invalidation rides on commit too).
    assert [cb.__qualname__ for cb in callbacks].count("_queue_recompute.<locals>.<lambda>") == 1
    assert response.status_code == 302
    new = school_policy(w)
    assert new.version == 2 and new.is_current and new.method == "highest"
    assert new.note == "Latest learning counts most" and new.created_by == w.admin
    old.refresh_from_db()
    assert not old.is_current  # kept, no longer current
    with scopes_disabled():
        run = RecomputeRun.objects.get(school=w.school)
    assert response["Location"] == policy_url(w) + f"?run={run.id}"
    assert run.status == "done" and run.policy == new and run.requested_by == w.admin
    # Every record names the new version (written), two changed level, as the preview said.
    assert run.pairs == 3 and run.written == 3 and run.level_changes == 2
    s0, s1, s2 = w.students
    t0 = w.targets[0]
    assert score_of(w, s0, t0).score == Decimal(4) and score_of(w, s0, t0).level == Decimal(4)
    assert score_of(w, s1, t0).score == Decimal(3) and score_of(w, s1, t0).mastered
    with scopes_disabled():
        assert set(Mastery.objects.filter(school=w.school).values_list("policy_id", flat=True)) == {
            new.id
        }
    content = page(client.get(response["Location"]))
    assert "Saved as version 2." in content
    assert "Levels recomputed: 2 of 3 results changed level." in content
    assert "v2" in content and "v1" in content


def test_saving_without_a_reason_is_refused_and_changes_nothing(client, spread):
    """Issue 10 item 10: a school-wide change says why (the reason was optional)."""
    w = spread
    before, levels = policy_counts(w), masteries(w)
    client.force_login(w.admin)
    for action in ("save", "confirm"):
        data = policy_data(school_policy(w), action, method="highest", note="   ")
        response = client.post(policy_url(w), data)
        assert response.status_code == 422
        assert "Say why the policy changes" in page(response)
        assert 'name="confirm_of"' not in page(response)
    assert policy_counts(w) == before and masteries(w) == levels


def test_saving_asks_to_confirm_with_the_previews_numbers_and_settings_changed_since_ask_again(
    client, spread
):
    w = spread
    before, levels = policy_counts(w), masteries(w)
    client.force_login(w.admin)
    data = policy_data(school_policy(w), "save", method="highest", note="Best evidence")
    asked = page(client.post(policy_url(w), data))
    confirm = asked[asked.index('id="confirm"') :]
    assert "Save this policy for the whole school?" in confirm
    assert "2 of 3 results change level (2 students, 1 target)" in confirm
    assert policy_counts(w) == before  # asking saves nothing
    fingerprint = re.search(r'name="confirm_of" value="(\w+)"', asked).group(1)
    # Confirming other settings than the ones shown asks again, with their numbers.
    other = {**data, "method": "latest", "action": "confirm", "confirm_of": fingerprint}
    again = client.post(policy_url(w), other)
    assert again.status_code == 200 and "The settings changed since you confirmed" in page(again)
    assert policy_counts(w) == before and masteries(w) == levels
    saved = client.post(policy_url(w), {**data, "action": "confirm", "confirm_of": fingerprint})
    assert saved.status_code == 302 and school_policy(w).method == "highest"


@pytest.mark.parametrize("path", ["python", "sql"])
def test_both_recomputes_count_level_changes_as_the_preview_does(spread, in_school, path):
    w = spread
    with in_school(w):
        policy_change(school=w.school, changed_by=w.admin, note="x", method="highest")
        run = school_recompute_python if path == "python" else school_recompute_sql
        with transaction.atomic():
            result = run(w.school)
    assert (result.pairs, result.written, result.level_changes) == (3, 3, 2)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"weight": "0"}, "Ensure this value is greater than or equal to 0.01."),
        ({"weight": "150"}, "Ensure this value is less than or equal to 100."),
        ({"min_evidence": "0"}, "Ensure this value is greater than or equal to 1."),
        ({"grade_bands": "A three"}, "“three” is not a number."),
    ],
)
def test_invalid_settings_answer_422_and_save_nothing(client, spread, changes, message):
    w = spread
    before, levels = policy_counts(w), masteries(w)
    client.force_login(w.admin)
    for action in ("save", "preview"):
        response = client.post(policy_url(w), policy_data(school_policy(w), action, **changes))
        assert response.status_code == 422
        assert message in page(response)
    assert policy_counts(w) == before and masteries(w) == levels


def test_a_course_override_is_saved_then_removed_and_its_history_kept(
    client, spread, django_capture_on_commit_callbacks
):
    w = spread
    s0, t0 = w.students[0], w.targets[0]
    default = school_policy(w)
    client.force_login(w.admin)
    assert "This course follows the school policy." in page(client.get(policy_url(w, w.course)))
    with django_capture_on_commit_callbacks(execute=True):
        response = policy_save(
            client,
            policy_url(w, w.course),
            policy_data(default, "save", method="latest", note="Algebra counts the latest"),
        )
    assert response.status_code == 302
    with scopes_disabled():
        override = GradingPolicy.objects.get(school=w.school, course=w.course)
    assert override.is_current and override.version == 1 and override.method == "latest"
    assert school_policy(w) == default  # the school default is untouched
    assert score_of(w, s0, t0).policy == override and score_of(w, s0, t0).score == Decimal(2)
    content = page(client.get(policy_url(w, w.course)))
    assert "This course has its own policy (version 1)." in content
    assert "Follow the school policy instead" in content

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(policy_url(w, w.course), {"action": "remove"})
    assert response.status_code == 302
    with scopes_disabled():
        run = RecomputeRun.objects.filter(school=w.school).order_by("-id").first()
        history = list(GradingPolicy.objects.filter(school=w.school, course=w.course))
    assert response["Location"] == policy_url(w, w.course) + f"?run={run.id}"
    assert history == [override]  # kept, not current
    override.refresh_from_db()
    assert not override.is_current
    assert run.status == "done" and run.policy == default
    record_now = score_of(w, s0, t0)
    assert record_now.policy == default and record_now.score == Decimal("2.70")
    content = page(client.get(response["Location"]))
    assert "now follows the school policy" in content
    assert "This course follows the school policy." in content


def test_the_run_fragment_polls_only_while_the_recompute_is_unfinished(client, world_a):
    w = world_a
    with scopes_disabled():
        run = RecomputeRun.objects.create(school=w.school, policy=school_policy(w))
    run_url = reverse("policy_run", kwargs={"school_slug": w.school.slug, "run_id": run.id})
    client.force_login(w.teacher)
    for status, text in [
        ("queued", "Recompute queued"),
        ("running", "Recomputing every student's levels"),
    ]:
        with scopes_disabled():
            RecomputeRun.objects.filter(pk=run.pk).update(status=status)
        content = page(client.get(run_url))
        assert text in content
        assert 'hx-trigger="every 1s"' in content and f'hx-get="{run_url}"' in content
    with scopes_disabled():
        RecomputeRun.objects.filter(pk=run.pk).update(status="done", pairs=40, written=12)
    content = page(client.get(run_url))
    assert "Levels recomputed: 12 of 40 results changed." in content
    assert "hx-trigger" not in content and "hx-get" not in content
    with scopes_disabled():
        RecomputeRun.objects.filter(pk=run.pk).update(status="failed", error="boom")
    content = page(client.get(run_url))
    assert "The recompute failed" in content and "hx-trigger" not in content


def test_a_run_of_another_school_answers_404(client, world_a, world_b):
    with scopes_disabled():
        run = RecomputeRun.objects.create(school=world_b.school, policy=school_policy(world_b))
    client.force_login(world_a.admin)
    run_url = reverse("policy_run", kwargs={"school_slug": world_a.school.slug, "run_id": run.id})
    assert client.get(run_url).status_code == 404


# --- policy_preview on a hand-made data set --------------------------------------------------------


@pytest.fixture
def preview_world(world_a):
    """Scores on F1 and F2 (the course has F1-F3; F3 has none), worked out by hand below.

    Under the default (decaying average, 65% on the newest; A from 3, B 2.5, C 2, D 1.5):
      Student0  F1: 4, 2 -> 2.7 (2)   F2: 3 -> 3 (3)      course mean 2.85 -> B
      Student1  F1: 2, 3 -> 2.65 (2)  F2: 2 -> 2 (2)      course mean 2.33 -> C
      Student2  F1: 3 -> 3 (3)        F2: 1, 1 -> 1 (1)   course mean 2    -> C
    """
    w = world_a
    later = make_assessment(w.school, w.course, w.targets[:2], on=days_ago(3), kind="formative")
    s0, s1, s2 = w.students
    t0, t1 = w.targets[0], w.targets[1]
    record(w, s0, t0, "4")
    record(w, s0, t0, "2", assessment=later)
    record(w, s0, t1, "3")
    record(w, s1, t0, "2")
    record(w, s1, t0, "3", assessment=later)
    record(w, s1, t1, "2")
    record(w, s2, t0, "3")
    record(w, s2, t1, "1")
    record(w, s2, t1, "1", assessment=later)
    return w


def preview(w, **changes):
    with scope(school=w.school):
        candidate = policy_candidate(school=w.school, changed_by=w.admin, **changes)
        return policy_preview(school=w.school, candidate=candidate)


def test_the_preview_counts_level_and_course_grade_changes(preview_world):
    w = preview_world
    before = masteries(w)
    # Highest: Student0 F1 4 (4), Student1 F1 3 (3); the others keep their level.
    # Courses: Student0 mean(4, 3) = 3.5 -> A (was B); Student1 mean(3, 2) = 2.5 -> B (was C).
    result = preview(w, method="highest")
    assert result.pairs == 6
    assert result.level_changes == 2
    assert result.students_changing == 2 and result.targets_changing == 1
    assert result.mastered_gained == 2 and result.mastered_lost == 0
    assert result.grade_changes == 2 and result.students_with_grade_change == 2
    assert "Student1 Student, ALPHA.F1: 2.65 Developing → 3 Proficient" in result.examples
    assert masteries(w) == before
    assert policy_counts(w) == (1, 0)


def test_the_preview_counts_lost_mastery(preview_world):
    w = preview_world
    # Mastery at 3.5: Student0 F2 (3) and Student2 F1 (3) stop being mastered; no level changes.
    result = preview(w, mastery_threshold=Decimal("3.5"))
    assert result.level_changes == 0 and result.mastered_lost == 2
    assert result.mastered_gained == 0 and result.grade_changes == 0


def test_the_preview_of_an_unchanged_policy_changes_nothing(preview_world):
    result = preview(preview_world)
    assert result.pairs == 6
    assert (result.level_changes, result.grade_changes, result.mastered_gained) == (0, 0, 0)
    assert result.examples == []


def test_the_preview_counts_course_grades_changed_by_new_letter_bands(preview_world):
    w = preview_world
    # New bands A 3.5, B 3, C 2.5, D 2: Student0 2.85 B -> C, Student1 2.33 C -> D, Student2 2 C -> D.
    bands = [
        {"letter": "A", "min_score": "3.5"},
        {"letter": "B", "min_score": "3"},
        {"letter": "C", "min_score": "2.5"},
        {"letter": "D", "min_score": "2"},
    ]
    result = preview(w, grade_bands=bands)
    assert result.level_changes == 0
    assert result.grade_changes == 3 and result.students_with_grade_change == 3


def test_the_preview_counts_a_grade_change_without_a_level_change(world_a):
    w = world_a
    later = make_assessment(w.school, w.course, w.targets[:1], on=days_ago(3), kind="formative")
    s = w.students[0]
    record(w, s, w.targets[0], "3")
    record(w, s, w.targets[0], "2", assessment=later)
    # Decaying average 2.35 (level 2, course C); the mean 2.5 (still level 2, but course B).
    result = preview(w, method="mean")
    assert result.level_changes == 0
    assert result.grade_changes == 1 and result.students_with_grade_change == 1


def test_the_preview_of_a_course_override_only_covers_that_courses_students(preview_world):
    w = preview_world
    f3 = w.targets[2]
    with scopes_disabled():
        geometry = Course.objects.create(
            school=w.school, department=w.department, code="GEO", name="Geometry"
        )
        CourseTarget.objects.create(school=w.school, course=geometry, target=f3)
        geo_section = Section.objects.create(
            school=w.school, course=geometry, term=w.term, name="Geo 4", period=4
        )
    geo_student = make_student(
        w.school, "alpha-geo", first="Gina", sections=[geo_section], enrolled_on=w.term.starts_on
    )
    first = make_assessment(w.school, geometry, [f3], on=days_ago(5))
    second = make_assessment(w.school, geometry, [f3], on=days_ago(1))
    record(w, geo_student, f3, "4", assessment=first)
    record(w, geo_student, f3, "1", assessment=second)
    # An Algebra student with the same scores on the shared target is not under the override.
    alg_first = make_assessment(w.school, w.course, [f3], on=days_ago(5))
    alg_second = make_assessment(w.school, w.course, [f3], on=days_ago(1))
    record(w, w.students[0], f3, "4", assessment=alg_first)
    record(w, w.students[0], f3, "1", assessment=alg_second)
    with scope(school=w.school):
        candidate = policy_candidate(
            school=w.school, changed_by=w.admin, course=geometry, method="highest"
        )
        result = policy_preview(school=w.school, candidate=candidate)
    # Only Gina on F3: 4, 1 -> 2.05 (2, course C) becomes 4 (4, course A).
    assert result.pairs == 1
    assert result.level_changes == 1 and result.students_changing == 1
    assert result.grade_changes == 1 and result.students_with_grade_change == 1
    assert result.examples == ["Gina Student, ALPHA.F3: 2.05 Developing → 4 Advanced"]
