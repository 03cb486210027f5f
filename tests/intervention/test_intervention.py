"""Intervention cycles: the roster builder on hand-made data, the cycle lifecycle, pages, tasks."""

from __future__ import annotations

import csv
import gc
import io
import subprocess
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from django_scopes import scope, scopes_disabled

from config.celery import app as celery_app
from gradebook.models import (
    Course,
    CourseTarget,
    Enrollment,
    Mastery,
    Section,
    SectionTeacher,
    Term,
)
from intervention import builder
from intervention.models import (
    InterventionCycle,
    InterventionGroup,
    InterventionSettings,
    InterventionSlot,
    RosterEntry,
    SessionAttendance,
)
from intervention.services import cycle_advance, cycle_close, cycle_open, entry_move, roster_rebuild
from intervention.tasks import dispatch_cycles
from mastery.models import AuditEvent, Competency, Department, LearningTarget, Membership, Role
from tests.factories import make_intervention, make_user, make_world
from tests.workers import celery_worker

ROOT = Path(__file__).resolve().parents[2]
MONDAY = date.today() - timedelta(days=date.today().weekday())


def set_mastery(w, student, target, score, *, count=1):
    """A Mastery record as the engine would leave it (threshold 3, default cut-offs)."""
    score = None if score is None else Decimal(str(score))
    level = None
    if score is not None:
        level = Decimal(4) if score >= Decimal("3.5") else Decimal(int(score))
    with scope(school=w.school):
        Mastery.objects.update_or_create(
            school=w.school,
            student=student,
            target=target,
            defaults={
                "score": score,
                "level": level,
                "mastered": score is not None and score >= 3,
                "evidence_count": count,
                "scores_counted": count if score is not None else 0,
                "last_evidence_on": date.today(),
                "explanation": "set by the test",
            },
        )


def configure(w, *, weekdays=(2,), capacity=2, enrichment_capacity=5, teachers=None):
    """Math is the focus; the given teachers (default: both) can lead a group on the weekdays."""
    with scope(school=w.school):
        w.department.intervention_focus = True
        w.department.save(update_fields=["intervention_focus"])
        InterventionSettings.objects.update_or_create(
            school=w.school,
            defaults={
                "weekdays": list(weekdays),
                "group_capacity": capacity,
                "enrichment_capacity": enrichment_capacity,
            },
        )
        for weekday in weekdays:
            for teacher in teachers if teachers is not None else (w.teacher, w.other_teacher):
                InterventionSlot.objects.get_or_create(
                    school=w.school,
                    teacher=teacher,
                    weekday=weekday,
                    defaults={"room": f"R{teacher.id}"},
                )
        return InterventionCycle.objects.create(
            school=w.school,
            number=1,
            starts_on=MONDAY,
            ends_on=MONDAY + timedelta(days=27),
            status=InterventionCycle.Status.OPEN,
        )


def rosters(w, cycle):
    """{(student, weekday): (kind, target code or None, teacher or None)} as stored."""
    with scope(school=w.school):
        return {
            (e.student_id, e.weekday): (
                e.kind,
                e.target.code if e.target_id else None,
                e.group.teacher_id if e.group_id else None,
            )
            for e in RosterEntry.objects.filter(school=w.school, cycle=cycle).select_related(
                "target", "group"
            )
        }


def build(w, cycle):
    with scope(school=w.school):
        return roster_rebuild(school=w.school, cycle=cycle)


@pytest.fixture
def w(db):
    return make_world("int", students=3)


def all_students(w):
    return [*w.students, *w.other_students]


# --- The builder --------------------------------------------------------------------------------


def test_a_roster_build_runs_with_the_collector_paused(w, monkeypatch):
    cycle = configure(w)
    set_mastery(w, w.students[0], w.targets[0], "2")
    seen = []
    plan_rosters = builder.plan_rosters  # mastery/gcpause.py: measured 10-20% faster paused

    def watched(**kwargs):
        seen.append(gc.isenabled())
        return plan_rosters(**kwargs)

    monkeypatch.setattr("intervention.services.plan_rosters", watched)
    plan = build(w, cycle)
    assert seen == [False] and len(plan.entries) == 1
    assert gc.isenabled()


