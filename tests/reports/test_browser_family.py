"""End to end in Debian's Chromium: what a Spanish-speaking family reads (issue 22).

The portal, the child page, the progress report as a page and as a PDF, on a phone.
"""

from __future__ import annotations

import gettext
import io
import re
import subprocess
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone, translation
from django_scopes import scope
from playwright.sync_api import Page, expect

import mastery.pdf
from gradebook.models import Assessment, Guardianship, Habit
from gradebook.services.assessments import assessment_save
from gradebook.services.habits import habit_score_record
from gradebook.services.reassessment import reassessment_record
from intervention.models import InterventionGroup
from mastery import calculation
from mastery.models import LevelDescriptor
from reports import explain
from reports.selectors import DEFAULT_HABIT_NAMES
from tests.factories import make_attempt, make_intervention, make_world
from tests.site.test_browser import log_in, no_horizontal_scroll, shoot

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def family(transactional_db, settings, tmp_path, in_school):
    """A Spanish-speaking family whose child has a few attempts on two targets."""
    settings.MEDIA_ROOT = tmp_path / "media"  # PDFs of an earlier run are never served again
    w = make_world("familia", students=3)
    child = w.student
    make_attempt(w, child, w.targets[0], "2", days_ago=30)
    make_attempt(w, child, w.targets[0], "3", days_ago=20)
    make_attempt(w, child, w.targets[0], "4", days_ago=10, feedback="Show every step next time.")
    make_attempt(w, child, w.targets[1], "1", days_ago=25)
    make_attempt(w, child, w.targets[1], "2", days_ago=5)
    with in_school(w):
        w.guardian.preferred_language = "es"
        w.guardian.save()
        child.preferred_language = "es"
        child.save()
    return w


def open_child_page(page: Page, live_server, w) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, w.guardian.email)
    page.get_by_role("link", name="Ver el progreso").click()
    expect(page.get_by_role("heading", name=w.student.display_name)).to_be_visible()


# --- Item 6: numbers in SVG attributes are never localized -----------------------------------

NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
NUMERIC_ATTRIBUTES = ("x1", "x2", "y1", "y2", "cx", "cy", "r", "x", "y", "width", "height")


def coordinates(tag: str, attrs: dict[str, str]) -> list[str]:
    """Every number an SVG element's geometry attributes hold, as written."""
    numbers = [attrs[name] for name in NUMERIC_ATTRIBUTES if name in attrs]
    if "viewBox" in attrs or "viewbox" in attrs:
        numbers += (attrs.get("viewBox") or attrs["viewbox"]).split()
    if tag == "polyline":
        numbers += [n for pair in attrs["points"].split() for n in pair.split(",")]
    if tag == "path":
        numbers += re.findall(r"[^MmHhLlVvZz\s]+", attrs["d"])
    return numbers


class _Svgs(HTMLParser):
    """The report's trend charts: [(tag, attributes), ...] per chart, from HTML text."""

    def __init__(self):
        super().__init__()
        self.charts: list[list[tuple[str, dict]]] = []
        self._inside = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "svg" and "trend" in (attributes.get("class") or ""):
            self._inside = True
            self.charts.append([])
        if self._inside:
            attributes.pop("aria-label", None)  # words, in the reader's language
            self.charts[-1].append((tag, attributes))

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag == "svg":
            self._inside = False


def charts_in(html: str) -> list[list[tuple[str, dict]]]:
    parser = _Svgs()
    parser.feed(html)
    return parser.charts


def assert_charts_are_drawn_alike(spanish, english) -> None:
    assert spanish and len(spanish) == len(english)
    for chart in spanish:
        for tag, attrs in chart:
            for number in coordinates(tag, attrs):
                assert NUMBER.match(number), f"{tag}: {number!r} is not an SVG number"
    # The same picture in both languages: the mastery line (level 3 on 1..4) at y 6.7, not 6.
    assert spanish == english
    lines = [attrs for chart in spanish for tag, attrs in chart if tag == "line"]
    assert lines and all(attrs["y1"] == attrs["y2"] == "6.7" for attrs in lines)


BROWSER_CHARTS = """() => [...document.querySelectorAll('svg.trend')].map(svg =>
  [...svg.querySelectorAll('line')].map(l => [l.y1.baseVal.value, l.y2.baseVal.value]))"""


