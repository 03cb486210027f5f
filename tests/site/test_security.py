"""Abuse and bad input: production settings, headers, cookies, passwords, login lockout, request
size limits, and fuzzing of the scoring cell, the CSV importers and the REST evidence POST.

The fuzz tests make one world per test and run every example in a savepoint that is rolled back,
so each example starts from the same database; they assert no server error (no 500, no exception
other than the importer's own report) and that input refused writes nothing.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.hashers import identify_hasher, make_password
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django_scopes import scope, scopes_disabled
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from config import settings as configured
from gradebook.models import (
    AssessmentFeedback,
    Course,
    Enrollment,
    Evidence,
    Mastery,
    RosterSource,
    Section,
    Student,
    Term,
)
from gradebook.oneroster.package import PackageError, read_path, read_zip
from gradebook.oneroster.service import oneroster_import
from mastery.models import (
    Competency,
    District,
    LearningTarget,
    LevelDescriptor,
    Membership,
    School,
    User,
)
from mastery.services import api_token_create, targets_import_csv
from tests.factories import PASSWORD, make_user

BASE_DIR = Path(__file__).resolve().parents[2]
ONEROSTER = BASE_DIR / "tests" / "fixtures" / "oneroster" / "base"

FUZZ = hypothesis_settings(
    max_examples=80,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure in CI is a failure at home
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --- Production settings -------------------------------------------------------------------------

# What a deployment sets (docker-compose.yml and README "Running it in production").
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "SECURE_HTTPS": "1",
    "ALLOWED_HOSTS": "grades.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://grades.example.org",
    "EMAIL_HOST": "smtp.example.org",
    "CELERY_TASK_ALWAYS_EAGER": "0",
}
DEMO_ENV = {"DEBUG": "1", "DATABASE_URL": "sqlite:///demo.sqlite3"}
SECURITY_SETTINGS = [
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SECURE_REDIRECT_EXEMPT",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "SECURE_CROSS_ORIGIN_OPENER_POLICY",
    "X_FRAME_OPTIONS",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_SAMESITE",
    "PASSWORD_HASHERS",
    "DATA_UPLOAD_MAX_MEMORY_SIZE",
    "DATA_UPLOAD_MAX_NUMBER_FIELDS",
    "FILE_UPLOAD_MAX_MEMORY_SIZE",
]


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # Only what a server has: nothing of the test run's own environment (pytest-env's defaults,
    # DJANGO_ALLOW_ASYNC_UNSAFE for the browser tests) leaks into the settings under test.
    keep = ("PATH", "HOME", "LANG", "DATABASE_URL", "REDIS_URL")
    clean = {k: os.environ[k] for k in keep if k in os.environ}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def settings_under(env: dict[str, str]) -> dict:
    code = (
        "import json; from django.conf import settings as s; "
        f"print(json.dumps({{k: getattr(s, k) for k in {SECURITY_SETTINGS!r}}}))"
    )
    run = manage("shell", "--no-imports", "-c", code, env=env)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def production() -> dict:
    return settings_under(PRODUCTION_ENV)


def test_check_deploy_is_clean_under_production_settings():
    run = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no issues" in run.stdout


def test_check_deploy_is_clean_with_hsts_preload_opted_in_too():
    env = {**PRODUCTION_ENV, "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1", "SECURE_HSTS_PRELOAD": "1"}
    run = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 silenced" in run.stdout  # nothing left to silence once both are on


def test_production_redirects_to_https_with_a_year_of_hsts_and_secure_cookies(production):
    assert production["DEBUG"] is False
    assert production["SECURE_SSL_REDIRECT"] is True
    assert production["SECURE_REDIRECT_EXEMPT"] == ["^healthz$"]  # the container's health check
    assert production["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert production["SECURE_HSTS_SECONDS"] == 365 * 24 * 3600
    assert production["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False  # opt-in
    assert production["SECURE_HSTS_PRELOAD"] is False  # opt-in
    assert production["SESSION_COOKIE_SECURE"] and production["CSRF_COOKIE_SECURE"]
    assert production["SESSION_COOKIE_HTTPONLY"]
    assert production["SESSION_COOKIE_SAMESITE"] == production["CSRF_COOKIE_SAMESITE"] == "Lax"
    assert production["PASSWORD_HASHERS"][0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    assert production["DATA_UPLOAD_MAX_MEMORY_SIZE"] <= 5 * 2**20
    assert production["FILE_UPLOAD_MAX_MEMORY_SIZE"] <= 5 * 2**20


def test_a_proxy_that_redirects_itself_can_turn_the_redirect_off():
    assert (
        settings_under({**PRODUCTION_ENV, "SECURE_SSL_REDIRECT": "0"})["SECURE_SSL_REDIRECT"]
        is False
    )


def test_the_demo_and_the_test_suite_speak_plain_http():
    demo = settings_under(DEMO_ENV)
    assert demo["SECURE_SSL_REDIRECT"] is False and demo["SECURE_HSTS_SECONDS"] == 0
    assert demo["SESSION_COOKIE_SECURE"] is False  # http://127.0.0.1:8000 keeps its session
    # The suite runs with DEBUG=0 (pyproject's pytest env) and Django's client speaks plain HTTP.
    assert django_settings.SECURE_SSL_REDIRECT is False


# --- Headers and cookies (with the production values) --------------------------------------------


@pytest.fixture
def as_in_production(settings, production):
    for name in SECURITY_SETTINGS:
        if name not in {"DEBUG", "PASSWORD_HASHERS", "SECURE_SSL_REDIRECT"}:
            value = production[name]
            setattr(settings, name, tuple(value) if isinstance(value, list) else value)
    return settings


def test_pages_carry_the_security_headers(client, world_a, as_in_production):
    client.force_login(world_a.teacher)
    url = reverse("school_home", kwargs={"school_slug": "alpha"})
    response = client.get(url, secure=True)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp and "base-uri 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    # The htmx script carries this response's nonce; the next response has another.
    nonce = re.search(r"script-src 'self' 'nonce-([^']+)'", csp)[1]
    assert f'nonce="{nonce}"'.encode() in response.content
    again = client.get(url, secure=True)["Content-Security-Policy"]
    assert re.search(r"'nonce-([^']+)'", again)[1] != nonce


def test_api_answers_carry_the_headers_too(client, world_a, as_in_production):
    response = client.get("/api/v1/schools/", secure=True)
    assert response.status_code == 401
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Strict-Transport-Security"] == "max-age=31536000"


def test_session_and_csrf_cookies_are_secure_httponly_and_samesite(world_a, as_in_production):
    client = Client(enforce_csrf_checks=True)
    page = client.get(reverse("login"), secure=True)
    csrf = page.cookies["csrftoken"]
    assert csrf["secure"] and csrf["samesite"] == "Lax"
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content)[1].decode()
    response = client.post(
        reverse("login"),
        {"username": "teacher@alpha.test", "password": PASSWORD, "csrfmiddlewaretoken": token},
        secure=True,
        HTTP_REFERER="https://testserver/accounts/login/",
    )
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"


def test_a_login_post_without_the_csrf_token_is_refused(world_a):
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        reverse("login"), {"username": "teacher@alpha.test", "password": PASSWORD}
    )
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


# --- Passwords and logins ------------------------------------------------------------------------


def test_passwords_are_hashed_with_argon2(settings, db):

    assert configured.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    settings.PASSWORD_HASHERS = configured.PASSWORD_HASHERS  # the suite uses MD5 for speed
    user = make_user("argon@example.test")
    assert user.password.startswith("argon2$argon2id$")
    assert identify_hasher(user.password).algorithm == "argon2"
    assert user.check_password(PASSWORD)


def test_an_older_hash_is_upgraded_to_argon2_at_the_next_login(settings, db):

    settings.PASSWORD_HASHERS = configured.PASSWORD_HASHERS
    user = make_user("old@example.test")
    user.password = make_password(PASSWORD, hasher="pbkdf2_sha256")
    user.save(update_fields=["password"])
    assert Client().login(username="old@example.test", password=PASSWORD)
    user.refresh_from_db()
    assert user.password.startswith("argon2$")


def _fail_login(client, email: str, address: str = "10.0.0.1"):
    return client.post(
        reverse("login"), {"username": email, "password": "wrong"}, REMOTE_ADDR=address
    )


def test_one_address_trying_many_accounts_is_slowed_without_locking_a_real_account(
    client, world_a, settings
):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 3
    for i in range(3):
        _fail_login(client, f"guess{i}@alpha.test")
    # Past the ceiling the address waits a minute after each failure (tests/mastery/test_login_throttling)...
    response = client.post(
        reverse("login"),
        {"username": "teacher@alpha.test", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.1",
    )
    assert response.status_code == 200
    assert b"Too many failed attempts" in response.content
    assert "_auth_user_id" not in client.session
    # ...but no account is locked: made-up emails lock only themselves.
    elsewhere = Client()
    response = elsewhere.post(
        reverse("login"),
        {"username": "teacher@alpha.test", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.2",
    )
    assert response.status_code == 302 and "_auth_user_id" in elsewhere.session


def test_one_account_tried_from_many_addresses_locks_only_where_it_failed(
    client, world_a, settings
):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        _fail_login(client, "Teacher@Alpha.test ", address="10.0.0.1")
    for i in range(2):
        _fail_login(client, "teacher@alpha.test", address=f"10.0.0.{i + 2}")
    response = client.post(
        reverse("login"),
        {"username": "teacher@alpha.test", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.1",
    )
    assert b"Too many failed attempts" in response.content
    assert "_auth_user_id" not in client.session

    def signs_in(email: str, address: str) -> bool:
        browser = Client()
        answer = browser.post(
            reverse("login"), {"username": email, "password": PASSWORD}, REMOTE_ADDR=address
        )
        return answer.status_code == 302 and "_auth_user_id" in browser.session

    # Locked per account and address: the account signs in from where it did not fail...
    assert signs_in("teacher@alpha.test", "10.0.0.2")
    assert signs_in("teacher@alpha.test", "10.0.0.9")
    # ...and other people at that address sign in as usual.
    assert signs_in("counselor@alpha.test", "10.0.0.1")


# --- Request size and upload limits --------------------------------------------------------------


def _cell_url(w):
    return reverse(
        "gradebook:score_cell",
        kwargs={
            "school_slug": w.school.slug,
            "section_id": w.section.id,
            "assessment_id": w.assessment.id,
        },
    )


def test_an_oversized_or_overlong_form_post_is_refused_and_writes_nothing(client, world_a):
    client.force_login(world_a.teacher)
    cell = f"c-{world_a.student.id}-{world_a.targets[0].id}"
    before = _counts(world_a)
    big = client.post(_cell_url(world_a), {cell: "3", "pad": "x" * (3 * 2**20)})
    assert big.status_code == 400
    many = client.post(_cell_url(world_a), {cell: "3", **{f"f{i}": "1" for i in range(5001)}})
    assert many.status_code == 400
    assert _counts(world_a) == before


def test_uploads_are_limited_in_size_and_type(client, world_a):
    client.force_login(world_a.admin)
    slug, department = world_a.school.slug, world_a.department.id
    before = _counts(world_a)
    targets = client.post(
        reverse(
            "gradebook:target_import", kwargs={"school_slug": slug, "department_id": department}
        ),
        {"file": SimpleUploadedFile("t.csv", b"a" * (2 * 2**20 + 1), content_type="text/csv")},
    )
    assert targets.status_code == 422 and b"larger than 2 MB" in targets.content
    roster = client.post(
        reverse("gradebook:oneroster_import", kwargs={"school_slug": slug}),
        {"files": SimpleUploadedFile("roster.exe", b"MZ\x90\x00", content_type="text/csv")},
    )
    assert roster.status_code == 422 and b"is not a .zip or .csv file" in roster.content
    assert _counts(world_a) == before


# --- Fuzzing -------------------------------------------------------------------------------------


def _counts(w) -> tuple[int, int]:
    with scope(school=w.school):
        return (
            Evidence.objects.filter(school=w.school).count(),
            Mastery.objects.filter(school=w.school).count(),
        )


@pytest.fixture
def each_example():
    """Run one example in a savepoint that is rolled back (and with an empty cache)."""

    class Example:
        def __enter__(self):
            cache.clear()
            self.atomic = transaction.atomic()
            self.atomic.__enter__()

        def __exit__(self, *exc):
            transaction.set_rollback(True)
            return self.atomic.__exit__(*exc)

    return Example


# Half the characters from the ones parsers trip on (NUL included: PostgreSQL text refuses it),
# half from anywhere in Unicode.
SPECIAL = list(",;\"'\n\r\t \\\x00\x0b\u2028\ufeff\u202e")
TEXT = st.text(alphabet=st.one_of(st.sampled_from(SPECIAL), st.characters()), max_size=40)


# Values that have broken parsers and databases before, mixed into every field.
NASTY = [
    "<script>alert(1)</script>",
    "'; DROP TABLE gradebook_evidence; --",
    "%00",
    "\\N",
    "\u202e3",
    "\ufeff3",
    "3\r\n",
    "=cmd|' /C calc'!A0",
    "𝟑",
    "a\x00b",
    "\x00",
]
CELL_VALUES = st.one_of(
    st.sampled_from(["1", "2", "2.5", "3", "4", "M", "ex", "INC", "ie", "", " 3 "]),
    st.sampled_from(["0", "5", "-1", "3.25", "NaN", "-Infinity", "1e3", "٣", "３", "9" * 60]),
    TEXT,
    st.sampled_from(NASTY),
    st.just("x" * 4001),  # longer than a comment may be
)


@pytest.mark.parametrize("value", ["5", "0", "-1", "2.25", "abc", "NaN", "1e3", "x" * 200])
def test_a_score_off_the_scale_in_a_cell_is_refused_and_writes_nothing(client, world_a, value):
    w = world_a
    client.force_login(w.teacher)
    before = _counts(w)
    cell = f"c-{w.student.id}-{w.targets[0].id}"
    response = client.post(_cell_url(w), {cell: value}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert _counts(w) == before


@FUZZ
@given(data=st.data())
def test_fuzzing_the_score_cell_gives_no_server_error_and_refused_input_writes_nothing(
    client, world_a, each_example, data
):
    w = world_a
    client.force_login(w.teacher)
    student_ids = [s.id for s in w.students] + [w.other_students[0].id, 0, 10**12]
    target_ids = [t.id for t in w.targets] + [0, 10**12]
    cell = st.builds("c-{}-{}".format, st.sampled_from(student_ids), st.sampled_from(target_ids))
    comment = st.builds("fb-{}".format, st.sampled_from(student_ids))
    odd = st.one_of(st.sampled_from(["c--1", "c-1", "c-1-2-3", "value", "fb-"]), TEXT)
    # Mostly the one field its endpoint takes, as htmx posts it; sometimes the other endpoint's,
    # more fields, or names of no field at all.
    endpoint = data.draw(st.sampled_from(["cell", "feedback"]), label="endpoint")
    main = cell if endpoint == "cell" else comment
    if data.draw(st.integers(0, 4), label="swap") == 0:
        main = comment if endpoint == "cell" else cell
    fields = {data.draw(main, label="name"): data.draw(CELL_VALUES, label="value")}
    if data.draw(st.integers(0, 3), label="extra") == 0:
        fields |= data.draw(st.dictionaries(st.one_of(cell, comment, odd), CELL_VALUES, max_size=2))
    url = _cell_url(w).replace("/cell/", f"/{endpoint}/")
    with each_example():
        before = _counts(w), _feedback(w)
        response = client.post(url, fields, HTTP_HX_REQUEST="true")
        assert response.status_code in {200, 400, 404, 422}, response.content[:300]
        if response.status_code != 200:
            assert (_counts(w), _feedback(w)) == before


def _feedback(w) -> list:

    with scope(school=w.school):
        return list(AssessmentFeedback.objects.filter(school=w.school).values_list("text"))


TARGET_HEADER = (
    "competency,target code,statement,standard code,"
    "descriptor 1,descriptor 2,descriptor 3,descriptor 4"
)
CSV_CELL = st.one_of(
    TEXT,
    st.sampled_from(NASTY),
    st.sampled_from(["", "FN", "ALPHA.F1", "A" * 41, "x" * 501, '"', '""', ",", "\n", "\r\n"]),
)


def _csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


@st.composite
def target_csvs(draw) -> bytes:
    """Mostly good rows with a cell made bad here and there, ragged rows, odd headers and
    encodings; or no CSV at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    header = TARGET_HEADER
    if draw(st.integers(0, 4)) == 0:
        header = draw(st.sampled_from(["target code,statement,competency", "", "a;b;c", "\ufeff"]))
    rows = []
    for i in range(draw(st.integers(0, 5))):
        row = ["Functions", f"NEW.{i}", f"I can do thing {i}.", "CCSS.1", "a", "b", "c", "d"]
        if draw(st.booleans()):
            row[draw(st.integers(0, 7))] = draw(st.one_of(st.sampled_from(NASTY), CSV_CELL))
        if draw(st.integers(0, 5)) == 0:
            row = row[: draw(st.integers(0, 8))] + draw(st.lists(CSV_CELL, max_size=2))
        rows.append(row)
    text = header + "\n" + _csv(rows)
    encoding = "utf-8" if draw(st.integers(0, 4)) else draw(st.sampled_from(["utf-16", "cp1252"]))
    return text.encode(encoding, errors="replace")


