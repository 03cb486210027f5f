"""The first stage: which schools the import writes into, and which org sourcedIds stand for them.

The upload page imports into its own school (`resolve_own_school`); the command line imports
every school org of the files, making Schools and Districts it has not met
(`resolve_district_schools`).
"""

from __future__ import annotations

import re
from collections import defaultdict

from django.db.models import Q
from django.utils.text import slugify

from gradebook.models import RosterSource
from gradebook.oneroster import report as entities
from gradebook.oneroster.parser import Mode, Row
from gradebook.oneroster.report import OTHER_SCHOOL
from gradebook.oneroster.state import (
    CLASSES,
    COURSES,
    ENROLLMENTS,
    ORGS,
    ROLES,
    SESSIONS,
    USERS,
    ImportState,
    Kind,
    Target,
)
from mastery.models import District, School
from mastery.services import school_provision

FILE_KINDS = {
    SESSIONS: Kind.ACADEMIC_SESSION,
    COURSES: Kind.COURSE,
    CLASSES: Kind.CLASS,
    USERS: Kind.USER,
    ROLES: Kind.ROLE,
    ENROLLMENTS: Kind.ENROLLMENT,
}


def _slug(text: str) -> str:
    return re.sub(r"-{2,}", "-", slugify(text).replace("_", "-")).strip("-")[:64].strip("-")


def resolve_own_school(state: ImportState) -> None:
    """The upload page: find the org that stands for this school; every other org is skipped."""
    school = state.only
    known = list(
        RosterSource.objects.filter(school=school, kind=Kind.ORG, target=Target.SCHOOL).values_list(
            "sourced_id", flat=True
        )
    )
    if not known:
        candidates = [
            r
            for r in state.rows[ORGS].values()
            if r["type"] == "school" and not r.deleted and _is_this_school(r, school)
        ]
        if len(candidates) != 1:
            found = ", ".join(f"“{r['name']}” (line {r.line})" for r in candidates)
            state.report.add_error(
                ORGS,
                0,
                (
                    f"Several school orgs could be {school.name}: {found}."
                    if candidates
                    else f"No school org in orgs.csv is {school.name}: give it the "
                    f"identifier “{school.slug}” or the name “{school.name}”."
                ),
            )
            return
        known = [candidates[0].sid]
    state.schools[school.id] = school
    for sid in known:
        state.school_of_org[sid] = school
        if sid in state.rows[ORGS]:
            state.record(school, Kind.ORG, state.rows[ORGS][sid], Target.SCHOOL, school)
    if state.rows[ORGS] and not any(sid in state.rows[ORGS] for sid in known):
        state.report.add_warning(
            ORGS,
            0,
            f"This school's org (sourcedId “{known[0]}”, from an earlier import) is not in "
            "orgs.csv: only rows naming it are imported.",
        )
    for row in state.rows[ORGS].values():
        if row["type"] == "school" and row.sid not in state.school_of_org:
            state.report.skip(ORGS, OTHER_SCHOOL)


def _is_this_school(row: Row, school: School) -> bool:
    identifier = row["identifier"]
    return (
        school.slug in (identifier, _slug(identifier), _slug(row["name"]))
        or row["name"].casefold() == school.name.casefold()
    )


