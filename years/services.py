"""The school-year rollover: the plan (a pure read: the dry run) and the run (one transaction).

`rollover_plan` says exactly what closing a year will do: the terms it closes, the intervention
cycles it closes, the sections it archives, each student's promotion (with the admin's listed
exceptions), the year-end snapshot of mastery it keeps, and the next year it opens. The page
shows it (the dry run); confirming stores it on a YearRollover with its fingerprint and queues
the run (`rollover_start`). The run (`rollover_run`, in a Celery task) derives the plan again
from the school as it stands, inside its transaction and behind the school's recompute lock, and
executes it only if it is the plan the admin confirmed; otherwise it changes nothing and says
what moved. Why derive it again rather than execute the stored one: the stored plan names rows
(sections, students and their grades) that may have changed since the preview (a roster import,
a student who left), and executing a stale list would archive or promote on old facts. Deriving
it again and comparing gives both guarantees: what runs is what the admin saw, and it is still
true. The identical-plan test (tests/years) checks the dry run's plan is the one executed.

Every step is idempotent on its own too (a second run is refused earlier, by the rollover's
status): the snapshot inserts ON CONFLICT DO NOTHING, promotions are unique per student and year
and move a grade only from the grade they recorded, closing and archiving set a date only where
none is set. Nothing is deleted: evidence, mastery records, posted marks and reports stay, and
the closed year's levels are kept as YearEndMastery rows, read as last year's context.

The snapshot is the closing year's records as of the day before the next year starts, computed
by the recompute's own statements (grading.as_of.records_as_of_sql) rather than copied from
gradebook_mastery: when the next year already exists and has begun (a roster import made it
first, the rollover is run late), the records already count only the new year's evidence, and a
copy would keep the wrong year. Run before the new year, the two are the same rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from gradebook.models import (
    Enrollment,
    SchoolYear,
    Section,
    Student,
    Term,
    YearEndMastery,
)
from grading.as_of import records_as_of_python, records_as_of_sql
from grading.locks import school_lock
from grading.services import enqueue_school_recompute
from intervention.models import InterventionCycle
from intervention.services import cycle_close
from mastery import audit, pagecache
from mastery.models import AuditEvent, School, User
from years.models import Promotion, YearRollover
from years.tasks import rollover_run_task

logger = logging.getLogger(__name__)

TOP_GRADE = 12
GRADES = range(0, 14)  # kindergarten (0) to a thirteenth year


@dataclass(frozen=True)
class NextYear:
    """The school year the rollover opens: an existing one (the roster import may have made
    it) when one has this name, else a new one."""

    name: str
    starts_on: date
    ends_on: date


class PlanChanged(ValidationError):
    """The school changed between the plan the admin confirmed and now."""

    def __init__(self, plan: dict, changed: list[str]):
        self.plan = plan
        self.changed = changed
        what = f" ({', '.join(changed)})" if changed else ""
        super().__init__(
            f"The school changed since the plan was shown{what}: nothing was changed. "
            "Check the plan again before running it."
        )


# What each part of a plan is called, for the message when it changed.
PLAN_PARTS = {
    "year": "the closing year",
    "next_year": "the next year",
    "terms": "terms to close",
    "cycles": "intervention cycles to close",
    "sections": "sections to archive",
    "promoted": "students to promote",
    "retained": "students retained",
    "graduating": "graduates",
    "no_grade": "students without a grade level",
    "snapshot": "year-end records to keep",
    "promote": "promotion",
    "top_grade": "the top grade",
}


# --- The plan ----------------------------------------------------------------------------------------


def student_numbers(text: str) -> list[str]:
    """Student numbers typed one per line (commas and spaces separate them too), in order, once."""
    seen: dict[str, None] = {}
    for number in text.replace(",", " ").split():
        seen.setdefault(number.strip(), None)
    return list(seen)


def rollover_plan(
    *,
    school: School,
    year: SchoolYear,
    next_year: NextYear,
    retained: Sequence[str] = (),
    top_grade: int = TOP_GRADE,
    promote: bool = True,
) -> dict[str, Any]:
    """What closing `year` and opening `next_year` would do, as a JSON-ready dict; nothing is
    written. Raises ValidationError (by field: year, name, starts_on, ends_on, retained,
    top_grade) for a plan that cannot run.

    The plan depends only on the school's rows and these inputs (not on today's date), so the
    same school gives the same plan; `plan_fingerprint` is what a confirmation confirms.
    """
    errors: dict[str, list[str]] = {}
    if year.school_id != school.id:
        raise ValidationError({"year": ["That school year is not in this school."]})
    if year.closed_at is not None:
        errors.setdefault("year", []).append(
            f"{year.name} was closed on {timezone.localdate(year.closed_at):%B %-d, %Y}."
        )
    existing = _check_next_year(school, year, next_year, errors)
    if top_grade not in GRADES:
        errors.setdefault("top_grade", []).append("The top grade is a grade from 0 to 13.")
    retained = list(dict.fromkeys(n.strip() for n in retained if n.strip()))
    if retained and not promote:
        errors.setdefault("retained", []).append(
            "Students are retained only when the others are promoted: tick “Promote”."
        )
    students = list(Student.objects.filter(school=school).order_by("local_id", "id"))
    _check_retained(students, retained, errors)
    if errors:
        raise ValidationError(errors)

    terms = list(
        Term.objects.filter(
            school=school, starts_on__gte=year.starts_on, starts_on__lte=year.ends_on
        ).order_by("starts_on", "id")
    )
    sections = list(
        Section.objects.filter(school=school, term__in=terms, archived_at__isnull=True)
        .select_related("course", "term")
        .order_by("id")
    )
    cycles = list(
        InterventionCycle.objects.filter(
            school=school,
            status__in=[InterventionCycle.Status.OPEN, InterventionCycle.Status.PLANNED],
            starts_on__gte=year.starts_on,
            starts_on__lte=year.ends_on,
        ).order_by("number")
    )
    promoted, kept, graduating, no_grade = [], [], [], []
    if promote:
        for student in (s for s in students if s.is_active):
            entry = {
                "id": student.id,
                "local_id": student.local_id,
                "name": student.sortable_name,
                "from": student.grade_level,
            }
            if student.grade_level is None:
                no_grade.append(entry)
            elif student.local_id in retained:
                kept.append({**entry, "to": student.grade_level})
            elif student.grade_level >= top_grade:
                graduating.append({**entry, "to": None})
            else:
                promoted.append({**entry, "to": student.grade_level + 1})
    as_of = next_year.starts_on - timedelta(days=1)
    return {
        "year": {
            "id": year.id,
            "name": year.name,
            "starts_on": year.starts_on.isoformat(),
            "ends_on": year.ends_on.isoformat(),
        },
        "next_year": {
            "id": existing.id if existing else None,
            "name": next_year.name,
            "starts_on": next_year.starts_on.isoformat(),
            "ends_on": next_year.ends_on.isoformat(),
        },
        "promote": promote,
        "top_grade": top_grade,
        "terms": [{"id": t.id, "name": t.name} for t in terms if t.closed_at is None],
        "cycles": [{"id": c.id, "number": c.number, "status": c.status} for c in cycles],
        "sections": [
            {"id": s.id, "name": f"{s.course.code} {s.name}", "term": s.term.name} for s in sections
        ],
        "promoted": promoted,
        "retained": kept,
        "graduating": graduating,
        "no_grade": no_grade,
        "snapshot": {"as_of": as_of.isoformat(), "records": _snapshot_count(school, year, as_of)},
    }


def _check_next_year(
    school: School, year: SchoolYear, spec: NextYear, errors: dict[str, list[str]]
) -> SchoolYear | None:
    name = spec.name.strip()
    if not name:
        errors.setdefault("name", []).append("Name the next school year, e.g. 2026-2027.")
    elif len(name) > 40:
        errors.setdefault("name", []).append("Keep the year's name under 40 characters.")
    if spec.ends_on <= spec.starts_on:
        errors.setdefault("ends_on", []).append("The next year ends after it starts.")
    if spec.starts_on <= year.ends_on:
        errors.setdefault("starts_on", []).append(
            f"The next year starts after {year.name} ends ({year.ends_on:%B %-d, %Y})."
        )
    existing = SchoolYear.objects.filter(school=school, name=name).first() if name else None
    if existing is not None and existing.pk == year.pk:
        errors.setdefault("name", []).append("That is the year being closed.")
        return None
    if existing is not None and (existing.starts_on, existing.ends_on) != (
        spec.starts_on,
        spec.ends_on,
    ):
        errors.setdefault("name", []).append(
            f"{existing.name} already exists, from {existing.starts_on:%B %-d, %Y} to "
            f"{existing.ends_on:%B %-d, %Y}: use those dates, or another name."
        )
    others = (
        SchoolYear.objects.filter(
            school=school, starts_on__lte=spec.ends_on, ends_on__gte=year.starts_on
        )
        .exclude(pk__in=[year.pk, *([existing.pk] if existing else [])])
        .order_by("starts_on")
    )
    for other in others:
        errors.setdefault("starts_on", []).append(
            f"{other.name} ({other.starts_on:%b %-d, %Y} – {other.ends_on:%b %-d, %Y}) lies "
            f"between {year.name} and the next year: close or move it first."
        )
    return existing


def _check_retained(
    students: Iterable[Student], retained: Sequence[str], errors: dict[str, list[str]]
) -> None:
    by_number = {s.local_id: s for s in students}
    unknown = [n for n in retained if n not in by_number]
    if unknown:
        errors.setdefault("retained", []).append(
            "No student has the number " + ", ".join(f"“{n}”" for n in unknown) + "."
        )
    for number in retained:
        student = by_number.get(number)
        if student is None:
            continue
        if not student.is_active:
            errors.setdefault("retained", []).append(
                f"{student.display_name} ({number}) is not an active student."
            )
        elif student.grade_level is None:
            errors.setdefault("retained", []).append(
                f"{student.display_name} ({number}) has no grade level to keep."
            )


def _snapshot_count(school: School, year: SchoolYear, as_of: date) -> int:
    """How many year-end records the run would add: the pairs with evidence in the year."""
    already = YearEndMastery.objects.filter(school=school, year=year).values_list(
        "student_id", "target_id"
    )
    if connection.vendor != "postgresql":
        have = set(already)
        return sum(
            1
            for row in records_as_of_python(school, as_of)
            if row[5] > 0 and (row[0], row[1]) not in have
        )
    total = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for select in records_as_of_sql(cursor, school):
            cursor.execute(
                f"SELECT count(*) FROM ({select}) o WHERE o.evidence_count > 0 AND NOT EXISTS ("
                " SELECT 1 FROM gradebook_yearendmastery y WHERE y.school_id = %(school_id)s"
                " AND y.year_id = %(year_id)s AND y.student_id = o.student_id"
                " AND y.target_id = o.target_id)",
                {"school_id": school.id, "as_of": as_of, "year_id": year.id},
            )
            total += cursor.fetchone()[0]
    return total


def plan_fingerprint(plan: dict[str, Any]) -> str:
    """What a confirmation confirms: this plan, exactly."""
    return hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()


def plan_inputs(plan: dict[str, Any]) -> dict[str, Any]:
    """The inputs a stored plan was made from (rollover_plan's keyword arguments but the year)."""
    spec = plan["next_year"]
    return {
        "next_year": NextYear(
            name=spec["name"],
            starts_on=date.fromisoformat(spec["starts_on"]),
            ends_on=date.fromisoformat(spec["ends_on"]),
        ),
        "retained": [entry["local_id"] for entry in plan["retained"]],
        "top_grade": plan["top_grade"],
        "promote": plan["promote"],
    }


def plan_changes(confirmed: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The parts of a plan that differ, in words."""
    return [PLAN_PARTS.get(key, key) for key in now if confirmed.get(key) != now[key]]


# --- Starting it -------------------------------------------------------------------------------------


@transaction.atomic
def rollover_start(
    *,
    school: School,
    year: SchoolYear,
    next_year: NextYear,
    retained: Sequence[str],
    top_grade: int,
    promote: bool,
    confirmed: str,
    requested_by: User,
) -> YearRollover:
    """Store the confirmed plan and queue its run (after the commit). The same form sent twice
    (a double click, Back and resend) finds the rollover already made: one run per year.

    Raises PlanChanged when the plan is no longer the one confirmed (`confirmed`: its
    fingerprint), with the new plan to show.
    """
    live = YearRollover.objects.filter(school=school, year=year).exclude(
        status=YearRollover.Status.FAILED
    )
    found = live.first()
    if found is not None:
        return found
    plan = rollover_plan(
        school=school,
        year=year,
        next_year=next_year,
        retained=retained,
        top_grade=top_grade,
        promote=promote,
    )
    fingerprint = plan_fingerprint(plan)
    if fingerprint != confirmed:
        raise PlanChanged(plan, [])
    try:
        with transaction.atomic():
            rollover = YearRollover.objects.create(
                school=school,
                year=year,
                plan=plan,
                fingerprint=fingerprint,
                requested_by=requested_by,
            )
    except IntegrityError:  # the same form, sent again meanwhile: its rollover stands
        return live.get()
    transaction.on_commit(lambda: rollover_enqueue(school_id=school.id, rollover_id=rollover.id))
    return rollover


def rollover_enqueue(*, school_id: int, rollover_id: int) -> bool:
    """Queue the run; a dead broker is logged, and the page offers to queue it again."""
    try:
        rollover_run_task.delay(school_id=school_id, rollover_id=rollover_id)
    except Exception:  # kombu's own OperationalError and OSError kinds
        logger.exception("Could not queue the rollover %s of school %s", rollover_id, school_id)
        return False
    return True


# --- The run -----------------------------------------------------------------------------------------


def rollover_run(*, school: School, rollover_id: int) -> dict[str, Any]:
    """Run a confirmed rollover (the Celery task's body). Safe to run twice: a rollover that is
    done (or failed) is not run again. A failure rolls the whole run back and marks the rollover
    failed with the reason, which the years page shows."""
    claimed = YearRollover.objects.filter(
        school=school,
        pk=rollover_id,
        status__in=[YearRollover.Status.PLANNED, YearRollover.Status.RUNNING],
    ).update(status=YearRollover.Status.RUNNING, started_at=timezone.now())
    if not claimed:
        return {"skipped": "not waiting to run"}
    try:
        return _run(school, rollover_id)
    except Exception as exc:
        message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        if not isinstance(exc, ValidationError):
            logger.exception("The rollover %s of school %s failed", rollover_id, school.slug)
        YearRollover.objects.filter(school=school, pk=rollover_id).exclude(
            status=YearRollover.Status.DONE
        ).update(
            status=YearRollover.Status.FAILED, error=message[:2000], finished_at=timezone.now()
        )
        return {"failed": message}


@transaction.atomic
def _run(school: School, rollover_id: int) -> dict[str, Any]:
    rollover = (
        YearRollover.objects.select_for_update(of=("self",))
        .select_related("year", "requested_by")
        .get(school=school, pk=rollover_id)
    )
    if rollover.status == YearRollover.Status.DONE:  # a second delivery waited on the lock
        return {"skipped": "done"}
    # Score writes wait until the run commits (they take this lock shared): the snapshot and the
    # plan's checks see the school as it will be closed.
    school_lock(school, shared=False)
    year = rollover.year
    plan = rollover_plan(school=school, year=year, **plan_inputs(rollover.plan))
    if plan_fingerprint(plan) != rollover.fingerprint:
        raise PlanChanged(plan, plan_changes(rollover.plan, plan))
    now = timezone.now()
    spec = plan_inputs(plan)["next_year"]
    next_year, created = SchoolYear.objects.get_or_create(
        school=school,
        name=spec.name,
        defaults={"starts_on": spec.starts_on, "ends_on": spec.ends_on},
    )
    summary: dict[str, Any] = {"next_year_created": created}
    summary["snapshot"] = _snapshot(school, year, date.fromisoformat(plan["snapshot"]["as_of"]))
    summary["cycles_closed"] = _close_cycles(school, plan, now)
    summary["terms_closed"] = Term.objects.filter(
        school=school, id__in=[t["id"] for t in plan["terms"]], closed_at__isnull=True
    ).update(closed_at=now)
    summary["sections_archived"] = Section.objects.filter(
        school=school, id__in=[s["id"] for s in plan["sections"]], archived_at__isnull=True
    ).update(archived_at=now)
    summary.update(_promote(school, year, plan, now))
    SchoolYear.objects.filter(school=school, pk=year.pk, closed_at__isnull=True).update(
        closed_at=now
    )
    begun = next_year.starts_on <= timezone.localdate()
    if begun:
        # The next year has already begun: its records must count only its evidence now. A
        # next year still to come is recomputed on its first day by the catch-up beat task
        # (grading.school.year_stale_school_ids); scores recorded meanwhile count the closing
        # year, whose records stand until then.
        transaction.on_commit(lambda: enqueue_school_recompute(school_id=school.id))
        summary["recompute"] = "queued"
    rollover.status = YearRollover.Status.DONE
    rollover.next_year = next_year
    rollover.summary = summary
    rollover.error = ""
    rollover.finished_at = timezone.now()
    rollover.save(update_fields=["status", "next_year", "summary", "error", "finished_at"])
    _audit(school, rollover, next_year, summary)
    pagecache.school_changed(school.id)  # the portals show grade levels
    return summary


def _snapshot(school: School, year: SchoolYear, as_of: date) -> int:
    """Keep the year's records as of `as_of` (ON CONFLICT DO NOTHING: a second time adds none)."""
    if connection.vendor != "postgresql":
        before = YearEndMastery.objects.filter(school=school, year=year).count()
        YearEndMastery.objects.bulk_create(
            (
                YearEndMastery(
                    school=school,
                    year=year,
                    student_id=student_id,
                    target_id=target_id,
                    score=score,
                    level=level,
                    mastered=mastered,
                    evidence_count=count,
                    last_evidence_on=last_on,
                    explanation=explanation,
                )
                for student_id, target_id, score, level, mastered, count, last_on, explanation in (
                    records_as_of_python(school, as_of)
                )
                if count > 0
            ),
            batch_size=2000,
            ignore_conflicts=True,
        )
        return YearEndMastery.objects.filter(school=school, year=year).count() - before
    inserted = 0
    with connection.cursor() as cursor:
        for select in records_as_of_sql(cursor, school):
            cursor.execute(
                "INSERT INTO gradebook_yearendmastery (school_id, year_id, student_id, target_id,"
                " score, level, mastered, evidence_count, last_evidence_on, explanation,"
                f" recorded_at) SELECT %(school_id)s, %(year_id)s, o.*, now() FROM ({select}) o"
                " WHERE o.evidence_count > 0"
                " ON CONFLICT (school_id, year_id, student_id, target_id) DO NOTHING",
                {"school_id": school.id, "year_id": year.id, "as_of": as_of},
            )
            inserted += cursor.rowcount
    return inserted


def _close_cycles(school: School, plan: dict[str, Any], now: Any) -> int:
    """The open cycle closes as a cycle closes (its roster's outcomes from mastery, audited);
    the planned ones are closed unopened."""
    closed = 0
    ids = [c["id"] for c in plan["cycles"]]
    for cycle in InterventionCycle.objects.filter(
        school=school, id__in=ids, status=InterventionCycle.Status.OPEN
    ):
        closed += int(cycle_close(school=school, cycle=cycle).closed)
    closed += InterventionCycle.objects.filter(
        school=school, id__in=ids, status=InterventionCycle.Status.PLANNED
    ).update(status=InterventionCycle.Status.CLOSED, closed_at=now)
    return closed


def _promote(school: School, year: SchoolYear, plan: dict[str, Any], now: Any) -> dict[str, int]:
    """One Promotion row per student (unique per year), then one UPDATE of the promoted grades
    from the grade their row recorded: a second pass promotes nobody twice."""
    outcomes = (
        ("promoted", Promotion.Outcome.PROMOTED),
        ("retained", Promotion.Outcome.RETAINED),
        ("graduating", Promotion.Outcome.GRADUATED),
    )
    Promotion.objects.bulk_create(
        (
            Promotion(
                school=school,
                year=year,
                student_id=entry["id"],
                from_grade=entry["from"],
                to_grade=entry["to"],
                outcome=outcome,
                recorded_at=now,
            )
            for key, outcome in outcomes
            for entry in plan[key]
        ),
        batch_size=2000,
        ignore_conflicts=True,
    )
    promoted = Student.objects.filter(
        school=school,
        promotions__school=school,
        promotions__year=year,
        promotions__outcome=Promotion.Outcome.PROMOTED,
        grade_level=F("promotions__from_grade"),
    ).update(grade_level=F("grade_level") + 1)
    return {
        "promoted": promoted,
        "retained": len(plan["retained"]),
        "graduated": len(plan["graduating"]),
        "no_grade": len(plan["no_grade"]),
    }


def _audit(
    school: School, rollover: YearRollover, next_year: SchoolYear, summary: dict[str, Any]
) -> None:
    year = rollover.year
    with audit.context(source="rollover"):
        audit.record(
            school=school,
            action=AuditEvent.Action.UPDATE,
            object_type=AuditEvent.ObjectType.YEAR,
            object_id=year.id,
            actor=rollover.requested_by,
            before={"closed": False},
            after={"closed": True, "rollover": rollover.id, **summary},
            summary=(
                f"{year.name} closed: {summary['terms_closed']} terms closed, "
                f"{summary['sections_archived']} sections archived, {summary['promoted']} "
                f"students promoted, {summary['retained']} retained, {summary['graduated']} "
                f"graduated; {summary['snapshot']} year-end records kept"
            ),
        )
        if summary["next_year_created"]:
            audit.record(
                school=school,
                action=AuditEvent.Action.CREATE,
                object_type=AuditEvent.ObjectType.YEAR,
                object_id=next_year.id,
                actor=rollover.requested_by,
                after=_year_state(next_year),
                summary=f"{next_year.name} opened by the rollover of {year.name}",
            )


def _year_state(year: SchoolYear) -> dict[str, str]:
    return {
        "name": year.name,
        "starts_on": year.starts_on.isoformat(),
        "ends_on": year.ends_on.isoformat(),
    }


# --- Adding a year by hand -------------------------------------------------------------------------


@transaction.atomic
def school_year_add(
    *, school: School, name: str, starts_on: date, ends_on: date, added_by: User
) -> SchoolYear:
    """Add a school year (a school's first, before its first rollover). Audited. A year that
    has already begun moves the evidence window of every record: the school's recompute is
    queued after the commit."""
    name = name.strip()
    errors: dict[str, list[str]] = {}
    if not name or len(name) > 40:
        errors["name"] = ["Name the year (up to 40 characters), e.g. 2026-2027."]
    elif SchoolYear.objects.filter(school=school, name=name).exists():
        errors["name"] = [f"There is already a year named {name}."]
    if ends_on <= starts_on:
        errors["ends_on"] = ["A year ends after it starts."]
    else:
        overlapping = SchoolYear.objects.filter(
            school=school, starts_on__lte=ends_on, ends_on__gte=starts_on
        ).first()
        if overlapping is not None:
            errors["starts_on"] = [
                f"It overlaps {overlapping.name} ({overlapping.starts_on:%b %-d, %Y} – "
                f"{overlapping.ends_on:%b %-d, %Y})."
            ]
    if errors:
        raise ValidationError(errors)
    year = SchoolYear.objects.create(school=school, name=name, starts_on=starts_on, ends_on=ends_on)
    audit.record(
        school=school,
        action=AuditEvent.Action.CREATE,
        object_type=AuditEvent.ObjectType.YEAR,
        object_id=year.id,
        actor=added_by,
        after=_year_state(year),
        summary=f"School year {name} added",
    )
    if starts_on <= timezone.localdate():
        transaction.on_commit(lambda: enqueue_school_recompute(school_id=school.id))
    return year


def enrolled_next_year(school: School, spec: NextYear) -> int:
    """Students already enrolled in sections of the next year's terms (its roster was imported
    before the rollover): their grade levels may already be next year's."""
    return (
        Enrollment.objects.filter(
            school=school,
            withdrawn_on__isnull=True,
            section__term__starts_on__gte=spec.starts_on,
            section__term__starts_on__lte=spec.ends_on,
        )
        .values("student_id")
        .distinct()
        .count()
    )
