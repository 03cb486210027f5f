"""Smaller trust defects (issue 21, item 7), each tested as a user meets it.

- A score off the scale is refused, never rounded onto it, by the same rule and with the same
  message on every entry path; no spelling of a number answers anything but that message.
- A teacher's comment to a student on an assessment is audited like a score (who, when, old, new).
- The same reassessment submitted twice (a double click) records one attempt.
- The report PDF's footer shows names exactly as they are spelled.
- Every API path the README names is a route of the API.
"""

from __future__ import annotations

import html
import re
import subprocess
import threading
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.urls import Resolver404, resolve, reverse
from django_scopes import scope

from gradebook.models import (
    Assessment,
    AssessmentFeedback,
    Evidence,
    Habit,
    HabitScore,
)
from mastery.models import ApiToken, AuditEvent, ProficiencyScale
from mastery.services import api_token_create
from mastery.templatetags.css_strings import css_string
from tests.factories import make_world

ROOT = Path(__file__).resolve().parents[2]
HTMX = {"HTTP_HX_REQUEST": "true"}
ALLOWED = "Use one of: 1, 1.5, 2, 2.5, 3, 3.5, 4."


def url(name: str, w, **kwargs) -> str:
    return reverse(f"gradebook:{name}", kwargs={"school_slug": w.school.slug, **kwargs})


def score_url(w, name: str) -> str:
    return url(name, w, section_id=w.section.id, assessment_id=w.assessment.id)


def cell_url(w, student, target, name: str = "cell_detail") -> str:
    return url(name, w, section_id=w.section.id, student_id=student.id, target_id=target.id)


def text_of(response) -> str:
    return html.unescape(response.content.decode())


def evidence_rows(w) -> list[tuple]:
    with scope(school=w.school):
        return list(
            Evidence.objects.filter(school=w.school)
            .order_by("id")
            .values_list("id", "score", "status", "feedback", "voided_at")
        )


def assessments(w) -> list[int]:
    with scope(school=w.school):
        return list(Assessment.objects.filter(school=w.school).values_list("id", flat=True))


def audit(w, **filters) -> list[AuditEvent]:
    with scope(school=w.school):
        return list(AuditEvent.objects.filter(school=w.school, **filters).order_by("at", "id"))


# --- 1. A score off the scale is refused, the same way on every entry path ------------------------

OFF_SCALE = [
    "2.996",  # rounds to 3: not a 3
    "2.4999",  # rounds to 2.5
    "3.001",
    "2.25",
    "1e400",  # Decimal.quantize raised InvalidOperation: a 500
    "1e30",
    "9" * 27,
    "9" * 40,
    "NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "-0",
    "0",
    "5",
    "3e0",
    "0x3",
    "3 5",
    "½",
    "abc",
]


def _post_cell(client, w, value):
    s, t = w.students[1], w.targets[0]
    return client.post(score_url(w, "score_cell"), {f"c-{s.id}-{t.id}": value}, **HTMX)


def _post_grid(client, w, value):
    s, t = w.students[1], w.targets[0]
    return client.post(score_url(w, "score"), {f"c-{s.id}-{t.id}": value})


def _post_fill(client, w, value):
    return client.post(score_url(w, "score_fill"), {"value": value}, follow=True)


def _post_reassess(client, w, value):
    s, t = w.students[1], w.targets[0]
    return client.post(
        cell_url(w, s, t, "cell_reassess"),
        {"value": value, "assessed_on": date.today().isoformat(), "feedback": ""},
    )


ENTRY_PATHS = {
    "cell": _post_cell,
    "grid": _post_grid,
    "fill": _post_fill,
    "reassess": _post_reassess,
}


def _shown(value: str) -> str:
    """The value as the message quotes it: what was typed, without the surrounding spaces."""
    return value.strip()


