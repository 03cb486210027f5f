"""Pages built once per change of their data, not on every visit (the family portal).

A child's page (90 targets with their descriptors) takes tens of milliseconds to build; families
open the same pages again and again, mostly in the evening, while teachers change the data during
the day. Fragments are cached under two version numbers, the school's and the student's, which
writes bump after their transaction commits:

- `students_changed(school_id, ids)`: evidence, feedback, habits, goals, reassessment requests of
  these students;
- `school_changed(school_id)`: anything that can change many students' pages (a mastery recompute,
  rosters, assessments, the learning framework, the policy).

A bumped version makes every older fragment unreachable; a time limit (PORTAL_CACHE_SECONDS, five
minutes by default) bounds what a write that forgets to bump could leave stale. Versions are
bumped twice: at once, and again when the transaction commits, so a page built from pre-commit
data in between is dropped too. When the cache is down, pages are built directly and writes go
on: the cache is never the only way to the data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

# Part of every fragment's key: bump it when what fragments hold changes shape or layout, so a
# deploy never reads a fragment cached by the previous release.
FORMAT = 2


def _ttl() -> int:
    return int(getattr(settings, "PORTAL_CACHE_SECONDS", 300))


def _school_key(school_id: int) -> str:
    return f"portal:v:school:{school_id}"


def _student_key(school_id: int, student_id: int) -> str:
    return f"portal:v:student:{school_id}:{student_id}"


def fragment(
    *, school_id: int, student_id: int, name: str, language: str, render: Callable[[], Any]
) -> Any:
    """The cached fragment `name` of a student's page (HTML, or what render returns), or render
    (and keep) it."""
    if _ttl() <= 0:
        return render()
    try:
        versions = cache.get_many([_school_key(school_id), _student_key(school_id, student_id)])
        key = (
            f"portal:{FORMAT}:{name}:{language}:{timezone.localdate():%Y%m%d}:{school_id}:{student_id}:"
            f"{versions.get(_school_key(school_id), 0)}:"
            f"{versions.get(_student_key(school_id, student_id), 0)}"
        )
        html = cache.get(key)
    except Exception:  # the cache is down: build the page anyway
        logger.warning("Portal cache unavailable; building the page directly", exc_info=True)
        return render()
    if html is None:
        html = render()
        try:
            cache.set(key, html, _ttl())
        except Exception:
            logger.warning("Could not keep a portal fragment", exc_info=True)
    return html


def _bump(keys: list[str]) -> None:
    try:
        bump_many = getattr(cache, "bump_many", None)  # Redis: one round trip (mastery/cache.py)
        if bump_many is not None:
            bump_many(keys)
            return
        for key in keys:
            cache.add(key, 0, None)  # version numbers never expire on their own
            cache.incr(key)
    except Exception:  # fragments then expire on their time limit
        logger.warning("Could not invalidate portal fragments", exc_info=True)


def students_changed(school_id: int, student_ids: Iterable[int]) -> None:
    """These students' portal pages change when the current transaction commits."""
    keys = sorted({_student_key(school_id, sid) for sid in student_ids})
    if keys:
        _bump(keys)
        transaction.on_commit(lambda: _bump(keys))


def school_changed(school_id: int) -> None:
    """Every portal page of the school changes when the current transaction commits."""
    keys = [_school_key(school_id)]
    _bump(keys)
    transaction.on_commit(lambda: _bump(keys))
