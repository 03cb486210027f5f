"""CSV exports: a section's gradebook (what the grid shows) and a school's mastery records."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django_scopes import scope

from gradebook import exports
from gradebook.models import Enrollment, Mastery
from gradebook.selectors.grid import section_grid
from gradebook.services.grid import evidence_fill
from mastery.models import District, DistrictMembership, GradingPolicy, LearningTarget
from tests.factories import make_assessment, make_evidence, make_student, make_user

BOM = "\ufeff"

# The school export's queries, whatever the number of students: the user, the school with the
# membership, the scale's levels, the records (one query, streamed).
QUERIES_MASTERY_EXPORT = 4


# --- Helpers ---------------------------------------------------------------------------------------


def section_export_url(w, section=None, slug=None) -> str:
    return reverse(
        "gradebook:section_export",
        kwargs={"school_slug": slug or w.school.slug, "section_id": (section or w.section).id},
    )


def mastery_export_url(w) -> str:
    return reverse("gradebook:mastery_export", kwargs={"school_slug": w.school.slug})


def body(response) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return raw.decode("utf-8")


def table(response) -> list[list[str]]:
    """The CSV as rows (header first), after checking it starts with the UTF-8 BOM."""
    text = body(response)
    assert text.startswith(BOM)
    return list(csv.reader(io.StringIO(text[1:])))


def as_dicts(response) -> list[dict[str, str]]:
    header, *rows = table(response)
    return [dict(zip(header, row, strict=True)) for row in rows]


def mastery(w, student, target, score, *, evidence=1, computed_at=None) -> Mastery:
    """A Mastery record written directly (the exports only read the table)."""
    score = None if score is None else Decimal(score)
    level = None if score is None else Decimal(int(score))
    with scope(school=w.school):
        policy = GradingPolicy.objects.get(school=w.school, course__isnull=True, is_current=True)
        return Mastery.objects.create(
            school=w.school,
            student=student,
            target=target,
            score=score,
            level=level,
            mastered=score is not None and score >= 3,
            evidence_count=evidence,
            scores_counted=evidence if score is not None else 0,
            last_evidence_on=date(2026, 3, 2) if evidence else None,
            policy=policy,
            computed_at=computed_at or timezone.now(),
        )


def district_admin_of(w):
    with scope(school=w.school):
        district = District.objects.create(name="North", slug="north")
        w.school.district = district
        w.school.save(update_fields=["district"])
    chief = make_user("chief@north.test", "Chief")
    DistrictMembership.objects.create(district=district, user=chief)
    return chief


@pytest.fixture
def graded(world_a):
    """Student0 4/4/–, Student1 2/–/missing (insufficient evidence), Student2 3/2/–."""
    w = world_a
    s0, s1, s2 = w.students
    t0, t1, t2 = w.targets
    make_evidence(w, s0, t0, "4")
    make_evidence(w, s0, t1, "4")
    make_evidence(w, s1, t0, "2")
    make_evidence(w, s2, t0, "3")
    make_evidence(w, s2, t1, "2")
    third = make_assessment(w.school, w.course, [t2], on=date.today() - timedelta(days=3))
    make_evidence(w, s1, t2, assessment=third, status="missing")
    return w


# --- A section's gradebook -------------------------------------------------------------------------


def test_the_section_csv_has_one_row_per_student_with_the_levels_scores_and_grades(client, graded):
    w = graded
    client.force_login(w.teacher)
    response = client.get(section_export_url(w))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    header, *rows = table(response)
    f1, f2, f3 = (t.code for t in w.targets)
    assert header == [
        "student number",
        "last name",
        "first name",
        f"{f1} level",
        f"{f1} score",
        f"{f2} level",
        f"{f2} score",
        f"{f3} level",
        f"{f3} score",
        "course grade",
        "course average",
    ]
    assert rows == [
        ["alpha-0", "Student", "Student0", "Advanced", "4", "Advanced", "4", "", "", "A", "4"],
        [
            "alpha-1",
            "Student",
            "Student1",
            "Developing",
            "2",
            "",
            "",
            "Insufficient evidence",
            "",
            "C",
            "2",
        ],
        [
            "alpha-2",
            "Student",
            "Student2",
            "Proficient",
            "3",
            "Developing",
            "2",
            "",
            "",
            "B",
            "2.5",
        ],
    ]


def test_the_section_csv_matches_the_grid_cell_by_cell(client, graded):
    w = graded
    client.force_login(w.counselor)
    rows = as_dicts(client.get(section_export_url(w)))
    with scope(school=w.school):
        grid = section_grid(school=w.school, section=w.section)
    labels = {info.value: info.label for info in grid.levels}
    assert [r["student number"] for r in rows] == [g.student.local_id for g in grid.rows]
    for row, grid_row in zip(rows, grid.rows, strict=True):
        for target, cell in zip(grid.targets, grid_row.cells, strict=True):
            if cell is None or cell.evidence_count == 0:  # the grid's "–"
                assert (row[f"{target.code} level"], row[f"{target.code} score"]) == ("", "")
            elif cell.level is None:  # the grid's "IE"
                assert row[f"{target.code} level"] == "Insufficient evidence"
            else:
                assert row[f"{target.code} level"] == labels[cell.level]
                assert Decimal(row[f"{target.code} score"]) == cell.score
        assert row["course grade"] == (grid_row.grade.letter or "")
        average = Decimal(row["course average"]) if row["course average"] else None
        assert average == grid_row.grade.mean


def test_a_withdrawn_student_is_left_out_of_the_section_csv_as_of_the_grid(
    client, graded, in_school
):
    w = graded
    with in_school(w):
        Enrollment.objects.filter(school=w.school, student=w.students[1]).update(
            withdrawn_on=date.today()
        )
    client.force_login(w.teacher)
    numbers = [r["student number"] for r in as_dicts(client.get(section_export_url(w)))]
    assert numbers == ["alpha-0", "alpha-2"]


def test_the_section_csv_is_named_after_the_school_the_section_and_the_day(client, world_a):
    w = world_a
    client.force_login(w.teacher)
    response = client.get(section_export_url(w))
    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == (
        f'attachment; filename="alpha-alg1-period-1-{today}.csv"'
    )
    assert "no-store" in response["Cache-Control"]


def test_the_grid_page_links_to_its_csv(client, world_a):
    w = world_a
    client.force_login(w.teacher)
    content = client.get(
        reverse(
            "gradebook:section_detail",
            kwargs={"school_slug": w.school.slug, "section_id": w.section.id},
        )
    ).content.decode()
    assert f'href="{section_export_url(w)}" download>Download CSV</a>' in content


@pytest.mark.parametrize(
    ("member", "status"),
    [
        ("teacher", 200),
        ("admin", 200),
        ("counselor", 200),
        ("other_teacher", 404),  # as the grid: a teacher sees only their own sections
        ("guardian", 404),
        ("student_user", 404),
    ],
)
def test_whoever_may_see_the_grid_may_download_it(client, world_a, member, status):
    w = world_a
    client.force_login(getattr(w, member))
    grid = reverse(
        "gradebook:section_detail",
        kwargs={"school_slug": w.school.slug, "section_id": w.section.id},
    )
    assert client.get(grid).status_code == status
    assert client.get(section_export_url(w)).status_code == status


def test_a_section_of_school_b_under_school_as_slug_answers_404(client, world_a, world_b):
    make_evidence(world_b, world_b.students[0], world_b.targets[0], "4")
    client.force_login(world_a.admin)
    response = client.get(section_export_url(world_b, slug=world_a.school.slug))
    assert response.status_code == 404
    assert b"beta-0" not in response.content
    # And school B's own URL is not a member's of A.
    assert client.get(section_export_url(world_b)).status_code == 404


def test_the_row_function_refuses_a_section_of_another_school(world_a, world_b):
    with scope(school=world_a.school), pytest.raises(ValueError, match="another school"):
        exports.section_gradebook_rows(school=world_a.school, section=world_b.section)


# --- Spreadsheet safety ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("Núñez", "Núñez"),
        ("O'Brien", "O'Brien"),
        (Decimal("2.50"), "2.5"),
        (None, ""),
        (True, "yes"),
        (False, "no"),
        (date(2026, 3, 2), "2026-03-02"),
    ],
)
def test_a_cell_is_written_as_people_read_it_and_never_as_a_formula(value, written):
    assert exports.csv_cell(value) == written


def test_equal_instants_in_two_zones_keep_their_own_offsets():
    moment = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    pacific = moment.astimezone(ZoneInfo("America/Los_Angeles"))
    assert exports.csv_cell(moment) == "2026-03-02T23:30:00+00:00"
    assert exports.csv_cell(pacific) == "2026-03-02T15:30:00-08:00"


def test_names_that_look_like_formulas_are_defused_and_accents_survive(client, world_a):
    w = world_a
    make_student(
        w.school,
        "@123",
        first="=cmd|' /C calc'!A0",
        last="-Núñez",
        sections=[w.section],
        enrolled_on=w.term.starts_on,
    )
    client.force_login(w.teacher)
    response = client.get(section_export_url(w))
    assert response.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    row = next(r for r in as_dicts(response) if r["student number"] == "'@123")
    assert row["last name"] == "'-Núñez"
    assert row["first name"] == "'=cmd|' /C calc'!A0"


def test_csv_chunks_gathers_rows_into_large_chunks(world_a):
    rows = ([f"student {i}", Decimal("3")] for i in range(1000))
    chunks = list(exports.csv_chunks(["name", "score"], rows, chunk_chars=4096))
    text = "".join(chunks)
    assert text.startswith(BOM + "name,score\r\nstudent 0,3\r\n")
    assert text.count("\r\n") == 1001
    assert 3 <= len(chunks) <= 10  # not one chunk per row


# --- A school's mastery records --------------------------------------------------------------------


def test_the_school_export_has_every_column_of_a_mastery_record(client, world_a, in_school):
    w = world_a
    s = w.students[0]
    with in_school(w):
        LearningTarget.objects.filter(pk=w.targets[0].pk).update(statement="=I can do thing 1.")
    computed = timezone.make_aware(datetime(2026, 3, 2, 15, 30, 5))
    mastery(w, s, w.targets[0], "3.25", evidence=3, computed_at=computed)
    mastery(w, s, w.targets[1], None, evidence=2)
    client.force_login(w.admin)
    response = client.get(mastery_export_url(w))
    assert response.status_code == 200
    header, *rows = table(response)
    assert header == exports.MASTERY_HEADER
    assert rows[0] == [
        "alpha-0",
        "Student, Student0",
        "ALPHA.F1",
        "'=I can do thing 1.",
        "alpha-FN",
        "Mathematics",
        "3.25",
        "Proficient",
        "yes",
        "3",
        "2026-03-02",
        "1",
        timezone.localtime(computed).isoformat(timespec="seconds"),
    ]
    assert rows[1][6:10] == ["", "Insufficient evidence", "no", "2"]
    assert len(rows) == 2


def test_the_school_export_streams_and_is_named_after_the_school_and_the_day(client, world_a):
    w = world_a
    mastery(w, w.students[0], w.targets[0], "3")
    client.force_login(w.counselor)
    response = client.get(mastery_export_url(w))
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == f'attachment; filename="alpha-mastery-{today}.csv"'
    assert "no-store" in response["Cache-Control"]
    assert len(table(response)) == 2


@pytest.mark.parametrize(
    ("member", "status"),
    [
        ("admin", 200),
        ("counselor", 200),
        ("district_admin", 200),
        ("teacher", 403),
        ("guardian", 403),
        ("student_user", 403),
    ],
)
def test_school_admins_counselors_and_district_admins_may_export_the_school(
    client, world_a, member, status
):
    w = world_a
    user = district_admin_of(w) if member == "district_admin" else getattr(w, member)
    client.force_login(user)
    assert client.get(mastery_export_url(w)).status_code == status


def test_the_school_export_holds_only_the_schools_own_records(client, world_a, world_b):
    mastery(world_a, world_a.students[0], world_a.targets[0], "3")
    mastery(world_b, world_b.students[0], world_b.targets[0], "2")
    client.force_login(world_a.admin)
    rows = as_dicts(client.get(mastery_export_url(world_a)))
    assert [r["student number"] for r in rows] == ["alpha-0"]
    # School B's URL is not for a member of A.
    assert client.get(mastery_export_url(world_b)).status_code == 404


def test_the_school_home_links_to_the_export_for_those_who_may_use_it(client, world_a):
    w = world_a
    home = reverse("school_home", kwargs={"school_slug": w.school.slug})
    link = f'href="{mastery_export_url(w)}"'
    client.force_login(w.counselor)
    assert link in client.get(home).content.decode()
    client.force_login(w.teacher)
    assert link not in client.get(home).content.decode()


# --- Filters ---------------------------------------------------------------------------------------


@pytest.fixture
def spread(world_a, in_school):
    """Records on both sections' students, plus a target outside the course."""
    w = world_a
    with in_school(w):
        outside = LearningTarget.objects.create(
            school=w.school,
            competency=w.competency,
            department=w.department,
            code="ALPHA.X1",
            statement="I can do something else.",
        )
    long_ago = timezone.now() - timedelta(days=30)
    mastery(w, w.students[0], w.targets[0], "3", computed_at=long_ago)
    mastery(w, w.students[0], outside, "2")
    mastery(w, w.students[1], w.targets[0], "2")
    mastery(w, w.students[1], w.targets[1], "4", computed_at=long_ago)
    mastery(w, w.other_students[0], w.targets[0], "1")
    w.extra["outside"] = outside
    return w


