"""Baselines: Mastery levels as they stood on past dates, for the dashboards' "since" columns.

A baseline date is computed once into MasterySnapshot (one set-based INSERT … SELECT per policy on
PostgreSQL, the engine on SQLite) by a Celery task; the dashboards read it with the same GROUP BY
queries they run on today's Mastery table. Which dates: the day before the term began (what the
students carried into it) and, for every intervention cycle of the term, the day before it began
and its last day once it has ended.

A baseline is computed under the policies current at the time; it notices a newer version itself
(`policy_versions`): a run computed under versions that are no longer current counts as missing and
is computed again, so a policy change needs nothing from the apps below.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import TYPE_CHECKING, TypedDict

from django.db import connection, transaction
from django.db.models import CharField, OuterRef, Q, QuerySet, StringAgg, Subquery, Value
from django.db.models.functions import Cast
from django.utils import timezone

from gradebook.models import Evidence, Term
from grading.as_of import outcomes_as_of_python, outcomes_as_of_sql
from intervention.models import InterventionCycle
from mastery.models import GradingPolicy, School
from mastery.selectors import current_policies
from reports.models import BaselineRun, MasterySnapshot
from reports.tasks import compute_baselines

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class VersionsNow(TypedDict):
    """What `runs_with_versions_now` adds to a run."""

    versions_now: str | None


def term_start_date(term: Term) -> date:
    """What students carried into the term: the evidence dated before its first day."""
    return term.starts_on - timedelta(days=1)


def cycle_start_date(cycle: InterventionCycle) -> date:
    return cycle.starts_on - timedelta(days=1)


def cycle_end_date(cycle: InterventionCycle) -> date:
    return cycle.ends_on


def term_cycles(school: School, term: Term, today: date) -> list[InterventionCycle]:
    """The intervention cycles that began within the term, up to today, oldest first."""
    return list(
        InterventionCycle.objects.filter(
            school=school, starts_on__gte=term.starts_on, starts_on__lte=min(term.ends_on, today)
        ).order_by("starts_on")
    )


def baseline_dates(term: Term, cycles: Iterable[InterventionCycle], today: date) -> list[date]:
    dates = {term_start_date(term)}
    for cycle in cycles:
        dates.add(cycle_start_date(cycle))
        if cycle_end_date(cycle) < today:
            dates.add(cycle_end_date(cycle))
    return sorted(dates)


def policy_versions(school: School) -> str:
    """The school's current policy versions as a run records them: ids ascending, "3,17"."""
    return ",".join(str(p.id) for p in sorted(current_policies(school), key=lambda p: p.id))


def runs_with_versions_now(
    school: School,
) -> QuerySet[WithAnnotations[BaselineRun, VersionsNow]]:
    """The school's runs, each with `versions_now`: the current policy versions, in the run's own
    query (a dashboard that shows no grade reads no policy for it)."""
    now = (
        GradingPolicy.objects.filter(school=OuterRef("school"), is_current=True)
        .values("school")
        .annotate(v=StringAgg(Cast("id", CharField()), Value(","), order_by="id"))
        .values("v")
    )
    return BaselineRun.objects.filter(school=school).annotate(versions_now=Subquery(now))


def baselines_ready(*, school: School, dates: Iterable[date]) -> tuple[set[date], bool]:
    """The dates among `dates` whose baseline is computed under the current policies, and whether
    any were missing or computed under an older version (those are queued now, once: a run row
    per date, set back to queued, makes a second request or a redelivery a no-op)."""
    dates = set(dates)
    runs = {r.as_of: r for r in runs_with_versions_now(school).filter(as_of__in=dates)}
    outdated = [
        d
        for d, r in runs.items()
        if r.status == BaselineRun.Status.DONE and r.policy_versions != r.versions_now
    ]
    missing = sorted(d for d in dates if d not in runs)
    requeued = 0
    if outdated:
        requeued = (
            BaselineRun.objects.filter(school=school, as_of__in=outdated)
            .exclude(status=BaselineRun.Status.QUEUED)
            .update(status=BaselineRun.Status.QUEUED, queued_at=timezone.now())
        )
    if missing:
        BaselineRun.objects.bulk_create(
            [BaselineRun(school=school, as_of=d) for d in missing], ignore_conflicts=True
        )
    if missing or requeued:
        school_id = school.id
        wanted = sorted(set(missing) | set(outdated))
        transaction.on_commit(
            lambda: compute_baselines.delay(
                school_id=school_id, dates=[d.isoformat() for d in wanted]
            )
        )
        # Outside a transaction the task was queued at once, and run if Celery is eager (the demo).
        runs = {r.as_of: r for r in runs_with_versions_now(school).filter(as_of__in=dates)}
    done = {
        d
        for d, r in runs.items()
        if r.status == BaselineRun.Status.DONE and r.policy_versions == r.versions_now
    }
    return done, len(done) < len(dates)


@transaction.atomic
def baseline_compute(*, school: School, as_of: date) -> int:
    """(Re)compute the snapshot of one date. Idempotent: it replaces that date's rows."""
    run, _ = BaselineRun.objects.select_for_update().get_or_create(school=school, as_of=as_of)
    MasterySnapshot.objects.filter(school=school, as_of=as_of).delete()
    if connection.vendor == "postgresql":
        pairs = 0
        with connection.cursor() as cursor:
            for select in outcomes_as_of_sql(cursor, school):
                cursor.execute(
                    "INSERT INTO reports_masterysnapshot"
                    " (school_id, as_of, student_id, target_id, score, level, mastered)"
                    f" SELECT %(school_id)s, %(as_of)s, o.* FROM ({select}) o",
                    {"school_id": school.id, "as_of": as_of},
                )
                pairs += cursor.rowcount
            # Fresh statistics for the dashboards' joins right away: with the table's old
            # estimate (a few rows) PostgreSQL nests loops over a school's 180,000 pairs.
            cursor.execute("ANALYZE reports_masterysnapshot")
    else:
        rows = [
            MasterySnapshot(
                school=school,
                as_of=as_of,
                student_id=student_id,
                target_id=target_id,
                score=score,
                level=level,
                mastered=mastered,
            )
            for student_id, target_id, score, level, mastered in outcomes_as_of_python(
                school, as_of
            )
        ]
        MasterySnapshot.objects.bulk_create(rows, batch_size=2000)
        pairs = len(rows)
    run.status = BaselineRun.Status.DONE
    run.computed_at = timezone.now()
    run.pairs = pairs
    run.policy_versions = policy_versions(school)
    run.save(update_fields=["status", "computed_at", "pairs", "policy_versions"])
    return pairs


def stale_baseline_dates(*, school: School) -> list[date]:
    """Computed baselines computed under an older policy, or whose evidence changed since
    (recorded or voided later, dated before)."""
    stale = []
    for run in runs_with_versions_now(school).filter(status=BaselineRun.Status.DONE):
        if run.policy_versions != run.versions_now:
            stale.append(run.as_of)
            continue
        changed = Evidence.objects.filter(school=school, assessed_on__lte=run.as_of).filter(
            Q(recorded_at__gt=run.computed_at) | Q(voided_at__gt=run.computed_at)
        )
        if changed.exists():
            stale.append(run.as_of)
    return stale
