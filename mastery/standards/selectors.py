"""Reads of standards frameworks, always through the school that asks.

Frameworks are reference data, outside the tenant walls (no `school_id`, no row-level
security), so this module is the wall: a school sees its district's frameworks and its own,
and every page and command reaches a framework only through `frameworks_visible_to`.
"""

from __future__ import annotations

import uuid
from collections import defaultdict

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from mastery.models import (
    Framework,
    FrameworkAssociation,
    FrameworkItem,
    LearningTarget,
    School,
    TargetAlignment,
)

SEARCH_LIMIT = 200
ALIGN_SEARCH_LIMIT = 50


def frameworks_visible_to(school: School) -> QuerySet[Framework]:
    """The frameworks of the school's district and of the school itself, with item counts."""
    return Framework.objects.filter(_visible(school)).annotate(
        item_count=Count("items", filter=Q(items__is_retired=False))
    )


def _visible(school: School, prefix: str = "") -> Q:
    """The one rule of visibility: the school's district's frameworks and its own."""
    visible = Q(**{f"{prefix}owner_school_id": school.pk})
    if school.district_id:
        visible |= Q(**{f"{prefix}owner_district_id": school.district_id})
    return visible


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


def with_child_counts(items: QuerySet[FrameworkItem]) -> QuerySet[FrameworkItem]:
    """Each item with `child_count`, its current children (what a tree picker may open)."""
    children = (
        FrameworkItem.objects.filter(
            framework_id=OuterRef("framework_id"),
            parent_identifier=OuterRef("identifier"),
            is_retired=False,
        )
        .order_by()
        .values("framework_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    return items.annotate(child_count=Coalesce(Subquery(children), 0))


def item_children(framework: Framework, parent: uuid.UUID | None) -> QuerySet[FrameworkItem]:
    """One level of the framework's isChildOf tree: the current children of `parent` (None: the
    top level), in the publisher's order, each with its child count. One level at a time, so a
    5,000-item framework is browsed without reading it whole."""
    return with_child_counts(
        FrameworkItem.objects.filter(
            framework=framework, parent_identifier=parent, is_retired=False
        ).order_by("position", "id")
    )


def item_ancestors(framework: Framework, item: FrameworkItem) -> list[FrameworkItem]:
    """The item's ancestors, top level first (at most its depth: one query a level)."""
    path: list[FrameworkItem] = []
    parent = item.parent_identifier
    while parent is not None and len(path) < item.depth:
        found = FrameworkItem.objects.filter(framework=framework, identifier=parent).first()
        if found is None:
            break
        path.append(found)
        parent = found.parent_identifier
    return list(reversed(path))


def framework_other_associations(framework: Framework) -> QuerySet[FrameworkAssociation]:
    """The associations that are not the tree (exactMatchOf, precedes, isRelatedTo…)."""
    return (
        FrameworkAssociation.objects.filter(framework=framework)
        .exclude(association_type="isChildOf")
        .order_by("association_type", "id")
    )


# --- Alignment of learning targets (issue [13] item 2) ------------------------------------------


def items_visible_to(school: School) -> QuerySet[FrameworkItem]:
    """Every item (current and retired) of the frameworks the school sees."""
    return FrameworkItem.objects.filter(_visible(school, "framework__"))


def items_by_identifier(school: School, identifiers: list[str]) -> dict[str, FrameworkItem]:
    """The visible items with these CASE identifiers (as lower-case strings; malformed ones are
    simply not found). Of two visible frameworks holding one identifier (a district's and a
    school's copy), the current item wins, then the latest imported."""
    found: dict[str, FrameworkItem] = {}
    wanted = [u for u in (parse_identifier(i) for i in identifiers) if u is not None]
    if not wanted:
        return found
    items = (
        items_visible_to(school)
        .filter(identifier__in=wanted)
        .select_related("framework")
        .order_by("is_retired", "-framework__imported_at", "-id")
    )
    for item in items:
        found.setdefault(str(item.identifier), item)
    return found


def alignment_search(school: School, query: str) -> QuerySet[FrameworkItem]:
    """Current items of the visible frameworks whose code or statement contains `query`."""
    # PostgreSQL text cannot hold NUL, so no statement contains one (and the query would fail).
    query = query.replace("\x00", "")
    return (
        items_visible_to(school)
        .filter(is_retired=False)
        .filter(Q(human_coding_scheme__icontains=query) | Q(full_statement__icontains=query))
        .select_related("framework")
        .order_by("framework__title", "position", "id")[:ALIGN_SEARCH_LIMIT]
    )


def target_alignments(school: School, target: LearningTarget) -> list[TargetAlignment]:
    """The target's alignments, each with its item (code, statement, retired) and framework."""
    return list(
        TargetAlignment.objects.filter(school=school, target=target)
        .select_related("item__framework")
        .order_by("item__framework__title", "item__position", "id")
    )


def parse_identifier(text: str) -> uuid.UUID | None:
    """A CASE identifier (a UUID, any case, braces or not), or None when it is none."""
    try:
        return uuid.UUID(str(text).strip())
    except ValueError:
        return None
