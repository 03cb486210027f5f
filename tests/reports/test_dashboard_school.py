"""The school dashboard: figures on hand-made data, who sees it, CSV, the pinned query count.

The world (tests/factories.py): Algebra 1 (department Mathematics, targets F1-F3), Period 1 (Tess
Teacher: Student0-2) and Period 2 (Otto Other: Other0-1), a term from 120 days ago to 120 days
ahead. `school_world` adds Biology (department Science, targets B1-B2, its own grading policy) with
Period 3 (Sci Teacher: Student0, Student1, Other0), and an intervention cycle that began 30 days
ago. Every policy is "most recent score", so each figure can be worked out by hand below.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from gradebook.models import (
    Course,
    CourseTarget,
    Enrollment,
    Habit,
    HabitScore,
    Section,
    SectionTeacher,
)
from intervention.models import InterventionCycle
from mastery.models import (
    Department,
    District,
    DistrictMembership,
    GradingPolicy,
    LearningTarget,
    Role,
)
from reports.baselines import baseline_compute, cycle_start_date, term_start_date
from reports.dashboards.school import term_months
from reports.models import BaselineRun
from tests.factories import make_assessment, make_evidence, make_member, make_student, make_user
from tests.reports.dashboards import (
    baselines_done,
    latest_policy,
    proficient_before_term,
    rows_of,
    with_query,
)

# The page's queries: the user (the session is in the cache), the school with the membership, the
# terms (the dashboard's term and the term menu), the cycles, the baseline runs, the sections and
# their teachers (prefetch), the scale and the policies (course grades), and one GROUP BY per
# figure: course scores, habits, proficiency (now and every baseline date), evidence volume.
QUERIES_SCHOOL = 14


def today() -> date:
    return timezone.localdate()


def url(w, **query) -> str:
    base = reverse("reports:dashboard_school", kwargs={"school_slug": w.school.slug})
    return with_query(base, **query)


def score(w, student, target, value, *, days_ago=3, assessment=None):
    return make_evidence(
        w,
        student,
        target,
        value,
        assessment=assessment,
        assessed_on=today() - timedelta(days=days_ago),
    )


@pytest.fixture
def school_world(world_a, in_school):
    w = world_a
    latest_policy(w)
    s0, s1, s2 = w.students
    x0, x1 = w.other_students
    f1, f2, _f3 = w.targets
    t = today()
    with in_school(w):
        science = Department.objects.create(school=w.school, name="Science", code="SCI")
        bio = Course.objects.create(school=w.school, department=science, code="BIO", name="Biology")
        b1, b2 = (
            LearningTarget.objects.create(
                school=w.school,
                competency=w.competency,
                department=science,
                code=f"ALPHA.B{i}",
                statement="I can.",
            )
            for i in (1, 2)
        )
        for i, target in enumerate((b1, b2)):
            CourseTarget.objects.create(school=w.school, course=bio, target=target, position=i)
        # Biology's own policy: P from an average of 2, otherwise NY (its lowest letter).
        GradingPolicy.objects.create(
            school=w.school,
            course=bio,
            method="latest",
            grade_bands=[{"letter": "P", "min_score": "2.0"}],
            fallback_letter="NY",
        )
        p3 = Section.objects.create(school=w.school, course=bio, term=w.term, name="Period 3")
        scientist = make_member(w.school, Role.TEACHER, "sci@alpha.test", "Sci Teacher")
        SectionTeacher.objects.create(school=w.school, section=p3, teacher=scientist)
        for student in (s0, s1, x0):
            Enrollment.objects.create(
                school=w.school, section=p3, student=student, enrolled_on=w.term.starts_on
            )
        bio_test = make_assessment(w.school, bio, [b1, b2], on=t - timedelta(days=3))
        earlier = make_assessment(w.school, w.course, [f1], on=t - timedelta(days=60))
        proficient_before_term(w, x1, f1)
        InterventionCycle.objects.create(
            school=w.school,
            number=1,
            starts_on=t - timedelta(days=30),
            ends_on=t + timedelta(days=10),
            status=InterventionCycle.Status.OPEN,
        )
    # Algebra 1 (3 days ago unless said): Student0 F1 3, F2 2.5; Student1 F1 3 (60 days ago) then 2;
    # Student2 nothing; Other0 F1 2, rescored 4 (the 2 is voided); Other1 F1 3 before the term, 1.
    score(w, s0, f1, "3")
    score(w, s0, f2, "2.5")
    score(w, s1, f1, "3", days_ago=60, assessment=earlier)
    score(w, s1, f1, "2")
    score(w, x0, f1, "2")
    score(w, x0, f1, "4")
    score(w, x1, f1, "1")
    # Biology: Student0 B1 1.5; Student1 B1 2, B2 3; Other0 nothing.
    score(w, s0, b1, "1.5", assessment=bio_test)
    score(w, s1, b1, "2", assessment=bio_test)
    score(w, s1, b2, "3", assessment=bio_test)
    w.extra.update(bio=bio, p3=p3, b1=b1, b2=b2, science=science, scientist=scientist)
    return w


def cycle_date(w) -> date:
    with scope(school=w.school):
        return cycle_start_date(InterventionCycle.objects.get(school=w.school, number=1))


def test_proficient_over_time_matches_hand_counts(
    client, login, school_world, django_capture_on_commit_callbacks, in_school
):
    w = school_world
    login(w.admin)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = client.get(url(w))
    assert first.status_code == 200
    assert len(callbacks) == 1  # both missing dates in one task
    assert "being computed" in first.content.decode()
    with in_school(w):
        runs = set(
            BaselineRun.objects.filter(school=w.school, status=BaselineRun.Status.DONE).values_list(
                "as_of", flat=True
            )
        )
    assert runs == {term_start_date(w.term), cycle_date(w)}
    assert "being computed" not in client.get(url(w)).content.decode()

    rows = {
        (r["Department"], r["Target"]): r
        for r in rows_of(client.get(url(w, csv="proficient-over-time")))
    }
    # Row order: the whole school, then each department (by name) followed by its targets.
    assert list(rows) == [
        ("Whole school", "All targets"),
        ("Mathematics", "All targets"),
        ("Mathematics", "ALPHA.F1"),
        ("Mathematics", "ALPHA.F2"),
        ("Mathematics", "ALPHA.F3"),
        ("Science", "All targets"),
        ("Science", "ALPHA.B1"),
        ("Science", "ALPHA.B2"),
    ]

    def cells(row, when):
        return (row[f"{when}: assessed"], row[f"{when}: proficient"], row[f"{when}: % proficient"])

    start, cycle = "At term start", "At start of cycle 1"
    # F1 now: Student0 3 P, Student1 2, Student2 -, Other0 4 P, Other1 1 → 2 of 4 assessed.
    # At term start (the day before it) only Other1's 3 from last year counts → 1 of 1.
    # At the cycle's start (31 days ago): Other1 3 and Student1's 3 from 60 days ago → 2 of 2.
    f1 = rows[("Mathematics", "ALPHA.F1")]
    assert (f1["Students"], f1["Student × target pairs"]) == ("5", "5")
    assert cells(f1, "Now") == ("4", "2", "50")
    assert cells(f1, start) == ("1", "1", "100")
    assert cells(f1, cycle) == ("2", "2", "100")
    # F2: Student0's 2.5 is level 2, not proficient; nothing earlier.
    assert cells(rows[("Mathematics", "ALPHA.F2")], "Now") == ("1", "0", "0")
    assert cells(rows[("Mathematics", "ALPHA.F2")], start) == ("0", "0", "")
    assert cells(rows[("Mathematics", "ALPHA.F3")], "Now") == ("0", "0", "")
    # Mathematics: 5 students × 3 targets = 15 pairs; now 5 assessed (F1 4, F2 1), 2 proficient.
    math = rows[("Mathematics", "All targets")]
    assert (math["Students"], math["Student × target pairs"]) == ("5", "15")
    assert cells(math, "Now") == ("5", "2", "40")
    assert cells(math, cycle) == ("2", "2", "100")
    # Science: 3 students × 2 targets; B1 Student0 1.5 and Student1 2 (neither), B2 Student1 3.
    assert cells(rows[("Science", "ALPHA.B1")], "Now") == ("2", "0", "0")
    assert cells(rows[("Science", "ALPHA.B2")], "Now") == ("1", "1", "100")
    sci = rows[("Science", "All targets")]
    assert (sci["Students"], sci["Student × target pairs"]) == ("3", "6")
    assert cells(sci, "Now") == ("3", "1", "33")
    assert cells(sci, start) == ("0", "0", "")
    # The school: 5 students, 21 pairs, 8 assessed, 3 proficient (37.5% rounds half up to 38).
    school = rows[("Whole school", "All targets")]
    assert (school["Students"], school["Student × target pairs"]) == ("5", "21")
    assert cells(school, "Now") == ("8", "3", "38")
    assert cells(school, start) == ("1", "1", "100")
    assert cells(school, cycle) == ("2", "2", "100")


def test_while_baselines_are_pending_the_ready_dates_show(client, login, school_world, in_school):
    w = school_world

    with scope(school=w.school):
        baseline_compute(school=w.school, as_of=term_start_date(w.term))
    login(w.admin)
    # The cycle's date is queued on commit, which never comes inside the test's transaction.
    page = client.get(url(w)).content.decode()
    assert "being computed" in page
    with in_school(w):
        pending = BaselineRun.objects.get(school=w.school, as_of=cycle_date(w))
    assert pending.status != BaselineRun.Status.DONE
    row = rows_of(client.get(url(w, csv="proficient-over-time")))[0]
    assert row["At term start: proficient"] == "1"
    assert "At start of cycle 1: proficient" not in row
    assert row["Now: proficient"] == "3"


def test_course_pass_rates_use_each_courses_policy(client, login, school_world):
    w = school_world
    login(w.admin)
    rows = {r["Course"]: r for r in rows_of(client.get(url(w, csv="course-pass-rates")))}
    assert list(rows) == ["ALG1 Algebra 1", "BIO Biology", "On track in every course"]

    def counts(row):
        return (
            row["Sections"],
            row["Students"],
            row["Students with a course grade"],
            row["Passing"],
            row["Pass rate %"],
        )

    # Algebra 1 (school policy: A ≥ 3, B ≥ 2.5, C ≥ 2, D ≥ 1.5, else F), averages of target scores:
    # Student0 (3 + 2.5)/2 = 2.75 B, Student1 2 C, Student2 no grade, Other0 4 A, Other1 1 F.
    assert counts(rows["ALG1 Algebra 1"]) == ("2", "5", "4", "3", "75")
    # Biology (its own policy: P ≥ 2, else NY): Student0 1.5 NY (a D under the school's policy),
    # Student1 (2 + 3)/2 = 2.5 P, Other0 no grade.
    assert counts(rows["BIO Biology"]) == ("1", "3", "2", "1", "50")
    # Graded somewhere: Student0 (fails Biology), Student1 (passes both), Other0 (passes Algebra),
    # Other1 (fails Algebra) → 2 of 4 on track; Student2 has no grade anywhere.
    assert counts(rows["On track in every course"]) == ("3", "5", "4", "2", "50")


def test_habits_trend_per_month(client, login, school_world, in_school):
    w = school_world
    s0, s1, s2 = w.students
    x0, _x1 = w.other_students
    this_month = today().replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    with in_school(w):
        effort = Habit.objects.create(school=w.school, name="Effort", position=0)
        Habit.objects.create(school=w.school, name="Participation", position=1)

        def habit(student, value, on, section=w.section, **extra):
            return HabitScore.objects.create(
                school=w.school,
                student=student,
                habit=effort,
                section=section,
                score=Decimal(value),
                assessed_on=on,
                recorded_by=w.teacher,
                **extra,
            )

        # This month: 3, 2 and 4 (and a voided 1) → 3 scores, average 3.
        habit(s0, "3", this_month)
        habit(s1, "2", this_month)
        habit(x0, "4", this_month, section=w.other_section)
        habit(
            s2,
            "1",
            this_month,
            voided_at=timezone.now(),
            voided_by=w.teacher,
            void_reason="typo",
        )
        # Last month: 2 and 3 → average 2.5. Before the term and after today: not counted.
        habit(s0, "2", last_month)
        habit(s1, "3", last_month)
        habit(s0, "4", w.term.starts_on - timedelta(days=5))
        habit(s1, "4", today() + timedelta(days=1))
    login(w.admin)
    rows = rows_of(client.get(url(w, csv="habits-trend")))
    months = term_months(w.term, today())
    assert months[0] == f"{w.term.starts_on:%Y-%m}" and months[-1] == f"{today():%Y-%m}"
    assert [(r["Habit"], r["Month"]) for r in rows] == [
        *(("Effort", m) for m in months),
        *(("Participation", m) for m in months),
    ]
    by = {(r["Habit"], r["Month"]): (r["Scores"], r["Average score"]) for r in rows}
    assert by[("Effort", f"{this_month:%Y-%m}")] == ("3", "3")
    assert by[("Effort", f"{last_month:%Y-%m}")] == ("2", "2.5")
    assert by[("Effort", months[0])] == ("0", "")  # the pre-term score is left out
    assert by[("Participation", f"{this_month:%Y-%m}")] == ("0", "")


def test_evidence_volume_per_section_and_who_is_not_assessing(
    client, login, school_world, in_school
):
    w = school_world
    f1, f2, f3 = w.targets
    t = today()
    with in_school(w):
        p4 = Section.objects.create(
            school=w.school, course=w.course, term=w.term, name="Period 4", period=4
        )
        SectionTeacher.objects.create(school=w.school, section=p4, teacher=w.other_teacher)
        Section.objects.create(
            school=w.school, course=w.course, term=w.term, name="Period 5", period=5
        )
        late = make_student(w.school, "alpha-l0", first="Late0", sections=[p4])
        withdrawn = make_student(w.school, "alpha-w0", first="Gone0", sections=[p4])
        Enrollment.objects.filter(student=withdrawn).update(withdrawn_on=t)
        a20, a14, a28 = (
            make_assessment(w.school, w.course, [f1, f2, f3], on=t - timedelta(days=d))
            for d in (20, 14, 28)
        )
    # Period 4: Late0's evidence 20, 14 and 28 days ago — outside the last 14 days (today and
    # the 13 before), two of three inside the last 28 (today and the 27 before).
    score(w, late, f1, "3", days_ago=20, assessment=a20)
    score(w, late, f2, "3", days_ago=14, assessment=a14)
    score(w, late, f3, "3", days_ago=28, assessment=a28)
    # A withdrawn student's evidence is not the section's.
    score(w, withdrawn, f1, "2", days_ago=1, assessment=a20)
    login(w.admin)
    response = client.get(url(w, csv="evidence-volume"))
    rows = {r["Section"]: r for r in rows_of(response)}
    assert list(rows) == [
        "ALG1 Period 1",
        "ALG1 Period 2",
        "ALG1 Period 4",
        "ALG1 Period 5",
        "BIO Period 3",
    ]

    def cells(row):
        return (
            row["Students"],
            row["Evidence, last 14 days"],
            row["Evidence, last 28 days"],
            row["Evidence this term"],
            row["Evidence per student this term"],
            row["Flag"],
        )

    # Period 1: Student0 F1, F2 and Student1 F1 three days ago, Student1's F1 60 days ago (live:
    # a score on another assessment); Student0's Biology score is Period 3's. 4 / 3 = 1.33.
    p1 = rows["ALG1 Period 1"]
    assert p1["Teachers"] == "Tess Teacher"
    assert cells(p1) == ("3", "3", "3", "4", "1.33", "")
    assert p1["Latest evidence"] == (t - timedelta(days=3)).isoformat()
    # Period 2: Other0's 4 (its voided 2 left out), Other1's 1; last year's 3 is before the term.
    assert cells(rows["ALG1 Period 2"]) == ("2", "2", "2", "2", "1", "")
    assert cells(rows["BIO Period 3"]) == ("3", "3", "3", "3", "1", "")
    assert rows["BIO Period 3"]["Teachers"] == "Sci Teacher"
    p4_row = rows["ALG1 Period 4"]
    assert cells(p4_row) == ("1", "0", "2", "3", "3", "Not assessing")
    assert p4_row["Latest evidence"] == (t - timedelta(days=14)).isoformat()
    # No students: nothing to flag.
    assert cells(rows["ALG1 Period 5"]) == ("0", "0", "0", "0", "", "")
    page = client.get(url(w)).content.decode()
    assert "Not assessing" in page


def test_the_page_shows_bars_beside_tables_and_every_figure_downloads(client, login, school_world):
    w = school_world
    login(w.admin)
    page = client.get(url(w)).content.decode()
    for slug in ("proficient-over-time", "course-pass-rates", "habits-trend", "evidence-volume"):
        assert f'id="figure-{slug}"' in page
        assert f"csv={slug}" in page
        response = client.get(url(w, csv=slug))
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        assert f"-{slug}-" in response["Content-Disposition"]
    assert "<svg" in page and "<table" in page
    assert client.get(url(w, csv="nope")).status_code == 404


def test_roles(client, login, school_world, in_school):
    w = school_world
    for user in (w.teacher, w.counselor, w.guardian, w.student_user):
        login(user)
        assert client.get(url(w)).status_code == 403
    login(w.admin)
    assert client.get(url(w)).status_code == 200
    with in_school(w):
        district = District.objects.create(name="North", slug="north")
        w.school.district = district
        w.school.save(update_fields=["district"])
        chief = make_user("chief@north.test", "Chief North")
        DistrictMembership.objects.create(district=district, user=chief)
    login(chief)
    assert client.get(url(w)).status_code == 200
    assert client.get(url(w, csv="course-pass-rates")).status_code == 200
    # The dashboards' home links the page for the admin only.
    login(w.admin)
    home = client.get(reverse("reports:dashboards", args=[w.school.slug])).content.decode()
    assert url(w) in home


def test_another_schools_data_never_appears(client, login, school_world, world_b):
    w = school_world
    b = world_b
    latest_policy(b)
    for student in b.students + b.other_students:
        score(b, student, b.targets[0], "4")
    with scopes_disabled():
        grit = Habit.objects.create(school=b.school, name="Grit")
        HabitScore.objects.create(
            school=b.school,
            student=b.students[0],
            habit=grit,
            section=b.section,
            score=Decimal(4),
            assessed_on=today(),
            recorded_by=b.teacher,
        )
    login(w.admin)
    page = client.get(url(w)).content.decode()
    assert b.targets[0].code not in page and "Grit" not in page
    # A's numbers are exactly A's (B's course and sections have the same names).
    assert rows_of(client.get(url(w, csv="course-pass-rates")))[0]["Students"] == "5"
    volume = {r["Section"]: r for r in rows_of(client.get(url(w, csv="evidence-volume")))}
    assert volume["ALG1 Period 2"]["Evidence this term"] == "2"
    assert volume["ALG1 Period 1"]["Students"] == "3"
    assert client.get(url(w, term=b.term.id)).status_code == 404
    login(b.admin)
    assert client.get(url(w)).status_code == 404
    # B's own dashboard counts B's students only.
    b_rows = rows_of(client.get(url(b, csv="proficient-over-time")))
    assert b_rows[0]["Students"] == "5" and b_rows[0]["Now: proficient"] == "5"


def test_query_count_is_pinned_whatever_the_size(
    client, login, school_world, django_assert_num_queries, in_school
):
    w = school_world
    baselines_done(w, [term_start_date(w.term), cycle_date(w)])
    with in_school(w):
        Habit.objects.create(school=w.school, name="Effort")
    login(w.admin)
    client.get(url(w))  # warm the session
    with django_assert_num_queries(QUERIES_SCHOOL):
        assert client.get(url(w)).status_code == 200
    more = [
        make_student(w.school, f"more-{i}", sections=[w.section, w.other_section, w.extra["p3"]])
        for i in range(6)
    ]
    for student in more:
        score(w, student, w.targets[0], "3")
    with django_assert_num_queries(QUERIES_SCHOOL):
        assert client.get(url(w)).status_code == 200


def test_bad_term_is_a_404_not_a_500(client, login, school_world):
    w = school_world
    login(w.admin)
    assert client.get(url(w, term="abc")).status_code == 404
    assert client.get(url(w, term="999999")).status_code == 404