@pytest.mark.parametrize("path", ENTRY_PATHS)
@pytest.mark.parametrize("value", OFF_SCALE)
def test_a_score_off_the_scale_is_refused_on_every_page_with_the_same_message(
    client, world_a, path, value
):
    w = world_a
    client.force_login(w.teacher)
    before, made = evidence_rows(w), assessments(w)
    response = ENTRY_PATHS[path](client, w, value)
    assert response.status_code in (200, 422), response.status_code  # never a 500
    if path != "fill":  # the fill redirects back to the page, which shows the message
        assert response.status_code == 422
    body = text_of(response)
    assert ALLOWED in body, body[-3000:]
    shown = _shown(value)[:19]  # a long value is shortened: 19 characters and "…"
    assert shown in body
    assert evidence_rows(w) == before and assessments(w) == made, "a refused score writes nothing"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("3", Decimal("3")),
        ("3.0", Decimal("3")),
        ("3.00", Decimal("3")),
        ("3.000", Decimal("3")),
        ("03", Decimal("3")),
        (" 3 ", Decimal("3")),
        ("+3", Decimal("3")),
        ("3.", Decimal("3")),
        ("3,5", Decimal("3.5")),  # a decimal comma, as many keyboards type it
        ("3.50", Decimal("3.5")),
        ("３", Decimal("3")),  # a full-width digit (Japanese/Chinese input): exactly 3
    ],
)
def test_an_exact_spelling_of_a_scale_value_is_saved_as_that_value(
    client, world_a, typed, stored, in_school
):
    w = world_a
    s, t = w.students[1], w.targets[0]
    client.force_login(w.teacher)
    response = _post_cell(client, w, typed)
    assert response.status_code == 200, text_of(response)[-2000:]
    with in_school(w):
        evidence = Evidence.objects.get(
            school=w.school, student=s, target=t, assessment=w.assessment, voided_at__isnull=True
        )
    assert evidence.score == stored and evidence.status == "scored"


def test_the_message_quotes_what_was_typed_not_a_rounded_value(client, world_a):
    w = world_a
    client.force_login(w.teacher)
    body = text_of(_post_cell(client, w, "2.996"))
    assert "2.996 is not on the scale. " + ALLOWED in body
    assert "3 is not on the scale" not in body
    body = text_of(_post_cell(client, w, "1e400"))
    assert "1e400" in body and ALLOWED in body


def test_a_habit_score_off_its_scale_is_refused_not_rounded(client, world_a, in_school):
    w = world_a
    with in_school(w):
        habit = Habit.objects.create(school=w.school, name="Effort")
        assert ProficiencyScale.objects.filter(school=w.school, kind="habits").exists()
    client.force_login(w.teacher)
    day = (date.today() - timedelta(days=1)).isoformat()
    for value in ("2.996", "1e400", "sNaN"):
        response = client.post(
            url("habit_cell", w, section_id=w.section.id) + f"?date={day}",
            {f"h-{w.students[0].id}-{habit.id}": value},
            **HTMX,
        )
        assert response.status_code == 422, value
        with in_school(w):
            assert not HabitScore.objects.filter(school=w.school).exists()


def _api_token(w) -> str:
    with scope(school=w.school):
        _, raw = api_token_create(school=w.school, user=w.admin, name="test")
        assert ApiToken.objects.filter(school=w.school).exists()
    return raw


@pytest.mark.parametrize(
    "score",
    ["2.996", "2.4999", "3.001", "1e400", "1e30", "9" * 27, "NaN", "sNaN", "Infinity", "-0", 2.996],
)
def test_the_api_refuses_a_score_off_the_scale_and_writes_nothing(world_a, score):
    w = world_a
    token = _api_token(w)
    before = evidence_rows(w)
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").post(
        f"/api/v1/schools/{w.school.slug}/evidence/",
        {
            "student": w.students[1].id,
            "target": w.targets[0].id,
            "assessment": w.assessment.id,
            "score": score,
        },
        content_type="application/json",
    )
    assert response.status_code == 400, response.content[:500]
    assert "score" in response.json()["errors"]
    assert evidence_rows(w) == before


