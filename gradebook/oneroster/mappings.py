"""The sourcedId mappings (RosterSource): read once at the start, written once at the end."""

from __future__ import annotations

from django.utils import timezone

from gradebook.models import RosterSource
from gradebook.oneroster.state import ImportState, SourceMapping


def load_mappings(state: ImportState) -> None:
    for (
        id_,
        school_id,
        kind,
        sid,
        target,
        object_id,
        fingerprint,
    ) in RosterSource.objects.filter(school_id__in=list(state.schools)).values_list(
        "id", "school_id", "kind", "sourced_id", "target", "object_id", "fingerprint"
    ):
        state.mappings[(school_id, kind, target)][sid] = SourceMapping(id_, object_id, fingerprint)


def save_mappings(state: ImportState) -> None:
    now = timezone.now()
    new, changed = [], []
    for (school_id, kind, sid, target), (obj, fingerprint) in state.pending.items():
        mapping = state.mapping(school_id, kind, sid, target)
        if mapping is None:
            new.append(
                RosterSource(
                    school_id=school_id,
                    kind=kind,
                    sourced_id=sid,
                    target=target,
                    object_id=obj.pk,
                    fingerprint=fingerprint,
                    imported_at=now,
                )
            )
        elif (mapping.object_id, mapping.fingerprint) != (obj.pk, fingerprint):
            changed.append(
                RosterSource(
                    id=mapping.id, object_id=obj.pk, fingerprint=fingerprint, imported_at=now
                )
            )
    RosterSource.objects.bulk_create(new)
    RosterSource.objects.bulk_update(changed, ["object_id", "fingerprint", "imported_at"])
