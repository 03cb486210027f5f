"""Load on loopback against gunicorn (2 workers): the family portal under wrk at a fixed
concurrency, and teachers scoring while families read (locust).

Logged-in guardians of the first school request their home page and their children's pages in
turn; wrk reports the latency distribution (a Lua `done` hook prints p50/p95/p99 and the errors
as JSON) and this module turns it into a Measurement.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django.test import Client
from django.urls import reverse

from devtools.bench.measure import Measurement
from gradebook.models import (
    Assessment,
    AssessmentTarget,
    Enrollment,
    Evidence,
    Guardianship,
    SectionTeacher,
)
from mastery.selectors import achievement_levels, allowed_scores
from mastery.tenancy import all_schools

ROOT = Path(settings.BASE_DIR)

WRK_SCRIPT = """
local targets = {TARGETS}
local i = 0
request = function()
  i = i + 1
  local t = targets[(i % #targets) + 1]
  return wrk.format("GET", t[1], {["Cookie"] = "sessionid=" .. t[2]})
end
done = function(summary, latency, requests)
  io.write("BENCH-JSON ")
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, '
    .. '"max_us": %d, "min_us": %d, "status_errors": %d, "socket_errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, latency.min, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def portal_targets(school, families: int = 50) -> list[tuple[str, str]]:
    """(path, session id) for `families` logged-in guardians: their home and each child's page."""
    with all_schools():
        links = list(
            Guardianship.objects.filter(school=school)
            .select_related("guardian")
            .order_by("guardian_id", "student_id")
        )
    by_guardian: dict[int, list] = {}
    for link in links:
        by_guardian.setdefault(link.guardian_id, []).append(link)
    targets = []
    for guardian_links in list(by_guardian.values())[:families]:
        client = Client()
        client.force_login(guardian_links[0].guardian)
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        targets.append((reverse("family_home"), session))
        for link in guardian_links:
            targets.append((reverse("reports:child", args=[school.slug, link.student_id]), session))
    if not targets:
        raise RuntimeError("The bench school has no guardians to load the portal with.")
    return targets


def _wait_for(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited: " + (process.stderr.read() or "")[-2000:])
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer {url}")


def _wrk(url: str, script: Path, *, seconds: int, connections: int) -> dict:
    result = subprocess.run(
        [
            "wrk",
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(line for line in result.stdout.splitlines() if line.startswith("BENCH-JSON "))
    return json.loads(line.removeprefix("BENCH-JSON "))


@contextlib.contextmanager
def gunicorn_server(workers: int = 2):
    """gunicorn with the production settings on a free loopback port; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_HTTPS": "0",
        "DEBUG": "0",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base + "/healthz", server)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def portal_load(school, *, seconds: int, connections: int, workers: int = 2) -> Measurement:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (make bench installs it: apt-get install wrk)")
    targets = portal_targets(school)
    with gunicorn_server(workers) as base:
        lua = WRK_SCRIPT.replace(
            "{TARGETS}",
            "{" + ", ".join(f'{{"{path}", "{session}"}}' for path, session in targets) + "}",
        )
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "portal.lua"
            script.write_text(lua)
            # The steady state: each family has opened its pages once before (the first visit
            # builds a child's page; later ones come from the portal cache), and every worker
            # has loaded its code and opened its database connection.
            for path, session in targets:
                request = urllib.request.Request(
                    base + path, headers={"Cookie": f"sessionid={session}"}
                )
                with urllib.request.urlopen(request, timeout=30) as response:
                    if response.status != 200:
                        raise RuntimeError(f"{path} answered {response.status}")
            _wrk(base, script, seconds=2, connections=connections)
            stats = _wrk(base, script, seconds=seconds, connections=connections)
    rps = stats["requests"] / (stats["duration_us"] / 1e6)
    errors = stats["status_errors"] + stats["socket_errors"]
    m = Measurement(
        "portal_load",
        f"family portal pages under gunicorn ({workers} workers) on loopback, wrk with "
        f"{connections} connections for {seconds} s",
        budget="p95 <= 50 ms and >= 200 requests/s",
        distribution={
            "median": stats["p50_us"] / 1000,
            "p95": stats["p95_us"] / 1000,
            "min": stats["min_us"] / 1000,
            "max": stats["max_us"] / 1000,
            "n": stats["requests"],
        },
        within=lambda m: m.p95 <= 50 and m.extra["rps"] >= 200 and not errors,
        extra={
            "rps": round(rps, 1),
            "requests": stats["requests"],
            "p99_ms": round(stats["p99_us"] / 1000, 2),
            "errors": errors,
            "connections": connections,
            "seconds": seconds,
            "pages": len(targets),
        },
    )
    return m


# --- Teachers scoring while families read (locust) ---------------------------------------------------

LOCUSTFILE = '''
import itertools, json, os, random, time

from locust import HttpUser, between, task

DATA = json.load(open(os.environ["MIXED_LOAD_DATA"]))
TEACHERS = itertools.cycle(DATA["teachers"])
FAMILIES = itertools.cycle(DATA["families"])
SCORES = DATA["scores"]
LOG = open(os.environ["MIXED_LOAD_LOG"], "a", buffering=1)


class Teacher(HttpUser):
    """Scores cells of their own assessment in their own section, as the htmx grid posts them."""

    fixed_count = DATA["n_teachers"]
    wait_time = between(1, 3)

    def on_start(self):
        self.me = next(TEACHERS)
        self.client.cookies.set("sessionid", self.me["session"])
        self.client.cookies.set("csrftoken", DATA["csrf"])

    @task
    def score(self):
        student, target = random.choice(self.me["cells"])
        value = random.choice(SCORES)
        response = self.client.post(
            self.me["url"],
            data={f"c-{student}-{target}": value},
            headers={"HX-Request": "true", "X-CSRFToken": DATA["csrf"]},
            name="score a cell",
        )
        if response.status_code == 200:
            LOG.write(f"{student},{target},{self.me['assessment']},{value}\\n")


class Family(HttpUser):
    """Opens the family home page and the children's pages."""

    fixed_count = DATA["n_families"]
    wait_time = between(1, 4)

    def on_start(self):
        self.me = next(FAMILIES)
        self.client.cookies.set("sessionid", self.me["session"])

    @task
    def read(self):
        self.client.get(random.choice(self.me["paths"]), name="family page")
'''


def _teacher_targets(school, teachers: int) -> list[dict]:
    """One (section, assessment) per simulated teacher, logged in as that section's teacher; no
    two share a cell, so the last score each one saw saved is what the cell must hold."""

    with all_schools():
        links = list(
            SectionTeacher.objects.filter(school=school)
            .select_related("section", "teacher")
            .order_by("section_id")[:teachers]
        )
        sessions: dict[int, str] = {}
        targets = []
        for link in links:
            section = link.section
            assessment = (
                Assessment.objects.filter(school=school, course_id=section.course_id)
                .filter(Q(section__isnull=True) | Q(section=section))
                .order_by("-assessed_on", "-id")
                .first()
            )
            if assessment is None:
                continue
            target_ids = list(
                AssessmentTarget.objects.filter(school=school, assessment=assessment).values_list(
                    "target_id", flat=True
                )
            )
            student_ids = list(
                Enrollment.objects.filter(
                    school=school, section=section, withdrawn_on__isnull=True
                ).values_list("student_id", flat=True)
            )
            if link.teacher_id not in sessions:
                client = Client()
                client.force_login(link.teacher)
                sessions[link.teacher_id] = client.cookies[settings.SESSION_COOKIE_NAME].value
            targets.append(
                {
                    "url": reverse(
                        "gradebook:score_cell",
                        args=[school.slug, section.id, assessment.id],
                    ),
                    "session": sessions[link.teacher_id],
                    "assessment": assessment.id,
                    "cells": [[s, t] for s in student_ids for t in target_ids],
                }
            )
    if not targets:
        raise RuntimeError("The bench school has no sections with assessments to score.")
    return targets


def _lost_scores(school, log: Path) -> tuple[int, int]:
    """(cells scored, cells whose live evidence is not the last score saved to them)."""

    last: dict[tuple[int, int, int], Decimal] = {}
    for line in log.read_text().splitlines():
        student, target, assessment, value = line.split(",")
        last[(int(student), int(target), int(assessment))] = Decimal(value)
    with all_schools():
        live = {
            (e.student_id, e.target_id, e.assessment_id): e.score
            for e in Evidence.objects.filter(
                school=school,
                voided_at__isnull=True,
                assessment_id__in={cell[2] for cell in last},
            ).only("student_id", "target_id", "assessment_id", "score")
        }
    return len(last), sum(1 for cell, value in last.items() if live.get(cell) != value)


def _locust_rows(prefix: Path) -> dict[str, dict]:
    with open(f"{prefix}_stats.csv", newline="") as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


def mixed_load(
    school, *, seconds: int, teachers: int = 100, families: int = 300, workers: int = 2
) -> Measurement:
    """100 teachers scoring and 300 families reading at once, for a bounded time (locust headless
    against gunicorn on loopback); afterwards every score a teacher saw saved is looked up."""

    with all_schools():
        scores = [f"{v:f}" for v in allowed_scores(achievement_levels(school))]
    data = {
        "teachers": _teacher_targets(school, teachers),
        "families": [],
        "scores": scores,
        "n_teachers": teachers,
        "n_families": families,
        # Django accepts an unmasked 32-character secret in both the cookie and the header.
        "csrf": "benchcsrfsecretbenchcsrfsecret00",
    }
    by_session: dict[str, list[str]] = {}
    for path, session in portal_targets(school, families=families):
        by_session.setdefault(session, []).append(path)
    data["families"] = [{"session": s, "paths": p} for s, p in by_session.items()]
    with tempfile.TemporaryDirectory() as tmp, gunicorn_server(workers) as base:
        tmp = Path(tmp)
        (tmp / "data.json").write_text(json.dumps(data))
        (tmp / "locustfile.py").write_text(LOCUSTFILE)
        log = tmp / "scores.log"
        log.touch()
        env = {
            **os.environ,
            "MIXED_LOAD_DATA": str(tmp / "data.json"),
            "MIXED_LOAD_LOG": str(log),
        }
        users = teachers + families
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(tmp / "locustfile.py"),
                "--headless",
                "--users",
                str(users),
                "--spawn-rate",
                str(max(1, users // 5)),
                "--run-time",
                f"{seconds}s",
                "--host",
                base,
                "--csv",
                str(tmp / "mixed"),
                "--only-summary",
                "--stop-timeout",
                "10",
                "--loglevel",
                "WARNING",
            ],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
        )
        rows = _locust_rows(tmp / "mixed")
        if "Aggregated" not in rows:
            raise RuntimeError("locust produced no statistics: " + run.stderr[-2000:])
        scored, lost = _lost_scores(school, log)
    total, score, page = (
        rows["Aggregated"],
        rows.get("score a cell", {}),
        rows.get("family page", {}),
    )
    errors = int(total["Failure Count"])

    def ms(row: dict, column: str) -> float:
        value = row.get(column) or "0"
        return float(value) if value != "N/A" else 0.0

    return Measurement(
        "load_mixed",
        f"{teachers} teachers scoring and {families} families reading for {seconds} s "
        f"(locust against gunicorn, {workers} workers, on loopback)",
        budget="no errors and no lost score",
        distribution={
            "median": ms(total, "50%"),
            "p95": ms(total, "95%"),
            "min": ms(total, "Min Response Time"),
            "max": ms(total, "Max Response Time"),
            "n": int(total["Request Count"]),
        },
        within=lambda m: errors == 0 and lost == 0,
        extra={
            "rps": round(float(total["Requests/s"]), 1),
            "errors": errors,
            "scores_saved": int(score.get("Request Count", 0) or 0)
            - int(score.get("Failure Count", 0) or 0),
            "cells_scored": scored,
            "lost_scores": lost,
            "score_p95_ms": ms(score, "95%"),
            "family_p95_ms": ms(page, "95%"),
            "teachers": teachers,
            "families": families,
            "seconds": seconds,
        },
    )