def export_pairs(client, w, **params) -> list[tuple[str, str]]:
    response = client.get(mastery_export_url(w), params)
    assert response.status_code == 200, body(response)
    return [(r["student number"], r["target code"]) for r in as_dicts(response)]


def test_without_filters_every_record_is_exported(client, spread):
    client.force_login(spread.admin)
    assert len(export_pairs(client, spread)) == 5


def test_the_section_filter_keeps_its_students_on_its_courses_targets(client, spread):
    w = spread
    client.force_login(w.admin)
    pairs = export_pairs(client, w, section=w.section.id)
    assert pairs == [("alpha-0", "ALPHA.F1"), ("alpha-1", "ALPHA.F1"), ("alpha-1", "ALPHA.F2")]
    response = client.get(mastery_export_url(w), {"section": w.section.id})
    assert "period-1" in response["Content-Disposition"]


def test_the_target_filter_takes_a_code_or_an_id(client, spread):
    w = spread
    client.force_login(w.counselor)
    expected = [("alpha-0", "ALPHA.F1"), ("alpha-1", "ALPHA.F1"), ("alpha-x0", "ALPHA.F1")]
    assert sorted(export_pairs(client, w, target="ALPHA.F1")) == expected
    assert sorted(export_pairs(client, w, target=w.targets[0].id)) == expected


