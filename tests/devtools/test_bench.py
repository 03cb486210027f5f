"""`manage.py bench` end to end at a tiny scale: it generates, measures and reports every figure.

It runs the real command in a subprocess on its own database (mastery_bench_test) and Redis
database, with a real gunicorn + wrk load and a real Celery worker for the batch. Nothing here
asserts a time: speed is what the benchmark reports, not what a test decides (docs/design.md § 6).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from devtools.bench.generate import autovacuum_due
from devtools.management.commands.bench import NAMES
from tests import database

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the benchmark runs on PostgreSQL"
)

ROOT = Path(__file__).resolve().parents[2]
FLOORED = {"recompute_school", "recompute_district", "rosters_school", "rosters_district"}
COUNTED = {"evidence_record", "section_grid", "marks_post", "marks_csv", "sis_bundle"}


def bench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    database = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/mastery_bench_test"
    redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0] + "/13"
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "REDIS_URL": redis,
        "DEBUG": "0",
        "SECRET_KEY": "bench-test-only",
        "SECURE_HTTPS": "0",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    return subprocess.run(
        [sys.executable, "manage.py", "bench", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_the_benchmark_measures_every_figure_and_reuses_its_data(tmp_path):
    out = tmp_path / "results.json"
    small = ["--students", "60", "--schools", "2", "--repeat", "3", "--slow-repeat", "2"]
    small += ["--batch-size", "3", "--batch-workers", "1", "--load-seconds", "2"]
    small += ["--load-connections", "2", "--fresh", "--out", str(out)]
    small += ["--mixed-seconds", "4", "--mixed-teachers", "3", "--mixed-families", "4"]
    run = bench(tmp_path, *small)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Generating the data set" in run.stderr

    results = {r["name"]: r for r in json.loads(out.read_text())}
    # The batch is named after its size (report_batch_100 at the default size).
    assert set(results) == set(NAMES) - {"report_batch_100", "report_card_batch_100"} | {
        "report_batch_3",
        "report_card_batch_3",
    }
    for name, r in results.items():
        assert r["n"] >= 1 and 0 < r["median_ms"] <= r["p95_ms"], name
        assert r["scale"]["students"] == 60 and r["scale"]["evidence_rows"] > 0
        assert "cores" in r["machine"]
        assert name in run.stdout  # the terminal table lists it
    for name in COUNTED:
        assert results[name]["queries"] > 0, name
    for name in FLOORED:
        assert results[name]["ratio_to_floor"] > 0, name
    load = results["portal_load"]
    assert load["rps"] > 0 and load["errors"] == 0 and load["requests"] > 0
    mixed = results["load_mixed"]  # teachers scoring while families read, then every score checked
    assert mixed["errors"] == 0 and mixed["lost_scores"] == 0 and mixed["rps"] > 0
    assert mixed["scores_saved"] > 0 and mixed["cells_scored"] > 0
    assert mixed["score_p95_ms"] > 0 and mixed["family_p95_ms"] > 0
    assert results["report_pdf"]["pages"] >= 1 and results["report_pdf"]["pdf_bytes"] > 1000
    for name in ("report_batch_3", "report_card_batch_3"):
        batch = results[name]
        assert batch["reports"] == 3 and batch["ms_per_report"] > 0, name

    # A second run at the same scale reuses the generated database and measures only what it
    # is asked for.
    again = bench(
        tmp_path,
        "--students",
        "60",
        "--schools",
        "2",
        "--only",
        "section_grid",
        "--repeat",
        "3",
        "--out",
        str(out),
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Reusing the data set" in again.stderr and "Generating" not in again.stderr
    assert [r["name"] for r in json.loads(out.read_text())] == ["section_grid"]


def test_the_benchmark_refuses_a_database_it_must_not_touch(tmp_path):
    env = {**os.environ, "DEBUG": "1"}
    run = subprocess.run(
        [sys.executable, "manage.py", "bench", "--only", "section_grid"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0 and "DEBUG=0" in run.stderr


@pytest.mark.django_db(transaction=True)
def test_between_measurements_the_benchmark_vacuums_what_autovacuum_would_have():
    """These machines' PostgreSQL runs with autovacuum off; the benchmark stands in for it, so a
    measurement does not inherit the dead rows and stale statistics of the ones before it."""

    # The benchmark's connection: the owner's, straight to PostgreSQL (one session, whose
    # statistics a pooler would spread over several).
    with database.connected_as_owner(), connection.cursor() as cur:
        cur.execute("SHOW autovacuum")
        if cur.fetchone()[0] == "on":
            pytest.skip("autovacuum runs on this server: the benchmark leaves it to it")
        cur.execute("CREATE TABLE bench_probe_churned (id int)")
        cur.execute("CREATE TABLE bench_probe_quiet (id int)")
        try:

            def flush_statistics():
                # A backend sends its counts at most once a second, at the end of a transaction;
                # forced, at the end of the next one.
                cur.execute("SELECT pg_stat_force_next_flush()")
                cur.execute("SELECT 1")

            for table in ("bench_probe_churned", "bench_probe_quiet"):
                cur.execute(f"INSERT INTO {table} SELECT generate_series(1, 5000)")
                flush_statistics()
                cur.execute(f"VACUUM (ANALYZE) {table}")
            cur.execute("DELETE FROM bench_probe_churned WHERE id <= 4000")  # 80% dead
            cur.execute("DELETE FROM bench_probe_quiet WHERE id <= 500")  # 10%: not yet due
            flush_statistics()

            vacuumed = autovacuum_due()

            assert "bench_probe_churned" in vacuumed
            assert "bench_probe_quiet" not in vacuumed
            flush_statistics()
            cur.execute(
                "SELECT relname, n_dead_tup, last_vacuum IS NOT NULL, last_analyze IS NOT NULL"
                " FROM pg_stat_user_tables WHERE relname LIKE 'bench_probe_%' ORDER BY relname"
            )
            assert cur.fetchall() == [
                ("bench_probe_churned", 0, True, True),
                ("bench_probe_quiet", 500, True, True),  # vacuumed once, before the deletes
            ]
            assert "bench_probe_churned" not in autovacuum_due()  # nothing left to do
        finally:
            cur.execute("DROP TABLE bench_probe_churned, bench_probe_quiet")
