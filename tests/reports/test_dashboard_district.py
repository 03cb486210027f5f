"""The district view: the district's schools side by side, targets compared by standard code.

North has schools alpha and beta; South has gamma. Each world (tests/factories.py) has 5 students
(Period 1: Student0-2, Period 2: Other0-1) on Algebra 1's targets F1-F3; F1 of every school
carries the standard code CCSS.X.1. Policy "most recent score", so figures work out by hand.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from gradebook.models import Habit, HabitScore
from mastery.models import District, DistrictMembership, GradingPolicy, LearningTarget
from mastery.standards.alignments import target_align
from reports import tasks
from reports.dashboards.district import FRESH_FOR
from reports.models import SchoolFigures
from reports.tasks import refresh_school_figures
from tests.factories import make_evidence, make_user, make_world
from tests.mastery.case.support import framework_of
from tests.reports.dashboards import rows_of, with_query

# Session user, the district, its school ids (the database wall admits those schools only:
# mastery.tenancy.district_schools), its schools, and their stored figures: whatever their size
# (each school is counted in Celery, tests/reports/test_dashboard_district.py::counted).
QUERIES_DISTRICT = 5


def score(w, student, value, *, target=None):
    make_evidence(
        w, student, target, value, assessed_on=w.assessment.assessed_on - timedelta(days=1)
    )


def counted(client, north, capture) -> str:
    """The chief's first visit: it queues a count of each school (Celery is eager in the tests, and
    the tasks leave on commit), so the next visit reads the figures. Returns the first page."""
    client.force_login(north["chief"])
    with capture(execute=True) as queued:
        first = client.get(url(north["north"])).content.decode()
    assert len(queued) == 1  # one callback queues both schools' tasks
    return first


def url(district, **query) -> str:
    base = reverse("district_dashboard", kwargs={"district_slug": district.slug})
    return with_query(base, **query)


@pytest.fixture
def north(db):
    a, b, c = make_world("alpha"), make_world("beta"), make_world("gamma")
    with scopes_disabled():
        north = District.objects.create(name="North", slug="north")
        south = District.objects.create(name="South", slug="south")
        for w, district in ((a, north), (b, north), (c, south)):
            w.school.district = district
            w.school.save(update_fields=["district"])
            GradingPolicy.objects.filter(school=w.school).update(method="latest")
            LearningTarget.objects.filter(id=w.targets[0].id).update(standard_code="CCSS.X.1")
        # Only alpha's F2 carries this one: nothing to compare it with.
        LearningTarget.objects.filter(id=a.targets[1].id).update(standard_code="CCSS.ONLY.A")
        chief = make_user("chief@north.test", "Chief North")
        DistrictMembership.objects.create(district=north, user=chief)
        southerner = make_user("chief@south.test", "Chief South")
        DistrictMembership.objects.create(district=south, user=southerner)
    # alpha: Student0 3, Student1 2 (Period 1), Other0 4 (Period 2); F2: Student0 1.
    score(a, a.students[0], "3")
    score(a, a.students[1], "2")
    score(a, a.other_students[0], "4")
    score(a, a.students[0], "1", target=a.targets[1])
    # beta: Student0 1 (Period 1); Period 2 assesses nothing.
    score(b, b.students[0], "1")
    # gamma (South): everyone proficient — never part of North's figures.
    for student in c.students + c.other_students:
        score(c, student, "4")
    return {
        "a": a,
        "b": b,
        "c": c,
        "north": north,
        "south": south,
        "chief": chief,
        "southerner": southerner,
    }


def test_schools_side_by_side_match_hand_counts(client, north, django_capture_on_commit_callbacks):
    counted(client, north, django_capture_on_commit_callbacks)
    rows = {r["School"]: r for r in rows_of(client.get(url(north["north"], csv="schools")))}
    assert set(rows) == {"School ALPHA", "School BETA"}  # gamma is South's
    alpha, beta = rows["School ALPHA"], rows["School BETA"]
    # alpha: 5 students × 3 targets = 15 pairs; assessed F1 ×3 + F2 ×1 = 4; proficient 3 and 4 = 2.
    assert (alpha["Students"], alpha["Student × target pairs"], alpha["Assessed"]) == (
        "5",
        "15",
        "4",
    )
    assert (alpha["Proficient"], alpha["% proficient (of assessed)"]) == ("2", "50")
    # Four scores in the last 28 days: Period 1 holds three, Period 2 one.
    assert alpha["Evidence in sections, last 28 days"] == "4"
    assert (alpha["Sections"], alpha["Sections without evidence in 14 days"]) == ("2", "0")
    # Course grades (mean of target scores, A from 3, C from 2, D from 1.5): Student0 (3 and 1)
    # C, Student1 2 C, Other0 4 A: three graded, three on track.
    assert (alpha["Students with a course grade"], alpha["On track in every course"]) == ("3", "3")
    assert (beta["Assessed"], beta["Proficient"], beta["% proficient (of assessed)"]) == (
        "1",
        "0",
        "0",
    )
    assert (beta["Sections"], beta["Sections without evidence in 14 days"]) == ("2", "1")
    # beta's Student0 has a 1: F.
    assert (beta["Students with a course grade"], beta["% on track"]) == ("1", "0")
    assert beta["Exit rate %"] == ""  # no intervention closed: no rate, not 0


def test_targets_are_compared_only_by_shared_standard_code(
    client, north, django_capture_on_commit_callbacks
):
    counted(client, north, django_capture_on_commit_callbacks)
    rows = rows_of(client.get(url(north["north"], csv="standards")))
    assert [
        (
            r["Standard"],
            r["School"],
            r["Student × target pairs assessed"],
            r["Proficient"],
            r["% proficient (of assessed)"],
        )
        for r in rows
    ] == [
        ("CCSS.X.1", "School ALPHA", "3", "2", "67"),
        ("CCSS.X.1", "School BETA", "1", "0", "0"),
    ]


SNT1 = "e144c2e6-c0ea-11e7-95f7-5d664f4d8844"
SNT2 = "ea98ab46-c0ea-11e7-820f-a71b35976453"


def align(w, target, identifiers):
    with scope(school=w.school):
        target_align(school=w.school, target=target, identifiers=identifiers)


def test_targets_aligned_to_one_standard_are_compared_on_one_row_whatever_their_codes(
    client, north, django_capture_on_commit_callbacks
):
    a, b, c = north["a"], north["b"], north["c"]
    framework_of(a)  # alpha's import: North's framework, which beta sees too
    framework_of(c)  # the same package imported by South: the same identifiers
    with scopes_disabled():
        # Typed codes disagree (or are missing); the alignments agree.
        LearningTarget.objects.filter(id=b.targets[1].id).update(standard_code="snt 1 (typo)")
        LearningTarget.objects.filter(id=a.targets[2].id).update(standard_code="")
    align(a, a.targets[1], [SNT1])
    align(a, a.targets[2], [SNT1, SNT2])  # counts under each standard it teaches
    align(b, b.targets[1], [SNT1])
    align(b, b.targets[2], [SNT2])
    align(c, c.targets[1], [SNT1])  # South's school teaches it too, and is never compared here
    score(b, b.students[0], "4", target=b.targets[1])
    score(c, c.students[0], "4", target=c.targets[1])

    counted(client, north, django_capture_on_commit_callbacks)
    rows = rows_of(client.get(url(north["north"], csv="standards")))
    assert [
        (
            r["Standard"],
            r["School"],
            r["Targets"],
            r["Student × target pairs assessed"],
            r["Proficient"],
            r["% proficient (of assessed)"],
        )
        for r in rows
    ] == [
        # Not aligned anywhere: still compared by the typed code.
        ("CCSS.X.1", "School ALPHA", "1", "3", "2", "67"),
        ("CCSS.X.1", "School BETA", "1", "1", "0", "0"),
        # alpha's F2 (CCSS.ONLY.A) and F3, beta's F2 ("snt 1 (typo)"): one standard, one row each.
        ("SNT.1 First Added Item", "School ALPHA", "2", "1", "0", "0"),
        ("SNT.1 First Added Item", "School BETA", "1", "1", "1", "100"),
        ("SNT.2 Second added item, but should be first", "School ALPHA", "1", "0", "0", ""),
        ("SNT.2 Second added item, but should be first", "School BETA", "1", "0", "0", ""),
    ]
    assert "CCSS.ONLY.A" not in {r["Standard"] for r in rows}  # aligned: its code is not used
    page = client.get(url(north["north"])).content.decode()
    assert "School GAMMA" not in page

    # South's page compares nothing: gamma alone teaches its standards there.
    client.force_login(north["southerner"])
    with django_capture_on_commit_callbacks(execute=True):
        client.get(url(north["south"]))
    assert rows_of(client.get(url(north["south"], csv="standards"))) == []


def test_district_admins_see_only_their_district(client, north):
    client.force_login(north["southerner"])
    assert client.get(url(north["north"])).status_code == 404
    south = rows_of(client.get(url(north["south"], csv="schools")))
    assert [r["School"] for r in south] == ["School GAMMA"]
    # A school admin of alpha is no district admin.
    client.force_login(north["a"].admin)
    assert client.get(url(north["north"])).status_code == 404
    client.logout()
    assert client.get(url(north["north"])).status_code == 302


def test_page_lists_schools_and_figures_and_counts_queries(
    client, north, django_assert_num_queries, django_capture_on_commit_callbacks
):
    counted(client, north, django_capture_on_commit_callbacks)
    with django_assert_num_queries(QUERIES_DISTRICT):
        page = client.get(url(north["north"])).content.decode()
    assert "School ALPHA" in page and "School BETA" in page and "School GAMMA" not in page
    assert 'id="figure-schools"' in page and 'id="figure-standards"' in page
    assert "csv=schools" in page and "<svg" in page
    assert client.get(url(north["north"], csv="nope")).status_code == 404
    # More students and evidence: the same number of queries.
    score(north["b"], north["b"].other_students[0], "3")
    with django_assert_num_queries(QUERIES_DISTRICT):
        client.get(url(north["north"]))


def test_the_home_page_and_dashboards_link_the_district(client, north):
    client.force_login(north["chief"])
    home = client.get(reverse("home"))  # a district admin and nothing else lands on the district
    assert home.status_code == 302 and home.url == url(north["north"])
    school_dashboards = client.get(reverse("reports:dashboards", args=[north["a"].school.slug]))
    assert url(north["north"]) in school_dashboards.content.decode()


def test_habits_of_work_per_school(client, north, django_capture_on_commit_callbacks):

    a, b, c = north["a"], north["b"], north["c"]
    with scopes_disabled():
        for w, scores in ((a, ["3", "4"]), (b, ["2"]), (c, ["1"])):
            habit = Habit.objects.create(school=w.school, name="Effort")
            for i, value in enumerate(scores):
                HabitScore.objects.create(
                    school=w.school,
                    student=w.students[i],
                    habit=habit,
                    section=w.section,
                    score=value,
                    assessed_on=w.assessment.assessed_on,
                    recorded_by=w.teacher,
                )
    counted(client, north, django_capture_on_commit_callbacks)
    rows = rows_of(client.get(url(north["north"], csv="habits")))
    assert [(r["School"], r["Habit"], r["Scores"], r["Average score"]) for r in rows] == [
        ("School ALPHA", "Effort", "2", "3.5"),
        ("School BETA", "Effort", "1", "2"),
    ]


def test_a_school_is_counted_in_the_background_and_shown_with_when(
    client, north, django_capture_on_commit_callbacks
):
    first = counted(client, north, django_capture_on_commit_callbacks)
    assert "being counted" in first  # the first visit queued the counts and says so
    with scopes_disabled():
        stored = {f.school.slug: f for f in SchoolFigures.objects.select_related("school")}
    assert set(stored) == {"alpha", "beta"}  # South's school is not North's to count
    assert {f.status for f in stored.values()} == {SchoolFigures.Status.DONE}
    page = client.get(url(north["north"])).content.decode()
    assert "being counted" not in page
    alpha = {r["School"]: r for r in rows_of(client.get(url(north["north"], csv="schools")))}[
        "School ALPHA"
    ]
    assert alpha["Counted at"] == timezone.localtime(stored["alpha"].computed_at).strftime(
        "%Y-%m-%d %H:%M"
    )

    # A new score shows once the school's count is over an hour old; until then nothing is queued.
    score(north["a"], north["a"].other_students[1], "4")
    with django_capture_on_commit_callbacks() as queued:
        client.get(url(north["north"]))
    assert queued == []
    with scopes_disabled():
        SchoolFigures.objects.filter(school=north["a"].school).update(
            computed_at=timezone.now() - FRESH_FOR - timedelta(minutes=1)
        )
    with django_capture_on_commit_callbacks(execute=True) as queued:
        stale = client.get(url(north["north"], csv="schools"))
    assert len(queued) == 1
    assert {r["School"]: r for r in rows_of(stale)}["School ALPHA"]["Assessed"] == "4"  # meanwhile
    renewed = {r["School"]: r for r in rows_of(client.get(url(north["north"], csv="schools")))}
    assert renewed["School ALPHA"]["Assessed"] == "5"
    # Figures counted before standards were compared by identifier (no such keys) count again.
    with scopes_disabled():
        old = SchoolFigures.objects.get(school=north["a"].school)
        old.figures = {k: v for k, v in old.figures.items() if not k.startswith("compared")}
        old.save(update_fields=["figures"])
    with django_capture_on_commit_callbacks(execute=True) as queued:
        client.get(url(north["north"]))
    assert len(queued) == 1
    with scopes_disabled():
        assert "compared_keys" in SchoolFigures.objects.get(school=north["a"].school).figures
    # A count queued but not yet done is not queued again on the next visit.
    with scopes_disabled():
        SchoolFigures.objects.filter(school=north["b"].school).update(
            status=SchoolFigures.Status.QUEUED, computed_at=timezone.now() - FRESH_FOR * 2
        )
    with django_capture_on_commit_callbacks() as queued:
        client.get(url(north["north"]))
    assert queued == []


def test_the_nightly_refresh_counts_every_district_school_again(north):

    assert refresh_school_figures.delay().get() == 3  # alpha, beta and gamma (South's)
    with scopes_disabled():
        assert SchoolFigures.objects.filter(status=SchoolFigures.Status.DONE).count() == 3
        gamma = SchoolFigures.objects.get(school=north["c"].school).figures
    assert (gamma["students"], gamma["assessed"], gamma["proficient"]) == (5, 5, 5)


def test_a_dead_broker_leaves_the_page_up(
    client, north, monkeypatch, django_capture_on_commit_callbacks
):

    def refuse(**kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.compute_school_figures, "delay", refuse)
    client.force_login(north["chief"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(url(north["north"]))
    assert response.status_code == 200
    assert "being counted" in response.content.decode()
