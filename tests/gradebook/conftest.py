"""Fixtures of the gradebook tests shared between files."""

from __future__ import annotations

import pytest

from tests.factories import make_world


@pytest.fixture
def high(db):
    """Lakeside High made by hand before its first import (it already has an Algebra 1 course)."""
    return make_world("lakeside-high")


@pytest.fixture
def middle(db):
    return make_world("hillcrest-middle")
