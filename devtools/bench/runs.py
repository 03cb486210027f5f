"""The measurements. Each returns a Measurement; the ones with a floor time it in the same run.

Page and score timings go through Django's full request cycle in this process (middleware, view,
template) with the test client: server time without a network or a WSGI server in front. The
portal's load test (bench/load.py) adds gunicorn and a real HTTP load generator.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.signals import request_started
from django.db import connection, reset_queries, transaction
from django.template.loader import render_to_string
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from weasyprint import HTML

from config.celery import app as celery_app
from devtools.bench.measure import Measurement, interleaved, timed
from gradebook.models import (
    Assessment,
    Evidence,
    Guardianship,
    Section,
    SectionTeacher,
    Student,
)
from grading.school import RECOMPUTE_WORK_MEM, school_recompute_parts
from grading.services import policy_change
from intervention.candidates import CANDIDATES_SQL
from intervention.models import InterventionCycle, InterventionGroup, RosterEntry
from intervention.services import roster_rebuild
from mastery.gcpause import gc_paused
from mastery.models import Membership, Role, School
from mastery.pdf import _fetcher, _shared
from mastery.tenancy import all_schools, enter_school
from reports.models import ReportBatch
from reports.rendering import report_pdf
from reports.selectors import student_report
from reports.services.batches import batch_start, report_dir

ROOT = Path(settings.BASE_DIR)


@dataclass
class World:
    """What the measurements work on: the first school and a typical section of it."""

    school: School
    schools: list[School]
    section: Section
    teacher: object
    admin: object
    assessment: Assessment
    students: list[Student]


def world() -> World:
    with all_schools():
        schools = list(School.objects.filter(slug__startswith="bench-").order_by("slug"))
        school = schools[0]
        # A full class of a math course: 15 targets, about 32 students.
        section = (
            Section.objects.filter(school=school, course__code__startswith="MATH")
            .order_by("course__code", "name")
            .first()
        )
        teacher = SectionTeacher.objects.filter(section=section).first().teacher
        admin = Membership.objects.filter(school=school, role=Role.SCHOOL_ADMIN).first().user
        assessment = (
            Assessment.objects.filter(school=school, course=section.course, kind="formative")
            .order_by("-assessed_on")
            .first()
        )
        students = list(
            Student.objects.filter(
                enrollments__section=section, enrollments__withdrawn_on__isnull=True
            ).order_by("id")
        )
    return World(school, schools, section, teacher, admin, assessment, students)


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _capture_queries(fn: Callable[[], object]) -> int:
    """Queries one request makes (Django clears the query log when a request starts: not here)."""
    request_started.disconnect(reset_queries)
    try:
        with CaptureQueriesContext(connection) as captured:
            fn()
    finally:
        request_started.connect(reset_queries)
    return len(captured)


# --- One score and one page ------------------------------------------------------------------


def evidence_record(w: World, n: int) -> Measurement:
    """A teacher types a score in the scoring grid: one htmx POST, the cell and summary back."""
    client = _client(w.teacher)
    url = reverse("gradebook:score_cell", args=[w.school.slug, w.section.id, w.assessment.id])
    with all_schools():
        target_ids = list(w.assessment.targets.order_by("id").values_list("id", flat=True))
    cells = [(s.id, t) for s in w.students for t in target_ids]
    values = ("3", "2.5", "4", "2", "3.5", "1.5")
    state = {"i": 0}

    def post() -> object:
        i = state["i"]
        state["i"] += 1
        student_id, target_id = cells[i % len(cells)]
        with all_schools():
            current = (
                Evidence.objects.filter(
                    school=w.school,
                    student_id=student_id,
                    target_id=target_id,
                    assessment=w.assessment,
                    voided_at__isnull=True,
                )
                .values_list("score", flat=True)
                .first()
            )
        # Always a real change of the cell (a new value), as when a teacher scores.
        value = next(v for v in values[i % 6 :] + values if Decimal(v) != current)
        return lambda: _ok(
            client.post(url, {f"c-{student_id}-{target_id}": value}, headers={"HX-Request": "true"})
        )

    for _ in range(5):  # warm: templates compiled, connections open
        post()()
    samples = [timed(post()) for _ in range(n)]
    queries = _capture_queries(post())
    return Measurement(
        "evidence_record",
        "one score typed in the scoring grid: htmx POST, evidence + mastery + cell re-render",
        budget="p95 <= 30 ms, constant queries",
        samples_ms=samples,
        queries=queries,
        within=lambda m: m.p95 <= 30,
    )


def section_grid(w: World, n: int) -> Measurement:
    client = _client(w.teacher)
    url = reverse("gradebook:section_detail", args=[w.school.slug, w.section.id])
    for _ in range(3):
        _ok(client.get(url))
    samples = [timed(lambda: _ok(client.get(url))) for _ in range(n)]
    queries = _capture_queries(lambda: _ok(client.get(url)))
    return Measurement(
        "section_grid",
        f"the section grid page ({len(w.students)} students x 15 targets, all evidence)",
        budget="p95 <= 100 ms, constant queries",
        samples_ms=samples,
        queries=queries,
        within=lambda m: m.p95 <= 100,
    )


def _ok(response):
    if response.status_code != 200:
        raise RuntimeError(f"{response.request['PATH_INFO']} answered {response.status_code}")
    return response


# --- Recomputing mastery -----------------------------------------------------------------------

FLOOR_LATEST_SQL = """
SELECT count(*), sum(s) FROM (
    SELECT DISTINCT ON (student_id, target_id) score AS s
    FROM gradebook_evidence
    WHERE school_id = ANY(%s) AND voided_at IS NULL AND status = 'scored'
    ORDER BY student_id, target_id, assessed_on DESC, id DESC
) latest
"""


def _sql_ms(statement: str, params) -> float:
    """A bare statement's time, with the same memory for sorts the recompute gets."""

    def run():
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(f"SET LOCAL work_mem = '{RECOMPUTE_WORK_MEM}'")
            cur.execute(statement, params)
            cur.fetchall()

    return timed(run)


