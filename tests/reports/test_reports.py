"""Progress reports (real PDFs), the family and student portals, invitations, languages, batches."""

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
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_scopes import scope, scopes_disabled
from weasyprint import HTML

from gradebook.models import CourseTarget, Evidence, Guardianship
from gradebook.selectors.cells import attempt_chart
from gradebook.services.grid import feedback_save
from grading.services import policy_change
from mastery import calculation, pagecache
from mastery.models import LearningTarget, LevelDescriptor, Membership, Role, ScaleLevel
from reports.models import GuardianInvitation, ReportFile, StudentGoal
from reports.rendering import report_language, report_pdf
from reports.services import batches as batch_services
from reports.services.batches import batch_start
from reports.services.invitations import invitation_create
from tests.factories import PASSWORD, make_attempt, make_world
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


@pytest.fixture
def rich(world_a, in_school):
    """Student 0 with two attempts on targets 0 and 1, Spanish texts for the scale and descriptors."""
    w = world_a
    s0 = w.students[0]
    make_attempt(w, s0, w.targets[0], "2", days_ago=20)
    make_attempt(w, s0, w.targets[0], "3", days_ago=10, feedback="Show every step next time.")
    make_attempt(w, s0, w.targets[1], "1", days_ago=15)
    with in_school(w):
        for value, label in (
            (1, "Inicial"),
            (2, "En desarrollo"),
            (3, "Competente"),
            (4, "Avanzado"),
        ):
            ScaleLevel.objects.filter(
                school=w.school, scale__kind="achievement", value=value
            ).update(label_es=label)
        for d in LevelDescriptor.objects.filter(school=w.school):
            d.text_es = f"Nivel {int(d.level_value)} en español de {d.target.code}"
            d.save()
        w.targets[0].statement_es = "Puedo hacer la cosa 1."
        w.targets[0].save()
    return w


# --- The PDF -------------------------------------------------------------------------------------


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


# --- The family portal ---------------------------------------------------------------------------


@pytest.fixture
def two_children(rich, world_b):
    """The guardian of student 0 in school A also has student 0 of school B."""
    with scopes_disabled():
        Membership.objects.create(school=world_b.school, user=rich.guardian, role=Role.GUARDIAN)
        Guardianship.objects.create(
            school=world_b.school, guardian=rich.guardian, student=world_b.students[0]
        )
    return rich, world_b


def test_a_guardian_with_two_children_in_two_schools_sees_both_and_nothing_else(
    client, two_children
):
    a, b = two_children
    client.force_login(a.guardian)
    home = client.get(reverse("home"))
    assert home.status_code == 302 and home["Location"] == reverse("family_home")
    page = client.get(reverse("family_home")).content.decode()
    assert a.student.display_name in page and b.students[0].display_name in page
    assert a.students[1].display_name not in page
    for w, student in ((a, a.student), (b, b.students[0])):
        assert (
            client.get(reverse("reports:child", args=[w.school.slug, student.id])).status_code
            == 200
        )
    # Another family's child, in the same school or across: 404.
    assert (
        client.get(reverse("reports:child", args=[a.school.slug, a.students[1].id])).status_code
        == 404
    )
    assert (
        client.get(
            reverse("reports:child_report", args=[a.school.slug, a.students[1].id])
        ).status_code
        == 404
    )
    assert (
        client.get(reverse("reports:child", args=[a.school.slug, b.students[0].id])).status_code
        == 404
    )


def test_the_child_page_shows_levels_descriptors_feedback_and_opportunities(client, rich):
    client.force_login(rich.guardian)
    page = client.get(
        reverse("reports:child", args=[rich.school.slug, rich.student.id])
    ).content.decode()
    assert "I can do thing 1." in page and "2.65" in page and "Developing" in page
    assert "Next step, to reach Proficient" in page and "Show every step next time." in page
    assert "Chances to show it again" in page and "Latest work" in page
    # The family's navigation leads home to the portal, not to the staff pages.
    for staff_page in ("gradebook:target_list", "intervention:home", "policy"):
        assert reverse(staff_page, args=[rich.school.slug]) not in page
    assert f'href="{reverse("home")}"' in page


