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
import zlib
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

# Images are stored at most 24 megapixels (a print of a page needs far less). Over their type's
# cap an image is refused before it is decoded: a file of a few KB can declare a huge image (a
# "decompression bomb"). JPEG photos of up to 50 megapixels are decoded already scaled down (a
# 48 MP photo costs ~60 MB); HEIC cannot be: libheif takes ~7 bytes a pixel (335 MB for 48 MP),
# so HEIC stops at 25 MP (the 24 MP iPhones take by default; Safari sends most photos as JPEG
# anyway). PNG and WebP (drawings, screenshots, scans) stop at 16 MP.
MAX_PIXELS = 24_000_000
TYPE_MAX_PIXELS = {
    "image/jpeg": 50_000_000,
    "image/heic": 25_000_000,
    "image/png": 16_000_000,
    "image/webp": 16_000_000,
}
OPTIMIZE_MAX_PIXELS = 4_000_000
# Each type is opened by its own decoder only (not by whichever of Pillow's matches first).
DECODER = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/heic": "HEIF"}
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


def _too_many_pixels(name: str, pixels: int) -> FileRefused:
    return _refuse(
        name,
        _("the image is too large (%(mp)s megapixels); send a smaller photo or a screenshot.")
        % {"mp": round(pixels / 1_000_000)},
    )


def _open_image(data: bytes, name: str, found: str) -> Image.Image:
    """Open the image with its own decoder only, and decode it no larger than it may be stored:
    a JPEG photo of up to 50 megapixels is read at a half or a quarter of its size (its decoder
    scales as it decodes); images over their type's cap are refused before they are decoded (a
    few KB can declare a picture of gigabytes: a "decompression bomb")."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[DECODER[found]])
    except Image.DecompressionBombError as exc:
        declared = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_many_pixels(name, int(declared[1]) if declared else 0) from exc
    width, height = image.size
    pixels = width * height
    if pixels > TYPE_MAX_PIXELS[found]:
        raise _too_many_pixels(name, pixels)
    if pixels > MAX_PIXELS and found == "image/jpeg":
        # Decoded at 1/2, 1/4 or 1/8 of its size straight from the JPEG data.
        scale = 2
        while pixels / (scale * scale) > MAX_PIXELS:
            scale *= 2
        image.draft("RGB", (-(-width // scale), -(-height // scale)))
    image.load()
    if image.width * image.height <= MAX_PIXELS:
        return image
    factor = 2  # HEIC (up to 25 MP) decodes whole: reduced after
    while image.width * image.height / (factor * factor) > MAX_PIXELS:
        factor += 1
    return image.reduce(factor)


def _clean_image(data: bytes, name: str, found: str) -> Checked:
    """Decode the image and write it again from its pixels alone, upright, without metadata."""
    try:
        upright = _open_image(data, name, found)
        ImageOps.exif_transpose(upright, in_place=True)  # in place: no second copy of the pixels
    except FileRefused:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
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
    clean = upright if upright.mode == mode else upright.convert(mode)
    # Only the pixels are written: nothing of the original's info (EXIF, XMP, ICC, PNG text
    # chunks, comments) may ride along into the file (savers fall back on `info`), and no EXIF
    # read earlier is kept either.
    clean.info = {}
    clean._exif = None  # Pillow keeps the EXIF it parsed here
    out = io.BytesIO()
    options: dict = {}
    # Optimizing is another full pass over the pixels: worth it on small images only.
    small = clean.width * clean.height <= OPTIMIZE_MAX_PIXELS
    if stored_type == "image/jpeg":
        options = {"quality": JPEG_QUALITY, "optimize": small}
    elif stored_type == "image/png":
        options = {"optimize": small}
    elif stored_type == "image/webp":
        options = {"quality": 85}
    clean.save(out, format=PIL_FORMAT[stored_type], **options)
    # Shrunk first by whole factors (cheap), then to size: never another full-size copy.
    factor = max(1, min(clean.width // THUMBNAIL_SIZE[0], clean.height // THUMBNAIL_SIZE[1]))
    thumb = clean.reduce(factor) if factor > 1 else clean.copy()
    thumb = thumb.convert("RGB") if thumb.mode != "RGB" else thumb
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


# What in a PDF runs or carries something else when it is opened: scripts, launching a program,
# embedded files, Flash/3D media and XML forms. Schoolwork needs none of them; a PDF with any is
# refused (it could be a phishing page or a payload sent by anyone). `/OpenAction` itself is not
# here: word processors and scanners write it to open at the first page, and what it could run
# (a script, a launch) is refused by its own name.
PDF_ACTIVE = {
    b"JavaScript",
    b"JS",
    b"Launch",
    b"EmbeddedFile",
    b"EmbeddedFiles",
    b"RichMedia",
    b"XFA",
}
_PDF_NAME = re.compile(rb"/([A-Za-z0-9#]+)")
_PDF_HEX = re.compile(rb"#([0-9A-Fa-f]{2})")
_PDF_STREAM = re.compile(rb"stream\r?\n")
# Compressed streams (object streams hold dictionaries too) are inflated to look inside, up to
# this much in all: a "zip bomb" of a stream is not inflated past it.
PDF_INFLATE_MAX = 64 * 1024 * 1024


def _pdf_names(data: bytes) -> set[bytes]:
    """The names in PDF syntax, with #xx escapes decoded (/J#61vaScript is /JavaScript)."""
    return {_PDF_HEX.sub(lambda m: bytes([int(m[1], 16)]), m[1]) for m in _PDF_NAME.finditer(data)}


