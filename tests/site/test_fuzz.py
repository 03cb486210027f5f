"""Fuzz: bad input never answers 500, and input that is refused writes nothing (issue 21, item 6).

- hypothesis over every form field and query parameter of the scoring pages (the htmx cell, the
  no-JavaScript grid form, fill, reassess), the section grid, the audit trail and the intervention
  pages (settings, opening a cycle, moves, attendance), posted by a member of the school with the
  right role;
- schemathesis over every operation of the API (generated valid and invalid input), with a
  school admin's token;
- every value that once answered 500 is an explicit example, in every field it could reach
  (random input rarely types 1e400, 2**63 or ten thousand `[`);
- SQLite, which the demo runs on, refuses a query parameter beyond a 64-bit INTEGER
  (OverflowError); the suite runs on PostgreSQL, which compares such a number without complaint, so
  every query of this module goes through the same check SQLite makes (`sqlite_integers`), and
  one test runs the id paths for real against a SQLite database in a subprocess.

Seeded (derandomize) and bounded (a few generated examples per test, no deadline): the module runs
in well under a minute.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from datetime import date, timedelta
from pathlib import Path

import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.handlers.wsgi import WSGIHandler
from django.core.serializers.json import DjangoJSONEncoder
from django.db import close_old_connections, connection, transaction
from django.urls import reverse
from django.utils import timezone
from django_filters import FilterSet, NumberFilter
from django_scopes import scopes_disabled
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from rest_framework import exceptions
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from gradebook.api import EvidenceCreateSerializer
from gradebook.models import (
    Assessment,
    AssessmentFeedback,
    Evidence,
    Mastery,
    ReassessmentRequest,
    ScoringUndo,
)
from intervention.models import (
    InterventionGroup,
    InterventionSettings,
    InterventionSlot,
    RosterEntry,
    SessionAttendance,
)
from marks.models import PostedMark
from mastery.fields import BoundedDateField, BoundedModelMultipleChoiceField, IdField, parse_id
from mastery.models import AuditEvent, Department
from mastery.rest import BoundedFilterBackend, JSONParser, filter_ids
from mastery.services import api_token_create
from reports.models import ReportBatch
from tests.factories import api_objects, make_evidence, make_intervention, marking_period

ROOT = Path(__file__).resolve().parents[2]

# --- The values that answered 500 (each an explicit example below) ----------------------------------

INT64_MAX = 2**63 - 1
HUGE_IDS = [str(2**63), str(2**64), str(-(2**63) - 1)]
# 1e400 overflows a Decimal's context, 1e30 and 27 nines its quantize; sNaN signals on compare;
# 2.996 and 2.4999 are off the scale (refused, never rounded onto it).
BAD_SCORES = ["1e400", "1e30", "9" * 27, "NaN", "sNaN", "Infinity", "2.996", "2.4999"]
BAD_NUMBERS = ["1e400", "sNaN", "Infinity", str(2**63)]
# "²".isdigit() is True but int("²") raises; int() refuses a string of more than 4300 digits.
BAD_IDS = [str(2**63), str(2**64), "abc", "²", "9" * 5000]
BAD_DATES = ["9999-12-31", "0001-01-01", "2026-02-30"]
NESTED_JSON = b"[" * 10_000
NESTED_OBJECT = b'{"a":' * 10_000

# A sentinel for "the real, valid id or value of the world" (so the handlers run past the lookup).
REAL = "<real>"

FUZZ = settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)

texts = st.text(max_size=30)
numbers = st.one_of(
    st.sampled_from(["1", "2", "2.5", "3", "4", "M", "ex", "", " 3 "]),
    st.sampled_from(BAD_NUMBERS),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats().map(str),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    texts,
)
ids = st.one_of(
    st.just(REAL),
    st.sampled_from(BAD_IDS),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    texts,
)
dates = st.one_of(
    st.just(REAL),
    st.sampled_from(BAD_DATES),
    st.dates().map(date.isoformat),
    texts,
)


def examples(*cases: dict):
    """Each case an explicit hypothesis @example."""

    def apply(test):
        for case in reversed(cases):
            test = example(**case)(test)
        return test

    return apply


def real(value, actual) -> str:
    return str(actual) if value == REAL else value


# --- SQLite's INTEGER limit, checked on PostgreSQL --------------------------------------------------

SQLITE_INTEGER = (-(2**63), INT64_MAX)


def _parameters(params):
    if isinstance(params, dict):
        yield from params.values()
    elif isinstance(params, (list, tuple)):
        for param in params:
            if isinstance(param, (list, tuple, dict)):
                yield from _parameters(param)
            else:
                yield param


@pytest.fixture(autouse=True)
def sqlite_integers():
    """Refuse, as SQLite does, a query parameter that is an integer beyond 64 bits."""

    def check(execute, sql, params, many, context):
        for param in _parameters(params or ()):
            if (
                isinstance(param, int)
                and not isinstance(param, bool)
                and not SQLITE_INTEGER[0] <= param <= SQLITE_INTEGER[1]
            ):
                raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(check):
        yield


# --- Requests -----------------------------------------------------------------------------------------

WRITTEN = [
    Evidence,
    Mastery,
    Assessment,
    AssessmentFeedback,
    ScoringUndo,
    ReassessmentRequest,
    AuditEvent,
    InterventionSettings,
    InterventionSlot,
    RosterEntry,
    SessionAttendance,
    Department,
    ReportBatch,
    PostedMark,
]


def written(school) -> dict:
    """Every row a page or the API of this module could write, as it is now."""
    with scopes_disabled():
        return {
            model.__name__: list(model.objects.filter(school=school).order_by("pk").values_list())
            for model in WRITTEN
        }


def send(client, method: str, path: str, data=None, **extra):
    """The response; a view that raises (a 500 for the user) fails the example, naming the input.

    Each request runs in a savepoint, so that a database error inside it cannot poison the test's
    transaction for the next example.
    """
    try:
        with transaction.atomic():
            response = getattr(client, method)(path, data if data is not None else {}, **extra)
    except Exception as exc:
        raise AssertionError(f"{method.upper()} {path} {data!r} raised {exc!r}") from exc
    assert response.status_code < 500, f"{method.upper()} {path} {data!r}: {response.status_code}"
    return response


def post_writes_nothing_when_refused(client, school, path: str, data, **extra):
    before = written(school)
    response = send(client, "post", path, data, **extra)
    if 400 <= response.status_code < 500:
        assert written(school) == before, f"POST {path} {data!r} answered {response.status_code}"
    return response


def assert_refused(response, data):
    assert 400 <= response.status_code < 500, f"{data!r} was not refused: {response.status_code}"


HTMX = {"HTTP_HX_REQUEST": "true"}


def scoring_url(w, name: str) -> str:
    return reverse(
        f"gradebook:{name}",
        kwargs={
            "school_slug": w.school.slug,
            "section_id": w.section.id,
            "assessment_id": w.assessment.id,
        },
    )


# --- The scoring pages (a teacher of the section) ------------------------------------------------


@FUZZ
@given(student=ids, target=ids, value=numbers)
@examples(
    *({"student": REAL, "target": REAL, "value": v} for v in BAD_SCORES),
    *({"student": i, "target": REAL, "value": "3"} for i in BAD_IDS),
    *({"student": REAL, "target": i, "value": "3"} for i in BAD_IDS),
)
def test_the_score_cell(world_a, login, student, target, value):
    w = world_a
    client = login(w.teacher)
    data = {f"c-{real(student, w.students[0].id)}-{real(target, w.targets[0].id)}": value}
    response = post_writes_nothing_when_refused(
        client, w.school, scoring_url(w, "score_cell"), data, **HTMX
    )
    if student == target == REAL and value in BAD_SCORES:
        assert_refused(response, data)


@FUZZ
@given(student=ids, target=ids, value=numbers, comment=st.one_of(st.none(), texts))
@examples(
    *({"student": REAL, "target": REAL, "value": v, "comment": None} for v in BAD_SCORES),
    *({"student": i, "target": i, "value": "3", "comment": None} for i in BAD_IDS),
    {"student": "²", "target": REAL, "value": "", "comment": "x"},
    {"student": str(2**63), "target": REAL, "value": "", "comment": "x"},
    {"student": REAL, "target": REAL, "value": "", "comment": "nul\x00"},
    {"student": REAL, "target": REAL, "value": "", "comment": "x" * 4001},
)
def test_the_scoring_grid_form(world_a, login, student, target, value, comment):
    """The no-JavaScript form: one cell (its ids fuzzed too), or one student's comment. (The form
    saves its valid cells and marks the others: one field at a time, a refusal writes nothing.)"""
    w = world_a
    client = login(w.teacher)
    s = real(student, w.students[0].id)
    cell = f"c-{s}-{real(target, w.targets[0].id)}"
    data = {cell: value} if comment is None else {f"fb-{s}": comment}
    response = post_writes_nothing_when_refused(client, w.school, scoring_url(w, "score"), data)
    if student == target == REAL and comment is None and value in BAD_SCORES:
        assert_refused(response, data)
    if student == REAL and comment and ("\x00" in comment or len(comment.strip()) > 4000):
        assert_refused(response, data)


@FUZZ
@given(target=st.one_of(st.just(""), ids), value=numbers, htmx=st.booleans())
@examples(
    *({"target": REAL, "value": v, "htmx": False} for v in BAD_SCORES),
    *({"target": "", "value": v, "htmx": True} for v in BAD_SCORES[:3]),
    *({"target": i, "value": "3", "htmx": False} for i in BAD_IDS),
)
def test_fill(world_a, login, target, value, htmx):
    w = world_a
    client = login(w.teacher)
    data = {"target": real(target, w.targets[0].id), "value": value}
    response = post_writes_nothing_when_refused(
        client, w.school, scoring_url(w, "score_fill"), data, **(HTMX if htmx else {})
    )
    if target in (REAL, "") and value in BAD_SCORES:
        assert_refused(response, data)


@FUZZ
@given(
    value=numbers,
    assessed_on=dates,
    assessment=st.one_of(st.just(""), ids),
    feedback=texts,
    title=texts,
)
@examples(
    *(
        {"value": v, "assessed_on": REAL, "assessment": "", "feedback": "", "title": ""}
        for v in BAD_SCORES
    ),
    *(
        {"value": "3", "assessed_on": d, "assessment": "", "feedback": "", "title": ""}
        for d in BAD_DATES
    ),
    *(
        {"value": "3", "assessed_on": REAL, "assessment": i, "feedback": "", "title": ""}
        for i in BAD_IDS
    ),
    {"value": "3", "assessed_on": REAL, "assessment": "", "feedback": "\x00", "title": "\x00"},
)
def test_reassess(world_a, login, value, assessed_on, assessment, feedback, title):
    w = world_a
    client = login(w.teacher)
    path = reverse(
        "gradebook:cell_reassess",
        kwargs={
            "school_slug": w.school.slug,
            "section_id": w.section.id,
            "student_id": w.students[0].id,
            "target_id": w.targets[0].id,
        },
    )
    data = {
        "value": value,
        "assessed_on": real(assessed_on, timezone.localdate().isoformat()),
        "assessment": real(assessment, w.assessment.id),
        "feedback": feedback,
        "title": title,
    }
    response = post_writes_nothing_when_refused(client, w.school, path, data)
    if value in BAD_SCORES:
        assert_refused(response, data)


# --- The section grid's query parameters (its teacher) -------------------------------------------------


@FUZZ
@given(
    sort=st.one_of(st.sampled_from(["name", "grade", "target"]), texts),
    show=st.one_of(st.sampled_from(["all", "below", "level"]), texts),
    target=ids,
    level=numbers,
    htmx=st.booleans(),
)
@examples(
    *(
        {"sort": "name", "show": "level", "target": REAL, "level": v, "htmx": False}
        for v in [*BAD_SCORES, *BAD_NUMBERS]
    ),
    *(
        {"sort": "target", "show": "below", "target": i, "level": "3", "htmx": True}
        for i in BAD_IDS
    ),
)
def test_the_section_grid(world_a, login, sort, show, target, level, htmx):
    w = world_a
    make_evidence(w, score="3")
    client = login(w.teacher)
    path = reverse(
        "gradebook:section_detail",
        kwargs={"school_slug": w.school.slug, "section_id": w.section.id},
    )
    query = {"sort": sort, "show": show, "target": real(target, w.targets[0].id), "level": level}
    send(client, "get", path, query, **({**HTMX, "HTTP_HX_TARGET": "grid"} if htmx else {}))


# --- The audit trail's filters (a school admin) ----------------------------------------------------------


@FUZZ
@given(
    kind=st.one_of(st.just(""), st.sampled_from(AuditEvent.ObjectType.values), texts),
    actor=st.one_of(st.just(""), st.just("system"), ids),
    since=st.one_of(st.just(""), dates),
    until=st.one_of(st.just(""), dates),
    page=st.one_of(st.just(""), ids),
)
@examples(
    *({"kind": "", "actor": "", "since": "", "until": d, "page": ""} for d in BAD_DATES),
    *({"kind": "", "actor": "", "since": d, "until": "", "page": ""} for d in BAD_DATES),
    *({"kind": "", "actor": i, "since": "", "until": "", "page": i} for i in BAD_IDS),
)
def test_the_audit_filters(world_a, login, kind, actor, since, until, page):
    w = world_a
    client = login(w.admin)
    today = timezone.localdate().isoformat()
    query = {
        "type": kind,
        "actor": real(actor, w.teacher.id),
        "since": real(since, today),
        "until": real(until, today),
        "page": real(page, 1),
    }
    send(client, "get", reverse("audit_log", kwargs={"school_slug": w.school.slug}), query)


# --- The intervention pages (a counselor; the group's teacher for attendance) -----------------------


@pytest.fixture
def intervention_world(world_a):
    make_evidence(world_a, score="1")  # a student below mastery: a roster to move and mark
    make_intervention(world_a)
    return world_a


settings_fields = st.fixed_dictionaries(
    {
        "action": st.one_of(st.sampled_from(["settings", "add_slot", "remove_slot"]), texts),
        "s-cycle_weeks": numbers,
        "s-weekdays": st.lists(st.one_of(st.sampled_from(["2", "3"]), ids), max_size=3),
        "s-group_capacity": numbers,
        "s-enrichment_capacity": numbers,
        "s-focus": st.lists(ids, max_size=2),
        "slot-teacher": ids,
        "slot-weekday": st.one_of(st.sampled_from(["2", "3"]), ids),
        "slot-room": texts,
        "slot-capacity": numbers,
        "slot": ids,
    }
)
VALID_SETTINGS = {
    "action": "settings",
    "s-cycle_weeks": "4",
    "s-weekdays": ["2", "3"],
    "s-group_capacity": "10",
    "s-enrichment_capacity": "10",
    "s-focus": [REAL],
    "slot-teacher": REAL,
    "slot-weekday": "2",
    "slot-room": "101",
    "slot-capacity": "5",
    "slot": REAL,
}


@FUZZ
@given(fields=settings_fields)
@examples(
    *({"fields": {**VALID_SETTINGS, "action": "remove_slot", "slot": i}} for i in BAD_IDS),
    *({"fields": {**VALID_SETTINGS, "action": "add_slot", "slot-teacher": i}} for i in BAD_IDS),
    *({"fields": {**VALID_SETTINGS, "s-focus": [i]}} for i in BAD_IDS),
    *({"fields": {**VALID_SETTINGS, "s-weekdays": [i]}} for i in BAD_IDS[:2]),
    *({"fields": {**VALID_SETTINGS, "s-cycle_weeks": n}} for n in BAD_NUMBERS[:2]),
    *(
        {"fields": {**VALID_SETTINGS, "action": "add_slot", "slot-capacity": n}}
        for n in BAD_NUMBERS
    ),
)
def test_the_intervention_settings(intervention_world, login, fields, in_school):
    w = intervention_world
    client = login(w.counselor)
    with in_school(w):
        slot = InterventionSlot.objects.filter(school=w.school).first()
    actual = {"s-focus": w.department.id, "slot-teacher": w.teacher.id, "slot": slot.id}
    data = {}
    for name, value in fields.items():
        if isinstance(value, list):
            data[name] = [real(v, actual.get(name)) for v in value]
        else:
            data[name] = real(value, actual.get(name))
    path = reverse("intervention:settings", kwargs={"school_slug": w.school.slug})
    post_writes_nothing_when_refused(client, w.school, path, data)


@FUZZ
@given(entry=ids, group=st.one_of(st.just(""), ids), htmx=st.booleans())
@examples(
    *({"entry": REAL, "group": i, "htmx": False} for i in BAD_IDS),
    *({"entry": i, "group": REAL, "htmx": True} for i in BAD_IDS if i.isascii() and i.isdigit()),
)
def test_moves(intervention_world, login, entry, group, htmx, in_school):
    w = intervention_world
    client = login(w.counselor)
    with in_school(w):
        row = RosterEntry.objects.filter(school=w.school).first()
        other = InterventionGroup.objects.filter(school=w.school).exclude(id=row.group_id).first()
    entry_id = real(entry, row.id)
    if not (entry_id.isascii() and entry_id.isdigit()):
        return  # not a URL of the page (its <int:> converter); see the explicit examples
    path = reverse(
        "intervention:entry_move", kwargs={"school_slug": w.school.slug, "entry_id": entry_id}
    )
    data = {"group": real(group, other.id if other else "")}
    post_writes_nothing_when_refused(client, w.school, path, data, **(HTMX if htmx else {}))


@FUZZ
@given(session=dates, entry=ids, status=st.one_of(st.sampled_from(["present", "absent"]), texts))
@examples(
    *({"session": d, "entry": REAL, "status": "present"} for d in BAD_DATES),
    *({"session": REAL, "entry": i, "status": "present"} for i in BAD_IDS),
    {"session": REAL, "entry": REAL, "status": "\x00"},
)
def test_attendance(intervention_world, login, session, entry, status):
    w = intervention_world
    with scopes_disabled():
        row = RosterEntry.objects.filter(school=w.school, group__isnull=False).first()
        group = row.group
    client = login(group.teacher)
    sessions = row.cycle.session_dates(group.weekday)
    path = reverse(
        "intervention:attendance", kwargs={"school_slug": w.school.slug, "group_id": group.id}
    )
    # The group's real student first, then the fuzzed one: a refusal must take back both.
    data = {
        "date": real(session, sessions[0].isoformat()),
        f"a-{row.id}": "absent",
        f"a-{real(entry, row.id)}": status,
    }
    send(client, "get", path, {"date": data["date"]})
    post_writes_nothing_when_refused(client, w.school, path, data)


@FUZZ
@given(starts_on=st.one_of(st.just(""), dates))
@examples(*({"starts_on": d} for d in [*BAD_DATES, "9999-12-27", "sNaN"]))
def test_opening_a_cycle(world_a, login, starts_on):
    w = world_a
    client = login(w.counselor)
    monday = timezone.localdate() - timedelta(days=timezone.localdate().weekday())
    path = reverse("intervention:cycle_open", kwargs={"school_slug": w.school.slug})
    post_writes_nothing_when_refused(client, w.school, path, {"starts_on": real(starts_on, monday)})


# --- The whole API (schemathesis, a school admin's token) ------------------------------------------

document = json.loads(
    json.dumps(SchemaGenerator().get_schema(request=None, public=True), cls=DjangoJSONEncoder)
)
schema = schemathesis.openapi.from_dict(document)
schema.app = WSGIHandler()


@pytest.fixture
def api_world(world_a, world_b, settings):
    """School A with evidence, Mastery, an open cycle; B to stay out of; requests through Django's
    WSGI handler in the test's thread (so they see the test's data in its transaction)."""
    settings.ALLOWED_HOSTS = ["*"]
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # Django closes the database connection as a request starts and finishes: in a test, the
    # connection holding the test's transaction (Django's own test client does the same).
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    make_evidence(world_a, score="1")
    make_intervention(world_a)
    with scopes_disabled():
        _, raw = api_token_create(school=world_a.school, user=world_a.admin, name="fuzz")
    known = api_objects(world_a)
    bodies = {
        ("POST", "evidence"): {
            "student": world_a.students[0].id,
            "target": world_a.targets[0].id,
            "assessment": world_a.assessment.id,
            "score": "3",
        },
        ("POST", "void"): {"reason": "fuzz"},
        ("POST", "report-batches"): {"section": world_a.section.id},
        ("POST", "post"): {  # posted-marks/post/: one course grade of the section
            "section": world_a.section.id,
            "period": marking_period(world_a).id,
            "marks": [
                {"student": world_a.students[0].id, "kind": "course", "subject": 0, "value": ""}
            ],
        },
    }
    yield world_a, raw, known, bodies
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


def _resource(operation) -> str:
    parts = operation.path.strip("/").split("/")  # api v1 schools {school_slug} resource …
    return parts[4] if len(parts) > 4 else ""


def _body_key(operation) -> tuple[str, str]:
    return operation.method.upper(), operation.path.strip("/").split("/")[-1]


def _bad_values(name: str, kind: str | None) -> list:
    if name in ("page", "page_size"):  # the paginator's, the same on every list
        return [2**63, "²"]
    if kind in ("integer", "number"):
        return [2**63, "²", "1e400", "sNaN"]
    return [str(2**63), "²", "sNaN", "9999-12-31", "\x00"]


def _explicit_cases(operation, path_parameters: dict, bodies: dict) -> list:
    """The hostile values, each in every query parameter, path id and body field it could reach."""
    cases = []
    for parameter in operation.query:
        kind = (parameter.definition.get("schema") or {}).get("type")
        for value in _bad_values(parameter.name, kind):
            cases.append(
                operation.Case(path_parameters=path_parameters, query={parameter.name: value})
            )
    if "id" in path_parameters:
        for value in [2**63, "²"]:
            cases.append(operation.Case(path_parameters={**path_parameters, "id": value}))
    if list(operation.body):
        base = bodies.get(_body_key(operation), {})
        for raw in (NESTED_JSON, NESTED_OBJECT, b'{"student": 1e400, "score": 1e400}'):
            cases.append(
                operation.Case(
                    path_parameters=path_parameters, body=raw, media_type="application/json"
                )
            )
        for field in base:
            for value in [2**63, 2**64, "1e400", "9" * 27, "sNaN", "²"]:
                cases.append(
                    operation.Case(
                        path_parameters=path_parameters,
                        body={**base, field: value},
                        media_type="application/json",
                    )
                )
    return cases


API_FUZZ = settings(FUZZ, max_examples=3)


def test_the_whole_api_never_answers_5xx(api_world):
    w, raw, known, bodies = api_world
    headers = {"Authorization": f"Bearer {raw}"}
    failures, sent, explicit = [], [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        fixed = {}
        names = {p.name for p in operation.path_parameters}
        if "school_slug" in names:
            fixed["school_slug"] = w.school.slug
        if "id" in names and _resource(operation) in known:
            fixed["id"] = known[_resource(operation)]
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters=fixed),
            operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=fixed),
        )
        test = _api_check(operation, w.school, headers, sent)
        cases = _explicit_cases(operation, fixed, bodies)
        explicit += len(cases)
        for case in reversed(cases):
            test = example(case=case)(test)
        test = API_FUZZ(given(case=strategy)(test))
        cache.clear()  # the API's throttle counts requests in the cache
        try:
            test()
        except (Exception, BaseExceptionGroup) as exc:  # every failing operation, not the first
            failures.append(f"{operation.label}: {exc!r}"[:3000])
    # Every explicit example was sent, and generated ones besides (the harness did not go quiet).
    assert len(sent) > explicit > 300, (len(sent), explicit)
    assert len(set(sent)) == len(document_operations()), "an operation was never called"
    assert not failures, "\n\n".join(failures)


def document_operations() -> list[str]:
    methods = {"get", "post", "put", "patch", "delete"}
    return [f"{m} {p}" for p, item in document["paths"].items() for m in item if m in methods]


def _api_check(operation, school, headers, sent: list):
    """One request of the operation: no 5xx; a refused POST writes nothing."""

    def call(case):
        sent.append(operation.label)
        before = written(school) if case.method.upper() == "POST" else None
        try:
            with transaction.atomic():
                response = case.call(headers=headers)
                case.validate_response(response, checks=[not_a_server_error])
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup is the latter
            raise AssertionError(
                f"{case.method} {case.formatted_path} query={case.query!r} "
                f"body={str(case.body)[:200]!r}: {exc!r}"[:2000]
            ) from exc
        if before is not None and 400 <= response.status_code < 500:
            assert written(school) == before, f"{operation.label} wrote and answered 4xx"

    return call


# --- The id paths on a real SQLite database (the demo's) ---------------------------------------------

SQLITE_SETTINGS = """
from config.settings import *  # noqa: F403

