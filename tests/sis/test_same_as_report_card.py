"""What goes to the SIS is what the report card prints (issue [15], done when: "with the same
values as the report card"): marks posted through the posting service, then each student's
report card of record against the results of the OneRoster export of the same period."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation
from django_scopes import scope

from reports.report_cards import report_card
from sis.gradebook import SourcedIds, period_gradebook
from tests.factories import make_evidence, make_posted_mark, make_world

pytestmark = pytest.mark.django_db


def test_every_result_is_the_report_card_s_mark(settings):
    w = make_world("sis-card", students=3)
    # Evidence that gives levels, a half point and no mark at all on some targets.
    make_evidence(w, w.students[0], w.targets[0], "3")
    make_evidence(w, w.students[0], w.targets[1], "4")
    make_evidence(w, w.students[1], w.targets[0], "2")
    make_evidence(w, w.students[1], w.targets[0], "3")
    make_evidence(w, w.students[2], w.targets[1], "1")
    period = make_posted_mark(w).period
    with scope(school=w.school), translation.override("en"):
        book = period_gradebook(school=w.school, period=period)
        ids = SourcedIds(w.school)
        titles = {i["sourcedId"]: i["title"] for i in book.line_items}
        compared = 0
        for student in w.students:
            card = report_card(school=w.school, student=student, period=period)
            (course,) = card.courses
            mine = {
                titles[r["lineItem"]["sourcedId"]]: r
                for r in book.results
                if r["student"]["sourcedId"] == ids.user(student.id)
            }
            for row in course.targets:
                cell = row.cells[-1]
                result = mine.get(f"{period.name}: {row.code}")
                if not cell.value:
                    assert result is None, (student, row.code)
                    continue
                assert Decimal(str(result["score"])) == Decimal(cell.value)
                assert result["textScore"] == cell.label
                compared += 1
            grade = course.grade.cells[-1]
            result = mine.get(f"{period.name}: {w.section.course.code} course grade")
            if grade.value:
                assert result is not None and result["textScore"] == grade.value
                compared += 1
    assert compared >= 5