def test_the_spanish_report_draws_the_mastery_line_where_the_english_one_does(
    page: Page, live_server, family, monkeypatch
):
    w = family
    given_to_weasyprint: list[str] = []
    render = mastery.pdf.render_to_string

    def keep(*args, **kwargs):
        html = render(*args, **kwargs)
        given_to_weasyprint.append(html)
        return html

    monkeypatch.setattr(mastery.pdf, "render_to_string", keep)

    open_child_page(page, live_server, w)
    page.get_by_role("link", name="Leerlo aquí").click()
    expect(page.get_by_role("heading", name="Informe de progreso")).to_be_visible()
    spanish = charts_in(page.content())
    # As Chromium reads it: an unparsable y1 ("6,7") is drawn at 0, the top of the chart.
    spanish_lines = page.evaluate(BROWSER_CHARTS)
    shoot(page, "family-report-es", 390)
    page.goto(page.url + "?lang=en")
    expect(page.get_by_role("heading", name="Progress report")).to_be_visible()
    english = charts_in(page.content())
    assert_charts_are_drawn_alike(spanish, english)
    assert spanish_lines == page.evaluate(BROWSER_CHARTS)
    assert all(abs(y - 6.7) < 0.01 for chart in spanish_lines for pair in chart for y in pair)

    # The PDF: the family downloads it in each language; WeasyPrint drew what it was given.
    report_url = page.url.split("?")[0]
    for lang in ("es", "en"):
        response = page.request.get(f"{report_url}?format=pdf&lang={lang}")
        assert response.ok and response.body().startswith(b"%PDF")
    assert len(given_to_weasyprint) == 2
    pdf_spanish, pdf_english = map(charts_in, given_to_weasyprint)
    assert_charts_are_drawn_alike(pdf_spanish, pdf_english)
    assert pdf_spanish == spanish


# --- Item 5: a family sees only the reassessments that concern their child ----------------------


def test_a_family_sees_only_the_reassessments_that_concern_their_child(
    page: Page, live_server, family, in_school
):
    w = family
    today = timezone.localdate()
    with scope(school=w.school):
        # The teacher records a retake for two classmates from the cell detail, today.
        for classmate in w.students[1:]:
            reassessment_record(
                school=w.school,
                recorded_by=w.teacher,
                section=w.section,
                student_id=classmate.id,
                target_id=w.targets[1].id,
                text="2",
                assessed_on=today,
            )
        # And schedules two for the whole section next week: one on a target the child has not
        # mastered yet (thing 2, at 1.65), one on a target the child has mastered (thing 1).
        for title, target in (("Retake, part A", w.targets[1]), ("Retake, part B", w.targets[0])):
            assessment_save(
                school=w.school,
                saved_by=w.teacher,
                title=title,
                kind="reassessment",
                assessed_on=today + timedelta(days=7),
                course=w.course,
                section=w.section,
                target_ids=[target.id],
            )

    open_child_page(page, live_server, w)
    again = page.locator("section", has=page.get_by_role("heading", name="Oportunidades"))
    scheduled = again.locator(".upcoming li")
    expect(scheduled).to_have_count(1)  # not the classmates' retakes, not the mastered target
    expect(scheduled).to_contain_text("I can do thing 2.")  # what it is about, not its code
    text = again.inner_text()
    assert "Reassessment" not in text and w.targets[1].code not in text
    shoot(page, "family-child-es", 390)
    assert no_horizontal_scroll(page)

    # A classmate's family sees the retake their child took in the latest work, not as scheduled.
    with in_school(w):
        Guardianship.objects.create(school=w.school, guardian=w.guardian, student=w.students[1])
    page.goto(page.url.replace(f"/{w.student.id}/", f"/{w.students[1].id}/"))
    again = page.locator("section", has=page.get_by_role("heading", name="Oportunidades"))
    # Parts A and B (no level on thing 1 yet, 2 on thing 2), not the retake of today.
    expect(again.locator(".upcoming li")).to_have_count(2)
    expect(page.locator(".recent")).to_contain_text("Nueva evaluación")


# --- Item 7: no English leftovers, bare codes or method names for a Spanish family -------------

CATALOGUE = Path(settings.BASE_DIR) / "mastery/locale/es/LC_MESSAGES/django.mo"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd%]")


def english_fragments() -> list[str]:
    """The English of every catalogue entry whose Spanish differs, cut at its placeholders."""
    with CATALOGUE.open("rb") as f:
        catalogue = gettext.GNUTranslations(f)._catalog
    fragments = set()
    for key, spanish in catalogue.items():
        english = key[0] if isinstance(key, tuple) else key
        english = english.split("\x04")[-1]  # without a context
        if not english or english == spanish:
            continue
        for piece in PLACEHOLDER.split(english):
            piece = " ".join(piece.split()).strip(" :;,.()·")
            if re.search(r"[A-Za-z]{2}", piece):
                fragments.add(piece)
    return sorted(fragments)