def _framework_rows(w) -> tuple[int, ...]:

    with scope(school=w.school):
        return tuple(
            model.objects.filter(school=w.school).count()
            for model in (Competency, LearningTarget, LevelDescriptor)
        )


@FUZZ
@given(data=target_csvs())
def test_fuzzing_the_targets_csv_import_reports_and_writes_nothing_when_not_ok(
    world_a, each_example, data
):
    w = world_a
    with each_example():
        before = _framework_rows(w)
        with scope(school=w.school):
            report = targets_import_csv(school=w.school, department=w.department, data=data)
        if not report.ok:
            assert all(isinstance(m, str) and m for _, m in report.errors)
            assert _framework_rows(w) == before


def _roster_rows() -> dict[str, int]:

    models = (School, District, User, Membership, Term, Course, Section, Student, Enrollment)
    with scopes_disabled():
        return {m.__name__: m.objects.count() for m in (*models, RosterSource)}


BASE_PACKAGE = read_path(ONEROSTER)
# Columns people type into: their text reaches the database as it is.
FREE_TEXT = {"name", "title", "givenName", "familyName", "middleName", "preferredGivenName"}
FREE_TEXT |= {"preferredFamilyName", "identifier", "courseCode", "classCode", "location", "email"}


@st.composite
def roster_packages(draw) -> dict[str, bytes]:
    """The fixture package with one or two things broken: mostly one value of a record replaced;
    else a file cut short, replaced by bytes, dropped, or given a line of junk; sometimes an
    unknown file besides."""
    files = dict(BASE_PACKAGE)
    for _ in range(draw(st.integers(1, 2))):
        name = draw(st.sampled_from(sorted(BASE_PACKAGE)))
        if name not in files:
            continue
        lines = files[name].decode().splitlines()
        how = draw(st.sampled_from(["value", "value", "value", "cut", "bytes", "drop", "junk"]))
        if how == "value" and len(lines) > 1:
            row = draw(st.integers(1, len(lines) - 1))
            cells = lines[row].split(",")
            # Half the time one of FREE_TEXT.
            typed = [i for i, c in enumerate(lines[0].split(",")[: len(cells)]) if c in FREE_TEXT]
            columns = typed if typed and draw(st.booleans()) else range(len(cells))
            column = draw(st.sampled_from(columns))
            cells[column] = draw(st.one_of(st.sampled_from(NASTY), CSV_CELL))
            lines[row] = ",".join(cells)
            files[name] = "\n".join(lines).encode()
        elif how == "cut":
            files[name] = "\n".join(lines[: draw(st.integers(0, len(lines)))]).encode()
        elif how == "bytes":
            files[name] = draw(st.binary(max_size=200))
        elif how == "drop":
            del files[name]
        elif how == "junk":
            files[name] += b"\n" + draw(TEXT).encode()
    if draw(st.integers(0, 3)) == 0:
        files[draw(st.text(min_size=1, max_size=12))] = draw(st.binary(max_size=50))
    return files