def test_students_without_evidence_or_with_insufficient_evidence_are_not_placed(w):
    cycle = configure(w)
    s0, s1, s2 = w.students
    set_mastery(w, s1, w.targets[0], None)  # a record, but no score yet
    build(w, cycle)
    assert rosters(w, cycle) == {}


def test_only_active_focus_targets_of_current_sections_the_student_is_still_in_count(w, in_school):
    """The candidate query's filters, each on its own: a withdrawn student, an inactive target, a
    course outside the focus departments and a section of a past term place nobody."""
    cycle = configure(w)
    s0, s1, s2 = w.students
    o0, o1 = w.other_students
    with in_school(w):
        Enrollment.objects.filter(school=w.school, student=s0).update(
            withdrawn_on=date.today() - timedelta(days=3)
        )
        LearningTarget.objects.filter(pk=w.targets[1].pk).update(is_active=False)
        art = Department.objects.create(school=w.school, name="Art", code="ART")
        drawing = Competency.objects.create(
            school=w.school, department=art, code="int-D", name="Drawing"
        )
        sketch = LearningTarget.objects.create(
            school=w.school, competency=drawing, department=art, code="INT.D1", statement="I draw."
        )
        art9 = Course.objects.create(school=w.school, department=art, code="ART9", name="Art 9")
        CourseTarget.objects.create(school=w.school, course=art9, target=sketch)
        studio = Section.objects.create(school=w.school, course=art9, term=w.term, name="Studio")
        Enrollment.objects.create(
            school=w.school, section=studio, student=s2, enrolled_on=w.term.starts_on
        )
        past = Term.objects.create(
            school=w.school,
            name="Last year",
            starts_on=w.term.starts_on - timedelta(days=365),
            ends_on=w.term.starts_on - timedelta(days=1),
        )
        geometry = Course.objects.create(
            school=w.school, department=w.department, code="GEO", name="Geometry"
        )
        shapes = LearningTarget.objects.create(
            school=w.school,
            competency=w.targets[0].competency,
            department=w.department,
            code="INT.G1",
            statement="I know shapes.",
        )
        CourseTarget.objects.create(school=w.school, course=geometry, target=shapes)
        old = Section.objects.create(school=w.school, course=geometry, term=past, name="Old")
        Enrollment.objects.create(
            school=w.school, section=old, student=o0, enrolled_on=past.starts_on
        )
    set_mastery(w, s0, w.targets[0], 2)  # withdrawn from the section
    set_mastery(w, s1, w.targets[1], 2)  # an inactive target
    set_mastery(w, s2, sketch, 2)  # not a focus department
    set_mastery(w, o0, shapes, 2)  # a course of last year's term only
    set_mastery(w, o1, w.targets[0], 2)  # the one who counts
    build(w, cycle)
    placed = rosters(w, cycle)
    assert list(placed) == [(o1.id, 2)]
    assert placed[(o1.id, 2)][:2] == ("reteach", w.targets[0].code)


def test_a_student_exactly_at_the_threshold_is_not_retaught_and_goes_to_enrichment(w):
    cycle = configure(w)
    s0 = w.students[0]
    set_mastery(w, s0, w.targets[0], 3)
    build(w, cycle)
    assert rosters(w, cycle) == {(s0.id, 2): ("enrichment", None, w.other_teacher.id)}