@contextmanager
def eager_tasks():
    """Run tasks queued by services in this process (the real task code, without a broker)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = previous


def _policy_flip(school: School, admin, state: dict) -> float:
    """A new policy version (a different decaying-average weight), then its recompute task."""
    state["i"] += 1
    weight = Decimal(65) if state["i"] % 2 else Decimal(60)

    def change():
        with enter_school(school), transaction.atomic():
            policy_change(school=school, changed_by=admin, weight=weight, note="benchmark")

    with eager_tasks():
        return timed(change)


def recompute_school(w: World, n: int) -> Measurement:
    state = {"i": 0}
    samples, floors = interleaved(
        lambda: _policy_flip(w.school, w.admin, state),
        lambda: _sql_ms(FLOOR_LATEST_SQL, [[w.school.id]]),
        n,
    )
    return Measurement(
        "recompute_school",
        "policy change + set-based recompute of every Mastery record of one school (task path)",
        budget="within 3x of the floor",
        samples_ms=samples,
        floor_ms=floors,
        floor_what="latest score per student x target over the same rows (bare SQL)",
        within=lambda m: m.ratio_to_floor <= 3,
        extra={"pairs": _pairs(w.school.id)},
    )


def recompute_district(w: World, n: int) -> Measurement:
    """Every school's recompute, one after another as one worker would run them."""
    ids = [s.id for s in w.schools]

    def all_schools() -> float:
        def run():
            for school in w.schools:
                with enter_school(school), transaction.atomic():
                    school_recompute_parts(school)

        # Force every record to change, as a district-wide policy change would.
        with connection.cursor() as cur:
            cur.execute(
                "UPDATE gradebook_mastery SET explanation = '' WHERE school_id = ANY(%s)", [ids]
            )
        return timed(run)

    samples, floors = interleaved(all_schools, lambda: _sql_ms(FLOOR_LATEST_SQL, [ids]), n)
    return Measurement(
        "recompute_district",
        f"set-based recompute of every Mastery record of {len(ids)} school(s), one school after another",
        budget="reported next to its floor",
        samples_ms=samples,
        floor_ms=floors,
        floor_what="latest score per student x target over the same rows (bare SQL)",
        extra={"pairs": _pairs(*ids), "schools": len(ids)},
    )