class _FromTheModels:  # no migrations: the tables straight from today's models (fast)
    def __contains__(self, app):
        return True

    def __getitem__(self, app):
        return None

MIGRATION_MODULES = _FromTheModels()
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = ["*"]
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
"""

SQLITE_SCRIPT = r"""
import json, sys
import django
django.setup()
from django.core.management import call_command
call_command("migrate", run_syncdb=True, verbosity=0)
from django.test import Client
from django.urls import reverse
from django_scopes import scopes_disabled
from gradebook.models import Evidence
from intervention.models import InterventionSlot, RosterEntry
from mastery.services import api_token_create
from tests.factories import make_evidence, make_intervention, make_world

w = make_world("alpha")
make_evidence(w, score="1")
make_intervention(w)
with scopes_disabled():
    _, token = api_token_create(school=w.school, user=w.admin, name="sqlite")
    entry = RosterEntry.objects.filter(school=w.school, group__isnull=False).first()
    slot = InterventionSlot.objects.filter(school=w.school).first()
BIG = [str(2**63), str(2**64)]
results = []

def run(label, client, method, path, data=None, **extra):
    try:
        response = getattr(client, method)(path, data or {}, **extra)
        results.append([label, response.status_code, ""])
    except Exception as exc:
        results.append([label, 500, repr(exc)[:200]])

