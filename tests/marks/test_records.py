"""A student's records request includes the marks of record, every version of each."""

from __future__ import annotations

from marks.computing import TARGET
from marks.services import MarkEntry
from tests.factories import make_evidence
from tests.marks.test_key import in_q1, periods, post
from tests.site.test_backup import export


def test_the_records_export_lists_every_version_of_each_posted_mark(world_a):
    w = world_a
    q1, _ = periods(w)
    student = w.students[1]
    make_evidence(w, student, w.targets[0], "3", assessment=in_q1(w))
    key = (student.id, TARGET, w.targets[0].id)
    post(w, w.section, q1, [MarkEntry(key=key, value="3")])
    post(w, w.section, q1, [MarkEntry(key=key, value="4", reason="Portfolio defence")])
    rows = export(w, student)["posted_marks"]
    assert [(r["version"], r["value"], r["overridden"], r["reason"]) for r in rows] == [
        (1, "3", False, ""),
        (2, "4", True, "Portfolio defence"),
    ]
    assert rows[0]["target"] == w.targets[0].code and rows[0]["period"] == "Q1"
    # Another student's marks are not in this student's records.
    assert export(w, w.students[2])["posted_marks"] == []