# --- The portal's cache (mastery/pagecache.py) --------------------------------------------------


def child_page(client, w) -> str:
    return client.get(reverse("reports:child", args=[w.school.slug, w.student.id])).content.decode()


def test_a_new_score_shows_on_the_cached_child_page_at_once(client, rich):
    w = rich
    client.force_login(w.guardian)
    assert "2.65" in child_page(client, w)  # built and cached
    with scopes_disabled():
        cached = set(cache._cache.get_client().keys("*portal:*:family:*"))
    assert cached, "the child page's body is cached"
    make_attempt(w, w.student, w.targets[0], "4", days_ago=1, feedback="Excellent work.")
    page = child_page(client, w)
    assert "Excellent work." in page and "2.65" not in page


def test_feedback_and_a_policy_change_reach_the_cached_pages(
    client, rich, django_capture_on_commit_callbacks
):
    w = rich
    client.force_login(w.guardian)
    child_page(client, w)
    with scope(school=w.school):
        latest = Evidence.objects.filter(student=w.student, target=w.targets[0]).latest("id")
        feedback_save(
            school=w.school,
            written_by=w.teacher,
            assessment=latest.assessment,
            student_id=w.student.id,
            text="See me about the retake.",
        )
    assert "See me about the retake." in child_page(client, w)
    with scope(school=w.school), django_capture_on_commit_callbacks(execute=True):
        policy_change(school=w.school, changed_by=w.admin, method="highest", note="Best work")
    # The recompute (run inline in tests) rewrites the records: the page says "highest" now.
    assert "the highest score" in child_page(client, w)


def test_the_cached_body_is_the_same_for_every_viewer_and_holds_no_token(client, rich):
    w = rich
    client.force_login(w.guardian)
    first = child_page(client, w)
    client.force_login(w.admin)  # staff preview the family view: the same cached body
    second = child_page(client, w)
    body = re.search(r'<p class="muted">.*', first, re.S).group(0).split("</main>")[0]
    assert body in second
    assert "csrfmiddlewaretoken" not in body and w.guardian.full_name not in body


def test_a_version_bump_is_one_incr_per_key_and_counts_from_nothing(
    rich, django_capture_on_commit_callbacks
):

    redis = cache._cache.get_client(None, write=True)
    keys = [pagecache._student_key(rich.school.id, s.id) for s in rich.students[:3]]
    cache.delete_many(keys)

    def calls(command: str) -> int:
        return redis.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0)

    before = {c: calls(c) for c in ("incrby", "exists", "set")}  # redis-py sends INCRBY
    with django_capture_on_commit_callbacks(execute=True):
        pagecache.students_changed(rich.school.id, [s.id for s in rich.students[:3]])
    # Bumped at once and again at commit: 2, read back as ints by the pages' get_many.
    assert cache.get_many(keys) == dict.fromkeys(keys, 2)
    assert redis.ttl(cache.make_and_validate_key(keys[0])) == -1  # never expires on its own
    assert calls("incrby") - before["incrby"] == 6
    assert calls("exists") == before["exists"] and calls("set") == before["set"]


def test_the_portal_works_when_the_cache_is_down(client, rich, monkeypatch):

    class Down:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise ConnectionError("cache down")

            return fail

    monkeypatch.setattr(pagecache, "cache", Down())
    client.force_login(rich.guardian)
    assert "2.65" in child_page(client, rich)
    make_attempt(rich, rich.student, rich.targets[0], "4", days_ago=1)  # writes go on
    assert "2.65" not in child_page(client, rich)


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_every_write_to_the_family_portal_answers_405_and_changes_nothing(client, rich, method):
    client.force_login(rich.guardian)
    with scopes_disabled():
        before = (StudentGoal.objects.count(), GuardianInvitation.objects.count())
    for url in (
        reverse("family_home"),
        reverse("reports:child", args=[rich.school.slug, rich.student.id]),
        reverse("reports:child_report", args=[rich.school.slug, rich.student.id]),
    ):
        assert getattr(client, method)(url).status_code == 405, url
    with scopes_disabled():
        assert (StudentGoal.objects.count(), GuardianInvitation.objects.count()) == before