def test_students_below_mastery_go_to_a_reteach_group_for_their_target(w, in_school):
    # Aaron sorts first but teaches no course with the target: the course's teacher is preferred.
    aaron = make_user("aaron@int.test", "Aaron Aide")
    with in_school(w):
        Membership.objects.create(school=w.school, user=aaron, role=Role.TEACHER)
    cycle = configure(w, teachers=[aaron, w.teacher])
    s0 = w.students[0]
    set_mastery(w, s0, w.targets[0], "2.99")
    plan = build(w, cycle)
    ((kind, code, teacher),) = rosters(w, cycle).values()
    assert (kind, code) == ("reteach", w.targets[0].code)
    assert teacher == w.teacher.id
    with in_school(w):
        entry = RosterEntry.objects.get(school=w.school, cycle=cycle, student=s0)
    assert entry.score_at_entry == Decimal("2.99") and entry.level_at_entry == 2
    assert entry.reason.startswith(f"{w.targets[0].code} at 2.99 Developing")
    assert plan.students_placed == 1 and not plan.waitlist


def test_the_most_urgent_students_are_placed_first_and_overflow_opens_another_group(w, in_school):
    cycle = configure(w, capacity=2)
    s = all_students(w)  # 5 students
    # s4 has two targets below: most urgent. Then by lowest score.
    set_mastery(w, s[4], w.targets[0], 2)
    set_mastery(w, s[4], w.targets[1], 2)
    for student, score in ((s[0], "2.5"), (s[1], 1), (s[2], 2), (s[3], "2.8")):
        set_mastery(w, student, w.targets[0], score)
    build(w, cycle)
    with in_school(w):
        groups = list(
            InterventionGroup.objects.filter(school=w.school, cycle=cycle)
            .order_by("id")
            .prefetch_related("entries")
        )
        waiting = list(RosterEntry.objects.filter(school=w.school, cycle=cycle, group__isnull=True))
        priority = dict(
            RosterEntry.objects.filter(school=w.school, cycle=cycle).values_list(
                "student_id", "priority"
            )
        )
    # Two teachers × capacity 2 = 4 seats for 5 students: the least urgent (s3 at 2.8) waits.
    assert [sorted(e.student_id for e in g.entries.all()) for g in groups] == [
        sorted([s[4].id, s[1].id]),
        sorted([s[2].id, s[0].id]),
    ]
    assert [e.student_id for e in waiting] == [s[3].id]
    assert priority[s[4].id] == 1 and priority[s[1].id] == 2 and priority[s[3].id] == 5


def test_ties_in_urgency_are_broken_by_student_and_the_build_is_deterministic(w):
    cycle = configure(w, capacity=1, teachers=[w.teacher])
    for student in all_students(w):
        set_mastery(w, student, w.targets[0], 2)
    build(w, cycle)
    first = rosters(w, cycle)
    placed = [sid for (sid, _), (_, _, teacher) in first.items() if teacher]
    assert placed == [min(s.id for s in all_students(w))]
    build(w, cycle)
    assert rosters(w, cycle) == first
    with scope(school=w.school):
        dry = roster_rebuild(school=w.school, cycle=cycle, dry_run=True)
    assert (dry.added, dry.removed, dry.moved) == (0, 0, 0)


def test_each_student_has_at_most_one_group_per_weekday_and_subjects_alternate(w, in_school):
    cycle = configure(w, weekdays=(2, 3, 4), capacity=5)
    with in_school(w):
        english = Department.objects.create(
            school=w.school, name="English", code="ENG", intervention_focus=True
        )
        reading = Competency.objects.create(
            school=w.school, department=english, code="int-R", name="Reading"
        )
        r1 = LearningTarget.objects.create(
            school=w.school,
            competency=reading,
            department=english,
            code="INT.R1",
            statement="I can read.",
        )
        eng = Course.objects.create(
            school=w.school, department=english, code="ENG9", name="English 9"
        )
        CourseTarget.objects.create(school=w.school, course=eng, target=r1)
        section = Section.objects.create(school=w.school, course=eng, term=w.term, name="P3")
        SectionTeacher.objects.create(school=w.school, section=section, teacher=w.other_teacher)
        Enrollment.objects.create(
            school=w.school, section=section, student=w.students[0], enrolled_on=w.term.starts_on
        )
    s0 = w.students[0]
    set_mastery(w, s0, w.targets[0], 1)  # math, most urgent
    set_mastery(w, s0, w.targets[1], "1.5")  # math
    set_mastery(w, s0, w.targets[2], "1.2")  # math, after F2 by its code, before it by its score
    set_mastery(w, s0, r1, 2)  # English
    build(w, cycle)
    mine = {k: v for k, v in rosters(w, cycle).items() if k[0] == s0.id}
    assert mine[(s0.id, 2)][:2] == (
        "reteach",
        w.targets[0].code,
    )  # Wednesday: the most urgent (math)
    assert mine[(s0.id, 3)][:2] == ("reteach", "INT.R1")  # Thursday: the other subject first
    # Friday: both subjects are covered, so the most urgent of what is left, by score.
    assert mine[(s0.id, 4)][:2] == ("reteach", w.targets[2].code)
    with in_school(w):
        counts = {}
        for e in RosterEntry.objects.filter(school=w.school, cycle=cycle):
            counts[(e.student_id, e.weekday)] = counts.get((e.student_id, e.weekday), 0) + 1
    assert set(counts.values()) == {1}


