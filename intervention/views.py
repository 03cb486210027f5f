"""Intervention pages: the counselor's cycle, day rosters (print, CSV, PDF), moves, attendance."""

from __future__ import annotations

import csv
from datetime import date

from django.contrib import messages
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from gradebook.models import Enrollment
from gradebook.permissions import visible_students
from intervention import selectors
from intervention.builder import settings_for
from intervention.forms import CycleOpenForm, SettingsForm, SlotForm
from intervention.models import (
    WEEKDAY_NAMES,
    InterventionCycle,
    InterventionGroup,
    InterventionSettings,
    InterventionSlot,
    RosterEntry,
    SessionAttendance,
)
from intervention.services import (
    attendance_record,
    cycle_close,
    cycle_open,
    entry_move,
    roster_rebuild,
    settings_save,
    slot_remove,
    slot_save,
)
from mastery import audit
from mastery.decorators import roles_required
from mastery.fields import parse_id
from mastery.forms import add_service_errors
from mastery.models import Department, Membership, Role
from mastery.pdf import render_pdf
from mastery.selectors import achievement_levels
from mastery.tenancy import DISTRICT_ADMIN

MANAGERS = (Role.SCHOOL_ADMIN, Role.COUNSELOR)
READERS = (*MANAGERS, DISTRICT_ADMIN, Role.TEACHER)


def _can_manage(request) -> bool:
    return request.access.has(*MANAGERS)


def _cycle(request, cycle_id: int) -> InterventionCycle:
    cycle = InterventionCycle.objects.filter(school=request.school, pk=cycle_id).first()
    if cycle is None:
        raise Http404("No such cycle")
    return cycle


def _group(request, group_id: int) -> InterventionGroup:
    group = (
        InterventionGroup.objects.filter(school=request.school, pk=group_id)
        .select_related("cycle", "target", "teacher")
        .first()
    )
    if group is None:
        raise Http404("No such group")
    if not _can_manage(request) and group.teacher_id != request.user.id:
        # A teacher sees only their own group; another teacher's group does not exist for them.
        raise Http404("No such group")
    return group


@roles_required(*READERS)
def intervention_home(request, school_slug: str):
    if not _can_manage(request) and not request.access.has(DISTRICT_ADMIN):
        return redirect("intervention:mine", school_slug=school_slug)
    cycle = selectors.current_cycle(request.school)
    config = settings_for(request.school)
    context = {
        "cycle": cycle,
        "config": config,
        "weekdays": [(d, WEEKDAY_NAMES[d]) for d in sorted(config.weekdays)],
        "cycles": selectors.cycles_with_counts(request.school)[:8],
        "can_manage": _can_manage(request),
        "plan": None,
    }
    if cycle is not None:
        context["stats"], context["total"], context["enrichment"] = selectors.cycle_stats(
            school=request.school, cycle=cycle
        )
    return render(request, "intervention/home.html", context)


