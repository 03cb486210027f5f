"""Evidence files and student submissions: uploads checked by content (not by name), photos
stored without their metadata, files served only to who may see the student's work (404 for
everyone else, other schools included), voided with the evidence, and submitted work counting
for nothing until a teacher scores it."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zlib
from datetime import timedelta
from decimal import Decimal

import pillow_heif
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django_scopes import scope, scopes_disabled
from PIL import ExifTags, Image

from gradebook.models import (
    Course,
    CourseTarget,
    Enrollment,
    EvidenceFile,
    FileAttachment,
    Mastery,
    Section,
    SectionTeacher,
    Submission,
)
from gradebook.services.evidence import EvidenceError, evidence_void
from gradebook.services.files import FileRefused, evidence_files_attach
from gradebook.services.submissions import submission_create, submission_score
from mastery.models import AuditEvent, LearningTarget
from reports.services.records import student_records_export
from tests.factories import make_assessment, make_evidence
from tests.gradebook.pages import cell_url, url

pillow_heif.register_heif_opener()
TODAY = timezone.localdate()


@pytest.fixture(autouse=True)
def _file_store(settings, tmp_path):
    """Each test writes its files to a store of its own."""
    settings.STORAGES = {
        **settings.STORAGES,
        "evidence": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "store"},
        },
    }
    return tmp_path / "store"


# --- Files as phones and browsers send them ---------------------------------------------------------


def photo_exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Model] = "Phone 15 Pro"
    if orientation:
        exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (37.0, 46.0, 30.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (122.0, 25.0, 10.0)
    return exif


def jpeg(size=(64, 32), *, orientation: int | None = None, colour=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", exif=photo_exif(orientation))
    return out.getvalue()


def heic(size=(64, 32), *, orientation: int | None = None) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(
        out, format="HEIF", exif=photo_exif(orientation).tobytes(), quality=90
    )
    return out.getvalue()


def png(size=(20, 20)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (0, 200, 0, 128)).save(out, "PNG")
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
)
HTML = b"<!doctype html><html><body><script>fetch('/api/')</script></body></html>"


def upload(name: str, data: bytes, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def scored(w, student=None, score="3"):
    return make_evidence(w, student or w.students[0], w.targets[0], score).evidence


def attach(w, evidence, *files, by=None):
    with scope(school=w.school):
        return evidence_files_attach(
            school=w.school, evidence=evidence, uploads=list(files), attached_by=by or w.teacher
        )


def stored_image(f: EvidenceFile) -> Image.Image:
    with f.file.open("rb") as handle:
        image = Image.open(io.BytesIO(handle.read()))
        image.load()
    return image


def count_files(w) -> int:
    with scopes_disabled():
        return EvidenceFile.objects.filter(school=w.school).count()


# --- Content checks --------------------------------------------------------------------------------


def test_an_html_page_named_photo_jpg_is_refused_and_nothing_is_stored(world_a, _file_store):
    evidence = scored(world_a)
    with pytest.raises(FileRefused) as refused:
        attach(world_a, evidence, upload("photo.jpg", HTML, "image/jpeg"))
    assert "photo.jpg" in refused.value.messages[0]
    assert count_files(world_a) == 0
    assert not any(p.is_file() for p in _file_store.rglob("*")) if _file_store.exists() else True


def test_an_svg_is_refused_even_named_as_a_png(world_a):
    evidence = scored(world_a)
    for name in ("drawing.svg", "drawing.png"):
        with pytest.raises(FileRefused) as refused:
            attach(world_a, evidence, upload(name, SVG, "image/svg+xml"))
        assert name in refused.value.messages[0]
    assert count_files(world_a) == 0


def test_one_refused_file_refuses_the_whole_upload(world_a):
    evidence = scored(world_a)
    with pytest.raises(FileRefused):
        attach(world_a, evidence, upload("good.jpg", jpeg()), upload("bad.jpg", HTML))
    assert count_files(world_a) == 0


def test_a_png_named_pdf_is_stored_as_the_png_it_is(world_a):
    evidence = scored(world_a)
    attached = attach(world_a, evidence, upload("scan.pdf", png(), "application/pdf"))
    stored = attached.files[0]
    assert stored.content_type == "image/png"
    assert stored.file.name.endswith(".png")
    assert stored_image(stored).format == "PNG"
    assert stored.original_name == "scan.png"  # the student's name, with what it is as extension


def test_a_pdf_is_kept_as_it_is_and_a_broken_one_refused(world_a):
    evidence = scored(world_a)
    stored = attach(world_a, evidence, upload("work.pdf", PDF, "application/pdf")).files[0]
    assert stored.content_type == "application/pdf"
    with stored.file.open("rb") as handle:
        assert handle.read() == PDF
    with pytest.raises(FileRefused):
        attach(world_a, evidence, upload("cut.pdf", PDF[:40], "application/pdf"))


def test_a_file_over_the_limit_is_refused(world_a, settings):
    settings.EVIDENCE_FILE_MAX_BYTES = 1024
    evidence = scored(world_a)
    big = jpeg(size=(800, 800))
    assert len(big) > 1024
    with pytest.raises(FileRefused) as refused:
        attach(world_a, evidence, upload("big.jpg", big))
    assert "big.jpg" in refused.value.messages[0]
    assert count_files(world_a) == 0


def test_too_many_files_at_once_are_refused(world_a, settings):
    settings.EVIDENCE_FILES_PER_UPLOAD = 2
    evidence = scored(world_a)
    with pytest.raises(FileRefused):
        attach(world_a, evidence, *(upload(f"p{i}.jpg", jpeg()) for i in range(3)))
    assert count_files(world_a) == 0


def test_a_jpeg_with_gps_is_stored_upright_without_any_metadata(world_a):
    original = Image.open(io.BytesIO(jpeg(orientation=6)))
    assert original.getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the upload does carry GPS
    evidence = scored(world_a)
    stored = attach(world_a, evidence, upload("IMG_0001.JPG", jpeg(orientation=6))).files[0]
    image = stored_image(stored)
    assert image.format == "JPEG"
    assert dict(image.getexif()) == {}
    assert not image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert "exif" not in image.info and "xmp" not in image.info and "icc_profile" not in image.info
    # Orientation 6 (turned 90°): applied to the pixels, so the photo stays upright.
    assert image.size == (32, 64) == (stored.width, stored.height)
    with stored.file.open("rb") as handle:
        raw = handle.read()
    assert b"PhoneMaker" not in raw and b"Exif" not in raw


def test_a_heic_from_a_phone_is_stored_as_jpeg_without_any_metadata(world_a):
    original = Image.open(io.BytesIO(heic()))
    assert original.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    evidence = scored(world_a)
    stored = attach(
        world_a, evidence, upload("IMG_0002.HEIC", heic(orientation=6), "image/heic")
    ).files[0]
    assert stored.content_type == "image/jpeg" and stored.converted_from == "image/heic"
    image = stored_image(stored)
    assert image.format == "JPEG"
    assert dict(image.getexif()) == {}
    assert "exif" not in image.info
    assert image.size == (32, 64)  # turned upright once, not twice
    with stored.file.open("rb") as handle:
        raw = handle.read()
    assert b"PhoneMaker" not in raw
    assert stored.thumbnail  # a thumbnail for the pages, also plain JPEG
    with stored.thumbnail.open("rb") as handle:
        assert b"PhoneMaker" not in handle.read()


def test_files_are_stored_under_an_unguessable_name_of_their_school(world_a):
    evidence = scored(world_a)
    stored = attach(world_a, evidence, upload("../../etc/passwd.jpg", jpeg())).files[0]
    name = stored.file.name
    assert name.startswith(f"schools/{world_a.school.id}/evidence/")
    assert "passwd" not in name and len(name.rsplit("/", 1)[-1]) >= 32
    assert stored.original_name == "passwd.jpg"


def test_the_same_photo_sent_twice_on_one_evidence_is_attached_once(world_a):
    evidence = scored(world_a)
    attach(world_a, evidence, upload("a.jpg", jpeg()))
    again = attach(world_a, evidence, upload("a.jpg", jpeg()))
    assert again.files == []
    with scopes_disabled():
        assert FileAttachment.objects.filter(evidence=evidence).count() == 1


def test_one_photo_on_two_students_work_is_flagged(world_a):
    first = scored(world_a, world_a.students[0])
    second = scored(world_a, world_a.students[1])
    assert attach(world_a, first, upload("group.jpg", jpeg())).shared_with == []
    told = attach(world_a, second, upload("group.jpg", jpeg()))
    assert [s.id for s in told.shared_with] == [world_a.students[0].id]


# --- Voided with the evidence, following a new score ------------------------------------------------


def test_voiding_evidence_voids_its_files_but_keeps_them(world_a):
    evidence = scored(world_a)
    stored = attach(world_a, evidence, upload("a.jpg", jpeg())).files[0]
    with scope(school=world_a.school):
        evidence_void(
            school=world_a.school, evidence_id=evidence.id, voided_by=world_a.teacher, reason="typo"
        )
    with scopes_disabled():
        attachment = FileAttachment.objects.get(file=stored)
        assert attachment.voided_at is not None and attachment.void_reason == "typo"
        assert EvidenceFile.objects.filter(id=stored.id, voided_at__isnull=True).exists()
    assert stored.file.storage.exists(stored.file.name)


def test_a_new_score_on_the_cell_keeps_its_files(world_a):
    evidence = scored(world_a, score="2")
    attach(world_a, evidence, upload("a.jpg", jpeg()))
    newer = make_evidence(world_a, world_a.students[0], world_a.targets[0], "3").evidence
    assert newer.id != evidence.id
    with scopes_disabled():
        assert list(
            FileAttachment.objects.filter(voided_at__isnull=True).values_list(
                "evidence_id", flat=True
            )
        ) == [newer.id]


# --- Serving: only to who may see the student's work ------------------------------------------------


def file_url(w, f, name="file_download") -> str:
    return url(name, w, file_id=f.id)


def test_the_student_the_family_and_staff_get_the_file_with_safe_headers(world_a, client):
    stored = attach(world_a, scored(world_a), upload("a.jpg", jpeg())).files[0]
    for user in (
        world_a.student_user,
        world_a.guardian,
        world_a.teacher,
        world_a.admin,
        world_a.counselor,
    ):
        client.force_login(user)
        response = client.get(file_url(world_a, stored))
        assert response.status_code == 200, user
        assert response["Content-Type"] == "image/jpeg"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Content-Security-Policy"].startswith("sandbox")
        assert response["Content-Disposition"].startswith("inline")
        assert b"".join(response.streaming_content)[:3] == b"\xff\xd8\xff"
        assert client.get(file_url(world_a, stored, "file_thumbnail")).status_code == 200


def test_a_pdf_is_downloaded_never_shown_inline(world_a, client):
    stored = attach(world_a, scored(world_a), upload("w.pdf", PDF, "application/pdf")).files[0]
    client.force_login(world_a.guardian)
    response = client.get(file_url(world_a, stored))
    assert response["Content-Disposition"].startswith("attachment")


def test_another_students_file_is_not_found_for_a_student_a_family_or_another_teacher(
    world_a, client
):
    other = attach(world_a, scored(world_a, world_a.students[1]), upload("b.jpg", jpeg())).files[0]
    for user in (world_a.student_user, world_a.guardian, world_a.other_teacher):
        client.force_login(user)
        assert client.get(file_url(world_a, other)).status_code == 404, user
        assert client.get(file_url(world_a, other, "file_thumbnail")).status_code == 404


def test_a_file_of_school_b_is_not_found_in_school_a(world_a, world_b, client):
    theirs = attach(world_b, scored(world_b), upload("b.jpg", jpeg())).files[0]
    for user in (world_a.admin, world_a.teacher, world_a.guardian, world_a.student_user):
        client.force_login(user)
        # Through school A's address, and through school B's by someone not in it.
        assert client.get(url("file_download", world_a, file_id=theirs.id)).status_code == 404
        assert client.get(file_url(world_b, theirs)).status_code == 404


def test_a_voided_file_is_not_served_to_the_family_but_staff_keep_it(world_a, client):
    evidence = scored(world_a)
    stored = attach(world_a, evidence, upload("a.jpg", jpeg())).files[0]
    with scope(school=world_a.school):
        evidence_void(
            school=world_a.school, evidence_id=evidence.id, voided_by=world_a.teacher, reason="typo"
        )
    for user in (world_a.guardian, world_a.student_user):
        client.force_login(user)
        assert client.get(file_url(world_a, stored)).status_code == 404
    for user in (world_a.teacher, world_a.admin):
        client.force_login(user)
        assert client.get(file_url(world_a, stored)).status_code == 200


def test_an_outsider_is_sent_to_sign_in_or_not_found(world_a, client, outsider):
    stored = attach(world_a, scored(world_a), upload("a.jpg", jpeg())).files[0]
    assert client.get(file_url(world_a, stored)).status_code in (302, 404)
    client.force_login(outsider)
    assert client.get(file_url(world_a, stored)).status_code == 404


# --- The teacher attaches from the cell detail ------------------------------------------------------


def test_the_teacher_attaches_photos_from_the_cell_detail_and_sees_thumbnails(world_a, client):
    evidence = scored(world_a)
    client.force_login(world_a.teacher)
    page = cell_url(world_a, world_a.students[0], world_a.targets[0])
    response = client.post(
        url("evidence_files_add", world_a, section_id=world_a.section.id, evidence_id=evidence.id),
        {"files": [upload("work.jpg", jpeg())], "next": page},
    )
    assert response.status_code == 302 and response["Location"] == page
    shown = client.get(page).content.decode()
    with scopes_disabled():
        stored = EvidenceFile.objects.get(school=world_a.school)
    assert url("file_thumbnail", world_a, file_id=stored.id) in shown
    assert "work.jpg" in shown and "1 file attached." in shown


def test_a_refused_upload_says_why_on_the_cell_detail(world_a, client):
    evidence = scored(world_a)
    client.force_login(world_a.teacher)
    page = cell_url(world_a, world_a.students[0], world_a.targets[0])
    response = client.post(
        url("evidence_files_add", world_a, section_id=world_a.section.id, evidence_id=evidence.id),
        {"files": [upload("photo.jpg", SVG)], "next": page},
        follow=True,
    )
    assert "photo.jpg: only photos" in response.content.decode()
    assert count_files(world_a) == 0


def test_another_teacher_cannot_attach_to_a_section_they_do_not_teach(world_a, client):
    evidence = scored(world_a)
    client.force_login(world_a.other_teacher)
    response = client.post(
        url("evidence_files_add", world_a, section_id=world_a.section.id, evidence_id=evidence.id),
        {"files": [upload("work.jpg", jpeg())]},
    )
    assert response.status_code == 404
    client.force_login(world_a.counselor)
    response = client.post(
        url("evidence_files_add", world_a, section_id=world_a.section.id, evidence_id=evidence.id),
        {"files": [upload("work.jpg", jpeg())]},
    )
    assert response.status_code == 403
    assert count_files(world_a) == 0


def test_the_teacher_is_told_when_one_photo_is_on_several_students(world_a, client):
    first, second = scored(world_a, world_a.students[0]), scored(world_a, world_a.students[1])
    attach(world_a, first, upload("group.jpg", jpeg()))
    client.force_login(world_a.teacher)
    response = client.post(
        url("evidence_files_add", world_a, section_id=world_a.section.id, evidence_id=second.id),
        {"files": [upload("group.jpg", jpeg())]},
        follow=True,
    )
    assert "may show" in response.content.decode()
    assert world_a.students[0].display_name in response.content.decode()


# --- Submissions: pending counts for nothing, scored counts once ------------------------------------


def submit(w, *files, token="", note="", title="Homework 4"):
    with scope(school=w.school):
        return submission_create(
            school=w.school,
            student=w.students[0],
            target=w.targets[0],
            title=title,
            note=note,
            uploads=list(files),
            submitted_by=w.student_user,
            token=token,
        )


def mastery(w):
    with scopes_disabled():
        return Mastery.objects.filter(
            school=w.school, student=w.students[0], target=w.targets[0]
        ).first()


def test_a_pending_submission_counts_for_nothing_and_counts_once_scored(world_a):
    make_evidence(world_a, world_a.students[0], world_a.targets[0], "2")
    before = mastery(world_a).score
    submission = submit(world_a, upload("hw.jpg", jpeg()))
    assert submission.status == "pending" and submission.section_id == world_a.section.id
    assert mastery(world_a).score == before == Decimal("2")
    with scope(school=world_a.school):
        result = submission_score(
            school=world_a.school,
            submission_id=submission.id,
            scored_by=world_a.teacher,
            text="4",
        )
    assert mastery(world_a).score > before
    assert result.evidence.kind == "formative" and result.evidence.score == Decimal("4")
    assert result.evidence.assessment.section_id == world_a.section.id
    with scopes_disabled():
        submission.refresh_from_db()
        assert submission.status == "scored" and submission.evidence_id == result.evidence.id
        # The files follow the work onto its evidence.
        assert FileAttachment.objects.filter(evidence=result.evidence).count() == 1
        # The work's own trail: handed in by the student, scored by the teacher.
        trail = AuditEvent.objects.filter(
            school=world_a.school, object_type="submission", object_id=submission.id
        ).order_by("at", "id")
        assert [(e.actor_id, e.after["status"]) for e in trail] == [
            (world_a.student_user.id, "pending"),
            (world_a.teacher.id, "scored"),
        ]


def test_sending_the_same_submission_twice_makes_one(world_a):
    token = "0123456789abcdef0123456789abcdef"
    first = submit(world_a, upload("hw.jpg", jpeg()), token=token)
    second = submit(world_a, upload("hw.jpg", jpeg()), token=token)
    assert first.id == second.id
    with scopes_disabled():
        assert Submission.objects.filter(school=world_a.school).count() == 1
        assert FileAttachment.objects.filter(school=world_a.school).count() == 1


def test_scoring_twice_scores_once(world_a):
    submission = submit(world_a, upload("hw.jpg", jpeg()))
    with scope(school=world_a.school):
        args = {
            "school": world_a.school,
            "submission_id": submission.id,
            "scored_by": world_a.teacher,
            "text": "3",
        }
        first = submission_score(**args)
        second = submission_score(**args)
    assert first.evidence.id == second.evidence.id and not second.changed
    with scopes_disabled():
        assert (
            FileAttachment.objects.filter(evidence__isnull=False, school=world_a.school).count()
            == 1
        )


def test_a_refused_score_leaves_the_submission_pending_and_makes_no_assessment(world_a):
    submission = submit(world_a, upload("hw.jpg", jpeg()))
    with scope(school=world_a.school), pytest.raises(EvidenceError):
        submission_score(
            school=world_a.school,
            submission_id=submission.id,
            scored_by=world_a.teacher,
            text="9",
        )
    with scopes_disabled():
        submission.refresh_from_db()
        assert submission.status == "pending"
        assert not submission.__class__.objects.filter(evidence__isnull=False).exists()


def test_a_submission_needs_a_target_of_the_students_classes(world_a, world_b):
    with scope(school=world_a.school), pytest.raises(EvidenceError):
        submission_create(
            school=world_a.school,
            student=world_a.other_students[0],
            target=world_a.targets[0],
            title="",
            note="",
            uploads=[],
            submitted_by=world_a.student_user,
        )


def test_the_student_hands_in_work_from_the_portal_and_the_teacher_scores_it(world_a, client):
    client.force_login(world_a.student_user)
    page = reverse("reports:my_work", args=[world_a.school.slug])
    assert client.get(page).status_code == 200
    form = {
        "target": world_a.targets[0].id,
        "title": "Problem 4",
        "note": "I used the slope",
        "token": "f" * 32,
        "files": [upload("IMG_1.HEIC", heic(), "image/heic")],
    }
    response = client.post(page, form)
    assert response.status_code == 302
    client.post(page, {**form, "files": [upload("IMG_1.HEIC", heic(), "image/heic")]})  # again
    with scopes_disabled():
        submission = Submission.objects.get(school=world_a.school)
    shown = client.get(page).content.decode()
    assert "Problem 4" in shown and "Waiting for the teacher" in shown
    # The teacher sees it waiting and scores it.
    client.force_login(world_a.teacher)
    waiting = url("submission_list", world_a, section_id=world_a.section.id)
    assert "Problem 4" in client.get(waiting).content.decode()
    score = url(
        "submission_score", world_a, section_id=world_a.section.id, submission_id=submission.id
    )
    for _ in range(2):  # a double click
        assert client.post(score, {"value": "3", "kind": "formative"}).status_code == 302
    assert mastery(world_a).score == Decimal("3")
    with scopes_disabled():
        assert submission.__class__.objects.get(id=submission.id).status == "scored"
    # The family sees the photo of the work now on its evidence.
    client.force_login(world_a.guardian)
    child = client.get(reverse("reports:child", args=[world_a.school.slug, world_a.students[0].id]))
    with scopes_disabled():
        stored = EvidenceFile.objects.get(school=world_a.school)
    assert url("file_thumbnail", world_a, file_id=stored.id) in child.content.decode()


def test_a_student_cannot_score_or_see_another_sections_submissions(world_a, client):
    submission = submit(world_a, upload("hw.jpg", jpeg()))
    score = url(
        "submission_score", world_a, section_id=world_a.section.id, submission_id=submission.id
    )
    for user in (world_a.student_user, world_a.guardian, world_a.other_teacher):
        client.force_login(user)
        assert client.post(score, {"value": "4"}).status_code in (403, 404)
    assert mastery(world_a) is None


def test_a_student_withdraws_their_pending_work(world_a, client):
    submission = submit(world_a, upload("hw.jpg", jpeg()))
    client.force_login(world_a.student_user)
    withdraw = reverse("reports:my_work_withdraw", args=[world_a.school.slug, submission.id])
    assert client.post(withdraw).status_code == 302
    with scopes_disabled():
        assert Submission.objects.get(id=submission.id).status == "withdrawn"
    # Another student's submission is not theirs to withdraw.
    client.force_login(world_a.guardian)
    assert client.post(withdraw).status_code in (403, 404)


def test_work_submitted_in_school_b_is_not_found_in_school_a(world_a, world_b, client):
    theirs = submit(world_b, upload("hw.jpg", jpeg()))
    client.force_login(world_a.teacher)
    score = url("submission_score", world_a, section_id=world_a.section.id, submission_id=theirs.id)
    assert client.post(score, {"value": "4"}).status_code == 404
    days = TODAY - timedelta(days=1)
    assert days  # the date is not the point: the submission is of another school


# --- The records export -------------------------------------------------------------------------------


def test_the_records_export_lists_the_files_with_hashes_and_flags_shared_photos(world_a):
    own = attach(world_a, scored(world_a, world_a.students[0]), upload("mine.jpg", jpeg()))
    second_target = make_evidence(world_a, world_a.students[0], world_a.targets[1], "3")
    attach(world_a, second_target.evidence, upload("group.jpg", jpeg(colour=(0, 0, 250))))
    attach(
        world_a, scored(world_a, world_a.students[1]), upload("group.jpg", jpeg(colour=(0, 0, 250)))
    )
    submit(world_a, upload("hw.pdf", PDF, "application/pdf"))
    with scope(school=world_a.school):
        records = student_records_export(school=world_a.school, student=world_a.students[0])
    files = {f["name"]: f for f in records["files"]}
    assert set(files) == {"mine.jpg", "group.jpg", "hw.pdf"}
    assert files["mine.jpg"]["sha256"] == own.files[0].sha256
    assert files["mine.jpg"]["may_show_other_students"] is False
    assert files["group.jpg"]["may_show_other_students"] is True
    assert files["hw.pdf"]["on"] == "submission"
    assert [s["title"] for s in records["submissions"]] == ["Homework 4"]
    assert files["mine.jpg"]["download"] == url("file_download", world_a, file_id=own.files[0].id)


def test_the_teachers_home_page_and_grid_lead_to_the_work_waiting(world_a, client):
    submit(world_a, upload("hw.jpg", jpeg()))
    client.force_login(world_a.teacher)
    waiting = url("submission_list", world_a, section_id=world_a.section.id)
    home = client.get(reverse("school_home", args=[world_a.school.slug])).content.decode()
    assert waiting in home and "1 to score" in home
    assert (
        waiting
        in client.get(
            url("section_detail", world_a, section_id=world_a.section.id)
        ).content.decode()
    )
    client.force_login(world_a.other_teacher)  # not their section: nothing waiting for them
    home = client.get(reverse("school_home", args=[world_a.school.slug])).content.decode()
    assert waiting not in home


# --- The API --------------------------------------------------------------------------------------


def test_the_api_lists_file_metadata_and_downloads_through_the_same_check(world_a, client):
    stored = attach(world_a, scored(world_a), upload("a.jpg", jpeg())).files[0]
    other = attach(
        world_a, scored(world_a, world_a.other_students[0]), upload("b.jpg", jpeg(colour=(1, 2, 3)))
    )
    base = f"/api/v1/schools/{world_a.school.slug}/evidence-files/"
    client.force_login(world_a.teacher)
    listed = client.get(base).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [r["id"] for r in rows] == [stored.id]  # not the other section's student's file
    row = rows[0]
    assert row["sha256"] == stored.sha256 and row["content_type"] == "image/jpeg"
    assert row["attachments"][0]["student"] == world_a.students[0].id
    download = client.get(row["download"])
    assert download.status_code == 200 and download["Content-Security-Policy"].startswith("sandbox")
    assert b"".join(download.streaming_content)[:3] == b"\xff\xd8\xff"
    assert client.get(f"{base}{other.files[0].id}/download/").status_code == 404
    submit(world_a, upload("hw.jpg", jpeg(colour=(9, 9, 9))))
    work = client.get(f"/api/v1/schools/{world_a.school.slug}/submissions/?status=pending").json()
    work = work["results"] if isinstance(work, dict) else work
    assert [w["title"] for w in work] == ["Homework 4"] and len(work[0]["files"]) == 1


def test_the_teacher_attaches_the_task_to_an_assessment_for_staff_only(world_a, client):
    client.force_login(world_a.teacher)
    page = url(
        "assessment_edit",
        world_a,
        section_id=world_a.section.id,
        assessment_id=world_a.assessment.id,
    )
    response = client.post(
        url(
            "assessment_files_add",
            world_a,
            section_id=world_a.section.id,
            assessment_id=world_a.assessment.id,
        ),
        {"files": [upload("task.pdf", PDF, "application/pdf")], "next": page},
        follow=True,
    )
    assert (
        "task.pdf" in response.content.decode() and "1 file attached." in response.content.decode()
    )
    with scopes_disabled():
        stored = EvidenceFile.objects.get(school=world_a.school)
    assert client.get(url("file_download", world_a, file_id=stored.id)).status_code == 200
    for user in (world_a.student_user, world_a.guardian):  # it may hold the answers
        client.force_login(user)
        assert client.get(url("file_download", world_a, file_id=stored.id)).status_code == 404


def test_the_progress_report_counts_the_work_files_of_a_target(world_a, client):
    attach(
        world_a,
        scored(world_a),
        upload("a.jpg", jpeg()),
        upload("b.jpg", jpeg(colour=(5, 5, 5))),
    )
    client.force_login(world_a.guardian)
    report = client.get(
        reverse("reports:child_report", args=[world_a.school.slug, world_a.students[0].id])
    ).content.decode()
    assert "2 photos or files of the student's work are kept" in report


def test_the_teacher_removes_a_wrong_photo_with_a_reason_and_staff_keep_it(world_a, client):
    stored = attach(world_a, scored(world_a), upload("wrong.jpg", jpeg())).files[0]
    with scopes_disabled():
        attachment = FileAttachment.objects.get(file=stored)
    client.force_login(world_a.teacher)
    remove = url(
        "attachment_remove", world_a, section_id=world_a.section.id, attachment_id=attachment.id
    )
    page = cell_url(world_a, world_a.students[0], world_a.targets[0])
    for _ in range(2):  # a double click
        response = client.post(remove, {"reason": "the wrong student", "next": page})
        assert response.status_code == 302 and response["Location"] == page
    with scopes_disabled():
        attachment.refresh_from_db()
    assert attachment.void_reason == "the wrong student"
    assert "Removed: the wrong student" in client.get(page).content.decode()
    assert client.get(url("file_download", world_a, file_id=stored.id)).status_code == 200
    client.force_login(world_a.guardian)
    assert client.get(url("file_download", world_a, file_id=stored.id)).status_code == 404
    client.force_login(world_a.other_teacher)
    assert client.post(remove, {"reason": "x"}).status_code == 404


def test_a_phone_sized_upload_passes_djangos_request_limits(world_a, client, settings):
    """Above DATA_UPLOAD_MAX_MEMORY_SIZE and FILE_UPLOAD_MAX_MEMORY_SIZE (2.5 MB): streamed to
    disk and accepted, up to EVIDENCE_FILE_MAX_BYTES."""
    assert settings.EVIDENCE_FILE_MAX_BYTES >= 15 * 1024 * 1024
    big = b"%PDF-1.4\n%" + b"0" * (9 * 1024 * 1024) + b"\n%%EOF\n"
    assert len(big) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    evidence = scored(world_a)
    client.force_login(world_a.teacher)
    response = client.post(
        url("evidence_files_add", world_a, section_id=world_a.section.id, evidence_id=evidence.id),
        {"files": [upload("scan.pdf", big, "application/pdf")]},
    )
    assert response.status_code == 302
    with scopes_disabled():
        assert EvidenceFile.objects.get(school=world_a.school).size == len(big)


# --- What the review found ---------------------------------------------------------------------------


def _hand_in_and_score(w, client):
    """The student hands in a photo from the portal; the teacher scores it from the list."""
    client.force_login(w.student_user)
    page = reverse("reports:my_work", args=[w.school.slug])
    client.post(
        page,
        {
            "target": w.targets[0].id,
            "title": "Problem 4",
            "note": "",
            "token": "e" * 32,
            "files": [upload("IMG_2.jpg", jpeg(colour=(7, 70, 170)))],
        },
    )
    with scopes_disabled():
        submission = Submission.objects.get(school=w.school)
        stored = EvidenceFile.objects.get(school=w.school)
    client.force_login(w.teacher)
    score = url("submission_score", w, section_id=w.section.id, submission_id=submission.id)
    assert client.post(score, {"value": "3", "kind": "formative"}).status_code == 302
    with scopes_disabled():
        submission.refresh_from_db()
    return submission, stored


def _family_sees(w, client, stored) -> dict:
    seen = {}
    shown = (
        url("file_download", w, file_id=stored.id),
        url("file_thumbnail", w, file_id=stored.id),
    )
    pages = {
        w.student_user: reverse("reports:my_work", args=[w.school.slug]),
        w.guardian: reverse("reports:child", args=[w.school.slug, w.students[0].id]),
    }
    for user, page in pages.items():
        client.force_login(user)
        listed = client.get(page).content.decode()
        seen[user.email] = (
            client.get(shown[0]).status_code,
            client.get(shown[1]).status_code,
            any(u in listed for u in shown),
        )
    return seen


def test_a_handed_in_photo_the_teacher_removes_is_gone_for_the_student_and_family(world_a, client):
    submission, stored = _hand_in_and_score(world_a, client)
    assert set(_family_sees(world_a, client, stored).values()) == {(200, 200, True)}
    with scopes_disabled():
        on_evidence = FileAttachment.objects.get(evidence=submission.evidence)
    client.force_login(world_a.teacher)
    remove = url(
        "attachment_remove", world_a, section_id=world_a.section.id, attachment_id=on_evidence.id
    )
    assert client.post(remove, {"reason": "shows another student"}).status_code == 302
    assert set(_family_sees(world_a, client, stored).values()) == {(404, 404, False)}
    client.force_login(world_a.teacher)  # staff keep it for the records
    assert client.get(url("file_download", world_a, file_id=stored.id)).status_code == 200


def test_a_handed_in_photo_is_gone_for_the_family_once_its_score_is_voided(world_a, client):
    submission, stored = _hand_in_and_score(world_a, client)
    with scope(school=world_a.school):
        evidence_void(
            school=world_a.school,
            evidence_id=submission.evidence_id,
            voided_by=world_a.teacher,
            reason="wrong student",
        )
    assert set(_family_sees(world_a, client, stored).values()) == {(404, 404, False)}


def test_the_teacher_removes_a_photo_from_work_still_waiting(world_a, client):
    submission = submit(world_a, upload("hw.jpg", jpeg(colour=(9, 9, 9))))
    with scopes_disabled():
        attachment = FileAttachment.objects.get(submission=submission)
    remove = url(
        "attachment_remove", world_a, section_id=world_a.section.id, attachment_id=attachment.id
    )
    client.force_login(world_a.other_teacher)
    assert client.post(remove, {"reason": "x"}).status_code == 404
    client.force_login(world_a.teacher)
    waiting = url("submission_list", world_a, section_id=world_a.section.id)
    assert remove in client.get(waiting).content.decode()  # "Remove" on the work waiting
    response = client.post(remove, {"reason": "shows another student", "next": waiting})
    assert response.status_code == 302 and response["Location"] == waiting
    assert "Removed: shows another student" in client.get(waiting).content.decode()
    client.force_login(world_a.counselor)  # reads the list, cannot change it
    assert remove not in client.get(waiting).content.decode()
    assert set(_family_sees(world_a, client, attachment.file).values()) == {(404, 404, False)}


def _pe_teacher_of(w):
    """The first student also takes PE, taught by the other teacher (who teaches no maths to them)."""
    with scopes_disabled():
        pe_target = LearningTarget.objects.create(
            school=w.school,
            competency=w.competency,
            department=w.department,
            code="PE.1",
            statement="I can run.",
            position=9,
        )
        pe = Course.objects.create(school=w.school, department=w.department, code="PE", name="PE")
        CourseTarget.objects.create(school=w.school, course=pe, target=pe_target, position=0)
        pe_section = Section.objects.create(school=w.school, course=pe, term=w.term, name="PE 1")
        SectionTeacher.objects.create(school=w.school, section=pe_section, teacher=w.other_teacher)
        Enrollment.objects.create(
            school=w.school, student=w.students[0], section=pe_section, enrolled_on=w.term.starts_on
        )
    return w.other_teacher


def test_a_teacher_of_another_course_cannot_read_the_students_work_files(world_a, client):
    on_work = attach(world_a, scored(world_a, world_a.students[0]), upload("a.jpg", jpeg())).files[
        0
    ]
    handed_in = submit(world_a, upload("hw.jpg", jpeg(colour=(9, 9, 9))))
    with scopes_disabled():
        sent = FileAttachment.objects.get(submission=handed_in).file
    pe_teacher = _pe_teacher_of(world_a)
    client.force_login(pe_teacher)
    for f in (on_work, sent):
        assert client.get(file_url(world_a, f)).status_code == 404
        assert client.get(file_url(world_a, f, "file_thumbnail")).status_code == 404
        api = f"/api/v1/schools/{world_a.school.slug}/evidence-files/"
        assert client.get(f"{api}{f.id}/download/").status_code == 404
        assert client.get(f"{api}{f.id}/").status_code == 404
    listed = client.get(f"/api/v1/schools/{world_a.school.slug}/evidence-files/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert rows == []
    client.force_login(world_a.teacher)  # the maths teacher still reads both
    for f in (on_work, sent):
        assert client.get(file_url(world_a, f)).status_code == 200


def test_an_html_page_inside_a_pdf_is_downloaded_as_a_pdf_whatever_its_name(world_a, client):
    polyglot = b"%PDF-1.4\n<html><body><h1>Sign in</h1><form></form></body></html>\n%%EOF\n"
    stored = attach(world_a, scored(world_a), upload("x.html", polyglot, "text/html")).files[0]
    assert stored.original_name == "x.pdf"
    client.force_login(world_a.guardian)
    response = client.get(file_url(world_a, stored))
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="x.pdf"'
    photo = attach(world_a, scored(world_a), upload("me.svg", png(), "image/svg+xml")).files[0]
    assert photo.original_name == "me.png"
    named = attach(world_a, scored(world_a), upload("noname", jpeg(colour=(3, 3, 3)))).files[0]
    assert named.original_name == "noname.jpg"


@pytest.mark.parametrize(
    "body",
    [
        b"1 0 obj<</Type/Catalog/OpenAction 2 0 R>>endobj\n2 0 obj<</S/JavaScript/JS(app.alert(1))>>",
        b"1 0 obj<</Type/Catalog/Names<</EmbeddedFiles 2 0 R>>>>endobj",
        b"1 0 obj<</S/Launch/F(cmd.exe)>>endobj",
        b"1 0 obj<</Type/Catalog/AA<</O<</S/J#61vaScript/JS(x)>>>>>>endobj",
        b"1 0 obj<</Type/Annot/Subtype/RichMedia>>endobj",
        b"1 0 obj<</AcroForm<</XFA 2 0 R>>>>endobj",
    ],
)
def test_a_pdf_with_scripts_or_embedded_files_is_refused(world_a, body):
    pdf = b"%PDF-1.7\n" + body + b"\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    with pytest.raises(FileRefused) as refused:
        attach(world_a, scored(world_a), upload("homework.pdf", pdf, "application/pdf"))
    assert refused.value.messages[0].startswith("homework.pdf: ")
    assert "script" in refused.value.messages[0]
    assert count_files(world_a) == 0


def test_a_pdf_that_opens_at_its_first_page_is_homework_not_a_threat(world_a):
    # Word processors and scanners write an /OpenAction that only shows page 1, fitted.
    pdf = (
        b"%PDF-1.7\n1 0 obj<</Type/Catalog/Pages 2 0 R/OpenAction[3 0 R/Fit]>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )
    stored = attach(world_a, scored(world_a), upload("essay.pdf", pdf, "application/pdf"))
    assert [f.content_type for f in stored.files] == ["application/pdf"]


def test_a_script_hidden_in_a_compressed_pdf_stream_is_refused(world_a):
    hidden = zlib.compress(b"<</Type/Catalog/OpenAction<</S/JavaScript/JS(app.alert(1))>>>>")
    pdf = (
        b"%PDF-1.7\n1 0 obj<</Type/ObjStm/Filter/FlateDecode/Length "
        + str(len(hidden)).encode()
        + b">>stream\n"
        + hidden
        + b"\nendstream\nendobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )
    with pytest.raises(FileRefused):
        attach(world_a, scored(world_a), upload("scan.pdf", pdf, "application/pdf"))
    assert count_files(world_a) == 0


MEMORY_PROBE = """
import io, resource, sys
import django
django.setup()
from django.core.files.uploadedfile import SimpleUploadedFile
from gradebook.services.files import FileRefused, file_check
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    checked = file_check(SimpleUploadedFile("tiny.png", data))
    outcome = f"stored {checked.width}x{checked.height}"