api = Client(raise_request_exception=True, HTTP_AUTHORIZATION=f"Bearer {token}")
from drf_spectacular.generators import SchemaGenerator
document = SchemaGenerator().get_schema(request=None, public=True)
for path, item in document["paths"].items():
    get = item.get("get")
    if not get or "{id}" in path:
        continue
    url = path.replace("{school_slug}", "alpha")
    for parameter in get.get("parameters", []):
        if parameter["in"] == "query" and parameter["schema"].get("type") in ("integer", "number", "string"):
            for big in BIG:
                run(f"GET {path}?{parameter['name']}={big}", api, "get", url, {parameter["name"]: big})
base = {"student": w.students[0].id, "target": w.targets[0].id, "assessment": w.assessment.id, "score": "3"}
for field in ("student", "target", "assessment"):
    for big in (2**63, 2**64):
        run(f"POST evidence {field}={big}", api, "post", "/api/v1/schools/alpha/evidence/",
            json.dumps({**base, field: big}), content_type="application/json")
run("POST report-batches section=2**63", api, "post", "/api/v1/schools/alpha/report-batches/",
    json.dumps({"section": 2**63}), content_type="application/json")

pages = Client(raise_request_exception=True)
slug, section, assessment = "alpha", w.section.id, w.assessment.id
score = f"/s/{slug}/sections/{section}/assessments/{assessment}/"
cell = f"/s/{slug}/sections/{section}/students/{w.students[0].id}/targets/{w.targets[0].id}/"
pages.force_login(w.teacher)
for big in BIG:
    run(f"cell c-{big}", pages, "post", score + "cell/", {f"c-{big}-{w.targets[0].id}": "3"})
    run(f"grid form c-{big}", pages, "post", score + "score/", {f"c-{big}-{big}": "3", f"fb-{big}": "x"})
    run(f"fill target={big}", pages, "post", score + "fill/", {"target": big, "value": "3"})
    run(f"reassess assessment={big}", pages, "post", cell + "reassess/",
        {"value": "3", "assessed_on": str(w.term.starts_on), "assessment": big})
    run(f"grid target={big}", pages, "get", f"/s/{slug}/sections/{section}/", {"target": big, "show": "below"})
