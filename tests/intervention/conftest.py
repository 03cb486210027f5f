"""Fixtures of the intervention tests shared between files."""

from __future__ import annotations

import pytest

from tests.factories import make_world


@pytest.fixture
def w(db):
    return make_world("int", students=3)