def test_the_mastery_export_level_filter_reads_levels_by_the_same_rule(client, world_a):
    w = world_a
    client.force_login(w.admin)
    export = url("mastery_export", w)
    for value in ("2.996", "1e400", "sNaN", "9" * 27):
        response = client.get(export, {"level": value})
        assert response.status_code == 400, (value, response.status_code)
    for value in ("3", "3.00", "３"):
        assert client.get(export, {"level": value}).status_code == 200, value


# --- 2. Assessment comments are audited like scores --------------------------------------------


def _comment(client, w, student, text):
    return client.post(score_url(w, "score_feedback"), {f"fb-{student.id}": text}, **HTMX)


def _comment_events(w, student) -> list[AuditEvent]:
    return [
        e
        for e in audit(w, student_id=student.id)
        if "comment" in (e.before or {}) or "comment" in (e.after or {})
    ]


def test_every_change_of_a_comment_is_in_the_audit_trail_with_the_old_text(
    client, world_a, in_school
):
    w = world_a
    s = w.students[1]
    client.force_login(w.teacher)
    assert _comment(client, w, s, "Show your steps.").status_code == 200
    assert _comment(client, w, s, "Show every step, then check.").status_code == 200
    assert _comment(client, w, s, "").status_code == 200  # removes the comment
    with in_school(w):
        assert not AssessmentFeedback.objects.filter(school=w.school, student=s).exists()
    events = _comment_events(w, s)
    assert [(e.before, e.after) for e in events] == [
        (None, {"comment": "Show your steps.", "assessment": w.assessment.id}),
        (
            {"comment": "Show your steps.", "assessment": w.assessment.id},
            {"comment": "Show every step, then check.", "assessment": w.assessment.id},
        ),
        ({"comment": "Show every step, then check.", "assessment": w.assessment.id}, None),
    ]
    assert all(e.actor == w.teacher and e.student_id == s.id for e in events)
    assert [e.action for e in events] == ["record", "replace", "clear"]
    # The school's audit page shows them, old and new text, under Evidence.
    client.force_login(w.admin)
    page = text_of(client.get(reverse("audit_log", args=[w.school.slug]), {"type": "evidence"}))
    assert "Show your steps. → Show every step, then check." in page
    assert "Show every step, then check. → —" in page
    assert w.assessment.title in page


def test_an_unchanged_comment_records_nothing(client, world_a):
    w = world_a
    s = w.students[1]
    client.force_login(w.teacher)
    _comment(client, w, s, "Good start.")
    _comment(client, w, s, "  Good start. ")  # the same text, saved again
    _comment(client, w, s, "")
    _comment(client, w, s, "")  # nothing to remove
    assert [e.action for e in _comment_events(w, s)] == ["record", "clear"]


def test_a_comment_changed_from_the_no_javascript_grid_is_audited(client, world_a):
    w = world_a
    s = w.students[1]
    client.force_login(w.teacher)
    response = client.post(score_url(w, "score"), {f"fb-{s.id}": "Check the units."})
    assert response.status_code == 302
    events = _comment_events(w, s)
    assert len(events) == 1 and events[0].after["comment"] == "Check the units."
    assert events[0].source == "grid"


def test_a_comment_refused_records_nothing(client, world_a):
    w = world_a
    s = w.students[1]
    client.force_login(w.teacher)
    assert _comment(client, w, s, "x" * 4001).status_code == 422
    assert _comment_events(w, s) == []