pages.force_login(w.admin)
for big in BIG:
    run(f"audit actor={big}", pages, "get", f"/s/{slug}/audit/", {"actor": big})
pages.force_login(w.counselor)
settings_url = f"/s/{slug}/intervention/settings/"
for big in BIG:
    run(f"settings remove_slot slot={big}", pages, "post", settings_url, {"action": "remove_slot", "slot": big})
    run(f"settings add_slot teacher={big}", pages, "post", settings_url,
        {"action": "add_slot", "slot-teacher": big, "slot-weekday": "2"})
    run(f"settings focus={big}", pages, "post", settings_url,
        {"action": "settings", "s-focus": big, "s-weekdays": "2", "s-cycle_weeks": "4",
         "s-group_capacity": "10", "s-enrichment_capacity": "10"})
    run(f"move group={big}", pages, "post", f"/s/{slug}/intervention/entries/{entry.id}/move/", {"group": big})
    run(f"attendance a-{big}", pages, "post", f"/s/{slug}/intervention/groups/{entry.group_id}/attendance/",
        {f"a-{big}": "present"})
json.dump(results, sys.stdout)
"""


@pytest.mark.slow
def test_ids_beyond_64_bits_on_a_real_sqlite_database(tmp_path):
    """The demo's database: every id a page or the API takes, at 2**63 and 2**64, answers < 500."""
    (tmp_path / "fuzz_sqlite_settings.py").write_text(textwrap.dedent(SQLITE_SETTINGS))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fuzz_sqlite_settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "DEBUG": "0",
    }
    done = subprocess.run(
        [sys.executable, "-c", SQLITE_SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    assert len(results) > 50
    failed = [r for r in results if r[1] >= 500]
    assert not failed, "\n".join(f"{label}: {status} {error}" for label, status, error in failed)


def test_the_explicit_examples_cover_every_value_found():
    """The values of the issue, each named (a guard against a later edit dropping one)."""
    assert {"1e400", "1e30", "9" * 27, "sNaN", "NaN", "Infinity"} <= set(BAD_SCORES)
    assert {str(2**63), str(2**64), "abc"} <= set(BAD_IDS)
    assert "9999-12-31" in BAD_DATES
    assert NESTED_JSON.count(b"[") == 10_000


# --- The bounds themselves: refused before any query ---------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", 1),
        ("42", 42),
        (str(2**63 - 1), 2**63 - 1),
        ("0009", 9),
        (7, 7),
        (str(2**63), None),
        (str(2**64), None),
        (2**63, None),
        ("9" * 5000, None),
        ("0", None),
        ("-1", None),
        (" 7", None),
        ("+7", None),
        ("²", None),
        ("٣", None),
        ("1e3", None),
        ("", None),
        (None, None),
        (True, None),
    ],
)
def test_parse_id_reads_only_ids_a_row_can_have(raw, expected):

    assert parse_id(raw) == expected


