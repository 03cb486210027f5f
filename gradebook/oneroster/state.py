"""The state of one OneRoster import, shared by its stages, and the small helpers they all use.

Each stage (`schools`, `mappings`, `sessions`, `courses`, `people`, `enrollments`, `deletions`) is
a module of functions over one `ImportState`: what the package says, what is known of earlier
imports (the RosterSource mappings), what the stages before it built, and the report. This module
imports none of them.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import models

from gradebook.models import Course, RosterSource, Section, Student, Term
from gradebook.oneroster.parser import SPECS, Package, Row, sentence
from gradebook.oneroster.report import ImportReport
from mastery.models import Role, School, User

Kind = RosterSource.Kind
Target = RosterSource.Target

ORGS, SESSIONS, COURSES, CLASSES = (
    "orgs.csv",
    "academicSessions.csv",
    "courses.csv",
    "classes.csv",
)
USERS, ROLES, ENROLLMENTS = "users.csv", "roles.csv", "enrollments.csv"

STAFF_ROLES = {
    "teacher": Role.TEACHER,
    "aide": Role.TEACHER,
    "administrator": Role.SCHOOL_ADMIN,
    "siteAdministrator": Role.SCHOOL_ADMIN,
    "principal": Role.SCHOOL_ADMIN,
    "counselor": Role.COUNSELOR,
}
GUARDIAN_ROLES = ("guardian", "parent", "relative")


class Other:
    """A school org outside this import (the upload page imports into one school only)."""


OTHER = Other()


@dataclass
class SourceMapping:
    """One RosterSource row as loaded: which object a sourcedId made, and from which row."""

    id: int
    object_id: int
    fingerprint: str


@dataclass
class Want:
    """The fields one row wants its object to have (`defaults` only when the object is created)."""

    row: Row
    fields: dict[str, Any]
    defaults: dict[str, Any] = field(default_factory=dict)


@dataclass
class Leaving:
    """What tobedeleted rows take away in one school, applied together at the end."""

    enrollments: dict[date, set[int]] = field(default_factory=lambda: defaultdict(set))
    sections: set[int] = field(default_factory=set)
    students: set[int] = field(default_factory=set)
    teachings: set[int] = field(default_factory=set)
    teachers: set[int] = field(default_factory=set)
    guardians: set[int] = field(default_factory=set)
    # membership role (None: every role) → user ids
    memberships: dict[str | None, set[int]] = field(default_factory=lambda: defaultdict(set))


def row_fingerprint(row: Row) -> str:
    # dateLastModified is left out: an export that only touched the date changed nothing we keep.
    values = [row[c] for c in SPECS[row.file].columns if c != "dateLastModified"]
    return hashlib.sha256(json.dumps([row.file, *values]).encode()).hexdigest()


@dataclass
class ImportState:
    """One import: the package's rows, what is known of earlier imports, and the report."""

    package: Package  # the parsed files (rows with problems of their own already left out)
    only: School | None  # the one school of the upload page; None: the command line, every school
    report: ImportReport  # what was (or would be) done, and every problem found
    today: date  # the date roles' and enrollments' begin and end dates are read against
    # file name → sourcedId → row
    rows: dict[str, dict[str, Row]] = field(init=False)
    # The schools this import writes into, and which org sourcedIds stand for them.
    schools: dict[int, School] = field(default_factory=dict)  # school id → school
    school_of_org: dict[str, School] = field(default_factory=dict)  # org sourcedId → school
    # RosterSource rows of those schools: (school id, kind, target) → sourcedId → mapping.
    mappings: dict[tuple[int, str, str], dict[str, SourceMapping]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    # mappings to save at the end: (school id, kind, sourcedId, target) → (object, fingerprint)
    pending: dict[tuple[int, str, str, str], tuple[Any, str]] = field(default_factory=dict)
    # the school's rows of a model, read once: (school id, model) → id → object; also
    # (school id, model, key fields) → natural key → object (see enrollments.by_key)
    cache: dict[tuple[Any, ...], dict[Any, Any]] = field(default_factory=dict)
    # Built stage by stage: school id → sourcedId → object.
    # terms from academicSessions.csv (sessions)
    terms: dict[int, dict[str, Term]] = field(default_factory=lambda: defaultdict(dict))
    # courses from courses.csv (courses)
    courses: dict[int, dict[str, Course]] = field(default_factory=lambda: defaultdict(dict))
    # sections from classes.csv (courses)
    sections: dict[int, dict[str, Section]] = field(default_factory=lambda: defaultdict(dict))
    # students from users.csv, or imported before (students)
    students: dict[int, dict[str, Student]] = field(default_factory=lambda: defaultdict(dict))
    # user sourcedId → their login (made, updated or found by this import)
    logins: dict[str, User] = field(default_factory=dict)
    # (file, line) → the row's fingerprint, worked out once
    fingerprints: dict[tuple[str, int], str] = field(default_factory=dict)
    # (file, line, message) problems already reported (a row is read for each of its schools)
    reported: set[tuple[str, int, str]] = field(default_factory=set)
    not_renamed: set[str] = field(default_factory=set)  # logins a school's roster may not rename
    # Activated logins whose row has a new email: the person confirms it (after the commit).
    email_changes: list[tuple[User, str]] = field(default_factory=list)
    # Logins given a staff or student role: activation emails for those not yet activated.
    to_activate: set[int] = field(default_factory=set)
    # org sourcedIds imported before (command line)
    known_orgs: set[str] = field(default_factory=set)
    # school id → what the rows take away there, applied at the end (deletions.apply_leaving)
    leaving: dict[int, Leaving] = field(default_factory=lambda: defaultdict(Leaving))

    def __post_init__(self) -> None:
        self.rows = {name: {r.sid: r for r in self.package.of(name)} for name in SPECS}

    # --- schools of the rows -----------------------------------------------------------------------

    def school_for(self, row: Row, column: str) -> School | Other | None:
        """The school an org reference of the row names; OTHER for another school's; None: error."""
        sid = row[column]
        if sid in self.school_of_org:
            return self.school_of_org[sid]
        if self.only is not None:
            return OTHER
        org = self.rows[ORGS].get(sid)
        if org is not None:
            self.error(row, f"{column} “{sid}” is an org of type {org['type']}, not a school")
        else:
            self.unknown(row, column, sid, ORGS, "org")
        return None

    def school_for_quietly(self, sid: str) -> School | Other | None:
        if sid in self.school_of_org:
            return self.school_of_org[sid]
        org = self.rows[ORGS].get(sid)
        is_school = org is None or org["type"] == "school"
        return OTHER if self.only is not None and is_school else None

    # --- sourcedId mappings ----------------------------------------------------------------------------

    def mapping(self, school_id: int, kind: str, sid: str, target: str) -> SourceMapping | None:
        return self.mappings.get((school_id, kind, target), {}).get(sid)

    def fingerprint(self, row: Row) -> str:
        key = (row.file, row.line)
        if key not in self.fingerprints:
            self.fingerprints[key] = row_fingerprint(row)
        return self.fingerprints[key]

    def unchanged(self, school_id: int, kind: str, row: Row, target: str, object_id: int) -> bool:
        """The row is the one last imported into this object: leave the object as it is."""
        mapping = self.mapping(school_id, kind, row.sid, target)
        return (
            mapping is not None
            and mapping.object_id == object_id
            and mapping.fingerprint == self.fingerprint(row)
        )

    def record(
        self, school: School, kind: str, row: Row, target: str, obj: Any, *, applied: bool = True
    ) -> None:
        """Note that the row made (or is) this object; `applied=False`: the row's change was not
        written, so the fingerprint stays as it was and a later import tries again."""
        fingerprint = self.fingerprint(row)
        if not applied:
            mapping = self.mapping(school.id, kind, row.sid, target)
            fingerprint = mapping.fingerprint if mapping else ""
        self.pending[(school.id, kind, row.sid, target)] = (obj, fingerprint)

    def known_user(
        self, school_id: int, sid: str, targets: tuple[str, ...] = (Target.STUDENT, Target.USER)
    ) -> bool:
        return any(self.mapping(school_id, Kind.USER, sid, t) is not None for t in targets)

    def known_anywhere(
        self, sid: str, targets: tuple[str, ...] = (Target.STUDENT, Target.USER)
    ) -> bool:
        return any(self.known_user(school_id, sid, targets) for school_id in self.schools)

    def login_id(self, school: School, sid: str) -> int | None:
        if sid in self.logins:
            return self.logins[sid].id
        mapping = self.mapping(school.id, Kind.USER, sid, Target.USER)
        return mapping.object_id if mapping else None

    # --- the school's records ----------------------------------------------------------------------------

    def existing(self, school: School, model: type[models.Model]) -> dict[int, Any]:
        """Every row of the model in the school, by id (one query per model and school)."""
        key = (school.id, model)
        if key not in self.cache:
            self.cache[key] = {o.id: o for o in model.objects.filter(school=school)}
        return self.cache[key]

    def mapped(
        self, school: School, model: type[models.Model], kind: str, sid: str, target: str
    ) -> Any:
        mapping = self.mapping(school.id, kind, sid, target)
        return self.existing(school, model).get(mapping.object_id) if mapping else None

    # --- errors and checks ----------------------------------------------------------------------------

    def error(self, row: Row, message: str) -> None:
        """Report a row's problem once (a row is read for each school it concerns)."""
        self.package.failed_ids(row.file).add(row.sid)
        problem = (row.file, row.line, sentence(message))
        if problem not in self.reported:
            self.reported.add(problem)
            self.report.add_error(*problem)

    def text(self, row: Row, column: str, limit: int) -> str | None:
        value = row[column]
        if len(value) > limit:
            self.error(row, f"{column} is longer than {limit} characters")
            return None
        return value

    def failed(self, name: str, sid: str) -> bool:
        return sid in self.package.failed_ids(name)

    def unknown(self, row: Row, column: str, sid: str, name: str, what: str) -> None:
        """Report a reference to nothing, unless the row it names was already reported."""
        if not self.failed(name, sid):
            self.error(row, f"{column} “{sid}” is not a {what} of {name} nor imported before")
