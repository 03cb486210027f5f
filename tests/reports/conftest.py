"""Fixtures of the reports tests shared between files."""

from __future__ import annotations

import pytest

from mastery.models import LevelDescriptor, ScaleLevel
from tests.factories import make_attempt


@pytest.fixture
def rich(world_a, in_school):
    """Student 0 with two attempts on targets 0 and 1, Spanish texts for the scale and descriptors."""
    w = world_a
    s0 = w.students[0]
    make_attempt(w, s0, w.targets[0], "2", days_ago=20)
    make_attempt(w, s0, w.targets[0], "3", days_ago=10, feedback="Show every step next time.")
    make_attempt(w, s0, w.targets[1], "1", days_ago=15)
    with in_school(w):
        for value, label in (
            (1, "Inicial"),
            (2, "En desarrollo"),
            (3, "Competente"),
            (4, "Avanzado"),
        ):
            ScaleLevel.objects.filter(
                school=w.school, scale__kind="achievement", value=value
            ).update(label_es=label)
        for d in LevelDescriptor.objects.filter(school=w.school):
            d.text_es = f"Nivel {int(d.level_value)} en español de {d.target.code}"
            d.save()
        w.targets[0].statement_es = "Puedo hacer la cosa 1."
        w.targets[0].save()
    return w
