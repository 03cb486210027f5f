"""Report cards of record: printed from posted marks only, as of a grading period, in the family's
language; found in the portal by period; batched like progress reports (issue [14] item 6)."""

from __future__ import annotations

import re
import subprocess
import zipfile
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from django_scopes import scope, scopes_disabled

from gradebook.models import (
    Course,
    CourseTarget,
    GradingPeriod,
    Guardianship,
    Habit,
    HabitScore,
    Mastery,
    SchoolYear,
    Section,
    SectionTeacher,
    Term,
)
from marks.computing import COURSE, TARGET
from marks.models import CommentBankEntry, MarkSettings
from mastery.models import Role, ScaleLevel
from reports.models import ReportBatch
from reports.report_cards import level_label, report_card, shown_value
from reports.services import batches as batch_services
from reports.services.batches import batch_start
from tests.factories import make_assessment, make_evidence, make_member
from tests.reports.report_card_support import TODAY, post, posted_period_of, quarters
from tests.reports.test_reports import pdf_text, run_batch

NOTE = "Marks of record posted by the teachers; they do not change when later work is scored."


@pytest.fixture
def posted(world_a, settings, tmp_path):
    """Algebra 1 posted for Q1 and Q2: Q1 with an override on target 2 (a reason the family never
    sees), a comment on target 1 and on the course grade, a habit; the course grade in percent."""
    settings.MEDIA_ROOT = tmp_path / "media"
    w = world_a
    child = w.student
    q1, q2 = quarters(w)
    with scopes_disabled():
        MarkSettings.objects.create(school=w.school, course_grade_form="percent")
        effort = Habit.objects.create(school=w.school, name="Effort", position=1)
        HabitScore.objects.create(
            school=w.school,
            student=child,
            habit=effort,
            section=w.section,
            score=3,
            assessed_on=TODAY - timedelta(days=20),
            recorded_by=w.teacher,
        )
        CommentBankEntry.objects.create(
            school=w.school,
            code="G1",
            texts={
                "en": "{first_name} works steadily and asks good questions.",
                "es": "{first_name} trabaja con constancia y hace buenas preguntas.",
            },
        )
    in_q1 = make_assessment(w.school, w.course, w.targets[:2], on=TODAY - timedelta(days=40))
    make_evidence(w, child, w.targets[0], "3", assessment=in_q1)
    make_evidence(w, child, w.targets[1], "2", assessment=in_q1)
    post(
        w,
        q1,
        values={(child.id, TARGET, w.targets[1].id): "3"},
        reason="Oral defence in the teacher's office",
        comments={
            (child.id, TARGET, w.targets[0].id): "Solves two-step equations without help.",
            (child.id, COURSE, 0): "G1",
        },
    )
    in_q2 = make_assessment(w.school, w.course, w.targets[:1], on=TODAY - timedelta(days=3))
    make_evidence(w, child, w.targets[0], "4", assessment=in_q2)
    post(w, q2)
    w.extra.update(q1=q1, q2=q2, effort=effort)
    return w


def card_url(w, period, name="reports:child_report_card"):
    return reverse(name, args=[w.school.slug, w.student.id, period.id])


def layout_text(content: bytes, tmp_path, name="card.pdf") -> str:
    """The PDF's text as laid out (a table's row stays one line), spaces collapsed."""
    path = tmp_path / name
    path.write_bytes(content)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    return " ".join(text.split())


def page_of(client, url: str) -> str:
    """The page as the family reads it (the per-response CSP nonce aside)."""
    return re.sub(r'nonce="[^"]*"', "", client.get(url).content.decode())


def card_pdf(client, w, period, tmp_path, **params):
    response = client.get(card_url(w, period), {"format": "pdf", **params})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    return layout_text(response.getvalue(), tmp_path)


# --- What the card prints ----------------------------------------------------------------------


