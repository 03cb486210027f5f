"""Evidence files: checking an upload by its content, storing it without metadata, attaching it
to evidence or an assessment, and voiding it with the evidence (docs/files.md).

What is accepted is decided by the bytes, never by the name or the browser's content type:
JPEG, PNG, WebP, HEIC/HEIF (phone photos) and PDF. Anything else, SVG and HTML included, is
refused with a message naming the file, and nothing of the upload is stored. Images are decoded
and written again from their pixels alone: EXIF (GPS, the device, the time), XMP, IPTC and
embedded profiles are left behind; the EXIF orientation is applied first, so the photo stays
upright. HEIC is stored as JPEG (browsers other than Safari cannot show HEIC). PDFs are kept as
they are, once their structure says they are PDFs; they are only ever downloaded, never shown
inline, and every file is served with `Content-Security-Policy: sandbox`.

Every upload checks all of its files before it stores any: one refused file refuses the upload.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import pillow_heif
from django.conf import settings
from django.core.files.base import ContentFile, File
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, ImageOps

from gradebook.models import (
    Assessment,
    Evidence,
    EvidenceFile,
    FileAttachment,
    Student,
    evidence_storage,
)
from gradebook.services.evidence import EvidenceError
from mastery import audit
from mastery.models import AuditEvent, School, User

pillow_heif.register_heif_opener()

# A photo of 40 megapixels is larger than any phone takes; a bigger image is refused before it is
# decoded (a small file can declare a huge image: a "decompression bomb").
MAX_PIXELS = 40_000_000
THUMBNAIL_SIZE = (480, 480)
JPEG_QUALITY = 88
NAME_MAX = 200
# ISO base media (HEIF) brands of still images from phones: Apple's heic/heix, and the generic
# mif1/msf1 other phones write.
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
PIL_FORMAT = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
EXTENSION = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "application/pdf": "pdf",
}


class FileRefused(EvidenceError):
    """An upload refused (a type not allowed, too large, unreadable): nothing was stored."""


@dataclass
class Checked:
    """An upload that passed: the bytes to store and what they are."""

    name: str
    data: bytes
    content_type: str
    converted_from: str = ""
    width: int | None = None
    height: int | None = None
    thumbnail: bytes | None = None
    sha256: str = ""


@dataclass
class Attached:
    """What an attach did: the files now on the thing, and the other students already shown
    on the same photo (the same bytes on another student's evidence: it may show them)."""

    files: list[EvidenceFile]
    shared_with: list[Student] = field(default_factory=list)


def display_name(raw: str) -> str:
    """The name the user gave, for display only: no folders, no control characters."""
    name = unicodedata.normalize("NFC", str(raw or "")).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    return (name or "file")[:NAME_MAX]


def sniff(head: bytes) -> str | None:
    """What the first bytes say the content is (a MIME type), or None when not accepted."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return "image/heic"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def _refuse(name: str, message: str) -> FileRefused:
    return FileRefused({"files": [f"{name}: {message}"]})


def _read(upload: File, name: str) -> bytes:
    limit = settings.EVIDENCE_FILE_MAX_BYTES
    size = getattr(upload, "size", None)
    if size is not None and size > limit:
        raise _refuse(name, _too_large(limit))
    upload.seek(0)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise _refuse(name, _too_large(limit))
    if not data:
        raise _refuse(name, _("the file is empty."))
    return data


def _too_large(limit: int) -> str:
    return _("the file is larger than %(mb)s MB.") % {"mb": limit // (1024 * 1024)}


def _clean_image(data: bytes, name: str, found: str) -> Checked:
    """Decode the image and write it again from its pixels alone, upright, without metadata."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise _refuse(name, _("the image is too large (more than 40 megapixels)."))
            image.load()
            upright = ImageOps.exif_transpose(image) or image
    except FileRefused:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Warning) as exc:
        raise _refuse(name, _("the image cannot be read (damaged or not an image).")) from exc
    if found == "image/heic":
        stored_type, converted_from = "image/jpeg", "image/heic"
    else:
        stored_type, converted_from = found, ""
    transparent = upright.mode in ("RGBA", "LA", "PA") or (
        upright.mode == "P" and "transparency" in upright.info
    )
    keep_alpha = transparent and stored_type in ("image/png", "image/webp")
    mode = "RGBA" if keep_alpha else "RGB"
    converted = upright.convert(mode)
    # A new image from the pixels alone: nothing of the original's info (EXIF, XMP, ICC, PNG text
    # chunks, comments) can ride along into the file written below.
    clean = Image.frombytes(mode, converted.size, converted.tobytes())
    out = io.BytesIO()
    options: dict = {}
    if stored_type == "image/jpeg":
        options = {"quality": JPEG_QUALITY, "optimize": True}
    elif stored_type == "image/png":
        options = {"optimize": True}
    elif stored_type == "image/webp":
        options = {"quality": 85}
    clean.save(out, format=PIL_FORMAT[stored_type], **options)
    thumb = clean.convert("RGB")
    thumb.thumbnail(THUMBNAIL_SIZE)
    thumb_out = io.BytesIO()
    thumb.save(thumb_out, format="JPEG", quality=80)
    return Checked(
        name=name,
        data=out.getvalue(),
        content_type=stored_type,
        converted_from=converted_from,
        width=clean.width,
        height=clean.height,
        thumbnail=thumb_out.getvalue(),
    )


