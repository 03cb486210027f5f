"""The school's recompute lock: a bulk recompute never overwrites a score committed meanwhile."""

from __future__ import annotations

from django.db import connection

from mastery.models import School

# The advisory lock's first key: the recompute lock's namespace (the second is the school's id).
RECOMPUTE_LOCK = 7301


def school_lock(school: School, *, shared: bool) -> None:
    """Serialize a school's bulk recompute against single-score writes (PostgreSQL only).

    Scores take the lock shared (they never wait on each other); the bulk recompute takes it
    exclusively, so it never overwrites a score committed while it was computing. Held until the
    transaction ends.
    """
    if connection.vendor != "postgresql":
        return
    fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {fn}(%s, %s)", [RECOMPUTE_LOCK, school.id])
