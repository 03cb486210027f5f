"""The grading policy page: who reads and changes it, the preview, saving a version (and the
recompute it starts), course overrides, and policy_preview on a hand-made data set."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import transaction
from django.urls import reverse
from django_scopes import scope, scopes_disabled

from gradebook.models import Course, CourseTarget, Mastery, RecomputeRun, Section
from grading.forms import PolicyForm
from grading.preview import policy_preview
from grading.school import school_recompute_python, school_recompute_sql
from grading.services import policy_candidate, policy_change
from mastery.models import GradingPolicy
from tests.factories import make_assessment, make_evidence, make_student
from tests.gradebook.pages import days_ago, masteries, page

# --- The grading policy page -----------------------------------------------------------------------


def school_policy(w) -> GradingPolicy:
    with scope(school=w.school):
        return GradingPolicy.objects.get(school=w.school, course__isnull=True, is_current=True)


def policy_data(policy: GradingPolicy, action: str, **changes) -> dict:
    """Every field of the policy form as the page would post it, with `changes` applied."""
    values = {**PolicyForm.initial_from(policy), **changes}
    data = {"action": action}
    for name, value in values.items():
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif isinstance(value, list):
            data[name] = [str(v) for v in value]
        elif value is None:
            data[name] = ""
        else:
            data[name] = str(value)
    return data


def policy_save(client, url: str, data: dict):
    """Save as an admin does: Save, then confirm with the preview's numbers."""
    asked = client.post(url, data)
    assert asked.status_code == 200, page(asked)
    fingerprint = re.search(r'name="confirm_of" value="(\w+)"', page(asked)).group(1)
    return client.post(url, {**data, "action": "confirm", "confirm_of": fingerprint})


def policy_url(w, course=None) -> str:
    if course is not None:
        return reverse(
            "policy_course", kwargs={"school_slug": w.school.slug, "course_id": course.id}
        )
    return reverse("policy", kwargs={"school_slug": w.school.slug})


def policy_counts(w) -> tuple[int, int]:
    with scope(school=w.school):
        return (
            GradingPolicy.objects.filter(school=w.school).count(),
            RecomputeRun.objects.filter(school=w.school).count(),
        )


@pytest.fixture
def spread(world_a):
    """Two students whose level on F1 depends on the method (decaying average vs highest).

    Student0: 4 then 2 -> decaying 2.7 (level 2), highest 4 (level 4).
    Student1: 3 then 1 -> decaying 1.7 (level 1), highest 3 (level 3).
    Student2: 3 -> 3 under both.
    """
    w = world_a
    later = make_assessment(w.school, w.course, w.targets[:1], on=days_ago(3), kind="formative")
    s0, s1, s2 = w.students
    t0 = w.targets[0]
    make_evidence(w, s0, t0, "4")
    make_evidence(w, s0, t0, "2", assessment=later)
    make_evidence(w, s1, t0, "3")
    make_evidence(w, s1, t0, "1", assessment=later)
    make_evidence(w, s2, t0, "3")
    return w


def score_of(w, student, target) -> Mastery:
    with scopes_disabled():
        return Mastery.objects.select_related("policy").get(
            school=w.school, student=student, target=target
        )


@pytest.mark.parametrize("member", ["teacher", "counselor"])
def test_teachers_and_counselors_read_the_policy_but_cannot_change_it(client, world_a, member):
    w = world_a
    client.force_login(getattr(w, member))
    response = client.get(policy_url(w))
    assert response.status_code == 200
    content = page(response)
    assert "Each new score counts 65%" in content
    assert 'name="action" value="save"' not in content
    before = policy_counts(w)
    for action in ("preview", "save"):
        data = policy_data(school_policy(w), action, method="highest")
        assert client.post(policy_url(w), data).status_code == 403
    assert (
        client.post(policy_url(w, w.course), policy_data(school_policy(w), "save")).status_code
        == 403
    )
    assert policy_counts(w) == before