def method_names() -> list[str]:
    """The calculation methods as the Spanish page names them (without their numbers)."""
    with translation.override("es"):
        return [
            explain.method_words(SimpleNamespace(method=m, weight=65, n=3)).split(" (")[0]
            for m in calculation.METHODS
        ]


def leftovers(text: str, w) -> list[str]:
    """English catalogue strings, bare target codes and method names left in a Spanish text,
    once the school's own words (names, titles, English statements and descriptors, typed as the
    school wrote them) are set aside."""
    with scope(school=w.school):
        codes_statements = [(t.code, t.statement) for t in w.targets]
        school_words = [
            w.school.name,
            w.course.name,
            w.section.name,
            w.student.display_name,
            w.teacher.full_name,
            w.other_teacher.full_name,
            w.guardian.full_name,
            *[d.text for d in LevelDescriptor.objects.filter(school=w.school)],
            # Titles teachers gave (a reassessment's is made up by the cell detail, in English).
            *Assessment.objects.filter(school=w.school)
            .exclude(kind="reassessment")
            .values_list("title", flat=True),
            *InterventionGroup.objects.filter(school=w.school).values_list("room", flat=True),
        ]
    text = " ".join(text.split())
    for code, statement in codes_statements:  # a code beside its statement is a reference
        text = text.replace(f"{statement} {code}", statement)
    for words in sorted(school_words + [s for _, s in codes_statements], key=len, reverse=True):
        text = text.replace(words, " ")
    found = [f"code {code}" for code, _ in codes_statements if code in text]
    found += [f"term {w.term.name!r}" for _ in [1] if w.term.name in text]
    found += [f"method {name!r}" for name in method_names() if name.lower() in text.lower()]
    found += [
        f"English {piece!r}"
        for piece in english_fragments()
        if re.search(rf"(?<![\w-]){re.escape(piece)}(?![\w-])", text)
    ]
    return found


VISIBLE_SPANISH = """() => {
  // What a person reads: the words in the page's language, not the teacher's own words (shown as
  // written) nor what is marked as another language (the English PDF's link).
  document.querySelectorAll('.teacher-words, [lang]:not([lang=es]):not(html)').forEach(e => e.remove());
  return document.body.innerText;
}"""


def test_a_spanish_family_reads_no_english_codes_or_jargon(
    page: Page, live_server, family, tmp_path
):
    w = family
    comment = "Show every step next time."  # the teacher wrote it in English
    with scope(school=w.school):
        w.term.name = "2026-27 school year"
        w.term.save()
        for i, name in enumerate(DEFAULT_HABIT_NAMES):
            habit = Habit.objects.create(school=w.school, name=name, position=i)
            habit_score_record(
                school=w.school,
                recorded_by=w.teacher,
                section=w.section,
                student_id=w.student.id,
                habit_id=habit.id,
                assessed_on=timezone.localdate(),
                text="3",
            )
        reassessment_record(  # a retake from the cell detail: "Reassessment: FAMILIA.F2"
            school=w.school,
            recorded_by=w.teacher,
            section=w.section,
            student_id=w.student.id,
            target_id=w.targets[1].id,
            text="2",
            assessed_on=timezone.localdate(),
        )
    make_intervention(w)

    open_child_page(page, live_server, w)
    child_url = page.url
    # The teacher's comment, as written, labelled as the teacher's.
    words = page.locator(".portal-target .teacher-words")
    expect(words).to_have_text(comment)
    labelled = page.locator(".portal-target p", has=page.locator(".teacher-words"))
    expect(labelled).to_contain_text("Comentario del docente")
    # The calculation is one tap away, in the method's own words.
    how = page.locator("details.how").first
    expect(how).not_to_contain_text("promedio ponderado", use_inner_text=True)
    how.locator("summary").click()
    expect(how).to_contain_text("promedio ponderado decreciente")
    how.locator("summary").click()
    shoot(page, "family-child-es-all", 390)
    shoot(page, "family-child-es-all", 1366)
    page.set_viewport_size({"width": 390, "height": 844})
    body = page.inner_text("body")
    assert "Esfuerzo 3" in body and "Nueva evaluación" in body
    assert leftovers(page.evaluate(VISIBLE_SPANISH), w) == []

    page.goto(f"{live_server.url}/family/")
    assert leftovers(page.evaluate(VISIBLE_SPANISH), w) == []

    page.goto(child_url)
    page.get_by_role("link", name="Leerlo aquí").click()
    expect(page.get_by_role("heading", name="Informe de progreso")).to_be_visible()
    assert page.locator(".teacher-words").first.inner_text() == comment
    shoot(page, "family-report-es-all", 390)
    assert no_horizontal_scroll(page)
    shoot(page, "family-report-es-all", 1366)
    assert leftovers(page.evaluate(VISIBLE_SPANISH), w) == []

    response = page.request.get(page.url.split("?")[0] + "?format=pdf&lang=es")
    (tmp_path / "es.pdf").write_bytes(response.body())
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "es.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    text = " ".join(text.split())
    assert f"“{comment}”" in text and "Esfuerzo" in text
    assert leftovers(text.replace(comment, " "), w) == []


