"""Assessments: creating and editing one, its evidence following an edit (kind, date)."""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.db.models import QuerySet

from gradebook.models import (
    Assessment,
    AssessmentKind,
    AssessmentTarget,
    Course,
    CourseTarget,
    Evidence,
    Section,
)
from gradebook.services.evidence import EvidenceError, pairs_recompute
from mastery import audit, pagecache
from mastery.models import AuditEvent, School, User


@transaction.atomic
def assessment_save(
    *,
    school: School,
    saved_by: User,
    assessment: Assessment | None = None,
    title: str,
    kind: str,
    assessed_on: date,
    course: Course | None,
    section: Section | None = None,
    target_ids: list[int],
    tier: str = "",
    original: Assessment | None = None,
    description: str = "",
) -> Assessment:
    """Create or edit an assessment. Editing keeps its evidence consistent (kind, date, targets)."""
    errors: dict[str, list[str]] = {}
    title = (title or "").strip()
    if not title:
        errors["title"] = ["Give the assessment a title."]
    if kind not in AssessmentKind.values:
        errors["kind"] = ["Choose a kind."]
    if course is None or course.school_id != school.id:
        errors["course"] = ["That course is not in this school."]
    if section is not None and (
        section.school_id != school.id or section.course_id != getattr(course, "id", None)
    ):
        errors["section"] = ["That section does not belong to the course."]
    course_targets = (
        set(
            CourseTarget.objects.filter(school=school, course=course).values_list(
                "target_id", flat=True
            )
        )
        if course is not None
        else set()
    )
    targets = set(target_ids or [])
    if not targets:
        errors["targets"] = ["Align the assessment to at least one learning target."]
    elif not targets <= course_targets:
        errors["targets"] = ["Only the course's learning targets can be aligned."]
    if original is not None:
        if kind != AssessmentKind.REASSESSMENT:
            errors["original"] = ["Only a reassessment retakes an original assessment."]
        elif original.school_id != school.id or original.course_id != getattr(course, "id", None):
            errors["original"] = ["The original must be an assessment of the same course."]
        elif assessment is not None and original.id == assessment.id:
            errors["original"] = ["An assessment cannot retake itself."]
    if course is not None and "section" not in errors:
        terms = (
            [section.term]
            if section is not None
            else [
                s.term
                for s in Section.objects.filter(school=school, course=course).select_related("term")
            ]
        )
        if terms and not any(t.contains(assessed_on) for t in terms):
            names = ", ".join(sorted({t.name for t in terms}))
            errors["assessed_on"] = [f"{assessed_on:%b %-d, %Y} is outside the term ({names})."]
    if assessment is not None and section is not None and "section" not in errors:
        # Narrowing a common assessment to one section would strand other sections' scores.
        stranded = (
            Evidence.objects.filter(school=school, assessment=assessment, voided_at__isnull=True)
            .exclude(student__enrollments__section=section)
            .count()
        )
        if stranded:
            errors["section"] = [
                f"{stranded} score{'s' if stranded != 1 else ''} from other sections exist on this assessment; "
                "keep it common to the course, or void those scores first."
            ]
    if assessment is not None:
        removed = set(assessment.alignments.values_list("target_id", flat=True)) - targets
        in_use = Evidence.objects.filter(
            school=school, assessment=assessment, target_id__in=removed, voided_at__isnull=True
        ).count()
        if in_use:
            errors["targets"] = [
                f"{in_use} score{'s' if in_use != 1 else ''} exist on the targets you removed; void them first."
            ]
    if errors:
        raise EvidenceError(errors)

    fields = {
        "title": title[:200],
        "kind": kind,
        "assessed_on": assessed_on,
        "course": course,
        "section": section,
        "tier": (tier or "").strip()[:40],
        "original": original,
        "description": (description or "").strip(),
    }
    if assessment is None:
        assessment = Assessment.objects.create(school=school, created_by=saved_by, **fields)
        old_kind = old_date = None
    else:
        old_kind, old_date = assessment.kind, assessment.assessed_on
        for name, value in fields.items():
            setattr(assessment, name, value)
        assessment.save()
    existing = set(
        AssessmentTarget.objects.filter(school=school, assessment=assessment).values_list(
            "target_id", flat=True
        )
    )
    AssessmentTarget.objects.filter(
        school=school, assessment=assessment, target_id__in=existing - targets
    ).delete()
    AssessmentTarget.objects.bulk_create(
        AssessmentTarget(school=school, assessment=assessment, target_id=t)
        for t in sorted(targets - existing)
    )
    pagecache.school_changed(school.id)  # families see scheduled reassessments
    if old_kind is not None and (old_kind != kind or old_date != assessed_on):
        assert old_date is not None  # set with old_kind, from the edited assessment's date
        live = Evidence.objects.filter(school=school, assessment=assessment, voided_at__isnull=True)
        _audit_assessment_edit(
            school=school, saved_by=saved_by, assessment=assessment, live=live, old_date=old_date
        )
        # Evidence dated with the assessment moves with it; evidence given its own date keeps it.
        live.filter(assessed_on=old_date).update(assessed_on=assessed_on)
        live.update(kind=kind)
        pairs_recompute(school=school, pairs=set(live.values_list("student_id", "target_id")))
    return assessment


def _audit_assessment_edit(
    *,
    school: School,
    saved_by: User,
    assessment: Assessment,
    live: QuerySet[Evidence],
    old_date: date,
) -> None:
    """The evidence an assessment edit re-dates or re-kinds: one event each, in bulk."""
    events = []
    for e in live.only("id", "student_id", "target_id", "kind", "assessed_on"):
        before = {"kind": e.kind, "assessed_on": e.assessed_on.isoformat()}
        day = assessment.assessed_on if e.assessed_on == old_date else e.assessed_on
        after = {"kind": assessment.kind, "assessed_on": day.isoformat()}
        if before != after:
            events.append(
                audit.event(
                    school=school,
                    action=AuditEvent.Action.UPDATE,
                    object_type=AuditEvent.ObjectType.EVIDENCE,
                    object_id=e.id,
                    student_id=e.student_id,
                    target_id=e.target_id,
                    before=before,
                    after=after,
                    actor=saved_by,
                    summary=f"“{assessment.title}” edited: its evidence follows (kind, date)",
                )
            )
    audit.record_many(events)