def test_the_level_filter_takes_a_level_value_or_its_label(client, spread):
    w = spread
    client.force_login(w.admin)
    developing = [("alpha-0", "ALPHA.X1"), ("alpha-1", "ALPHA.F1")]
    assert sorted(export_pairs(client, w, level="2")) == developing
    assert sorted(export_pairs(client, w, level="developing")) == developing
    assert export_pairs(client, w, level="4") == [("alpha-1", "ALPHA.F2")]


def test_changed_since_keeps_records_computed_from_that_moment(client, spread):
    w = spread
    client.force_login(w.admin)
    week_ago = timezone.localdate() - timedelta(days=7)
    assert len(export_pairs(client, w, changed_since=week_ago.isoformat())) == 3
    moment = timezone.localtime() - timedelta(days=31)
    since = moment.replace(tzinfo=None).isoformat(timespec="minutes")
    assert len(export_pairs(client, w, changed_since=since)) == 5


def test_filters_combine(client, spread):
    w = spread
    client.force_login(w.admin)
    week_ago = (timezone.localdate() - timedelta(days=7)).isoformat()
    assert export_pairs(client, w, section=w.section.id, changed_since=week_ago) == [
        ("alpha-1", "ALPHA.F1")
    ]
    assert export_pairs(client, w, section=w.section.id, level="3", target="ALPHA.F2") == []


