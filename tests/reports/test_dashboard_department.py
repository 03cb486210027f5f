"""The department dashboard (data dialogue): figures on hand-made data, who sees what, CSV.

The world (tests/factories.py): Algebra 1 (department Mathematics) with targets F1-F3, Period 1
(Tess Teacher: Student0-2) and Period 2 (Otto Other: Other0-1). The school's policy is set to
"most recent score" so every figure below can be worked out by hand from the scores recorded.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from gradebook.models import Course, CourseTarget, Section, SectionTeacher
from grading.services import policy_change
from intervention.models import GroupKind, InterventionCycle, RosterEntry
from mastery.models import Department, GradingPolicy, LearningTarget, Role
from reports.baselines import baseline_compute, baselines_ready, term_start_date
from reports.models import BaselineRun, MasterySnapshot
from tests.factories import make_assessment, make_evidence, make_member, make_student
from tests.reports.dashboards import (
    baselines_done,
    latest_policy,
    proficient_before_term,
    rows_of,
    with_query,
)

# The page's queries: session user, school + membership, the terms (dashboard term + the term
# menu), the department, its courses this term, the scale, the policies, the cycles, the baseline
# runs, sections, teachers (prefetch), targets, and one per figure's GROUP BY (two for "how it
# changed"; the two "not yet proficient" figures share one), and two for "owed feedback"
# (gradebook.selectors.feedback: the enrolments, then the latest feedback).
QUERIES_DEPARTMENT = 21


def url(w, department=None, **query) -> str:
    base = reverse(
        "reports:dashboard_department",
        kwargs={"school_slug": w.school.slug, "department_id": (department or w.department).id},
    )
    return with_query(base, **query)


def score(w, student, target, value, *, days_ago=3, assessment=None):
    return make_evidence(
        w,
        student,
        target,
        value,
        assessment=assessment,
        assessed_on=w.term.starts_on + timedelta(days=120 - days_ago)
        if days_ago is not None
        else None,
    )


@pytest.fixture
def dialogue(world_a):
    """F1 scored in both sections; one student's F1 history reaches back before the term."""
    w = world_a
    latest_policy(w)
    s0, s1, _s2 = w.students
    x0, x1 = w.other_students
    f1, f2, _f3 = w.targets
    # Period 1: Student0 3 (proficient), Student1 2, Student2 nothing yet.
    score(w, s0, f1, "3")
    score(w, s1, f1, "2")
    # Period 2: Other0 4; Other1 was proficient before the term (3), then slipped to 1.
    proficient_before_term(w, x1, f1)
    score(w, x0, f1, "4")
    score(w, x1, f1, "1")
    # F2: only Student0, at 2.5 (a half point bands into level 2).
    score(w, s0, f2, "2.5")
    return w


def test_levels_by_section_and_teacher_match_hand_counts(client, login, dialogue):
    w = dialogue
    login(w.admin)
    response = client.get(url(w, csv="levels-by-section"))
    assert response.status_code == 200
    rows = {(r["Target"], r["Section"]): r for r in rows_of(response)}
    f1 = w.targets[0].code
    p1 = rows[(f1, "ALG1 Period 1")]
    assert p1["Teachers"] == "Tess Teacher"
    assert p1["Students"] == "3"
    assert (p1["1 Beginning"], p1["2 Developing"], p1["3 Proficient"], p1["4 Advanced"]) == (
        "0",
        "1",
        "1",
        "0",
    )
    assert p1["Not yet assessed"] == "1"
    assert p1["% proficient (of assessed)"] == "50"
    p2 = rows[(f1, "ALG1 Period 2")]
    assert (p2["1 Beginning"], p2["4 Advanced"], p2["Not yet assessed"]) == ("1", "1", "0")
    assert p2["% proficient (of assessed)"] == "50"
    f2 = rows[(w.targets[1].code, "ALG1 Period 1")]
    assert (f2["2 Developing"], f2["Not yet assessed"], f2["% proficient (of assessed)"]) == (
        "1",
        "2",
        "0",
    )
    # F3 has no evidence at all: every student counts as not yet assessed, no share.
    f3 = rows[(w.targets[2].code, "ALG1 Period 2")]
    assert (f3["Students"], f3["Not yet assessed"], f3["% proficient (of assessed)"]) == (
        "2",
        "2",
        "",
    )

    by_teacher = {
        (r["Target"], r["Teacher"]): r for r in rows_of(client.get(url(w, csv="levels-by-teacher")))
    }
    assert by_teacher[(f1, "Otto Other")]["4 Advanced"] == "1"
    assert by_teacher[(f1, "Tess Teacher")]["Students"] == "3"


