"""The CASE import: a valid CFPackage becomes (or updates) one standards framework.

`framework_import` is one transaction and set-based: it reads the framework's current items and
associations once, compares them with the package by CASE identifier, and writes only what
differs, in bulk upserts (INSERT … ON CONFLICT (framework, identifier) DO UPDATE). So a re-import
of the same package writes nothing at all, an edited package changes exactly the rows it edited,
and the counts it returns ("3 created, 1 updated, 2 retired, 40 unchanged") are the rows written.
Items and associations a newer package no longer has are retired (kept, marked), never deleted:
targets aligned to them, and everything that reports on those targets, keep their meaning.

The framework belongs to the importing school's district (every school of the district then
reads it), or to the school itself when it has no district; re-importing finds it by its
CFDocument identifier within that owner. A dry run computes the same counts and writes nothing.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Q

from mastery import audit
from mastery.models import Framework, FrameworkAssociation, FrameworkItem, School, User
from mastery.standards.case import Package, PackageError

ITEM_FIELDS = (
    "uri",
    "full_statement",
    "human_coding_scheme",
    "abbreviated_statement",
    "alternative_label",
    "list_enumeration",
    "item_type",
    "education_levels",
    "concept_keywords",
    "language",
    "notes",
    "last_change",
    "parent_identifier",
    "sequence_number",
    "depth",
    "position",
    "is_retired",
)
ASSOCIATION_FIELDS = (
    "uri",
    "association_type",
    "origin_identifier",
    "origin_uri",
    "origin_title",
    "destination_identifier",
    "destination_uri",
    "destination_title",
    "sequence_number",
    "last_change",
    "is_retired",
)
DOCUMENT_FIELDS = (
    "uri",
    "title",
    "creator",
    "publisher",
    "description",
    "subjects",
    "language",
    "version",
    "adoption_status",
    "official_source_url",
    "notes",
    "last_change",
)


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    retired: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return (
            f"{self.created} created, {self.updated} updated, {self.retired} retired, "
            f"{self.unchanged} unchanged"
        )

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.retired)


@dataclass
class ImportResult:
    """What an import did (or, for a dry run, would do)."""

    title: str
    identifier: uuid.UUID
    dry_run: bool
    framework_id: int | None = None
    document: Counts = field(default_factory=Counts)
    items: Counts = field(default_factory=Counts)
    associations: Counts = field(default_factory=Counts)
    depth: int = 0
    item_total: int = 0
    association_total: int = 0
    repairs: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.document.changed or self.items.changed or self.associations.changed

    def summary(self) -> str:
        return (
            f"“{self.title}”: items {self.items}; associations {self.associations}; "
            f"tree depth {self.depth}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "document": str(self.document),
            "items": str(self.items),
            "associations": str(self.associations),
            "depth": self.depth,
        }


def owner_of(school: School) -> dict[str, int]:
    """Who owns what a school imports: its district, or the school itself without one."""
    if school.district_id:
        return {"owner_district_id": school.district_id}
    return {"owner_school_id": school.pk}


# --- From the package's JSON to rows (values only) ------------------------------------------------


class _Fitter:
    """Values checked against their column's length: a value that does not fit is a located
    error, never silently cut."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def text(self, row: dict, key: str, path: str, limit: int | None = None) -> str:
        value = row.get(key)
        if value is None:
            return ""
        value = str(value)
        if limit is not None and len(value) > limit:
            self.errors.append(f"{path}.{key}: longer than {limit} characters")
        return value


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def _document_values(package: Package, fit: _Fitter) -> dict[str, Any]:
    doc = package.document
    path = "$.CFDocument"
    return {
        "uri": fit.text(doc, "uri", path, 2000),
        "title": fit.text(doc, "title", path, 500),
        "creator": fit.text(doc, "creator", path, 500),
        "publisher": fit.text(doc, "publisher", path, 500),
        "description": fit.text(doc, "description", path),
        "subjects": _strings(doc.get("subject")),
        "language": fit.text(doc, "language", path, 40),
        "version": fit.text(doc, "version", path, 100),
        "adoption_status": fit.text(doc, "adoptionStatus", path, 100),
        "official_source_url": fit.text(doc, "officialSourceURL", path, 2000),
        "notes": fit.text(doc, "notes", path),
        "last_change": fit.text(doc, "lastChangeDateTime", path, 40),
    }


