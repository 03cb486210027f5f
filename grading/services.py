"""Writes of the grading policy: a new version, a course's override, and the recompute they queue.

A policy is never edited: each change is a new version (the old one stays, so every Mastery
record says which version computed it), audited, and followed by the school's recompute in a
Celery task after commit (grading/tasks.py).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from gradebook.models import Course, ReassessmentRule, RecomputeRun
from grading.tasks import recompute_school_mastery
from mastery import audit, calculation, pagecache
from mastery.models import POLICY_FIELDS, AuditEvent, GradingPolicy, ScaleLevel, School, User
from mastery.selectors import achievement_levels, forget_request_memo

logger = logging.getLogger(__name__)


def _validate_policy(policy: GradingPolicy, levels: list[ScaleLevel]) -> None:
    try:
        policy.full_clean(exclude=["school", "course", "created_by"], validate_unique=False)
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from exc
    try:
        policy.to_engine(levels)
    except (calculation.CalculationError, KeyError, TypeError, ValueError) as exc:
        raise ValidationError({"method": [str(exc)]}) from exc


def policy_candidate(
    *,
    school: School,
    changed_by: User,
    course: Course | None = None,
    note: str = "",
    lock: bool = False,
    **changes: Any,
) -> GradingPolicy:
    """The next version of the school's (or a course's) policy with `changes`, validated, unsaved."""
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationError(f"Not policy settings: {', '.join(sorted(unknown))}")
    if course is not None and course.school_id != school.id:
        raise ValidationError({"course": ["That course is not in this school."]})
    lineage = GradingPolicy.objects.filter(school=school, course=course)
    if lock:
        lineage = lineage.select_for_update()
    current = lineage.filter(is_current=True).first()
    if current is None and course is not None:
        # A course's first override starts from the school default.
        current = GradingPolicy.objects.filter(
            school=school, course__isnull=True, is_current=True
        ).first()
    base = {f: getattr(current, f) for f in POLICY_FIELDS} if current else {}
    base.update(changes)
    candidate = GradingPolicy(
        school=school,
        course=course,
        version=(lineage.aggregate(v=Max("version"))["v"] or 0) + 1,
        is_current=True,
        note=note,
        created_by=changed_by,
        **base,
    )
    _validate_policy(candidate, achievement_levels(school))
    return candidate


@transaction.atomic
def policy_change(
    *,
    school: School,
    changed_by: User,
    course: Course | None = None,
    note: str = "",
    **changes: Any,
) -> GradingPolicy:
    """Write a new version of the school's (or a course's) grading policy and recompute.

    The previous version stays, marked not current, so every Mastery record can say which version
    computed it. The recompute of the school's Mastery records runs in a Celery task after commit;
    if the broker is unreachable the change still stands and `recompute_stale_schools` catches up.
    """
    new = policy_candidate(
        school=school, changed_by=changed_by, course=course, note=note, lock=True, **changes
    )
    # What applied before: the lineage's current version, or (a first override) the default.
    previous = (
        GradingPolicy.objects.filter(school=school, course=course, is_current=True).first()
        or GradingPolicy.objects.filter(school=school, course__isnull=True, is_current=True).first()
    )
    GradingPolicy.objects.filter(school=school, course=course, is_current=True).update(
        is_current=False
    )
    new.save()
    scope_name = f"{course.code}'s own policy" if course is not None else "School policy"
    audit.record(
        school=school,
        action=AuditEvent.Action.UPDATE if previous is not None else AuditEvent.Action.CREATE,
        object_type=AuditEvent.ObjectType.POLICY,
        object_id=new.id,
        actor=changed_by,
        before=audit.policy_state(previous),
        after=audit.policy_state(new),
        summary=f"{scope_name} v{new.version}" + (f": {note}" if note else ""),
    )
    forget_request_memo(school)
    _queue_recompute(school=school, policy=new, requested_by=changed_by)
    return new


@transaction.atomic
def policy_remove_override(*, school: School, course: Course, changed_by: User) -> RecomputeRun:
    """Drop a course's override: its targets fall back to the school default (history is kept)."""
    current = GradingPolicy.objects.filter(school=school, course=course, is_current=True).first()
    if current is None:
        raise ValidationError("That course has no policy of its own.")
    GradingPolicy.objects.filter(pk=current.pk).update(is_current=False)
    forget_request_memo(school)
    default = GradingPolicy.objects.get(school=school, course__isnull=True, is_current=True)
    audit.record(
        school=school,
        action=AuditEvent.Action.DELETE,
        object_type=AuditEvent.ObjectType.POLICY,
        object_id=current.id,
        actor=changed_by,
        before=audit.policy_state(current),
        after=audit.policy_state(default),
        summary=f"{course.code} follows the school policy (v{default.version}) again",
    )
    return _queue_recompute(school=school, policy=default, requested_by=changed_by)


