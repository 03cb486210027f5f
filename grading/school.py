"""A whole school recomputed: set-based SQL on PostgreSQL, engine batches elsewhere.

Two implementations of one contract (mastery/calculation.py):

- `school_recompute_sql` computes every pair of a school in a few SQL statements (one per current
  policy, grading/sql.py), and writes the results with one INSERT … ON CONFLICT that skips rows
  whose values did not change; `school_recompute_parts` splits it over connections.
- `school_recompute_python` does the same in batches through the engine; it serves SQLite (the
  demo) and is the reference the SQL path is tested against.

Both order evidence by (evidence date, id) and round the same way (10 places, then half up to 2),
so they agree to the cent (tests/grading/test_recompute.py). `mastery_recompute_school` is the
entry point: it takes the school's recompute lock and picks the implementation.

Both count, for each pair, the evidence of today's school year only, unless the pair's policy
carries prior years (grading.policies, "the year boundary"). When a new school year begins the
records must be computed again: `stale_school_ids` finds the schools whose records still count
evidence from before the year that began (the catch-up beat task queues their recompute).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import cast

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from gradebook.models import Evidence, Mastery, SchoolYear, SelfAssessment
from grading.locks import school_lock
from grading.pair import MASTERY_FIELDS, mastery_from_outcome, mastery_upsert
from grading.policies import default_policy, governing, policy_scopes, window_sql, year_start
from grading.sql import policy_statement
from mastery import calculation, pagecache
from mastery.models import School
from mastery.selectors import achievement_levels, current_policies
from mastery.tenancy import all_schools, enter_school

BATCH = 2000


@dataclass
class RecomputeResult:
    pairs: int
    written: int  # records rewritten: any field, the computing policy version included
    method: str  # "sql" or "python"
    parts: int = 1  # connections that computed it side by side (school_recompute_parts)
    level_changes: int = 0  # records whose level changed (what a policy preview predicts)

    def as_dict(self) -> dict:
        return {
            "pairs": self.pairs,
            "written": self.written,
            "method": self.method,
            "parts": self.parts,
            "level_changes": self.level_changes,
        }


@dataclass(frozen=True)
class Part:
    """One of `of` disjoint shares of a school's students: those whose id modulo `of` is
    `index`. A student's records all fall in one share, so shares never write the same row."""

    index: int
    of: int

    def sql(self) -> str:
        # %% because the statements run with parameters.
        return f" AND e.student_id %% {int(self.of)} = {int(self.index)}"


@transaction.atomic
def mastery_recompute_school(*, school: School) -> RecomputeResult:
    """Recompute every Mastery record of the school under its current policies.

    Set-based SQL on PostgreSQL, batches through the engine elsewhere. Idempotent: a second run
    over unchanged data writes nothing. (The dashboards' baselines notice the new policy version
    themselves: reports/baselines.py.)
    """
    school_lock(school, shared=False)
    if connection.vendor != "postgresql":
        return school_recompute_python(school)
    return school_recompute_parts(school)


def pairs_in_order(
    school: School,
    until: date | None = None,
    *,
    counts_self: Callable[[int, int], bool] | None = None,
) -> Iterator[tuple[int, int, list[tuple]]]:
    """Every (student, target) with evidence (voided included), with its live evidence rows;
    with `until`, only the evidence dated on or before it.

    Every date: which of them a pair's policy counts (the school year's window) depends on the
    pair, so `engine_evidence(rows, since)` keeps them out; the pair is yielded either way, as the
    SQL computes it either way.

    With `counts_self` (whether a pair's policy counts self-assessments: Governing.self_counted),
    a pair whose policy counts them also gets the student's live self-assessments, as rows of kind
    "self" after the evidence of the same day (the SQL's order), and a pair with self-assessments
    only (withdrawn ones included) is yielded too, as the policy's statement reads them.
    """
    own = self_assessment_rows(school, until) if counts_self is not None else {}
    evidence = Evidence.objects.filter(school=school)
    if until is not None:
        evidence = evidence.filter(assessed_on__lte=until)
    rows = (
        evidence.order_by("student_id", "target_id", "assessed_on", "id")
        .values_list(
            "student_id", "target_id", "score", "assessed_on", "kind", "status", "voided_at"
        )
        .iterator(chunk_size=10000)
    )

    def with_own(key: tuple[int, int], bucket: list[tuple]) -> list[tuple]:
        ratings = own.pop(key, None)
        if ratings and counts_self is not None and counts_self(*key):
            # A stable sort by date: the evidence of a day keeps its order, ratings after it.
            return sorted([*bucket, *ratings], key=lambda row: row[1])
        return bucket

    current_key: tuple[int, int] | None = None
    bucket: list[tuple] = []
    for student_id, target_id, score, day, kind, status, voided_at in rows:
        key = (student_id, target_id)
        if key != current_key:
            if current_key is not None:
                yield (*current_key, with_own(current_key, bucket))
            current_key, bucket = key, []
        if voided_at is None:
            bucket.append((score, day, kind, status))
    if current_key is not None:
        yield (*current_key, with_own(current_key, bucket))
    for key in sorted(own):
        if counts_self is not None and counts_self(*key):
            yield (*key, with_own(key, []))


