"""`python manage.py bench`: the benchmark behind `make bench` (see docs/performance.md)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from devtools.bench import generate, measure, runs
from devtools.bench import marks as marks_runs
from devtools.bench.alerts import nightly_digest
from devtools.bench.load import mixed_load, portal_load
from mastery import rls

NAMES = (
    "evidence_record",
    "section_grid",
    "recompute_school",
    "recompute_district",
    "rosters_school",
    "rosters_district",
    "report_pdf",
    "report_pdf_download",
    "report_batch_100",
    "report_card_batch_100",
    "marks_post",
    "marks_csv",
    "sis_bundle",
    "alerts_digest",
    "portal_load",
    "load_mixed",
)


class Command(BaseCommand):
    help = (
        "Generate (or reuse) a synthetic school or district on PostgreSQL and measure the hot paths "
        "against the database's own floor; writes a table and bench-results.json."
    )

    def add_arguments(self, parser):
        parser.add_argument("--students", type=int, default=2000, help="in all (default 2000)")
        parser.add_argument("--schools", type=int, default=1, help="the students spread over them")
        parser.add_argument(
            "--district",
            action="store_true",
            help="the district preset: 50,000 students over 25 schools (about 18 M evidence rows)",
        )
        parser.add_argument(
            "--repeat", type=int, default=30, help="samples of the fast measurements"
        )
        parser.add_argument("--slow-repeat", type=int, default=5, help="samples of the slow ones")
        parser.add_argument("--batch-size", type=int, default=100)
        parser.add_argument("--batch-workers", type=int, default=2, help="Celery worker processes")
        parser.add_argument("--load-seconds", type=int, default=20)
        parser.add_argument("--load-connections", type=int, default=8)
        parser.add_argument("--mixed-seconds", type=int, default=120, help="teachers + families")
        parser.add_argument("--mixed-teachers", type=int, default=100)
        parser.add_argument("--mixed-families", type=int, default=300)
        parser.add_argument("--only", default="", help="comma-separated measurement names")
        parser.add_argument("--skip", default="", help="comma-separated measurement names")
        parser.add_argument(
            "--fresh", action="store_true", help="regenerate even if the scale matches"
        )
        parser.add_argument("--out", default="bench-results.json")

    def handle(self, *args, **o):
        # An operator's tool over every school (generating, counting, its bare-SQL floors), so it
        # passes the row-level security wall; the requests and tasks it measures still enter
        # their own school.
        with rls.Wall(all_schools=True):
            self._run(*args, **o)

    def _run(self, *args, **o):
        if connection.vendor != "postgresql":
            raise CommandError(
                "The benchmark runs on PostgreSQL: set DATABASE_URL (make bench does)."
            )
        if settings.DEBUG:
            raise CommandError("Run the benchmark with DEBUG=0: debug mode records every query.")
        scale = generate.Scale(
            students=50_000 if o["district"] else o["students"],
            schools=25 if o["district"] else o["schools"],
        )
        if scale.students < 2 * scale.schools or scale.schools < 1:
            raise CommandError("Give at least two students per school.")
        wanted = self._names(o)
        db = settings.DATABASES["default"]
        self.log(f"Database {db['NAME']} on {db.get('HOST') or 'localhost'}; scale {scale.meta()}")

        generate.ensure_database(db)
        if o["fresh"] or generate.stored_scale(db) != scale.meta():
            self.log("Generating the data set (reused by later runs at this scale)…")
            generate.recreate_database(db)
            call_command("migrate", verbosity=0)
            generate.generate(scale, self.log)
        else:
            call_command("migrate", verbosity=0)
            self.log(f"Reusing the data set: {generate.table_counts()}")
        # Production serves hashed static files from collectstatic's manifest.
        call_command("collectstatic", "--noinput", verbosity=0)
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]

        w = runs.world()
        fast, slow = o["repeat"], o["slow_repeat"]
        plan = {
            "evidence_record": lambda: runs.evidence_record(w, fast),
            "section_grid": lambda: runs.section_grid(w, fast),
            "recompute_school": lambda: runs.recompute_school(w, slow),
            "recompute_district": lambda: runs.recompute_district(w, max(1, slow // 2)),
            "rosters_school": lambda: runs.rosters(w, slow, district=False),
            "rosters_district": lambda: runs.rosters(w, max(1, slow // 2), district=True),
            "report_pdf": lambda: runs.report_pdf_warm(w, max(5, fast // 3)),
            "report_pdf_download": lambda: runs.report_download(w, fast),
            "report_batch_100": lambda: runs.report_batch(
                w, 1, o["batch_size"], o["batch_workers"]
            ),
            "report_card_batch_100": lambda: marks_runs.report_card_batch(
                w, 1, o["batch_size"], o["batch_workers"]
            ),
            "marks_post": lambda: marks_runs.marks_post(w, fast),
            "marks_csv": lambda: marks_runs.marks_csv(w, slow),
            "sis_bundle": lambda: marks_runs.sis_bundle(w, slow),
            "alerts_digest": lambda: nightly_digest(w, max(1, slow // 2)),
            "portal_load": lambda: portal_load(
                w.school, seconds=o["load_seconds"], connections=o["load_connections"]
            ),
            "load_mixed": lambda: mixed_load(
                w.school,
                seconds=o["mixed_seconds"],
                teachers=o["mixed_teachers"],
                families=o["mixed_families"],
            ),
        }
        results = []
        for name in NAMES:
            if name not in wanted:
                continue
            started = time.perf_counter()
            vacuumed = generate.autovacuum_due()
            if vacuumed:
                self.log(
                    f"Autovacuum is off on this server: vacuumed {', '.join(vacuumed)} as it would"
                    f" have ({time.perf_counter() - started:.1f} s, not timed)"
                )
            self.log(f"Measuring {name}…")
            started = time.perf_counter()
            result = plan[name]()
            results.append(result)
            self.log(f"  {result.median:.1f} ms median ({time.perf_counter() - started:.0f} s)")

        context = {
            "students": scale.students,
            "schools": scale.schools,
            **{f"{k}_rows": v for k, v in generate.table_counts().items()},
        }
        self.stdout.write("")
        self.stdout.write(f"Machine: {machine()}")
        self.stdout.write(f"Data: {context}")
        self.stdout.write(measure.table(results))
        out = Path(o["out"])
        out.write_text(
            json.dumps(
                [{**r.as_json(), "scale": context, "machine": machine()} for r in results],
                indent=2,
            )
            + "\n"
        )
        self.stdout.write(f"Wrote {out}")

    def _names(self, o) -> list[str]:
        only = [n for n in o["only"].split(",") if n]
        skip = [n for n in o["skip"].split(",") if n]
        unknown = sorted(set(only + skip) - set(NAMES))
        if unknown:
            raise CommandError(
                f"Unknown measurement(s): {', '.join(unknown)}; known: {', '.join(NAMES)}"
            )
        return [n for n in (only or NAMES) if n not in skip]

    def log(self, text: str) -> None:
        self.stderr.write(text)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        server = connection.cursor().connection.info.server_version
        pg = f"PostgreSQL {server // 10000}.{server % 10000}"
    except Exception:
        pg = "PostgreSQL"
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    kernel = subprocess.run(["uname", "-r"], capture_output=True, text=True).stdout.strip()
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {pg}, Python {platform.python_version()}, Linux {kernel}"