@require_POST
@roles_required(*MANAGERS)
@audit.acting_user
def cycle_open_view(request, school_slug: str):
    form = CycleOpenForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(form.errors["starts_on"])
        cycle = cycle_open(school=request.school, starts_on=form.cleaned_data["starts_on"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Cycle {cycle.number} is open and its rosters are built.")
    return redirect("intervention:home", school_slug=school_slug)


@require_POST
@roles_required(*MANAGERS)
@audit.acting_user
def cycle_rebuild_view(request, school_slug: str, cycle_id: int):
    cycle = _cycle(request, cycle_id)
    dry_run = request.POST.get("dry_run") == "1"
    try:
        plan = roster_rebuild(school=request.school, cycle=cycle, dry_run=dry_run)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("intervention:home", school_slug=school_slug)
    if dry_run:
        config = settings_for(request.school)
        stats, total, enrichment = selectors.cycle_stats(school=request.school, cycle=cycle)
        return render(
            request,
            "intervention/home.html",
            {
                "cycle": cycle,
                "config": config,
                "plan": plan,
                "can_manage": True,
                "weekdays": [(d, WEEKDAY_NAMES[d]) for d in sorted(config.weekdays)],
                "cycles": selectors.cycles_with_counts(request.school)[:8],
                "stats": stats,
                "total": total,
                "enrichment": enrichment,
            },
        )
    messages.success(request, f"Rosters rebuilt: {plan.summary()}.")
    return redirect("intervention:home", school_slug=school_slug)


@require_POST
@roles_required(*MANAGERS)
@audit.acting_user
def cycle_close_view(request, school_slug: str, cycle_id: int):
    cycle = _cycle(request, cycle_id)
    result = cycle_close(school=request.school, cycle=cycle)
    if result.closed:
        messages.success(
            request,
            f"Cycle {cycle.number} closed: {result.exited} exited, {result.continuing} continue.",
        )
    else:
        messages.info(request, f"Cycle {cycle.number} was already closed.")
    return redirect("intervention:home", school_slug=school_slug)


@roles_required(*READERS)
def day_roster(request, school_slug: str, cycle_id: int, weekday: int):
    cycle = _cycle(request, cycle_id)
    if weekday not in WEEKDAY_NAMES:
        raise Http404("No such day")
    teacher = None if (_can_manage(request) or request.access.has(DISTRICT_ADMIN)) else request.user
    roster = selectors.day_roster(
        school=request.school, cycle=cycle, weekday=weekday, teacher=teacher
    )
    day_name = WEEKDAY_NAMES[weekday]
    fmt = request.GET.get("format")
    if fmt == "csv":
        return _roster_csv(roster, day_name)
    # A message about one entry (a move made without JavaScript) shows beside that entry, where the
    # redirect's #e-<id> scrolls to; the others at the top of the page.
    entry_notes, page_messages = {}, []
    for message in get_messages(request):
        tag = next((t for t in message.extra_tags.split() if t.startswith("entry-")), None)
        entry_id = parse_id(tag.removeprefix("entry-")) if tag else None
        if entry_id is None:
            page_messages.append(message)
        else:
            entry_notes[entry_id] = message
    context = {
        "roster": roster,
        "day_name": day_name,
        "levels": achievement_levels(request.school),
        "can_manage": _can_manage(request),
        "entry_notes": entry_notes,
        "page_messages": page_messages,
        "printed_at": timezone.localtime(),
    }
    if fmt == "pdf":
        pdf = render_pdf(
            "intervention/roster_pdf.html", {**context, "school": request.school}, request=request
        )
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = (
            f'attachment; filename="cycle-{cycle.number}-{day_name.lower()}-roster.pdf"'
        )
        return response
    return render(request, "intervention/roster.html", context)


def _roster_csv(roster, day_name: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="cycle-{roster.cycle.number}-{day_name.lower()}-roster.csv"'
    )
    response.write("\ufeff")  # so spreadsheet programs read the accents right
    writer = csv.writer(response)
    writer.writerow(
        [
            "cycle",
            "day",
            "group",
            "target",
            "teacher",
            "room",
            "student_number",
            "student",
            "grade",
            "level_now",
            "score_now",
            "last_evidence",
            "why",
            "placed_by_hand",
        ]
    )
    for group_roster in roster.groups:
        g = group_roster.group
        what = g.target.code if g.target_id else "Enrichment"
        for row in group_roster.rows:
            writer.writerow(
                _csv_row(
                    roster, day_name, what, g.teacher.full_name if g.teacher else "", g.room, row
                )
            )
    for row in roster.waitlist:
        what = row.entry.target.code if row.entry.target_id else "Enrichment"
        writer.writerow(_csv_row(roster, day_name, f"Wait list ({what})", "", "", row))
    return response


def _csv_row(roster, day_name, what, teacher, room, row):
    record = row.record
    return [
        roster.cycle.number,
        day_name,
        what,
        row.entry.target.statement if row.entry.target_id else "",
        teacher,
        room,
        row.student.local_id,
        row.student.sortable_name,
        row.student.grade_level or "",
        record.level if record and record.level is not None else "",
        record.score if record and record.score is not None else "",
        record.last_evidence_on.isoformat() if record and record.last_evidence_on else "",
        row.entry.reason,
        "yes" if row.entry.locked else "",
    ]


@require_http_methods(["GET", "POST"])
@roles_required(*MANAGERS)
def entry_move_view(request, school_slug: str, entry_id: int):
    """Move one student: GET is the form (in the roster's row with htmx, a page without JS); the
    POST answers in place, so a counselor far down a long roster keeps their place and reads the
    outcome beside the entry (a full page redrawn from the top hid it)."""
    entry = (
        RosterEntry.objects.filter(school=request.school, pk=entry_id)
        .select_related("cycle", "student", "group__target", "group__teacher", "target")
        .first()
    )
    if entry is None:
        raise Http404("No such roster entry")
    day_url = reverse("intervention:day", args=[school_slug, entry.cycle_id, entry.weekday])
    context = {"entry": entry, "all_groups": _day_groups(request, entry), "day_url": day_url}
    if request.method == "GET":
        template = "intervention/move.html#form" if request.htmx else "intervention/move.html"
        return render(request, template, context)
    raw = request.POST.get("group", "").strip()
    was_in = entry.group_id
    try:
        # Empty is the wait list; anything else must be a group's id (never the wait list).
        if raw and parse_id(raw) is None:
            raise ValidationError("Choose a group of the same cycle and day.")
        moved = entry_move(
            school=request.school,
            entry_id=entry.id,
            group_id=parse_id(raw) if raw else None,
            moved_by=request.user,
        )
    except ValidationError as exc:
        # Said where the move was asked for: in the entry's row (htmx) or on the move page.
        context["error"] = " ".join(exc.messages)
        context["chosen"] = parse_id(raw) if raw else None  # the choice stays shown, not saved
        template = (
            "intervention/move.html#refused_row" if request.htmx else "intervention/move.html"
        )
        if request.htmx:
            context.update(_row_context(request, entry))
        return render(request, template, context, status=422)
    where = str(moved.group) if moved.group_id else "the wait list"
    note = f"{moved.student.display_name} moved to {where}; the placement is locked."
    if not request.htmx:
        # Back to the roster at the entry's new place, the message beside it.
        messages.success(request, note, extra_tags=f"entry-{moved.id}")
        return redirect(f"{day_url}#e-{moved.id}")
    # The row where the move was asked becomes the notice; the groups it left and joined (their
    # counts, the joined group's rows) are swapped out of band, nothing else moves on the page.
    roster = selectors.day_roster(school=request.school, cycle=entry.cycle, weekday=entry.weekday)
    touched = {was_in, moved.group_id}
    stayed = was_in == moved.group_id  # the same group: the row stays, locked, the note in it
    row_context = _row_context(request, moved)
    if stayed:
        row_context["entry_notes"] = {moved.id: note}
    return render(
        request,
        "intervention/move.html#moved",
        {
            **row_context,
            "stayed": stayed,
            "note": note,
            "moved": moved,
            "roster": roster,
            "joined": moved.group_id,
            "touched_groups": [g for g in roster.groups if g.group.id in touched],
            "waitlist_touched": None in touched,
        },
    )


def _day_groups(request, entry: RosterEntry) -> list[InterventionGroup]:
    return list(
        InterventionGroup.objects.filter(
            school=request.school, cycle_id=entry.cycle_id, weekday=entry.weekday
        ).select_related("target", "teacher")
    )


def _row_context(request, entry: RosterEntry) -> dict:
    """What a roster row needs when rendered alone (its level now, the school's levels)."""
    return {
        "row": selectors.roster_row(school=request.school, entry=entry),
        "levels": achievement_levels(request.school),
        "can_manage": True,
        "entry_notes": {},
    }


@roles_required(*READERS)
def attendance(request, school_slug: str, group_id: int):
    group = _group(request, group_id)
    today = timezone.localdate()
    try:
        session = date.fromisoformat(request.GET.get("date") or request.POST.get("date") or "")
    except ValueError:
        session = selectors.default_session(group.cycle, group.weekday, today)
    if session not in group.cycle.session_dates(group.weekday):
        raise Http404("That date is not a session of this group")
    errors = []
    if request.method == "POST":
        marks = {
            key[2:]: value for key, value in request.POST.items() if key.startswith("a-") and value
        }
        ids = {parse_id(raw) for raw in marks}
        members = set(
            RosterEntry.objects.filter(
                school=request.school, pk__in=ids - {None}, group=group
            ).values_list("pk", flat=True)
        )
        if None in ids or ids - members:  # checked before anything is written
            raise Http404("No such student in this group")
        # The sheet is saved whole or not at all: a refused mark takes back the others.
        with transaction.atomic():
            for raw, value in marks.items():
                try:
                    attendance_record(
                        school=request.school,
                        entry_id=parse_id(raw),
                        session_date=session,
                        status=value,
                        recorded_by=request.user,
                    )
                except ValidationError as exc:
                    errors.extend(exc.messages)
            if errors:
                transaction.set_rollback(True)
        if not errors and not request.htmx:
            messages.success(request, f"Attendance saved for {session:%A %b %-d}.")
            return redirect(
                reverse("intervention:attendance", args=[school_slug, group.id])
                + f"?date={session.isoformat()}"
            )
    sheet = selectors.attendance_sheet(school=request.school, group=group, session=session)
    template = "intervention/attendance.html"
    if request.htmx:
        template += "#sheet"
    return render(
        request,
        template,
        {
            "sheet": sheet,
            "group": group,
            "errors": errors,
            "statuses": SessionAttendance.Status.choices,
            "saved": request.method == "POST" and not errors,
        },
        status=422 if errors else 200,
    )


@roles_required(*READERS)
def mine(request, school_slug: str):
    """The teacher's groups this week, with each student's level and a way to record a reassessment."""
    groups = selectors.teacher_groups_this_week(
        school=request.school, teacher=request.user, today=timezone.localdate()
    )
    links = {}
    targets = {g.target_id for g, _, _ in groups if g.target_id}
    students = {row.student.id for _, _, rows in groups for row in rows}
    if targets and students:
        for student_id, section_id, target_id in Enrollment.objects.filter(
            school=request.school,
            student_id__in=students,
            withdrawn_on__isnull=True,
            section__course__course_targets__target_id__in=targets,
        ).values_list("student_id", "section_id", "section__course__course_targets__target_id"):
            links.setdefault((student_id, target_id), section_id)
    return render(
        request,
        "intervention/mine.html",
        {"groups": groups, "levels": achievement_levels(request.school), "links": links},
    )


@roles_required(*MANAGERS, DISTRICT_ADMIN, Role.TEACHER)
def student_history(request, school_slug: str, student_id: int):
    student = visible_students(request.access, request.user).filter(pk=student_id).first()
    if student is None:
        raise Http404("No such student")
    history = selectors.student_history(school=request.school, student=student)
    return render(request, "intervention/history.html", {"student": student, "history": history})


@roles_required(*MANAGERS, DISTRICT_ADMIN)
def cycle_stats(request, school_slug: str, cycle_id: int):
    cycle = _cycle(request, cycle_id)
    stats, total, enrichment = selectors.cycle_stats(school=request.school, cycle=cycle)
    return render(
        request,
        "intervention/stats.html",
        {"cycle": cycle, "stats": stats, "total": total, "enrichment": enrichment},
    )


@roles_required(*MANAGERS)
def settings_view(request, school_slug: str):
    school = request.school
    config = InterventionSettings.objects.filter(school=school).first() or InterventionSettings(
        school=school
    )
    teachers = (
        Membership.objects.filter(school=school, role=Role.TEACHER)
        .select_related("user")
        .order_by("user__full_name")
    )
    departments = Department.objects.filter(school=school).order_by("name")
    form = SettingsForm(request.POST or None, instance=config, departments=departments, prefix="s")
    slot_form = SlotForm(request.POST or None, teachers=[m.user for m in teachers], prefix="slot")
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "settings" and form.is_valid():
            data = form.cleaned_data
            try:
                settings_save(
                    school=school,
                    changed_by=request.user,
                    cycle_weeks=data["cycle_weeks"],
                    weekdays=data["weekdays"],
                    group_capacity=data["group_capacity"],
                    enrichment_capacity=data["enrichment_capacity"],
                    focus=list(data["focus"]),
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, "Intervention settings saved.")
                return redirect("intervention:settings", school_slug=school_slug)
        if action == "add_slot" and slot_form.is_valid():
            data = slot_form.cleaned_data
            try:
                slot_save(
                    school=school,
                    changed_by=request.user,
                    teacher=data["teacher"],
                    weekday=int(data["weekday"]),
                    room=data["room"],
                    capacity=data["capacity"],
                )
            except ValidationError as exc:
                add_service_errors(slot_form, exc)
            else:
                messages.success(request, "Availability saved.")
                return redirect("intervention:settings", school_slug=school_slug)
        if action == "remove_slot":
            slot = parse_id(request.POST.get("slot", "").strip())
            try:
                if slot is None:
                    raise InterventionSlot.DoesNotExist
                slot_remove(school=school, changed_by=request.user, slot_id=slot)
            except InterventionSlot.DoesNotExist as exc:
                raise Http404("No such availability") from exc
            messages.success(request, "Availability removed.")
            return redirect("intervention:settings", school_slug=school_slug)
    slots = (
        InterventionSlot.objects.filter(school=school)
        .select_related("teacher")
        .order_by("weekday", "teacher__full_name")
    )
    return render(
        request,
        "intervention/settings.html",
        {"form": form, "slot_form": slot_form, "slots": slots},
        status=422 if request.method == "POST" else 200,
    )
