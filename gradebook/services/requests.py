"""Reassessment requests, from asking to the retake: create, accept (into a sitting), decline,
withdraw, expire (the rules they are checked against are set by grading.services.rules_save).

A request moves open → scheduled → completed (the reassessment's score, see
evidence._complete_requests), or ends declined (with a reason), withdrawn (by whoever may ask)
or expired (its grading period ended while open, or its sitting passed without a score). None of
these writes a score: only a recorded reassessment changes a level. Every step is audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from gradebook.models import (
    Assessment,
    AssessmentKind,
    AssessmentTarget,
    Evidence,
    ReassessmentRequest,
    ReassessmentRule,
    Section,
    Student,
)
from gradebook.selectors.reassessment import (
    BY_FAMILY,
    BY_STUDENT,
    BY_TEACHER,
    REQUESTERS,
    request_check,
)
from gradebook.services.evidence import EvidenceError
from mastery import audit, outbox, pagecache
from mastery.models import AuditEvent, LearningTarget, School, User

Status = ReassessmentRequest.Status
NOTE_MAX = 500
REASON_MAX = 300


def _state(request: ReassessmentRequest) -> dict:
    return {
        "status": request.status,
        "scheduled_on": request.scheduled_on,
        "reason": request.decline_reason,
    }


def _alert(request: ReassessmentRequest, kind: str) -> None:
    """A request is news: for its section's teachers when it comes in (the alerts builder finds
    them), for the student and family when it is answered."""
    outbox.record(
        school=request.school_id,
        kind=kind,
        student_id=request.student_id,
        object_type=AuditEvent.ObjectType.REQUEST,
        object_id=request.id,
        details={
            "target_id": request.target_id,
            "target": request.target.code,
            "status": request.status,
        },
    )


def _audit(
    request: ReassessmentRequest,
    *,
    action: str,
    actor: User | None,
    summary: str,
    before: dict | None,
) -> None:
    audit.record(
        school=request.school_id,
        action=action,
        object_type=AuditEvent.ObjectType.REQUEST,
        object_id=request.id,
        student_id=request.student_id,
        target_id=request.target_id,
        summary=summary,
        before=before,
        after=_state(request),
        actor=actor,
    )


@transaction.atomic
def request_create(
    *,
    school: School,
    requested_by: User,
    student: Student,
    target: LearningTarget,
    by: str,
    note: str = "",
    today: date | None = None,
) -> ReassessmentRequest:
    """Ask for a reassessment of `student` on `target`, as `by` (student, family or teacher).

    Refused with the broken rules' words unless every rule is met. The same request sent twice
    (a double tap on "Send") answers the first: one live request per student and target is also a
    database constraint, so two taps arriving at once make one.
    """
    if by not in REQUESTERS:
        raise EvidenceError({"by": ["Who is asking?"]})
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise EvidenceError({"note": [f"Keep the note to {NOTE_MAX} characters or fewer."]})
    today = today or timezone.localdate()
    check = request_check(school=school, student=student, target=target, by=by, today=today)
    live = check.live
    if live is not None and live.requested_by_id == requested_by.id and live.note == note:
        return live  # this very request, sent again
    if not check.allowed:
        raise EvidenceError({"target": check.broken})
    assert check.section is not None  # allowed implies a section
    try:
        with transaction.atomic():
            request = ReassessmentRequest.objects.create(
                school=school,
                student=student,
                target=target,
                section=check.section,
                period=check.period,
                requested_by=requested_by,
                note=note,
                rules=[line.as_dict() for line in check.lines],
                created_at=timezone.now(),
            )
    except IntegrityError:
        # Another tap committed first: that request is this one.
        found = ReassessmentRequest.objects.filter(
            school=school, student=student, target=target, status__in=ReassessmentRequest.LIVE
        ).first()
        if found is None:
            raise
        return found
    who = {BY_STUDENT: "the student", BY_FAMILY: "family"}.get(by, "a teacher")
    _audit(
        request,
        action=AuditEvent.Action.CREATE,
        actor=requested_by,
        summary=f"Reassessment requested on {target.code} by {who}",
        before=None,
    )
    _alert(request, outbox.Kind.REQUEST_RECEIVED)
    if by == BY_TEACHER:  # a teacher noted it for the student: an opportunity, news at home
        _alert(request, outbox.Kind.OPPORTUNITY)
    pagecache.students_changed(school.id, [student.id])
    return request


def _live_for_update(school: School, request_ids: Sequence[int]) -> list[ReassessmentRequest]:
    return list(
        ReassessmentRequest.objects.select_for_update(of=("self",))
        .filter(school=school, id__in=request_ids)
        .select_related("target", "section__term", "section__course")
        .order_by("id")
    )


def _sitting(*, school: School, request: ReassessmentRequest, on: date, by: User) -> Assessment:
    """The reassessment sitting for the request's target on that day in its section: the one
    already scheduled (requests on one target and day share it), or a new one.

    The section's row is locked first: two teachers accepting requests on one target and day at
    the same moment then find one sitting rather than make two."""
    assert request.section is not None
    Section.objects.select_for_update().filter(school=school, id=request.section.id).first()
    found = (
        Assessment.objects.filter(
            school=school,
            kind=AssessmentKind.REASSESSMENT,
            section=request.section,
            assessed_on=on,
            alignments__target_id=request.target_id,
            requests__isnull=False,
        )
        .order_by("id")
        .first()
    )
    if found is not None:
        return found
    sitting = Assessment.objects.create(
        school=school,
        title=f"Reassessment: {request.target.code}"[:200],
        kind=AssessmentKind.REASSESSMENT,
        assessed_on=on,
        course_id=request.section.course_id,
        section=request.section,
        created_by=by,
        description="Scheduled from students' reassessment requests.",
    )
    AssessmentTarget.objects.create(school=school, assessment=sitting, target_id=request.target_id)
    return sitting


def _drop_unused_sitting(school: School, sitting_id: int) -> None:
    """A sitting the scheduling made, left with no request and no score by a move, is removed
    (it was never given: nothing is lost); one with a score or another request stays."""
    Assessment.objects.filter(
        school=school, id=sitting_id, kind=AssessmentKind.REASSESSMENT
    ).exclude(requests__isnull=False).exclude(
        id__in=Evidence.objects.filter(school=school, assessment_id=sitting_id).values(
            "assessment_id"
        )
    ).delete()


@transaction.atomic
def requests_accept(
    *,
    school: School,
    request_ids: Sequence[int],
    accepted_by: User,
    scheduled_on: date | None,
    today: date | None = None,
) -> list[ReassessmentRequest]:
    """Accept open requests for a reassessment on `scheduled_on`; requests on one target and day
    share one sitting (an Assessment of kind reassessment in the section). Accepting a request
    already scheduled moves it to the new day. All or nothing."""
    today = today or timezone.localdate()
    if scheduled_on is None:
        raise EvidenceError({"scheduled_on": ["Choose the day of the reassessment."]})
    if scheduled_on < today:
        raise EvidenceError({"scheduled_on": ["The reassessment's day has already passed."]})
    requests = _live_for_update(school, request_ids)
    if not requests or len(requests) != len(set(request_ids)):
        raise EvidenceError({"request": ["That request does not exist in this school."]})
    for request in requests:
        if not request.live:
            raise EvidenceError(
                {"request": [f"That request is already {request.get_status_display().lower()}."]}
            )
        if request.section is None:
            raise EvidenceError({"request": ["That request has no section to be reassessed in."]})
        term = request.section.term
        if not term.contains(scheduled_on):
            raise EvidenceError(
                {
                    "scheduled_on": [
                        f"{scheduled_on:%b %-d, %Y} is outside {term.name} "
                        f"({term.starts_on:%b %-d} – {term.ends_on:%b %-d, %Y})."
                    ]
                }
            )
    now = timezone.now()
    for request in requests:
        before = _state(request)
        if request.status == Status.SCHEDULED and request.scheduled_on == scheduled_on:
            continue  # accepted again for the same day (a second click): nothing to change
        moved_from = request.sitting_id
        request.sitting = _sitting(school=school, request=request, on=scheduled_on, by=accepted_by)
        request.status = Status.SCHEDULED
        request.scheduled_on = scheduled_on
        request.resolved_by, request.resolved_at = accepted_by, now
        request.save(
            update_fields=["sitting", "status", "scheduled_on", "resolved_by", "resolved_at"]
        )
        if moved_from and moved_from != request.sitting_id:
            _drop_unused_sitting(school, moved_from)
        _audit(
            request,
            action=AuditEvent.Action.UPDATE,
            actor=accepted_by,
            summary=f"Reassessment request on {request.target.code} accepted for {scheduled_on:%b %-d}",
            before=before,
        )
        _alert(request, outbox.Kind.REQUEST_ANSWERED)
    pagecache.students_changed(school.id, {r.student_id for r in requests})
    return requests


def _end(
    request: ReassessmentRequest, status: str, *, by: User, what: str, reason: str = ""
) -> None:
    """End a live request (declined with a reason, withdrawn) by `by`: saved, audited, the
    portal told."""
    before = _state(request)
    request.status, request.resolved_by, request.resolved_at = status, by, timezone.now()
    request.decline_reason = reason or request.decline_reason
    request.save(update_fields=["status", "resolved_by", "resolved_at", "decline_reason"])
    _audit(
        request,
        action=AuditEvent.Action.UPDATE,
        actor=by,
        summary=f"Reassessment request on {request.target.code} {what}",
        before=before,
    )
    if status == Status.DECLINED:  # a withdrawal is the requester's own doing: no news
        _alert(request, outbox.Kind.REQUEST_ANSWERED)
    pagecache.students_changed(request.school_id, [request.student_id])


@transaction.atomic
def request_decline(
    *, school: School, request_id: int, declined_by: User, reason: str
) -> ReassessmentRequest:
    """Decline a live request, saying why (the student and family read the reason)."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise EvidenceError({"reason": ["Say why the request is declined: the student reads it."]})
    if len(reason) > REASON_MAX:
        raise EvidenceError({"reason": [f"Keep the reason to {REASON_MAX} characters or fewer."]})
    found = _live_for_update(school, [request_id])
    if not found:
        raise EvidenceError({"request": ["That request does not exist in this school."]})
    request = found[0]
    if not request.live:
        raise EvidenceError(
            {"request": [f"That request is already {request.get_status_display().lower()}."]}
        )
    _end(request, Status.DECLINED, by=declined_by, what="declined", reason=reason)
    return request