def _pairs(*school_ids: int) -> int:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM gradebook_mastery WHERE school_id = ANY(%s)", [list(school_ids)]
        )
        return cur.fetchone()[0]


# --- Intervention rosters ------------------------------------------------------------------------


def _rebuild(schools: list[School]) -> float:
    with all_schools():
        cycles = {
            c.school_id: c
            for c in InterventionCycle.objects.filter(
                school__in=schools, status=InterventionCycle.Status.OPEN
            )
        }
        # Each run builds from scratch, as at the opening of a cycle.
        RosterEntry.objects.filter(cycle__in=cycles.values()).delete()
        InterventionGroup.objects.filter(cycle__in=cycles.values()).delete()

    def run():
        for school in schools:
            with enter_school(school), transaction.atomic():
                roster_rebuild(school=school, cycle=cycles[school.id])

    return timed(run)


def _candidates_ms(schools: list[School]) -> float:
    today = time.strftime("%Y-%m-%d")

    def run():
        # The builder's own statement, school by school as the builder runs it.
        with transaction.atomic(), connection.cursor() as cur:
            for school in schools:
                cur.execute(CANDIDATES_SQL, {"school_id": school.id, "day": today})
                cur.fetchall()

    return timed(run)


def rosters(w: World, n: int, *, district: bool) -> Measurement:
    schools = w.schools if district else [w.school]
    samples, floors = interleaved(lambda: _rebuild(schools), lambda: _candidates_ms(schools), n)
    with all_schools():
        entries = RosterEntry.objects.filter(
            school__in=schools, cycle__status=InterventionCycle.Status.OPEN
        ).count()
    return Measurement(
        "rosters_district" if district else "rosters_school",
        f"build the open cycle's intervention rosters of {len(schools)} school(s) from Mastery",
        budget="within 3x of the floor" if district else "<= 500 ms",
        samples_ms=samples,
        floor_ms=floors,
        floor_what="the builder's candidate query alone (bare SQL over the same rows)",
        within=(lambda m: m.ratio_to_floor <= 3) if district else (lambda m: m.median <= 500),
        extra={"roster_entries": entries, "schools": len(schools)},
    )


# --- Reports --------------------------------------------------------------------------------------


def _bare_text_pdf(html: str) -> Callable[[], float]:
    """The floor of a report: its text, one paragraph per block, through WeasyPrint unstyled."""

    body = re.sub(r"<(style|svg)\b.*?</\1>", "", html, flags=re.S)
    blocks = re.split(r"</(?:p|div|h1|h2|h3|li|tr|section|header)>", body)
    text = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", b)).strip() for b in blocks]
    bare = "<html><body>" + "".join(f"<p>{t}</p>" for t in text if t) + "</body></html>"
    fonts, _ = _shared()

    def render():
        with gc_paused():  # as the report itself renders (mastery/pdf.py)
            HTML(string=bare, url_fetcher=_fetcher()).write_pdf(font_config=fonts)

    return lambda: timed(render)


def report_pdf_warm(w: World, n: int) -> Measurement:
    """Rendering one student's full report: the selector, the template and WeasyPrint."""
    student = w.students[0]
    with enter_school(w.school):
        for _ in range(2):
            report_pdf(school=w.school, student=student, language="en")
        with translation.override("en"):
            report = student_report(school=w.school, student=student)
            html = render_to_string("reports/progress_report.html", {"report": report, "pdf": True})
        sizes = []
        samples, floors = interleaved(
            lambda: timed(
                lambda: sizes.append(
                    len(report_pdf(school=w.school, student=student, language="en"))
                )
            ),
            _bare_text_pdf(html),
            n,
        )
        pages = _pages(report_pdf(school=w.school, student=student, language="en"))
    targets = sum(len(c.lines) for c in report.courses)
    return Measurement(
        "report_pdf",
        f"render one student's progress report PDF ({len(report.courses)} courses, {targets}"
        " targets), warm process",
        budget="<= 300 ms",
        samples_ms=samples,
        floor_ms=floors,
        floor_what="WeasyPrint laying out the same text as bare paragraphs",
        within=lambda m: m.median <= 300,
        extra={"pdf_bytes": sizes[-1], "pages": pages},
    )


