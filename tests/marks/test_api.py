"""The marks of record in the REST API: who reads which posted marks, posting a section through the
API (all or nothing, errors at each mark's place), the comment bank, school A / school B, and a
full section posted in a constant number of queries."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django_scopes import scope, scopes_disabled

from gradebook.models import CourseTarget, GradingPeriod
from marks.computing import COURSE, TARGET, section_marks_compute
from marks.models import PostedMark
from mastery.models import AuditEvent, LearningTarget
from tests.factories import (
    make_comment_entry,
    make_evidence,
    make_posted_mark,
    make_student,
    marking_period,
)
from tests.site.test_api import api, assert_error, token_for, url

MARKS = "posted-marks"
TODAY = date.today()


def post_url(w) -> str:
    return url(w, MARKS, action="post")


def section_body(w, period, marks, **extra) -> dict:
    return {"section": w.section.id, "period": period.id, "marks": marks, **extra}


def target_mark(student, target, value, **extra) -> dict:
    return {"student": student.id, "kind": "target", "subject": target.id, "value": value, **extra}


def every_mark(w, value: str | None = None, period=None) -> list[dict]:
    """Each key of the world's section (its students × its targets and the course grade), as
    computed (or all `value`), in the grid's order."""
    with scope(school=w.school):
        found = section_marks_compute(
            school=w.school, section=w.section, period=period or marking_period(w)
        )
    keys = found.keys()  # the grid's order (a method of SectionMarks, not a dict's)
    return [
        {
            "student": student_id,
            "kind": kind,
            "subject": subject_id,
            "value": found.computed[(student_id, kind, subject_id)].value
            if value is None
            else value,
        }
        for student_id, kind, subject_id in keys
    ]


def posted(w) -> list[tuple]:
    with scopes_disabled():
        return list(
            PostedMark.objects.filter(school=w.school)
            .order_by("id")
            .values_list("student_id", "kind", "subject_id", "version", "value")
        )


def mark_events(w) -> int:
    with scopes_disabled():
        return AuditEvent.objects.filter(school=w.school, object_type="mark").count()


def posting(client, w, body):
    return client.post(post_url(w), body, content_type="application/json")


# --- Reading -------------------------------------------------------------------------------------


def test_a_teacher_reads_their_sections_marks_and_another_teacher_none(world_a):
    w = world_a
    make_evidence(w, w.students[0], w.targets[0], "3")
    mark = make_posted_mark(w)
    rows = api(token_for(w, w.teacher)).get(url(w, MARKS)).json()
    assert rows["count"] == len(w.students) * 4  # 3 targets and the course grade each
    mine = next(r for r in rows["results"] if r["id"] == mark.id)
    assert mine == {
        "id": mark.id,
        "student": w.students[0].id,
        "section": w.section.id,
        "period": mark.period_id,
        "kind": "target",
        "target": w.targets[0].id,
        "habit": None,
        "version": 1,
        "computed_value": "3",
        "computed_score": 3.0,
        "value": "3",
        "overridden": False,
        "grade_form": "",
        "reason": "",
        "comment": {},
        "comment_entry": None,
        "posted_by": "Tess Teacher",
        "posted_at": mine["posted_at"],
        "outside_window": False,
    }
    other = api(token_for(w, w.other_teacher))
    assert other.get(url(w, MARKS)).json()["count"] == 0
    assert_error(other.get(url(w, MARKS, mark.id)), 404)


@pytest.mark.parametrize("who", ["admin", "counselor"])
def test_school_admins_and_counselors_read_every_section(world_a, who):
    w = world_a
    make_posted_mark(w)
    client = api(token_for(w, getattr(w, who)))
    assert client.get(url(w, MARKS)).json()["count"] == len(w.students) * 4
    assert client.get(url(w, MARKS), {"section": w.other_section.id}).json()["count"] == 0


@pytest.mark.parametrize("who", ["guardian", "student_user"])
def test_families_and_students_have_the_portal_not_the_api(client, world_a, who):
    w = world_a
    mark = make_posted_mark(w)
    client.force_login(getattr(w, who))  # their own child's / their own mark
    assert_error(client.get(url(w, MARKS)), 403)
    assert_error(client.get(url(w, MARKS, mark.id)), 403)