def test_a_guardian_cannot_write_anywhere_else_either(client, rich):
    client.force_login(rich.guardian)
    school = rich.school.slug
    score_cell = reverse("gradebook:score_cell", args=[school, rich.section.id, rich.assessment.id])
    writes = [
        (score_cell, {f"c-{rich.student.id}-{rich.targets[0].id}": "4"}),
        (reverse("reports:goal_add", args=[school]), {"target": rich.targets[0].id, "note": "x"}),
        (reverse("policy", args=[school]), {"action": "save"}),
        (reverse("reports:families", args=[school]), {"email": "x@y.z"}),
        (reverse("intervention:cycle_open", args=[school]), {}),
    ]
    for url, data in writes:
        assert client.post(url, data).status_code in (403, 404), url


def test_staff_can_preview_the_family_view_of_a_student_they_may_see(client, rich):
    client.force_login(rich.counselor)
    assert (
        client.get(reverse("reports:child", args=[rich.school.slug, rich.student.id])).status_code
        == 200
    )
    client.force_login(rich.other_teacher)  # does not teach this student
    assert (
        client.get(reverse("reports:child", args=[rich.school.slug, rich.student.id])).status_code
        == 404
    )


# --- The student portal and goals ----------------------------------------------------------------


def test_a_student_sees_their_own_progress_and_sets_goals_their_teacher_sees(
    client, rich, in_school
):
    w = rich
    client.force_login(w.student_user)
    assert client.get(reverse("home"))["Location"] == reverse("reports:me", args=[w.school.slug])
    page = client.get(reverse("reports:me", args=[w.school.slug])).content.decode()
    assert "My progress" in page and "I can do thing 1." in page
    response = client.post(
        reverse("reports:goal_add", args=[w.school.slug]),
        {"target": w.targets[1].id, "note": "Practice set 3 by Friday"},
    )
    assert response.status_code == 302
    with in_school(w):
        goal = StudentGoal.objects.get(student=w.student)
    assert goal.note == "Practice set 3 by Friday"
    # "My goals" names the target as the student reads it, not by its code.
    page = client.get(reverse("reports:me", args=[w.school.slug])).content.decode()
    (listed,) = re.findall(r"<li>[^<]*<strong>[^<]*</strong> Practice set 3 by Friday", page)
    assert "I can do thing 2." in listed and w.targets[1].code not in listed
    client.post(reverse("reports:goal_done", args=[w.school.slug, goal.id]))
    goal.refresh_from_db()
    assert goal.achieved_at is not None
    client.force_login(w.teacher)
    detail = client.get(
        reverse(
            "gradebook:cell_detail",
            args=[w.school.slug, w.section.id, w.student.id, w.targets[1].id],
        )
    )
    assert (
        "The student&#x27;s goals" in detail.content.decode()
        or "The student's goals" in detail.content.decode()
    )
    assert "Practice set 3 by Friday" in detail.content.decode()


def test_a_student_cannot_set_a_goal_outside_their_courses_or_see_others(client, rich, world_b):
    w = rich
    client.force_login(w.student_user)
    client.post(
        reverse("reports:goal_add", args=[w.school.slug]),
        {"target": world_b.targets[0].id, "note": "x"},
    )
    with scopes_disabled():
        assert not StudentGoal.objects.exists()
    assert (
        client.get(reverse("reports:child", args=[w.school.slug, w.students[1].id])).status_code
        == 404
    )
    client.force_login(w.guardian)  # a guardian is not a student
    assert client.get(reverse("reports:me", args=[w.school.slug])).status_code == 403


# --- Invitations ---------------------------------------------------------------------------------


