"""The generic upsert every stage writes its school's records with (terms, courses, sections,
students, enrollments, teaching assignments)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.db import models

from gradebook.oneroster.parser import Row
from gradebook.oneroster.state import ImportState, Want
from mastery.models import School


def upsert(
    state: ImportState,
    school: School,
    model: type[models.Model],
    *,
    kind: str,
    target: str,
    wants: Iterable[Want],
    key: tuple[str, ...],
    entity: str,
    describe: Callable[[dict[str, Any]], str],
    also_unique: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Create or update the school's objects the rows want; sourcedId → object.

    An object is found by the row's mapping, else by its natural key (`key`: a record made by
    hand or by an earlier import of another tool is adopted, unless another sourcedId owns
    it). An unchanged row leaves its object alone; a changed one writes the fields that
    differ. Set-based: one bulk_create and one bulk_update per set of changed fields.
    """
    also_unique = also_unique or {}
    existing = state.existing(school, model)
    by_key = {tuple(getattr(o, f) for f in key): o for o in existing.values()}
    mapped = state.mappings.get((school.id, kind, target), {})
    owners = {m.object_id: sid for sid, m in mapped.items()}
    holders = {
        f: {getattr(o, f): o for o in existing.values() if getattr(o, f) is not None}
        for f in also_unique
    }
    tally = state.report.tally(entity)
    seen: dict[tuple, Row] = {}
    result: dict[str, Any] = {}
    to_create: list[Any] = []
    to_update: dict[tuple[str, ...], list[Any]] = defaultdict(list)
    for want in wants:
        row, wanted = want.row, want.fields
        natural = tuple(wanted[f] for f in key)
        if natural in seen:
            state.error(row, f"{describe(wanted)} is also on line {seen[natural].line}")
            continue
        mapping = mapped.get(row.sid)
        obj = existing.get(mapping.object_id) if mapping else None
        clash = by_key.get(natural)
        if obj is None and clash is not None:
            owner = owners.get(clash.id, row.sid)
            if owner != row.sid:
                state.error(row, f"{describe(wanted)} belongs to sourcedId “{owner}”")
                continue
            obj = clash
        elif obj is not None and clash is not None and clash is not obj:
            state.error(row, f"{describe(wanted)} is already used by another record")
            continue
        taken = [
            label
            for f, label in also_unique.items()
            if wanted.get(f) is not None and holders[f].get(wanted[f], obj) is not obj
        ]
        if taken:
            state.error(
                row, f"the {taken[0]} is already linked to another {model._meta.verbose_name}"
            )
            continue
        seen[natural] = row
        if obj is None:
            obj = model(school=school, **{**want.defaults, **wanted})
            to_create.append(obj)
            tally.created += 1
        elif mapping is not None and state.unchanged(school.id, kind, row, target, obj.id):
            tally.unchanged += 1
        else:
            changed = tuple(sorted(f for f, v in wanted.items() if getattr(obj, f) != v))
            for f in changed:
                setattr(obj, f, wanted[f])
            if changed:
                to_update[changed].append(obj)
                tally.updated += 1
            else:
                tally.unchanged += 1
        for f in also_unique:
            if wanted.get(f) is not None:
                holders[f][wanted[f]] = obj
        result[row.sid] = obj
        state.record(school, kind, row, target, obj)
    model.objects.bulk_create(to_create)
    for fields, objs in to_update.items():
        model.objects.bulk_update(objs, list(fields))
    existing.update((obj.id, obj) for obj in to_create)
    return result