# --- Item 11: nothing runs off the PDF's page ---------------------------------------------------

LETTER_WIDTH_PT = 612
RIGHT_MARGIN_PT = 14 / 25.4 * 72  # report.css: @page margin 15mm 14mm 17mm


def test_a_long_unbroken_comment_wraps_inside_the_pdf_page(
    page: Page, live_server, family, tmp_path, in_school
):
    w = family
    unbroken = "".join(f"{i % 10}" if i % 7 else "W" for i in range(300))
    make_attempt(w, w.student, w.targets[1], "3", days_ago=1, feedback=unbroken)
    long_name = "Wolfeschlegelsteinhausenbergerdorff" * 2  # 70 letters: the header and footer
    with in_school(w):
        w.student.last_name = long_name
        w.student.save()

    open_child_page(page, live_server, w)
    # The child page wraps it too, on the phone.
    expect(page.locator(".teacher-words").filter(has_text=unbroken[:40])).to_have_count(2)
    assert no_horizontal_scroll(page)
    link = page.get_by_role("link", name="Descargar el PDF")
    response = page.request.get(live_server.url + link.get_attribute("href"))
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(response.body())
    words = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    boxes = re.findall(r'xMax="([\d.]+)"[^>]*>([^<]*)</word>', words)
    assert boxes
    beyond = [text for x_max, text in boxes if float(x_max) > LETTER_WIDTH_PT - RIGHT_MARGIN_PT + 1]
    assert beyond == []
    # Every character is there, across lines.
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert unbroken in "".join(text.split())
    assert text.count(long_name[:20]) >= 2  # the heading and the footer (the page's end)


# --- Item 12: the family report's last page is not nearly empty ---------------------------------

PAGE_BODY = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', re.S)
TOP_MARGIN_PT, BOTTOM_MARGIN_PT = 15 / 25.4 * 72, 17 / 25.4 * 72  # report.css's @page margins


def pages_filled(pdf: Path) -> list[float]:
    """How much of each page's body (between the margins) holds text, 0 to 1."""
    boxes = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    filled = []
    for _, height, words in PAGE_BODY.findall(boxes):
        bottom = float(height) - BOTTOM_MARGIN_PT
        ends = [float(y) for y in re.findall(r'yMax="([\d.]+)"', words) if float(y) < bottom]
        filled.append((max(ends, default=TOP_MARGIN_PT) - TOP_MARGIN_PT) / (bottom - TOP_MARGIN_PT))
    return filled


def test_the_demo_familys_reports_end_on_a_page_worth_printing(
    page: Page, live_server, tmp_path, settings
):
    settings.MEDIA_ROOT = tmp_path / "media"  # PDFs of an earlier run are never served again
    call_command("seed_demo", stdout=io.StringIO())
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill("guardian@riverside.example")
    page.get_by_label("Password").fill("mastery-demo")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Mis hijos")).to_be_visible()
    children = page.get_by_role("link", name="Ver el progreso")
    reports = []
    for i in range(children.count()):
        page.goto(f"{live_server.url}/family/")
        page.get_by_role("link", name="Ver el progreso").nth(i).click()
        for name in ("Descargar el PDF", "English (PDF)"):
            href = page.get_by_role("link", name=name).get_attribute("href")
            pdf = tmp_path / f"{i}-{len(reports)}.pdf"
            pdf.write_bytes(page.request.get(live_server.url + href).body())
            reports.append((page.url, name, pages_filled(pdf)))
    assert len(reports) == 4
    for url, name, filled in reports:
        # More than a heading and a table of two rows: a last page worth printing.
        assert len(filled) == 1 or filled[-1] >= 0.3, (url, name, filled)
        assert all(f > 0.6 for f in filled[:-1]), (url, name, filled)
