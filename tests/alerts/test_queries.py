"""The alerts builder is set-based: a batch of mails costs the same number of queries for two
families or for twenty, with one score each or several (the nightly digest of a whole school,
measured in `make bench` as alerts_digest)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_scopes import scope

from alerts import builder
from gradebook.models import Guardianship
from mastery.models import Role
from mastery.tenancy import enter_school
from tests.factories import make_evidence, make_member, make_world

pytestmark = pytest.mark.django_db

# Pinned: items_build (lock the events, guardians, student accounts, requests and their
# teachers, choices, the INSERT, the handled UPDATE) and mails_build (the lock, people, items,
# evidence, comments, requests, guardianships, students, users, choices, the INSERT, the UPDATE).
QUERIES_ITEMS_BUILD = 8
QUERIES_MAILS_BUILD = 13


def queries(slug: str, families: int, scores: int) -> tuple[int, int, int]:
    w = make_world(slug, students=3)
    with scope(school=w.school):
        for i in range(families):
            relative = make_member(w.school, Role.GUARDIAN, f"r{i}@{slug}.test")
            for student in w.students[:2]:
                Guardianship.objects.create(school=w.school, guardian=relative, student=student)
    for student in w.students[:2]:
        for target in w.targets[:scores]:
            make_evidence(w, student, target, None, status="missing")
    at = timezone.now() + timedelta(minutes=11)
    with enter_school(w.school):
        with CaptureQueriesContext(connection) as items:
            builder.items_build(w.school, now=at)
        with CaptureQueriesContext(connection) as mails:
            made = builder.mails_build(w.school, now=at)
    return len(items), len(mails), made.mails


def test_a_batch_costs_the_same_queries_whatever_its_size():
    small = queries("fewfam", families=1, scores=1)
    large = queries("manyfam", families=12, scores=2)
    assert large[2] > 4 * small[2]  # many more mails
    assert small[:2] == large[:2] == (QUERIES_ITEMS_BUILD, QUERIES_MAILS_BUILD)
