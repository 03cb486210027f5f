"""The learning framework: a department's targets (who edits them, their order and descriptors)
and importing them from a CSV file."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_scopes import scope, scopes_disabled

from mastery.models import Competency, Department, LearningTarget, LevelDescriptor, Role
from mastery.services import targets_import_csv
from tests.factories import make_member
from tests.gradebook.pages import page, url

# --- Helpers ---------------------------------------------------------------------------------------


def dept_url(name: str, w, department=None, **kwargs) -> str:
    return url(name, w, department_id=(department or w.department).id, **kwargs)


def targets_of(w) -> list[tuple[str, int]]:
    """(code, position) of the world's department targets, in display order."""
    with scope(school=w.school):
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
    with scope(school=w.school):
        return (
            LearningTarget.objects.filter(school=w.school).count(),
            Competency.objects.filter(school=w.school).count(),
            LevelDescriptor.objects.filter(school=w.school).count(),
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


def test_a_school_admin_edits_every_departments_targets(client, world_a, in_school):
    w = world_a
    with in_school(w):
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


def test_a_competency_of_another_department_cannot_hold_a_new_target(client, world_a, in_school):
    w = world_a
    with in_school(w):
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


def test_every_bad_row_is_reported_with_its_line_and_nothing_is_imported(
    client, world_a, in_school
):
    w = world_a
    with in_school(w):
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