except FileRefused as exc:
    outcome = "refused " + exc.messages[0]
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) // 1024, outcome)
"""


def test_a_tiny_png_declaring_a_huge_picture_is_refused_without_eating_memory(tmp_path):
    """4.9 KB of a 1-bit PNG of 6300 x 6300 (40 megapixels): refused before it is decoded, by
    its size in megapixels; the check's peak memory (its own process) stays small."""
    out = io.BytesIO()
    Image.new("1", (6300, 6300)).save(out, "PNG")
    assert len(out.getvalue()) < 10_000
    (tmp_path / "tiny.png").write_bytes(out.getvalue())
    probe = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(tmp_path / "tiny.png")],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
    )
    grown_mb, outcome = probe.stdout.strip().split(" ", 1)
    assert outcome == (
        "refused tiny.png: the image is too large (40 megapixels); send a smaller photo or a "
        "screenshot."
    )
    assert int(grown_mb) < 300


def test_a_48_megapixel_phone_photo_is_stored_at_half_its_size(world_a):
    stored = attach(world_a, scored(world_a), upload("IMG_48MP.jpg", jpeg((8000, 6000)))).files[0]
    assert (stored.width, stored.height) == (4000, 3000)
    assert stored_image(stored).size == (4000, 3000)


def test_a_huge_heic_is_refused_with_its_size_before_it_is_decoded(world_a):
    """libheif cannot decode scaled down: a 48 MP HEIC (28 KB of flat colour) would cost ~335 MB."""
    with pytest.raises(FileRefused) as refused:
        attach(world_a, scored(world_a), upload("IMG_9.HEIC", heic((8000, 6000)), "image/heic"))
    assert refused.value.messages[0].startswith(
        "IMG_9.HEIC: the image is too large (48 megapixels)"
    )


