"""The family and student portals (phone-first), the progress report, invitations.

The portals read; the writes are few and named: students set their own goals, and students and
families (where the school's rules let them) ask for a reassessment and withdraw their request.
Every other family page answers GET (and HEAD) only, anything else 405. A child who is not the
guardian's answers 404, and so does a request of another child.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import content_disposition_header
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from gradebook.models import GradingPeriod, Guardianship, Mastery, Student, Submission
from gradebook.permissions import visible_sections, visible_students
from gradebook.selectors import files as file_reads
from gradebook.selectors.common import level_infos
from gradebook.selectors.reassessment import (
    BY_FAMILY,
    BY_STUDENT,
    request_check,
)
from gradebook.services.evidence import EvidenceError
from gradebook.services.requests import request_create, request_withdraw
from gradebook.services.self_assessment import (
    self_assessment_record,
    self_assessment_withdraw,
)
from gradebook.services.submissions import submission_create, submission_withdraw
from grading.policies import policy_for_course
from grading.rules import rules_statement
from marks.services import school_today
from mastery import pagecache as portal_cache
from mastery.auth import client_address
from mastery.decorators import roles_required
from mastery.models import LearningTarget, Role
from mastery.selectors import achievement_levels
from mastery.tenancy import all_schools, enter_school
from reports import report_cards, selectors
from reports.forms import (
    AcceptInvitationForm,
    BatchForm,
    CodeForm,
    GoalForm,
    InvitationForm,
    ReportCardBatchForm,
)
from reports.models import GuardianInvitation, ReportBatch, ReportFile, StudentGoal
from reports.rendering import report_language
from reports.services.batches import batch_start, report_card_pdf_file, report_pdf_file
from reports.services.goals import goal_achieve, goal_create
from reports.services.invitations import (
    invitation_accept,
    invitation_create,
    invitation_find,
    invitation_needs,
)
from reports.services.records import student_records_export

FAMILY_STAFF = (Role.SCHOOL_ADMIN, Role.COUNSELOR)


# --- Families ------------------------------------------------------------------------------------


@require_safe
@login_required
def family_home(request):
    """A guardian's children, across every school."""
    children = selectors.guardian_children(request.user)
    if not children:
        messages.info(
            request, _("No child is linked to your account yet. Ask the school for an invitation.")
        )
    return render(request, "reports/family_home.html", {"children": children})


def _child_for(request, student_id: int) -> Student:
    """The guardian's own child (or, for staff previewing the family view, a student they can see)."""
    school, user = request.school, request.user
    own = Student.objects.filter(school=school, pk=student_id, guardianships__guardian=user).first()
    if own is not None:
        return own
    if request.access.is_staff:
        student = visible_students(request.access, user).filter(pk=student_id).first()
        if student is not None:
            return student
    raise Http404("No such child")


def _child_body(request, student: Student, *, is_student: bool, report_url: str) -> dict:
    """The body of a child's page and the level colours it uses: the same for every viewer of
    that view, so cached (mastery/pagecache.py)."""

    def render_body() -> dict:
        report = selectors.student_report(
            school=request.school, student=student, with_goals=is_student
        )
        html = render_to_string(
            "reports/_child_body.html",
            {
                "school": request.school,
                "student": student,
                "report": report,
                "is_student": is_student,
                "upcoming": selectors.upcoming_reassessments(
                    school=request.school, student=student
                ),
                "asks": report.may_ask.get(BY_STUDENT if is_student else BY_FAMILY, set()),
                "report_url": report_url,
            },
        )
        return {"html": html, "levels": report.levels}

    cached = portal_cache.fragment(
        school_id=request.school.id,
        student_id=student.id,
        name="student" if is_student else "family",
        language=translation.get_language(),
        render=render_body,
    )
    return {"html": mark_safe(cached["html"]), "levels": cached["levels"]}


