"""The intervention roster builder on hand-made data."""

from __future__ import annotations

import gc
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import call_command
from django_scopes import scope, scopes_disabled

from config.celery import app as celery_app
from gradebook.models import Course, CourseTarget, Enrollment, Section, SectionTeacher, Term
from intervention import builder
from intervention.models import InterventionCycle, InterventionGroup, RosterEntry, SessionAttendance
from intervention.services import cycle_advance, cycle_close, cycle_open, entry_move, roster_rebuild
from intervention.tasks import dispatch_cycles
from mastery.models import Competency, Department, LearningTarget, Membership, Role
from tests.factories import make_intervention, make_user
from tests.intervention.support import MONDAY, build, configure, set_mastery


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


def all_students(w):
    return [*w.students, *w.other_students]


# --- The builder -----------------------------------------------------------------------------------


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