def test_empty_filter_values_are_ignored(client, spread):
    client.force_login(spread.admin)
    pairs = export_pairs(client, spread, section="", target="", level="", changed_since="")
    assert len(pairs) == 5


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"section": "abc"}, "section must be a section id"),
        ({"section": "999999"}, "There is no section 999999 in this school."),
        ({"target": "NOPE.1"}, "There is no learning target 'NOPE.1' in this school."),
        ({"level": "7"}, "level must be one of the scale's levels: 1 (Beginning), 2 (Developing)"),
        ({"level": "banana"}, "level must be one of the scale's levels"),
        ({"level": "NaN"}, "level must be one of the scale's levels"),
        ({"changed_since": "yesterday"}, "changed_since must be an ISO date"),
        ({"changed_since": "2026-02-30"}, "changed_since must be an ISO date"),
        ({"levle": "3"}, "Unknown filter 'levle': use section, target, level, changed_since."),
    ],
)
def test_a_bad_filter_answers_400_with_a_clear_message(client, spread, params, message):
    client.force_login(spread.admin)
    response = client.get(mastery_export_url(spread), params)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_a_section_or_target_of_school_b_is_a_bad_filter_that_leaks_nothing(
    client, world_a, world_b
):
    mastery(world_b, world_b.students[0], world_b.targets[0], "2")
    client.force_login(world_a.admin)
    response = client.get(mastery_export_url(world_a), {"section": world_b.section.id})
    assert response.status_code == 400
    assert f"There is no section {world_b.section.id} in this school." in response.content.decode()
    response = client.get(mastery_export_url(world_a), {"target": world_b.targets[0].id})
    assert response.status_code == 400
    assert b"beta" not in response.content.lower()