def _pages(pdf: bytes) -> int:
    """The PDF's page count, from poppler's pdfinfo (WeasyPrint compresses its page objects)."""
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout
    return int(re.search(rb"^Pages:\s+(\d+)", info, flags=re.M)[1])


def report_download(w: World, n: int) -> Measurement:
    """A guardian downloads the report again with the data unchanged: served from its file."""
    with all_schools():
        link = Guardianship.objects.filter(school=w.school).select_related("guardian").first()
    client = _client(link.guardian)
    url = reverse("reports:child_report", args=[w.school.slug, link.student_id])
    fetch = lambda: _ok(client.get(url, {"format": "pdf", "lang": "en"})).getvalue()  # noqa: E731
    fetch()  # the first download renders and keeps the file
    samples = [timed(fetch) for _ in range(n)]
    return Measurement(
        "report_pdf_download",
        "the family portal's PDF download when the report's data has not changed (fingerprinted file)",
        samples_ms=samples,
    )


@contextmanager
def celery_worker(concurrency: int):
    """A real Celery worker on the bench database (prefork, `concurrency` processes)."""
    env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "0"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            f"--concurrency={concurrency}",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not celery_app.control.ping(timeout=0.5):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"The Celery worker did not start: {process.stderr.read()[-2000:]}"
                )
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def report_batch(
    w: World, n: int, size: int, concurrency: int, *, period=None, student_ids=None
) -> Measurement:
    """A batch of `size` reports through real Celery workers, from start to the zip ready; with
    `period`, of report cards of record as of it (of `student_ids`, students with posted marks)."""
    with all_schools():
        pool = student_ids or list(
            Student.objects.filter(school=w.school).order_by("id").values_list("id", flat=True)
        )
    samples = []
    celery_app.conf.task_always_eager = False
    celery_app.control.purge()
    try:
        with celery_worker(concurrency):
            for run in range(n):
                # Other students each run: a batch of unchanged reports would be reused, not rendered.
                ids = pool[(run * size) % len(pool) :][:size]
                with enter_school(w.school):
                    students = list(Student.objects.filter(id__in=ids))
                # And no report stored by an earlier run of the benchmark: every one is rendered.
                shutil.rmtree(report_dir(w.school), ignore_errors=True)
                start = time.perf_counter()
                with enter_school(w.school), transaction.atomic():
                    batch = batch_start(
                        school=w.school,
                        requested_by=w.admin,
                        students=students,
                        language="en",
                        period=period,
                    )
                while True:
                    with all_schools():
                        batch.refresh_from_db()
                    if batch.status == ReportBatch.Status.DONE:
                        break
                    if time.perf_counter() - start > 60 + size * 5:
                        raise RuntimeError(f"The report batch did not finish: {batch.status}")
                    time.sleep(0.05)
                samples.append((time.perf_counter() - start) * 1000)
                if batch.failed:
                    raise RuntimeError(f"{batch.failed} reports failed in the benchmark batch")
    finally:
        celery_app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER
    per_report = [s / size for s in samples]
    kind = "report_card_batch" if period is not None else "report_batch"
    what = "report cards of record" if period is not None else "report PDFs"
    return Measurement(
        f"{kind}_{size}",
        f"a batch of {size} {what} through Celery ({concurrency} worker processes), to the zip",
        budget="runs in parallel with a progress bar",
        samples_ms=samples,
        extra={
            "reports": size,
            "worker_processes": concurrency,
            "ms_per_report": round(sum(per_report) / len(per_report), 1),
            "reports_per_second": round(size / (sum(samples) / len(samples) / 1000), 2),
        },
    )
