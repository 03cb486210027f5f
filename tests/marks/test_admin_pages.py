"""The school admin's pages of the marks of record (issue [14] items 3, 4, 5): the periods' posting
windows and the course grade's form, a period's posting progress and overridden marks, and the
comment bank — as school admins use them, as other roles and another school's people try them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django_scopes import scope, scopes_disabled

from gradebook.models import GradingPeriod, Section, SectionTeacher
from marks.computing import COURSE, TARGET
from marks.models import CommentBankEntry, MarkSettings, PostedMark
from marks.services import MarkEntry, PostingError, live_bank
from mastery.models import AuditEvent, Department, District, DistrictMembership
from tests.factories import make_comment_entry, make_student, make_user
from tests.gradebook.pages import page
from tests.marks.test_key import TODAY, computed, periods, post

# The progress page, whatever the number of sections, students and marks: the user and the
# membership (2; the session is in the cache), the periods (1), the sections with their enrolment
# counts, their teachers and the posted marks' counts (3), the overridden marks (1).
QUERIES_PROGRESS = 7


def url(w, name: str, *args, **query) -> str:
    address = reverse(f"marks:{name}", args=[w.school.slug, *args])
    return address + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def events(w, object_type) -> list[AuditEvent]:
    with scopes_disabled():
        return list(AuditEvent.objects.filter(school=w.school, object_type=object_type))


def reload(obj):
    with scopes_disabled():
        obj.refresh_from_db()
    return obj


def entries(w) -> list[CommentBankEntry]:
    with scopes_disabled():
        return list(CommentBankEntry.objects.filter(school=w.school).order_by("code"))


def entry_form(**changes) -> dict:
    data = {
        "code": "M3",
        "department": "",
        "target": "",
        "level": "",
        "text_en": "{first_name} explains their reasoning.",
        "text_es": "{first_name} explica su razonamiento.",
    }
    data.update(changes)
    return data


def window(period, opens, closes) -> dict:
    return {
        "action": "window",
        "period": str(period.id),
        "opens_on": opens.isoformat() if opens else "",
        "closes_on": closes.isoformat() if closes else "",
    }


# --- Who gets in ---------------------------------------------------------------------------------


def test_each_page_renders_for_a_school_admin(client, world_a):
    w = world_a
    client.force_login(w.admin)
    # Before any grading period: each page says what to do first.
    assert "no grading periods yet" in page(client.get(url(w, "progress")))
    assert "no grading periods yet" in page(client.get(url(w, "periods")))
    q1, q2 = periods(w)
    entry = make_comment_entry(w)
    periods_page = page(client.get(url(w, "periods")))
    assert "Q1" in periods_page and "Q2" in periods_page
    assert "outside the window only a school admin can post" in periods_page.lower()
    assert 'name="course_grade_form"' in periods_page
    progress = client.get(url(w, "progress"))
    assert progress.status_code == 200
    assert "Algebra 1 · Period 1" in page(progress) and "Tess Teacher" in page(progress)
    bank = page(client.get(url(w, "comments")))
    assert "{first_name} explains their reasoning clearly." in bank
    assert "{first_name} explica su razonamiento con claridad." in bank
    assert "{last_name}" in bank and "{course}" in bank  # the placeholders explained
    edit = client.get(url(w, "comment", entry.id))
    assert edit.status_code == 200 and "Retire M1" in page(edit)


def test_school_admins_find_the_pages_from_the_school_home(client, world_a):
    w = world_a
    client.force_login(w.admin)
    home = page(client.get(reverse("school_home", args=[w.school.slug])))
    assert f'href="{url(w, "progress")}"' in home and "Marks of record" in home
    client.force_login(w.teacher)
    assert "Marks of record" not in page(client.get(reverse("school_home", args=[w.school.slug])))


@pytest.mark.parametrize("member", ["teacher", "counselor", "guardian", "student_user"])
def test_other_roles_are_refused_and_change_nothing(client, world_a, member):
    w = world_a
    q1, _ = periods(w)
    entry = make_comment_entry(w)
    client.force_login(getattr(w, member))
    for name, args in (
        ("progress", []),
        ("periods", []),
        ("comments", []),
        ("comment", [entry.id]),
    ):
        assert client.get(url(w, name, *args)).status_code == 403
    assert (
        client.post(url(w, "periods"), window(q1, TODAY, TODAY + timedelta(3))).status_code == 403
    )
    grade_form = {"action": "grade_form", "course_grade_form": "gpa"}
    assert client.post(url(w, "periods"), grade_form).status_code == 403
    assert client.post(url(w, "comments"), entry_form()).status_code == 403
    assert client.post(url(w, "comment", entry.id), entry_form(code="M1")).status_code == 403
    assert client.post(url(w, "comment", entry.id), {"action": "retire"}).status_code == 403
    assert reload(q1).posting_opens_on is None
    assert [e.code for e in entries(w)] == ["M1"] and reload(entry).retired_at is None
    with scopes_disabled():
        assert not MarkSettings.objects.filter(school=w.school).exists()
    assert not events(w, AuditEvent.ObjectType.PERIOD)
    assert not events(w, AuditEvent.ObjectType.COMMENT_BANK)


def test_a_district_admin_is_refused_as_on_the_other_set_up_pages(client, world_a):
    w = world_a
    district = District.objects.create(name="North", slug="north")
    w.school.district = district
    w.school.save()
    chief = make_user("chief@north.test", "Chief")
    DistrictMembership.objects.create(district=district, user=chief)
    client.force_login(chief)
    assert client.get(url(w, "progress")).status_code == 403
    assert client.get(url(w, "comments")).status_code == 403


def test_school_bs_admin_can_neither_see_nor_change_school_as_periods_or_comments(
    client, world_a, world_b
):
    a, b = world_a, world_b
    q1, _ = periods(a)
    entry = make_comment_entry(a)
    client.force_login(b.admin)
    # Through school A's address: not a member there.
    for name, args in (
        ("progress", []),
        ("periods", []),
        ("comments", []),
        ("comment", [entry.id]),
    ):
        assert client.get(url(a, name, *args)).status_code == 404
    assert client.post(url(a, "periods"), window(q1, TODAY, None)).status_code == 404
    # Through school B's own address, with school A's ids.
    assert client.get(url(b, "progress", period=q1.id)).status_code == 404
    assert client.post(url(b, "periods"), window(q1, TODAY, None)).status_code == 404
    assert client.get(url(b, "comment", entry.id)).status_code == 404
    assert client.post(url(b, "comment", entry.id), {"action": "retire"}).status_code == 404
    assert client.post(url(b, "comment", entry.id), entry_form(code="M1")).status_code == 404
    assert reload(q1).posting_opens_on is None and reload(entry).retired_at is None
    assert reload(entry).texts["en"].startswith("{first_name} explains their reasoning clearly")
    # School B's bank never shows A's entry, and B may use the same code.
    assert "M1" not in page(client.get(url(b, "comments")))
    assert client.post(url(b, "comments"), entry_form(code="M1")).status_code == 302
    # A's department or target cannot narrow B's entry.
    refused = client.post(
        url(b, "comments"), entry_form(code="M9", department=str(a.department.id))
    )
    assert refused.status_code == 422
    refused = client.post(url(b, "comments"), entry_form(code="M9", target=a.targets[0].code))
    assert refused.status_code == 422 and "No learning target of this school" in page(refused)
    assert [e.code for e in entries(b)] == ["M1"]


# --- Periods: the posting window and the course grade's form -------------------------------------


def test_an_admin_sets_a_periods_posting_window_audited(client, world_a):
    w = world_a
    q1, q2 = periods(w)
    client.force_login(w.admin)
    answer = client.post(url(w, "periods"), window(q1, TODAY - timedelta(2), TODAY + timedelta(5)))
    assert answer.status_code == 302
    q1 = reload(q1)
    assert (q1.posting_opens_on, q1.posting_closes_on) == (
        TODAY - timedelta(2),
        TODAY + timedelta(5),
    )
    assert reload(q2).posting_opens_on is None  # only the period sent
    [event] = events(w, AuditEvent.ObjectType.PERIOD)
    assert event.actor_id == w.admin.id and event.object_id == q1.id
    shown = page(client.get(answer["Location"]))
    assert "Posting window of This year · Q1 saved." in shown
    assert f'value="{(TODAY + timedelta(5)).isoformat()}"' in shown
    # Sent again (a double click): nothing written.
    client.post(url(w, "periods"), window(q1, TODAY - timedelta(2), TODAY + timedelta(5)))
    assert len(events(w, AuditEvent.ObjectType.PERIOD)) == 1
    # Emptied: open on both sides.
    client.post(url(w, "periods"), window(q1, None, None))
    q1 = reload(q1)
    assert (q1.posting_opens_on, q1.posting_closes_on) == (None, None)


@pytest.mark.parametrize(
    ("opens", "closes", "message"),
    [
        ("2026-05-10", "2026-05-01", "The window must close on or after the day it opens."),
        ("2026-02-30", "", "Enter the date as YYYY-MM-DD."),
        ("soon", "", "Enter the date as YYYY-MM-DD."),
        ("0001-01-01", "", "Enter a date between 1900-01-01 and 9998-12-31."),
    ],
)
def test_bad_window_dates_get_a_clear_message_and_change_nothing(
    client, world_a, opens, closes, message
):
    w = world_a
    q1, _ = periods(w)
    client.force_login(w.admin)
    data = {"action": "window", "period": str(q1.id), "opens_on": opens, "closes_on": closes}
    answer = client.post(url(w, "periods"), data)
    assert answer.status_code == 422
    assert message in page(answer)
    assert reload(q1).posting_opens_on is None and reload(q1).posting_closes_on is None
    assert not events(w, AuditEvent.ObjectType.PERIOD)


@pytest.mark.parametrize("period", ["", "abc", "99999999999999999999999", "-1"])
def test_a_window_for_no_period_answers_404(client, world_a, period):
    w = world_a
    periods(w)
    client.force_login(w.admin)
    data = {"action": "window", "period": period, "opens_on": "", "closes_on": ""}
    assert client.post(url(w, "periods"), data).status_code == 404


def test_the_window_decides_who_may_post(client, world_a):
    """Closed for teachers once the admin sets it so; an admin still posts, audited as outside."""
    w = world_a
    q1, _ = periods(w)
    client.force_login(w.admin)
    client.post(url(w, "periods"), window(q1, TODAY - timedelta(9), TODAY - timedelta(1)))
    q1 = reload(q1)
    keys = list(computed(w, w.section, q1).items())
    key, c = keys[0]
    with pytest.raises(PostingError, match="closed"):
        post(w, w.section, q1, [MarkEntry(key=key, value=c.value, seen=c.value)])
    result = post(
        w, w.section, q1, [MarkEntry(key=key, value=c.value, seen=c.value)], by=w.admin, admin=True
    )
    assert result.outside_window
    progress = page(client.get(url(w, "progress", period=q1.id)))
    assert "closed today" in progress


def test_an_admin_chooses_how_the_course_grade_is_shown(client, world_a):
    w = world_a
    client.force_login(w.admin)
    answer = client.post(url(w, "periods"), {"action": "grade_form", "course_grade_form": "gpa"})
    assert answer.status_code == 302
    with scopes_disabled():
        assert MarkSettings.objects.get(school=w.school).course_grade_form == "gpa"
    assert 'value="gpa" selected' in page(client.get(url(w, "periods")))
    refused = client.post(url(w, "periods"), {"action": "grade_form", "course_grade_form": "stars"})
    assert refused.status_code == 422 and "Select a valid choice" in page(refused)
    with scopes_disabled():
        assert MarkSettings.objects.get(school=w.school).course_grade_form == "gpa"
    assert client.post(url(w, "periods"), {"action": "nothing"}).status_code == 400


# --- Progress: who has posted, what is overridden ------------------------------------------------


def progress_world(w):
    """Q1 with: Period 1 posted for every student, with one override; Period 2 posted for one of
    its two students; a third section not posted at all."""
    q1, q2 = periods(w)
    with scopes_disabled():
        third = Section.objects.create(
            school=w.school, course=w.course, term=w.term, name="Period 3", period=3
        )
        SectionTeacher.objects.create(school=w.school, section=third, teacher=w.other_teacher)
    make_student(w.school, "p3-0", first="Third", sections=[third], enrolled_on=w.term.starts_on)
    marks = computed(w, w.section, q1)
    overridden_key = (w.students[1].id, TARGET, w.targets[0].id)
    sent = [
        MarkEntry(key=k, value=c.value, seen=c.value)
        if k != overridden_key
        else MarkEntry(key=k, value="4", reason="Her portfolio shows it", seen=c.value)
        for k, c in marks.items()
    ]
    post(w, w.section, q1, sent)
    partial = [
        MarkEntry(key=k, value=c.value, seen=c.value)
        for k, c in computed(w, w.other_section, q1).items()
        if k[0] == w.other_students[0].id
    ]
    post(w, w.other_section, q1, partial, by=w.other_teacher)
    return q1, q2, third


def test_progress_counts_each_sections_state_and_lists_the_overrides(client, world_a):
    w = world_a
    q1, _, third = progress_world(w)
    client.force_login(w.admin)
    shown = page(client.get(url(w, "progress", period=q1.id)))
    assert "3 sections: 1 posted, 1 partly posted, 1 not posted." in shown
    assert "(1 of 2 students)" in shown
    # Each section links to its posting grid for the period.
    for section in (w.section, w.other_section, third):
        assert f'href="/s/{w.school.slug}/marks/sections/{section.id}/?period={q1.id}"' in shown
    # The override: who, what, computed → posted, why.
    student = w.students[1]
    assert f"{student.last_name}, {student.first_name}" in shown
    assert w.targets[0].code in shown and "Her portfolio shows it" in shown
    assert "not enough evidence → <strong>4</strong>" in shown and "Tess Teacher" in shown
    # Only the sections not posted.
    only = page(client.get(url(w, "progress", period=q1.id, state="not")))
    assert "Algebra 1 · Period 3</a>" in only and "Algebra 1 · Period 1</a>" not in only
    # A later re-post to the computed value (with its reason) takes the mark off the list.
    key = (student.id, TARGET, w.targets[0].id)
    post(w, w.section, q1, [MarkEntry(key=key, value="", reason="Checked again")])
    assert "Her portfolio shows it" not in page(client.get(url(w, "progress", period=q1.id)))


def test_progress_shows_the_open_period_by_default_else_the_latest_begun(client, world_a):
    w = world_a
    q1, q2 = periods(w)
    client.force_login(w.admin)
    assert "This year Q2" in page(client.get(url(w, "progress")))  # the latest begun
    with scopes_disabled():
        GradingPeriod.objects.filter(pk=q1.pk).update(
            posting_opens_on=TODAY - timedelta(1), posting_closes_on=TODAY + timedelta(1)
        )
    assert "This year Q1" in page(client.get(url(w, "progress")))  # its window is open
    assert client.get(url(w, "progress", period="nope")).status_code == 404
    assert client.get(url(w, "progress", period=q2.id, state="weird")).status_code == 200


def test_the_progress_page_runs_a_constant_number_of_queries(
    client, world_a, django_assert_num_queries
):
    w = world_a
    q1, _, _ = progress_world(w)
    client.force_login(w.admin)
    with django_assert_num_queries(QUERIES_PROGRESS):
        assert client.get(url(w, "progress", period=q1.id)).status_code == 200
    # Five more sections, each with a teacher, students and posted marks, one more override.
    for i in range(5):
        with scopes_disabled():
            section = Section.objects.create(
                school=w.school, course=w.course, term=w.term, name=f"Extra {i}", period=4 + i
            )
            SectionTeacher.objects.create(school=w.school, section=section, teacher=w.teacher)
        for j in range(2):
            make_student(w.school, f"x{i}-{j}", sections=[section], enrolled_on=w.term.starts_on)
        sent = [
            MarkEntry(key=k, value=c.value, seen=c.value)
            if k[1] != COURSE
            else MarkEntry(key=k, value="A", reason="Exhibition", seen=c.value)
            for k, c in computed(w, section, q1).items()
        ]
        post(w, section, q1, sent)
    with django_assert_num_queries(QUERIES_PROGRESS):
        shown = client.get(url(w, "progress", period=q1.id))
    assert "8 sections: 6 posted" in page(shown)


# --- The comment bank ----------------------------------------------------------------------------


def test_an_admin_adds_a_comment_in_english_and_spanish_audited(client, world_a):
    w = world_a
    client.force_login(w.admin)
    answer = client.post(
        url(w, "comments"),
        entry_form(department=str(w.department.id), target=w.targets[1].code.lower(), level="3"),
    )
    assert answer.status_code == 302
    [entry] = entries(w)
    assert entry.code == "M3" and entry.department_id == w.department.id
    assert entry.target_id == w.targets[1].id and entry.level == 3
    assert entry.texts == {
        "en": "{first_name} explains their reasoning.",
        "es": "{first_name} explica su razonamiento.",
    }
    assert entry.created_by_id == w.admin.id
    [event] = events(w, AuditEvent.ObjectType.COMMENT_BANK)
    assert event.action == AuditEvent.Action.CREATE and event.actor_id == w.admin.id
    shown = page(client.get(answer["Location"]))
    assert "Comment M3 saved." in shown and "explica su razonamiento" in shown
    # The same form again (a double click): the code is taken, nothing more is written.
    again = client.post(url(w, "comments"), entry_form(code="m3"))
    assert again.status_code == 422 and "The code M3 is already used." in page(again)
    assert len(entries(w)) == 1
    # One language is enough.
    assert client.post(url(w, "comments"), entry_form(code="S1", text_en="")).status_code == 302
    assert entries(w)[1].texts == {"es": "{first_name} explica su razonamiento."}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"text_en": "{foo} is great"}, "Unknown placeholder {foo}"),
        ({"text_es": "Bien, {nombre}"}, "Unknown placeholder {nombre}"),
        ({"text_en": "Good work {first_name"}, "remove the lone brace"),
        ({"text_en": "", "text_es": "  "}, "Write the comment in at least one language."),
        ({"code": ""}, "This field is required."),
        ({"code": "M 3"}, "A code is 1 to 12 letters"),
        ({"code": "ABCDEFGHIJKLM"}, "A code is 1 to 12 letters"),
        ({"target": "NO.SUCH"}, "No learning target of this school has the code NO.SUCH."),
        ({"level": "7"}, "Select a valid choice"),
        ({"department": "99999999999999999999999"}, "Select a valid choice"),
        ({"text_en": "x" * 2001}, "Keep the text under 2000 characters."),
    ],
)
def test_a_bad_comment_gets_a_clear_message_and_nothing_is_written(
    client, world_a, changes, message
):
    w = world_a
    client.force_login(w.admin)
    answer = client.post(url(w, "comments"), entry_form(**changes))
    assert answer.status_code == 422
    assert message in page(answer)
    assert entries(w) == []
    assert not events(w, AuditEvent.ObjectType.COMMENT_BANK)


def test_a_target_of_another_department_refused(client, world_a):
    w = world_a
    with scopes_disabled():
        science = Department.objects.create(school=w.school, name="Science", code="SCI")
    client.force_login(w.admin)
    answer = client.post(
        url(w, "comments"), entry_form(department=str(science.id), target=w.targets[0].code)
    )
    assert answer.status_code == 422
    assert f"{w.targets[0].code} is not a target of Science." in page(answer)


def test_an_admin_edits_a_comment_audited_and_an_unchanged_save_writes_nothing(client, world_a):
    w = world_a
    entry = make_comment_entry(w)
    client.force_login(w.admin)
    edit = page(client.get(url(w, "comment", entry.id)))
    assert "{first_name} explica su razonamiento con claridad." in edit  # the form is filled
    data = entry_form(code="M1", text_en="{first_name} reasons clearly in {course}.")
    answer = client.post(url(w, "comment", entry.id), data)
    assert answer.status_code == 302 and answer["Location"] == url(w, "comments")
    assert reload(entry).texts["en"] == "{first_name} reasons clearly in {course}."
    [event] = events(w, AuditEvent.ObjectType.COMMENT_BANK)
    assert event.action == AuditEvent.Action.UPDATE
    assert event.before["texts"]["en"] == "{first_name} explains their reasoning clearly."
    assert event.after["texts"]["en"] == "{first_name} reasons clearly in {course}."
    client.post(url(w, "comment", entry.id), data)  # again: unchanged
    assert len(events(w, AuditEvent.ObjectType.COMMENT_BANK)) == 1
    # Its own code is not "taken"; another entry's is.
    make_comment_entry(w, "M2")
    refused = client.post(url(w, "comment", entry.id), entry_form(code="m2"))
    assert refused.status_code == 422 and "The code M2 is already used." in page(refused)
    assert reload(entry).code == "M1"
    refused = client.post(url(w, "comment", entry.id), entry_form(code="M1", text_en="{foo}"))
    assert refused.status_code == 422 and "Unknown placeholder {foo}" in page(refused)
    assert reload(entry).texts["en"] == "{first_name} reasons clearly in {course}."


def test_an_admin_retires_a_comment_and_brings_it_back_never_deleting_it(client, world_a):
    w = world_a
    entry = make_comment_entry(w)
    client.force_login(w.admin)
    answer = client.post(url(w, "comment", entry.id), {"action": "retire"})
    assert answer.status_code == 302
    assert reload(entry).retired_at is not None
    with scope(school=w.school):
        assert "m1" not in live_bank(w.school)  # teachers no longer pick it
    bank = page(client.get(url(w, "comments")))
    assert "Retired entries" in bank and "M1" in bank
    client.post(url(w, "comment", entry.id), {"action": "retire"})  # a double click
    assert len(events(w, AuditEvent.ObjectType.COMMENT_BANK)) == 1
    # Its code stays taken while retired.
    taken = client.post(url(w, "comments"), entry_form(code="M1"))
    assert "The code M1 is already used by a retired entry." in page(taken)
    client.post(url(w, "comment", entry.id), {"action": "restore"})
    assert reload(entry).retired_at is None
    with scope(school=w.school):
        assert "m1" in live_bank(w.school)
    assert len(events(w, AuditEvent.ObjectType.COMMENT_BANK)) == 2


def test_editing_a_comment_never_changes_a_posted_marks_comment(client, world_a):
    w = world_a
    q1, _ = periods(w)
    entry = make_comment_entry(w)
    student = w.students[0]
    key = (student.id, COURSE, 0)
    c = computed(w, w.section, q1)[key]
    post(w, w.section, q1, [MarkEntry(key=key, value=c.value, comment="M1", seen=c.value)])
    with scopes_disabled():
        [mark] = PostedMark.objects.filter(school=w.school)
    assert mark.comment_entry_id == entry.id
    assert mark.comment["en"] == f"{student.first_name} explains their reasoning clearly."
    client.force_login(w.admin)
    changed = entry_form(code="M1", text_en="{first_name} needs to show more work.", text_es="")
    assert client.post(url(w, "comment", entry.id), changed).status_code == 302
    client.post(url(w, "comment", entry.id), {"action": "retire"})
    with scopes_disabled():
        [same] = PostedMark.objects.filter(school=w.school)
    assert same.comment == {
        "en": f"{student.first_name} explains their reasoning clearly.",
        "es": f"{student.first_name} explica su razonamiento con claridad.",
    }
    assert same.version == 1