def test_changing_only_the_feedback_of_a_score_keeps_the_old_feedback_and_audits_it(
    client, world_a, in_school
):
    """Evidence feedback (the reassessment form's, the API's) is part of the attempt: a new text
    voids the row holding the old one, which stays, and the change is in the trail."""
    w = world_a
    s, t = w.students[1], w.targets[0]
    client.force_login(w.teacher)
    retake = {"value": "3", "assessed_on": date.today().isoformat(), "feedback": "First note."}
    client.post(cell_url(w, s, t, "cell_reassess"), retake)
    with in_school(w):
        made = Assessment.objects.get(school=w.school, kind="reassessment")
    client.post(
        cell_url(w, s, t, "cell_reassess"),
        {**retake, "feedback": "Second note.", "assessment": made.id},
    )
    with in_school(w):
        rows = list(
            Evidence.objects.filter(school=w.school, assessment=made)
            .order_by("id")
            .values_list("feedback", "voided_at")
        )
    assert [f for f, _ in rows] == ["First note.", "Second note."]
    assert rows[0][1] is not None and rows[1][1] is None
    events = audit(w, student_id=s.id, target_id=t.id)
    assert events[-1].before["feedback"] == "First note."
    assert events[-1].after["feedback"] == "Second note."
    assert "feedback changed" in events[-1].summary


# --- 3. A reassessment submitted twice records one attempt ---------------------------------------

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def _reassess_form(client, w, student, target) -> tuple[str, dict]:
    """The reassessment form of the cell detail as the browser holds it: action and hidden fields."""
    page = client.get(cell_url(w, student, target)).content.decode()
    form = re.search(r'<form method="post" action="([^"]*reassess/)"(.*?)</form>', page, re.S)
    assert form, "the cell detail shows a reassessment form"
    return html.unescape(form[1]), {k: html.unescape(v) for k, v in HIDDEN.findall(form[2])}


def _attempts(w, student, target) -> list[tuple]:
    with scope(school=w.school):
        return list(
            Evidence.objects.filter(
                school=w.school, student=student, target=target, kind="reassessment"
            ).values_list("assessment_id", "score", "voided_at")
        )


def test_a_double_clicked_reassessment_records_one_attempt(client, world_a, in_school):
    w = world_a
    s, t = w.students[1], w.targets[0]
    client.force_login(w.teacher)
    action, hidden = _reassess_form(client, w, s, t)
    typed = {"value": "3", "assessed_on": date.today().isoformat(), "feedback": "Solid."}
    first = client.post(action, {**hidden, **typed})
    second = client.post(action, {**hidden, **typed})  # the same form, sent again
    assert first.status_code == 302 and second.status_code == 302
    assert len(_attempts(w, s, t)) == 1
    with in_school(w):
        assert Assessment.objects.filter(school=w.school, kind="reassessment").count() == 1
    assert len(audit(w, student_id=s.id, target_id=t.id)) == 1
    # The same double click with htmx (the dialog) is the same one attempt.
    action, hidden = _reassess_form(client, w, s, t)
    typed["assessed_on"] = (date.today() - timedelta(days=1)).isoformat()
    for _ in range(2):
        assert client.post(action, {**hidden, **typed}, **HTMX).status_code == 200
    assert len(_attempts(w, s, t)) == 2


def test_two_real_reassessments_on_the_same_day_are_both_recorded(client, world_a):
    w = world_a
    s, t = w.students[1], w.targets[0]
    client.force_login(w.teacher)
    typed = {"value": "3", "assessed_on": date.today().isoformat(), "feedback": ""}
    for _ in range(2):  # the same values, from two forms: two retakes of the day
        action, hidden = _reassess_form(client, w, s, t)
        assert client.post(action, {**hidden, **typed}).status_code == 302
    assert len(_attempts(w, s, t)) == 2


def test_a_refused_reassessment_can_be_corrected_and_sent_with_the_same_form(client, world_a):
    w = world_a
    s, t = w.students[1], w.targets[0]
    client.force_login(w.teacher)
    action, hidden = _reassess_form(client, w, s, t)
    typed = {"value": "2.996", "assessed_on": date.today().isoformat(), "feedback": ""}
    assert client.post(action, {**hidden, **typed}).status_code == 422
    assert client.post(action, {**hidden, **typed, "value": "3"}).status_code == 302
    assert len(_attempts(w, s, t)) == 1


