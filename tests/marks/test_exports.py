"""The CSV of record: a period's posted marks per section and per school, who may download them,
what they hold (current versions, overrides marked, the comment in the school's language),
formulas defused, school A / school B, and a constant number of queries whatever the size."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django_scopes import scope, scopes_disabled

from gradebook.models import GradingPeriod, Term
from marks.computing import COURSE, TARGET, section_marks_compute
from marks.exports import HEADER
from marks.services import MarkEntry, school_today, section_marks_post
from mastery.models import School
from tests.factories import (
    make_comment_entry,
    make_evidence,
    make_posted_mark,
    make_student,
    make_world,
    marking_period,
)


def section_url(w, section=None, **query) -> str:
    path = reverse(
        "marks:section_export",
        kwargs={"school_slug": w.school.slug, "section_id": (section or w.section).id},
    )
    return path + _query(query)


def school_url(w, **query) -> str:
    return reverse("marks:school_export", kwargs={"school_slug": w.school.slug}) + _query(query)


def _query(query: dict) -> str:
    return "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""


def rows_of(response) -> list[list[str]]:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def post(w, section, period, entries, *, by=None, language="en"):
    with scope(school=w.school):
        return section_marks_post(
            school=w.school,
            section=section,
            period=period,
            posted_by=by or w.teacher,
            entries=entries,
            is_admin=False,
            language=language,
        )


def post_computed(w, section, period, *, by=None):
    with scope(school=w.school):
        found = section_marks_compute(school=w.school, section=section, period=period)
    post(w, section, period, [MarkEntry(k, c.value) for k, c in found.computed.items()], by=by)


def test_the_section_csv_holds_each_current_mark_with_overrides_marked(client, world_a):
    w = world_a
    with scopes_disabled():
        School.objects.filter(pk=w.school.pk).update(default_language="es")
    make_evidence(w, w.students[0], w.targets[0], "3")
    make_comment_entry(w)
    period = make_posted_mark(w).period
    first = w.students[0]
    with scope(school=w.school):
        grade = section_marks_compute(school=w.school, section=w.section, period=period).computed[
            (first.id, COURSE, 0)
        ]
    # A re-post: an override with its reason, and the course grade's bank comment.
    post(
        w,
        w.section,
        period,
        [
            MarkEntry((first.id, TARGET, w.targets[0].id), "4", reason="Oral check in class"),
            MarkEntry((first.id, COURSE, 0), grade.value, comment="M1"),
        ],
    )
    client.force_login(w.teacher)
    rows = rows_of(client.get(section_url(w, period=period.id)))
    assert rows[0] == HEADER
    assert len(rows) == 1 + len(w.students) * 4  # 3 targets and the course grade each
    mine = [r for r in rows if r[0] == first.local_id]
    assert [r[5] for r in mine] == [t.code for t in w.targets] + ["Course grade"]
    name = f"{first.last_name}, {first.first_name}"
    override = mine[0]
    assert override[:12] == [
        first.local_id,
        name,
        "ALG1",
        "Period 1",
        "Q1",
        w.targets[0].code,
        "3",
        "4",
        "yes",
        "Oral check in class",
        "",
        "Tess Teacher",
    ]
    assert override[13] == "2"  # the second version; the first is not in the file
    assert override[12].startswith(str(school_today(w.school))) and override[12][-6] in "+-"
    course = mine[3]
    assert course[6:11] == [
        grade.value,
        grade.value,
        "no",
        "",
        f"{first.first_name} explica su razonamiento con claridad.",  # the school's language
    ]
    assert mine[1][6:9] == ["", "", "no"]  # not enough evidence, posted as such


def test_the_school_csv_holds_every_section_for_admins_and_counselors(client, world_a):
    w = world_a
    period = make_posted_mark(w).period
    post_computed(w, w.other_section, period, by=w.other_teacher)
    for who in (w.admin, w.counselor):
        client.force_login(who)
        rows = rows_of(client.get(school_url(w, period=period.id)))
        assert {(r[3], r[11]) for r in rows[1:]} == {
            ("Period 1", "Tess Teacher"),
            ("Period 2", "Otto Other"),
        }
        assert len(rows) == 1 + (len(w.students) + len(w.other_students)) * 4
    response = client.get(school_url(w, period=period.id))
    assert response["Content-Disposition"].startswith('attachment; filename="alpha-marks-q1-')


@pytest.mark.parametrize(
    ("who", "section_status", "school_status"),
    [
        ("teacher", 200, 403),
        ("other_teacher", 404, 403),
        ("guardian", 404, 403),
        ("student_user", 404, 403),
    ],
)
def test_who_may_download(client, world_a, who, section_status, school_status):
    w = world_a
    period = make_posted_mark(w).period
    client.force_login(getattr(w, who))
    assert client.get(section_url(w, period=period.id)).status_code == section_status
    assert client.get(school_url(w, period=period.id)).status_code == school_status


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "Choose a grading period"),
        ("abc", "There is no grading period 'abc'"),
        (str(2**64), "There is no grading period"),
        ("999999", "There is no grading period '999999'"),
    ],
)
def test_a_missing_or_unknown_period_is_a_clear_400(client, world_a, value, message):
    w = world_a
    client.force_login(w.admin)
    for url in (section_url(w, period=value), school_url(w, period=value)):
        response = client.get(url)
        assert response.status_code == 400
        assert message in response.content.decode()


def test_a_period_of_another_term_is_refused_for_a_section(client, world_a):
    w = world_a
    with scopes_disabled():
        spring = Term.objects.create(
            school=w.school,
            name="Spring",
            starts_on=w.term.ends_on + timedelta(days=1),
            ends_on=w.term.ends_on + timedelta(days=120),
        )
        later = GradingPeriod.objects.create(
            school=w.school,
            term=spring,
            name="Q3",
            starts_on=spring.starts_on,
            ends_on=spring.ends_on,
        )
    client.force_login(w.admin)
    response = client.get(section_url(w, period=later.id))
    assert response.status_code == 400 and "not a grading period of" in response.content.decode()
    assert rows_of(client.get(school_url(w, period=later.id))) == [HEADER]  # nothing posted yet


def test_school_b_reaches_nothing_of_school_a(client, world_a, world_b):
    a_period = make_posted_mark(world_a).period
    b_period = make_posted_mark(world_b).period
    client.force_login(world_b.admin)
    # A's address: no such school for B's admin.
    assert client.get(school_url(world_a, period=a_period.id)).status_code == 404
    assert client.get(section_url(world_a, period=a_period.id)).status_code == 404
    # A's section or period inside B's own school: not there.
    assert client.get(section_url(world_b, world_a.section, period=b_period.id)).status_code == 404
    response = client.get(school_url(world_b, period=a_period.id))
    assert response.status_code == 400 and "no grading period" in response.content.decode()
    rows = rows_of(client.get(school_url(world_b, period=b_period.id)))
    assert {r[0] for r in rows[1:]} == {s.local_id for s in world_b.students}


def test_formulas_in_comments_and_reasons_are_defused(client, world_a):
    w = world_a
    period = marking_period(w)
    first = w.students[0]
    post(
        w,
        w.section,
        period,
        [
            MarkEntry(
                (first.id, TARGET, w.targets[0].id),
                "2",
                reason='=HYPERLINK("http://evil.test","x")',
            ),
            MarkEntry((first.id, COURSE, 0), "", comment="+SUM(1,2)"),
        ],
    )
    client.force_login(w.admin)
    rows = rows_of(client.get(school_url(w, period=period.id)))
    target, course = rows[1], rows[2]
    assert target[9] == '\'=HYPERLINK("http://evil.test","x")'
    assert course[10] == "'+SUM(1,2)"


# --- A constant number of queries whatever the school's size ------------------------------------


def _count_school_csv(client, w, period, django_assert_num_queries, expected: int) -> list:
    with django_assert_num_queries(expected):
        response = client.get(school_url(w, period=period.id))
        rows = rows_of(response)  # the rows are read as the response streams
    return rows


# The user (its session is in the cache) and the membership; the period; the rows (one query
# through a server-side cursor, whatever their number).
QUERIES_SCHOOL_CSV = 4
# The same, and the section.
QUERIES_SECTION_CSV = 5


def test_the_csv_takes_as_many_queries_for_6_students_as_for_2(
    client, db, django_assert_num_queries
):
    w = make_world("alpha", students=2)
    period = marking_period(w)
    make_evidence(w, w.students[0], w.targets[0], "3")
    post_computed(w, w.section, period)
    client.force_login(w.admin)
    small = _count_school_csv(client, w, period, django_assert_num_queries, QUERIES_SCHOOL_CSV)
    assert len(small) == 1 + 2 * 4
    for i in range(4):
        make_student(
            w.school, f"alpha-late-{i}", sections=[w.section], enrolled_on=w.term.starts_on
        )
    post_computed(w, w.section, period)
    post_computed(w, w.other_section, period, by=w.other_teacher)
    big = _count_school_csv(client, w, period, django_assert_num_queries, QUERIES_SCHOOL_CSV)
    assert len(big) == 1 + (6 + 2) * 4
    with django_assert_num_queries(QUERIES_SECTION_CSV):
        assert len(rows_of(client.get(section_url(w, period=period.id)))) == 1 + 6 * 4


def test_a_comment_without_the_schools_language_shows_the_text_it_has(client, world_a):
    w = world_a
    period = marking_period(w)
    first = w.students[0]
    post(
        w,
        w.section,
        period,
        [MarkEntry((first.id, COURSE, 0), "", comment="Trabaja bien")],
        language="es",
    )
    client.force_login(w.admin)
    rows = rows_of(client.get(school_url(w, period=period.id)))
    assert [(r[5], r[10]) for r in rows[1:]] == [("Course grade", "Trabaja bien")]
