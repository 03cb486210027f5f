"""Aligning a learning target to standards of the frameworks its school sees (issue [13] item 2).

The target keeps its own statement and descriptors; an alignment only says which framework items
(by CASE identifier) it teaches. Frameworks are outside the tenant walls, so the one check that
matters is here: an item of a framework the school cannot see is refused like an unknown one.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction

from mastery import audit, pagecache
from mastery.models import AuditEvent, LearningTarget, School, TargetAlignment, User
from mastery.standards.selectors import items_by_identifier, target_alignments

FIELD = "case_items"


def split_identifiers(text: str) -> list[str]:
    """Identifiers as written in a CSV cell or an API field: separated by spaces or semicolons."""
    return [part for part in text.replace(";", " ").replace(",", " ").split() if part]


@transaction.atomic
def target_align(
    *,
    school: School,
    target: LearningTarget,
    identifiers: Iterable[str],
    aligned_by: User | None = None,
) -> list[TargetAlignment]:
    """Make the target's alignments exactly the items with these CASE identifiers.

    Refuses (ValidationError on `case_items`, nothing changed) an identifier that is not an item
    of a framework the school sees, and a retired item the target is not already aligned to; an
    item retired after it was aligned stays aligned. Audited as a change of the target, with the
    identifiers before and after.
    """
    if target.school_id != school.id:
        raise ValidationError({FIELD: ["Choose a learning target of this school."]})
    wanted = list(dict.fromkeys(i.strip().lower() for i in identifiers if i.strip()))
    current = {str(a.item.identifier): a for a in target_alignments(school, target)}
    found = items_by_identifier(school, wanted)
    problems = []
    for identifier in wanted:
        item = found.get(identifier)
        if item is None:
            problems.append(
                f"{identifier} is not a standard of a framework this school uses "
                "(import the framework first, or check the identifier)."
            )
        elif item.is_retired and identifier not in current:
            problems.append(
                f"{item.human_coding_scheme or identifier} is retired in "
                f"{item.framework.title}: align the target to a current standard."
            )
    if problems:
        raise ValidationError({FIELD: problems})

    before = sorted(current)
    after = sorted(wanted)
    if before == after:
        return list(current.values())
    pagecache.school_changed(school.id)
    gone = [a.pk for identifier, a in current.items() if identifier not in wanted]
    TargetAlignment.objects.filter(school=school, pk__in=gone).delete()
    TargetAlignment.objects.bulk_create(
        TargetAlignment(school=school, target=target, item=found[i], created_by=aligned_by)
        for i in wanted
        if i not in current
    )
    codes = [found[i].human_coding_scheme or i for i in wanted]
    audit.record(
        school=school,
        action=AuditEvent.Action.UPDATE,
        object_type=AuditEvent.ObjectType.TARGET,
        object_id=target.pk,
        target_id=target.pk,
        actor=aligned_by,
        before={"case_identifiers": before},
        after={"case_identifiers": after},
        summary=f"{target.code} aligned to {', '.join(codes)}"
        if codes
        else f"{target.code}: no aligned standard",
    )
    return target_alignments(school, target)