def test_the_list_shows_current_versions_filtered_and_the_history_on_request(world_a):
    w = world_a
    first = make_posted_mark(w)
    client = api(token_for(w, w.teacher))
    period = marking_period(w)
    override = target_mark(w.students[0], w.targets[0], "4", reason="Oral check in class")
    assert posting(client, w, section_body(w, period, [override])).status_code == 201

    rows = client.get(url(w, MARKS), {"overridden": "true"}).json()["results"]
    assert [(r["student"], r["version"], r["value"], r["reason"]) for r in rows] == [
        (w.students[0].id, 2, "4", "Oral check in class")
    ]
    assert rows[0]["overridden"] and rows[0]["computed_value"] == ""
    assert client.get(url(w, MARKS), {"overridden": "false"}).json()["count"] == 11
    assert client.get(url(w, MARKS)).json()["count"] == 12
    history = client.get(
        url(w, MARKS),
        {"history": "true", "student": w.students[0].id, "kind": "target", "period": period.id},
    ).json()["results"]
    assert sorted((r["target"], r["version"]) for r in history) == sorted(
        [(w.targets[0].id, 1), (w.targets[0].id, 2), (w.targets[1].id, 1), (w.targets[2].id, 1)]
    )
    # The earlier version is still read by its id.
    assert client.get(url(w, MARKS, first.id)).json()["version"] == 1
    assert client.get(url(w, MARKS), {"kind": "course"}).json()["count"] == 3
    assert_error(client.get(url(w, MARKS), {"kind": "grade"}), 400)
    assert_error(client.get(url(w, MARKS), {"period": "1e400"}), 400)


def test_school_b_never_sees_school_a_marks(world_a, world_b):
    mark = make_posted_mark(world_a)
    entry = make_comment_entry(world_a)
    b = api(token_for(world_b))
    # B's token on A's address: no such school for it.
    assert_error(b.get(url(world_a, MARKS)), 404)
    assert_error(b.get(url(world_a, MARKS, mark.id)), 404)
    assert_error(b.get(url(world_a, "comment-bank")), 404)
    assert_error(posting(b, world_a, section_body(world_a, marking_period(world_a), [])), 404)
    # A's ids inside B's own school: not there.
    assert_error(b.get(url(world_b, MARKS, mark.id)), 404)
    assert_error(b.get(url(world_b, "comment-bank", entry.id)), 404)
    assert b.get(url(world_b, MARKS)).json()["count"] == 0


# --- Posting -------------------------------------------------------------------------------------


def test_a_teacher_posts_the_section_and_a_resend_writes_nothing(world_a):
    w = world_a
    make_evidence(w, w.students[1], w.targets[0], "2")
    period = marking_period(w)
    client = api(token_for(w, w.teacher))
    marks = every_mark(w)
    assert marks[4] == target_mark(w.students[1], w.targets[0], "2")  # as computed
    marks[4]["seen"] = "2"
    response = posting(client, w, section_body(w, period, marks))
    assert response.status_code == 201, response.content
    assert response.json() == {
        "written": 12,
        "unchanged": 0,
        "overridden": 0,
        "outside_window": False,
    }
    with scopes_disabled():
        mark = PostedMark.objects.get(student=w.students[1], subject_id=w.targets[0].id)
        assert (mark.value, mark.computed_value, mark.source) == ("2", "2", "api")
        assert mark.posted_by == w.teacher
    events = mark_events(w)
    assert events == 12
    again = posting(client, w, section_body(w, period, marks))
    assert again.status_code == 200
    assert again.json()["written"] == 0 and again.json()["unchanged"] == 12
    assert mark_events(w) == events


def test_an_override_without_a_reason_is_refused_at_its_place_and_nothing_is_written(world_a):
    w = world_a
    period = marking_period(w)
    client = api(token_for(w, w.teacher))
    marks = every_mark(w)
    marks[5]["value"] = "4"  # no reason
    marks[9]["value"] = "7"  # not a level
    response = posting(client, w, section_body(w, period, marks))
    body = assert_error(response, 400, "invalid")
    assert set(body["errors"]) == {"marks[5]", "marks[9]"}
    assert "reason is required" in body["errors"]["marks[5]"][0]
    assert "not a level" in body["errors"]["marks[9]"][0]
    assert posted(w) == [] and mark_events(w) == 0

    marks[5]["reason"], marks[9]["value"] = "Retook the quiz orally", ""
    response = posting(client, w, section_body(w, period, marks))
    assert response.status_code == 201 and response.json()["overridden"] == 1
    with scopes_disabled():
        event = AuditEvent.objects.get(school=w.school, object_type="mark", summary__contains="4")
    assert "override" in event.summary and event.source == "api" and event.actor == w.teacher


