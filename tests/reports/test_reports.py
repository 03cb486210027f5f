"""Progress reports: real PDFs, their languages, and batches of them."""

from __future__ import annotations

import gc
import io
import os
import re
import subprocess
import time
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_scopes import scope, scopes_disabled
from weasyprint import HTML

from gradebook.models import CourseTarget
from gradebook.selectors.cells import attempt_chart
from mastery import calculation
from mastery.models import LearningTarget, LevelDescriptor
from reports.models import ReportFile
from reports.rendering import report_language, report_pdf
from reports.services import batches as batch_services
from reports.services.batches import batch_start
from tests.factories import make_attempt, make_world
from tests.workers import celery_worker


def pdf_text(content: bytes, tmp_path: Path, name="r.pdf") -> tuple[str, int]:
    path = tmp_path / name
    path.write_bytes(content)
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    text = " ".join(text.split())  # lines wrap where the page does: compare words, not lines
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    return text, pages


# --- The PDF ---------------------------------------------------------------------------------------


def test_the_report_pdf_shows_targets_levels_next_steps_and_feedback(client, rich, tmp_path):
    w = rich
    client.force_login(w.guardian)
    response = client.get(
        reverse("reports:child_report", args=[w.school.slug, w.student.id]),
        {"format": "pdf", "lang": "en"},
    )
    pdf = response.getvalue()  # a streamed file: read once
    assert response["Content-Type"] == "application/pdf" and pdf.startswith(b"%PDF")
    text, pages = pdf_text(pdf, tmp_path)
    assert "Progress report" in text and w.student.display_name in text
    assert "I can do thing 1." in text and "I can do thing 2." in text
    assert "2.65 Proficient" not in text  # 2 then 3 at 65% is 2.65: Developing
    assert "2.65 Developing" in text and "1 Beginning" in text
    assert "Next step, to reach Proficient: Level 3 of 1" in text  # the next level's descriptor
    assert "Now: Level 2 of 1" in text
    assert "Show every step next time." in text
    assert f"Page 1 of {pages}" in text
    assert "Algebra 1" in text and "Habits of work" not in text  # no habit scores yet: no section
    # Every font is embedded, so the PDF prints the same on any machine.
    (tmp_path / "fonts.pdf").write_bytes(pdf)
    fonts = subprocess.run(
        ["pdffonts", str(tmp_path / "fonts.pdf")], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    assert fonts and all(line.split()[-5] == "yes" for line in fonts)  # the "emb" column


def test_the_report_in_spanish_uses_the_translations_and_the_schools_spanish_texts(
    client, rich, tmp_path
):
    w = rich
    client.force_login(w.guardian)
    response = client.get(
        reverse("reports:child_report", args=[w.school.slug, w.student.id]),
        {"format": "pdf", "lang": "es"},
    )
    text, pages = pdf_text(response.getvalue(), tmp_path)
    assert "Informe de progreso" in text and "Cómo leer este informe" in text
    assert "Puedo hacer la cosa 1." in text  # the school's Spanish statement
    assert "I can do thing 2." in text  # no Spanish statement: falls back to English
    assert "2,65 En desarrollo" in text  # decimal comma, Spanish level label
    assert "Próximo paso, para llegar a Competente: Nivel 3 en español de" in text
    assert f"Página 1 de {pages}" in text


def test_a_long_report_runs_over_several_numbered_pages(rich, tmp_path, in_school):

    w = rich
    with in_school(w):
        for i in range(30):
            target = LearningTarget.objects.create(
                school=w.school,
                competency=w.competency,
                department=w.department,
                code=f"LONG.{i:02d}",
                statement=f"I can explain long idea number {i} in a complete paragraph with evidence.",
            )
            CourseTarget.objects.create(
                school=w.school, course=w.course, target=target, position=10 + i
            )
            LevelDescriptor.objects.bulk_create(
                LevelDescriptor(
                    school=w.school,
                    target=target,
                    level_value=v,
                    text=f"Descriptor {v} for long idea {i}, " * 3,
                )
                for v in (1, 2, 3, 4)
            )
            if i % 2 == 0:
                make_attempt(w, w.student, target, "2", days_ago=5)
    with scope(school=w.school):
        pdf = report_pdf(school=w.school, student=w.student, language="en")
    text, pages = pdf_text(pdf, tmp_path)
    assert pages >= 4
    assert f"Page {pages} of {pages}" in text and "LONG.29" in text


def test_a_report_pdf_is_laid_out_with_the_collector_paused(rich, monkeypatch):

    seen = []
    render = HTML.render  # the layout (mastery/pdf.py), then the document is written

    def watched(self, *args, **kwargs):
        seen.append(gc.isenabled())
        return render(self, *args, **kwargs)

    monkeypatch.setattr(HTML, "render", watched)
    with scope(school=rich.school):
        pdf = report_pdf(school=rich.school, student=rich.student, language="en")
    assert pdf.startswith(b"%PDF") and seen and not any(seen)  # once, or twice when tightened
    assert gc.isenabled()


def test_a_sparkline_draws_every_score_as_a_dot_and_hollows_the_uncounted_ones():
    """The report's charts draw their dots as two paths (every score, then the uncounted ones
    hollowed out) instead of one SVG element per score."""

    def attempt(day, value, kind, *, voided=False):
        return SimpleNamespace(
            voided_at=timezone.now() if voided else None,
            status="scored",
            score=Decimal(value),
            assessed_on=date(2026, 9, day),
            kind=kind,
            assessment=SimpleNamespace(title="Quiz"),
        )

    history = [
        attempt(1, "2", "formative"),
        attempt(2, "4", "pre"),  # a pre-assessment does not count under the default policy
        attempt(3, "1", "formative", voided=True),  # voided: not plotted at all
        attempt(4, "3", "summative"),
    ]
    chart = attempt_chart(history, calculation.Policy(), width=72, height=18, pad=4, labels=False)
    points = [(p.x, p.y) for p in chart["points"]]
    assert len(points) == 3
    assert chart["dots"] == " ".join(f"M{x} {y}h0" for x, y in points)
    assert chart["open_dots"] == f"M{points[1][0]} {points[1][1]}h0"


def test_the_report_page_draws_its_sparklines_with_the_dot_paths(client, rich):
    client.force_login(rich.guardian)
    page = client.get(reverse("reports:child_report", args=[rich.school.slug, rich.student.id]))
    assert page.status_code == 200
    charts = re.findall(r'<svg class="trend".*?</svg>', page.content.decode(), flags=re.S)
    assert charts  # target 0 has two scores, target 1 one
    two_scores = [c for c in charts if c.count("h0") == 2]
    assert len(two_scores) == 1
    assert re.search(r'<path d="M[\d.]+ [\d.]+h0 M[\d.]+ [\d.]+h0" stroke="#111"', two_scores[0])
    assert "<circle" not in "".join(charts)


def test_the_render_report_command_writes_a_pdf_for_it(rich, tmp_path):
    out = tmp_path / "r.pdf"
    buffer = io.StringIO()
    call_command(
        "render_report",
        "--school",
        rich.school.slug,
        "--student",
        rich.student.local_id,
        "--lang",
        "es",
        "--out",
        str(out),
        stdout=buffer,
    )
    assert "Wrote" in buffer.getvalue() and ", es)" in buffer.getvalue()
    text, _ = pdf_text(out.read_bytes(), tmp_path, "copy.pdf")
    assert "Informe de progreso" in text
    with pytest.raises(Exception, match="No student number"):
        call_command(
            "render_report", "--school", rich.school.slug, "--student", "nobody", "--out", str(out)
        )


# --- Languages -------------------------------------------------------------------------------------


def test_the_language_switch_is_remembered_on_the_account(client, rich):
    client.force_login(rich.teacher)
    response = client.post(reverse("language_switch"), {"language": "es", "next": "/"})
    assert response.status_code == 302
    rich.teacher.refresh_from_db()
    assert rich.teacher.preferred_language == "es"
    page = client.get(reverse("school_home", args=[rich.school.slug])).content.decode()
    assert 'lang="es"' in page and "Objetivos de aprendizaje" in page and "Cerrar sesión" in page
    bad = client.post(
        reverse("language_switch"), {"language": "es", "next": "https://evil.example/"}
    )
    assert bad["Location"] == "/"


def test_the_report_defaults_to_the_familys_language(client, rich, tmp_path, in_school):
    with in_school(rich):
        rich.student.preferred_language = "es"
        rich.student.save()

    assert report_language(rich.student) == "es"
    assert report_language(rich.student, "en") == "en"
    assert report_language(rich.student, "fr") == "es"


# --- Batches ---------------------------------------------------------------------------------------


def run_batch(w, django_capture_on_commit_callbacks, **kwargs):
    with scope(school=w.school), django_capture_on_commit_callbacks(execute=True):
        batch = batch_start(school=w.school, requested_by=w.admin, **kwargs)
    # The last rendering queues the zip after its own commit.
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            pass
    batch.refresh_from_db()
    return batch


def test_a_section_batch_renders_a_pdf_per_student_and_a_zip(
    rich, django_capture_on_commit_callbacks, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    batch = run_batch(
        rich, django_capture_on_commit_callbacks, section=rich.section, language="family"
    )
    assert batch.status == "done" and (batch.total, batch.done, batch.failed) == (3, 3, 0)
    with zipfile.ZipFile(batch.zip_path) as archive:
        names = archive.namelist()
    assert len(names) == 3 and all(n.endswith(".pdf") for n in names)


def test_rerunning_a_batch_on_unchanged_data_reuses_every_pdf(
    rich, django_capture_on_commit_callbacks, settings, tmp_path, monkeypatch
):
    settings.MEDIA_ROOT = tmp_path
    first = run_batch(rich, django_capture_on_commit_callbacks, section=rich.section, language="en")

    calls = []
    original = batch_services.report_pdf  # what a batch renders each student's report with
    monkeypatch.setattr(
        batch_services, "report_pdf", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    second = run_batch(
        rich, django_capture_on_commit_callbacks, section=rich.section, language="en"
    )
    assert first.reused == 0 and second.reused == second.total == 3 and calls == []
    make_attempt(
        rich, rich.students[1], rich.targets[0], "4", days_ago=1
    )  # one student's data changes
    third = run_batch(rich, django_capture_on_commit_callbacks, section=rich.section, language="en")
    assert third.reused == 2 and len(calls) == 1


def test_a_failing_student_is_listed_and_does_not_sink_the_batch(
    client, rich, django_capture_on_commit_callbacks, settings, tmp_path, monkeypatch
):
    settings.MEDIA_ROOT = tmp_path

    original = batch_services.student_report  # what a batch reads each student's report with

    def flaky(*, school, student, **kwargs):
        if student.id == rich.students[1].id:
            raise RuntimeError("the printer caught fire")
        return original(school=school, student=student, **kwargs)

    monkeypatch.setattr(batch_services, "student_report", flaky)
    batch = run_batch(rich, django_capture_on_commit_callbacks, section=rich.section, language="en")
    assert batch.status == "done" and (batch.done, batch.failed) == (2, 1)
    client.force_login(rich.admin)
    page = client.get(reverse("reports:batch", args=[rich.school.slug, batch.id])).content.decode()
    assert (
        "Not rendered" in page
        and "the printer caught fire" in page
        and rich.students[1].sortable_name in page
    )
    download = client.get(reverse("reports:batch_download", args=[rich.school.slug, batch.id]))
    assert download.status_code == 200
    assert len(zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))).namelist()) == 2


