"""The school recompute: set-based SQL equals the Python engine, policy changes, overrides, Celery."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import RestrictedError
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from config.celery import app as celery_app
from gradebook.models import Assessment, Course, CourseTarget, Enrollment, Evidence, Mastery
from grading import school as recompute
from grading import tasks
from grading.school import (
    mastery_recompute_school,
    school_recompute_python,
    school_recompute_sql,
    stale_school_ids,
)
from grading.services import enqueue_school_recompute, policy_change
from grading.tasks import recompute_stale_schools
from mastery.models import GradingPolicy, LearningTarget
from tests import database
from tests.factories import make_assessment, make_evidence, make_world

ROOT = Path(__file__).resolve().parents[2]
FIELDS = (
    "score",
    "level",
    "mastered",
    "evidence_count",
    "scores_counted",
    "last_evidence_on",
    "explanation",
    "policy_id",
)


def scatter_evidence(w, seed: int, *, students=6, attempts=(0, 7)):
    """Random evidence for every student × target of the world: scores, statuses, kinds, voids, ties."""
    rng = random.Random(seed)
    pool = list(w.students) + list(w.other_students)
    assessments = [
        make_assessment(
            w.school,
            w.course,
            w.targets,
            on=w.assessment.assessed_on - timedelta(days=d),
            kind=kind,
        )
        for d, kind in [
            (40, "pre"),
            (30, "formative"),
            (20, "summative"),
            (20, "interim"),
            (10, "reassessment"),
            (5, "formative"),
            (0, "summative"),
        ]
    ]
    rows = []
    for student in pool[:students]:
        for target in w.targets:
            chosen = rng.sample(assessments, rng.randint(*attempts))
            for assessment in chosen:
                roll = rng.random()
                status = "scored"
                if roll < 0.08:
                    status = "missing"
                elif roll < 0.12:
                    status = "excused"
                elif roll < 0.14:
                    status = "incomplete"
                elif roll < 0.16:
                    status = "insufficient"
                score = (
                    Decimal(rng.choice(["1", "1.5", "2", "2.5", "3", "3.5", "4"]))
                    if status == "scored"
                    else None
                )
                voided = rng.random() < 0.1
                rows.append(
                    Evidence(
                        school=w.school,
                        student=student,
                        target=target,
                        assessment=assessment,
                        score=score,
                        status=status,
                        kind=assessment.kind,
                        assessed_on=assessment.assessed_on,
                        recorded_by=w.teacher,
                        voided_at=timezone.now() if voided else None,
                        voided_by=w.teacher if voided else None,
                        void_reason="test" if voided else "",
                    )
                )
    with scopes_disabled():
        Evidence.objects.bulk_create(rows)
    return rows


def snapshot(w):
    with scope(school=w.school):
        return {
            (m.student_id, m.target_id): tuple(getattr(m, f) for f in FIELDS)
            for m in Mastery.objects.filter(school=w.school)
        }


def clear_mastery(w):
    with scope(school=w.school):
        Mastery.objects.filter(school=w.school).delete()


def set_policy(w, **fields):
    with scope(school=w.school):
        GradingPolicy.objects.filter(school=w.school, course__isnull=True, is_current=True).update(
            **fields
        )


POLICIES = [
    {"method": "latest"},
    {"method": "highest"},
    {"method": "mean"},
    {"method": "mean", "recent": 3},
    {"method": "decaying_average", "weight": 65},
    {"method": "decaying_average", "weight": Decimal("62.5")},
    {"method": "decaying_average", "weight": 100},
    {"method": "weighted_average", "weight": 65},
    {"method": "weighted_average", "weight": 75},
    {"method": "n_times", "n": 2},
    {"method": "n_times", "n": 4, "mastery_threshold": Decimal("2.5")},
    {"method": "power_law", "power_law_at": "last"},
    {"method": "power_law", "power_law_at": "next"},
    {"method": "mode", "mode_ties": "higher"},
    {"method": "mode", "mode_ties": "recent", "recent": 4},
    {"method": "median"},
    {"method": "median", "recent": 2},
    {"method": "mean", "min_evidence": 3},
    {"method": "decaying_average", "missing_counts_as_minimum": True},
    {"method": "latest", "counted_kinds": []},  # every kind counts, pre-assessments too
    {"method": "highest", "counted_kinds": ["summative"]},
]


@pytest.mark.parametrize(
    "policy", POLICIES, ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items())
)
@pytest.mark.parametrize("seed", [1, 2])
def test_the_set_based_sql_recompute_equals_the_python_engine(db, policy, seed):
    w = make_world("parity", students=4)
    scatter_evidence(w, seed)
    set_policy(w, **policy)
    with scope(school=w.school):
        sql = school_recompute_sql(w.school)
    from_sql = snapshot(w)
    clear_mastery(w)
    with scope(school=w.school):
        python = school_recompute_python(w.school)
    from_python = snapshot(w)
    assert sql.pairs == python.pairs == len(from_sql) > 10
    mismatches = {
        k: (from_sql[k], from_python.get(k)) for k in from_sql if from_sql[k] != from_python.get(k)
    }
    assert not mismatches, mismatches
    assert any(v[0] is not None for v in from_sql.values())  # the data set exercises real scores


@pytest.mark.parametrize(
    "policy",
    [
        {"method": "decaying_average", "weight": 65},
        {"method": "decaying_average", "weight": 99},
        {"method": "weighted_average", "weight": 65},
        {"method": "mean", "recent": 5},
    ],
    ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()),
)
def test_a_pair_with_hundreds_of_scores_is_computed_as_the_engine_computes_it(
    db, policy, in_school
):
    # 800 attempts: q^800 is below a float's range (PostgreSQL's power() raises "underflow"
    # rather than returning 0), so the SQL must not ask for weights that small.
    w = make_world("long", students=1)
    target, day = w.targets[0], w.assessment.assessed_on
    rng = random.Random(8)
    with in_school(w):
        assessments = Assessment.objects.bulk_create(
            Assessment(
                school=w.school,
                course=w.course,
                kind="summative",
                assessed_on=day,
                title=f"Try {i}",
            )
            for i in range(800)
        )
        Evidence.objects.bulk_create(
            Evidence(
                school=w.school,
                student=w.student,
                target=target,
                assessment=a,
                score=Decimal(rng.choice(["1", "2", "3", "4"])),
                status="scored",
                kind="summative",
                assessed_on=day - timedelta(days=800 - i),
                recorded_by=w.teacher,
            )
            for i, a in enumerate(assessments)
        )
    set_policy(w, **policy)
    with scope(school=w.school):
        school_recompute_sql(w.school)
    from_sql = snapshot(w)
    clear_mastery(w)
    with scope(school=w.school):
        school_recompute_python(w.school)
    assert from_sql == snapshot(w)
    assert from_sql[(w.student.id, target.id)][5] == day - timedelta(days=1)


def test_a_second_recompute_over_unchanged_data_writes_nothing(world_a, in_school):
    scatter_evidence(world_a, 3)
    with in_school(world_a):
        first = mastery_recompute_school(school=world_a.school)
        second = mastery_recompute_school(school=world_a.school)
    assert first.method == "sql" and first.written == first.pairs > 0
    assert second.written == 0


def test_the_recompute_sees_only_its_own_school(world_a, world_b):
    scatter_evidence(world_a, 4)
    scatter_evidence(world_b, 5)
    with scopes_disabled():
        mastery_recompute_school(school=world_a.school)
        assert Mastery.objects.filter(school=world_b.school).count() == 0
        assert Mastery.objects.filter(school=world_a.school).count() > 0


def test_a_pair_whose_evidence_was_all_voided_falls_back_to_insufficient_evidence(
    world_a, in_school
):
    with in_school(world_a):
        make_evidence(world_a, world_a.student, world_a.targets[0], "4")
    with in_school(world_a):
        Evidence.objects.filter(school=world_a.school).update(
            voided_at=timezone.now(), voided_by=world_a.teacher, void_reason="test"
        )
        mastery_recompute_school(school=world_a.school)
        record = Mastery.objects.get(
            school=world_a.school, student=world_a.student, target=world_a.targets[0]
        )
    assert record.score is None and record.evidence_count == 0 and record.level is None
    assert record.explanation == "Not enough evidence: 0 scores counted, 1 needed"


def test_a_policy_change_makes_a_new_version_and_recomputes_every_record(
    world_a, django_capture_on_commit_callbacks, in_school
):
    scatter_evidence(world_a, 6)
    with in_school(world_a):
        mastery_recompute_school(school=world_a.school)
        old = GradingPolicy.objects.get(school=world_a.school, is_current=True)
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            new = policy_change(
                school=world_a.school,
                changed_by=world_a.admin,
                method="highest",
                note="Reward the best evidence",
            )
        old.refresh_from_db()
        records = list(Mastery.objects.filter(school=world_a.school))
    # One recompute queued (the portal's cache invalidation rides on commit too).
    assert [cb.__qualname__ for cb in callbacks].count("_queue_recompute.<locals>.<lambda>") == 1
    assert (old.version, old.is_current, new.version, new.is_current) == (1, False, 2, True)
    assert (
        new.created_by == world_a.admin and new.weight == old.weight
    )  # unchanged fields carry over
    assert records and all(r.policy_id == new.id for r in records)
    assert all(r.explanation.startswith(("Highest of", "Not enough evidence")) for r in records)
    assert world_a.school.id not in stale_school_ids()


def test_a_policy_version_that_computed_records_cannot_be_deleted(world_a, in_school):
    # Mastery.policy has no database constraint (a policy change rewrites it on every record and
    # PostgreSQL would check each row at commit); Django's RESTRICT is what keeps it from dangling.
    scatter_evidence(world_a, 7)
    with in_school(world_a):
        mastery_recompute_school(school=world_a.school)
        policy = GradingPolicy.objects.get(school=world_a.school, is_current=True)
        with pytest.raises(RestrictedError):
            policy.delete()
        assert Mastery.objects.filter(school=world_a.school, policy=policy).count() > 0
        assert GradingPolicy.objects.filter(pk=policy.pk).exists()


def test_an_invalid_policy_change_is_refused_and_changes_nothing(world_a, in_school):
    with in_school(world_a):
        for bad in (
            {"weight": 0},
            {"method": "average"},
            {"mastery_threshold": Decimal(9)},
            {"counted_kinds": ["homework"]},
        ):
            with pytest.raises(ValidationError):
                policy_change(school=world_a.school, changed_by=world_a.admin, **bad)
        with pytest.raises(ValidationError, match="Not policy settings"):
            policy_change(school=world_a.school, changed_by=world_a.admin, school_id=3)
        assert list(
            GradingPolicy.objects.filter(school=world_a.school).values_list("version", "is_current")
        ) == [(1, True)]


def test_a_course_override_applies_to_that_courses_targets_only(
    world_a, in_school, django_capture_on_commit_callbacks
):
    w = world_a
    with scopes_disabled():
        science = Course.objects.create(
            school=w.school, department=w.department, code="SCI", name="Science"
        )
        lab = LearningTarget.objects.create(
            school=w.school, competency=w.competency, code="ALPHA.LAB", statement="I can run a lab."
        )
        CourseTarget.objects.create(school=w.school, course=science, target=lab)
        section = w.section.__class__.objects.create(
            school=w.school, course=science, term=w.term, name="P5"
        )
        Enrollment.objects.create(
            school=w.school, section=section, student=w.student, enrolled_on=w.term.starts_on
        )
    lab_test = make_assessment(w.school, science, [lab], on=w.assessment.assessed_on)
    later = make_assessment(
        w.school, w.course, w.targets[:1], on=w.assessment.assessed_on + timedelta(days=2)
    )
    later_lab = make_assessment(
        w.school, science, [lab], on=w.assessment.assessed_on + timedelta(days=2)
    )
    with in_school(w):
        for assessment, target, score in [
            (w.assessment, w.targets[0], "4"),
            (later, w.targets[0], "2"),
            (lab_test, lab, "4"),
            (later_lab, lab, "2"),
        ]:
            make_evidence(w, w.student, target, score, assessment=assessment)
        with django_capture_on_commit_callbacks(execute=True):
            override = policy_change(
                school=w.school, changed_by=w.admin, course=w.course, method="highest"
            )
        algebra = Mastery.objects.get(student=w.student, target=w.targets[0])
        science_record = Mastery.objects.get(student=w.student, target=lab)
    assert override.course == w.course and override.version == 1
    assert algebra.policy_id == override.id and algebra.score == Decimal(4)
    assert science_record.policy_id != override.id and science_record.score == Decimal("2.70")
    # A score recorded later uses the same policy as the bulk recompute did.
    with in_school(w):
        third = make_assessment(
            w.school, w.course, w.targets[:1], on=w.assessment.assessed_on + timedelta(days=4)
        )
        result = make_evidence(w, w.student, w.targets[0], "1", assessment=third)
    assert result.mastery.policy_id == override.id and result.mastery.score == Decimal(4)


def test_a_policy_change_made_while_the_broker_is_down_is_caught_up_later(
    world_a, monkeypatch, in_school
):
    scatter_evidence(world_a, 7)
    with in_school(world_a):
        mastery_recompute_school(school=world_a.school)

    def broker_down(**kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(tasks.recompute_school_mastery, "delay", broker_down)
    with in_school(world_a):
        policy_change(school=world_a.school, changed_by=world_a.admin, method="latest")
        assert enqueue_school_recompute(school_id=world_a.school.id) is False
        assert world_a.school.id in stale_school_ids()
    monkeypatch.undo()
    assert recompute_stale_schools.apply().get() == [world_a.school.id]
    with in_school(world_a):
        assert world_a.school.id not in stale_school_ids()


@pytest.mark.slow
def test_enqueueing_with_an_unreachable_broker_returns_instead_of_raising(db):
    """With the real settings and Redis unreachable, the request that asked for a recompute goes on."""
    env = {
        **os.environ,
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DEBUG": "1",
    }
    code = (
        "import time; from grading.services import enqueue_school_recompute as e; "
        "t = time.monotonic(); ok = e(school_id=1); print('RESULT', ok, round(time.monotonic() - t, 1))"
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "RESULT False" in out.stdout, out.stdout + out.stderr
    print(out.stdout.strip())


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_celery_worker_recomputes_after_a_policy_change(monkeypatch, in_school):
    """Start a worker process on Redis, change the policy, and watch the worker rewrite the records."""
    w = make_world("worker", students=3)
    scatter_evidence(w, 8)
    with in_school(w):
        mastery_recompute_school(school=w.school)
    env = {
        **os.environ,
        "DATABASE_URL": _database_url_for(connection.settings_dict["NAME"]),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DEBUG": "0",
        "SECRET_KEY": "test-only",
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "-Q",
            "celery",
            "-l",
            "info",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        celery_app.conf.task_always_eager = False
        with scopes_disabled(), transaction.atomic():
            new = policy_change(school=w.school, changed_by=w.admin, method="latest")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with in_school(w):
                stale = Mastery.objects.filter(school=w.school).exclude(policy=new).count()
            if stale == 0:
                break
            assert worker.poll() is None, worker.stdout.read()
            time.sleep(0.5)
        with in_school(w):
            records = list(Mastery.objects.filter(school=w.school))
        assert records and all(r.policy_id == new.id for r in records), (
            "the worker did not recompute in time"
        )
        assert all(r.explanation.startswith(("Most recent", "Not enough")) for r in records)
    finally:
        celery_app.conf.task_always_eager = True
        worker.terminate()
        try:
            output, _ = worker.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            output, _ = worker.communicate()
    assert "gradebook.recompute_school_mastery" in output and "succeeded" in output
    assert "'parts': 2" in output  # a worker splits the recompute over two connections


@pytest.mark.django_db(transaction=True)
def test_a_recompute_split_over_connections_writes_what_one_connection_writes(settings):
    """Outside any other transaction the school's recompute splits its students over connections
    (RECOMPUTE_PARTS); the records are the ones a single connection writes, cent for cent."""
    a, b = make_world("split-a", students=7), make_world("split-b", students=4)
    scatter_evidence(a, 11, students=7)
    scatter_evidence(b, 12, students=4)
    set_policy(a, method="decaying_average", weight=65)
    with scopes_disabled():
        mastery_recompute_school(school=b.school)
    of_b = snapshot(b)
    with scopes_disabled(), transaction.atomic():
        # Inside a caller's transaction the other connections could not see its rows: one share.
        alone = mastery_recompute_school(school=a.school)
    one_connection = snapshot(a)
    assert alone.parts == 1 and alone.pairs == len(one_connection) > 12
    students = {student_id for student_id, _ in one_connection}
    assert {student_id % 3 for student_id in students} == {0, 1, 2}  # every share has records

    clear_mastery(a)
    settings.RECOMPUTE_PARTS = 3
    backends = database.open_client_connections()
    with scopes_disabled():
        split = mastery_recompute_school(school=a.school)
        again = mastery_recompute_school(school=a.school)
    assert (split.parts, split.pairs, split.written) == (3, alone.pairs, alone.pairs)
    assert snapshot(a) == one_connection
    assert (again.pairs, again.written) == (alone.pairs, 0)  # idempotent across shares too
    assert snapshot(b) == of_b  # the other school's records are not touched
    # The shares' connections are closed (a server process takes a moment to leave the list).
    deadline = time.monotonic() + 5
    while database.open_client_connections() > backends and time.monotonic() < deadline:
        time.sleep(0.1)
    assert database.open_client_connections() <= backends


@pytest.mark.django_db(transaction=True)
def test_a_share_that_fails_fails_the_recompute(settings, monkeypatch, in_school):
    """An error in another connection's share reaches the task (which marks its run FAILED); a
    rerun writes every record."""

    w = make_world("split-fail", students=5)
    scatter_evidence(w, 13, students=5)
    settings.RECOMPUTE_PARTS = 2
    real = recompute.school_recompute_sql

    def second_share_fails(school, *, part=None):
        if part is not None and part.index == 1:
            raise RuntimeError("share 1 lost its connection")
        return real(school, part=part)

    monkeypatch.setattr(recompute, "school_recompute_sql", second_share_fails)
    with scopes_disabled(), pytest.raises(RuntimeError, match="share 1 lost its connection"):
        mastery_recompute_school(school=w.school)
    # The first share was this connection's, in the transaction the error rolled back.
    assert snapshot(w) == {}
    monkeypatch.undo()
    with in_school(w):
        rerun = mastery_recompute_school(school=w.school)
    assert rerun.parts == 2 and rerun.written == rerun.pairs == len(snapshot(w)) > 10


def _database_url_for(name: str) -> str:
    db = django_settings.DATABASES["default"]
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"
