"""Intervention cycles: the lifecycle and pages, a real worker, and input no row can hold."""

from __future__ import annotations

import csv
import io
import subprocess
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django_scopes import scope, scopes_disabled

from intervention.models import (
    InterventionCycle,
    InterventionGroup,
    InterventionSlot,
    RosterEntry,
    SessionAttendance,
)
from intervention.services import cycle_close
from intervention.tasks import dispatch_cycles
from mastery.models import AuditEvent
from tests.factories import make_world
from tests.intervention.support import MONDAY, build, configure, set_mastery
from tests.workers import celery_worker

# --- Pages -----------------------------------------------------------------------------------------


@pytest.fixture
def cycle_w(w):
    cycle = configure(w, weekdays=(2, 3), capacity=2)
    for student, score in zip(w.students, (1, 2, "2.5"), strict=True):
        set_mastery(w, student, w.targets[0], score)
    set_mastery(w, w.other_students[0], w.targets[0], 4)
    build(w, cycle)
    return w, cycle


def test_the_counselor_sees_the_cycle_and_each_days_roster(client, cycle_w):
    w, cycle = cycle_w
    client.force_login(w.counselor)
    home = client.get(reverse("intervention:home", args=[w.school.slug]))
    assert (
        home.status_code == 200
        and b"Cycle 1" in home.content
        and b"Wednesday roster" in home.content
    )
    page = client.get(
        reverse("intervention:day", args=[w.school.slug, cycle.id, 2])
    ).content.decode()
    assert w.targets[0].code in page and w.teacher.full_name in page and "Enrichment" in page
    assert w.students[0].sortable_name in page and "Wait list" in page