def test_a_teacher_in_two_sections_counts_a_student_once(client, login, dialogue, in_school):
    w = dialogue
    with in_school(w):
        SectionTeacher.objects.create(school=w.school, section=w.other_section, teacher=w.teacher)
    login(w.admin)
    rows = rows_of(client.get(url(w, csv="levels-by-teacher")))
    tess = next(
        r for r in rows if r["Teacher"] == "Tess Teacher" and r["Target"] == w.targets[0].code
    )
    assert tess["Students"] == "5"
    assert tess["% proficient (of assessed)"] == "50"  # 3 and 4 of 2, 2, 3, 4… (2 of 4)


def test_change_since_term_start_uses_evidence_dated_before_it(
    client, login, dialogue, django_capture_on_commit_callbacks, in_school
):
    w = dialogue
    login(w.admin)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = client.get(url(w))
    assert first.status_code == 200
    assert len(callbacks) == 1  # one task for the missing dates
    assert "being computed" in first.content.decode()
    with in_school(w):
        run = BaselineRun.objects.get(school=w.school, as_of=term_start_date(w.term))
    assert run.status == BaselineRun.Status.DONE
    rows = {r["Target"]: r for r in rows_of(client.get(url(w, csv="change")))}
    f1 = rows[w.targets[0].code]
    assert f1["Students"] == "5"
    # At term start only Other1 had F1 evidence (3, proficient); now 4 of 5 are assessed, 2 proficient.
    assert (f1["At term start: assessed"], f1["At term start: proficient"]) == ("1", "1")
    assert f1["At term start: % proficient"] == "100"
    assert (f1["Now: assessed"], f1["Now: proficient"], f1["Now: % proficient"]) == (
        "4",
        "2",
        "50",
    )


def test_a_baseline_computed_under_an_older_policy_is_computed_again(
    dialogue, in_school, django_capture_on_commit_callbacks
):
    """A baseline notices a newer policy version itself: nothing below reports drops it."""
    w = dialogue
    _x0, x1 = w.other_students
    f1 = w.targets[0]
    as_of = term_start_date(w.term)

    def level_at_term_start():
        return MasterySnapshot.objects.get(
            school=w.school, as_of=as_of, student=x1, target=f1
        ).level

    with in_school(w):
        assert baseline_compute(school=w.school, as_of=as_of) == 1
        assert baseline_compute(school=w.school, as_of=as_of) == 1  # replaces, never doubles
        assert MasterySnapshot.objects.filter(school=w.school).count() == 1
        assert level_at_term_start() == 3  # one score of 3 before the term, "most recent score"
        assert baselines_ready(school=w.school, dates=[as_of]) == ({as_of}, False)

        policy_change(school=w.school, changed_by=w.admin, min_evidence=2, note="two scores first")
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            done, pending = baselines_ready(school=w.school, dates=[as_of])
        assert (done, pending) == (set(), True)  # not shown as if it were today's rule
        assert len(callbacks) == 1  # computed again, once
        assert level_at_term_start() is None  # one score is no longer enough for a level
        run = BaselineRun.objects.get(school=w.school, as_of=as_of)
        current = GradingPolicy.objects.filter(school=w.school, is_current=True).order_by("id")
        assert run.status == BaselineRun.Status.DONE
        assert run.policy_versions == ",".join(str(p.id) for p in current)
        assert baselines_ready(school=w.school, dates=[as_of]) == ({as_of}, False)