def self_assessment_rows(
    school: School, until: date | None = None
) -> dict[tuple[int, int], list[tuple]]:
    """(student, target) -> the live self-assessments as `pairs_in_order` rows, oldest first;
    a pair whose ratings were all withdrawn maps to no rows (it still has a record to compute)."""
    ratings = SelfAssessment.objects.filter(school=school)
    if until is not None:
        ratings = ratings.filter(assessed_on__lte=until)
    found: dict[tuple[int, int], list[tuple]] = defaultdict(list)
    for student_id, target_id, score, day, voided_at in ratings.order_by(
        "student_id", "target_id", "assessed_on", "id"
    ).values_list("student_id", "target_id", "score", "assessed_on", "voided_at"):
        rows = found[(student_id, target_id)]
        if voided_at is None:
            rows.append((score, day, calculation.SELF, "scored"))
    return dict(found)


def engine_evidence(rows: list[tuple], since: date | None = None) -> Iterator[calculation.Evidence]:
    """`pairs_in_order`'s evidence rows as the engine reads them; with `since` (the pair's
    window: Governing.since), only those dated on or after it."""
    return (
        calculation.Evidence(score=s, assessed_on=d, kind=k, status=st)
        for s, d, k, st in rows
        if since is None or d >= since
    )


def school_recompute_python(school: School) -> RecomputeResult:
    rule = governing(school)
    start = year_start(school)
    existing = {
        (m.student_id, m.target_id): m
        for m in Mastery.objects.filter(school=school).only(*MASTERY_FIELDS, "student", "target")
    }
    pending: list[Mastery] = []
    pairs = written = level_changes = 0
    for student_id, target_id, rows in pairs_in_order(school, counts_self=rule.self_counted):
        pairs += 1
        old = existing.pop((student_id, target_id), None)
        policy_id = rule.policy_id(student_id, target_id)
        since = rule.since(student_id, target_id, start)
        outcome = calculation.compute(engine_evidence(rows, since), rule.engines[policy_id])
        record = mastery_from_outcome(
            school=school,
            student_id=student_id,
            target_id=target_id,
            outcome=outcome,
            policy_id=policy_id,
        )
        if (old.level if old else None) != record.level:
            level_changes += 1
        if _unchanged(old, record):
            continue
        pending.append(record)
        if len(pending) >= BATCH:
            mastery_upsert(pending, announce=False)
            written += len(pending)
            pending = []
    if pending:
        mastery_upsert(pending, announce=False)
        written += len(pending)
    # The records of no pair computed: pairs only the student rated, whose policy no longer counts
    # ratings. Deleted (derived data; the ratings stay), as the SQL's statement deletes them.
    for chunk in iter_chunks(existing.values(), BATCH):
        Mastery.objects.filter(school=school, pk__in=[m.pk for m in chunk]).delete()
        written += len(chunk)
        level_changes += sum(m.level is not None for m in chunk)
    pagecache.school_changed(school.id)
    return RecomputeResult(
        pairs=pairs, written=written, method="python", level_changes=level_changes
    )


def _unchanged(old: Mastery | None, new: Mastery) -> bool:
    if old is None:
        return False
    return (
        all(
            getattr(old, f) == getattr(new, f)
            for f in MASTERY_FIELDS
            if f not in ("computed_at", "policy")
        )
        and old.policy_id == new.policy_id
    )


# Memory for the recompute's sorts and hashes (a school's evidence sorted by pair: ~75 MB at
# 2,000 students). PostgreSQL's default 4 MB spills them to temporary files on disk; set for the
# recompute's transaction only, never for request-serving sessions.
RECOMPUTE_WORK_MEM = "128MB"


def school_recompute_sql(school: School, *, part: Part | None = None) -> RecomputeResult:
    """Recompute every Mastery record of the school in one statement per current policy (with
    `part`, the records of that share of its students only).

    Call it inside a transaction (mastery_recompute_school does), so that its memory setting
    applies.
    """
    levels = achievement_levels(school)
    policies = current_policies(school)
    default_policy(school, policies)  # PolicyMissing before any statement
    start = year_start(school)
    pairs = written = level_changes = 0
    with connection.cursor() as cursor:
        if connection.in_atomic_block:
            cursor.execute(f"SET LOCAL work_mem = '{RECOMPUTE_WORK_MEM}'")
        # Each policy governs its own pairs (its scope), so the counts add up to every pair with
        # evidence (voided included), which is every Mastery record of the school.
        for policy, scope_sql in policy_scopes(cursor, school, policies):
            if part is not None:
                scope_sql += part.sql()
            cursor.execute(
                policy_statement(
                    policy.to_engine(levels),
                    scope_sql=scope_sql,
                    window_sql=window_sql(policy, start),
                ),
                {"school_id": school.id, "policy_id": policy.id, "year_start": start},
            )
            computed, changed, leveled = cursor.fetchone()
            pairs += computed
            written += changed
            level_changes += leveled
    if written:
        pagecache.school_changed(school.id)
    return RecomputeResult(pairs=pairs, written=written, method="sql", level_changes=level_changes)


