"""Posted marks for report card tests: grading periods, and marks posted through the service as a
teacher posts them (marks.services.section_marks_post)."""

from __future__ import annotations

from datetime import date, timedelta

from django_scopes import scope, scopes_disabled

from gradebook.models import GradingPeriod
from marks.computing import section_marks_compute
from marks.services import MarkEntry, section_marks_post
from tests.factories import World

TODAY = date.today()


def quarters(w: World) -> tuple[GradingPeriod, GradingPeriod]:
    """Q1 ended ten days ago, Q2 yesterday: both released to families (made once per world)."""
    with scopes_disabled():
        q1, _ = GradingPeriod.objects.get_or_create(
            school=w.school,
            term=w.term,
            name="Q1",
            defaults={"starts_on": w.term.starts_on, "ends_on": TODAY - timedelta(days=10)},
        )
        q2, _ = GradingPeriod.objects.get_or_create(
            school=w.school,
            term=w.term,
            name="Q2",
            defaults={"starts_on": TODAY - timedelta(days=9), "ends_on": TODAY - timedelta(days=1)},
        )
    return q1, q2


def post(
    w: World,
    period: GradingPeriod,
    *,
    section=None,
    values: dict | None = None,
    comments: dict | None = None,
    reason: str = "Seen in class",
    language: str = "en",
    by=None,
    only: bool = False,
):
    """Post every mark of the section in the period as computed, except `values` (key → value,
    sent with `reason`: an override, or a re-post), with `comments` (key → text or a bank code);
    `only`: the keys of `values` alone (a re-post of a few marks)."""
    section = section or w.section
    values, comments = values or {}, comments or {}
    with scope(school=w.school):
        marks = section_marks_compute(school=w.school, section=section, period=period)
        entries = []
        for key, found in marks.computed.items():
            if only and key not in values:
                continue
            value = values.get(key, found.value)
            entries.append(
                MarkEntry(
                    key=key,
                    value=value,
                    reason=reason if key in values else "",
                    comment=comments.get(key),
                    seen=found.value,
                )
            )
        return section_marks_post(
            school=w.school,
            section=section,
            period=period,
            posted_by=by or w.teacher,
            entries=entries,
            is_admin=True,
            language=language,
        )


def posted_period_of(w: World) -> GradingPeriod:
    """A grading period of its own with the world's section's marks posted as computed (the
    report cards' `period_id`), made once per world. Its own period and no new evidence, so the
    marks other fixtures post in the same world are never changed by it."""
    if "posted_period" not in w.extra:
        with scopes_disabled():
            period, _ = GradingPeriod.objects.get_or_create(
                school=w.school,
                term=w.term,
                name="Report card period",
                defaults={"starts_on": w.term.starts_on, "ends_on": TODAY - timedelta(days=10)},
            )
        post(w, period)
        w.extra["posted_period"] = period
    return w.extra["posted_period"]