def test_the_form_fields_refuse_out_of_range_input_without_a_query(db, django_assert_num_queries):

    assert IdField().clean(str(2**63 - 1)) == 2**63 - 1
    for raw in (str(2**63), "²", "abc", "9" * 5000, "0"):
        with pytest.raises(ValidationError):
            IdField().clean(raw)
    assert BoundedDateField().clean("2026-03-02") == date(2026, 3, 2)
    for raw in ("9999-12-31", "0001-01-01", "2026-02-30", "20260302"):
        with pytest.raises(ValidationError):
            BoundedDateField().clean(raw)
    field = BoundedModelMultipleChoiceField(queryset=Department.objects.none())
    with django_assert_num_queries(0), pytest.raises(ValidationError) as refused:
        field.clean([str(2**63)])
    assert refused.value.code == "invalid_pk_value"


def test_the_api_bounds_ids_and_json_depth_before_any_query(db, django_assert_num_queries):

    with django_assert_num_queries(0):
        for raw in (str(2**63), "1,²", "1,-2", "9" * 5000):
            with pytest.raises(exceptions.ValidationError):
                filter_ids(raw, "student")
        assert filter_ids("1, 2,3", "student") == [1, 2, 3]
        body = {"student": 2**63, "target": 1, "assessment": 1, "score": "3"}
        data = EvidenceCreateSerializer(data=body)
        assert not data.is_valid() and set(data.errors) == {"student"}
        for nested in (NESTED_JSON, NESTED_OBJECT):
            with pytest.raises(exceptions.ParseError):
                JSONParser().parse(io.BytesIO(nested))

    class Numbers(FilterSet):
        department = NumberFilter(field_name="department_id")

        class Meta:
            model = Department
            fields = []

    class View:
        filterset_class = Numbers

    request = type("Request", (), {"query_params": {"department": str(2**63)}})()
    filterset = BoundedFilterBackend().get_filterset(request, Department.objects.none(), View())
    with django_assert_num_queries(0):
        assert not filterset.is_valid() and "department" in filterset.errors