def test_an_image_beyond_pillows_bomb_limit_says_how_large_it_is(world_a):
    out = io.BytesIO()
    Image.new("1", (15000, 15000)).save(out, "PNG")
    with pytest.raises(FileRefused) as refused:
        attach(world_a, scored(world_a), upload("bomb.png", out.getvalue(), "image/png"))
    assert refused.value.messages[0].startswith("bomb.png: the image is too large (225 megapixels)")


def test_a_reused_form_token_never_returns_another_students_work(world_a):
    token = "d" * 32
    mine = submit(world_a, upload("hw.jpg", jpeg()), token=token)
    with scope(school=world_a.school):
        theirs = submission_create(
            school=world_a.school,
            student=world_a.students[1],
            target=world_a.targets[0],
            title="Mine",
            note="mine",
            uploads=[],
            submitted_by=world_a.teacher,
            token=token,
        )
    assert theirs.id != mine.id and theirs.student_id == world_a.students[1].id


def test_a_file_is_never_kept_by_a_students_or_familys_browser(world_a, client):
    stored = attach(world_a, scored(world_a), upload("a.jpg", jpeg())).files[0]
    for user, cache in (
        (world_a.student_user, "no-store"),
        (world_a.guardian, "no-store"),
        (world_a.teacher, "private, max-age=3600"),
    ):
        client.force_login(user)
        assert client.get(file_url(world_a, stored))["Cache-Control"] == cache, user
        assert client.get(file_url(world_a, stored, "file_thumbnail"))["Cache-Control"] == cache


