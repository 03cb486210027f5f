"""The family portal under load: gunicorn (2 workers) on loopback, wrk at a fixed concurrency.

Logged-in guardians of the first school request their home page and their children's pages in
turn; wrk reports the latency distribution (a Lua `done` hook prints p50/p95/p99 and the errors
as JSON) and this module turns it into a Measurement.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.test import Client
from django.urls import reverse
from django_scopes import scopes_disabled

from gradebook.models import Guardianship
from mastery.bench.measure import Measurement

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
    with scopes_disabled():
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


def portal_load(school, *, seconds: int, connections: int, workers: int = 2) -> Measurement:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (make bench installs it: apt-get install wrk)")
    targets = portal_targets(school)
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
            "mastery.wsgi:application",
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
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
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