@pytest.mark.parametrize("member", ["guardian", "student_user"])
def test_families_and_students_get_403_on_the_policy_pages(client, world_a, member, in_school):
    w = world_a
    client.force_login(getattr(w, member))
    assert client.get(policy_url(w)).status_code == 403
    assert client.get(policy_url(w, w.course)).status_code == 403
    with in_school(w):
        run = RecomputeRun.objects.create(school=w.school, policy=school_policy(w))
    run_url = reverse("policy_run", kwargs={"school_slug": w.school.slug, "run_id": run.id})
    assert client.get(run_url).status_code == 403


def test_a_preview_shows_what_would_change_and_saves_nothing(client, spread):
    w = spread
    before, levels = policy_counts(w), masteries(w)
    client.force_login(w.admin)
    response = client.post(
        policy_url(w), policy_data(school_policy(w), "preview", method="highest")
    )
    assert response.status_code == 200
    content = page(response)
    preview = content[content.index("Preview on today's data") :]
    assert "2 of 3 results change level (2 students, 1 target)" in preview
    assert "2 results become mastered, 0 stop being mastered, out of 3 computed." in preview
    assert "Student0 Student, ALPHA.F1: 2.7 Developing → 4 Advanced" in preview
    assert "Highest score." in content  # the rule with the changes, in words
    assert "Nothing is saved until you choose Save." in content
    assert policy_counts(w) == before and masteries(w) == levels
    assert school_policy(w).version == 1 and school_policy(w).method == "decaying_average"


def test_saving_writes_a_new_version_and_recomputes_every_level(
    client, spread, django_capture_on_commit_callbacks, in_school
):
    w = spread
    old = school_policy(w)
    client.force_login(w.admin)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = policy_save(
            client,
            policy_url(w),
            policy_data(old, "save", method="highest", note="Latest learning counts most"),
        )
    # One recompute queued (the portal's cache invalidation rides on commit too).
    assert [cb.__qualname__ for cb in callbacks].count("_queue_recompute.<locals>.<lambda>") == 1
    assert response.status_code == 302
    new = school_policy(w)
    assert new.version == 2 and new.is_current and new.method == "highest"
    assert new.note == "Latest learning counts most" and new.created_by == w.admin
    old.refresh_from_db()
    assert not old.is_current  # kept, no longer current
    with in_school(w):
        run = RecomputeRun.objects.get(school=w.school)
    assert response["Location"] == policy_url(w) + f"?run={run.id}"
    assert run.status == "done" and run.policy == new and run.requested_by == w.admin
    # Every record names the new version (written), two changed level, as the preview said.
    assert run.pairs == 3 and run.written == 3 and run.level_changes == 2
    s0, s1, s2 = w.students
    t0 = w.targets[0]
    assert score_of(w, s0, t0).score == Decimal(4) and score_of(w, s0, t0).level == Decimal(4)
    assert score_of(w, s1, t0).score == Decimal(3) and score_of(w, s1, t0).mastered
    with in_school(w):
        assert set(Mastery.objects.filter(school=w.school).values_list("policy_id", flat=True)) == {
            new.id
        }
    content = page(client.get(response["Location"]))
    assert "Saved as version 2." in content
    assert "Levels recomputed: 2 of 3 results changed level." in content
    assert "v2" in content and "v1" in content


def test_saving_without_a_reason_is_refused_and_changes_nothing(client, spread):
    """Issue 10 item 10: a school-wide change says why (the reason was optional)."""
    w = spread
    before, levels = policy_counts(w), masteries(w)
    client.force_login(w.admin)
    for action in ("save", "confirm"):
        data = policy_data(school_policy(w), action, method="highest", note="   ")
        response = client.post(policy_url(w), data)
        assert response.status_code == 422
        assert "Say why the policy changes" in page(response)
        assert 'name="confirm_of"' not in page(response)
    assert policy_counts(w) == before and masteries(w) == levels