def test_the_pdf_shows_the_periods_levels_course_grade_override_and_comments(
    client, posted, tmp_path
):
    w = posted
    client.force_login(w.guardian)
    text = card_pdf(client, w, w.extra["q2"], tmp_path, lang="en")
    assert "Report card" in text and w.school.name.upper() in text
    assert w.student.display_name in text and "Grade 9" in text
    assert "as of Q2" in text and NOTE in text
    # The periods side by side; each target's posted level by period, with the scale's label.
    assert "Learning target Q1 Q2" in text
    # Target 1: 3 in Q1; 3 then 4 by Q2's end (the decaying average 3.65: Advanced).
    assert "I can do thing 1. ALPHA.F1 3 4 Proficient Advanced" in text
    # Its comment, under it.
    assert "Advanced Q1: “Solves two-step equations without help.” I can do thing 2." in text
    # Target 2: computed 2, posted 3 in Q1 and flagged; Q2 posted as computed. The reason for
    # the override stays inside the school.
    assert "I can do thing 2. ALPHA.F2 3† 2 Proficient Developing" in text
    assert "† Set by the teacher, not the computed value." in text
    assert "Oral defence" not in text
    assert "I can do thing 3. ALPHA.F3 — —" in text  # posted as no mark (no evidence)
    # The course grade as posted, in the school's form (percent), and the course comment.
    assert re.search(r"Course grade \(Percent \(0–100\)\) \d+(\.\d)?% \d+(\.\d)?%", text)
    assert "Teacher's comments Q1: “Student0 works steadily and asks good questions.”" in text
    # Habits of work apart, in their own table.
    assert "Habits of work" in text and "Habit Q1 Q2 Effort 3 —" in text


def test_the_card_in_spanish_for_a_spanish_speaking_guardian(client, posted, tmp_path):
    w = posted
    with scopes_disabled():
        w.guardian.preferred_language = "es"
        w.guardian.save()
        ScaleLevel.objects.filter(school=w.school, scale__kind="achievement", value=3).update(
            label_es="Competente"
        )
    client.force_login(w.guardian)
    # The viewer's language, without asking for it.
    text = card_pdf(client, w, w.extra["q2"], tmp_path)
    assert "Boletín de calificaciones" in text
    assert "Calificaciones oficiales publicadas por los docentes" in text
    assert "al cierre de Q2" in text and "Grado 9" in text
    assert "ALPHA.F2 3† 2 Competente En desarrollo" in text
    assert "Fijada por el docente, no el valor calculado." in text
    assert "Calificación de la materia" in text and "Esfuerzo" in text
    # The bank's Spanish text; a comment typed in English only stays in English.
    assert "Student0 trabaja con constancia y hace buenas preguntas." in text
    assert "Solves two-step equations without help." in text
    assert "Página 1 de" in text
    page = client.get(card_url(w, w.extra["q2"])).content.decode()
    assert 'lang="es"' in page and "Boletín de calificaciones" in page


def test_the_card_is_frozen_when_new_evidence_is_scored_and_a_repost_shows_the_new_version(
    client, posted, in_school
):
    w = posted
    q1 = w.extra["q1"]
    child, target = w.student, w.targets[1]
    client.force_login(w.guardian)
    before = page_of(client, card_url(w, q1))
    with in_school(w):
        was = report_card(school=w.school, student=child, period=q1).fingerprint()
    # A late score dated inside Q1, after posting: live mastery moves, the card of record not.
    late = make_assessment(w.school, w.course, [target], on=TODAY - timedelta(days=15))
    make_evidence(w, child, target, "1", assessment=late)
    with scopes_disabled():
        assert Mastery.objects.get(student=child, target=target).level != 3
    assert page_of(client, card_url(w, q1)) == before
    with in_school(w):
        assert report_card(school=w.school, student=child, period=q1).fingerprint() == was
    # Posted again (a new version, with its reason): the card shows it.
    key = (child.id, TARGET, target.id)
    post(w, q1, values={key: "1"}, reason="The retake was on Q1 content", only=True)
    with in_school(w):
        card = report_card(school=w.school, student=child, period=q1)
    row = next(r for r in card.courses[0].targets if r.code == target.code)
    assert (row.cells[0].value, row.cells[0].label, row.cells[0].overridden) == (
        "1",
        "Beginning",
        False,
    )
    assert card.fingerprint() != was


def test_a_card_as_of_q1_has_no_q2_column(client, posted):
    w = posted
    client.force_login(w.guardian)
    page = client.get(card_url(w, w.extra["q1"])).content.decode()
    assert ">Q1</th>" in page and ">Q2</th>" not in page


