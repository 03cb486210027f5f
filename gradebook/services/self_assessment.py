"""Students' self-assessments: a student rates themselves on a target (the school's scale) with a
short reflection, withdraws a rating, and a teacher answers the reflection.

A rating is a history, like attempts: rating the same target again writes a new row, never an
edit. It counts toward the level only where the governing policy's `count_self_assessment` says
so; only then does a new or withdrawn rating recompute the student's record on the target (the
same one-pair recompute a score triggers). Every step is audited; the portal's cached pages of
the student are told.
"""

from __future__ import annotations

import uuid
from datetime import date

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from gradebook.models import CourseTarget, SelfAssessment, Student
from gradebook.services.evidence import EvidenceError, scale_value
from grading.locks import school_lock
from grading.pair import pair_recompute
from grading.policies import policy_for_pair
from mastery import audit, calculation, pagecache
from mastery.models import AuditEvent, LearningTarget, School, User
from mastery.selectors import achievement_levels, allowed_scores

REFLECTION_MAX = SelfAssessment.REFLECTION_MAX
REPLY_MAX = SelfAssessment.REPLY_MAX


def _state(rating: SelfAssessment) -> dict:
    return {
        "score": rating.score,
        "assessed_on": rating.assessed_on,
        "reflection": rating.reflection,
        "reply": rating.reply,
    }


def _audit(
    rating: SelfAssessment,
    *,
    action: str,
    actor: User,
    summary: str,
    before: dict | None,
    after: dict | None,
    note: str = "",
) -> None:
    audit.record(
        school=rating.school_id,
        action=action,
        object_type=AuditEvent.ObjectType.SELF_ASSESSMENT,
        object_id=rating.id,
        student_id=rating.student_id,
        target_id=rating.target_id,
        summary=summary + (f": {note}" if note else ""),
        before=before,
        after=after,
        actor=actor,
    )


def _token(value: object) -> uuid.UUID | None:
    """The form's one-time token, or None (no token: the rating is recorded as it comes)."""
    if not value or not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _text(value: str | None, *, field: str, limit: int) -> str:
    text = (value or "").strip()
    if len(text) > limit:
        raise EvidenceError(
            {field: [_("Keep it to %(limit)s characters or fewer.") % {"limit": f"{limit:,}"}]}
        )
    if "\x00" in text:
        raise EvidenceError({field: [_("The text cannot hold a NUL character.")]})
    return text


def target_in_courses(*, school: School, student: Student, target: LearningTarget) -> bool:
    """Whether the target belongs to a course the student is enrolled in (not withdrawn)."""
    return CourseTarget.objects.filter(
        school=school,
        target=target,
        target__is_active=True,
        course__sections__enrollments__student=student,
        course__sections__enrollments__withdrawn_on__isnull=True,
    ).exists()


def _recompute_if_counted(school: School, student_id: int, target_id: int) -> None:
    """Recompute the pair's record, only when its policy counts self-assessments (otherwise the
    record cannot change: the rating is not read)."""
    if policy_for_pair(
        school=school, student_id=student_id, target_id=target_id
    ).count_self_assessment:
        pair_recompute(school=school, student_id=student_id, target_id=target_id)