def test_common_assessments_compared_across_sections_and_tiers(client, login, dialogue, in_school):
    w = dialogue
    f1 = w.targets[0]
    with in_school(w):
        core = make_assessment(w.school, w.course, [f1], on=w.term.starts_on + timedelta(days=100))
        core.title, core.tier = "Unit 2 test", "Core"
        core.save()
        stretch = make_assessment(
            w.school, w.course, [f1], on=w.term.starts_on + timedelta(days=100)
        )
        stretch.title, stretch.tier = "Unit 2 test", "Stretch"
        stretch.save()
        # Given in one section only: not a common assessment.
        make_assessment(
            w.school,
            w.course,
            [f1],
            on=w.term.starts_on + timedelta(days=100),
            section=w.section,
            title="Quiz P1",
        )
    s0, s1, s2 = w.students
    x0, x1 = w.other_students
    score(w, s0, f1, "4", assessment=core)
    score(w, s1, f1, "2", assessment=core)
    score(w, s2, f1, "3", assessment=stretch)
    score(w, x0, f1, "3", assessment=core)
    score(w, x1, f1, "1", assessment=core)
    login(w.teacher)
    rows = rows_of(client.get(url(w, csv="common-assessments")))
    unit2 = {(r["Tier"], r["Section"]): r for r in rows if r["Assessment"] == "Unit 2 test"}
    assert set(unit2) == {
        ("Core", "ALG1 Period 1"),
        ("Core", "ALG1 Period 2"),
        ("Stretch", "ALG1 Period 1"),
        ("Stretch", "ALG1 Period 2"),
    }
    core_p1 = unit2[("Core", "ALG1 Period 1")]
    assert (
        core_p1["Students scored"],
        core_p1["Average score"],
        core_p1["% of scores proficient"],
    ) == ("2", "3", "50")
    core_p2 = unit2[("Core", "ALG1 Period 2")]
    assert (core_p2["Average score"], core_p2["% of scores proficient"]) == ("2", "50")
    assert unit2[("Stretch", "ALG1 Period 2")]["Students scored"] == "0"
    assert not any(r["Assessment"] == "Quiz P1" for r in rows)


def test_not_yet_proficient_lists_students_and_their_intervention_place(
    client, login, dialogue, in_school
):
    w = dialogue
    s1 = w.students[1]
    x1 = w.other_students[1]
    f1 = w.targets[0]
    with in_school(w):
        cycle = InterventionCycle.objects.create(
            school=w.school,
            number=1,
            starts_on=w.term.starts_on + timedelta(days=112),
            ends_on=w.term.starts_on + timedelta(days=139),
            status=InterventionCycle.Status.OPEN,
        )
        RosterEntry.objects.create(
            school=w.school, cycle=cycle, student=x1, weekday=2, kind=GroupKind.RETEACH, target=f1
        )
    login(w.counselor)
    rows = rows_of(client.get(url(w, csv="not-yet-proficient")))
    assert [(r["Target"], r["Student"], r["Score"], r["Level"]) for r in rows] == [
        (f1.code, "Student, Other1", "1", "1 Beginning"),
        (f1.code, "Student, Student1", "2", "2 Developing"),
        (w.targets[1].code, "Student, Student0", "2.5", "2 Developing"),
    ]
    assert rows[0]["In intervention (this cycle)"] == "Wednesday"
    assert rows[1]["In intervention (this cycle)"] == "No"
    summary = {r["Target"]: r for r in rows_of(client.get(url(w, csv="not-yet-by-target")))}
    assert (summary[f1.code]["Not yet proficient"], summary[f1.code]["In intervention"]) == (
        "2",
        "1",
    )
    assert summary[w.targets[1].code]["Not yet proficient"] == "1"
    # On the page, one target's students at a time (the first by default; F2 on request).
    f2_page = client.get(url(w, target=w.targets[1].id)).content.decode()
    assert "Students not yet proficient: " + w.targets[1].code in f2_page
    assert reverse("intervention:history", args=[w.school.slug, x1.id]) not in f2_page
    assert (
        client.get(url(w, target=w.targets[1].id, csv="not-yet-proficient"))
        .content.decode()
        .count("Student, ")
        == 1
    )
    assert client.get(url(w, target=999999)).status_code == 404
    assert client.get(url(w, target="x")).status_code == 404
    page = client.get(url(w)).content.decode()
    # One click from the intervention roster: the student's name opens their intervention page,
    # the placement opens the day's roster.
    assert reverse("intervention:history", args=[w.school.slug, x1.id]) in page
    assert reverse("intervention:day", args=[w.school.slug, cycle.id, 2]) in page
    assert reverse("intervention:history", args=[w.school.slug, s1.id]) in page


def test_the_page_shows_bars_beside_tables_and_every_figure_downloads(client, login, dialogue):
    w = dialogue
    login(w.admin)
    page = client.get(url(w)).content.decode()
    for slug in (
        "levels-by-section",
        "levels-by-teacher",
        "change",
        "common-assessments",
        "not-yet-proficient",
    ):
        assert f'id="figure-{slug}"' in page
        assert f"csv={slug}" in page
        response = client.get(url(w, csv=slug))
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        assert f"-{slug}-" in response["Content-Disposition"]
    assert "<svg" in page and "<table" in page
    assert client.get(url(w, csv="nope")).status_code == 404