def test_the_school_year_gathers_the_terms_sections_and_leaves_last_year_out(posted, in_school):
    w = posted
    child = w.student
    with scopes_disabled():
        SchoolYear.objects.create(
            school=w.school,
            name="This school year",
            starts_on=w.term.starts_on - timedelta(days=5),
            ends_on=w.term.ends_on + timedelta(days=5),
        )
        # A semester course in a term of the same year, posted in its own S1.
        fall = Term.objects.create(
            school=w.school,
            name="Fall",
            starts_on=w.term.starts_on,
            ends_on=TODAY - timedelta(days=11),
        )
        art = Course.objects.create(
            school=w.school, department=w.department, code="ART", name="Art"
        )
        CourseTarget.objects.create(school=w.school, course=art, target=w.targets[2])
        art_section = Section.objects.create(school=w.school, course=art, term=fall, name="A")
        SectionTeacher.objects.create(school=w.school, section=art_section, teacher=w.teacher)
        art_section.enrollments.create(school=w.school, student=child, enrolled_on=fall.starts_on)
        s1 = GradingPeriod.objects.create(
            school=w.school, term=fall, name="S1", starts_on=fall.starts_on, ends_on=fall.ends_on
        )
        # Last year: a term and a period of their own, posted then.
        old = Term.objects.create(
            school=w.school,
            name="Last year",
            starts_on=w.term.starts_on - timedelta(days=400),
            ends_on=w.term.starts_on - timedelta(days=100),
        )
        old_section = Section.objects.create(school=w.school, course=w.course, term=old, name="Old")
        old_section.enrollments.create(school=w.school, student=child, enrolled_on=old.starts_on)
        old_q = GradingPeriod.objects.create(
            school=w.school, term=old, name="Q4", starts_on=old.starts_on, ends_on=old.ends_on
        )
    post(w, s1, section=art_section)
    post(w, old_q, section=old_section)
    with in_school(w):
        card = report_card(school=w.school, student=child, period=w.extra["q2"])
    assert card.year_name == "This school year"
    assert [(c.course_name, c.periods) for c in card.courses] == [
        ("Algebra 1", ["Q1", "Q2"]),
        ("Art", ["S1"]),
    ]


def test_a_card_reads_a_constant_number_of_queries(posted, in_school):
    w = posted
    child = w.student

    def count():
        with in_school(w), CaptureQueriesContext(connection) as queries:
            report_card(school=w.school, student=child, period=w.extra["q2"])
        return len(queries)

    few = count()
    # Four more courses, each with its sections posted in both periods.
    for i in range(4):
        with scopes_disabled():
            course = Course.objects.create(
                school=w.school, department=w.department, code=f"C{i}", name=f"Course {i}"
            )
            for t in w.targets:
                CourseTarget.objects.create(school=w.school, course=course, target=t)
            section = Section.objects.create(school=w.school, course=course, term=w.term, name="P")
            SectionTeacher.objects.create(school=w.school, section=section, teacher=w.teacher)
            section.enrollments.create(school=w.school, student=child, enrolled_on=w.term.starts_on)
        post(w, w.extra["q1"], section=section)
        post(w, w.extra["q2"], section=section)
    assert count() == few <= 7


def test_values_print_as_posted_in_the_readers_number_format():
    scale = [
        SimpleNamespace(value=Decimal(v), display_label=label)
        for v, label in ((1, "Beginning"), (2, "Developing"), (3, "Proficient"), (4, "Advanced"))
    ]
    with translation.override("en"):
        assert shown_value("B+") == "B+" and shown_value("") == ""
        assert shown_value("86.6", "percent") == "86.6%" and shown_value("3.0", "gpa") == "3.0"
        assert shown_value("2.5") == "2.5"
    with translation.override("es"):
        assert shown_value("86.6", "percent") == "86,6%" and shown_value("3.0", "gpa") == "3,0"
        assert shown_value("2.5") == "2,5"
    # A half point reached the level below it; no mark, no label.
    assert level_label("2.5", scale) == "Developing" and level_label("4", scale) == "Advanced"
    assert level_label("", scale) == ""


# --- The portal: finding the cards, and who may read which ---------------------------------------