def resolve_district_schools(state: ImportState) -> None:
    """The command line: every school org of the files, made into a School when new."""
    school_ids: dict[str, int] = {}
    district_ids: dict[str, int] = {}
    for sid, target, object_id in RosterSource.objects.filter(
        kind=Kind.ORG, target__in=[Target.SCHOOL, Target.DISTRICT]
    ).values_list("sourced_id", "target", "object_id"):
        (school_ids if target == Target.SCHOOL else district_ids)[sid] = object_id
    state.known_orgs = set(school_ids) | set(district_ids)
    school_rows = [r for r in state.rows[ORGS].values() if r["type"] == "school"]
    # Orgs other files point at that were imported before (a delta without orgs.csv).
    referenced = {
        r[column]
        for name, column in (
            (COURSES, "orgSourcedId"),
            (CLASSES, "schoolSourcedId"),
            (ROLES, "orgSourcedId"),
            (ENROLLMENTS, "schoolSourcedId"),
        )
        for r in state.rows[name].values()
    }
    existing = School.objects.in_bulk(
        {school_ids[s] for s in referenced | {r.sid for r in school_rows} if s in school_ids}
    )
    slugs = {_slug(r["identifier"]) or _slug(r["name"]) or "school" for r in school_rows}
    by_slug = {s.slug: s for s in School.objects.filter(slug__in=slugs)}
    adopted = set(school_ids.values())
    districts = _districts(state, school_rows, district_ids)
    tally = state.report.tally(entities.SCHOOLS)
    for row in school_rows:
        school = existing.get(school_ids.get(row.sid, 0))
        if row.deleted:
            state.report.skip(ORGS, "tobedeleted: a school is never removed by an import")
            if school is not None:
                _add_school(state, row.sid, school)
                state.record(school, Kind.ORG, row, Target.SCHOOL, school)
            continue
        name = state.text(row, "name", 200)
        if name is None:
            continue
        district = districts.get(row["parentSourcedId"])
        base = _slug(row["identifier"]) or _slug(row["name"]) or "school"
        if (
            school is None
            and base in by_slug
            and by_slug[base].id not in adopted
            and by_slug[base].district_id in (None, district.id if district else None)
        ):
            # A school made by hand before the first import, under the slug the org suggests
            # (never another district's school that happens to share the slug).
            school = by_slug[base]
            adopted.add(school.id)
        if school is None:
            slug, n = base, 1
            while slug in by_slug:
                n += 1
                slug = f"{base[:60]}-{n}"
            school = School.objects.create(name=name, slug=slug, district=district)
            school_provision(school=school)
            by_slug[slug] = school
            adopted.add(school.id)
            tally.created += 1
        elif state.unchanged(school.id, Kind.ORG, row, Target.SCHOOL, school.id):
            tally.unchanged += 1
        else:
            changed = [("name", name)]
            if district is not None:  # a school under a state org keeps the district it has
                changed.append(("district", district))
            changed = [(f, v) for f, v in changed if getattr(school, f) != v]
            for f, v in changed:
                setattr(school, f, v)
            if changed:
                school.save(update_fields=[f for f, _ in changed])
                tally.updated += 1
            else:
                tally.unchanged += 1
        _add_school(state, row.sid, school)
        state.record(school, Kind.ORG, row, Target.SCHOOL, school)
        if district is not None:
            parent = state.rows[ORGS].get(row["parentSourcedId"])
            if parent is not None:
                state.record(school, Kind.ORG, parent, Target.DISTRICT, district)
    for sid in referenced - set(state.school_of_org):
        if school_ids.get(sid) in existing:
            _add_school(state, sid, existing[school_ids[sid]])
    # A delta of users or sessions names no org: its schools are those it was imported into.
    # (A bulk export carries its orgs, roles and enrollments, which name the schools.)
    imported = Q(pk__in=[])
    for name in (USERS, SESSIONS):
        if state.rows[name] and state.package.mode(name) is Mode.DELTA:
            imported |= Q(kind=FILE_KINDS[name], sourced_id__in=list(state.rows[name]))
    more = set(RosterSource.objects.filter(imported).values_list("school_id", flat=True))
    orgs_of = defaultdict(list)
    for sid, school_id in school_ids.items():
        orgs_of[school_id].append(sid)
    for school in School.objects.filter(id__in=more - set(state.schools)):
        state.schools[school.id] = school
        for sid in orgs_of[school.id]:
            state.school_of_org.setdefault(sid, school)
    for row in state.rows[ORGS].values():
        if row["type"] not in ("school", "district"):
            state.report.skip(ORGS, f"an org of type {row['type']} is context, not a record")


def _districts(
    state: ImportState, school_rows: list[Row], district_ids: dict[str, int]
) -> dict[str, District]:
    """The District of each district org that is the parent of a school org of the files."""
    result: dict[str, District] = {}
    parents = {r["parentSourcedId"] for r in school_rows if r["parentSourcedId"]}
    existing = District.objects.in_bulk([district_ids[p] for p in parents if p in district_ids])
    tally = state.report.tally(entities.DISTRICTS)
    for sid in sorted(parents):
        row = state.rows[ORGS].get(sid)
        known = existing.get(district_ids.get(sid, 0))
        if row is None:
            if known is not None:
                result[sid] = known
            elif not state.failed(ORGS, sid):
                child = next(r for r in school_rows if r["parentSourcedId"] == sid)
                state.unknown(child, "parentSourcedId", sid, ORGS, "org")
            continue
        if row["type"] != "district":
            continue  # a school under a state or a local org: no District for it
        if row.deleted:
            state.report.skip(ORGS, "tobedeleted: a district is never removed by an import")
            if known is not None:
                result[sid] = known
            continue
        name = state.text(row, "name", 200)
        if name is None:
            continue
        base = _slug(row["identifier"]) or _slug(name) or "district"
        district = known
        if district is None:
            # A district made by hand before the first import is adopted only when its name
            # matches too: slugs are unique across the site, so another district that happens
            # to share the slug must never be renamed and filled with this one's schools.
            same = District.objects.filter(slug=base).first()
            if same is not None and same.name.casefold() == name.casefold():
                district = same
        if district is None:
            slug, n = base, 1
            while District.objects.filter(slug=slug).exists():
                n += 1
                slug = f"{base[:60]}-{n}"
            district = District.objects.create(name=name, slug=slug)
            tally.created += 1
        elif district.name != name:
            district.name = name
            district.save(update_fields=["name"])
            tally.updated += 1
        else:
            tally.unchanged += 1
        result[sid] = district
    return result


def _add_school(state: ImportState, org_sid: str, school: School) -> None:
    state.schools[school.id] = school
    state.school_of_org[org_sid] = school
