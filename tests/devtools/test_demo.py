"""The embedded demo path (SQLite, eager tasks, no services) and the settings' safe defaults."""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from config import settings as site_settings

ROOT = Path(__file__).resolve().parents[2]


def demo_env(tmp_path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}
    }
    env.update(
        DEBUG="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        CELERY_TASK_ALWAYS_EAGER="1",
        MEDIA_ROOT=str(tmp_path / "media"),  # the demo's photo of homework
    )
    return env


def manage(env, *args, timeout=300):
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """Just enough of a browser: cookies, CSRF from forms, redirects."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path):
        with self.opener.open(self.base + path, timeout=20) as r:
            return r.status, r.geturl(), r.read().decode()

    def post_form(self, path, fields):
        _, _, page = self.get(path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({"csrfmiddlewaretoken": token, **fields}).encode()
        request = urllib.request.Request(
            self.base + path, data=data, headers={"Referer": self.base + path}
        )
        with self.opener.open(request, timeout=20) as r:
            return r.status, r.geturl(), r.read().decode()


@pytest.mark.slow
def test_the_sqlite_demo_migrates_seeds_once_and_serves_the_login_page(tmp_path):
    env = demo_env(tmp_path)
    manage(env, "migrate", "--noinput")
    first = manage(env, "seed_demo", "--students", "40")
    assert "Seeded Riverside High School" in first and "teacher@riverside.example" in first
    second = manage(env, "seed_demo", "--students", "40")
    assert "already exists; nothing to do" in second
    count = manage(
        env,
        "shell",
        "-c",
        "from mastery.models import School; print('SCHOOLS', School.objects.count())",
    )
    assert "SCHOOLS 1" in count
    # Each quarter that has ended is posted, every mark of it, by its sections' teachers.
    marks = manage(
        env,
        "shell",
        "-c",
        "from datetime import date; from django_scopes import scopes_disabled; "
        "from gradebook.models import GradingPeriod, Section; from marks.models import PostedMark; "
        "from marks.computing import section_marks_compute\n"
        "with scopes_disabled():\n"
        "    ended = GradingPeriod.objects.filter(ends_on__lt=date.today())\n"
        "    due = sum(len(section_marks_compute(school=s.school, section=s, period=p).computed) "
        "for p in ended for s in Section.objects.filter(term=p.term))\n"
        "    posted = PostedMark.objects.filter(period__in=ended).current()\n"
        "    print('MARKS', due, posted.count(), posted.filter(posted_by__email__endswith='@riverside.example').count())",
    )
    due, posted, by_teachers = map(int, re.search(r"MARKS (\d+) (\d+) (\d+)", marks).groups())
    assert due == posted == by_teachers

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                status, _, page = Browser(base).get("/accounts/login/")
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("the demo server did not answer")
        assert status == 200 and "Log in" in page

        teacher = Browser(base)
        status, url, page = teacher.post_form(
            "/accounts/login/",
            {"username": "teacher@riverside.example", "password": "mastery-demo"},
        )
        assert url.endswith("/s/riverside/") and "My sections" in page and "Algebra 1" in page

        guardian = Browser(base)
        status, url, page = guardian.post_form(
            "/accounts/login/",
            {"username": "guardian@riverside.example", "password": "mastery-demo"},
        )
        # The demo guardian prefers Spanish: the family portal answers in it.
        assert url.endswith("/family/") and "Mis hijos" in page
        child = re.search(r'href="(/s/riverside/family/\d+/)"', page).group(1)
        status, _, page = guardian.get(child)
        assert status == 200 and "Informe de progreso" in page and "Próximo paso" in page

        # The demo student has rated themselves and handed in a photo of homework.
        student = Browser(base)
        status, url, page = student.post_form(
            "/accounts/login/",
            {"username": "student@riverside.example", "password": "mastery-demo"},
        )
        assert url.endswith("/s/riverside/me/")
        assert "I can do these on my own now" in page and "Homework, problems 1-4" in page
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_production_settings_refuse_to_start_without_a_secret_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); django.setup()",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "Set SECRET_KEY" in result.stderr


def test_production_defaults_are_safe(settings):

    assert site_settings.env_bool("NOT_SET_ANYWHERE", False) is False
    assert settings.SESSION_COOKIE_HTTPONLY and settings.X_FRAME_OPTIONS == "DENY"
    assert settings.PASSWORD_HASHERS[0].endswith(
        "MD5PasswordHasher"
    )  # tests only; see the next line
    assert site_settings.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    assert (
        site_settings.SESSION_COOKIE_SECURE is True and site_settings.CSRF_COOKIE_SECURE is True
    )  # DEBUG is off in tests


def test_the_site_runs_without_the_developer_tools(tmp_path):
    """The production image leaves devtools/ out (.dockerignore): the site still starts, checks
    clean and serves, and the benchmark's and the demo's commands are simply not there."""
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "devtools" in ignored
    for entry in ROOT.iterdir():
        if entry.name not in ignored and not entry.name.startswith("."):
            (tmp_path / entry.name).symlink_to(entry)
    # A copy, not a link: Python puts the script's real directory first on the path.
    (tmp_path / "manage.py").unlink()
    shutil.copy(ROOT / "manage.py", tmp_path / "manage.py")
    env = {**os.environ, "DEBUG": "0", "SECRET_KEY": "image-check-only", "PYTHONPATH": ""}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'image.sqlite3'}"

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    check = manage("check")
    assert check.returncode == 0, check.stderr
    commands = manage("help", "--commands")
    assert "import_oneroster" in commands.stdout and "render_report" in commands.stdout
    assert "seed_demo" not in commands.stdout and "bench" not in commands.stdout.split()
    missing = manage("seed_demo")
    assert missing.returncode != 0 and "Unknown command" in missing.stderr
