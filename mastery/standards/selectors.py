"""Reads of standards frameworks, always through the school that asks.

Frameworks are reference data, outside the tenant walls (no `school_id`, no row-level
security), so this module is the wall: a school sees its district's frameworks and its own,
and every page and command reaches a framework only through `frameworks_visible_to`.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Count, Q, QuerySet

from mastery.models import Framework, FrameworkAssociation, FrameworkItem, School

SEARCH_LIMIT = 200


def frameworks_visible_to(school: School) -> QuerySet[Framework]:
    """The frameworks of the school's district and of the school itself, with item counts."""
    visible = Q(owner_school_id=school.pk)
    if school.district_id:
        visible |= Q(owner_district_id=school.district_id)
    return Framework.objects.filter(visible).annotate(
        item_count=Count("items", filter=Q(items__is_retired=False))
    )


def framework_search(framework: Framework, query: str) -> QuerySet[FrameworkItem]:
    """The framework's items whose code or statement contains `query` (the first 200)."""
    return (
        FrameworkItem.objects.filter(framework=framework)
        .filter(Q(human_coding_scheme__icontains=query) | Q(full_statement__icontains=query))
        .order_by("is_retired", "depth", "human_coding_scheme", "id")[:SEARCH_LIMIT]
    )


def framework_tree(framework: Framework) -> tuple[list[FrameworkItem], list[FrameworkItem]]:
    """The current items in tree order (depth first, siblings by position), and the retired."""
    current: dict[object, list[FrameworkItem]] = defaultdict(list)
    retired = []
    for item in FrameworkItem.objects.filter(framework=framework).order_by("position", "id"):
        if item.is_retired:
            retired.append(item)
        else:
            current[item.parent_identifier].append(item)
    ordered: list[FrameworkItem] = []
    stack = list(reversed(current[None]))
    while stack:
        item = stack.pop()
        ordered.append(item)
        stack.extend(reversed(current.get(item.identifier, [])))
    return ordered, retired


def framework_other_associations(framework: Framework) -> QuerySet[FrameworkAssociation]:
    """The associations that are not the tree (exactMatchOf, precedes, isRelatedTo…)."""
    return (
        FrameworkAssociation.objects.filter(framework=framework)
        .exclude(association_type="isChildOf")
        .order_by("association_type", "id")
    )