def _tree(package: Package) -> tuple[dict[uuid.UUID, tuple[uuid.UUID | None, int, int]], int]:
    """Each item's (parent item, depth, rank among its siblings), and the tree's depth.

    The isChildOf associations whose origin is an item of the package make the tree; an item
    whose parent is the document, or lies outside the package, is a root. Siblings are ordered
    by sequenceNumber, then as the package lists them; the rank is kept rather than a place in
    the whole tree so that removing or adding one item leaves its cousins' rows untouched. An
    item in a cycle (a broken package) is shown as a root after the others, rather than lost.
    """
    order = {uuid.UUID(i["identifier"]): n for n, i in enumerate(package.items)}
    parent: dict[uuid.UUID, tuple[uuid.UUID, int | None]] = {}
    for association in package.associations:
        if association["associationType"] != "isChildOf":
            continue
        try:
            origin = uuid.UUID(association["originNodeURI"]["identifier"])
            destination = uuid.UUID(association["destinationNodeURI"]["identifier"])
        except ValueError:
            continue
        if origin in order and destination in order and origin not in parent:
            parent[origin] = (destination, association.get("sequenceNumber"))
    children: dict[uuid.UUID | None, list[uuid.UUID]] = defaultdict(list)
    sequence = {}
    for item in order:
        up, seq = parent.get(item, (None, None))
        children[up].append(item)
        sequence[item] = seq

    def key(item: uuid.UUID) -> tuple:
        seq = sequence[item]
        return (seq is None, seq or 0, order[item])

    placed: dict[uuid.UUID, tuple[uuid.UUID | None, int, int]] = {}
    roots = sorted(children[None], key=key)
    stack: list[tuple[uuid.UUID, uuid.UUID | None, int, int]] = [
        (item, None, 1, rank) for rank, item in reversed(list(enumerate(roots)))
    ]
    deepest = 0
    while stack:
        item, up, depth, rank = stack.pop()
        if item in placed:
            continue
        placed[item] = (up, depth, rank)
        deepest = max(deepest, depth)
        below = sorted(children[item], key=key)
        stack.extend((child, item, depth + 1, n) for n, child in reversed(list(enumerate(below))))
    for rank, item in enumerate(sorted(set(order) - set(placed), key=key), start=len(roots)):
        placed[item] = (None, 1, rank)  # in a cycle
        deepest = max(deepest, 1)
    return placed, deepest


def _item_values(package: Package, fit: _Fitter) -> tuple[dict[uuid.UUID, dict], int]:
    tree, deepest = _tree(package)
    sequence: dict[uuid.UUID, int | None] = {}
    for association in package.associations:
        if association["associationType"] == "isChildOf":
            try:
                origin = uuid.UUID(association["originNodeURI"]["identifier"])
            except ValueError:
                continue
            sequence.setdefault(origin, association.get("sequenceNumber"))
    rows = {}
    for n, item in enumerate(package.items):
        path = f"$.CFItems[{n}]"
        identifier = uuid.UUID(item["identifier"])
        up, depth, position = tree[identifier]
        item_type = item.get("CFItemType") or (item.get("CFItemTypeURI") or {}).get("title", "")
        levels = item.get("educationLevel", item.get("educationalLevel"))
        rows[identifier] = {
            "uri": fit.text(item, "uri", path, 2000),
            "full_statement": fit.text(item, "fullStatement", path),
            "human_coding_scheme": fit.text(item, "humanCodingScheme", path, 200),
            "abbreviated_statement": fit.text(item, "abbreviatedStatement", path),
            "alternative_label": fit.text(item, "alternativeLabel", path),
            "list_enumeration": fit.text(item, "listEnumeration", path, 100),
            "item_type": fit.text({"t": item_type}, "t", f"{path}.CFItemType", 200),
            "education_levels": _strings(levels),
            "concept_keywords": _strings(item.get("conceptKeywords")),
            "language": fit.text(item, "language", path, 40),
            "notes": fit.text(item, "notes", path),
            "last_change": fit.text(item, "lastChangeDateTime", path, 40),
            "parent_identifier": up,
            "sequence_number": sequence.get(identifier),
            "depth": depth,
            "position": position,
            "is_retired": False,
        }
    return rows, deepest


def _association_values(package: Package, fit: _Fitter) -> dict[uuid.UUID, dict]:
    rows = {}
    for n, association in enumerate(package.associations):
        path = f"$.CFAssociations[{n}]"
        origin, destination = association["originNodeURI"], association["destinationNodeURI"]
        rows[uuid.UUID(association["identifier"])] = {
            "uri": fit.text(association, "uri", path, 2000),
            "association_type": association["associationType"],
            "origin_identifier": fit.text(origin, "identifier", f"{path}.originNodeURI", 200),
            "origin_uri": fit.text(origin, "uri", f"{path}.originNodeURI", 2000),
            "origin_title": fit.text(origin, "title", f"{path}.originNodeURI"),
            "destination_identifier": fit.text(
                destination, "identifier", f"{path}.destinationNodeURI", 200
            ),
            "destination_uri": fit.text(destination, "uri", f"{path}.destinationNodeURI", 2000),
            "destination_title": fit.text(destination, "title", f"{path}.destinationNodeURI"),
            "sequence_number": association.get("sequenceNumber"),
            "last_change": fit.text(association, "lastChangeDateTime", path, 40),
            "is_retired": False,
        }
    return rows