def test_saving_asks_to_confirm_with_the_previews_numbers_and_settings_changed_since_ask_again(
    client, spread
):
    w = spread
    before, levels = policy_counts(w), masteries(w)
    client.force_login(w.admin)
    data = policy_data(school_policy(w), "save", method="highest", note="Best evidence")
    asked = page(client.post(policy_url(w), data))
    confirm = asked[asked.index('id="confirm"') :]
    assert "Save this policy for the whole school?" in confirm
    assert "2 of 3 results change level (2 students, 1 target)" in confirm
    assert policy_counts(w) == before  # asking saves nothing
    fingerprint = re.search(r'name="confirm_of" value="(\w+)"', asked).group(1)
    # Confirming other settings than the ones shown asks again, with their numbers.
    other = {**data, "method": "latest", "action": "confirm", "confirm_of": fingerprint}
    again = client.post(policy_url(w), other)
    assert again.status_code == 200 and "The settings changed since you confirmed" in page(again)
    assert policy_counts(w) == before and masteries(w) == levels
    saved = client.post(policy_url(w), {**data, "action": "confirm", "confirm_of": fingerprint})
    assert saved.status_code == 302 and school_policy(w).method == "highest"


@pytest.mark.parametrize("path", ["python", "sql"])
def test_both_recomputes_count_level_changes_as_the_preview_does(spread, in_school, path):
    w = spread
    with in_school(w):
        policy_change(school=w.school, changed_by=w.admin, note="x", method="highest")
        run = school_recompute_python if path == "python" else school_recompute_sql
        with transaction.atomic():
            result = run(w.school)
    assert (result.pairs, result.written, result.level_changes) == (3, 3, 2)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"weight": "0"}, "Ensure this value is greater than or equal to 0.01."),
        ({"weight": "150"}, "Ensure this value is less than or equal to 100."),
        ({"min_evidence": "0"}, "Ensure this value is greater than or equal to 1."),
        ({"grade_bands": "A three"}, "“three” is not a number."),
    ],
)
def test_invalid_settings_answer_422_and_save_nothing(client, spread, changes, message):
    w = spread
    before, levels = policy_counts(w), masteries(w)
    client.force_login(w.admin)
    for action in ("save", "preview"):
        response = client.post(policy_url(w), policy_data(school_policy(w), action, **changes))
        assert response.status_code == 422
        assert message in page(response)
    assert policy_counts(w) == before and masteries(w) == levels


def test_a_course_override_is_saved_then_removed_and_its_history_kept(
    client, spread, django_capture_on_commit_callbacks, in_school
):
    w = spread
    s0, t0 = w.students[0], w.targets[0]
    default = school_policy(w)
    client.force_login(w.admin)
    assert "This course follows the school policy." in page(client.get(policy_url(w, w.course)))
    with django_capture_on_commit_callbacks(execute=True):
        response = policy_save(
            client,
            policy_url(w, w.course),
            policy_data(default, "save", method="latest", note="Algebra counts the latest"),
        )
    assert response.status_code == 302
    with in_school(w):
        override = GradingPolicy.objects.get(school=w.school, course=w.course)
    assert override.is_current and override.version == 1 and override.method == "latest"
    assert school_policy(w) == default  # the school default is untouched
    assert score_of(w, s0, t0).policy == override and score_of(w, s0, t0).score == Decimal(2)
    content = page(client.get(policy_url(w, w.course)))
    assert "This course has its own policy (version 1)." in content
    assert "Follow the school policy instead" in content

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(policy_url(w, w.course), {"action": "remove"})
    assert response.status_code == 302
    with in_school(w):
        run = RecomputeRun.objects.filter(school=w.school).order_by("-id").first()
        history = list(GradingPolicy.objects.filter(school=w.school, course=w.course))
    assert response["Location"] == policy_url(w, w.course) + f"?run={run.id}"
    assert history == [override]  # kept, not current
    override.refresh_from_db()
    assert not override.is_current
    assert run.status == "done" and run.policy == default
    record_now = score_of(w, s0, t0)
    assert record_now.policy == default and record_now.score == Decimal("2.70")
    content = page(client.get(response["Location"]))
    assert "now follows the school policy" in content
    assert "This course follows the school policy." in content