def test_a_form_reused_for_another_score_or_cell_records_that_attempt(client, world_a):
    """The token only recognises the same attempt sent again: a form reused (the browser's back
    button) for another score, or (tampered with) for another student, records what it says."""
    w = world_a
    s, t = w.students[1], w.targets[0]
    client.force_login(w.teacher)
    action, hidden = _reassess_form(client, w, s, t)
    typed = {"value": "3", "assessed_on": date.today().isoformat(), "feedback": ""}
    assert client.post(action, {**hidden, **typed}).status_code == 302
    assert client.post(action, {**hidden, **typed, "value": "4"}).status_code == 302
    assert sorted(score for _, score, _ in _attempts(w, s, t)) == [Decimal(3), Decimal(4)]
    other = cell_url(w, w.students[2], t, "cell_reassess")
    assert client.post(other, {**hidden, **typed}).status_code == 302
    assert len(_attempts(w, w.students[2], t)) == 1


def test_a_made_up_or_missing_token_is_no_error(client, world_a):
    w = world_a
    s, t = w.students[1], w.targets[0]
    client.force_login(w.teacher)
    action = cell_url(w, s, t, "cell_reassess")
    typed = {"value": "3", "assessed_on": date.today().isoformat(), "feedback": ""}
    for token in ("not-a-token", "", "x" * 5000):
        assert client.post(action, {**typed, "submission": token}).status_code == 302
    assert len(_attempts(w, s, t)) == 3


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_posts_of_the_same_reassessment_record_one_attempt(in_school):
    w = make_world("doubleclick", students=3)
    s, t = w.students[1], w.targets[0]
    clients = [Client(), Client()]
    for c in clients:
        c.force_login(w.teacher)
    action, hidden = _reassess_form(clients[0], w, s, t)
    typed = {"value": "3", "assessed_on": date.today().isoformat(), "feedback": "Solid."}
    barrier, statuses, errors = threading.Barrier(2), [], []

    def post(c):
        try:
            barrier.wait(timeout=10)
            statuses.append(c.post(action, {**hidden, **typed}).status_code)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert statuses == [302, 302]
    assert len(_attempts(w, s, t)) == 1
    with in_school(w):
        assert Assessment.objects.filter(school=w.school, kind="reassessment").count() == 1


# --- 4. The report PDF's footer shows names as they are spelled ----------------------------------