@FUZZ
@given(files=roster_packages())
def test_fuzzing_the_oneroster_import_reports_and_writes_nothing_when_not_ok(
    db, each_example, files
):
    with each_example():
        before = _roster_rows()
        with scopes_disabled():
            report = oneroster_import(files=files, school=None, dry_run=False)
        if not report.ok:
            assert all(p.message for p in report.errors)
            assert _roster_rows() == before


# Found by these fuzzers (a NUL reached a PostgreSQL text column: a 500), now refused as bad input.


def test_a_nul_in_a_feedback_comment_is_refused(client, world_a):
    # gradebook.services.feedback_save (the htmx comment and the no-JavaScript grid's fb- fields)
    client.force_login(world_a.teacher)
    url = _cell_url(world_a).replace("/cell/", "/feedback/")
    response = client.post(url, {f"fb-{world_a.student.id}": "a\x00b"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422


def test_a_nul_in_the_targets_csv_is_reported(world_a):
    # mastery.services.targets_import_csv
    data = f"{TARGET_HEADER}\nFunctions,NEW.1,I can \x00 do it.,,,,,\n".encode()
    with scope(school=world_a.school):
        report = targets_import_csv(school=world_a.school, department=world_a.department, data=data)
    assert not report.ok


def test_a_nul_in_a_oneroster_file_is_reported(db):
    # gradebook.oneroster: the parser passes it on to the users it writes
    files = {**BASE_PACKAGE, "users.csv": BASE_PACKAGE["users.csv"].replace(b"Maria", b"Ma\x00ria")}
    with scopes_disabled():
        report = oneroster_import(files=files, school=None)
    assert not report.ok


def test_a_zip_bomb_or_a_broken_zip_is_refused_before_reading(world_a, client):

    with pytest.raises(PackageError):
        read_zip(b"PK\x03\x04 not really a zip")
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("users.csv", b"0" * (50 * 2**20))
    with pytest.raises(PackageError):
        read_zip(bomb.getvalue())


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=8,
)


@pytest.fixture
def teachers_api(world_a, in_school) -> Client:
    with in_school(world_a):
        _, token = api_token_create(school=world_a.school, user=world_a.teacher, name="fuzz")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


@FUZZ
@given(data=st.data())
def test_fuzzing_the_api_evidence_post_answers_4xx_and_writes_nothing(
    world_a, teachers_api, each_example, data
):
    w, api = world_a, teachers_api
    url = f"/api/v1/schools/{w.school.slug}/evidence/"
    ids = st.sampled_from(
        [w.student.id, w.targets[0].id, w.assessment.id, 0, -1, 10**12, "1", None]
    )
    fields = st.fixed_dictionaries(
        {},
        optional={
            "student": ids | JSON,
            "target": ids | JSON,
            "assessment": ids | JSON,
            "score": st.sampled_from(["3", 3, 3.5, "5", -1, "1e9", "NaN", None, "abc"]) | JSON,
            "status": st.sampled_from(["scored", "missing", "excused", "nope", ""]) | JSON,
            "assessed_on": st.sampled_from(["2020-01-01", "2999-12-31", "yesterday", ""]) | JSON,
            "feedback": st.text(max_size=30) | st.just("x" * 4001),
        },
    )
    body = data.draw(
        st.one_of(
            fields.map(json.dumps),
            JSON.map(json.dumps),
            st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
        ),
        label="body",
    )
    with each_example():
        before = _counts(w)
        response = api.post(url, body, content_type="application/json")
        assert response.status_code in {200, 201, 400, 403, 404}, response.content[:300]
        if response.status_code >= 400:
            assert response.json()["status"] == response.status_code
            assert _counts(w) == before
