"""The Celery task base class that enters a school, as the middleware does for requests."""

from __future__ import annotations

from celery import Task

from mastery.models import School
from mastery.tenancy import enter_school


class SchoolTask(Task):
    """A task that runs for one school: call it with `school_id=` and it runs in that school's scope
    and behind its row-level security wall (mastery.rls), both held for the whole task.

    Fails closed: no `school_id` (or an unknown one) raises before the task body runs.
    """

    abstract = True

    def __call__(self, *args, **kwargs):
        school_id = kwargs.get("school_id")
        if school_id is None:
            raise ValueError(f"{self.name} must be called with school_id=")
        school = School.objects.get(pk=school_id)
        with enter_school(school):
            return super().__call__(*args, **kwargs)