def test_students_wait_when_no_teacher_is_free_and_enrichment_keeps_a_teacher(w):
    cycle = configure(w, capacity=1)  # 2 teachers
    s = all_students(w)
    set_mastery(w, s[0], w.targets[0], 1)
    set_mastery(w, s[1], w.targets[0], 2)
    set_mastery(w, s[2], w.targets[0], 4)  # proficient on every focus target with a score
    plan = build(w, cycle)
    stored = rosters(w, cycle)
    assert stored[(s[2].id, 2)][0] == "enrichment" and stored[(s[2].id, 2)][2] is not None
    assert stored[(s[0].id, 2)][2] is not None  # the most urgent got the other teacher
    assert stored[(s[1].id, 2)] == ("reteach", w.targets[0].code, None)  # wait list
    assert "1 on the wait list" in plan.summary()


def test_hand_placed_and_attended_entries_survive_a_rebuild(w):
    cycle = configure(w, capacity=3)
    s0, s1, s2 = w.students
    for student in (s0, s1, s2):
        set_mastery(w, student, w.targets[0], 2)
    build(w, cycle)
    with scope(school=w.school):
        entry = RosterEntry.objects.get(school=w.school, cycle=cycle, student=s1)
        moved = entry_move(
            school=w.school, entry_id=entry.id, group_id=None, moved_by=w.counselor
        )  # to the wait list
        attended = RosterEntry.objects.get(school=w.school, cycle=cycle, student=s2)
        SessionAttendance.objects.create(
            school=w.school,
            entry=attended,
            session_date=cycle.session_dates(2)[0],
            status="present",
            recorded_by=w.teacher,
        )
    set_mastery(w, s1, w.targets[0], 1)  # would now be the most urgent
    set_mastery(w, s2, w.targets[0], 4)  # would now be in enrichment
    build(w, cycle)
    with scopes_disabled():
        kept = RosterEntry.objects.get(pk=moved.pk)
        kept_attended = RosterEntry.objects.get(pk=attended.pk)
    assert kept.locked and kept.group_id is None and kept.placed_by == w.counselor
    assert kept_attended.group_id is not None and kept_attended.kind == "reteach"


