"""CSV exports of reassessment requests: a section's (every status) and the school's (with course
and section), who may download them, and cells that look like formulas defused."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from gradebook.models import ReassessmentRequest
from tests.factories import make_request, make_student

BOM = "\ufeff"
TODAY = timezone.localdate()
HEADER = [
    "student number",
    "student",
    "target code",
    "status",
    "asked on",
    "requested by",
    "scheduled on",
    "decline reason",
    "resolved on",
]


def section_url(w, section=None, slug=None) -> str:
    return reverse(
        "gradebook:section_requests_export",
        kwargs={"school_slug": slug or w.school.slug, "section_id": (section or w.section).id},
    )


def school_url(w) -> str:
    return reverse("gradebook:requests_export", kwargs={"school_slug": w.school.slug})


def table(response) -> list[list[str]]:
    """The CSV as rows (header first), streamed, starting with the UTF-8 BOM."""
    assert response.status_code == 200, response.content[:300]
    assert response.streaming and response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith(BOM)
    return list(csv.reader(io.StringIO(text[1:])))


def requests_of_every_kind(w):
    """An open request (by the student), a declined one, a scheduled one, and one in the other
    section."""
    now = timezone.now()
    made = make_request(w)  # students[1] on targets[0], open
    with scopes_disabled():
        declined = ReassessmentRequest.objects.create(
            school=w.school,
            student=w.students[2],
            target=w.targets[0],
            section=w.section,
            requested_by=w.teacher,
            status="declined",
            decline_reason="Come to tutoring first.",
            resolved_by=w.teacher,
            resolved_at=now,
            created_at=now - timedelta(days=3),
        )
        scheduled = ReassessmentRequest.objects.create(
            school=w.school,
            student=w.students[0],
            target=w.targets[1],
            section=w.section,
            requested_by=w.guardian,
            status="scheduled",
            scheduled_on=TODAY + timedelta(days=2),
            resolved_by=w.teacher,
            resolved_at=now,
            created_at=now - timedelta(days=1),
        )
        elsewhere = ReassessmentRequest.objects.create(
            school=w.school,
            student=w.other_students[0],
            target=w.targets[2],
            section=w.other_section,
            requested_by=w.other_teacher,
        )
    return made, declined, scheduled, elsewhere


def test_a_sections_csv_lists_its_requests_in_every_status(world_a, login):
    w = world_a
    requests_of_every_kind(w)
    response = login(w.teacher).get(section_url(w))
    header, *rows = table(response)
    assert header == HEADER
    assert "attachment" in response["Content-Disposition"]
    assert (
        f"alpha-requests-alg1-period-1-{TODAY.isoformat()}.csv" in response["Content-Disposition"]
    )
    asked_on = TODAY.isoformat()
    assert rows == [
        [
            "alpha-2",
            "Student, Student2",
            "ALPHA.F1",
            "declined",
            (TODAY - timedelta(days=3)).isoformat(),
            "Tess Teacher",
            "",
            "Come to tutoring first.",
            asked_on,
        ],
        [
            "alpha-0",
            "Student, Student0",
            "ALPHA.F2",
            "scheduled",
            (TODAY - timedelta(days=1)).isoformat(),
            "Gus Guardian",
            (TODAY + timedelta(days=2)).isoformat(),
            "",
            asked_on,
        ],
        ["alpha-1", "Student, Student1", "ALPHA.F1", "open", asked_on, "Stu Student", "", "", ""],
    ]


def test_a_sections_csv_is_for_whoever_may_see_its_grid(world_a, world_b, login, client):
    w = world_a
    requests_of_every_kind(w)
    assert login(w.counselor).get(section_url(w)).status_code == 200
    assert login(w.other_teacher).get(section_url(w)).status_code == 404
    assert login(w.guardian).get(section_url(w)).status_code == 404
    # The other section's teacher reads only theirs; school B's section is not A's.
    rows = table(login(w.other_teacher).get(section_url(w, w.other_section)))[1:]
    assert [row[0] for row in rows] == ["alpha-x0"]
    assert login(w.admin).get(section_url(w, world_b.section)).status_code == 404
    assert client.post(section_url(w)).status_code == 405


def test_the_schools_csv_adds_course_and_section_for_admins_and_counselors_only(
    world_a, world_b, login
):
    w = world_a
    requests_of_every_kind(w)
    make_request(world_b)
    header, *rows = table(login(w.counselor).get(school_url(w)))
    assert header == [*HEADER, "course", "section"]
    assert [(row[0], row[3], row[-2], row[-1]) for row in rows] == [
        ("alpha-2", "declined", "ALG1", "Period 1"),
        ("alpha-0", "scheduled", "ALG1", "Period 1"),
        ("alpha-1", "open", "ALG1", "Period 1"),
        ("alpha-x0", "open", "ALG1", "Period 2"),
    ]
    assert len(table(login(w.admin).get(school_url(w)))) == 5
    assert login(w.teacher).get(school_url(w)).status_code == 403
    assert login(w.guardian).get(school_url(w)).status_code == 403
    assert login(world_b.admin).get(school_url(w)).status_code == 404


def test_a_request_left_without_a_section_is_in_the_schools_csv_with_empty_course(world_a, login):
    w = world_a
    made = make_request(w)
    with scopes_disabled():
        ReassessmentRequest.objects.filter(id=made.id).update(section=None)
    rows = table(login(w.admin).get(school_url(w)))[1:]
    assert [(row[0], row[-2], row[-1]) for row in rows] == [("alpha-1", "", "")]
    assert table(login(w.admin).get(section_url(w)))[1:] == []


def test_cells_that_look_like_formulas_are_defused(world_a, login):
    w = world_a
    pupil = make_student(
        w.school, "+1 555", first="@SUM(A1)", last="=cmd|' /C calc'!A0", sections=[w.section]
    )
    with scopes_disabled():
        ReassessmentRequest.objects.create(
            school=w.school,
            student=pupil,
            target=w.targets[0],
            section=w.section,
            requested_by=w.teacher,
            status="declined",
            decline_reason='=HYPERLINK("http://evil.example","Click")',
            resolved_at=timezone.now(),
        )
    for response in (login(w.teacher).get(section_url(w)), login(w.admin).get(school_url(w))):
        row = dict(zip(HEADER, table(response)[1], strict=False))
        assert row["decline reason"] == '\'=HYPERLINK("http://evil.example","Click")'
        assert row["student"] == "'=cmd|' /C calc'!A0, @SUM(A1)"
        assert row["student number"] == "'+1 555"
