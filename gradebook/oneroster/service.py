"""`oneroster_import`: a OneRoster 1.2 CSV package into the roster, upserted by sourcedId.

How OneRoster becomes this app's roster:
- org of type school → School (the command line creates a school it has not met, its slug from
  the org's identifier or name, under the District made from its parent org of type district);
  other org types only give context (a course at a department org takes that department's name).
- academicSession term / semester / schoolYear → Term, in every school the import writes into
  (sessions carry no org in the 1.2 CSV: the calendar is the district's); gradingPeriod →
  GradingPeriod under its parent term.
- course → Course (code from courseCode, else the sourcedId), in its school and in every school
  whose classes use it; its Department is the one named after its first subject (else after its
  department org, else "General"), created when missing.
- class → Section: its course, the first of termSourcedIds (a grading period stands for its
  term), title → name, the first period when it is a number, location → room.
- user with a student role (or a student enrollment) at a school → Student (local_id from
  identifier, else sourcedId; grades → grade level), with a login (User + student Membership)
  when the row has an email; teacher / aide → teacher Membership, administrator /
  siteAdministrator / principal → school_admin, counselor → counselor; guardian / parent /
  relative → a guardian Membership and a Guardianship to each of their children (agentSourcedIds,
  read from either side), in the children's schools. Logins are unique by email and made with an
  unusable password: their owners activate them (mastery.accounts, the identity rule, which also
  decides whether an existing login may be taken in).
- enrollment student → Enrollment (beginDate → enrolled_on; an endDate before the term ends →
  withdrawn_on, since an endDate on the term's last day means "to the end", not "left"); teacher →
  SectionTeacher (primary → is_primary).

Access follows the SIS's dates and switches: a user row with enabledUser=false keeps its place on
the roster (student, enrollments, teaching, guardianships) but holds no membership in the schools
of the import, so that person cannot reach them; a role whose endDate has passed, or whose
beginDate has not come, grants nothing, and the membership it granted before is removed (unless a
current role row grants the same). Both come back by themselves when a later import says so. A
teacher's enrollment whose endDate has passed takes the teacher off the class.

status=tobedeleted withdraws and never deletes evidence: a student is made inactive and their
enrollments withdrawn; an enrollment is withdrawn (a teacher's removed); a class's enrollments are
withdrawn (the section stays); a user's memberships, guardianships and teaching assignments in the
school are removed; a role removes what it granted. Schools, terms and courses are never removed
by an import: sections and evidence hang on them.

Everything happens in one transaction, written stage by stage as the rows depend on each other;
when any row has a problem the transaction is rolled back, so nothing is written and every
problem is reported (with its file and line). A dry run takes the same path and always rolls back,
so its report is exactly what the import would do.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from gradebook.models import (
    Course,
    Enrollment,
    GradingPeriod,
    Guardianship,
    RosterSource,
    Section,
    SectionTeacher,
    Student,
    Term,
)
from gradebook.oneroster import report as entities
from gradebook.oneroster.parser import (
    MANIFEST,
    SPECS,
    Mode,
    Package,
    Row,
    parse_package,
    sentence,
)
from gradebook.oneroster.report import OTHER_SCHOOL, ImportReport
from mastery import accounts, audit
from mastery.models import (
    AuditEvent,
    Department,
    District,
    DistrictMembership,
    Membership,
    Role,
    School,
    User,
)
from mastery.services import school_provision
from mastery.tasks import activations_queue
from mastery.tenancy import all_schools

log = logging.getLogger(__name__)
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
FILE_KINDS = {
    SESSIONS: Kind.ACADEMIC_SESSION,
    COURSES: Kind.COURSE,
    CLASSES: Kind.CLASS,
    USERS: Kind.USER,
    ROLES: Kind.ROLE,
    ENROLLMENTS: Kind.ENROLLMENT,
}
TERM_TYPES = ("term", "semester", "schoolYear")
DEFAULT_DEPARTMENT = "General"


class _Other:
    """A school org outside this import (the upload page imports into one school only)."""


OTHER = _Other()


@dataclass
class _Mapping:
    id: int
    object_id: int
    fingerprint: str


@dataclass
class _Want:
    """The fields one row wants its object to have (`defaults` only when the object is created)."""

    row: Row
    fields: dict[str, Any]
    defaults: dict[str, Any] = field(default_factory=dict)


@audit.sourced("oneroster")
@transaction.atomic
def oneroster_import(
    *,
    files: Mapping[str, bytes],
    school: School | None,
    dry_run: bool = False,
    today: date | None = None,
    base_url: str | None = None,
) -> ImportReport:
    """Import a OneRoster 1.2 CSV package (file name → bytes); report what was (or would be) done.

    `school`: the one school to import into (the upload page, inside the request's scope): rows of
    other school orgs are skipped and counted, users and enrollments are taken only through this
    school's orgs and classes, and no school or district row is touched. None: every school org
    of the files (the command line, with scopes disabled), creating schools it has not met.
    Atomic: when any row has a problem nothing is written; a dry run never writes.

    Existing logins are taken in only as the identity rule allows (mastery.accounts). Once the
    import has committed, and only then, the new staff and students who have not signed in yet
    get their activation email, and people whose activated account got a new address are asked
    to confirm it from there; links point at `base_url` (default: the SITE_URL setting).
    """
    report = ImportReport(dry_run=dry_run)
    package = parse_package(files, report.errors, report.warnings)
    # Rows with problems of their own are left out (and their sourcedIds noted), so the checks
    # that need the database still run and report the other rows' problems too.
    if package.readable:
        run = _Import(
            package=package,
            only=school,
            report=report,
            today=today or timezone.localdate(),
        )
        try:
            run.run()
        except IntegrityError as exc:
            # Every row is checked against the database before its stage writes, so this is a
            # concurrent change (two imports at once, say): refuse the whole import.
            report.add_error(
                "", 0, f"The database refused a change ({exc}); nothing was imported. Try again."
            )
    order = {name: i for i, name in enumerate([MANIFEST, *SPECS])}
    report.errors.sort(key=lambda p: (order.get(p.file, -1), p.line))
    if not report.ok or dry_run:
        transaction.set_rollback(True)
    elif package.readable:
        _after_commit(run, base_url or settings.SITE_URL)
    return report


def _after_commit(run: _Import, base_url: str) -> None:
    """Mail goes out only once the import is saved (a rolled-back import sends nothing)."""
    to_activate = sorted(run.to_activate)
    changes = list(run.email_changes)

    def send() -> None:
        activations_queue(user_ids=to_activate, base_url=base_url)
        for user, new_email in changes:
            try:
                accounts.email_change_request(
                    user=user, new_email=new_email, base_url=base_url, source="oneroster"
                )
            except OSError:  # the mail server: the next import asks again
                log.exception("Could not email %s to confirm a new address", new_email)

    transaction.on_commit(send)


def _fingerprint(row: Row) -> str:
    # dateLastModified is left out: an export that only touched the date changed nothing we keep.
    values = [row[c] for c in SPECS[row.file].columns if c != "dateLastModified"]
    return hashlib.sha256(json.dumps([row.file, *values]).encode()).hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"-{2,}", "-", slugify(text).replace("_", "-")).strip("-")[:64].strip("-")


def _grade_level(grades: list[str]) -> int | None:
    """CEDS grade codes: 01-13 are grades, KG and TK count as 0; the rest (PK, UG, …) none."""
    if not grades:
        return None
    code = grades[0]
    if code in ("KG", "TK"):
        return 0
    return int(code) if code.isdigit() and int(code) <= 32767 else None


def _grade_levels(grades: list[str]) -> str:
    numbers = [int(g) for g in grades if g.isdigit()]
    if numbers and len(numbers) == len(grades):
        low, high = min(numbers), max(numbers)
        return str(low) if low == high else f"{low}-{high}"
    return ", ".join(grades)[:40]


class _Import:
    """One import: the package's rows, what is known of earlier imports, and the report."""

    def __init__(self, *, package: Package, only: School | None, report: ImportReport, today: date):
        self.package = package
        self.only = only
        self.report = report
        self.today = today
        self.rows = {name: {r.sid: r for r in package.of(name)} for name in SPECS}
        # The schools this import writes into, and which org sourcedIds stand for them.
        self.schools: dict[int, School] = {}
        self.school_of_org: dict[str, School] = {}
        # RosterSource rows of those schools: (school id, kind, target) → sourcedId → mapping.
        self.mappings: dict[tuple[int, str, str], dict[str, _Mapping]] = defaultdict(dict)
        self.pending: dict[tuple[int, str, str, str], tuple[Any, str]] = {}
        self.cache: dict[tuple[int, type[models.Model]], dict[int, Any]] = {}
        # Built stage by stage: school id → sourcedId → object.
        self.terms: dict[int, dict[str, Term]] = defaultdict(dict)
        self.courses: dict[int, dict[str, Course]] = defaultdict(dict)
        self.sections: dict[int, dict[str, Section]] = defaultdict(dict)
        self.students: dict[int, dict[str, Student]] = defaultdict(dict)
        self.logins: dict[str, User] = {}
        self.fingerprints: dict[tuple[str, int], str] = {}
        self.reported: set[tuple[str, int, str]] = set()
        self.not_renamed: set[str] = set()  # logins a school's roster may not rename
        # Activated logins whose row has a new email: the person confirms it (after the commit).
        self.email_changes: list[tuple[User, str]] = []
        # Logins given a staff or student role: activation emails for those not yet activated.
        self.to_activate: set[int] = set()
        self.known_orgs: set[str] = set()  # org sourcedIds imported before (command line)
        self.leaving: dict[int, _Leaving] = defaultdict(_Leaving)

    # --- the stages, in the order rows depend on each other ----------------------------------------

    def run(self) -> None:
        if self.only is None:
            self.resolve_district_schools()
        else:
            self.resolve_own_school()
        if not self.schools:
            return
        self.load_mappings()
        self.import_sessions()
        self.import_courses()
        self.import_classes()
        plan = self.import_people()
        self.import_enrollments(plan)
        self.apply_deletions()
        self.save_mappings()

    # --- schools ---------------------------------------------------------------------------------------

    def resolve_own_school(self) -> None:
        """The upload page: find the org that stands for this school; every other org is skipped."""
        school = self.only
        known = list(
            RosterSource.objects.filter(
                school=school, kind=Kind.ORG, target=Target.SCHOOL
            ).values_list("sourced_id", flat=True)
        )
        if not known:
            candidates = [
                r
                for r in self.rows[ORGS].values()
                if r["type"] == "school" and not r.deleted and self._is_this_school(r, school)
            ]
            if len(candidates) != 1:
                found = ", ".join(f"“{r['name']}” (line {r.line})" for r in candidates)
                self.report.add_error(
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
        self.schools[school.id] = school
        for sid in known:
            self.school_of_org[sid] = school
            if sid in self.rows[ORGS]:
                self._record(school, Kind.ORG, self.rows[ORGS][sid], Target.SCHOOL, school)
        if self.rows[ORGS] and not any(sid in self.rows[ORGS] for sid in known):
            self.report.add_warning(
                ORGS,
                0,
                f"This school's org (sourcedId “{known[0]}”, from an earlier import) is not in "
                "orgs.csv: only rows naming it are imported.",
            )
        for row in self.rows[ORGS].values():
            if row["type"] == "school" and row.sid not in self.school_of_org:
                self.report.skip(ORGS, OTHER_SCHOOL)

    @staticmethod
    def _is_this_school(row: Row, school: School) -> bool:
        identifier = row["identifier"]
        return (
            school.slug in (identifier, _slug(identifier), _slug(row["name"]))
            or row["name"].casefold() == school.name.casefold()
        )

    def resolve_district_schools(self) -> None:
        """The command line: every school org of the files, made into a School when new."""
        school_ids: dict[str, int] = {}
        district_ids: dict[str, int] = {}
        for sid, target, object_id in RosterSource.objects.filter(
            kind=Kind.ORG, target__in=[Target.SCHOOL, Target.DISTRICT]
        ).values_list("sourced_id", "target", "object_id"):
            (school_ids if target == Target.SCHOOL else district_ids)[sid] = object_id
        self.known_orgs = set(school_ids) | set(district_ids)
        school_rows = [r for r in self.rows[ORGS].values() if r["type"] == "school"]
        # Orgs other files point at that were imported before (a delta without orgs.csv).
        referenced = {
            r[column]
            for name, column in (
                (COURSES, "orgSourcedId"),
                (CLASSES, "schoolSourcedId"),
                (ROLES, "orgSourcedId"),
                (ENROLLMENTS, "schoolSourcedId"),
            )
            for r in self.rows[name].values()
        }
        existing = School.objects.in_bulk(
            {school_ids[s] for s in referenced | {r.sid for r in school_rows} if s in school_ids}
        )
        slugs = {_slug(r["identifier"]) or _slug(r["name"]) or "school" for r in school_rows}
        by_slug = {s.slug: s for s in School.objects.filter(slug__in=slugs)}
        adopted = set(school_ids.values())
        districts = self._districts(school_rows, district_ids)
        tally = self.report.tally(entities.SCHOOLS)
        for row in school_rows:
            school = existing.get(school_ids.get(row.sid, 0))
            if row.deleted:
                self.report.skip(ORGS, "tobedeleted: a school is never removed by an import")
                if school is not None:
                    self._add_school(row.sid, school)
                    self._record(school, Kind.ORG, row, Target.SCHOOL, school)
                continue
            name = self._text(row, "name", 200)
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
            elif self._unchanged(school.id, Kind.ORG, row, Target.SCHOOL, school.id):
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
            self._add_school(row.sid, school)
            self._record(school, Kind.ORG, row, Target.SCHOOL, school)
            if district is not None:
                parent = self.rows[ORGS].get(row["parentSourcedId"])
                if parent is not None:
                    self._record(school, Kind.ORG, parent, Target.DISTRICT, district)
        for sid in referenced - set(self.school_of_org):
            if school_ids.get(sid) in existing:
                self._add_school(sid, existing[school_ids[sid]])
        # A delta of users or sessions names no org: its schools are those it was imported into.
        # (A bulk export carries its orgs, roles and enrollments, which name the schools.)
        imported = Q(pk__in=[])
        for name in (USERS, SESSIONS):
            if self.rows[name] and self.package.mode(name) is Mode.DELTA:
                imported |= Q(kind=FILE_KINDS[name], sourced_id__in=list(self.rows[name]))
        more = set(RosterSource.objects.filter(imported).values_list("school_id", flat=True))
        orgs_of = defaultdict(list)
        for sid, school_id in school_ids.items():
            orgs_of[school_id].append(sid)
        for school in School.objects.filter(id__in=more - set(self.schools)):
            self.schools[school.id] = school
            for sid in orgs_of[school.id]:
                self.school_of_org.setdefault(sid, school)
        for row in self.rows[ORGS].values():
            if row["type"] not in ("school", "district"):
                self.report.skip(ORGS, f"an org of type {row['type']} is context, not a record")

    def _districts(
        self, school_rows: list[Row], district_ids: dict[str, int]
    ) -> dict[str, District]:
        """The District of each district org that is the parent of a school org of the files."""
        result: dict[str, District] = {}
        parents = {r["parentSourcedId"] for r in school_rows if r["parentSourcedId"]}
        existing = District.objects.in_bulk([district_ids[p] for p in parents if p in district_ids])
        tally = self.report.tally(entities.DISTRICTS)
        for sid in sorted(parents):
            row = self.rows[ORGS].get(sid)
            known = existing.get(district_ids.get(sid, 0))
            if row is None:
                if known is not None:
                    result[sid] = known
                elif not self._failed(ORGS, sid):
                    child = next(r for r in school_rows if r["parentSourcedId"] == sid)
                    self._unknown(child, "parentSourcedId", sid, ORGS, "org")
                continue
            if row["type"] != "district":
                continue  # a school under a state or a local org: no District for it
            if row.deleted:
                self.report.skip(ORGS, "tobedeleted: a district is never removed by an import")
                if known is not None:
                    result[sid] = known
                continue
            name = self._text(row, "name", 200)
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

    def _add_school(self, org_sid: str, school: School) -> None:
        self.schools[school.id] = school
        self.school_of_org[org_sid] = school

    def _school_for(self, row: Row, column: str) -> School | _Other | None:
        """The school an org reference of the row names; OTHER for another school's; None: error."""
        sid = row[column]
        if sid in self.school_of_org:
            return self.school_of_org[sid]
        if self.only is not None:
            return OTHER
        org = self.rows[ORGS].get(sid)
        if org is not None:
            self._error(row, f"{column} “{sid}” is an org of type {org['type']}, not a school")
        else:
            self._unknown(row, column, sid, ORGS, "org")
        return None

    def _school_for_quietly(self, sid: str) -> School | _Other | None:
        if sid in self.school_of_org:
            return self.school_of_org[sid]
        org = self.rows[ORGS].get(sid)
        is_school = org is None or org["type"] == "school"
        return OTHER if self.only is not None and is_school else None

    # --- sourcedId mappings --------------------------------------------------------------------------

    def load_mappings(self) -> None:
        for (
            id_,
            school_id,
            kind,
            sid,
            target,
            object_id,
            fingerprint,
        ) in RosterSource.objects.filter(school_id__in=list(self.schools)).values_list(
            "id", "school_id", "kind", "sourced_id", "target", "object_id", "fingerprint"
        ):
            self.mappings[(school_id, kind, target)][sid] = _Mapping(id_, object_id, fingerprint)

    def _mapping(self, school_id: int, kind: str, sid: str, target: str) -> _Mapping | None:
        return self.mappings.get((school_id, kind, target), {}).get(sid)

    def _fingerprint(self, row: Row) -> str:
        key = (row.file, row.line)
        if key not in self.fingerprints:
            self.fingerprints[key] = _fingerprint(row)
        return self.fingerprints[key]

    def _unchanged(self, school_id: int, kind: str, row: Row, target: str, object_id: int) -> bool:
        """The row is the one last imported into this object: leave the object as it is."""
        mapping = self._mapping(school_id, kind, row.sid, target)
        return (
            mapping is not None
            and mapping.object_id == object_id
            and mapping.fingerprint == self._fingerprint(row)
        )

    def _record(
        self, school: School, kind: str, row: Row, target: str, obj: Any, *, applied: bool = True
    ) -> None:
        """Note that the row made (or is) this object; `applied=False`: the row's change was not
        written, so the fingerprint stays as it was and a later import tries again."""
        fingerprint = self._fingerprint(row)
        if not applied:
            mapping = self._mapping(school.id, kind, row.sid, target)
            fingerprint = mapping.fingerprint if mapping else ""
        self.pending[(school.id, kind, row.sid, target)] = (obj, fingerprint)

    def save_mappings(self) -> None:
        now = timezone.now()
        new, changed = [], []
        for (school_id, kind, sid, target), (obj, fingerprint) in self.pending.items():
            mapping = self._mapping(school_id, kind, sid, target)
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

    # --- generic upsert -------------------------------------------------------------------------------

    def _existing(self, school: School, model: type[models.Model]) -> dict[int, Any]:
        """Every row of the model in the school, by id (one query per model and school)."""
        key = (school.id, model)
        if key not in self.cache:
            self.cache[key] = {o.id: o for o in model.objects.filter(school=school)}
        return self.cache[key]

    def _mapped(self, school: School, model, kind: str, sid: str, target: str):
        mapping = self._mapping(school.id, kind, sid, target)
        return self._existing(school, model).get(mapping.object_id) if mapping else None

    def _upsert(
        self,
        school: School,
        model: type[models.Model],
        *,
        kind: str,
        target: str,
        wants: Iterable[_Want],
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
        existing = self._existing(school, model)
        by_key = {tuple(getattr(o, f) for f in key): o for o in existing.values()}
        mapped = self.mappings.get((school.id, kind, target), {})
        owners = {m.object_id: sid for sid, m in mapped.items()}
        holders = {
            f: {getattr(o, f): o for o in existing.values() if getattr(o, f) is not None}
            for f in also_unique
        }
        tally = self.report.tally(entity)
        seen: dict[tuple, Row] = {}
        result: dict[str, Any] = {}
        to_create: list[Any] = []
        to_update: dict[tuple[str, ...], list[Any]] = defaultdict(list)
        for want in wants:
            row, wanted = want.row, want.fields
            natural = tuple(wanted[f] for f in key)
            if natural in seen:
                self._error(row, f"{describe(wanted)} is also on line {seen[natural].line}")
                continue
            mapping = mapped.get(row.sid)
            obj = existing.get(mapping.object_id) if mapping else None
            clash = by_key.get(natural)
            if obj is None and clash is not None:
                owner = owners.get(clash.id, row.sid)
                if owner != row.sid:
                    self._error(row, f"{describe(wanted)} belongs to sourcedId “{owner}”")
                    continue
                obj = clash
            elif obj is not None and clash is not None and clash is not obj:
                self._error(row, f"{describe(wanted)} is already used by another record")
                continue
            taken = [
                label
                for f, label in also_unique.items()
                if wanted.get(f) is not None and holders[f].get(wanted[f], obj) is not obj
            ]
            if taken:
                self._error(
                    row, f"the {taken[0]} is already linked to another {model._meta.verbose_name}"
                )
                continue
            seen[natural] = row
            if obj is None:
                obj = model(school=school, **{**want.defaults, **wanted})
                to_create.append(obj)
                tally.created += 1
            elif mapping is not None and self._unchanged(school.id, kind, row, target, obj.id):
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
            self._record(school, kind, row, target, obj)
        model.objects.bulk_create(to_create)
        for fields, objs in to_update.items():
            model.objects.bulk_update(objs, list(fields))
        existing.update((obj.id, obj) for obj in to_create)
        return result

    # --- errors and checks ----------------------------------------------------------------------------

    def _error(self, row: Row, message: str) -> None:
        """Report a row's problem once (a row is read for each school it concerns)."""
        self.package.failed_ids(row.file).add(row.sid)
        problem = (row.file, row.line, sentence(message))
        if problem not in self.reported:
            self.reported.add(problem)
            self.report.add_error(*problem)

    def _text(self, row: Row, column: str, limit: int) -> str | None:
        value = row[column]
        if len(value) > limit:
            self._error(row, f"{column} is longer than {limit} characters")
            return None
        return value

    def _failed(self, name: str, sid: str) -> bool:
        return sid in self.package.failed_ids(name)

    def _unknown(self, row: Row, column: str, sid: str, name: str, what: str) -> None:
        """Report a reference to nothing, unless the row it names was already reported."""
        if not self._failed(name, sid):
            self._error(row, f"{column} “{sid}” is not a {what} of {name} nor imported before")

    # --- terms and grading periods ------------------------------------------------------------------

    def import_sessions(self) -> None:
        sessions = self.rows[SESSIONS]
        terms, periods = [], []
        for row in sessions.values():
            kind = row["type"]
            if row.deleted:
                self.report.skip(SESSIONS, "tobedeleted: a term is never removed by an import")
            elif kind.startswith("ext:"):
                self.report.skip(SESSIONS, f"session type {kind} is not imported")
            elif kind == "gradingPeriod":
                parent = sessions.get(row["parentSourcedId"])
                if not row["parentSourcedId"]:
                    self._error(row, "a grading period needs its term in parentSourcedId")
                elif parent is not None and parent["type"] not in TERM_TYPES:
                    self._error(
                        row,
                        "the parent of a grading period must be a term, semester or school year",
                    )
                else:
                    periods.append(row)
            else:
                parent_sid = row["parentSourcedId"]
                if (
                    parent_sid
                    and parent_sid not in sessions
                    and not self._known_session(parent_sid)
                ):
                    self._unknown(row, "parentSourcedId", parent_sid, SESSIONS, "session")
                terms.append(row)
        for school in self.schools.values():
            wants = [
                _Want(
                    row,
                    {
                        "name": name,
                        "starts_on": row.date("startDate"),
                        "ends_on": row.date("endDate"),
                    },
                )
                for row in terms
                if (name := self._text(row, "title", 80)) is not None
            ]
            self.terms[school.id].update(
                self._upsert(
                    school,
                    Term,
                    kind=Kind.ACADEMIC_SESSION,
                    target=Target.TERM,
                    wants=wants,
                    key=("name",),
                    entity=entities.TERMS,
                    describe=lambda f: f"the term title “{f['name']}”",
                )
            )
            wants = []
            for row in periods:
                term = self._term(school, row["parentSourcedId"])
                name = self._text(row, "title", 80)
                if term is None:
                    self._unknown(row, "parentSourcedId", row["parentSourcedId"], SESSIONS, "term")
                elif name is not None:
                    wants.append(
                        _Want(
                            row,
                            {
                                "term_id": term.id,
                                "name": name,
                                "starts_on": row.date("startDate"),
                                "ends_on": row.date("endDate"),
                            },
                        )
                    )
            self._upsert(
                school,
                GradingPeriod,
                kind=Kind.ACADEMIC_SESSION,
                target=Target.GRADING_PERIOD,
                wants=wants,
                key=("term_id", "name"),
                entity=entities.GRADING_PERIODS,
                describe=lambda f: f"the grading period title “{f['name']}” in its term",
            )

    def _known_session(self, sid: str) -> bool:
        return any(
            self._mapping(s, Kind.ACADEMIC_SESSION, sid, t) is not None
            for s in self.schools
            for t in (Target.TERM, Target.GRADING_PERIOD)
        )

    def _term(self, school: School, sid: str) -> Term | None:
        """The Term a session stands for in the school (a grading period: the term it is part of)."""
        if sid in self.terms[school.id]:
            return self.terms[school.id][sid]
        term = self._mapped(school, Term, Kind.ACADEMIC_SESSION, sid, Target.TERM)
        if term is not None:
            return term
        row = self.rows[SESSIONS].get(sid)
        if row is not None and row["type"] == "gradingPeriod":
            return self._term(school, row["parentSourcedId"])
        period = self._mapped(
            school, GradingPeriod, Kind.ACADEMIC_SESSION, sid, Target.GRADING_PERIOD
        )
        return self._existing(school, Term).get(period.term_id) if period else None

    # --- departments and courses ----------------------------------------------------------------------

    def _class_school(self, row: Row) -> School | None:
        """The school of a class row when it is one this import writes into (no errors reported)."""
        return self.school_of_org.get(row["schoolSourcedId"])

    def import_courses(self) -> None:
        orgs = self.rows[ORGS]
        used_in: dict[str, set[int]] = defaultdict(set)
        for row in self.rows[CLASSES].values():
            school = self._class_school(row)
            if school is not None and not row.deleted:
                used_in[row["courseSourcedId"]].add(school.id)
        wants: dict[int, list[_Want]] = defaultdict(list)
        for row in self.rows[COURSES].values():
            if row.deleted:
                self.report.skip(COURSES, "tobedeleted: a course is never removed by an import")
                continue
            org_sid = row["orgSourcedId"]
            org = orgs.get(org_sid)
            owner = self.school_of_org.get(org_sid)
            if owner is None and org is not None and org["type"] == "department":
                owner = self.school_of_org.get(org["parentSourcedId"])
            if (
                self.only is None
                and org is None
                and owner is None
                and org_sid not in self.known_orgs
            ):
                self._unknown(row, "orgSourcedId", org_sid, ORGS, "org")
                continue
            schools = used_in[row.sid] | ({owner.id} if owner is not None else set())
            if not schools:
                other = self.only is not None and org is not None and org["type"] == "school"
                self.report.skip(
                    COURSES, OTHER_SCHOOL if other else "not used by a class of an imported school"
                )
                continue
            code = self._text(row, "courseCode", 40) if row["courseCode"] else row.sid
            name = self._text(row, "title", 200)
            if code is None or name is None:
                continue
            if len(code) > 40:
                self._error(row, "courseCode is empty and the sourcedId is too long to stand in")
                continue
            subjects = row.list("subjects")
            if subjects:
                department = subjects[0]
            elif org is not None and org["type"] == "department":
                department = org["name"]
            else:
                department = DEFAULT_DEPARTMENT
            if len(department) > 120:
                self._error(row, "the subject is longer than 120 characters")
                continue
            codes = row.list("subjectCodes")
            for school_id in schools:
                wants[school_id].append(
                    _Want(
                        row,
                        {
                            "code": code,
                            "name": name,
                            "department_id": None,  # set below, once departments exist
                            "grade_levels": _grade_levels(row.list("grades")),
                        },
                        {"department": (department, codes[0][:20] if codes else "")},
                    )
                )
        for school_id, school_wants in wants.items():
            school = self.schools[school_id]
            departments = self._departments(
                school, [w.defaults.pop("department") for w in school_wants]
            )
            for want, department in zip(school_wants, departments, strict=True):
                want.fields["department_id"] = department.id
            self.courses[school_id].update(
                self._upsert(
                    school,
                    Course,
                    kind=Kind.COURSE,
                    target=Target.COURSE,
                    wants=school_wants,
                    key=("code",),
                    entity=entities.COURSES,
                    describe=lambda f: f"the course code “{f['code']}”",
                )
            )

    def _departments(self, school: School, wanted: list[tuple[str, str]]) -> list[Department]:
        """The department of each (name, code), by name without case; missing ones are created."""
        departments = {d.name.casefold(): d for d in self._existing(school, Department).values()}
        new: dict[str, Department] = {}
        for name, code in wanted:
            if name.casefold() not in departments and name.casefold() not in new:
                new[name.casefold()] = Department(school=school, name=name, code=code)
        Department.objects.bulk_create(new.values())
        self.report.tally(entities.DEPARTMENTS).created += len(new)
        self._existing(school, Department).update((d.id, d) for d in new.values())
        departments.update(new)
        return [departments[name.casefold()] for name, _ in wanted]

    def _course(self, school: School, sid: str) -> Course | None:
        return self.courses[school.id].get(sid) or self._mapped(
            school, Course, Kind.COURSE, sid, Target.COURSE
        )

    # --- sections ---------------------------------------------------------------------------------------

    def import_classes(self) -> None:
        wants: dict[int, list[_Want]] = defaultdict(list)
        for row in self.rows[CLASSES].values():
            school = self._school_for(row, "schoolSourcedId")
            if school is OTHER:
                self.report.skip(CLASSES, OTHER_SCHOOL)
                continue
            if school is None or row.deleted:
                continue  # reported by _school_for, or withdrawn by apply_deletions
            course_sid = row["courseSourcedId"]
            course = self._course(school, course_sid)
            if course is None:
                if not self._failed(COURSES, course_sid):
                    self._error(
                        row,
                        f"the class refers to an unknown course “{course_sid}” "
                        "(not in courses.csv nor imported before)",
                    )
                continue
            term_sid = (row.list("termSourcedIds") or [""])[0]
            term = self._term(school, term_sid)
            if term is None:
                self._unknown(row, "termSourcedIds", term_sid, SESSIONS, "session")
                continue
            name = self._text(row, "title", 80)
            room = self._text(row, "location", 40)
            if name is None or room is None:
                continue
            periods = row.list("periods")
            first = periods[0] if periods else ""
            wants[school.id].append(
                _Want(
                    row,
                    {
                        "course_id": course.id,
                        "term_id": term.id,
                        "name": name,
                        "period": int(first) if first.isdigit() and int(first) <= 32767 else None,
                        "room": room,
                    },
                )
            )
        for school_id, school_wants in wants.items():
            self.sections[school_id].update(
                self._upsert(
                    self.schools[school_id],
                    Section,
                    kind=Kind.CLASS,
                    target=Target.SECTION,
                    wants=school_wants,
                    key=("term_id", "course_id", "name"),
                    entity=entities.SECTIONS,
                    describe=lambda f: f"the class title “{f['name']}” (same course and term)",
                )
            )

    def _section(self, school: School, sid: str) -> Section | None:
        return self.sections[school.id].get(sid) or self._mapped(
            school, Section, Kind.CLASS, sid, Target.SECTION
        )

    # --- people: students, logins, memberships, guardianships -------------------------------------------

    def _known_user(self, school_id: int, sid: str, targets=(Target.STUDENT, Target.USER)) -> bool:
        return any(self._mapping(school_id, Kind.USER, sid, t) is not None for t in targets)

    def _known_anywhere(self, sid: str, targets=(Target.STUDENT, Target.USER)) -> bool:
        return any(self._known_user(school_id, sid, targets) for school_id in self.schools)

    def import_people(self) -> list[tuple[Row, School, Section, str]]:
        """Students, logins and memberships from roles and enrollments; guardianships from agents.

        Returns the enrollments to write (row, school, section, user sourcedId).
        """
        users = self.rows[USERS]
        gone = {sid for sid, r in users.items() if r.deleted}
        people = _People()
        plan: list[tuple[Row, School, Section, str]] = []
        for row in self.rows[ROLES].values():
            if not row.deleted and row["userSourcedId"] not in gone:
                self._read_role(row, people)
        for row in self.rows[ENROLLMENTS].values():
            if not row.deleted and row["userSourcedId"] not in gone:
                found = self._read_enrollment(row, people)
                if found is not None:
                    plan.append(found)
        self._read_known_users(people)
        self._read_agents(people)

        self._import_logins(people)
        self._import_students(people)
        guardianships = self._guardianships(people)
        self._import_memberships(people, guardianships)
        self._import_guardianships(guardianships)

        taken = set(people.student_in) | set(people.members) | set(people.children)
        taken |= {uid for _, uid in people.staff}
        for uid, row in users.items():
            if uid not in taken and not row.deleted:
                self.report.skip(
                    USERS,
                    OTHER_SCHOOL
                    if uid in people.elsewhere
                    else "no role at a school of the files"
                    if self.only is None
                    else "no role at this school",
                )
        return plan

    def _read_role(self, row: Row, people: _People) -> None:
        role, uid = row["role"], row["userSourcedId"]
        if role not in (*STAFF_ROLES, *GUARDIAN_ROLES, "student"):
            self.report.skip(ROLES, f"role {role} is not imported")
            return
        if role in GUARDIAN_ROLES:
            # A guardian belongs where their children are, whatever org the role names.
            if self._school_for_quietly(row["orgSourcedId"]) is OTHER:
                people.elsewhere.add(uid)
            if uid not in self.rows[USERS] and not self._known_anywhere(uid):
                self._unknown(row, "userSourcedId", uid, USERS, "user")
                return
            if self._withheld(row, people, None, Role.GUARDIAN):
                return
            people.guardian_role.setdefault(uid, role)
            people.grants.append((row, None, Role.GUARDIAN))
            return
        org = self.rows[ORGS].get(row["orgSourcedId"])
        if (
            row["orgSourcedId"] not in self.school_of_org
            and org is not None
            and org["type"] != "school"
        ):
            self.report.skip(
                ROLES, f"a {role} role at an org of type {org['type']} is not imported"
            )
            return
        school = self._school_for(row, "orgSourcedId")
        if school is OTHER:
            self.report.skip(ROLES, OTHER_SCHOOL)
            people.elsewhere.add(uid)
            return
        if school is None:
            return
        if uid not in self.rows[USERS] and not self._known_user(school.id, uid):
            self._unknown(row, "userSourcedId", uid, USERS, "user")
            return
        granted = Role.STUDENT if role == "student" else STAFF_ROLES[role]
        if self._withheld(row, people, school.id, granted):
            return
        if granted == Role.STUDENT:
            people.student_in[uid].add(school.id)
        else:
            people.staff[(school.id, uid)].add(granted)
        people.grants.append((row, school.id, granted))

    def _withheld(self, row: Row, people: _People, school_id: int | None, granted: str) -> bool:
        """Whether a role row is out of its dates today: it then grants nothing, and the
        membership it granted before goes (see _import_memberships)."""
        begins, ends = row.date("beginDate"), row.date("endDate")
        if begins is not None and begins > self.today:
            self.report.skip(ROLES, "the role begins later (beginDate)")
        elif ends is not None and ends < self.today:
            self.report.skip(ROLES, "the role has ended (endDate)")
        else:
            return False
        people.withheld.append((row["userSourcedId"], school_id, granted))
        return True

    def _read_enrollment(
        self, row: Row, people: _People
    ) -> tuple[Row, School, Section, str] | None:
        role, uid, class_sid = row["role"], row["userSourcedId"], row["classSourcedId"]
        school = self._school_for(row, "schoolSourcedId")
        if school is OTHER:
            self.report.skip(ENROLLMENTS, OTHER_SCHOOL)
            people.elsewhere.add(uid)
            return None
        if school is None:
            return None
        section = self._section(school, class_sid)
        if section is None:
            class_row = self.rows[CLASSES].get(class_sid)
            if class_row is not None and class_row["schoolSourcedId"] != row["schoolSourcedId"]:
                self._error(row, f"schoolSourcedId is not the school of class “{class_sid}”")
            elif not self._failed(CLASSES, class_sid) and not (class_row and class_row.deleted):
                self._unknown(row, "classSourcedId", class_sid, CLASSES, "class")
            return None
        if role not in ("student", "teacher"):
            self.report.skip(ENROLLMENTS, f"an enrollment as {role} is not imported")
            return None
        if uid not in self.rows[USERS] and not self._known_user(school.id, uid):
            self._unknown(row, "userSourcedId", uid, USERS, "user")
            return None
        if role == "student":
            people.student_in[uid].add(school.id)
        elif not self._teaching_ended(row):  # an ended teaching grants no access (see below)
            people.staff[(school.id, uid)].add(Role.TEACHER)
        return row, school, section, uid

    def _teaching_ended(self, row: Row) -> bool:
        ends = row.date("endDate")
        return row["role"] == "teacher" and ends is not None and ends < self.today

    def _read_known_users(self, people: _People) -> None:
        """Users a delta names again (a new name or email) without their roles or enrollments:
        they are where they were imported before."""
        for uid, row in self.rows[USERS].items():
            if row.deleted:
                continue
            for school_id in self.schools:
                if self._known_user(school_id, uid, (Target.STUDENT,)):
                    people.student_in[uid].add(school_id)
                if self._known_user(school_id, uid, (Target.USER,)):
                    people.members[uid].add(school_id)

    def _read_agents(self, people: _People) -> None:
        """Children as the files tell them, from either side of agentSourcedIds."""
        users = self.rows[USERS]
        for uid, row in users.items():
            if row.deleted:
                continue
            for agent in row.list("agentSourcedIds"):
                if agent not in users and not self._known_anywhere(agent):
                    # The page sees one school's records: in a delta, an agent it does not know
                    # may be another school's. A bulk file (or the command line) sees everyone.
                    if self.only is None or self.package.mode(USERS) is Mode.BULK:
                        self._unknown(row, "agentSourcedIds", agent, USERS, "user")
                    continue
                is_child = agent in people.student_in or self._known_anywhere(
                    agent, (Target.STUDENT,)
                )
                if uid in people.guardian_role and is_child:
                    people.children[uid].add(agent)
                elif agent in people.guardian_role and uid in people.student_in:
                    people.children[agent].add(uid)

    def _import_logins(self, people: _People) -> None:
        """A User for everyone who logs in: staff, guardians, students whose row has an email."""
        users = self.rows[USERS]
        staff = {uid for _, uid in people.staff}
        needed = staff | set(people.children) | set(people.members)
        needed |= {uid for uid in people.student_in if users.get(uid, _NO_ROW)["email"]}
        wanted: dict[str, tuple[Row, str]] = {}  # sourcedId → (row, normalized email)
        line_of: dict[str, int] = {}
        for uid in sorted(needed, key=lambda u: users[u].line if u in users else 0):
            row = users.get(uid)
            if row is None:
                continue  # an earlier import's user: their login is found below
            if not row["email"]:
                if uid in staff:
                    self._error(
                        row, "a teacher, counselor or administrator needs an email to log in"
                    )
                elif uid in people.children:
                    self.report.add_warning(
                        USERS,
                        row.line,
                        f"No login for guardian “{uid}”: the row has no email, so their "
                        "guardianships are not imported.",
                    )
                    people.children.pop(uid, None)
                continue
            email = User.objects.normalize_address(row["email"])
            try:
                validate_email(email)
            except ValidationError:
                self._error(row, f"email “{row['email']}” is not an email address")
                continue
            if email in line_of:
                self._error(row, f"email {email} is also on line {line_of[email]}")
                continue
            line_of[email] = row.line
            wanted[uid] = (row, email)

        mapped: dict[str, int] = {}
        owner_of: dict[int, str] = {}
        for (_, kind, target), by_sid in self.mappings.items():
            if (kind, target) == (Kind.USER, Target.USER):
                for sid, mapping in by_sid.items():
                    mapped.setdefault(sid, mapping.object_id)
                    owner_of.setdefault(mapping.object_id, sid)
        found = User.objects.filter(
            Q(id__in=[mapped[uid] for uid in needed if uid in mapped])
            | Q(email__in=[email for _, email in wanted.values()])
        )
        by_id = {u.id: u for u in found}
        by_email = {u.email: u for u in by_id.values()}
        tally = self.report.tally(entities.USERS)
        new: list[User] = []
        renames: list[tuple[User, dict[str, str], Row]] = []
        for uid in sorted(needed):
            user = by_id.get(mapped.get(uid, 0))
            if uid not in wanted:
                if user is not None:
                    self.logins[uid] = user  # no usable row now: keep the login imported before
                elif uid not in users:
                    self.report.add_error(
                        USERS, 0, f"User “{uid}” needs a login but has no row in users.csv."
                    )
                continue
            row, email = wanted[uid]
            holder = by_email.get(email)
            if holder is not None and holder is not user:
                owner = owner_of.get(holder.id)
                if user is not None or (owner is not None and owner != uid):
                    self._error(
                        row,
                        f"email {email} already belongs to "
                        + (f"user sourcedId “{owner}”" if owner else "another login"),
                    )
                    continue
                refusal = self._link_refusal(uid, holder, people)
                if refusal:
                    self._error(row, f"email {email} cannot be used here: {refusal}")
                    continue
                user = holder  # a login made by hand (or for another school) is the same person
            full_name = " ".join(
                part
                for part in (row["preferredGivenName"] or row["givenName"], row["familyName"])
                if part
            )[:200]
            if user is None:
                user = User(email=email, full_name=full_name, password=make_password(None))
                new.append(user)
                tally.created += 1
            elif self._login_unchanged(row, user):
                tally.unchanged += 1
            else:
                changed = {
                    f: v
                    for f, v in (("full_name", full_name), ("email", email))
                    if getattr(user, f) != v
                }
                if changed:
                    renames.append((user, changed, row))
                else:
                    tally.unchanged += 1
            self.logins[uid] = user
        shared = self._shared_logins([user.id for user, _, _ in renames])
        by_fields: dict[tuple[str, ...], list[User]] = defaultdict(list)
        for user, changed, row in renames:
            if user.id in shared:
                # A login is global: one school's roster must not rename someone another school knows.
                self.report.add_warning(
                    USERS,
                    row.line,
                    f"{user.email} was not renamed: they also belong to a school this import does not cover.",
                )
                self.not_renamed.add(row.sid)
                tally.unchanged += 1
                continue
            if "email" in changed and user.is_activated:
                # The person signs in with it: only they can move the account to another
                # address, by opening the confirmation link mailed there (after the commit).
                new_email = changed.pop("email")
                self.email_changes.append((user, new_email))
                self.report.add_warning(
                    USERS,
                    row.line,
                    f"{user.email} keeps its address until the person confirms {new_email}: "
                    "a link to confirm it is emailed there once the import is saved.",
                )
                if not changed:
                    tally.unchanged += 1
                    continue
            for f, v in changed.items():
                setattr(user, f, v)
            by_fields[tuple(sorted(changed))].append(user)
            tally.updated += 1
        User.objects.bulk_create(new)
        for fields, objs in by_fields.items():
            User.objects.bulk_update(objs, list(fields))

    def _link_refusal(self, uid: str, user: User, people: _People) -> str | None:
        """Why this import may not take in an existing login (mastery.accounts, the identity
        rule), for each school of the import that would give it a place."""
        school_ids = {school_id for (school_id, sid) in people.staff if sid == uid}
        school_ids |= people.student_in.get(uid, set()) | people.members.get(uid, set())
        for child in people.children.get(uid, ()):
            school_ids |= people.student_in.get(child, set())
        for school_id in sorted(school_ids or self.schools):
            refusal = accounts.link_refusals(
                school=self.schools[school_id], user_ids=[user.pk]
            ).get(user.pk)
            if refusal:
                return refusal
        return None

    def _login_unchanged(self, row: Row, user: User) -> bool:
        """Every school that imported this login last saw this very row (a login is global)."""
        mappings = [
            m
            for school_id in self.schools
            if (m := self._mapping(school_id, Kind.USER, row.sid, Target.USER)) is not None
        ]
        fingerprint = self._fingerprint(row)
        return bool(mappings) and all(
            (m.object_id, m.fingerprint) == (user.id, fingerprint) for m in mappings
        )

    def _shared_logins(self, user_ids: list[int]) -> set[int]:
        """Logins that also belong somewhere this import does not cover (or run the site)."""
        if not user_ids:
            return set()
        # Membership is a tenant table: asking about other schools needs the scope lifted, for
        # this one yes/no question per user (nothing of theirs is read or shown).
        with all_schools():
            elsewhere = set(
                Membership.objects.filter(user_id__in=user_ids)
                .exclude(school_id__in=list(self.schools))
                .values_list("user_id", flat=True)
            )
        elsewhere |= set(
            DistrictMembership.objects.filter(user_id__in=user_ids).values_list(
                "user_id", flat=True
            )
        )
        elsewhere |= set(
            User.objects.filter(
                Q(is_staff=True) | Q(is_superuser=True), id__in=user_ids
            ).values_list("id", flat=True)
        )
        return elsewhere

    def _import_students(self, people: _People) -> None:
        users = self.rows[USERS]
        wants: dict[int, list[_Want]] = defaultdict(list)
        for uid, school_ids in people.student_in.items():
            row = users.get(uid)
            if row is None:
                # Named by a delta's roles or enrollments only: the student imported before.
                for school_id in school_ids:
                    student = self._mapped(
                        self.schools[school_id], Student, Kind.USER, uid, Target.STUDENT
                    )
                    if student is not None:
                        self.students[school_id][uid] = student
                continue
            local_id = self._text(row, "identifier", 40) if row["identifier"] else row.sid
            names = [
                self._text(row, c, 100) for c in ("givenName", "familyName", "preferredGivenName")
            ]
            if local_id is None or None in names:
                continue
            if len(local_id) > 40:
                self._error(row, "identifier is empty and the sourcedId is too long to stand in")
                continue
            fields = {
                "local_id": local_id,
                "first_name": names[0],
                "last_name": names[1],
                "preferred_name": names[2],
                "grade_level": _grade_level(row.list("grades")),
                "is_active": True,
            }
            if uid in self.logins:
                fields["user_id"] = self.logins[uid].id
            for school_id in school_ids:
                wants[school_id].append(_Want(row, dict(fields)))
        for school_id, school_wants in wants.items():
            self.students[school_id].update(
                self._upsert(
                    self.schools[school_id],
                    Student,
                    kind=Kind.USER,
                    target=Target.STUDENT,
                    wants=school_wants,
                    key=("local_id",),
                    entity=entities.STUDENTS,
                    describe=lambda f: f"the student number “{f['local_id']}”",
                    also_unique={"user_id": "login"},
                )
            )

    def _student(self, school: School, sid: str) -> Student | None:
        return self.students[school.id].get(sid) or self._mapped(
            school, Student, Kind.USER, sid, Target.STUDENT
        )

    def _guardianships(self, people: _People) -> dict[int, dict[tuple[str, int], str]]:
        """school id → (guardian sourcedId, student id) → relationship (the guardian's role)."""
        result: dict[int, dict[tuple[str, int], str]] = defaultdict(dict)
        for guardian, children in people.children.items():
            if guardian not in self.logins:
                continue
            for child in children:
                for school in self.schools.values():
                    student = self._student(school, child)
                    if student is not None:
                        result[school.id][(guardian, student.id)] = people.guardian_role[guardian]
        return result

    def _import_memberships(
        self, people: _People, guardianships: dict[int, dict[tuple[str, int], str]]
    ) -> None:
        """The memberships the roster gives, per school. Those the rows take away (a disabled
        user's, a role's out of its dates) leave with the tobedeleted withdrawals (_apply_leaving)."""
        tally = self.report.tally(entities.MEMBERSHIPS)
        # Who holds what where, grouped by school once (user sourcedId → roles).
        holds: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for (school_id, uid), roles in people.staff.items():
            holds[school_id][uid] |= roles
        for uid, school_ids in people.student_in.items():
            for school_id in school_ids:
                holds[school_id][uid].add(Role.STUDENT)
        for school_id, pairs in guardianships.items():
            for guardian, _ in pairs:
                holds[school_id][guardian].add(Role.GUARDIAN)
        for uid, school_ids in people.members.items():
            for school_id in school_ids:
                holds[school_id].setdefault(uid, set())  # known here before: keep the mapping
        grants: dict[int | None, list[tuple[Row, str]]] = defaultdict(list)
        for row, school_id, role in people.grants:
            grants[school_id].append((row, role))
        users = self.rows[USERS]
        disabled = {
            uid for uid, row in users.items() if not row.deleted and not row.flag("enabledUser")
        }
        for school in self.schools.values():
            wanted = {
                (self.logins[uid].id, role)
                for uid, roles in holds[school.id].items()
                if uid in self.logins and uid not in disabled
                for role in roles
            }
            revoked = self._revoked(school, people, disabled, granted=wanted)
            for login_id, role in revoked:
                self.leaving[school.id].memberships[role].add(login_id)
            existing = {
                (m.user_id, m.role): m
                for m in self._existing(school, Membership).values()
                if (m.user_id, m.role) not in revoked and (m.user_id, None) not in revoked
            }
            new = {
                key: Membership(school=school, user_id=key[0], role=key[1])
                for key in sorted(wanted - existing.keys())
            }
            Membership.objects.bulk_create(new.values())
            logins = {u.id: u for u in self.logins.values()}
            accounts.links_announce(
                school=school, grants=[(logins[m.user_id], m.role) for m in new.values()]
            )
            self.to_activate |= {login_id for login_id, role in wanted if role != Role.GUARDIAN}
            audit.record_many(
                audit.membership_event(
                    action=AuditEvent.Action.CREATE, membership=m, user=logins[m.user_id]
                )
                for m in new.values()
            )
            tally.created += len(new)
            tally.unchanged += len(wanted & existing.keys())
            existing.update(new)
            self._existing(school, Membership).update((m.id, m) for m in new.values())
            for uid in holds[school.id]:
                if uid in users and uid in self.logins:
                    login, applied = self.logins[uid], uid not in self.not_renamed
                    self._record(school, Kind.USER, users[uid], Target.USER, login, applied=applied)
            for row, role in grants[school.id] + grants[None]:
                login = self.logins.get(row["userSourcedId"])
                membership = existing.get((login.id, role)) if login is not None else None
                if membership is not None:
                    self._record(school, Kind.ROLE, row, Target.MEMBERSHIP, membership)
                elif role == Role.STUDENT:
                    student = self._student(school, row["userSourcedId"])
                    if student is not None:
                        self._record(school, Kind.ROLE, row, Target.STUDENT, student)

    def _revoked(
        self, school: School, people: _People, disabled: set[str], *, granted: set[tuple[int, str]]
    ) -> set[tuple[int, str | None]]:
        """(login id, role) memberships the rows take away here: every role (None) of a disabled
        user, and the role of each role row out of its dates that no current row grants."""
        revoked: set[tuple[int, str | None]] = set()
        for uid in disabled:
            if (login_id := self._login_id(school, uid)) is not None:
                revoked.add((login_id, None))
        for uid, school_id, role in people.withheld:
            if school_id not in (school.id, None):
                continue
            login_id = self._login_id(school, uid)
            if login_id is not None and (login_id, role) not in granted:
                revoked.add((login_id, role))
        return revoked

    def _import_guardianships(self, guardianships: dict[int, dict[tuple[str, int], str]]) -> None:
        tally = self.report.tally(entities.GUARDIANSHIPS)
        for school_id, pairs in guardianships.items():
            school = self.schools[school_id]
            existing = {
                (g.guardian_id, g.student_id): g
                for g in self._existing(school, Guardianship).values()
            }
            new, changed = [], []
            for (guardian, student_id), relationship in sorted(pairs.items()):
                guardian_id = self.logins[guardian].id
                current = existing.get((guardian_id, student_id))
                if current is None:
                    new.append(
                        Guardianship(
                            school=school,
                            guardian_id=guardian_id,
                            student_id=student_id,
                            relationship=relationship,
                        )
                    )
                elif current.relationship != relationship:
                    current.relationship = relationship
                    changed.append(current)
                else:
                    tally.unchanged += 1
            Guardianship.objects.bulk_create(new)
            Guardianship.objects.bulk_update(changed, ["relationship"])
            tally.created += len(new)
            tally.updated += len(changed)

    # --- enrollments and teaching -------------------------------------------------------------------

    def import_enrollments(self, plan: list[tuple[Row, School, Section, str]]) -> None:
        students: dict[int, list[_Want]] = defaultdict(list)
        teachers: dict[int, list[_Want]] = defaultdict(list)
        for row, school, section, uid in plan:
            term = self._existing(school, Term)[section.term_id]
            if row["role"] == "student":
                student = self._student(school, uid)
                if student is None:
                    if not self._failed(USERS, uid):
                        self._error(row, f"user “{uid}” is not a student of this school")
                    continue
                end = row.date("endDate")
                fields = {
                    "section_id": section.id,
                    "student_id": student.id,
                    # An endDate on (or after) the term's last day is the planned end, not a leaving.
                    "withdrawn_on": end if end is not None and end < term.ends_on else None,
                }
                if row["beginDate"]:
                    fields["enrolled_on"] = row.date("beginDate")
                students[school.id].append(_Want(row, fields, {"enrolled_on": term.starts_on}))
            elif self._teaching_ended(row):
                # The teacher no longer teaches the class (a long-term substitute, a handover):
                # they leave it as a tobedeleted row would take them off; its evidence stays.
                teaching = self._teaching(school, row, section)
                if teaching is not None:
                    self.leaving[school.id].teachings.add(teaching.id)
                self.report.skip(ENROLLMENTS, "the teacher's enrollment has ended (endDate)")
            elif uid in self.logins:  # without one, the users.csv row was reported (no email)
                teachers[school.id].append(
                    _Want(
                        row,
                        {
                            "section_id": section.id,
                            "teacher_id": self.logins[uid].id,
                            "is_primary": row.flag("primary"),
                        },
                    )
                )
        for school_id, wants in students.items():
            self._upsert(
                self.schools[school_id],
                Enrollment,
                kind=Kind.ENROLLMENT,
                target=Target.ENROLLMENT,
                wants=wants,
                key=("section_id", "student_id"),
                entity=entities.ENROLLMENTS,
                describe=lambda f: "the student's enrollment in this class",
            )
        for school_id, wants in teachers.items():
            self._upsert(
                self.schools[school_id],
                SectionTeacher,
                kind=Kind.ENROLLMENT,
                target=Target.SECTION_TEACHER,
                wants=wants,
                key=("section_id", "teacher_id"),
                entity=entities.SECTION_TEACHERS,
                describe=lambda f: "the teacher's enrollment in this class",
            )

    # --- status=tobedeleted -----------------------------------------------------------------------------

    def apply_deletions(self) -> None:
        """Withdraw and remove what tobedeleted rows name; never delete a student or evidence.

        The rows are read first (no query per row), then each school's withdrawals run as a
        handful of set-based updates and deletes.
        """
        if not self.report.ok:
            return  # the import is refused: nothing to work out
        for row in self.rows[CLASSES].values():
            if row.deleted:
                self._leave_class(row)
        for row in self.rows[ENROLLMENTS].values():
            if row.deleted:
                self._leave_enrollment(row)
        for row in self.rows[ROLES].values():
            if row.deleted:
                self._leave_role(row)
        for row in self.rows[USERS].values():
            if row.deleted:
                self._leave_user(row)
        for school_id, leaving in self.leaving.items():
            self._apply_leaving(self.schools[school_id], leaving)

    def _login_id(self, school: School, sid: str) -> int | None:
        if sid in self.logins:
            return self.logins[sid].id
        mapping = self._mapping(school.id, Kind.USER, sid, Target.USER)
        return mapping.object_id if mapping else None

    def _leave_class(self, row: Row) -> None:
        school = self._school_for(row, "schoolSourcedId")
        if school is OTHER:
            self.report.skip(CLASSES, OTHER_SCHOOL)
        elif school is not None and (section := self._section(school, row.sid)) is not None:
            # The section stays (its assessments, evidence and history); its students leave it.
            self.leaving[school.id].sections.add(section.id)
            self._record(school, Kind.CLASS, row, Target.SECTION, section)

    def _leave_enrollment(self, row: Row) -> None:
        school = self._school_for(row, "schoolSourcedId")
        if school is OTHER:
            self.report.skip(ENROLLMENTS, OTHER_SCHOOL)
            return
        if school is None:
            return
        leaving = self.leaving[school.id]
        section = self._section(school, row["classSourcedId"])
        enrollment = self._mapped(school, Enrollment, Kind.ENROLLMENT, row.sid, Target.ENROLLMENT)
        student = self._student(school, row["userSourcedId"])
        if enrollment is None and section is not None and student is not None:
            enrollment = self._by_key(school, Enrollment, ("section_id", "student_id")).get(
                (section.id, student.id)
            )
        if enrollment is not None:
            leaving.enrollments[row.date("endDate") or self.today].add(enrollment.id)
            self._record(school, Kind.ENROLLMENT, row, Target.ENROLLMENT, enrollment)
        teaching = self._teaching(school, row, section)
        if teaching is not None:
            leaving.teachings.add(teaching.id)
        if enrollment is None and teaching is None:
            self.report.skip(ENROLLMENTS, "tobedeleted: nothing (left) to withdraw")

    def _teaching(self, school: School, row: Row, section: Section | None) -> SectionTeacher | None:
        """The teaching assignment an enrollment row made: by its sourcedId, else by class and
        teacher (made by hand, or before the row was remembered)."""
        teaching = self._mapped(
            school, SectionTeacher, Kind.ENROLLMENT, row.sid, Target.SECTION_TEACHER
        )
        login_id = self._login_id(school, row["userSourcedId"])
        if teaching is None and section is not None and login_id is not None:
            teaching = self._by_key(school, SectionTeacher, ("section_id", "teacher_id")).get(
                (section.id, login_id)
            )
        return teaching

    def _leave_role(self, row: Row) -> None:
        role, uid = row["role"], row["userSourcedId"]
        if role in GUARDIAN_ROLES:
            schools = list(self.schools.values())  # guardians are where their children are
        elif role in STAFF_ROLES or role == "student":
            school = self._school_for(row, "orgSourcedId")
            if school is OTHER:
                self.report.skip(ROLES, OTHER_SCHOOL)
                return
            schools = [school] if school is not None else []
        else:
            self.report.skip(ROLES, f"role {role} is not imported")
            return
        for school in schools:
            leaving = self.leaving[school.id]
            login_id = self._login_id(school, uid)
            if role == "student":
                student = self._student(school, uid)
                if student is not None:
                    leaving.students.add(student.id)
            granted = (
                Role.GUARDIAN
                if role in GUARDIAN_ROLES
                else Role.STUDENT
                if role == "student"
                else STAFF_ROLES[role]
            )
            if login_id is None:
                continue
            leaving.memberships[granted].add(login_id)
            if granted == Role.GUARDIAN:
                leaving.guardians.add(login_id)
            elif granted == Role.TEACHER:
                leaving.teachers.add(login_id)

    def _leave_user(self, row: Row) -> None:
        known = [s for s in self.schools.values() if self._known_user(s.id, row.sid)]
        if not known:
            self.report.skip(USERS, "tobedeleted: nothing (left) to withdraw")
        for school in known:
            leaving = self.leaving[school.id]
            student = self._student(school, row.sid)
            if student is not None:
                leaving.students.add(student.id)
                self._record(school, Kind.USER, row, Target.STUDENT, student)
            login_id = self._login_id(school, row.sid)
            if login_id is not None:
                # The login itself stays: it may belong to other schools, and evidence names its author.
                leaving.memberships[None].add(login_id)
                leaving.teachers.add(login_id)
                leaving.guardians.add(login_id)

    def _by_key(self, school: School, model, key: tuple[str, ...]) -> dict[tuple, Any]:
        cache_key = (school.id, model, key)
        if cache_key not in self.cache:
            self.cache[cache_key] = {
                tuple(getattr(o, f) for f in key): o for o in self._existing(school, model).values()
            }
        return self.cache[cache_key]

    def _apply_leaving(self, school: School, leaving: _Leaving) -> None:
        tallies = self.report.tally
        enrollments = Enrollment.objects.filter(school=school, withdrawn_on__isnull=True)
        # Dated withdrawals first: an enrollment's own endDate beats "today" from a wider removal.
        for on, ids in sorted(leaving.enrollments.items()):
            tallies(entities.ENROLLMENTS).withdrawn += enrollments.filter(id__in=ids).update(
                withdrawn_on=on
            )
        if leaving.students:
            # Students leave: inactive, every enrollment withdrawn; their evidence stays as it is.
            tallies(entities.STUDENTS).withdrawn += Student.objects.filter(
                school=school, id__in=leaving.students, is_active=True
            ).update(is_active=False)
        if leaving.students or leaving.sections:
            tallies(entities.ENROLLMENTS).withdrawn += enrollments.filter(
                Q(student_id__in=leaving.students) | Q(section_id__in=leaving.sections)
            ).update(withdrawn_on=self.today)
        removals = [
            (
                entities.SECTION_TEACHERS,
                SectionTeacher,
                Q(id__in=leaving.teachings) | Q(teacher_id__in=leaving.teachers),
            ),
            (entities.GUARDIANSHIPS, Guardianship, Q(guardian_id__in=leaving.guardians)),
        ]
        memberships = Q(pk__in=[])
        for role, user_ids in leaving.memberships.items():
            memberships |= Q(user_id__in=user_ids, **({"role": role} if role else {}))
        removals.append((entities.MEMBERSHIPS, Membership, memberships))
        audit.record_many(
            audit.membership_event(action=AuditEvent.Action.DELETE, membership=m)
            for m in Membership.objects.filter(memberships, school=school).select_related("user")
        )
        for entity, model, condition in removals:
            deleted, _ = model.objects.filter(condition, school=school).delete()
            tallies(entity).withdrawn += deleted


@dataclass
class _People:
    """Who is what where, as roles.csv, enrollments.csv and agentSourcedIds tell it."""

    student_in: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    staff: dict[tuple[int, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    # users named by rows of other schools (the upload page skips them)
    elsewhere: set[str] = field(default_factory=set)
    # users with a login imported into these schools before (a delta may rename them)
    members: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    guardian_role: dict[str, str] = field(default_factory=dict)
    children: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # role rows and what they grant where (None: a guardian, wherever their children are)
    grants: list[tuple[Row, int | None, str]] = field(default_factory=list)
    # role rows out of their dates: (user sourcedId, school id or None, the role they granted)
    withheld: list[tuple[str, int | None, str]] = field(default_factory=list)


@dataclass
class _Leaving:
    """What tobedeleted rows take away in one school, applied together at the end."""

    enrollments: dict[date, set[int]] = field(default_factory=lambda: defaultdict(set))
    sections: set[int] = field(default_factory=set)
    students: set[int] = field(default_factory=set)
    teachings: set[int] = field(default_factory=set)
    teachers: set[int] = field(default_factory=set)
    guardians: set[int] = field(default_factory=set)
    # membership role (None: every role) → user ids
    memberships: dict[str | None, set[int]] = field(default_factory=lambda: defaultdict(set))


# A stand-in for a user named only by another file (no users.csv row in this package).
_NO_ROW = Row(USERS, 0, {})