@require_safe
def child_page(request, school_slug: str, student_id: int):
    student = _child_for(request, student_id)
    report_url = reverse("reports:child_report", args=[school_slug, student.id])
    body = _child_body(request, student, is_student=False, report_url=report_url)
    return render(
        request,
        "reports/child.html",
        {
            "student": student,
            "levels": body["levels"],
            "body": body["html"],
            "my_requests": selectors.student_requests(school=request.school, student=student),
            "own_child": _is_guardian(request, student),
            "work_files": file_reads.student_files(school=request.school, student=student),
        },
    )


def _report_response(request, student, back_url: str):
    language = report_language(student, request.GET.get("lang") or translation.get_language())
    filename = f"progress-report-{student.last_name}-{student.first_name}-{language}.pdf".replace(
        " ", "-"
    )
    if request.GET.get("format") == "pdf":
        path, _, _ = report_pdf_file(school=request.school, student=student, language=language)
        return FileResponse(
            path.open("rb"), content_type="application/pdf", filename=filename, as_attachment=False
        )
    with translation.override(language):
        report = selectors.student_report(school=request.school, student=student)
        return render(
            request,
            "reports/progress_report.html",
            {
                "report": report,
                "pdf": False,
                "back_url": back_url,
                "lang_param": request.GET.get("lang", ""),
            },
        )


@require_safe
def child_report(request, school_slug: str, student_id: int):
    student = _child_for(request, student_id)
    return _report_response(
        request, student, reverse("reports:child", args=[school_slug, student.id])
    )


# --- Report cards of record (families, students, staff) ---------------------------------------
# Every period the student has posted marks in has a card; any other period answers 404, as does
# a child who is not the guardian's. The card is in the viewer's language unless ?lang= asks.


def _released_by(request):
    """Families and students read a period's cards once released (report_cards.released);
    staff read them from the first mark posted."""
    return None if request.access.is_staff else school_today(request.school)


def _report_card_response(request, student: Student, period_id: int, *, back_url: str):
    period = report_cards.posted_period(
        school=request.school,
        student=student,
        period_id=period_id,
        released_by=_released_by(request),
    )
    if period is None:
        raise Http404("No report card for this period")
    language = report_language(student, request.GET.get("lang") or translation.get_language())
    if request.GET.get("format") == "pdf":
        path, _, _ = report_card_pdf_file(
            school=request.school, student=student, period=period, language=language
        )
        filename = (
            f"report-card-{student.last_name}-{student.first_name}-{period.name}-{language}.pdf"
        ).replace(" ", "-")
        return FileResponse(
            path.open("rb"), content_type="application/pdf", filename=filename, as_attachment=False
        )
    with translation.override(language):
        card = report_cards.report_card(school=request.school, student=student, period=period)
        return render(
            request,
            "reports/report_card.html",
            {
                "card": card,
                "pdf": False,
                "back_url": back_url,
                # The language resolved (a known one), never the raw parameter.
                "lang_param": language if request.GET.get("lang") else "",
            },
        )


def _report_cards_page(request, student: Student, *, card_url, back_url: str, is_student: bool):
    periods = report_cards.posted_periods(
        school=request.school, student=student, released_by=_released_by(request)
    )
    return render(
        request,
        "reports/report_cards.html",
        {
            "student": student,
            "is_student": is_student,
            "back_url": back_url,
            "cards": [(period, card_url(period)) for period in periods],
        },
    )


@require_safe
def child_report_cards(request, school_slug: str, student_id: int):
    student = _child_for(request, student_id)
    return _report_cards_page(
        request,
        student,
        card_url=lambda p: reverse(
            "reports:child_report_card", args=[school_slug, student.id, p.id]
        ),
        back_url=reverse("reports:child", args=[school_slug, student.id]),
        is_student=False,
    )


@require_safe
def child_report_card(request, school_slug: str, student_id: int, period_id: int):
    student = _child_for(request, student_id)
    return _report_card_response(
        request,
        student,
        period_id,
        back_url=reverse("reports:child_report_cards", args=[school_slug, student.id]),
    )


@require_safe
def my_report_cards(request, school_slug: str):
    student = _own_record(request)
    return _report_cards_page(
        request,
        student,
        card_url=lambda p: reverse("reports:my_report_card", args=[school_slug, p.id]),
        back_url=reverse("reports:me", args=[school_slug]),
        is_student=True,
    )