def test_the_run_fragment_polls_only_while_the_recompute_is_unfinished(client, world_a, in_school):
    w = world_a
    with in_school(w):
        run = RecomputeRun.objects.create(school=w.school, policy=school_policy(w))
    run_url = reverse("policy_run", kwargs={"school_slug": w.school.slug, "run_id": run.id})
    client.force_login(w.teacher)
    for status, text in [
        ("queued", "Recompute queued"),
        ("running", "Recomputing every student's levels"),
    ]:
        with scopes_disabled():
            RecomputeRun.objects.filter(pk=run.pk).update(status=status)
        content = page(client.get(run_url))
        assert text in content
        assert 'hx-trigger="every 1s"' in content and f'hx-get="{run_url}"' in content
    with scopes_disabled():
        RecomputeRun.objects.filter(pk=run.pk).update(status="done", pairs=40, written=12)
    content = page(client.get(run_url))
    assert "Levels recomputed: 12 of 40 results changed." in content
    assert "hx-trigger" not in content and "hx-get" not in content
    with scopes_disabled():
        RecomputeRun.objects.filter(pk=run.pk).update(status="failed", error="boom")
    content = page(client.get(run_url))
    assert "The recompute failed" in content and "hx-trigger" not in content


def test_a_run_of_another_school_answers_404(client, world_a, world_b):
    with scopes_disabled():
        run = RecomputeRun.objects.create(school=world_b.school, policy=school_policy(world_b))
    client.force_login(world_a.admin)
    run_url = reverse("policy_run", kwargs={"school_slug": world_a.school.slug, "run_id": run.id})
    assert client.get(run_url).status_code == 404


# --- policy_preview on a hand-made data set --------------------------------------------------------


@pytest.fixture
def preview_world(world_a):
    """Scores on F1 and F2 (the course has F1-F3; F3 has none), worked out by hand below.

    Under the default (decaying average, 65% on the newest; A from 3, B 2.5, C 2, D 1.5):
      Student0  F1: 4, 2 -> 2.7 (2)   F2: 3 -> 3 (3)      course mean 2.85 -> B
      Student1  F1: 2, 3 -> 2.65 (2)  F2: 2 -> 2 (2)      course mean 2.33 -> C
      Student2  F1: 3 -> 3 (3)        F2: 1, 1 -> 1 (1)   course mean 2    -> C
    """
    w = world_a
    later = make_assessment(w.school, w.course, w.targets[:2], on=days_ago(3), kind="formative")
    s0, s1, s2 = w.students
    t0, t1 = w.targets[0], w.targets[1]
    make_evidence(w, s0, t0, "4")
    make_evidence(w, s0, t0, "2", assessment=later)
    make_evidence(w, s0, t1, "3")
    make_evidence(w, s1, t0, "2")
    make_evidence(w, s1, t0, "3", assessment=later)
    make_evidence(w, s1, t1, "2")
    make_evidence(w, s2, t0, "3")
    make_evidence(w, s2, t1, "1")
    make_evidence(w, s2, t1, "1", assessment=later)
    return w


def preview(w, **changes):
    with scope(school=w.school):
        candidate = policy_candidate(school=w.school, changed_by=w.admin, **changes)
        return policy_preview(school=w.school, candidate=candidate)


def test_the_preview_counts_level_and_course_grade_changes(preview_world):
    w = preview_world
    before = masteries(w)
    # Highest: Student0 F1 4 (4), Student1 F1 3 (3); the others keep their level.
    # Courses: Student0 mean(4, 3) = 3.5 -> A (was B); Student1 mean(3, 2) = 2.5 -> B (was C).
    result = preview(w, method="highest")
    assert result.pairs == 6
    assert result.level_changes == 2
    assert result.students_changing == 2 and result.targets_changing == 1
    assert result.mastered_gained == 2 and result.mastered_lost == 0
    assert result.grade_changes == 2 and result.students_with_grade_change == 2
    assert "Student1 Student, ALPHA.F1: 2.65 Developing → 3 Proficient" in result.examples
    assert masteries(w) == before
    assert policy_counts(w) == (1, 0)