def _queue_recompute(*, school: School, policy: GradingPolicy, requested_by: User) -> RecomputeRun:
    """Record a RecomputeRun (what the policy page polls) and queue its task after commit."""
    run = RecomputeRun.objects.create(school=school, policy=policy, requested_by=requested_by)
    transaction.on_commit(lambda: enqueue_school_recompute(school_id=school.id, run_id=run.id))
    return run


def enqueue_school_recompute(*, school_id: int, run_id: int | None = None) -> bool:
    """Queue the school's recompute; never let a dead broker break the request that asked."""
    try:
        recompute_school_mastery.delay(school_id=school_id, run_id=run_id)
    except Exception:  # the broker is down: the periodic catch-up will find the stale records
        logger.exception("Could not queue the mastery recompute of school %s", school_id)
        return False
    return True


# --- Reassessment rules ----------------------------------------------------------------------------

# The rule fields an admin sets (ReassessmentRule), in the order of the form.
RULE_FIELDS = (
    "students_may_request",
    "families_may_request",
    "teachers_may_request",
    "requires_practice",
    "max_per_period",
    "min_days_after",
    "closes_days_before_end",
    "expires_after_days",
    "note",
)


def _rule_state(rule: ReassessmentRule | None) -> dict | None:
    return None if rule is None else {name: getattr(rule, name) for name in RULE_FIELDS}


@transaction.atomic
def rules_save(
    *, school: School, values: dict, saved_by: User, course: Course | None = None
) -> ReassessmentRule:
    """Set the school's reassessment rules (or a course's own). `values` are validated form
    data (RULE_FIELDS); audited with the values before and after."""
    rule = ReassessmentRule.objects.select_for_update().filter(school=school, course=course).first()
    before = _rule_state(rule)
    if rule is None:
        rule = ReassessmentRule(school=school, course=course)
    for name in RULE_FIELDS:
        if name in values:
            setattr(rule, name, values[name])
    rule.note = (rule.note or "").strip()
    rule.updated_by, rule.updated_at = saved_by, timezone.now()
    rule.full_clean(exclude=["school", "course", "updated_by"])
    rule.save()
    after = _rule_state(rule)
    if before != after:
        audit.record(
            school=school,
            action=AuditEvent.Action.CREATE if before is None else AuditEvent.Action.UPDATE,
            object_type=AuditEvent.ObjectType.RULES,
            object_id=rule.id,
            summary=f"Reassessment rules of {course.code if course else 'the school'} changed",
            before=before,
            after=after,
            actor=saved_by,
        )
    pagecache.school_changed(school.id)  # the portal states the rules
    return rule


@transaction.atomic
def course_rules_remove(*, school: School, course: Course, removed_by: User) -> None:
    """The course follows the school's rules again."""
    rule = ReassessmentRule.objects.filter(school=school, course=course).first()
    if rule is None:
        return
    before = _rule_state(rule)
    rule_id = rule.id
    rule.delete()
    audit.record(
        school=school,
        action=AuditEvent.Action.DELETE,
        object_type=AuditEvent.ObjectType.RULES,
        object_id=rule_id,
        summary=f"Reassessment rules of {course.code} removed: the school's apply",
        before=before,
        after=None,
        actor=removed_by,
    )
    pagecache.school_changed(school.id)