@require_safe
def my_report_card(request, school_slug: str, period_id: int):
    student = _own_record(request)
    return _report_card_response(
        request, student, period_id, back_url=reverse("reports:my_report_cards", args=[school_slug])
    )


@require_safe
def staff_report_card(request, school_slug: str, student_id: int, period_id: int):
    """Staff read a student's report card as the family does (a student they may see)."""
    if not request.access.is_staff:
        raise PermissionDenied("Your role in this school does not include this page.")
    student = visible_students(request.access, request.user).filter(pk=student_id).first()
    if student is None:
        raise Http404("No such student")
    return _report_card_response(
        request,
        student,
        period_id,
        back_url=reverse("reports:child_report_cards", args=[school_slug, student.id]),
    )


# --- Students ----------------------------------------------------------------------------------


def _own_record(request) -> Student:
    if not request.access.has(Role.STUDENT):
        raise PermissionDenied(_("This page is for students."))
    student = Student.objects.filter(school=request.school, user=request.user).first()
    if student is None:
        raise Http404("No student record for this account")
    return student


@require_safe
def student_home(request, school_slug: str):
    student = _own_record(request)
    report_url = reverse("reports:my_report", args=[school_slug])
    body = _child_body(request, student, is_student=True, report_url=report_url)
    return render(
        request,
        "reports/child.html",
        {
            "student": student,
            "levels": body["levels"],
            "is_student": True,
            "goal_form": GoalForm(targets=selectors.student_targets(request.school, student)),
            "goals": StudentGoal.objects.filter(
                school=request.school, student=student
            ).select_related("target"),
            "body": body["html"],
            "my_requests": selectors.student_requests(school=request.school, student=student),
            "work_files": file_reads.student_files(school=request.school, student=student),
            "pending_work": file_reads.student_submissions(
                school=request.school, student=student, pending=True
            ),
        },
    )


@require_http_methods(["GET", "POST"])
def my_work(request, school_slug: str):
    """The student hands in work on a target (photos from the phone's camera, or files), and
    sees what they sent. Pending until a teacher scores it; it counts only then."""
    student = _own_record(request)
    targets = selectors.student_targets(request.school, student)
    by_id = {t.id: t for t in targets}
    errors: list[str] = []
    form = {"title": "", "note": "", "chosen": None}
    if request.method == "POST":
        form = {
            "title": request.POST.get("title", ""),
            "note": request.POST.get("note", ""),
            "chosen": _int(request.POST.get("target")),
        }
        target = by_id.get(form["chosen"] or 0)
        if target is None:
            errors = [_("Choose one of your learning targets.")]
        else:
            try:
                submission_create(
                    school=request.school,
                    student=student,
                    target=target,
                    title=form["title"],
                    note=form["note"],
                    uploads=[f for f in request.FILES.getlist("files") if f.size],
                    submitted_by=request.user,
                    token=request.POST.get("token", ""),
                )
            except EvidenceError as exc:
                errors = exc.messages
            else:
                messages.success(
                    request, _("Your work is sent. It counts once your teacher scores it.")
                )
                return redirect(reverse("reports:my_work", args=[school_slug]))
    return render(
        request,
        "reports/my_work.html",
        {
            "student": student,
            "targets": targets,
            "submissions": file_reads.student_submissions(school=request.school, student=student),
            "errors": errors,
            "token": uuid.uuid4().hex,
            "max_files": settings.EVIDENCE_FILES_PER_UPLOAD,
            "max_mb": settings.EVIDENCE_FILE_MAX_BYTES // (1024 * 1024),
            **form,
        },
        status=422 if errors else 200,
    )


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@require_POST
def my_work_withdraw(request, school_slug: str, submission_id: int):
    student = _own_record(request)
    found = Submission.objects.filter(
        school=request.school, id=submission_id, student=student
    ).first()
    if found is None:
        raise Http404("No such submission")
    try:
        submission_withdraw(
            school=request.school, submission_id=found.id, withdrawn_by=request.user
        )
    except EvidenceError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Your work is withdrawn."))
    return redirect(reverse("reports:my_work", args=[school_slug]))


