"""The Celery task base class that enters a school, as the middleware does for requests; the
activation emails of new accounts."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task

from mastery import accounts
from mastery.models import School
from mastery.tenancy import enter_school

log = logging.getLogger(__name__)


class SchoolTask(Task):
    """A task that runs for one school: call it with `school_id=` and it runs in that school's scope
    and behind its row-level security wall (mastery.rls), both held for the whole task.

    Fails closed: no `school_id` (or an unknown one) raises before the task body runs.
    """

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        school_id = kwargs.get("school_id")
        if school_id is None:
            raise ValueError(f"{self.name} must be called with school_id=")
        school = School.objects.get(pk=school_id)
        with enter_school(school):
            return super().__call__(*args, **kwargs)


@shared_task(bind=True, name="mastery.activations_send", max_retries=5, default_retry_delay=60)
def activations_send(self: Task[Any, Any], *, user_ids: list[int], base_url: str) -> int:
    """Activation emails for accounts an import or a school admin made (each account once: see
    mastery.accounts.activations_send). A mail server that is down is tried again later."""
    try:
        return accounts.activations_send(user_ids=user_ids, base_url=base_url)
    except OSError as exc:  # SMTP refused or unreachable: nothing was claimed for that account
        raise self.retry(exc=exc) from exc


def activations_queue(*, user_ids: list[int], base_url: str) -> None:
    """Queue the activation emails; call it after the commit (`transaction.on_commit`). A dead
    broker is logged, not raised: the import or the role stands, and the people can still use
    "Forgot your password?" or be sent a link from the admin."""
    if not user_ids:
        return
    try:
        activations_send.delay(user_ids=sorted(set(user_ids)), base_url=base_url)
    except Exception:  # the broker: kombu raises its own OperationalError and OSError kinds
        log.exception("Could not queue the activation emails of %d accounts", len(user_ids))
