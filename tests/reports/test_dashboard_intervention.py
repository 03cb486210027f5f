"""The intervention effectiveness dashboard: figures on hand-made data, CSV, queries, tenancy, roles.

The world (tests/factories.py): Algebra 1 with targets F1-F3, Period 1 (Student0-2) and Period 2
(Other0-1); the term began 120 days ago (T0 below) and today is T0+120. The policy is "most recent
score", so every level and growth below can be worked out by hand from the dated scores.

Three cycles of the school:
  cycle 1  T0-60 … T0-33  closed (last term: counts only towards "third cycle")
  cycle 2  T0+20 … T0+47  closed; baselines as of T0+19 (start) and T0+47 (end)
  cycle 3  T0+114 … T0+141 open; baseline as of T0+113 (start), end = today's score

F1 scores (day: score), and the levels they give at the baseline dates:
  Student0   10: 1, 40: 3, 100: 2, 117: 4     T0+19: 1   T0+47: 3    T0+113: 2   now: 4
  Student1   10: 2, 45: 2.5                   T0+19: 2   T0+47: 2.5  T0+113: 2.5 now: 2.5
  Student2    5: 1, 40: 2                     T0+19: 1   T0+47: 2    T0+113: 2   now: 2
  Other0     30: 3, 116: 4                    T0+19: —   T0+47: 3    T0+113: 3   now: 4
  Other1      5: 2, 46: 3, 118: 3.5           T0+19: 2   T0+47: 3    T0+113: 3   now: 3.5
  Young       5: 1                            T0+19: 1   T0+47: 1    T0+113: 1   now: 1
  Zed         5: 3, 40: 4                     T0+19: 3   T0+47: 4    T0+113: 4   now: 4
  Wanda       5: 1, 40: 4   (enrollment withdrawn: never a "similar student")

Placements (re-teaching unless said):
  cycle 1: Student0 F1, Student1 F1, Other1 F1
  cycle 2: F1: Student0 (Wed + Thu, both exited), Student1 (Wed continuing, Thu exited: counts as
           continuing), Other0 (exited), Zed (exited); F2: Student2 (continuing);
           enrichment: Other1 (no target: still a similar student on F1)
  cycle 3: F1: Student0, Other1 (both in progress)
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django_scopes import scope, scopes_disabled

from gradebook.models import Enrollment
from intervention.models import GroupKind, InterventionCycle, RosterEntry
from intervention.selectors import cycle_stats
from mastery.models import GradingPolicy
from reports.models import BaselineRun
from tests.factories import make_assessment, make_evidence, make_student
from tests.reports.dashboards import rows_of, with_query

# The page's queries: the user, the membership (with its school), the dashboard's term, then the
# dashboard's six (the cycles of the term, the baseline runs, placements per cycle × target,
# students per cycle, growth, third cycle) and the term menu.
QUERIES_INTERVENTION = 10

EXITED = RosterEntry.Outcome.EXITED
CONTINUING = RosterEntry.Outcome.CONTINUING
PENDING = RosterEntry.Outcome.PENDING


def url(w, **query) -> str:
    base = reverse("reports:dashboard_intervention", kwargs={"school_slug": w.school.slug})
    return with_query(base, **query)


def day(w, offset: int):
    return w.term.starts_on + timedelta(days=offset)


def score(w, student, target, value: str, on: int):
    """A score on the assessment of that day (one per day: a second score on one assessment
    would replace the first)."""
    assessments = w.extra.setdefault("assessments", {})
    if on not in assessments:
        assessments[on] = make_assessment(w.school, w.course, w.targets, on=day(w, on))
    make_evidence(w, student, target, value, assessment=assessments[on], assessed_on=day(w, on))


def place(w, cycle, student, target, *, weekday=2, outcome=PENDING, kind=GroupKind.RETEACH):
    with scope(school=w.school):
        return RosterEntry.objects.create(
            school=w.school,
            cycle=cycle,
            student=student,
            weekday=weekday,
            kind=kind,
            target=target,
            outcome=outcome,
        )


def make_cycle(w, number, start: int, end: int, status) -> InterventionCycle:
    with scope(school=w.school):
        return InterventionCycle.objects.create(
            school=w.school,
            number=number,
            starts_on=day(w, start),
            ends_on=day(w, end),
            status=status,
        )


def by_cycle_target(client, w) -> dict[tuple[str, str], dict[str, str]]:
    rows = rows_of(client.get(url(w, csv="by-cycle-target")))
    return {(r["Cycle"], r["Target"]): r for r in rows}


def compute_baselines(client, w, django_capture_on_commit_callbacks):
    """The first visit queues the baselines (one task); Celery is eager in the tests."""
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = client.get(url(w))
    assert first.status_code == 200
    return first, callbacks


@pytest.fixture
def cycles(world_a, in_school):
    w = world_a
    with in_school(w):
        GradingPolicy.objects.filter(school=w.school).update(method="latest")
    s0, s1, s2 = w.students
    x0, x1 = w.other_students
    f1, f2, _f3 = w.targets
    young = make_student(
        w.school, "alpha-y", first="Young", sections=[w.other_section], enrolled_on=day(w, 0)
    )
    zed = make_student(
        w.school, "alpha-z", first="Zed", sections=[w.section], enrolled_on=day(w, 0)
    )
    wanda = make_student(
        w.school, "alpha-w", first="Wanda", sections=[w.section], enrolled_on=day(w, 0)
    )
    for student, scores in (
        (s0, [("1", 10), ("3", 40), ("2", 100), ("4", 117)]),
        (s1, [("2", 10), ("2.5", 45)]),
        (s2, [("1", 5), ("2", 40)]),
        (x0, [("3", 30), ("4", 116)]),
        (x1, [("2", 5), ("3", 46), ("3.5", 118)]),
        (young, [("1", 5)]),
        (zed, [("3", 5), ("4", 40)]),
        (wanda, [("1", 5), ("4", 40)]),
    ):
        for value, on in scores:
            score(w, student, f1, value, on)
    with in_school(w):
        Enrollment.objects.filter(school=w.school, student=wanda).update(withdrawn_on=day(w, 60))

    closed, open_ = InterventionCycle.Status.CLOSED, InterventionCycle.Status.OPEN
    c1 = make_cycle(w, 1, -60, -33, closed)
    c2 = make_cycle(w, 2, 20, 47, closed)
    c3 = make_cycle(w, 3, 114, 141, open_)
    for student in (s0, s1, x1):
        place(w, c1, student, f1, outcome=CONTINUING)
    place(w, c2, s0, f1, weekday=2, outcome=EXITED)
    place(w, c2, s0, f1, weekday=3, outcome=EXITED)
    place(w, c2, s1, f1, weekday=2, outcome=CONTINUING)
    place(w, c2, s1, f1, weekday=3, outcome=EXITED)
    place(w, c2, x0, f1, outcome=EXITED)
    place(w, c2, zed, f1, outcome=EXITED)
    place(w, c2, s2, f2, outcome=CONTINUING)
    place(w, c2, x1, None, weekday=3, outcome=EXITED, kind=GroupKind.ENRICHMENT)
    place(w, c3, s0, f1)
    place(w, c3, x1, f1)
    w.extra.update(c1=c1, c2=c2, c3=c3, young=young, zed=zed, wanda=wanda)
    return w


def test_placements_outcomes_and_growth_against_similar_students(
    client, login, cycles, django_capture_on_commit_callbacks, in_school
):
    w = cycles
    f1, f2 = w.targets[0].code, w.targets[1].code
    login(w.counselor)
    first, callbacks = compute_baselines(client, w, django_capture_on_commit_callbacks)
    assert len(callbacks) == 1  # one task for the three dates, requested in one call
    assert "being computed" in first.content.decode()
    with in_school(w):
        runs = set(
            BaselineRun.objects.filter(school=w.school, status=BaselineRun.Status.DONE).values_list(
                "as_of", flat=True
            )
        )
    assert runs == {day(w, 19), day(w, 47), day(w, 113)}
    page = client.get(url(w)).content.decode()
    assert "being computed" not in page

    rows = by_cycle_target(client, w)
    assert set(rows) == {("2", f1), ("2", f2), ("3", f1)}  # cycle 1 belongs to last term

    # Cycle 2, F1: Student0 (two days, once), Student1, Other0, Zed entered. Student1's outcomes
    # differ between days: continuing. Exited 3 of 4 closed: 75%.
    c2 = rows[("2", f1)]
    assert (c2["Entered"], c2["Exited"], c2["Continuing"], c2["In progress"]) == (
        "4",
        "3",
        "1",
        "0",
    )
    assert c2["Exit rate (%)"] == "75"
    # Growth T0+19 → T0+47. Placed: Student0 level 1, +2; Student1 level 2, +0.5; Zed level 3, +1;
    # Other0 had no score at the start (left out). Similar (not placed on F1 in cycle 2, taught
    # F1 this term): Student2 level 1, +1; Young level 1, 0; Other1 level 2, +1 (enrichment does
    # not count as placed); Wanda is withdrawn (she would be level 1, +3). No similar student
    # started at level 3, so Zed is left out of both sides.
    #   placed:  (2 + 0.5) / 2 = 1.25, n 2
    #   similar: level 1 mean (1 + 0) / 2 = 0.5 weighted by 1 placed, level 2 mean 1 weighted by
    #            1 placed: (0.5 + 1) / 2 = 0.75, n 3 (an unweighted mean would be 0.67)
    assert (c2["Growth: placed"], c2["n placed"]) == ("1.25", "2")
    assert (c2["Growth: similar students"], c2["n similar"]) == ("0.75", "3")
    assert c2["Difference"] == "0.5"

    # Cycle 2, F2: Student2 continuing; no F2 score at all, so no growth (n 0).
    c2f2 = rows[("2", f2)]
    assert (c2f2["Entered"], c2f2["Continuing"], c2f2["Exit rate (%)"]) == ("1", "1", "0")
    assert (c2f2["Growth: placed"], c2f2["n placed"], c2f2["Difference"]) == ("", "0", "")

    # Cycle 3 (running: the end is today's score), F1: Student0 and Other1, both in progress.
    # Growth T0+113 → now. Placed: Student0 level 2, 2 → 4 = +2; Other1 level 3, 3 → 3.5 = +0.5.
    # Similar: level 2 Student1 (0) and Student2 (0): mean 0; level 3 Other0, 3 → 4 = +1;
    # (Young at 1 and Zed at 4 match no placed student).
    #   placed (2 + 0.5) / 2 = 1.25; similar (1 × 0 + 1 × 1) / 2 = 0.5, n 3; difference 0.75
    c3 = by_cycle_target(client, w)[("3", f1)]
    assert (c3["Entered"], c3["In progress"], c3["Exit rate (%)"]) == ("2", "2", "")
    assert (c3["Growth: placed"], c3["n placed"]) == ("1.25", "2")
    assert (c3["Growth: similar students"], c3["n similar"], c3["Difference"]) == (
        "0.5",
        "3",
        "0.75",
    )


def test_growth_is_empty_while_baselines_are_computed(
    client, login, cycles, django_capture_on_commit_callbacks
):
    w = cycles
    login(w.admin)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        rows = rows_of(client.get(url(w, csv="by-cycle-target")))
    assert len(callbacks) == 1
    assert rows, "the counts do not wait for the baselines"
    for row in rows:
        assert row["Growth: placed"] == row["Growth: similar students"] == ""
        assert row["n placed"] == row["Difference"] == ""
    assert "being computed" in client.get(url(w)).content.decode()


def test_per_cycle_totals(client, login, cycles):
    w = cycles
    login(w.admin)
    rows = {r["Cycle"]: r for r in rows_of(client.get(url(w, csv="per-cycle")))}
    assert set(rows) == {"2", "3"}
    # Cycle 2: Student0, Student1, Other0, Zed on F1 and Student2 on F2: 5 students, 5 entered;
    # exited Student0, Other0, Zed; continuing Student1, Student2: 3 of 5 = 60%.
    c2 = rows["2"]
    assert c2["Starts"] == day(w, 20).isoformat() and c2["Ends"] == day(w, 47).isoformat()
    assert (c2["Students in re-teaching"], c2["Entered"]) == ("5", "5")
    assert (c2["Exited"], c2["Continuing"], c2["In progress"], c2["Exit rate (%)"]) == (
        "3",
        "2",
        "0",
        "60",
    )
    c3 = rows["3"]
    assert (c3["Students in re-teaching"], c3["Entered"], c3["In progress"]) == ("2", "2", "2")
    assert c3["Exit rate (%)"] == ""
    # A student on two targets counts once among the students, once per target among entries.
    place(w, w.extra["c3"], w.students[0], w.targets[1], weekday=3)
    c3 = {r["Cycle"]: r for r in rows_of(client.get(url(w, csv="per-cycle")))}["3"]
    assert (c3["Students in re-teaching"], c3["Entered"]) == ("2", "3")


def test_third_cycle_on_the_same_target_is_flagged(client, login, cycles):
    w = cycles
    s0 = w.students[0]
    login(w.admin)
    rows = rows_of(client.get(url(w, csv="third-cycle")))
    # Student0: F1 in cycles 1, 2 and 3. Student1 (cycles 1, 2) and Other1 (cycles 1, 3) are in
    # their second cycle on F1; Student2's F2 and Other1's enrichment are first cycles.
    assert rows == [
        {
            "Cycle": "3",
            "Student": "Student, Student0",
            "Student number": "alpha-0",
            "Target": w.targets[0].code,
            "Cycles on this target": "1, 2, 3",
            "Outcome": "In progress",
            "Flag": "3rd cycle",
        }
    ]
    page = client.get(url(w)).content.decode()
    assert reverse("intervention:history", args=[w.school.slug, s0.id]) in page
    # A fourth cycle later in the term lists every cycle and says so; cycle 3 still shows.
    c4 = make_cycle(w, 4, 118, 145, InterventionCycle.Status.PLANNED)
    place(w, c4, s0, w.targets[0], outcome=PENDING)
    rows = rows_of(client.get(url(w, csv="third-cycle")))
    assert [(r["Cycle"], r["Cycles on this target"], r["Flag"]) for r in rows] == [
        ("3", "1, 2, 3", "3rd cycle"),
        ("4", "1, 2, 3, 4", "4th cycle"),
    ]


def test_the_page_shows_every_figure_and_each_downloads(client, login, cycles):
    w = cycles
    login(w.admin)
    page = client.get(url(w)).content.decode()
    for slug in ("by-cycle-target", "per-cycle", "third-cycle"):
        assert f'id="figure-{slug}"' in page
        assert f"csv={slug}" in page
        response = client.get(url(w, csv=slug))
        assert response.status_code == 200
        assert f"-intervention-{slug}-" in response["Content-Disposition"]
    assert "<svg" in page and "<table" in page
    assert "Similar students were enrolled this term" in page
    assert client.get(url(w, csv="nope")).status_code == 404


def test_a_term_without_cycles_shows_empty_figures(client, login, world_a):
    login(world_a.admin)
    page = client.get(url(world_a)).content.decode()
    assert "No intervention cycle has begun in this term yet." in page
    for slug in ("by-cycle-target", "per-cycle", "third-cycle"):
        assert rows_of(client.get(url(world_a, csv=slug))) == []


def test_roles(client, login, cycles):
    w = cycles
    for user, status in (
        (w.admin, 200),
        (w.counselor, 200),
        (w.teacher, 403),
        (w.guardian, 403),
        (w.student_user, 403),
    ):
        login(user)
        assert client.get(url(w)).status_code == status, user


def test_another_schools_data_never_appears(
    client, login, cycles, world_b, django_capture_on_commit_callbacks
):
    w = cycles
    login(w.admin)
    compute_baselines(client, w, django_capture_on_commit_callbacks)
    before = {
        slug: rows_of(client.get(url(w, csv=slug)))
        for slug in ("by-cycle-target", "per-cycle", "third-cycle")
    }
    # School B: the same cycle numbers and dates, its students placed on its F1 in all three,
    # every one of them scored, and one of them placed on A's F1 id would be impossible anyway.
    b = world_b
    with scopes_disabled():
        GradingPolicy.objects.filter(school=b.school).update(method="latest")
    bf1 = b.targets[0]
    b_cycles = [
        make_cycle(b, 1, -60, -33, InterventionCycle.Status.CLOSED),
        make_cycle(b, 2, 20, 47, InterventionCycle.Status.CLOSED),
        make_cycle(b, 3, 114, 141, InterventionCycle.Status.OPEN),
    ]
    for student in [*b.students, *b.other_students]:
        score(b, student, bf1, "1", 10)
        score(b, student, bf1, "4", 40)
        for cycle in b_cycles:
            place(b, cycle, student, bf1, outcome=EXITED)
    login(b.admin)
    compute_baselines(client, b, django_capture_on_commit_callbacks)
    assert rows_of(client.get(url(b, csv="third-cycle")))  # B sees its own

    login(w.admin)
    page = client.get(url(w)).content.decode()
    assert bf1.code not in page and "beta-" not in page
    for slug, rows in before.items():
        assert rows_of(client.get(url(w, csv=slug))) == rows, slug
    # B's term through A's page, and A's page for B's admin: 404.
    assert client.get(url(w, term=b.term.id)).status_code == 404
    login(b.admin)
    assert client.get(url(w)).status_code == 404
    assert w.targets[0].code not in client.get(url(b)).content.decode()


def test_query_count_is_pinned_whatever_the_size(
    client, login, cycles, django_assert_num_queries, django_capture_on_commit_callbacks
):
    w = cycles
    login(w.admin)
    compute_baselines(client, w, django_capture_on_commit_callbacks)
    with django_assert_num_queries(QUERIES_INTERVENTION):
        assert client.get(url(w)).status_code == 200
    # More students, scores and placements (in every cycle, on two targets): the same count.
    f1, f2 = w.targets[0], w.targets[1]
    for i in range(6):
        student = make_student(
            w.school, f"more-{i}", sections=[w.section, w.other_section], enrolled_on=day(w, 0)
        )
        score(w, student, f1, "2", 10)
        for cycle in (w.extra["c1"], w.extra["c2"], w.extra["c3"]):
            place(w, cycle, student, f1, weekday=2, outcome=CONTINUING)
            place(w, cycle, student, f2, weekday=3, outcome=CONTINUING)
    with django_assert_num_queries(QUERIES_INTERVENTION):
        response = client.get(url(w))
    assert response.status_code == 200
    assert "more-5" in response.content.decode()  # now in their third cycle on F1 and F2


def test_exit_rate_matches_the_cycle_page(client, login, cycles, in_school):
    """Same definitions as intervention.selectors.cycle_stats where no student is on two days."""

    w = cycles
    with in_school(w):
        # Make cycle 2 one entry per student: drop the Thursday duplicates.
        RosterEntry.objects.filter(school=w.school, cycle=w.extra["c2"], weekday=3).delete()
    with in_school(w):
        stats, _total, _enrichment = cycle_stats(school=w.school, cycle=w.extra["c2"])
    login(w.admin)
    rows = by_cycle_target(client, w)
    for item in stats:
        row = rows[("2", item.code)]
        assert int(row["Entered"]) == item.entered
        assert int(row["Exited"]) == item.exited
        assert int(row["Continuing"]) == item.continuing
        assert row["Exit rate (%)"] == ("" if item.exit_rate is None else str(item.exit_rate))
    assert Decimal(rows[("2", w.targets[0].code)]["Exit rate (%)"]) == 75
