"""Schemathesis against our own OpenAPI schema: every operation, bounded generated inputs, no 500s,
every response (status, content type, body) as the schema documents it.

The schema is generated in-process (the same document /api/schema/ serves) and requests go through
Django's WSGI handler in the test's thread, so they see the test's data in its transaction.
"""

from __future__ import annotations

import json
import zlib

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.core.serializers.json import DjangoJSONEncoder
from django.db import close_old_connections
from django_scopes import scopes_disabled
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mastery.services import api_token_create
from tests.factories import api_objects, make_evidence, make_intervention

document = json.loads(
    json.dumps(SchemaGenerator().get_schema(request=None, public=True), cls=DjangoJSONEncoder)
)
schema = schemathesis.openapi.from_dict(document)
schema.app = WSGIHandler()

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def _keep_the_test_connection():
    # Django closes the database connection as a request starts and finishes; in a test that would close
    # the connection holding the test's transaction (Django's own test client does the same).
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def api_world(world_a, world_b, settings, _keep_the_test_connection):
    """School A with evidence, mastery, an open cycle; a school admin's token; B to stay out of."""
    settings.ALLOWED_HOSTS = ["*"]
    settings.CELERY_TASK_ALWAYS_EAGER = True
    make_evidence(world_a, score="1")
    make_intervention(world_a)
    with scopes_disabled():
        _, raw = api_token_create(school=world_a.school, user=world_a.admin, name="schemathesis")
    known = api_objects(world_a)
    return raw, known


@schema.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_conforms_to_the_schema(case, api_world, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    raw, known = api_world
    parameters = case.path_parameters or {}
    # Two times in three the real school (so handlers run), otherwise whatever was generated
    # (which must answer a documented 404, never a 500).
    if (
        "school_slug" in parameters
        and zlib.crc32(f"{case.operation.label}{case.query}{case.body}".encode()) % 3
    ):
        parameters["school_slug"] = "alpha"
        resource = case.operation.path.split("/")[5] if case.operation.path.count("/") > 5 else ""
        if "id" in parameters and resource in known:
            parameters["id"] = known[resource]
    case.call_and_validate(headers={"Authorization": f"Bearer {raw}"}, checks=CHECKS)