def test_closing_exits_students_who_reached_mastery_and_the_next_cycle_carries_the_others(
    w, in_school
):
    cycle = configure(w, capacity=5)
    s0, s1, s2 = w.students
    for student in (s0, s1):
        set_mastery(w, student, w.targets[0], 2)
    build(w, cycle)
    set_mastery(w, s0, w.targets[0], "3.2")  # reached mastery during the cycle
    with scope(school=w.school):
        result = cycle_advance(school=w.school, today=cycle.ends_on + timedelta(days=1))
    assert result.closed == cycle and (result.exited, result.continuing) == (1, 1)
    with in_school(w):
        outcomes = dict(
            RosterEntry.objects.filter(school=w.school, cycle=cycle).values_list(
                "student_id", "outcome"
            )
        )
        closed_entry = RosterEntry.objects.get(school=w.school, cycle=cycle, student=s0)
        next_cycle = InterventionCycle.objects.get(school=w.school, number=2)
    assert outcomes == {s0.id: "exited", s1.id: "continuing"}
    assert closed_entry.score_at_close == Decimal("3.2")
    assert next_cycle.status == "open" and next_cycle.starts_on.weekday() == 0
    assert next_cycle.starts_on > cycle.ends_on
    nxt = rosters(w, next_cycle)
    assert nxt[(s1.id, 2)][:2] == ("reteach", w.targets[0].code)  # continuing
    assert nxt[(s0.id, 2)][0] == "enrichment"  # exited to enrichment


def test_advancing_twice_changes_nothing_more(w, in_school):
    cycle = configure(w)
    set_mastery(w, w.students[0], w.targets[0], 2)
    build(w, cycle)
    after = cycle.ends_on + timedelta(days=1)
    with scope(school=w.school):
        first = cycle_advance(school=w.school, today=after)
        second = cycle_advance(school=w.school, today=after)
        again = cycle_close(school=w.school, cycle=cycle)
    assert first.opened is not None and second.closed is None and second.opened is None
    assert again.closed is False
    with in_school(w):
        assert InterventionCycle.objects.filter(school=w.school).count() == 2


def test_a_cycle_opens_on_a_monday_and_only_one_is_open(w):
    configure(w)
    with scope(school=w.school), pytest.raises(Exception, match="already open"):
        cycle_open(school=w.school, starts_on=MONDAY + timedelta(days=28))
    with scope(school=w.school):
        InterventionCycle.objects.filter(school=w.school).update(status="closed")
        with pytest.raises(Exception, match="Monday"):
            cycle_open(school=w.school, starts_on=MONDAY + timedelta(days=30))


def test_the_dispatcher_advances_only_schools_whose_cycle_ended(w, world_b):
    cycle = configure(w)
    later = make_intervention(world_b)  # world B's cycle started a week later and runs on
    with scopes_disabled():
        InterventionCycle.objects.filter(pk=later.pk).update(
            starts_on=later.starts_on + timedelta(days=7), ends_on=later.ends_on + timedelta(days=7)
        )
    assert dispatch_cycles.apply(
        kwargs={"today": (cycle.ends_on + timedelta(days=1)).isoformat()}
    ).get() == [w.school.id]
    with scopes_disabled():
        assert InterventionCycle.objects.get(pk=cycle.pk).status == "closed"
        assert InterventionCycle.objects.filter(school=world_b.school, status="open").count() == 1


def test_the_beat_schedule_runs_the_dispatcher_daily():
    entry = settings.CELERY_BEAT_SCHEDULE["intervention-dispatch-cycles"]
    assert entry["task"] == "intervention.dispatch_cycles"
    assert dispatch_cycles.name in celery_app.tasks


def test_the_rebuild_command_prints_a_summary_and_dry_run_writes_nothing(w):
    cycle = configure(w)
    set_mastery(w, w.students[0], w.targets[0], 2)
    out = io.StringIO()
    call_command("rebuild_rosters", "--school", w.school.slug, "--dry-run", stdout=out)
    assert "Would build cycle 1" in out.getvalue() and "1 students placed" in out.getvalue()
    assert "Dry run: nothing was written." in out.getvalue()
    assert rosters(w, cycle) == {}
    out = io.StringIO()
    call_command("rebuild_rosters", "--school", w.school.slug, stdout=out)
    assert "Built cycle 1" in out.getvalue() and len(rosters(w, cycle)) == 1
    with pytest.raises(Exception, match="No school"):
        call_command("rebuild_rosters", "--school", "nowhere")


# --- Pages ----------------------------------------------------------------------------------------


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


# --- A real worker ------------------------------------------------------------------------------


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


# --- Input no row can hold (issue 21 item 6) --------------------------------------------------------


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