def test_a_guardian_joins_with_the_invitation_link_sets_a_password_and_sees_the_children(
    client, rich
):
    w = rich
    client.force_login(w.counselor)
    response = client.post(
        reverse("reports:families", args=[w.school.slug]),
        {
            "full_name": "Rosa Díaz",
            "email": "Rosa@Example.test",
            "language": "es",
            "relationship": "mother",
            "students": [w.students[1].id, w.students[2].id],
        },
    )
    assert response.status_code == 200
    page = response.content.decode()
    link = re.search(r"http://testserver(/invite/[\w-]+/)", page).group(1)
    code = re.search(r'class="letter__code">([A-Z0-9-]+)<', page).group(1)
    assert "Estimado/a Rosa Díaz" in page and code
    with scopes_disabled():
        invitation = GuardianInvitation.objects.get()
    assert code not in invitation.code_digest and link.split("/")[2] not in invitation.token_digest

    visitor = Client()
    form = visitor.get(link)
    assert (
        form.status_code == 200 and "Unirse al portal para familias" in form.content.decode()
    )  # in her language
    joined = visitor.post(
        link,
        {
            "full_name": "Rosa Díaz",
            "language": "es",
            "password1": "a-long-passphrase",
            "password2": "a-long-passphrase",
        },
    )
    assert joined.status_code == 302 and joined["Location"] == reverse("family_home")
    family = visitor.get(reverse("family_home")).content.decode()
    assert w.students[1].display_name in family and w.students[2].display_name in family
    assert w.students[0].display_name not in family
    assert Client().login(username="rosa@example.test", password="a-long-passphrase")
    # Used once: the same link, and the code, no longer work.
    assert Client().get(link).status_code == 404
    again = Client().post(reverse("invitation_code"), {"code": code})
    assert again.status_code == 422 and "not valid" in again.content.decode()


def test_a_guardian_can_join_with_the_code_from_the_letter(rich, in_school):
    with scope(school=rich.school):
        invitation, token, code = invitation_create(
            school=rich.school,
            created_by=rich.admin,
            email="dad@example.test",
            full_name="Dad",
            language="en",
            students=[rich.students[2]],
        )
    visitor = Client()
    step = visitor.post(reverse("invitation_code"), {"code": code.lower().replace("-", " ")})
    assert step.status_code == 302
    done = visitor.post(
        step["Location"],
        {
            "full_name": "Dad",
            "language": "en",
            "password1": "dad-password-2026",
            "password2": "dad-password-2026",
        },
    )
    assert done.status_code == 302
    with in_school(rich):
        assert Guardianship.objects.filter(
            guardian__email="dad@example.test", student=rich.students[2]
        ).exists()


def test_an_expired_or_mistyped_invitation_is_refused_clearly(rich):
    with scope(school=rich.school):
        invitation, token, code = invitation_create(
            school=rich.school,
            created_by=rich.admin,
            email="late@example.test",
            full_name="Late",
            language="en",
            students=[rich.students[2]],
        )
    with scopes_disabled():
        GuardianInvitation.objects.filter(pk=invitation.pk).update(expires_at=invitation.created_at)
    assert Client().get(reverse("invitation_accept", args=[token])).status_code == 404
    wrong = Client().post(reverse("invitation_code"), {"code": "AAAAA-BBBBB"})
    assert wrong.status_code == 422


def test_an_existing_account_is_asked_to_log_in_before_accepting(client, rich, in_school):
    with scope(school=rich.school):
        _, token, _ = invitation_create(
            school=rich.school,
            created_by=rich.admin,
            email=rich.teacher.email,
            full_name="Tess",
            language="en",
            students=[rich.students[2]],
        )
    visitor = Client()
    response = visitor.get(reverse("invitation_accept", args=[token]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    visitor.login(username=rich.teacher.email, password=PASSWORD)
    accepted = visitor.post(
        reverse("invitation_accept", args=[token]), {"full_name": "Tess", "language": "en"}
    )
    assert accepted.status_code == 302
    with in_school(rich):
        assert Guardianship.objects.filter(guardian=rich.teacher, student=rich.students[2]).exists()


def test_only_admins_and_counselors_invite_families(client, rich):
    client.force_login(rich.teacher)
    assert client.get(reverse("reports:families", args=[rich.school.slug])).status_code == 403


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


# --- Batches -------------------------------------------------------------------------------------


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