def test_a_file_on_another_sections_assessment_cannot_be_removed_from_this_section(world_a, client):
    """The same course, taught in two sections: evidence on the other section's own assessment is
    not this section's to change, even for a student enrolled in both."""
    with scopes_disabled():
        theirs = make_assessment(
            world_a.school,
            world_a.course,
            world_a.targets[:1],
            on=TODAY - timedelta(days=2),
            section=world_a.other_section,
        )
        Enrollment.objects.create(
            school=world_a.school,
            student=world_a.other_students[0],
            section=world_a.section,
            enrolled_on=world_a.term.starts_on,
        )
    evidence = make_evidence(
        world_a,
        world_a.other_students[0],
        world_a.targets[0],
        "3",
        assessment=theirs,
        by=world_a.other_teacher,
    ).evidence
    stored = attach(world_a, evidence, upload("a.jpg", jpeg()), by=world_a.other_teacher).files[0]
    with scopes_disabled():
        attachment = FileAttachment.objects.get(file=stored)
    client.force_login(world_a.teacher)
    remove = url(
        "attachment_remove", world_a, section_id=world_a.section.id, attachment_id=attachment.id
    )
    assert client.post(remove, {"reason": "not mine"}).status_code == 404
    with scopes_disabled():
        assert FileAttachment.objects.get(id=attachment.id).voided_at is None


def test_removing_an_assessments_file_is_audited_with_the_assessment(world_a, client):
    client.force_login(world_a.teacher)
    client.post(
        url(
            "assessment_files_add",
            world_a,
            section_id=world_a.section.id,
            assessment_id=world_a.assessment.id,
        ),
        {"files": [upload("key.pdf", PDF, "application/pdf")]},
    )
    with scopes_disabled():
        attachment = FileAttachment.objects.get(assessment=world_a.assessment)
    client.post(
        url(
            "attachment_remove", world_a, section_id=world_a.section.id, attachment_id=attachment.id
        ),
        {"reason": "wrong key"},
    )
    with scopes_disabled():
        events = AuditEvent.objects.filter(
            school=world_a.school, before__assessment=world_a.assessment.id
        )
        attached = AuditEvent.objects.filter(
            school=world_a.school, after__assessment=world_a.assessment.id
        )
        assert events.count() == 1 and attached.count() == 1