def test_a_mark_posted_by_someone_else_since_it_was_read_is_refused(world_a):
    w = world_a
    mark = make_posted_mark(w)  # version 1, by the teacher
    period = marking_period(w)
    client = api(token_for(w))
    seen_before = target_mark(w.students[0], w.targets[0], "4", reason="Oral check", version=0)
    body = assert_error(posting(client, w, section_body(w, period, [seen_before])), 400)
    assert "Someone posted this mark meanwhile" in body["errors"]["marks[0]"][0]
    seen_now = {**seen_before, "version": mark.version}
    assert posting(client, w, section_body(w, period, [seen_now])).status_code == 201


def test_a_changed_computed_mark_and_a_duplicate_are_refused(world_a):
    w = world_a
    period = marking_period(w)
    client = api(token_for(w, w.teacher))
    stale = target_mark(w.students[0], w.targets[0], "", seen="3")
    body = assert_error(posting(client, w, section_body(w, period, [stale])), 400)
    assert "changed since the page was opened" in body["errors"]["marks[0]"][0]
    mark = target_mark(w.students[0], w.targets[0], "")
    body = assert_error(posting(client, w, section_body(w, period, [mark, dict(mark)])), 400)
    assert "marks[1] is the same mark as marks[0]" in body["errors"]["marks"][0]
    assert posted(w) == []


@pytest.mark.parametrize(
    ("change", "place"),
    [
        ({"marks": []}, "marks"),
        ({"marks": "all"}, "marks"),
        ({"section": "x"}, "section"),
        ({"period": 2**63}, "period"),
        ({"language": "fr"}, "language"),
        ({"marks": [{"student": 1, "kind": "grade", "subject": 0, "value": ""}]}, "marks[0].kind"),
        (
            {"marks": [{"student": 1, "kind": "course", "subject": -1, "value": ""}]},
            "marks[0].subject",
        ),
        ({"marks": [{"student": 1, "kind": "course", "subject": 0}]}, "marks[0].value"),
        (
            {
                "marks": [
                    {"student": 1, "kind": "course", "subject": 0, "value": "", "reason": "\x00"}
                ]
            },
            "marks[0].reason",
        ),
    ],
)
def test_a_malformed_post_names_the_field_and_writes_nothing(world_a, change, place):
    w = world_a
    body = {**section_body(w, marking_period(w), every_mark(w)), **change}
    errors = assert_error(posting(api(token_for(w, w.teacher)), w, body), 400)["errors"]
    assert place in errors, errors
    assert posted(w) == []


def test_a_key_of_another_section_or_school_is_refused(world_a, world_b):
    w = world_a
    period = marking_period(w)
    client = api(token_for(w, w.teacher))
    outsider = target_mark(w.other_students[0], w.targets[0], "")
    body = assert_error(posting(client, w, section_body(w, period, [outsider])), 400)
    assert "not a mark of this section" in body["errors"]["marks[0]"][0]
    foreign = {**section_body(w, period, every_mark(w)), "section": world_b.section.id}
    assert "section" in assert_error(posting(client, w, foreign), 400)["errors"]
    b_period = marking_period(world_b)
    body = assert_error(posting(client, w, section_body(w, b_period, every_mark(w))), 400)
    assert "period" in body["errors"]
    assert posted(w) == [] and posted(world_b) == []


def test_only_the_sections_teachers_and_school_admins_post(world_a):
    w = world_a
    body = section_body(w, marking_period(w), every_mark(w))
    assert_error(posting(api(token_for(w, w.counselor)), w, body), 403)
    assert_error(posting(api(token_for(w, w.other_teacher)), w, body), 403)
    assert posted(w) == []
    assert posting(api(token_for(w, w.admin)), w, body).status_code == 201


def test_after_the_window_closes_only_a_school_admin_posts_and_it_is_marked(world_a):
    w = world_a
    period = marking_period(w)
    with scopes_disabled():
        GradingPeriod.objects.filter(pk=period.pk).update(
            posting_opens_on=TODAY - timedelta(days=20), posting_closes_on=TODAY - timedelta(days=1)
        )
    body = section_body(w, period, every_mark(w))
    refused = assert_error(posting(api(token_for(w, w.teacher)), w, body), 400)
    assert "closed on" in refused["errors"]["non_field_errors"][0]
    assert posted(w) == []
    response = posting(api(token_for(w, w.admin)), w, body)
    assert response.status_code == 201 and response.json()["outside_window"] is True
    rows = api(token_for(w)).get(url(w, MARKS)).json()["results"]
    assert all(r["outside_window"] and r["posted_by"] == "Ada Admin" for r in rows)


