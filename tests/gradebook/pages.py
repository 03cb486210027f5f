"""What the tests of the teacher's pages share: URLs, reading a page, recording and reading evidence."""

from __future__ import annotations

import html
from datetime import date, timedelta

from django.urls import reverse
from django_scopes import scope

from gradebook.models import Evidence, Mastery
from gradebook.services.grid import evidence_fill

HTMX = {"HTTP_HX_REQUEST": "true"}


# --- Helpers ---------------------------------------------------------------------------------------


def url(name: str, w, **kwargs) -> str:
    return reverse(f"gradebook:{name}", kwargs={"school_slug": w.school.slug, **kwargs})


def grid_url(w, section=None) -> str:
    return url("section_detail", w, section_id=(section or w.section).id)


def score_url(w, name: str = "score", assessment=None, section=None) -> str:
    return url(
        name,
        w,
        section_id=(section or w.section).id,
        assessment_id=(assessment or w.assessment).id,
    )


def cell_url(w, student, target, name: str = "cell_detail", section=None) -> str:
    return url(
        name, w, section_id=(section or w.section).id, student_id=student.id, target_id=target.id
    )


def key(student, target) -> str:
    return f"c-{student.id}-{target.id}"


def page(response) -> str:
    """The response body as text, HTML entities decoded (messages contain apostrophes)."""
    return html.unescape(response.content.decode())


def live(w, student, target, assessment=None) -> Evidence | None:
    with scope(school=w.school):
        return Evidence.objects.filter(
            school=w.school,
            student=student,
            target=target,
            assessment=assessment or w.assessment,
            voided_at__isnull=True,
        ).first()


def rows(w, student, target, assessment=None) -> list[Evidence]:
    """Every evidence row of a cell, voided included, oldest first."""
    with scope(school=w.school):
        return list(
            Evidence.objects.filter(
                school=w.school,
                student=student,
                target=target,
                assessment=assessment or w.assessment,
            ).order_by("id")
        )


def evidence_count(w) -> int:
    with scope(school=w.school):
        return Evidence.objects.filter(school=w.school).count()


def mastery(w, student, target) -> Mastery | None:
    with scope(school=w.school):
        return Mastery.objects.filter(school=w.school, student=student, target=target).first()


def days_ago(n: int) -> date:
    return date.today() - timedelta(days=n)


def fill(w, value: str, *, targets=None, assessment=None, by=None) -> list[int]:
    with scope(school=w.school):
        return evidence_fill(
            school=w.school,
            filled_by=by or w.teacher,
            section=w.section,
            assessment=assessment or w.assessment,
            text=value,
            target_ids=[t.id for t in targets] if targets else None,
        )


def section_of(content: str, start: str, end: str) -> str:
    """The part of the page from `start` up to the next `end` after it."""
    begin = content.index(start)
    stop = content.find(end, begin + len(start))
    return content[begin : stop if stop != -1 else len(content)]


def post_cell(client, w, student, target, value, **extra):
    return client.post(
        score_url(w, "score_cell"),
        {key(student, target): value},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET=f"sc-{student.id}-{target.id}",
        **extra,
    )


def masteries(w) -> list[tuple]:
    with scope(school=w.school):
        return list(
            Mastery.objects.filter(school=w.school)
            .order_by("student_id", "target_id")
            .values_list("student_id", "target_id", "score", "level", "policy_id", "computed_at")
        )