@require_safe
def student_report(request, school_slug: str):
    student = _own_record(request)
    return _report_response(request, student, reverse("reports:me", args=[school_slug]))


@require_POST
def goal_add(request, school_slug: str):
    student = _own_record(request)
    form = GoalForm(request.POST, targets=selectors.student_targets(request.school, student))
    if form.is_valid():
        goal_create(
            school=request.school,
            student=student,
            target=form.cleaned_data["target"],
            note=form.cleaned_data["note"],
        )
        messages.success(request, _("Your goal is saved. Your teacher can see it."))
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect("reports:me", school_slug=school_slug)


@require_POST
def goal_done(request, school_slug: str, goal_id: int):
    student = _own_record(request)
    try:
        goal_achieve(school=request.school, student=student, goal_id=goal_id)
    except ValidationError:
        raise Http404("No such goal") from None
    messages.success(request, _("Well done! The goal is marked as reached."))
    return redirect("reports:me", school_slug=school_slug)


# --- Self-assessments (the student's own; families read them on the child's page) ---------------


@require_http_methods(["GET", "POST"])
def student_self_assessment(request, school_slug: str, target_id: int):
    """The student rates themselves on one of their targets, with a short reflection: the
    rubric's levels to choose from, their earlier ratings and the teachers' answers."""
    student = _own_record(request)
    target = _request_target(request, student, target_id)
    values = {"score": "", "reflection": ""}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in values}
        try:
            self_assessment_record(
                school=request.school,
                student=student,
                target=target,
                score=values["score"],
                reflection=values["reflection"],
                recorded_by=request.user,
                token=request.POST.get("submission", ""),
            )
        except EvidenceError as exc:
            errors = exc.message_dict
        else:
            messages.success(
                request, _("Your rating is saved. Your teachers and your family can see it.")
            )
            return redirect(
                "reports:my_self_assessment", school_slug=school_slug, target_id=target.id
            )
    return render(
        request,
        "reports/self_assessment.html",
        {
            **selectors.self_assessment_page(school=request.school, student=student, target=target),
            "values": values,
            "errors": errors,
            "submission_token": uuid.uuid4().hex,  # one rating per form, however often sent
            "back": reverse("reports:me", args=[school_slug]),
        },
        status=422 if errors else 200,
    )


@require_POST
def student_self_assessment_withdraw(request, school_slug: str, rating_id: int):
    student = _own_record(request)
    try:
        rating = self_assessment_withdraw(
            school=request.school, student=student, rating_id=rating_id, withdrawn_by=request.user
        )
    except EvidenceError:
        raise Http404("No such rating") from None
    messages.success(request, _("The rating is withdrawn. Nobody else sees it now."))
    return redirect(
        "reports:my_self_assessment", school_slug=school_slug, target_id=rating.target_id
    )


# --- Invitations ---------------------------------------------------------------------------------


@roles_required(*FAMILY_STAFF)
def families(request, school_slug: str):
    """Staff: invite guardians to the portal, see who has joined."""
    school = request.school
    form = InvitationForm(request.POST or None, school=school)
    created = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        invitation, token, code = invitation_create(
            school=school,
            created_by=request.user,
            email=data["email"],
            full_name=data["full_name"],
            language=data["language"],
            students=list(data["students"]),
            relationship=data["relationship"],
        )
        created = {
            "invitation": invitation,
            "code": code,
            "link": request.build_absolute_uri(reverse("invitation_accept", args=[token])),
            "start": request.build_absolute_uri(reverse("invitation_code")),
        }
        form = InvitationForm(school=school)
    invitations = GuardianInvitation.objects.filter(school=school).select_related("accepted_by")[
        :50
    ]
    names = dict(Student.objects.filter(school=school).values_list("id", "last_name"))
    return render(
        request,
        "reports/families.html",
        {"form": form, "created": created, "invitations": invitations, "names": names},
        status=422 if request.method == "POST" and not created else 200,
    )