def test_the_roster_downloads_as_csv_and_as_a_real_pdf(client, cycle_w, tmp_path, in_school):
    w, cycle = cycle_w
    client.force_login(w.counselor)
    url = reverse("intervention:day", args=[w.school.slug, cycle.id, 2])
    response = client.get(url, {"format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert {r["student"] for r in rows} >= {w.students[0].sortable_name}
    with in_school(w):
        leader = InterventionGroup.objects.get(
            school=w.school, cycle=cycle, weekday=2, kind="reteach"
        ).teacher
    assert any(r["group"] == w.targets[0].code and r["teacher"] == leader.full_name for r in rows)
    pdf = client.get(url, {"format": "pdf"})
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    path = tmp_path / "roster.pdf"
    path.write_bytes(pdf.content)
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert w.targets[0].code in text and w.students[0].sortable_name in text and "Page 1 of" in text


def wednesday_move(w, cycle):
    """Wednesday's first wait-listed re-teach entry, the enrichment group and the (full) re-teach
    group: what the move tests move between."""
    with scope(school=w.school):
        waiting = RosterEntry.objects.filter(
            school=w.school, cycle=cycle, weekday=2, group__isnull=True, kind="reteach"
        ).first()
        enrichment = InterventionGroup.objects.get(
            school=w.school, cycle=cycle, weekday=2, kind="enrichment"
        )
        full = InterventionGroup.objects.get(
            school=w.school, cycle=cycle, weekday=2, kind="reteach"
        )
    return waiting, enrichment, full


def test_moving_a_student_locks_the_entry_and_a_full_group_refuses(client, cycle_w):
    w, cycle = cycle_w
    client.force_login(w.counselor)
    waiting, enrichment, full = wednesday_move(w, cycle)
    url = reverse("intervention:entry_move", args=[w.school.slug, waiting.id])
    refused = client.post(url, {"group": full.id}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 422 and b"That group is full" in refused.content
    response = client.post(url, {"group": enrichment.id})
    assert response.status_code == 302
    waiting.refresh_from_db()
    assert waiting.group_id == enrichment.id and waiting.locked and waiting.kind == "enrichment"


def test_a_move_without_javascript_comes_back_to_the_entry_with_the_message_beside_it(
    client, cycle_w
):
    """Issue 10 item 9: the move page is a plain form; a move returns to the roster at the entry
    (#e-<id>) and says what happened in its row; a refused one stays on the form with the reason."""
    w, cycle = cycle_w
    client.force_login(w.counselor)
    waiting, enrichment, full = wednesday_move(w, cycle)
    url = reverse("intervention:entry_move", args=[w.school.slug, waiting.id])
    form = client.get(url)
    assert form.status_code == 200 and f'<option value="{full.id}"'.encode() in form.content
    refused = client.post(url, {"group": full.id})
    assert refused.status_code == 422 and b"That group is full" in refused.content
    assert f'<option value="{full.id}" selected'.encode() in refused.content  # the choice shown
    waiting.refresh_from_db()
    assert waiting.group_id is None and not waiting.locked
    moved = client.post(url, {"group": enrichment.id})
    day = reverse("intervention:day", args=[w.school.slug, cycle.id, 2])
    assert moved.status_code == 302 and moved["Location"] == f"{day}#e-{waiting.id}"
    page = client.get(day).content.decode()
    row = page[page.index(f'<tr id="e-{waiting.id}"') :]
    row = row[: row.index("</tr>")]
    assert "moved to Enrichment" in row and 'role="status"' in row


def test_a_move_with_htmx_answers_the_row_and_the_two_groups_not_the_page(client, cycle_w):
    w, cycle = cycle_w
    client.force_login(w.counselor)
    waiting, enrichment, _ = wednesday_move(w, cycle)
    url = reverse("intervention:entry_move", args=[w.school.slug, waiting.id])
    inline = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in inline and 'hx-target="closest tr"' in inline
    answer = client.post(url, {"group": enrichment.id}, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in answer and "<style" not in answer  # nothing the page's CSP refuses
    assert answer.lstrip().startswith(f'<tr id="moved-{waiting.id}"')
    assert f'<tbody id="gb-{enrichment.id}" hx-swap-oob="true">' in answer
    assert f'<tr id="e-{waiting.id}">' in answer  # the student in the joined group
    assert 'id="nc-wait" hx-swap-oob="true">' in answer  # the wait list's count


def test_a_room_reads_once_whether_it_was_typed_with_the_word_or_without(
    client, cycle_w, in_school
):
    """Issue 10 item 12: "Room 216" typed as the room showed as "Room Room 216"."""
    w, cycle = cycle_w
    with in_school(w):
        named, numbered = InterventionGroup.objects.filter(school=w.school, cycle=cycle, weekday=2)[
            :2
        ]
        named.room, numbered.room = "Room 216", "108"
        named.save(), numbered.save()
    client.force_login(w.counselor)
    roster = client.get(reverse("intervention:day", args=[w.school.slug, cycle.id, 2]))
    sheet = client.get(reverse("intervention:attendance", args=[w.school.slug, named.id]))
    for page in (roster.content.decode(), sheet.content.decode()):
        assert "Room 216" in page and "Room Room" not in page
    assert "Room 108" in roster.content.decode()


def test_attendance_is_taken_per_session_and_only_on_session_dates(client, cycle_w):
    w, cycle = cycle_w
    with scopes_disabled():
        group = InterventionGroup.objects.get(
            school=w.school, cycle=cycle, weekday=2, kind="reteach"
        )
        entry = group.entries.first()
        leader = group.teacher
    other = w.other_teacher if leader == w.teacher else w.teacher
    client.force_login(leader)  # the group's teacher
    url = reverse("intervention:attendance", args=[w.school.slug, group.id])
    session = cycle.session_dates(2)[0]
    response = client.post(f"{url}?date={session.isoformat()}", {f"a-{entry.id}": "absent"})
    assert response.status_code == 302
    with scopes_disabled():
        assert SessionAttendance.objects.get(entry=entry, session_date=session).status == "absent"
    assert client.get(f"{url}?date={(session + timedelta(days=1)).isoformat()}").status_code == 404
    client.force_login(other)  # not their group
    assert client.get(url).status_code == 404


def test_teachers_see_their_own_groups_and_families_see_no_intervention_pages(
    client, cycle_w, in_school
):
    w, cycle = cycle_w
    with in_school(w):
        leader = InterventionGroup.objects.get(
            school=w.school, cycle=cycle, weekday=2, kind="reteach"
        ).teacher
    client.force_login(leader)
    mine = client.get(reverse("intervention:mine", args=[w.school.slug]))
    assert mine.status_code == 200 and w.targets[0].code.encode() in mine.content
    assert b"Evidence and reassessment" in mine.content
    home = client.get(reverse("school_home", args=[w.school.slug]))
    assert (
        b"This week&#x27;s intervention groups" in home.content
        or b"This week's intervention groups" in home.content
    )
    for member in (w.guardian, w.student_user):
        client.force_login(member)
        assert client.get(reverse("intervention:home", args=[w.school.slug])).status_code == 403


def test_exit_statistics_and_a_students_history(client, cycle_w):
    w, cycle = cycle_w
    set_mastery(w, w.students[0], w.targets[0], 3)
    with scope(school=w.school):
        cycle_close(school=w.school, cycle=cycle)
    client.force_login(w.counselor)
    stats = client.get(
        reverse("intervention:stats", args=[w.school.slug, cycle.id])
    ).content.decode()
    assert w.targets[0].code in stats and "Exit rate" in stats
    history = client.get(
        reverse("intervention:history", args=[w.school.slug, w.students[0].id])
    ).content.decode()
    assert "Exited" in history


def test_only_managers_rebuild_open_or_close(client, cycle_w):
    w, cycle = cycle_w
    client.force_login(w.teacher)
    assert (
        client.post(
            reverse("intervention:cycle_rebuild", args=[w.school.slug, cycle.id])
        ).status_code
        == 403
    )
    client.force_login(w.counselor)
    preview = client.post(
        reverse("intervention:cycle_rebuild", args=[w.school.slug, cycle.id]), {"dry_run": "1"}
    )
    assert preview.status_code == 200 and b"A rebuild would give" in preview.content


# --- A real worker ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_celery_worker_runs_the_dispatcher_against_redis(in_school):
    w = make_world("intworker", students=3)
    cycle = configure(w)
    set_mastery(w, w.students[0], w.targets[0], 2)
    build(w, cycle)
    with scopes_disabled():
        InterventionCycle.objects.filter(pk=cycle.pk).update(
            starts_on=MONDAY - timedelta(days=28), ends_on=MONDAY - timedelta(days=1)
        )
    with celery_worker() as worker:
        dispatch_cycles.delay()
        deadline = time.monotonic() + 60
        opened = None
        while time.monotonic() < deadline and opened is None:
            with in_school(w):
                opened = InterventionCycle.objects.filter(
                    school=w.school, number=2, status="open"
                ).first()
            assert worker.alive()
            time.sleep(0.5)
        assert opened is not None, "the worker did not advance the cycle"
        with in_school(w):
            assert InterventionCycle.objects.get(pk=cycle.pk).status == "closed"
            assert RosterEntry.objects.filter(cycle=opened, student=w.students[0]).exists()
    assert "intervention.dispatch_cycles" in worker.output
    assert "intervention.advance_school_cycle" in worker.output


# --- Input no row can hold (issue 21 item 6) -------------------------------------------------------


@pytest.mark.parametrize("group", ["abc", "²", str(2**63)])
def test_a_move_to_a_group_that_is_no_id_is_refused_not_a_move_to_the_wait_list(
    client, cycle_w, group, in_school
):
    w, cycle = cycle_w
    with in_school(w):
        placed = RosterEntry.objects.filter(school=w.school, cycle=cycle, group__isnull=False)
        entry = placed.first()
    client.force_login(w.counselor)
    url = reverse("intervention:entry_move", args=[w.school.slug, entry.id])
    response = client.post(url, {"group": group}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert b"Choose a group of the same cycle and day." in response.content
    before = entry.group_id
    entry.refresh_from_db()
    assert entry.group_id == before and not entry.locked


def test_an_attendance_sheet_is_saved_whole_or_not_at_all(client, cycle_w):
    w, cycle = cycle_w
    with scopes_disabled():
        group = InterventionGroup.objects.get(
            school=w.school, cycle=cycle, weekday=2, kind="reteach"
        )
        entry = group.entries.first()
    client.force_login(group.teacher)
    url = reverse("intervention:attendance", args=[w.school.slug, group.id])
    session = cycle.session_dates(2)[0].isoformat()
    for other in (str(2**63), "²", "9" * 40):  # an id no student of the group has: 404
        response = client.post(url, {"date": session, f"a-{entry.id}": "absent", f"a-{other}": "x"})
        assert response.status_code == 404
    refused = client.post(url, {"date": session, f"a-{entry.id}": "late"})
    assert refused.status_code == 422
    with scopes_disabled():
        assert not SessionAttendance.objects.filter(entry__group=group).exists()


@pytest.mark.parametrize("slot", ["abc", "²", str(2**63)])
def test_removing_an_availability_that_is_no_id_is_a_404(client, cycle_w, slot, in_school):
    w, _ = cycle_w
    client.force_login(w.counselor)
    with in_school(w):
        slots = InterventionSlot.objects.filter(school=w.school).count()
    response = client.post(
        reverse("intervention:settings", args=[w.school.slug]),
        {"action": "remove_slot", "slot": slot},
    )
    assert response.status_code == 404
    with in_school(w):
        assert InterventionSlot.objects.filter(school=w.school).count() == slots


def test_settings_with_a_focus_subject_beyond_64_bits_answer_422(client, cycle_w):
    w, _ = cycle_w
    client.force_login(w.counselor)
    data = {
        "action": "settings",
        "s-cycle_weeks": "4",
        "s-weekdays": ["2"],
        "s-group_capacity": "10",
        "s-enrichment_capacity": "10",
        "s-focus": [str(2**63)],
    }
    response = client.post(reverse("intervention:settings", args=[w.school.slug]), data)
    assert response.status_code == 422 and b"is not a valid value" in response.content


@pytest.mark.parametrize("starts_on", ["9999-12-27", "0001-01-01", "2026-02-30"])
def test_opening_a_cycle_on_a_day_out_of_range_says_so(client, w, starts_on, in_school):
    client.force_login(w.counselor)
    response = client.post(
        reverse("intervention:cycle_open", args=[w.school.slug]),
        {"starts_on": starts_on},
        follow=True,
    )
    assert response.status_code == 200
    assert b"Enter a date between" in response.content or b"YYYY-MM-DD" in response.content
    with in_school(w):
        assert not InterventionCycle.objects.filter(school=w.school).exists()


def test_the_roster_pdf_footer_prints_the_schools_name_as_it_is_spelled(client, cycle_w, tmp_path):
    w, cycle = cycle_w
    w.school.name = 'St. Mary\'s "Anne-Marie" Academy'
    w.school.save()
    client.force_login(w.counselor)
    url = reverse("intervention:day", args=[w.school.slug, cycle.id, 2])
    path = tmp_path / "roster.pdf"
    path.write_bytes(client.get(url, {"format": "pdf"}).content)
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert 'St. Mary\'s "Anne-Marie" Academy · Cycle 1 · Wednesday' in text


def settings_post(client, w, **changes):
    data = {
        "action": "settings",
        "s-cycle_weeks": "4",
        "s-weekdays": ["2", "3"],
        "s-group_capacity": "8",
        "s-enrichment_capacity": "12",
        "s-focus": [str(w.department.id)],
        **changes,
    }
    return client.post(reverse("intervention:settings", args=[w.school.slug]), data)


def intervention_events(w):
    with scope(school=w.school):
        return list(
            AuditEvent.objects.filter(school=w.school, object_type="intervention")
            .select_related("actor")
            .order_by("id")
        )


def test_settings_and_availability_changes_are_in_the_audit_trail(client, cycle_w, in_school):
    """Who changed the cycle settings or a teacher's availability, from what to what."""
    w, _ = cycle_w
    client.force_login(w.counselor)
    before = len(intervention_events(w))
    assert settings_post(client, w).status_code == 302
    assert settings_post(client, w).status_code == 302  # saved twice unchanged: one event
    changed = intervention_events(w)[before:]
    assert len(changed) == 1 and changed[0].actor == w.counselor
    assert changed[0].after["group_capacity"] == 8
    assert changed[0].after["focus"] == [w.department.name]
    response = client.post(
        reverse("intervention:settings", args=[w.school.slug]),
        {
            "action": "add_slot",
            "slot-teacher": str(w.other_teacher.id),
            "slot-weekday": "1",  # Tuesday: no availability yet
            "slot-room": "B12",
        },
    )
    assert response.status_code == 302
    with in_school(w):
        slot = InterventionSlot.objects.get(school=w.school, teacher=w.other_teacher, weekday=1)
    response = client.post(
        reverse("intervention:settings", args=[w.school.slug]),
        {"action": "remove_slot", "slot": str(slot.id)},
    )
    assert response.status_code == 302
    added, removed = intervention_events(w)[before + 1 :]
    assert (added.action, removed.action) == ("create", "delete")
    assert added.after["room"] == "B12" and removed.before["room"] == "B12"
    assert "Otto Other" in removed.summary and removed.actor == w.counselor


def test_another_schools_availability_cannot_be_removed_from_here(client, cycle_w, world_b):
    w, _ = cycle_w
    with scopes_disabled():
        theirs = InterventionSlot.objects.create(
            school=world_b.school, teacher=world_b.teacher, weekday=2, room="Theirs"
        )
    client.force_login(w.counselor)
    response = client.post(
        reverse("intervention:settings", args=[w.school.slug]),
        {"action": "remove_slot", "slot": str(theirs.id)},
    )
    assert response.status_code == 404
    with scopes_disabled():
        assert InterventionSlot.objects.filter(pk=theirs.pk).exists()
        assert not AuditEvent.objects.filter(object_type="intervention", object_id=theirs.id)
