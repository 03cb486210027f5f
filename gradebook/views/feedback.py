"""The feedback cadence page: the school's feedback interval (school admins set it) and, below it,
how many students of each section have had no feedback within it.

Teachers read it for the sections they teach, counselors and district admins for the whole
school; only school admins change the interval. Students and families: 403 (roles_required);
another school's slug: 404 (the middleware).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from gradebook.forms import FeedbackIntervalForm
from gradebook.permissions import visible_sections
from gradebook.selectors.feedback import feedback_cadence
from gradebook.services.feedback import feedback_interval_save
from mastery.decorators import roles_required
from mastery.forms import add_service_errors
from mastery.models import Role
from mastery.tenancy import DISTRICT_ADMIN

READERS = (Role.SCHOOL_ADMIN, Role.COUNSELOR, Role.TEACHER, DISTRICT_ADMIN)


@roles_required(*READERS)
@require_http_methods(["GET", "HEAD", "POST"])
def feedback_settings(request, school_slug: str):
    school = request.school
    can_edit = request.access.has(Role.SCHOOL_ADMIN)
    posted = request.method == "POST"
    if posted and not can_edit:
        raise PermissionDenied("Only school admins change the feedback interval.")
    form = FeedbackIntervalForm(
        request.POST if posted else None, initial={"days": school.feedback_interval_days}
    )
    status = 200
    if posted:
        if form.is_valid():
            try:
                feedback_interval_save(
                    school=school, changed_by=request.user, days=form.cleaned_data["days"]
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("Feedback interval saved: %(days)s days.")
                    % {"days": school.feedback_interval_days},
                )
                return redirect("gradebook:feedback_settings", school_slug=school_slug)
        status = 422
    sections = list(
        visible_sections(request.access, request.user)
        .filter(archived_at__isnull=True)
        .select_related("course", "term")
        .order_by("course__code", "period", "name")
    )
    cadences = feedback_cadence(school=school, section_ids=[s.id for s in sections])
    rows = [(s, cadences[s.id]) for s in sections if s.id in cadences]
    return render(
        request,
        "gradebook/feedback_cadence.html",
        {
            "form": form,
            "can_edit": can_edit,
            "rows": rows,
            "owed_total": sum(c.owed_count for _s, c in rows),
            "student_total": sum(c.students for _s, c in rows),
        },
        status=status,
    )
