"""Pausing Python's cycle collector around a bulk job that allocates many short-lived objects.

CPython runs its cycle collector every 700 net allocations, and every so often that collection
walks the whole heap of the process (Django, the templates, the fonts: hundreds of thousands of
objects). WeasyPrint laying out a report and the roster builder placing a school allocate
millions of objects in a few hundred milliseconds, so the collector ran dozens of times per job
and took a quarter of it. Measured in one process on 2026-11-24: a full report 1.14 s with it,
0.83 s paused; a school's rosters 0.53 s and 0.47 s (make bench: docs/performance.md).

Reference counting still frees everything that is not in a cycle at once. What is in a cycle (a
WeasyPrint box and its parent, say) waits for the next collection after the job; one job's worth
at most, since the collector is back on between jobs.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cycle collection inside the block; the collector comes back as it was after it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