def test_families_and_students_find_every_posted_card_by_period(client, posted):
    w = posted
    q1, q2 = w.extra["q1"], w.extra["q2"]
    client.force_login(w.guardian)
    child_page = client.get(reverse("reports:child", args=[w.school.slug, w.student.id]))
    listing = reverse("reports:child_report_cards", args=[w.school.slug, w.student.id])
    assert listing in child_page.content.decode()
    page = client.get(listing).content.decode()
    assert card_url(w, q1) in page and card_url(w, q2) in page
    assert f"{card_url(w, q2)}?format=pdf" in page
    client.force_login(w.student_user)
    mine = client.get(reverse("reports:my_report_cards", args=[w.school.slug])).content.decode()
    own = reverse("reports:my_report_card", args=[w.school.slug, q2.id])
    assert own in mine
    response = client.get(own)
    assert response.status_code == 200 and "Report card" in response.content.decode()


def test_families_read_a_card_only_once_posting_has_closed_staff_at_once(client, posted):
    w = posted
    q2 = w.extra["q2"]
    # The window for Q2 is still open until tomorrow: teachers may still be posting.
    with scopes_disabled():
        GradingPeriod.objects.filter(pk=q2.pk).update(posting_closes_on=TODAY + timedelta(days=1))
    listing = reverse("reports:child_report_cards", args=[w.school.slug, w.student.id])
    client.force_login(w.guardian)
    assert card_url(w, q2) not in client.get(listing).content.decode()
    assert client.get(card_url(w, q2)).status_code == 404
    assert client.get(card_url(w, w.extra["q1"])).status_code == 200
    client.force_login(w.student_user)
    assert (
        client.get(reverse("reports:my_report_card", args=[w.school.slug, q2.id])).status_code
        == 404
    )
    client.force_login(w.teacher)
    staff = reverse("reports:student_report_card", args=[w.school.slug, w.student.id, q2.id])
    assert client.get(staff).status_code == 200
    # The day after the window closed, the family reads it.
    with scopes_disabled():
        GradingPeriod.objects.filter(pk=q2.pk).update(posting_closes_on=TODAY - timedelta(days=1))
    client.force_login(w.guardian)
    assert client.get(card_url(w, q2)).status_code == 200


def test_a_period_without_posted_marks_for_the_student_answers_404(client, posted):
    w = posted
    with scopes_disabled():
        q3 = GradingPeriod.objects.create(
            school=w.school,
            term=w.term,
            name="Q3",
            starts_on=w.term.ends_on - timedelta(days=2),
            ends_on=w.term.ends_on,
        )
    client.force_login(w.guardian)
    assert client.get(card_url(w, q3)).status_code == 404
    listing = client.get(reverse("reports:child_report_cards", args=[w.school.slug, w.student.id]))
    assert card_url(w, q3) not in listing.content.decode()
    # Another section's student, posted nothing in this period: no card either.
    other = w.other_students[0]
    client.force_login(w.admin)
    url = reverse("reports:student_report_card", args=[w.school.slug, other.id, w.extra["q1"].id])
    assert client.get(url).status_code == 404


def test_a_guardian_of_another_child_and_school_b_get_404(client, posted, world_b):
    w = posted
    q1 = w.extra["q1"]
    with scopes_disabled():
        other_parent = make_member(w.school, Role.GUARDIAN, "parent2@alpha.test", "Pat Parent")
        Guardianship.objects.create(school=w.school, guardian=other_parent, student=w.students[1])
    client.force_login(other_parent)
    assert client.get(card_url(w, q1)).status_code == 404
    assert client.get(card_url(w, q1), {"format": "pdf"}).status_code == 404
    assert (
        client.get(
            reverse("reports:child_report_cards", args=[w.school.slug, w.student.id])
        ).status_code
        == 404
    )
    # School B's guardian, and school A's guardian at school B's address.
    client.force_login(world_b.guardian)
    assert client.get(card_url(w, q1)).status_code == 404
    client.force_login(w.guardian)
    foreign = reverse("reports:child_report_card", args=[world_b.school.slug, w.student.id, q1.id])
    assert client.get(foreign).status_code == 404
    # A's own child, but a period of school B: 404.
    b_period = posted_period_of(world_b)
    assert client.get(card_url(w, b_period)).status_code == 404