def _pdf_streams(data: bytes) -> list[bytes]:
    """The zlib-compressed streams of the PDF, inflated (within PDF_INFLATE_MAX in all)."""
    inflated, budget = [], PDF_INFLATE_MAX
    for found in _PDF_STREAM.finditer(data):
        start = found.end()
        if data[start : start + 1] not in (b"x", b"h", b"X", b"H"):  # not a zlib header
            continue
        end = data.find(b"endstream", start)
        inflater = zlib.decompressobj()
        try:
            out = inflater.decompress(data[start : end if end >= 0 else len(data)], budget)
        except zlib.error:
            continue
        inflated.append(out)
        budget -= len(out)
        if budget <= 0:
            break
    return inflated


def _check_pdf(data: bytes, name: str) -> Checked:
    """A PDF kept as it is: its header and its end-of-file marker must both be there, and nothing
    in it that runs or carries another file (PDF_ACTIVE), compressed streams included."""
    if not re.match(rb"%PDF-\d\.\d", data[:16]) or not _PDF_EOF.search(data[-2048:]):
        raise _refuse(name, _("the PDF is damaged or incomplete."))
    for part in (data, *_pdf_streams(data)):
        if _pdf_names(part) & PDF_ACTIVE:
            raise _refuse(
                name,
                _(
                    "the PDF holds scripts, actions or embedded files, which are not accepted. "
                    "Print it to a new PDF, or send a photo of the work."
                ),
            )
    return Checked(name=name, data=data, content_type="application/pdf")


def stored_name(name: str, content_type: str) -> str:
    """The name shown and downloaded: the user's, ending in the extension of what the file is
    (a PDF named x.html is x.pdf, a HEIC photo stored as JPEG is .jpg), never the uploader's."""
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    stem = stem.rstrip(". ") or "file"
    extension = EXTENSION.get(content_type, "bin")
    return f"{stem[: NAME_MAX - len(extension) - 1]}.{extension}"


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
    checked.name = stored_name(name, checked.content_type)
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
    *,
    school: School,
    evidence: Evidence | None,
    summary: str,
    files: list[EvidenceFile],
    by: User,
    assessment: Assessment | None = None,
) -> None:
    after: dict = {
        "files": [{"id": f.id, "name": f.original_name, "sha256": f.sha256} for f in files]
    }
    if assessment is not None:
        # An assessment has no trail of its own: the event names it, to be found by it.
        after["assessment"] = assessment.id
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
        after=after,
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
            assessment=assessment,
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
    summary = f"File removed: {attachment.file.original_name}"
    before = {"file": attachment.file_id, "sha256": attachment.file.sha256}
    if attachment.submission_id is not None:
        # Work handed in has a trail of its own (services.submissions).
        object_type, object_id = AuditEvent.ObjectType.SUBMISSION, attachment.submission_id
    elif attachment.assessment_id is not None:
        # An assessment has no trail of its own: the event names it, to be found by it.
        object_type, object_id = AuditEvent.ObjectType.EVIDENCE, None
        summary += f" (assessment {attachment.assessment_id})"
        before["assessment"] = attachment.assessment_id
    else:
        object_type, object_id = AuditEvent.ObjectType.EVIDENCE, attachment.evidence_id
    audit.record(
        school=school,
        action=AuditEvent.Action.VOID,
        object_type=object_type,
        object_id=object_id,
        student_id=attachment.student_id,
        target_id=evidence.target_id if evidence is not None else None,
        summary=summary,
        before=before,
        after=None,
        actor=voided_by,
    )
    return attachment
