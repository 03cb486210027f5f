"""End to end in Debian's Chromium: a student photographs their work on a 390 px phone and hands
it in; it counts for nothing until the teacher scores it from the cell detail; then the level
moves and the family sees the photo on their phone."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from django_scopes import scopes_disabled
from PIL import ExifTags, Image
from playwright.sync_api import Page, expect

from gradebook.models import EvidenceFile, Mastery, Submission
from tests.factories import make_evidence, make_world
from tests.site.test_browser import axe_problems, log_in, no_horizontal_scroll, shoot

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def phone_photo() -> bytes:
    """A JPEG as a phone takes it: GPS and the camera in its EXIF."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (37.0, 46.0, 30.0)
    out = io.BytesIO()
    image = Image.new("RGB", (600, 800), (250, 250, 245))
    for x in range(100, 500):  # a line of "handwriting"
        image.putpixel((x, 400), (20, 20, 120))
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


@pytest.fixture
def class_world(transactional_db):
    w = make_world("photos", students=3)
    make_evidence(w, w.student, w.targets[0], "2")  # a level to move
    return w


def level(w) -> Decimal | None:
    with scopes_disabled():
        record = Mastery.objects.filter(student=w.student, target=w.targets[0]).first()
    return record.score if record else None


def test_a_student_hands_in_a_photo_on_a_phone_and_the_teacher_scores_it(
    page: Page, live_server, class_world
):
    w = class_world
    target = w.targets[0]
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, w.student_user.email)
    page.get_by_role("link", name="Hand in my work").click()
    expect(page.get_by_role("heading", name="Hand in my work")).to_be_visible()
    page.get_by_label("Learning target").select_option(str(target.id))
    page.get_by_label("Title").fill("Problem 4")
    page.get_by_label("A note for your teacher (optional)").fill("I used the slope")
    page.get_by_label("Take a photo").set_input_files(
        {"name": "IMG_2041.JPG", "mimeType": "image/jpeg", "buffer": phone_photo()}
    )
    assert axe_problems(page) == [] and no_horizontal_scroll(page)
    shoot(page, "work-student-form", 390)
    page.get_by_role("button", name="Send to my teacher").dblclick()  # the hurried double tap
    expect(page.get_by_text("Your work is sent.")).to_be_visible()
    expect(page.locator(".submission").first).to_contain_text("Waiting for the teacher")
    expect(page.locator(".file-thumb__img").first).to_be_visible()
    assert no_horizontal_scroll(page)
    shoot(page, "work-student-sent", 390)
    with scopes_disabled():
        assert Submission.objects.filter(school=w.school).count() == 1
        stored = EvidenceFile.objects.get(school=w.school)
    with stored.file.open("rb") as handle:
        assert b"PhoneMaker" not in handle.read()
    assert level(w) == Decimal("2")  # pending: counts for nothing

    # The teacher, on a laptop: the cell detail shows the work; scoring it makes the evidence.
    page.context.clear_cookies()
    page.set_viewport_size({"width": 1366, "height": 900})
    log_in(page, live_server, w.teacher.email)
    page.goto(
        f"{live_server.url}/s/{w.school.slug}/sections/{w.section.id}/students/{w.student.id}"
        f"/targets/{target.id}/"
    )
    work = page.locator(".submission").first
    expect(work).to_contain_text("Problem 4")
    work.get_by_label("Score").fill("4")
    work.get_by_role("button", name="Score it").dblclick()  # the hurried double click
    expect(page.get_by_text(re.compile("is scored; it now counts"))).to_be_visible()
    expect(page.locator(".history")).to_contain_text("Problem 4")
    expect(page.locator(".history .file-thumb__img").first).to_be_visible()
    assert axe_problems(page) == []
    shoot(page, "work-cell-detail", 1366)
    assert level(w) > Decimal("2")
    with scopes_disabled():
        assert Submission.objects.get(school=w.school).status == "scored"

    # The family, on a phone: the photo of the work, full size a tap away.
    page.context.clear_cookies()
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, w.guardian.email)
    page.goto(f"{live_server.url}/s/{w.school.slug}/family/{w.student.id}/")
    thumb = page.locator(".file-thumb__img").first
    expect(thumb).to_be_visible()
    assert page.evaluate(
        "() => [...document.querySelectorAll('.file-thumb__img')].every(i => i.naturalWidth > 0)"
    )
    assert axe_problems(page) == [] and no_horizontal_scroll(page)
    shoot(page, "work-family", 390)
    href = page.locator(".file-thumb__link").first.get_attribute("href")
    full = page.request.get(f"{live_server.url}{href}")
    assert full.status == 200 and full.headers["content-type"] == "image/jpeg"
    assert full.headers["content-security-policy"].startswith("sandbox")


def test_a_spanish_speaking_student_hands_in_work_on_a_phone(page: Page, live_server, class_world):
    """The same page in Spanish (its strings come with the translation merge of issue [13])."""
    w = class_world
    with scopes_disabled():
        w.student_user.preferred_language = "es"
        w.student_user.save()
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, w.student_user.email)
    page.get_by_role("link", name="Entregar mi trabajo").click()
    page.get_by_label("Objetivo de aprendizaje").select_option(str(w.targets[0].id))
    page.get_by_label("Título").fill("Problema 4")
    page.get_by_label("Tomar una foto").set_input_files(
        {"name": "IMG_2042.HEIC", "mimeType": "image/heic", "buffer": phone_photo()}
    )
    assert axe_problems(page) == [] and no_horizontal_scroll(page)
    page.get_by_role("button", name="Enviar a mi docente").click()
    expect(page.get_by_text("Su trabajo fue enviado.")).to_be_visible()
    expect(page.locator(".submission").first).to_contain_text("Esperando al docente")
    shoot(page, "work-student-es", 390)