def _throttled(request) -> bool:

    key = f"invite-tries:{client_address(request)}"
    cache.add(key, 0, 900)
    try:
        return cache.incr(key) > 30
    except ValueError:
        return False


@require_http_methods(["GET", "POST"])
def invitation_code(request):
    """Public: a guardian types the code from the letter the school sent home."""
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if _throttled(request):
            form.add_error("code", _("Too many tries. Wait a few minutes and try again."))
        else:
            found = invitation_find(code=form.cleaned_data["code"])
            if found is None:
                form.add_error(
                    "code", _("That code is not valid, or it was already used or has expired.")
                )
            else:
                request.session["invitation"] = found.id
                return redirect("invitation_accept_code")
    return render(
        request, "reports/invitation_code.html", {"form": form}, status=422 if form.errors else 200
    )


@require_http_methods(["GET", "POST"])
def invitation_accept_view(request, token: str | None = None):
    """Public: the guardian confirms their name, chooses a password and joins the portal."""
    if token is not None:
        invitation = invitation_find(token=token)
    else:
        with all_schools():  # the school is not known yet: the invitation says which
            invitation = GuardianInvitation.objects.filter(
                pk=request.session.get("invitation") or 0
            ).first()
        invitation = invitation if invitation is not None and invitation.usable else None
    if invitation is None:
        return render(request, "reports/invitation_invalid.html", status=404)
    translation.activate(invitation.language)
    request.LANGUAGE_CODE = invitation.language
    needs = invitation_needs(invitation, request.user)
    if needs == "signin":
        # Someone owns that account: only they accept, by signing in (never by a new password).
        messages.info(
            request,
            _(
                "You already have an account: log in, then open the invitation again. "
                "Never signed in? Use “Forgot your password?” to get a link at your address."
            ),
        )
        return redirect(f"{reverse('login')}?next={request.get_full_path()}")
    needs_password = needs == "password"
    form = AcceptInvitationForm(
        request.POST or None,
        needs_password=needs_password,
        initial={"full_name": invitation.full_name},
    )
    with enter_school(invitation.school):
        children = list(
            Student.objects.filter(school=invitation.school, pk__in=invitation.students)
        )
        if request.method == "POST" and form.is_valid():
            try:
                user = invitation_accept(
                    invitation=invitation,
                    user=request.user,
                    full_name=form.cleaned_data["full_name"],
                    password=form.cleaned_data.get("password1"),
                    language=form.cleaned_data["language"],
                )
            except ValidationError as exc:  # used meanwhile, or the address got an owner
                form.add_error(None, exc)
        if request.method == "POST" and form.is_valid():
            request.session.pop("invitation", None)
            login(request, user, backend="mastery.auth.EmailBackend")
            messages.success(
                request, _("Welcome! You can now follow your children's progress here.")
            )
            return redirect("family_home")
    return render(
        request,
        "reports/invitation_accept.html",
        {
            "invitation": invitation,
            "children": children,
            "form": form,
            "needs_password": needs_password,
        },
        status=422 if form.errors else 200,
    )


# --- Report batches ------------------------------------------------------------------------------

BATCH_ROLES = (Role.SCHOOL_ADMIN, Role.COUNSELOR, Role.TEACHER)


def _batches_for(request):

    batches = ReportBatch.objects.filter(school=request.school).select_related(
        "section__course", "requested_by", "period"
    )
    if not request.access.has(*FAMILY_STAFF):
        batches = batches.filter(requested_by=request.user)
    return batches