def _pdf_text(content: bytes, tmp_path: Path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(content)
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    return " ".join(text.split())


@pytest.mark.parametrize(
    ("first", "last", "school_name"),
    [
        ("Anne-Marie", "O'Brien", "St. Mary's High"),
        ('Zoë "Zo" \\', "Núñez", 'Escuela "La Paz" \\ Norte'),
        ("Line\nBreak", "Tab\tName", "A;B}C{ /* not a comment */"),
    ],
)
def test_the_report_pdf_footer_shows_the_names_exactly(
    client, world_a, tmp_path, settings, first, last, school_name, in_school
):
    w = world_a
    settings.MEDIA_ROOT = tmp_path  # rendered here, not a PDF kept from an earlier run
    with in_school(w):
        w.school.name = school_name
        w.school.save(update_fields=["name"])
        w.student.first_name, w.student.last_name = first, last
        w.student.save(update_fields=["first_name", "last_name"])
    client.force_login(w.guardian)
    response = client.get(
        reverse("reports:child_report", args=[w.school.slug, w.student.id]),
        {"format": "pdf", "lang": "en"},
    )
    pdf = response.getvalue()
    assert pdf.startswith(b"%PDF")
    text = _pdf_text(pdf, tmp_path)
    name = " ".join(f"{first} {last}".split())
    school = " ".join(school_name.split())
    assert f"{school} · {name} · generated" in text, text[-400:]
    assert "u002D" not in text and "u0027" not in text and "u0022" not in text


def test_a_name_cannot_break_out_of_the_report_pages_style(client, world_a, in_school):
    w = world_a
    with in_school(w):
        w.student.first_name = "</style><script>alert(1)</script>"
        w.student.save(update_fields=["first_name"])
    client.force_login(w.guardian)
    response = client.get(reverse("reports:child_report", args=[w.school.slug, w.student.id]))
    assert response.status_code == 200
    assert b"<script>alert(1)" not in response.content
    style = re.search(rb"<style[^>]*>(.*?)</style>", response.content, re.S)[1]
    assert b"<" not in style


def test_css_string_escapes_by_css_syntax():

    assert css_string("Anne-Marie O'Brien") == "Anne-Marie O'Brien"
    assert css_string('Zoë "Zo" \\ Núñez') == 'Zoë \\"Zo\\" \\\\ Núñez'
    assert css_string("a\nb") == "a\\00000Ab"
    assert css_string("</style>") == "\\00003C/style\\00003E"


# --- 5. The README's API paths are routes of the API ---------------------------------------------


def _readme_api_paths() -> list[str]:
    """Every API path the docs name (the README and docs/*.md): the absolute /api/… ones, and
    those of the REST API page's resource list, which are relative to /api/v1/schools/<slug>/."""
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    # A page ends its last section: each page is read as if a new section followed it.
    readme = "\n## \n".join(page.read_text(encoding="utf-8") for page in docs)
    paths = set(re.findall(r"(/api/[^\s`\"'?)]*)", readme)) - {"/api/v1/"}  # "under /api/v1/"
    section = readme.split("## The REST API", 1)[1].split("\n## ", 1)[0]
    resources = section.split("- **Resources.**", 1)[1].split("\n- **", 1)[0]
    for code in re.findall(r"`([^`]+)`", resources):
        code = code.removeprefix("POST ").removeprefix("GET ").removeprefix("…/")
        if "/" in code:
            paths.add(f"/api/v1/schools/<school-slug>/{code}")
    csv_exports = readme.split("## CSV exports", 1)[1].split("\n## ", 1)[0]
    for code in re.findall(r"`(?:GET )?(…/[^`]+)`", csv_exports):
        paths.add("/api/v1/schools/<school-slug>/" + code.removeprefix("…/"))
    return sorted(paths)


def _concrete(path: str) -> str:
    path = re.sub(r"<(school-slug|slug|school)>", "lincoln-high", path)
    return re.sub(r"<[^>]+>", "12", path)


def test_the_readme_names_its_csv_paths():
    paths = _readme_api_paths()
    assert any(p.endswith("gradebook.csv/") or "gradebook.csv" in p for p in paths)
    assert any("export.csv" in p for p in paths)
    assert len(paths) >= 8, paths


@pytest.mark.parametrize("path", _readme_api_paths())
def test_every_api_path_in_the_readme_resolves_to_an_api_view(path):
    concrete = _concrete(path)
    try:
        match = resolve(concrete)
    except Resolver404:  # pragma: no cover - the API's catch-all answers every path
        pytest.fail(f"README names {path}: not a route")
    assert match.url_name is not None and match.func.__name__ != "api_not_found", (
        f"README names {path} ({concrete}), which only the API's not-found handler answers"
    )


def test_the_readmes_csv_paths_download_the_csv(world_a):
    w = world_a
    token = _api_token(w)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    csv_paths = [p for p in _readme_api_paths() if ".csv" in p]
    assert len(csv_paths) >= 2
    for path in csv_paths:
        concrete = path.replace("<school-slug>", w.school.slug).replace("<slug>", w.school.slug)
        concrete = re.sub(r"<[^>]+>", str(w.section.id), concrete)
        response = api.get(concrete)
        assert response.status_code == 200, (path, response.status_code)
        assert response["Content-Type"].startswith("text/csv")