def test_the_filter_parser_raises_a_value_error_for_api_callers(world_a):
    with scope(school=world_a.school):
        with pytest.raises(ValueError, match="level must be"):
            exports.parse_mastery_filters({"level": "9"}, school=world_a.school)
        filters = exports.parse_mastery_filters(
            {"level": "3", "format": "json"}, school=world_a.school, ignore=["format"]
        )
    assert filters.level == Decimal("3")


# --- Scale -----------------------------------------------------------------------------------------


def test_the_school_export_takes_a_pinned_number_of_queries_whatever_the_school_size(
    client, world_a, django_assert_num_queries
):
    w = world_a
    for student in w.students:
        mastery(w, student, w.targets[0], "3")
    client.force_login(w.counselor)
    client.get(mastery_export_url(w))  # warm up the per-process caches
    with django_assert_num_queries(QUERIES_MASTERY_EXPORT):
        small = table(client.get(mastery_export_url(w)))
    more = [
        make_student(
            w.school,
            f"alpha-more-{i}",
            first=f"More{i:02d}",
            last="Zed",
            sections=[w.section],
            enrolled_on=w.term.starts_on,
        )
        for i in range(40)
    ]
    with scope(school=w.school):
        for assessment_targets in (w.targets[:1], w.targets[1:2]):
            assessment = make_assessment(
                w.school, w.course, assessment_targets, on=date.today() - timedelta(days=1)
            )
            evidence_fill(
                school=w.school,
                filled_by=w.teacher,
                section=w.section,
                assessment=assessment,
                text="2",
            )
    with django_assert_num_queries(QUERIES_MASTERY_EXPORT):
        large = table(client.get(mastery_export_url(w)))
    assert len(small) == 1 + 3
    assert len(large) == 1 + 3 + 40 * 2 + 3  # every record, the first three students' new one too
    assert sum(1 for r in large if r[0].startswith("alpha-more-")) == len(more) * 2