_PDF_EOF = re.compile(rb"%%EOF\s*$")


def _check_pdf(data: bytes, name: str) -> Checked:
    """A PDF kept as it is: its header and its end-of-file marker must both be there."""
    if not re.match(rb"%PDF-\d\.\d", data[:16]) or not _PDF_EOF.search(data[-2048:]):
        raise _refuse(name, _("the PDF is damaged or incomplete."))
    return Checked(name=name, data=data, content_type="application/pdf")


def file_check(upload: File, *, name: str | None = None) -> Checked:
    """Check one upload by its content and return what would be stored (nothing is written)."""
    name = display_name(name if name is not None else getattr(upload, "name", ""))
    data = _read(upload, name)
    found = sniff(data[:32])
    if found is None:
        raise _refuse(
            name,
            _(
                "only photos (JPEG, PNG, HEIC, WebP) and PDF files can be added; this file is not one."
            ),
        )
    checked = (
        _check_pdf(data, name) if found == "application/pdf" else _clean_image(data, name, found)
    )
    checked.sha256 = hashlib.sha256(checked.data).hexdigest()
    return checked


def files_check(uploads: Sequence[File]) -> list[Checked]:
    """Check every upload (all of them, before anything is stored)."""
    if len(uploads) > settings.EVIDENCE_FILES_PER_UPLOAD:
        raise FileRefused(
            {
                "files": [
                    _("Add at most %(n)s files at a time.")
                    % {"n": settings.EVIDENCE_FILES_PER_UPLOAD}
                ]
            }
        )
    return [file_check(upload) for upload in uploads]


def file_store(*, school: School, checked: Checked, uploaded_by: User) -> EvidenceFile:
    """Write the checked bytes under a new unguessable name of the school, and their row."""
    storage = evidence_storage()
    stem = f"schools/{school.id}/evidence/{uuid.uuid4().hex}"
    name = storage.save(f"{stem}.{EXTENSION[checked.content_type]}", ContentFile(checked.data))
    thumbnail = ""
    if checked.thumbnail is not None:
        thumbnail = storage.save(f"{stem}.thumb.jpg", ContentFile(checked.thumbnail))
    return EvidenceFile.objects.create(
        school=school,
        file=name,
        thumbnail=thumbnail,
        content_type=checked.content_type,
        converted_from=checked.converted_from,
        size=len(checked.data),
        sha256=checked.sha256,
        original_name=checked.name,
        width=checked.width,
        height=checked.height,
        uploaded_by=uploaded_by,
        uploaded_at=timezone.now(),
    )


def files_store(
    *, school: School, uploads: Sequence[File], uploaded_by: User
) -> list[EvidenceFile]:
    """Check every upload, then store them all (one refused: none stored)."""
    return [
        file_store(school=school, checked=checked, uploaded_by=uploaded_by)
        for checked in files_check(uploads)
    ]


def shared_with(*, school: School, files: Sequence[EvidenceFile], student_id: int) -> list[Student]:
    """Other students whose work shows the same bytes (the same photo attached on their
    evidence or submissions): the photo may show them too."""
    hashes = {f.sha256 for f in files}
    if not hashes:
        return []
    others = (
        FileAttachment.objects.filter(
            school=school, file__sha256__in=hashes, voided_at__isnull=True, student__isnull=False
        )
        .exclude(student_id=student_id)
        .values("student_id")
    )
    return list(Student.objects.filter(school=school, id__in=others))


def _audit_attach(
    *, school: School, evidence: Evidence | None, summary: str, files: list[EvidenceFile], by: User
) -> None:
    audit.record(
        school=school,
        action=AuditEvent.Action.UPDATE,
        # Files are recorded against the evidence (or assessment) they were attached to.
        object_type=AuditEvent.ObjectType.EVIDENCE,
        object_id=evidence.id if evidence is not None else None,
        student_id=evidence.student_id if evidence is not None else None,
        target_id=evidence.target_id if evidence is not None else None,
        summary=summary,
        before=None,
        after={"files": [{"id": f.id, "name": f.original_name, "sha256": f.sha256} for f in files]},
        actor=by,
    )