def school_recompute_parts(school: School, *, parts: int | None = None) -> RecomputeResult:
    """school_recompute_sql split over `parts` connections (default: settings.RECOMPUTE_PARTS)
    working side by side: this one computes the first share of the students inside the caller's
    transaction, and a thread per other share computes it on a connection and in a transaction
    of its own.

    Why: PostgreSQL runs no data-modifying statement in parallel, so one INSERT … SELECT uses one
    core however many the server has, while a bare aggregate over the same rows gets parallel
    workers. On the 2-core benchmark machine two shares took the school's recompute from 2.65 s
    to 1.5 s (docs/performance.md).

    Call it inside the transaction that holds the school's exclusive recompute lock
    (mastery_recompute_school): score writes wait on that lock, so every share computes from the
    same evidence. The other shares commit when they finish, before the caller's transaction:
    if one fails, the error is raised here once every share has finished, and the shares that
    committed stay. They are correct records under the current policy, and a rerun (the task's
    retry, or the periodic catch-up, which finds the records still stale) writes the rest.
    The other shares' connections only see committed rows, so inside any transaction but the
    caller's own (a caller's pending writes, a test's) it stays on this connection.
    """
    if parts is None:
        parts = settings.RECOMPUTE_PARTS
    if parts <= 1 or len(connection.atomic_blocks) != 1:
        return school_recompute_sql(school)
    results: list[RecomputeResult | None] = [None] * parts
    errors: list[BaseException] = []

    def share(index: int) -> None:
        try:
            with enter_school(school), transaction.atomic():
                results[index] = school_recompute_sql(school, part=Part(index, parts))
        except BaseException as exc:  # raised in the caller's thread below
            errors.append(exc)
        finally:
            connections.close_all()  # this thread's own connection: not left to the pool

    threads = [
        threading.Thread(target=share, args=(index,), name=f"recompute-{school.id}-{index}")
        for index in range(1, parts)
    ]
    for thread in threads:
        thread.start()
    try:
        results[0] = school_recompute_sql(school, part=Part(0, parts))
    finally:
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    done = cast(list[RecomputeResult], results)  # every share finished without an error
    return RecomputeResult(
        pairs=sum(r.pairs for r in done),
        written=sum(r.written for r in done),
        method="sql",
        level_changes=sum(r.level_changes for r in done),
        parts=parts,
    )


# How long after a school year begins the catch-up still looks for records counting evidence
# from before it (see year_stale_school_ids).
YEAR_START_CATCH_UP = timedelta(days=14)


def stale_school_ids() -> list[int]:
    """Schools with Mastery records computed under a policy version that is no longer current,
    or still counting evidence from before the school year that has just begun.

    Deliberately across schools (it feeds the catch-up dispatcher); it returns only ids.
    """
    with all_schools():
        by_policy = set(
            Mastery.objects.filter(policy__is_current=False)
            .values_list("school_id", flat=True)
            .distinct()
        )
    return sorted(by_policy | set(year_stale_school_ids()))


def year_stale_school_ids(today: date | None = None) -> list[int]:
    """Schools whose school year began in the last two weeks and that still have a record
    computed before that day which counts evidence from before it (under a policy that does not
    carry prior years).

    Why this is the recompute's trigger at a new year's start: a record's level depends on the
    date (which year's evidence counts), so records computed before the first day of the year
    are wrong on that day without any write. The catch-up beat task (every ten minutes) asks
    this, so on the first day the school's records are recomputed within minutes of midnight.
    The recompute rewrites every record that counted earlier evidence (its count drops), so a
    school is found once per new year. Only the first two weeks are searched (it reads the
    school's records): the other paths that move a year's start (the rollover when the next year
    has already begun, a year added on the years page, a roster import) queue their own
    recompute.
    """
    today = today or timezone.localdate()
    with all_schools():
        started = (
            SchoolYear.objects.filter(
                starts_on__lte=today, starts_on__gt=today - YEAR_START_CATCH_UP
            )
            .order_by("school_id", "-starts_on")
            .values_list("school_id", "starts_on")
        )
        latest: dict[int, date] = {}
        for school_id, starts_on in started:
            latest.setdefault(school_id, starts_on)
        stale = []
        for school_id, starts_on in sorted(latest.items()):
            older = Evidence.objects.filter(
                school_id=school_id,
                student_id=OuterRef("student_id"),
                target_id=OuterRef("target_id"),
                voided_at__isnull=True,
                assessed_on__lt=starts_on,
            )
            first_moment = timezone.make_aware(datetime.combine(starts_on, time.min))
            if Mastery.objects.filter(
                Exists(older),
                school_id=school_id,
                computed_at__lt=first_moment,
                evidence_count__gt=0,
                policy__carry_prior_years=False,
            ).exists():
                stale.append(school_id)
        return stale


def iter_chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