def test_a_bank_code_posts_the_comment_in_every_language_it_has(world_a):
    w = world_a
    entry = make_comment_entry(w)
    period = marking_period(w)
    course = {"student": w.students[0].id, "kind": "course", "subject": 0, "value": ""}
    mine = {**course, "student": w.students[1].id, "comment": "Works hard"}
    body = section_body(w, period, [{**course, "comment": "m1"}, mine], language="es")
    assert posting(api(token_for(w, w.teacher)), w, body).status_code == 201
    rows = {
        r["student"]: r
        for r in api(token_for(w)).get(url(w, MARKS), {"kind": COURSE}).json()["results"]
    }
    first = w.students[0].first_name
    assert rows[w.students[0].id]["comment"] == {
        "en": f"{first} explains their reasoning clearly.",
        "es": f"{first} explica su razonamiento con claridad.",
    }
    assert rows[w.students[0].id]["comment_entry"] == entry.id
    assert rows[w.students[1].id]["comment"] == {"es": "Works hard"}


# --- The comment bank ----------------------------------------------------------------------------


def test_staff_read_the_comment_bank_and_retired_entries_are_marked(world_a):
    w = world_a
    live = make_comment_entry(w, "M1")
    old = make_comment_entry(w, "OLD")
    with scopes_disabled():
        type(old).objects.filter(pk=old.pk).update(retired_at="2026-01-05T10:00:00Z")
    client = api(token_for(w, w.teacher))
    rows = client.get(url(w, "comment-bank")).json()["results"]
    assert [(r["code"], r["retired"]) for r in rows] == [("M1", False), ("OLD", True)]
    assert rows[0]["texts"]["es"].startswith("{first_name} explica")
    offered = client.get(url(w, "comment-bank"), {"retired": "false"}).json()["results"]
    assert [r["id"] for r in offered] == [live.id]
    # Read only: the bank is kept on its page.
    assert_error(client.post(url(w, "comment-bank"), {"code": "X"}), 405)
    assert_error(api(token_for(w)).delete(url(w, "comment-bank", live.id)), 405)


# --- A full section in one request, in a constant number of queries -----------------------------


def _targets(w, count: int) -> None:
    """The world's course with `count` targets in all."""
    with scopes_disabled():
        for i in range(len(w.targets), count):
            target = LearningTarget.objects.create(
                school=w.school,
                competency=w.competency,
                department=w.department,
                code=f"ALPHA.G{i + 1}",
                statement=f"I can do more thing {i + 1}.",
                position=i,
            )
            CourseTarget.objects.create(school=w.school, course=w.course, target=target, position=i)
            w.targets.append(target)


def _class_of(w, size: int) -> None:
    for i in range(len(w.students), size):
        w.students.append(
            make_student(
                w.school,
                f"alpha-{i}",
                first=f"Student{i}",
                sections=[w.section],
                enrolled_on=w.term.starts_on,
            )
        )


def _everything(w, period, value: str) -> dict:
    marks = every_mark(w, period=period)
    for mark in marks:
        if mark["kind"] == TARGET:  # each target overridden, the course grade as computed
            mark["value"], mark["reason"] = value, "Checked in conference"
    return section_body(w, period, marks)


# The user (its session is in the cache) and the membership (2); the section, its teacher and the
# period (3); then the post in one transaction (16 with its savepoint and release): the section's
# lock, its marks computed (7), the current marks, the scale, one insert of the marks (in a
# savepoint of its own: 3) and one of their audit events.
QUERIES_POSTING = 21  # (a token would stamp its last use at most once a minute: one more, or not)


def test_posting_35_students_by_15_targets_takes_as_many_queries_as_3(
    client, world_a, django_assert_num_queries
):
    w = world_a
    _targets(w, 15)
    make_evidence(w, w.students[0], w.targets[0], "3")
    period = marking_period(w)
    client.force_login(w.teacher)
    body = _everything(w, period, "4")
    with django_assert_num_queries(QUERIES_POSTING):
        response = posting(client, w, body)
    assert response.status_code == 201, response.content
    assert response.json()["written"] == 3 * 16  # 15 targets and the course grade each
    _class_of(w, 35)
    body = _everything(w, period, "3")
    with django_assert_num_queries(QUERIES_POSTING):
        response = posting(client, w, body)
    assert response.status_code == 201, response.content
    # Every mark of the 35, but the first three's course grades: posted already as they are.
    assert (response.json()["written"], response.json()["unchanged"]) == (35 * 16 - 3, 3)
    assert len(posted(w)) == 3 * 16 + 35 * 16 - 3