@transaction.atomic
def self_assessment_record(
    *,
    school: School,
    student: Student,
    target: LearningTarget,
    score: object,
    reflection: str = "",
    recorded_by: User,
    token: str = "",
    assessed_on: date | None = None,
) -> SelfAssessment:
    """A student's rating of themselves on a target (a new row each time), with a reflection.

    Only the student themselves may rate (their account is the student's); the target must be in
    one of their current courses; the score must be a value of the school's scale. The form's
    one-time `token` makes a double submit record one rating (a unique constraint, so two taps
    arriving at once also make one), and the same score and reflection sent again the same day
    (an older copy of the form) is the rating already made. Refused with a message per field;
    nothing written then.
    """
    if (
        student.school_id != school.id
        or student.user_id is None
        or student.user_id != recorded_by.id
    ):
        raise EvidenceError({"student": [_("You can only rate yourself.")]})
    if target.school_id != school.id or not target_in_courses(
        school=school, student=student, target=target
    ):
        raise EvidenceError({"target": [_("That learning target is not in your courses.")]})
    allowed = allowed_scores(achievement_levels(school))
    value = scale_value(score, allowed) if score not in (None, "") else None
    if value is None:
        raise EvidenceError(
            {
                "score": [
                    _("Choose a level of the scale: %(levels)s.")
                    % {"levels": ", ".join(calculation.fmt(a) for a in allowed)}
                ]
            }
        )
    reflection = _text(reflection, field="reflection", limit=REFLECTION_MAX)
    once = _token(token)
    if once is not None:
        done = SelfAssessment.objects.filter(school=school, submission_token=once).first()
        if done is not None:
            if done.student_id != student.id:
                raise EvidenceError({"student": [_("You can only rate yourself.")]})
            return done  # this very form, sent again
    day = assessed_on or timezone.localdate()
    # The same rating sent again from an older copy of the form (Back, then Save: the browser
    # restores what was typed, not the form's token) is the rating already made: the latest
    # one of the day with the same score and reflection.
    latest = (
        SelfAssessment.objects.filter(
            school=school, student=student, target=target, voided_at__isnull=True, assessed_on=day
        )
        .order_by("-id")
        .first()
    )
    if latest is not None and (latest.score, latest.reflection) == (value, reflection):
        return latest
    school_lock(school, shared=True)  # a bulk recompute never overwrites this one's record
    try:
        with transaction.atomic():
            rating = SelfAssessment.objects.create(
                school=school,
                student=student,
                target=target,
                score=value,
                reflection=reflection,
                assessed_on=day,
                created_by=recorded_by,
                submission_token=once,
            )
    except IntegrityError:
        # Another tap with the same form committed first: that rating is this one.
        found = SelfAssessment.objects.filter(school=school, submission_token=once).first()
        if found is None or once is None:
            raise
        return found
    _audit(
        rating,
        action=AuditEvent.Action.CREATE,
        actor=recorded_by,
        summary=f"Self-assessment on {target.code}: {calculation.fmt(value)}",
        before=None,
        after=_state(rating),
    )
    _recompute_if_counted(school, student.id, target.id)
    pagecache.students_changed(school.id, [student.id])
    return rating


@transaction.atomic
def self_assessment_withdraw(
    *, school: School, student: Student, rating_id: int, withdrawn_by: User
) -> SelfAssessment:
    """The student withdraws one of their own ratings (voided, kept, shown to nobody else).

    Withdrawing one already withdrawn answers it again (a double tap). Another student's rating,
    or another school's, is not found (EvidenceError)."""
    rating = (
        SelfAssessment.objects.select_for_update()
        .filter(school=school, id=rating_id, student=student)
        .select_related("target")
        .first()
    )
    if rating is None or student.user_id != withdrawn_by.id:
        raise EvidenceError({"rating": [_("That rating does not exist.")]})
    if rating.voided_at is not None:
        return rating
    before = _state(rating)
    school_lock(school, shared=True)
    rating.void(by=withdrawn_by, reason="Withdrawn by the student")
    _audit(
        rating,
        action=AuditEvent.Action.VOID,
        actor=withdrawn_by,
        summary=f"Self-assessment on {rating.target.code} withdrawn by the student",
        before=before,
        after=None,
    )
    _recompute_if_counted(school, rating.student_id, rating.target_id)
    pagecache.students_changed(school.id, [student.id])
    return rating


@transaction.atomic
def self_assessment_reply(
    *, school: School, rating_id: int, reply: str, replied_by: User
) -> SelfAssessment:
    """A teacher answers a student's reflection (shown to the student; a new answer replaces the
    earlier one, both kept in the audit trail). Who may answer is the caller's check (a teacher of
    the student's section: the cell's rules). The same answer sent twice changes nothing."""
    rating = (
        SelfAssessment.objects.select_for_update()
        .filter(school=school, id=rating_id, voided_at__isnull=True)
        .select_related("target")
        .first()
    )
    if rating is None:
        raise EvidenceError({"rating": [_("That rating does not exist.")]})
    text = _text(reply, field="reply", limit=REPLY_MAX)
    if not text:
        raise EvidenceError({"reply": [_("Write an answer first.")]})
    if text == rating.reply:
        return rating
    before = _state(rating)
    rating.reply, rating.replied_by, rating.replied_at = text, replied_by, timezone.now()
    rating.save(update_fields=["reply", "replied_by", "replied_at"])
    _audit(
        rating,
        action=AuditEvent.Action.UPDATE,
        actor=replied_by,
        summary=f"Answered a self-assessment on {rating.target.code}",
        before=before,
        after=_state(rating),
    )
    pagecache.students_changed(school.id, [rating.student_id])
    return rating
