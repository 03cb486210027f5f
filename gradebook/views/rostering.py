"""Rostering: a school admin imports the school's roster from a OneRoster 1.2 CSV export."""

from __future__ import annotations

from django.shortcuts import render

from gradebook.oneroster.forms import RosterImportForm
from gradebook.oneroster.service import oneroster_import as import_package
from mastery import audit
from mastery.decorators import roles_required
from mastery.models import Role


@roles_required(Role.SCHOOL_ADMIN)
@audit.acting_user
def oneroster_import(request, school_slug: str):
    """Upload, check and import; the report stays on the page (422 when nothing could be imported).

    Runs inside the request's school scope and imports into `request.school` only: the service
    skips (and counts) the rows of every other school org in the files.
    """
    # Bound on every POST, even an empty one (an empty QueryDict is falsy).
    posted = request.method == "POST"
    form = RosterImportForm(request.POST if posted else None, request.FILES if posted else None)
    report = None
    if posted and form.is_valid():
        report = import_package(
            files=form.cleaned_data["files"],
            school=request.school,
            dry_run=form.cleaned_data["dry_run"],
            base_url=request.build_absolute_uri("/"),
        )
    failed = posted and (report is None or not report.ok)
    return render(
        request,
        "gradebook/oneroster_import.html",
        {"form": form, "report": report},
        status=422 if failed else 200,
    )