@transaction.atomic
def request_withdraw(
    *, school: School, request_id: int, student: Student, withdrawn_by: User
) -> ReassessmentRequest:
    """The student (or their family) takes back a live request of theirs."""
    found = _live_for_update(school, [request_id])
    if not found or found[0].student_id != student.id:
        raise EvidenceError({"request": ["That request does not exist."]})
    request = found[0]
    if not request.live:
        return request  # already withdrawn, declined or done: nothing to take back
    _end(request, Status.WITHDRAWN, by=withdrawn_by, what="withdrawn")
    return request


@dataclass
class Expired:
    open: int
    scheduled: int


@transaction.atomic
def requests_expire(*, school: School, today: date | None = None) -> Expired:
    """Expire the school's requests whose time has passed (the nightly task; idempotent).

    Open: its grading period (or, without periods, its term) has ended. Scheduled: its day is
    more than the rules' `expires_after_days` behind and no score completed it. One UPDATE per
    kind, one bulk insert of audit events; a declined or expired request writes no score.
    """
    today = today or timezone.localdate()
    live = ReassessmentRequest.objects.filter(school=school)
    ended = live.filter(status=Status.OPEN).filter(
        Q(period__ends_on__lt=today)
        | Q(period__isnull=True, section__term__ends_on__lt=today)
        | Q(section__isnull=True)
    )
    days_by_course = {
        r.course_id: r.expires_after_days for r in ReassessmentRule.objects.filter(school=school)
    }
    school_days = days_by_course.pop(None, ReassessmentRule().expires_after_days)
    # A course with rules of its own by its own days; every other course by the school's.
    late_q = Q(scheduled_on__lt=today - timedelta(days=school_days)) & ~Q(
        section__course_id__in=list(days_by_course)
    )
    for course_id, days in days_by_course.items():
        late_q |= Q(section__course_id=course_id, scheduled_on__lt=today - timedelta(days=days))
    late = live.filter(status=Status.SCHEDULED).filter(late_q)
    events = []
    counts = Expired(open=0, scheduled=0)
    now = timezone.now()
    for name, queryset in (("open", ended), ("scheduled", late)):
        rows = list(
            queryset.values("id", "student_id", "target_id", "target__code", "scheduled_on")
        )
        if not rows:
            continue
        # By status too: a request completed since the read above stays completed.
        ReassessmentRequest.objects.filter(
            school=school, id__in=[r["id"] for r in rows], status=name
        ).update(status=Status.EXPIRED, resolved_at=now)
        setattr(counts, name, len(rows))
        events += [
            audit.event(
                school=school,
                action=AuditEvent.Action.UPDATE,
                object_type=AuditEvent.ObjectType.REQUEST,
                object_id=r["id"],
                student_id=r["student_id"],
                target_id=r["target_id"],
                summary=f"Reassessment request on {r['target__code']} expired",
                before={"status": name, "scheduled_on": r["scheduled_on"]},
                after={"status": Status.EXPIRED, "scheduled_on": r["scheduled_on"]},
                actor=None,
                source="nightly",
            )
            for r in rows
        ]
        pagecache.students_changed(school.id, {r["student_id"] for r in rows})
    audit.record_many(events)
    return counts