def test_staff_read_a_students_card_students_and_other_teachers_do_not(client, posted):
    w = posted
    url = reverse(
        "reports:student_report_card", args=[w.school.slug, w.student.id, w.extra["q2"].id]
    )
    for user, status in (
        (w.admin, 200),
        (w.teacher, 200),
        (w.counselor, 200),
        (w.other_teacher, 404),
        (w.guardian, 403),
        (w.student_user, 403),
    ):
        client.force_login(user)
        assert client.get(url).status_code == status, user.email
    # A student at the family address of their own card: not theirs to use.
    client.force_login(w.student_user)
    assert client.get(card_url(w, w.extra["q2"])).status_code == 404
    assert client.post(card_url(w, w.extra["q2"])).status_code == 405


# --- Batches ---------------------------------------------------------------------------------------


def test_a_report_card_batch_renders_a_card_per_posted_student_and_a_zip(
    posted, django_capture_on_commit_callbacks, settings, tmp_path, monkeypatch
):
    w = posted
    settings.MEDIA_ROOT = tmp_path
    batch = run_batch(
        w,
        django_capture_on_commit_callbacks,
        section=w.section,
        period=w.extra["q2"],
        language="es",
    )
    assert batch.kind == "report_card" and batch.status == "done"
    # Everyone in the section has posted marks (Q2 was posted for the whole section).
    assert (batch.total, batch.done, batch.failed) == (3, 3, 0)
    with zipfile.ZipFile(batch.zip_path) as archive:
        names = archive.namelist()
        first = archive.read(next(n for n in names if "Student0" in n))
    assert len(names) == 3 and all(n.endswith("_Q2_es.pdf") for n in names)
    (tmp_path / "card.pdf").write_bytes(first)
    text, _ = pdf_text(first, tmp_path, "card2.pdf")
    assert "Boletín de calificaciones" in text and "Q1 Q2" in text
    # Again, nothing posted since: every card is reused, none rendered.
    calls = []
    original = batch_services.report_card_pdf
    monkeypatch.setattr(
        batch_services, "report_card_pdf", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    again = run_batch(
        w,
        django_capture_on_commit_callbacks,
        section=w.section,
        period=w.extra["q2"],
        language="es",
    )
    assert again.reused == 3 and calls == []


def test_a_report_card_batch_needs_posted_marks_and_progress_batches_still_work(
    posted, django_capture_on_commit_callbacks, settings, tmp_path
):
    w = posted
    settings.MEDIA_ROOT = tmp_path
    with scopes_disabled():
        empty = GradingPeriod.objects.create(
            school=w.school,
            term=w.term,
            name="Q4",
            starts_on=w.term.ends_on - timedelta(days=1),
            ends_on=w.term.ends_on,
        )
    with scope(school=w.school), pytest.raises(Exception, match="No marks are posted for Q4"):
        batch_start(school=w.school, requested_by=w.admin, period=empty)
    progress = run_batch(w, django_capture_on_commit_callbacks, section=w.section, language="en")
    assert progress.kind == "progress" and progress.status == "done" and progress.done == 3


def test_admins_start_a_report_card_batch_from_its_page_and_download_the_zip(
    client, posted, settings, tmp_path, django_capture_on_commit_callbacks
):
    w = posted
    settings.MEDIA_ROOT = tmp_path
    url = reverse("reports:report_card_batches", args=[w.school.slug])
    client.force_login(w.teacher)
    assert client.get(url).status_code == 403
    client.force_login(w.admin)
    page = client.get(url).content.decode()
    assert "Report cards of record" in page and f'value="{w.extra["q2"].id}"' in page
    # Nonsense is refused with the form again; nothing queued.
    bad = client.post(url, {"scope": "school", "period": "999999", "language": "en"})
    assert bad.status_code == 422
    with scopes_disabled():
        assert not ReportBatch.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url, {"scope": "grade:9", "period": str(w.extra["q1"].id), "language": "family"}
        )
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            pass
    with scopes_disabled():
        batch = ReportBatch.objects.get()
    assert response.status_code == 302 and batch.is_report_card and batch.total == 3
    detail = client.get(reverse("reports:batch", args=[w.school.slug, batch.id])).content.decode()
    assert "Report cards, Q1: Grade 9" in detail and "Download the zip" in detail
    download = client.get(reverse("reports:batch_download", args=[w.school.slug, batch.id]))
    assert download.status_code == 200
    assert f"report-cards-{batch.id}.zip" in download["Content-Disposition"]