# --- Comparing and writing -----------------------------------------------------------------------


def _sync(
    model: type[FrameworkItem] | type[FrameworkAssociation],
    framework: Framework | None,
    wanted: dict[uuid.UUID, dict],
    fields: tuple[str, ...],
    *,
    write: bool,
) -> Counts:
    """Upsert the rows that differ, retire the rows the package no longer has; count them."""
    counts = Counts()
    current: dict[uuid.UUID, dict] = {}
    if framework is not None and framework.pk:
        for row in model.objects.filter(framework=framework).values("identifier", *fields):
            current[row.pop("identifier")] = row
    upserts = []
    for identifier, values in wanted.items():
        was = current.get(identifier)
        if was is None:
            counts.created += 1
        elif was != values:
            counts.updated += 1
        else:
            counts.unchanged += 1
            continue
        upserts.append(model(framework=framework, identifier=identifier, **values))
    gone = [i for i, row in current.items() if i not in wanted and not row["is_retired"]]
    counts.retired = len(gone)
    counts.unchanged += sum(
        1 for i, row in current.items() if i not in wanted and row["is_retired"]
    )
    if write:
        manager: Any = model.objects  # either model (mypy cannot join the two managers)
        manager.bulk_create(
            upserts,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["framework", "identifier"],
            update_fields=list(fields),
        )
        for start in range(0, len(gone), 1000):
            manager.filter(framework=framework, identifier__in=gone[start : start + 1000]).update(
                is_retired=True
            )
    return counts


# The advisory lock's first key: the CASE import's namespace (the second, the document's id).
IMPORT_LOCK = 7302


def _one_import_at_a_time(identifier: uuid.UUID) -> None:
    """Imports of one framework wait for each other (until the transaction ends): the row lock
    cannot serialize the first import, as there is no row yet, and two admins pressing Import at
    once would both insert it (the second failing on the unique key)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [IMPORT_LOCK, str(identifier)]
        )


def framework_import(
    *,
    school: School,
    package: Package,
    source: str,
    imported_by: User | None,
    dry_run: bool = False,
) -> ImportResult:
    """Import (or, with `dry_run`, count without writing) one CFPackage for `school`.

    Raises PackageError, with every problem located, when a value does not fit its column; in
    that case nothing is written. Audited (one event in `school`) when anything changed.
    """
    fit = _Fitter()
    document = _document_values(package, fit)
    items, depth = _item_values(package, fit)
    associations = _association_values(package, fit)
    if fit.errors:
        raise PackageError(fit.errors)
    identifier = uuid.UUID(package.document["identifier"])
    owner = owner_of(school)
    result = ImportResult(
        title=document["title"],
        identifier=identifier,
        dry_run=dry_run,
        depth=depth,
        item_total=len(items),
        association_total=len(associations),
        repairs=package.repairs,
    )
    with transaction.atomic():
        _one_import_at_a_time(identifier)
        framework = (
            Framework.objects.select_for_update().filter(Q(**owner), identifier=identifier).first()
        )
        if framework is None:
            result.document.created = 1
            framework = Framework(identifier=identifier, source=source[:2000], **owner)
            for name, value in document.items():
                setattr(framework, name, value)
            if not dry_run:
                framework.save(force_insert=True)
        elif any(getattr(framework, name) != value for name, value in document.items()):
            result.document.updated = 1
            for name, value in document.items():
                setattr(framework, name, value)
            if not dry_run:
                framework.source = source[:2000]
                framework.save()
        else:
            result.document.unchanged = 1
        write = not dry_run
        result.items = _sync(FrameworkItem, framework, items, ITEM_FIELDS, write=write)
        result.associations = _sync(
            FrameworkAssociation, framework, associations, ASSOCIATION_FIELDS, write=write
        )
        result.framework_id = framework.pk
        if write and result.changed:
            audit.record(
                school=school,
                action=audit.Action.CREATE if result.document.created else audit.Action.UPDATE,
                object_type=audit.ObjectType.FRAMEWORK,
                object_id=framework.pk,
                summary=f"Imported standards {result.summary()}",
                after={"source": source[:300], **result.as_dict()},
                actor=imported_by,
                source="case import",
            )
    return result