def test_teachers_start_batches_for_their_sections_and_see_only_their_own(
    client, rich, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(rich.teacher)
    page = client.get(reverse("reports:batches", args=[rich.school.slug])).content.decode()
    assert f"section:{rich.section.id}" in page and f"section:{rich.other_section.id}" not in page
    assert "The whole school" not in page
    with scope(school=rich.school):
        other = batch_start(
            school=rich.school, requested_by=rich.admin, grade_level=9, language="en"
        )
    assert (
        client.get(reverse("reports:batch", args=[rich.school.slug, other.id])).status_code == 404
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_batch_runs_through_a_real_celery_worker(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    w = make_world("batchworker", students=3)
    make_attempt(w, w.students[0], w.targets[0], "3")

    os.environ["MEDIA_ROOT"] = str(tmp_path)
    try:
        with celery_worker() as worker:
            with scope(school=w.school):
                batch = batch_start(
                    school=w.school, requested_by=w.admin, section=w.section, language="en"
                )
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                with scopes_disabled():
                    batch.refresh_from_db()
                if batch.status == "done":
                    break
                assert worker.alive()
                time.sleep(0.5)
    finally:
        os.environ.pop("MEDIA_ROOT", None)
    assert batch.status == "done" and batch.done == 3, worker.output[-3000:]
    with scopes_disabled():
        assert ReportFile.objects.filter(batch=batch, status="done").count() == 3
    assert Path(batch.zip_path).exists()
    assert (
        worker.output.count("reports.render_report_file") >= 3
        and "reports.zip_report_batch" in worker.output
    )
