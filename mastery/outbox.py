"""Writing to the alerts outbox (`AlertEvent`, issue [17]): the services that change what a
family, a student or a staff member would want to hear about record it here, in the change's own
transaction, as they record the audit trail.

Bulk changes never alert: an import, a recompute, a rollover or a batch does not mail every
family in the district. They run inside `silenced()`, or under an audit source that is bulk by
nature (`BULK_SOURCES`: the OneRoster and CSV imports, the rollover), and nothing is recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial
from typing import Any

from django.db import transaction

from mastery import audit
from mastery.models import AlertEvent, School

Kind = AlertEvent.Kind
BULK_SOURCES = frozenset({"oneroster", "import", "rollover"})
_silenced: ContextVar[bool] = ContextVar("alerts_silenced", default=False)
# Called with the school's id after a change that recorded news commits (the alerts app listens
# when ALERTS_RUN_ON_COMMIT is on, as in the demo; otherwise its task runs every minute).
_listeners: list[Callable[[int], None]] = []


def listen(callback: Callable[[int], None]) -> None:
    if callback not in _listeners:
        _listeners.append(callback)


def _recorded(school_id: int) -> None:
    for callback in _listeners:
        transaction.on_commit(partial(callback, school_id))


@contextmanager
def silenced() -> Iterator[None]:
    """Changes made inside alert nobody (a bulk path, the demo's seed)."""
    token = _silenced.set(True)
    try:
        yield
    finally:
        _silenced.reset(token)


def is_silenced() -> bool:
    return _silenced.get() or audit.current_source() in BULK_SOURCES


def event(
    *,
    school: School | int,
    kind: str,
    student_id: int | None = None,
    user_id: int | None = None,
    object_type: str = "",
    object_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AlertEvent:
    """An unsaved event (for `record_many`)."""
    school_id = school if isinstance(school, int) else school.pk
    return AlertEvent(
        school_id=school_id,
        kind=kind,
        student_id=student_id,
        user_id=user_id,
        object_type=object_type,
        object_id=object_id,
        details=details or {},
    )


def record(**kwargs: Any) -> AlertEvent | None:
    """Record one event (one INSERT), unless alerts are silenced here."""
    if is_silenced():
        return None
    found = event(**kwargs)
    found.save(force_insert=True)
    _recorded(found.school_id)
    return found


def record_many(events: Iterable[AlertEvent]) -> int:
    """Record events in one INSERT (a set-based path), unless alerts are silenced here."""
    if is_silenced():
        return 0
    rows = list(events)
    AlertEvent.objects.bulk_create(rows)
    for school_id in {row.school_id for row in rows}:
        _recorded(school_id)
    return len(rows)
