"""What the dashboard tests share: reading a figure's CSV, building a page's URL, a simple policy."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django_scopes import scope

from gradebook.models import Evidence
from mastery.models import GradingPolicy
from reports.models import BaselineRun
from tests.factories import make_assessment


def rows_of(response) -> list[dict[str, str]]:
    """A figure's CSV download as dicts, after checking it is one (200, text/csv, UTF-8 BOM)."""
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def with_query(base: str, **query) -> str:
    return f"{base}?{urlencode(query)}" if query else base


def latest_policy(w) -> None:
    """The school's policy set to "most recent score", so figures work out by hand."""
    with scope(school=w.school):
        GradingPolicy.objects.filter(school=w.school).update(method="latest")


def proficient_before_term(w, student, target, score: str = "3"):
    """Evidence dated before the term (a "Last year" assessment), recorded directly: the grid only
    takes dates inside the section's term. Returns the assessment."""
    with scope(school=w.school):
        before = make_assessment(
            w.school,
            w.course,
            [target],
            on=w.term.starts_on - timedelta(days=10),
            title="Last year",
        )
        Evidence.objects.create(
            school=w.school,
            student=student,
            target=target,
            assessment=before,
            score=Decimal(score),
            kind=before.kind,
            assessed_on=before.assessed_on,
            recorded_by=w.teacher,
        )
    return before


def baselines_done(w, dates) -> None:
    """Mark these dates' baselines computed under the school's current policies (empty snapshots)."""
    with scope(school=w.school):
        current = ",".join(
            str(i)
            for i in GradingPolicy.objects.filter(school=w.school, is_current=True)
            .order_by("id")
            .values_list("id", flat=True)
        )
        for as_of in dates:
            BaselineRun.objects.update_or_create(
                school=w.school,
                as_of=as_of,
                defaults={"status": BaselineRun.Status.DONE, "policy_versions": current},
            )