def _new_only(checked: list[Checked], already: set[str]) -> list[Checked]:
    """Drop what is already there (the same form sent twice, a double click): by content."""
    seen = set(already)
    fresh = []
    for item in checked:
        if item.sha256 not in seen:
            seen.add(item.sha256)
            fresh.append(item)
    return fresh


@transaction.atomic
def evidence_files_attach(
    *, school: School, evidence: Evidence, uploads: Sequence[File], attached_by: User
) -> Attached:
    """Attach photos or PDFs to one live piece of evidence (the student's work that earned it).

    The same file sent again onto the same evidence (a double click) is not added twice. Says
    which other students already have the same photo on their work: it may show them."""
    if not uploads:
        raise FileRefused({"files": [_("Choose at least one photo or PDF file.")]})
    live = Evidence.objects.select_for_update().filter(school=school, id=evidence.id).first()
    if live is None or live.voided_at is not None:
        raise EvidenceError(
            {"evidence": [_("That evidence is voided; attach files to its score.")]}
        )
    checked = files_check(uploads)
    already = set(
        FileAttachment.objects.filter(
            school=school, evidence=live, voided_at__isnull=True
        ).values_list("file__sha256", flat=True)
    )
    stored = [
        file_store(school=school, checked=item, uploaded_by=attached_by)
        for item in _new_only(checked, already)
    ]
    now = timezone.now()
    FileAttachment.objects.bulk_create(
        FileAttachment(
            school=school,
            file=f,
            evidence=live,
            student_id=live.student_id,
            attached_by=attached_by,
            attached_at=now,
        )
        for f in stored
    )
    if stored:
        _audit_attach(
            school=school,
            evidence=live,
            summary=f"{len(stored)} file(s) attached to evidence: "
            + ", ".join(f.original_name for f in stored),
            files=stored,
            by=attached_by,
        )
    return Attached(
        files=stored,
        shared_with=shared_with(school=school, files=stored, student_id=live.student_id),
    )


@transaction.atomic
def assessment_files_attach(
    *, school: School, assessment: Assessment, uploads: Sequence[File], attached_by: User
) -> Attached:
    """Attach the task itself (the sheet, the prompt, an answer key) to an assessment: staff
    see it; students and families do not (it may hold the answers)."""
    if not uploads:
        raise FileRefused({"files": [_("Choose at least one photo or PDF file.")]})
    Assessment.objects.select_for_update().filter(school=school, id=assessment.id).first()
    checked = files_check(uploads)
    already = set(
        FileAttachment.objects.filter(
            school=school, assessment=assessment, voided_at__isnull=True
        ).values_list("file__sha256", flat=True)
    )
    stored = [
        file_store(school=school, checked=item, uploaded_by=attached_by)
        for item in _new_only(checked, already)
    ]
    now = timezone.now()
    FileAttachment.objects.bulk_create(
        FileAttachment(
            school=school, file=f, assessment=assessment, attached_by=attached_by, attached_at=now
        )
        for f in stored
    )
    if stored:
        _audit_attach(
            school=school,
            evidence=None,
            summary=f"{len(stored)} file(s) attached to the assessment “{assessment.title}”: "
            + ", ".join(f.original_name for f in stored),
            files=stored,
            by=attached_by,
        )
    return Attached(files=stored)


@transaction.atomic
def attachment_void(
    *, school: School, attachment_id: int, voided_by: User, reason: str
) -> FileAttachment:
    """Take a file off the thing it is on (a wrong photo): voided with who and why; the file is
    kept for the records and staff still see it, struck through."""
    reason = (reason or "").strip()
    if not reason:
        raise EvidenceError({"reason": [_("Say why this file is removed.")]})
    if len(reason) > 300:
        raise EvidenceError({"reason": [_("Keep the reason under 300 characters.")]})
    attachment = (
        FileAttachment.objects.select_for_update(of=("self",))
        .filter(school=school, id=attachment_id)
        .select_related("file", "evidence")
        .first()
    )
    if attachment is None:
        raise EvidenceError({"file": [_("That file does not exist in this school.")]})
    if attachment.voided_at is not None:
        return attachment  # removed already (the same form sent twice)
    attachment.void(by=voided_by, reason=reason)
    evidence = attachment.evidence
    audit.record(
        school=school,
        action=AuditEvent.Action.VOID,
        object_type=AuditEvent.ObjectType.EVIDENCE,
        object_id=attachment.evidence_id,
        student_id=attachment.student_id,
        target_id=evidence.target_id if evidence is not None else None,
        summary=f"File removed: {attachment.file.original_name}",
        before={"file": attachment.file_id, "sha256": attachment.file.sha256},
        after=None,
        actor=voided_by,
    )
    return attachment
