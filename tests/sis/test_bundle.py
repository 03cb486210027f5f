"""The OneRoster 1.2 Gradebook CSV bundle of a period's posted marks (issue [15] item 1): byte for
byte against a bundle written by hand from the CSV binding, identical when exported again, a new
dateLastModified when a mark changes, the binding's required fields and vocabularies, and the
page's download: who may take it, and school B never gets school A's period."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.urls import reverse
from django_scopes import scope, scopes_disabled

from marks.models import PostedMark
from sis.csv_binding import BULK, HEADERS, REQUIRED, bundle_files, bundle_zip
from sis.gradebook import period_gradebook
from sis.models import SisDelivery
from tests.factories import make_member, make_world

EXPECTED = Path(__file__).with_name("expected_bundle")
SCORE_STATUS = {"exempt", "fully graded", "not submitted", "partially graded", "submitted"}
STATUS = {"active", "tobedeleted"}

pytestmark = pytest.mark.django_db


def files_of(b, mode="delta") -> dict[str, bytes]:
    with scope(school=b.school):
        return bundle_files(period_gradebook(school=b.school, period=b.period), mode=mode)


def test_the_bundle_is_byte_for_byte_the_hand_written_one(bundle_school):
    files = files_of(bundle_school)
    expected = {p.name: p.read_bytes() for p in EXPECTED.glob("*.csv")}
    assert sorted(files) == sorted(expected)
    for name, data in expected.items():
        assert files[name] == data, name


def test_every_row_fills_the_binding_required_fields_and_vocabularies(bundle_school):
    files = files_of(bundle_school)
    for name, data in files.items():
        if name == "manifest.csv":
            continue
        table = name.removesuffix(".csv")
        rows = list(csv.DictReader(io.StringIO(data.decode())))
        assert list(rows[0].keys()) == list(HEADERS[table])
        for row in rows:
            for column in ("status", "dateLastModified", *REQUIRED[table]):
                assert row[column], (name, column)
            assert row["status"] in STATUS
            assert datetime.strptime(row["dateLastModified"], "%Y-%m-%dT%H:%M:%S.%fZ")
            if table == "results":
                assert row["scoreStatus"] in SCORE_STATUS


def test_bulk_mode_leaves_status_and_date_empty_as_the_binding_requires(bundle_school):
    files = files_of(bundle_school, mode=BULK)
    assert b"file.results,bulk" in files["manifest.csv"]
    rows = list(csv.DictReader(io.StringIO(files["results.csv"].decode())))
    assert rows and all(r["status"] == "" and r["dateLastModified"] == "" for r in rows)
    assert all(r["scoreStatus"] == "fully graded" for r in rows)


def test_a_re_export_is_identical_and_a_changed_mark_is_newly_dated(bundle_school):
    b = bundle_school
    first = bundle_zip(files_of(b))
    assert bundle_zip(files_of(b)) == first
    # Ben's ALG.1 is posted again with another value (an override, with its reason).
    now = datetime(2026, 11, 20, 16, 0, 0, tzinfo=UTC)
    with scopes_disabled():
        PostedMark.objects.create(
            school=b.school,
            student=b.students[1],
            section=b.section,
            period=b.period,
            kind=PostedMark.Kind.TARGET,
            target=b.targets[0],
            subject_id=b.targets[0].pk,
            version=2,
            computed_value="2",
            value="3",
            reason="Retook the quiz",
            posted_by=b.poster,
            posted_at=now,
        )
    files = files_of(b)
    rows = {
        (r["lineItemSourcedId"][:8], r["studentSourcedId"]): r
        for r in csv.DictReader(io.StringIO(files["results.csv"].decode()))
    }
    changed = rows[("8d280b60", "usr-ben")]
    assert (changed["score"], changed["textScore"]) == ("3", "Proficient")
    assert changed["dateLastModified"] == "2026-11-20T16:00:00.000Z"
    # The others keep theirs, and the result keeps its sourcedId (the SIS updates it in place).
    assert changed["sourcedId"] == "293c9ad4-965a-59c5-b942-932b4bb67c89"
    assert rows[("8d280b60", "usr-ana")]["dateLastModified"] == "2026-11-02T17:05:00.123Z"
    assert bundle_zip(files) != first


def test_the_zip_holds_every_file_at_its_root(bundle_school):
    data = bundle_zip(files_of(bundle_school))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
    assert names[0] == "manifest.csv"
    assert all("/" not in n for n in names)


def bundle_url(b, period=None, **query) -> str:
    path = reverse(
        "sis:bundle", kwargs={"school_slug": b.school.slug, "period_id": (period or b.period).pk}
    )
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_a_school_admin_downloads_the_bundle_and_it_is_recorded(client, bundle_school):
    b = bundle_school
    admin = make_member(b.school, "school_admin", "it@bundle.test", "Ida IT")
    client.force_login(admin)
    response = client.get(bundle_url(b, mode="delta"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.read("results.csv") == (EXPECTED / "results.csv").read_bytes()
    with scopes_disabled():
        delivery = SisDelivery.objects.get(school=b.school)
    assert (delivery.kind, delivery.requested_by, delivery.counts["results"]) == (
        "files",
        admin,
        4,
    )
    page = client.get(reverse("sis:page", kwargs={"school_slug": b.school.slug}))
    assert "Ida IT" in page.content.decode()
    assert client.get(bundle_url(b, mode="everything")).status_code == 400


def test_teachers_get_403_and_another_school_gets_404(client, bundle_school):
    b = bundle_school
    other = make_world("sis-other")
    teacher = make_member(b.school, "teacher", "t@bundle.test")
    client.force_login(teacher)
    assert client.get(bundle_url(b)).status_code == 403
    # School B's admin asks for school A's period under school B's address: 404.
    client.force_login(other.admin)
    foreign = reverse(
        "sis:bundle", kwargs={"school_slug": other.school.slug, "period_id": b.period.pk}
    )
    assert client.get(foreign).status_code == 404
    assert client.get(bundle_url(b)).status_code == 404
    with scopes_disabled():
        assert not SisDelivery.objects.exists()


def test_a_withdrawn_mark_goes_as_tobedeleted_in_delta_and_not_at_all_in_bulk(bundle_school):
    """Ben's ALG.1 is posted again as "no mark" (with its reason): the SIS that took the 2 must
    hear it is withdrawn — a delta row with status tobedeleted; a bulk file, being the whole
    set, simply leaves it out."""
    b = bundle_school
    with scopes_disabled():
        PostedMark.objects.create(
            school=b.school,
            student=b.students[1],
            section=b.section,
            period=b.period,
            kind=PostedMark.Kind.TARGET,
            target=b.targets[0],
            subject_id=b.targets[0].pk,
            version=2,
            computed_value="2",
            value="",
            reason="Scored for the wrong student",
            posted_by=b.poster,
            posted_at=datetime(2026, 11, 21, 9, 0, tzinfo=UTC),
        )
    delta = {
        r["sourcedId"]: r for r in csv.DictReader(io.StringIO(files_of(b)["results.csv"].decode()))
    }
    withdrawn = delta["293c9ad4-965a-59c5-b942-932b4bb67c89"]
    assert (withdrawn["status"], withdrawn["scoreStatus"], withdrawn["score"]) == (
        "tobedeleted",
        "not submitted",
        "",
    )
    assert withdrawn["dateLastModified"] == "2026-11-21T09:00:00.000Z"
    assert len(delta) == 4
    objectives = files_of(b)["resultLearningObjectiveIds.csv"].decode()
    assert "293c9ad4-965a-59c5-b942-932b4bb67c89" not in objectives
    bulk = files_of(b, mode=BULK)
    rows = list(csv.DictReader(io.StringIO(bulk["results.csv"].decode())))
    assert len(rows) == 3
    assert "293c9ad4-965a-59c5-b942-932b4bb67c89" not in bulk["resultScoreScales.csv"].decode()