def test_a_teacher_sees_their_department_only(client, login, dialogue, in_school):
    w = dialogue
    with in_school(w):
        science = Department.objects.create(school=w.school, name="Science", code="SCI")
        bio = Course.objects.create(school=w.school, department=science, code="BIO", name="Biology")
        target = LearningTarget.objects.create(
            school=w.school,
            competency=w.competency,
            department=science,
            code="SCI.1",
            statement="I can.",
        )
        CourseTarget.objects.create(school=w.school, course=bio, target=target)
        bio_section = Section.objects.create(school=w.school, course=bio, term=w.term, name="P3")
        scientist = make_member(w.school, Role.TEACHER, "sci@alpha.test", "Sci Teacher")
        SectionTeacher.objects.create(school=w.school, section=bio_section, teacher=scientist)
        make_student(w.school, "bio-1", sections=[bio_section])
    login(w.teacher)
    assert client.get(url(w, department=science)).status_code == 404
    home = client.get(reverse("reports:dashboards", args=[w.school.slug])).content.decode()
    assert "Mathematics" in home and "Science" not in home
    login(scientist)
    assert client.get(url(w)).status_code == 404
    assert client.get(url(w, department=science)).status_code == 200
    # Those who run the school see every department.
    for user in (w.admin, w.counselor):
        login(user)
        assert client.get(url(w, department=science)).status_code == 200
    login(w.guardian)
    assert client.get(url(w)).status_code == 403


def test_another_schools_data_never_appears(client, login, dialogue, world_b):
    w = dialogue
    # School B scores its own F1 for all its students.
    for student in world_b.students:
        score(world_b, student, world_b.targets[0], "4")
    login(w.admin)
    page = client.get(url(w)).content.decode()
    assert world_b.targets[0].code not in page
    assert "Student, Student1" in page  # A's own list is there
    # B's department through A's URL, and A's through B's: 404.
    assert client.get(url(w, department=world_b.department)).status_code == 404
    assert client.get(url(w, term=world_b.term.id)).status_code == 404
    login(world_b.admin)
    assert client.get(url(w)).status_code == 404


def test_query_count_is_pinned_whatever_the_size(
    client, login, dialogue, django_assert_num_queries
):
    w = dialogue
    baselines_done(w, [term_start_date(w.term)])
    login(w.admin)
    client.get(url(w))  # warm the session
    with django_assert_num_queries(QUERIES_DEPARTMENT):
        assert client.get(url(w)).status_code == 200
    for i in range(6):
        make_student(w.school, f"more-{i}", sections=[w.section, w.other_section])
    with django_assert_num_queries(QUERIES_DEPARTMENT):
        assert client.get(url(w)).status_code == 200


def test_bad_term_is_a_404_not_a_500(client, login, dialogue):
    w = dialogue
    login(w.admin)
    assert client.get(url(w, term="abc")).status_code == 404
    assert client.get(url(w, term="999999")).status_code == 404


def test_a_department_with_two_courses_shows_one_course_at_a_time(
    client, login, dialogue, in_school
):
    w = dialogue
    with in_school(w):
        geometry = Course.objects.create(
            school=w.school, department=w.department, code="GEO", name="Geometry"
        )
        CourseTarget.objects.create(school=w.school, course=geometry, target=w.targets[2])
        geo = Section.objects.create(school=w.school, course=geometry, term=w.term, name="P5")
        SectionTeacher.objects.create(school=w.school, section=geo, teacher=w.teacher)
        make_student(w.school, "geo-1", sections=[geo])
    login(w.teacher)
    # ALG1 comes first: its sections only.
    sections = {r["Section"] for r in rows_of(client.get(url(w, csv="levels-by-section")))}
    assert sections == {"ALG1 Period 1", "ALG1 Period 2"}
    sections = {
        r["Section"]
        for r in rows_of(client.get(url(w, course=geometry.id, csv="levels-by-section")))
    }
    assert sections == {"GEO P5"}
    everything = rows_of(client.get(url(w, course="all", csv="levels-by-section")))
    assert {r["Section"] for r in everything} == {"ALG1 Period 1", "ALG1 Period 2", "GEO P5"}
    page = client.get(url(w)).content.decode()
    assert "All courses of the department" in page
    assert client.get(url(w, course=999999)).status_code == 404
    assert client.get(url(w, course="x")).status_code == 404