def test_the_preview_counts_lost_mastery(preview_world):
    w = preview_world
    # Mastery at 3.5: Student0 F2 (3) and Student2 F1 (3) stop being mastered; no level changes.
    result = preview(w, mastery_threshold=Decimal("3.5"))
    assert result.level_changes == 0 and result.mastered_lost == 2
    assert result.mastered_gained == 0 and result.grade_changes == 0


def test_the_preview_of_an_unchanged_policy_changes_nothing(preview_world):
    result = preview(preview_world)
    assert result.pairs == 6
    assert (result.level_changes, result.grade_changes, result.mastered_gained) == (0, 0, 0)
    assert result.examples == []


def test_the_preview_counts_course_grades_changed_by_new_letter_bands(preview_world):
    w = preview_world
    # New bands A 3.5, B 3, C 2.5, D 2: Student0 2.85 B -> C, Student1 2.33 C -> D, Student2 2 C -> D.
    bands = [
        {"letter": "A", "min_score": "3.5"},
        {"letter": "B", "min_score": "3"},
        {"letter": "C", "min_score": "2.5"},
        {"letter": "D", "min_score": "2"},
    ]
    result = preview(w, grade_bands=bands)
    assert result.level_changes == 0
    assert result.grade_changes == 3 and result.students_with_grade_change == 3


def test_the_preview_counts_a_grade_change_without_a_level_change(world_a):
    w = world_a
    later = make_assessment(w.school, w.course, w.targets[:1], on=days_ago(3), kind="formative")
    s = w.students[0]
    make_evidence(w, s, w.targets[0], "3")
    make_evidence(w, s, w.targets[0], "2", assessment=later)
    # Decaying average 2.35 (level 2, course C); the mean 2.5 (still level 2, but course B).
    result = preview(w, method="mean")
    assert result.level_changes == 0
    assert result.grade_changes == 1 and result.students_with_grade_change == 1


def test_the_preview_of_a_course_override_only_covers_that_courses_students(
    preview_world, in_school
):
    w = preview_world
    f3 = w.targets[2]
    with in_school(w):
        geometry = Course.objects.create(
            school=w.school, department=w.department, code="GEO", name="Geometry"
        )
        CourseTarget.objects.create(school=w.school, course=geometry, target=f3)
        geo_section = Section.objects.create(
            school=w.school, course=geometry, term=w.term, name="Geo 4", period=4
        )
    geo_student = make_student(
        w.school, "alpha-geo", first="Gina", sections=[geo_section], enrolled_on=w.term.starts_on
    )
    first = make_assessment(w.school, geometry, [f3], on=days_ago(5))
    second = make_assessment(w.school, geometry, [f3], on=days_ago(1))
    make_evidence(w, geo_student, f3, "4", assessment=first)
    make_evidence(w, geo_student, f3, "1", assessment=second)
    # An Algebra student with the same scores on the shared target is not under the override.
    alg_first = make_assessment(w.school, w.course, [f3], on=days_ago(5))
    alg_second = make_assessment(w.school, w.course, [f3], on=days_ago(1))
    make_evidence(w, w.students[0], f3, "4", assessment=alg_first)
    make_evidence(w, w.students[0], f3, "1", assessment=alg_second)
    with scope(school=w.school):
        candidate = policy_candidate(
            school=w.school, changed_by=w.admin, course=geometry, method="highest"
        )
        result = policy_preview(school=w.school, candidate=candidate)
    # Only Gina on F3: 4, 1 -> 2.05 (2, course C) becomes 4 (4, course A).
    assert result.pairs == 1
    assert result.level_changes == 1 and result.students_changing == 1
    assert result.grade_changes == 1 and result.students_with_grade_change == 1
    assert result.examples == ["Gina Student, ALPHA.F3: 2.05 Developing → 4 Advanced"]