@roles_required(*BATCH_ROLES)
def batches(request, school_slug: str):
    """Start a batch of progress reports (a teacher: their sections; admins: grade or school)."""

    school = request.school
    manager = request.access.has(*FAMILY_STAFF)
    sections = list(
        visible_sections(request.access, request.user)
        .select_related("course")
        .order_by("course__name", "period")
    )
    grades = (
        sorted(
            set(
                Student.objects.filter(school=school)
                .exclude(grade_level=None)
                .values_list("grade_level", flat=True)
            )
        )
        if manager
        else []
    )
    form = BatchForm(request.POST or None, sections=sections, grades=grades, whole_school=manager)
    if request.method == "POST" and form.is_valid():
        scope_value = form.cleaned_data["scope"]
        section = grade = None
        if scope_value.startswith("section:"):
            section = next(s for s in sections if str(s.id) == scope_value.split(":")[1])
        elif scope_value.startswith("grade:"):
            grade = int(scope_value.split(":")[1])
        try:
            batch = batch_start(
                school=school,
                requested_by=request.user,
                section=section,
                grade_level=grade,
                language=form.cleaned_data["language"],
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            return redirect("reports:batch", school_slug=school_slug, batch_id=batch.id)
    return render(
        request,
        "reports/batches.html",
        {"form": form, "batches": _batches_for(request)[:20]},
        status=422 if request.method == "POST" else 200,
    )


@roles_required(*BATCH_ROLES)
def batch_detail(request, school_slug: str, batch_id: int):

    batch = _batches_for(request).filter(pk=batch_id).first()
    if batch is None:
        raise Http404("No such batch")
    failures = ReportFile.objects.filter(
        school=request.school, batch=batch, status=ReportFile.Status.FAILED
    ).select_related("student")
    template = "reports/batch.html#progress" if request.htmx else "reports/batch.html"
    return render(request, template, {"batch": batch, "failures": failures})


@require_safe
@roles_required(*BATCH_ROLES)
def batch_download(request, school_slug: str, batch_id: int):

    batch = _batches_for(request).filter(pk=batch_id).first()
    if (
        batch is None
        or not batch.finished
        or not batch.zip_path
        or not Path(batch.zip_path).exists()
    ):
        raise Http404("No such zip")
    name = "report-cards" if batch.is_report_card else "progress-reports"
    return FileResponse(
        open(batch.zip_path, "rb"), as_attachment=True, filename=f"{name}-{batch.id}.zip"
    )


@roles_required(Role.SCHOOL_ADMIN)
def report_card_batches(request, school_slug: str):
    """School admins: report cards of record as of a grading period, for a section, a grade
    level or the school, rendered in Celery into one zip (as progress reports are)."""

    school = request.school
    sections = list(
        visible_sections(request.access, request.user)
        .select_related("course", "term")
        .order_by("-term__starts_on", "course__name", "period")
    )
    grades = sorted(
        set(
            Student.objects.filter(school=school)
            .exclude(grade_level=None)
            .values_list("grade_level", flat=True)
        )
    )
    periods = list(
        GradingPeriod.objects.filter(school=school)
        .select_related("term")
        .order_by("-ends_on", "name")
    )
    form = ReportCardBatchForm(
        request.POST or None, sections=sections, grades=grades, periods=periods
    )
    if request.method == "POST" and form.is_valid():
        scope_value = form.cleaned_data["scope"]
        section = grade = None
        if scope_value.startswith("section:"):
            section = next(s for s in sections if str(s.id) == scope_value.split(":")[1])
        elif scope_value.startswith("grade:"):
            grade = int(scope_value.split(":")[1])
        period = next(p for p in periods if str(p.id) == form.cleaned_data["period"])
        try:
            batch = batch_start(
                school=school,
                requested_by=request.user,
                section=section,
                grade_level=grade,
                language=form.cleaned_data["language"],
                period=period,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            return redirect("reports:batch", school_slug=school_slug, batch_id=batch.id)
    return render(
        request,
        "reports/report_card_batches.html",
        {
            "form": form,
            "batches": _batches_for(request).filter(kind=ReportBatch.Kind.REPORT_CARD)[:20],
        },
        status=422 if request.method == "POST" else 200,
    )


# --- Records requests ----------------------------------------------------------------------------


@require_safe
@roles_required(Role.SCHOOL_ADMIN)
def student_records(request, school_slug: str, student_id: int):
    """Everything the school holds about one student, downloaded as one JSON file."""

    student = (
        Student.objects.filter(school=request.school, pk=student_id).select_related("user").first()
    )
    if student is None:
        raise Http404("No such student")
    records = student_records_export(
        school=request.school, student=student, requested_by=request.user, source="web"
    )
    response = HttpResponse(
        json.dumps(records, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2),
        content_type="application/json; charset=utf-8",
    )
    filename = f"student-records-{request.school.slug}-{student.local_id}.json"
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Cache-Control"] = "no-store"  # a student's whole record stays out of caches
    return response


# --- Reassessment requests (students, and families where the rules allow) ----------------------


def _is_guardian(request, student: Student) -> bool:
    return Guardianship.objects.filter(
        school=request.school, student=student, guardian=request.user
    ).exists()


def _own_child(request, student_id: int) -> Student:
    """The guardian's own child: staff previewing the family view may read, never ask."""
    student = Student.objects.filter(
        school=request.school, pk=student_id, guardianships__guardian=request.user
    ).first()
    if student is None:
        raise Http404("No such child")
    return student


def _request_target(request, student: Student, target_id: int) -> LearningTarget:
    target = selectors.student_targets_by_id(request.school, student).get(target_id)
    if target is None:
        raise Http404("No such learning target in this student's courses")
    return target


def _request_page(request, *, student: Student, target: LearningTarget, by: str, back: str):
    """The request page: the rules applied to this target today, then the note and Send.

    GET shows which rules are met and which are not before anything is sent; POST sends (the
    rules are checked again) and returns to the portal, or shows the page again with why not."""
    note, errors = "", []
    if request.method == "POST":
        note = request.POST.get("note", "")
        try:
            request_create(
                school=request.school,
                requested_by=request.user,
                student=student,
                target=target,
                by=by,
                note=note,
            )
        except EvidenceError as exc:
            errors = exc.messages
        else:
            messages.success(request, _("Your request is sent. The teacher will answer it here."))
            return redirect(back)
    check = request_check(
        school=request.school,
        student=student,
        target=target,
        by=by,
        today=timezone.localdate(),
    )
    record = Mastery.objects.filter(school=request.school, student=student, target=target).first()
    return render(
        request,
        "reports/request.html",
        {
            "student": student,
            "target": target,
            "record": record,
            "check": check,
            "statement": rules_statement(
                check.rule,
                policy_for_course(school=request.school, course_id=check.section.course_id)
                if check.section
                else None,
            ),
            "note": note,
            "errors": errors,
            "back": back,
            "is_student": by == BY_STUDENT,
            "levels": level_infos(achievement_levels(request.school)),
        },
        status=422 if errors else 200,
    )


@require_http_methods(["GET", "POST"])
def student_request(request, school_slug: str, target_id: int):
    student = _own_record(request)
    target = _request_target(request, student, target_id)
    return _request_page(
        request,
        student=student,
        target=target,
        by=BY_STUDENT,
        back=reverse("reports:me", args=[school_slug]),
    )


@require_http_methods(["GET", "POST"])
def child_request(request, school_slug: str, student_id: int, target_id: int):
    student = _own_child(request, student_id)
    target = _request_target(request, student, target_id)
    return _request_page(
        request,
        student=student,
        target=target,
        by=BY_FAMILY,
        back=reverse("reports:child", args=[school_slug, student.id]),
    )


def _withdraw(request, student: Student, request_id: int, back: str):
    try:
        request_withdraw(
            school=request.school,
            request_id=request_id,
            student=student,
            withdrawn_by=request.user,
        )
    except EvidenceError:
        raise Http404("No such request") from None
    messages.success(request, _("The request is withdrawn."))
    return redirect(back)


@require_POST
def student_request_withdraw(request, school_slug: str, request_id: int):
    student = _own_record(request)
    return _withdraw(request, student, request_id, reverse("reports:me", args=[school_slug]))


@require_POST
def child_request_withdraw(request, school_slug: str, student_id: int, request_id: int):
    student = _own_child(request, student_id)
    return _withdraw(
        request, student, request_id, reverse("reports:child", args=[school_slug, student.id])
    )
