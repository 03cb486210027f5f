"""Reading a OneRoster 1.2 CSV package: the manifest, each file's header, every row's own fields.

Only what one row (or one file) can tell is checked here: the manifest and its versions, which
files must be there, headers, required fields, vocabularies, dates, booleans, duplicate sourcedIds.
Whether a sourcedId names a row that exists is the service's question (it needs the database).

Column names and vocabularies follow the 1EdTech OneRoster 1.2 CSV binding. In 1.2 a user's roles
are no longer columns of users.csv (1.1 had `role` and `orgSourcedIds`): they are rows of
roles.csv, and the binding defines no fallback to `primaryOrgSourcedId`. So a user that this import
has never seen needs a role in roles.csv; roles.csv may be absent from a delta that only changes
names or enrollments of people already imported.

Columns are found by their (case-sensitive) names: the binding fixes their order, but exports add
metadata columns or leave out optional ones, and nothing is lost by reading them by name. The
columns a file needs must be there; an optional column that is missing reads as empty.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

MANIFEST = "manifest.csv"
MANIFEST_VERSION = "1.0"
ONEROSTER_VERSION = "1.2"

ACTIVE = "active"
TO_BE_DELETED = "tobedeleted"


class Mode(StrEnum):
    """How manifest.csv says a file is supplied."""

    BULK = "bulk"
    DELTA = "delta"
    ABSENT = "absent"


@dataclass(frozen=True)
class FileSpec:
    name: str
    columns: tuple[str, ...]  # the 1.2 columns, in the binding's order
    required: tuple[str, ...]  # fields that must hold a value on every row
    dates: tuple[str, ...] = ()
    vocabularies: Mapping[str, frozenset[str]] = field(default_factory=dict)
    booleans: tuple[str, ...] = ()

    @property
    def manifest_key(self) -> str:
        return "file." + self.name.removesuffix(".csv")


ORG_TYPES = frozenset({"department", "school", "district", "local", "state", "national"})
SESSION_TYPES = frozenset({"gradingPeriod", "semester", "schoolYear", "term"})
CLASS_TYPES = frozenset({"homeroom", "scheduled"})
ROLE_TYPES = frozenset({"primary", "secondary"})
# The 1.2 role vocabulary, plus 1.1's `administrator`, which SIS exports still write.
ROLES = frozenset(
    {
        "administrator",
        "aide",
        "counselor",
        "districtAdministrator",
        "guardian",
        "parent",
        "principal",
        "proctor",
        "relative",
        "siteAdministrator",
        "student",
        "systemAdministrator",
        "teacher",
    }
)
ENROLLMENT_ROLES = frozenset({"administrator", "proctor", "student", "teacher"})

ORGS = FileSpec(
    "orgs.csv",
    ("sourcedId", "status", "dateLastModified", "name", "type", "identifier", "parentSourcedId"),
    required=("sourcedId", "name", "type"),
    vocabularies={"type": ORG_TYPES},
)
ACADEMIC_SESSIONS = FileSpec(
    "academicSessions.csv",
    (
        "sourcedId",
        "status",
        "dateLastModified",
        "title",
        "type",
        "startDate",
        "endDate",
        "parentSourcedId",
        "schoolYear",
    ),
    required=("sourcedId", "title", "type", "startDate", "endDate", "schoolYear"),
    dates=("startDate", "endDate"),
    vocabularies={"type": SESSION_TYPES},
)
COURSES = FileSpec(
    "courses.csv",
    (
        "sourcedId",
        "status",
        "dateLastModified",
        "schoolYearSourcedId",
        "title",
        "courseCode",
        "grades",
        "orgSourcedId",
        "subjects",
        "subjectCodes",
    ),
    required=("sourcedId", "title", "orgSourcedId"),
)
CLASSES = FileSpec(
    "classes.csv",
    (
        "sourcedId",
        "status",
        "dateLastModified",
        "title",
        "grades",
        "courseSourcedId",
        "classCode",
        "classType",
        "location",
        "schoolSourcedId",
        "termSourcedIds",
        "subjects",
        "subjectCodes",
        "periods",
    ),
    required=(
        "sourcedId",
        "title",
        "courseSourcedId",
        "classType",
        "schoolSourcedId",
        "termSourcedIds",
    ),
    vocabularies={"classType": CLASS_TYPES},
)
USERS = FileSpec(
    "users.csv",
    (
        "sourcedId",
        "status",
        "dateLastModified",
        "enabledUser",
        "username",
        "userIds",
        "givenName",
        "familyName",
        "middleName",
        "identifier",
        "email",
        "sms",
        "phone",
        "agentSourcedIds",
        "grades",
        "password",
        "userMasterIdentifier",
        "resourceSourcedIds",
        "preferredGivenName",
        "preferredMiddleName",
        "preferredFamilyName",
        "primaryOrgSourcedId",
        "pronouns",
    ),
    required=("sourcedId", "enabledUser", "givenName", "familyName"),
    booleans=("enabledUser",),
)
ROLES_FILE = FileSpec(
    "roles.csv",
    (
        "sourcedId",
        "status",
        "dateLastModified",
        "userSourcedId",
        "roleType",
        "role",
        "beginDate",
        "endDate",
        "orgSourcedId",
        "userProfileSourcedId",
    ),
    required=("sourcedId", "userSourcedId", "roleType", "role", "orgSourcedId"),
    dates=("beginDate", "endDate"),
    vocabularies={"roleType": ROLE_TYPES, "role": ROLES},
)
ENROLLMENTS = FileSpec(
    "enrollments.csv",
    (
        "sourcedId",
        "status",
        "dateLastModified",
        "classSourcedId",
        "schoolSourcedId",
        "userSourcedId",
        "role",
        "primary",
        "beginDate",
        "endDate",
    ),
    required=("sourcedId", "classSourcedId", "schoolSourcedId", "userSourcedId", "role"),
    dates=("beginDate", "endDate"),
    vocabularies={"role": ENROLLMENT_ROLES},
    booleans=("primary",),
)

# The rostering files this import reads, in the order their rows depend on each other.
SPECS: dict[str, FileSpec] = {
    spec.name: spec
    for spec in (ORGS, ACADEMIC_SESSIONS, COURSES, CLASSES, USERS, ROLES_FILE, ENROLLMENTS)
}

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_YEAR = re.compile(r"^\d{4}$")


@dataclass(frozen=True)
class Problem:
    """One reason the import cannot go ahead (or, as a warning, a row it did not take)."""

    file: str
    line: int  # the line in the file as an editor numbers it; 0 for the file as a whole
    message: str


@dataclass(frozen=True)
class Row:
    file: str
    line: int
    values: Mapping[str, str]

    def __getitem__(self, column: str) -> str:
        return self.values.get(column, "")

    @property
    def sid(self) -> str:
        return self["sourcedId"]

    @property
    def deleted(self) -> bool:
        return self["status"] == TO_BE_DELETED

    def list(self, column: str) -> list[str]:
        """A list field: comma-separated values (the binding quotes the cell when there are several)."""
        return [part.strip() for part in self[column].split(",") if part.strip()]

    def date(self, column: str) -> date | None:
        value = self[column]
        return date.fromisoformat(value) if value else None

    def flag(self, column: str) -> bool:
        return self[column].lower() == "true"


@dataclass
class Package:
    """The rows of every rostering file the manifest says is supplied, already checked one by one."""

    modes: dict[str, Mode] = field(default_factory=dict)
    rows: dict[str, list[Row]] = field(default_factory=dict)
    # False when a whole file could not be read (or the manifest rules the package out): checking
    # references then would only repeat that problem for every row that points into the file.
    readable: bool = True
    # sourcedIds of rows that had problems: the service does not report them again as unknown.
    failed: dict[str, set[str]] = field(default_factory=dict)

    def of(self, name: str) -> list[Row]:
        return self.rows.get(name, [])

    def mode(self, name: str) -> Mode:
        return self.modes.get(name, Mode.ABSENT)

    def supplied(self, name: str) -> bool:
        return self.mode(name) is not Mode.ABSENT

    def failed_ids(self, name: str) -> set[str]:
        return self.failed.setdefault(name, set())


def parse_package(
    files: Mapping[str, bytes], problems: list[Problem], warnings: list[Problem]
) -> Package:
    """Read manifest.csv and every file it lists; append each problem found to `problems`."""
    package = Package()
    if MANIFEST not in files:
        problems.append(Problem(MANIFEST, 0, "The package has no manifest.csv; it is required."))
        package.readable = False
        return package
    manifest = _read_manifest(files[MANIFEST], problems)
    if manifest is None:
        package.readable = False
        return package
    for spec in SPECS.values():
        raw_mode, line = manifest.get(spec.manifest_key, ("", 0))
        try:
            mode = Mode(raw_mode) if raw_mode else Mode.ABSENT
        except ValueError:
            problems.append(
                Problem(
                    MANIFEST,
                    line,
                    f"{spec.manifest_key} is “{raw_mode}”; it must be bulk, delta or absent.",
                )
            )
            package.readable = False
            continue
        package.modes[spec.name] = mode
        if mode is Mode.ABSENT:
            if spec.name in files:
                warnings.append(
                    Problem(
                        spec.name,
                        0,
                        f"Not read: manifest.csv says {spec.manifest_key} is absent"
                        if raw_mode
                        else f"Not read: manifest.csv does not list {spec.manifest_key}.",
                    )
                )
            continue
        if spec.name not in files:
            problems.append(
                Problem(
                    spec.name,
                    0,
                    f"Missing required file: manifest.csv says {spec.manifest_key} is {mode}.",
                )
            )
            package.readable = False
            continue
        rows = _read_rows(spec, files[spec.name], mode, package, problems, warnings)
        if rows is None:
            package.readable = False
        else:
            package.rows[spec.name] = rows
    return package


def _read_manifest(data: bytes, problems: list[Problem]) -> dict[str, tuple[str, int]] | None:
    """propertyName → (value, line), or None when the manifest rules the package out."""
    records = _records(MANIFEST, data, problems)
    if records is None:
        return None
    if not records or [c.strip() for c in records[0][1]][:2] != ["propertyName", "value"]:
        problems.append(Problem(MANIFEST, 1, "The header must be: propertyName,value."))
        return None
    manifest: dict[str, tuple[str, int]] = {}
    for line, record in records[1:]:
        if len(record) < 2:
            problems.append(Problem(MANIFEST, line, "A manifest row needs a property and a value."))
            continue
        key, value = record[0].strip(), record[1].strip()
        if key in manifest:
            problems.append(Problem(MANIFEST, line, f"{key} is also on line {manifest[key][1]}."))
            continue
        manifest[key] = (value, line)
    before = len(problems)
    for key, wanted in (
        ("manifest.version", MANIFEST_VERSION),
        ("oneroster.version", ONEROSTER_VERSION),
    ):
        value, line = manifest.get(key, ("", 0))
        if not value:
            problems.append(Problem(MANIFEST, line, f"{key} is missing; it must be {wanted}."))
        elif value != wanted:
            problems.append(
                Problem(
                    MANIFEST,
                    line,
                    f"{key} is “{value}”; this import reads OneRoster {ONEROSTER_VERSION} CSV "
                    f"({key} {wanted}).",
                )
            )
    return manifest if len(problems) == before else None


def _records(name: str, data: bytes, problems: list[Problem]) -> list[tuple[int, list[str]]] | None:
    """The file's non-blank records, each with the line it starts on (as an editor counts lines)."""
    try:
        text = data.decode("utf-8-sig")  # the binding asks readers to accept a byte order mark
    except UnicodeDecodeError:
        problems.append(Problem(name, 0, "The file is not UTF-8 text."))
        return None
    if "\x00" in text:  # PostgreSQL text cannot hold it: binary data, not a CSV export
        line = text.count("\n", 0, text.index("\x00")) + 1
        problems.append(Problem(name, line, "The file holds a NUL character (binary data)."))
        return None
    records: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    previous_end = 0
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                records.append((previous_end + 1, record))
            previous_end = reader.line_num
    except csv.Error as exc:
        problems.append(Problem(name, reader.line_num, f"Malformed CSV: {exc}."))
        return None
    return records


def _read_rows(
    spec: FileSpec,
    data: bytes,
    mode: Mode,
    package: Package,
    problems: list[Problem],
    warnings: list[Problem],
) -> list[Row] | None:
    """The file's rows that passed their checks; None when the file as a whole cannot be read."""
    records = _records(spec.name, data, problems)
    if records is None:
        return None
    if not records:
        problems.append(Problem(spec.name, 1, "The file is empty; it needs a header row."))
        return None
    header = [cell.strip() for cell in records[0][1]]
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        problems.append(Problem(spec.name, 1, f"Duplicate column: {', '.join(duplicated)}."))
        return None
    missing = [c for c in spec.required if c not in header]
    if mode is Mode.DELTA:
        missing += [c for c in ("status", "dateLastModified") if c not in header]
    if missing:
        lowered = {h.lower(): h for h in header}
        hints = [
            f"“{lowered[c.lower()]}” should be spelled “{c}”"
            for c in missing
            if c.lower() in lowered
        ]
        problems.append(
            Problem(
                spec.name,
                1,
                f"Missing required column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}"
                + (f" ({'; '.join(hints)})" if hints else "")
                + ".",
            )
        )
        return None
    if spec is USERS and {"role", "orgSourcedIds"} & set(header):
        warnings.append(
            Problem(
                spec.name,
                1,
                "The OneRoster 1.1 columns role and orgSourcedIds are not read: in 1.2 a user's "
                "roles are rows of roles.csv.",
            )
        )
    known = [h for h in header if h in spec.columns]
    rows: list[Row] = []
    seen: dict[str, int] = {}
    failed = package.failed_ids(spec.name)
    for line, record in records[1:]:
        if len(record) != len(header):
            problems.append(
                Problem(
                    spec.name,
                    line,
                    f"The row has {len(record)} cells; the header has {len(header)} columns.",
                )
            )
            sid_at = header.index("sourcedId")
            if sid_at < len(record):
                failed.add(record[sid_at].strip())
            continue
        values = {h: cell.strip() for h, cell in zip(header, record, strict=True) if h in known}
        row = Row(spec.name, line, values)
        messages = list(_check_row(spec, row, mode))
        if row.sid and row.sid in seen:
            messages.append(f"duplicate sourcedId “{row.sid}” (also on line {seen[row.sid]})")
        if messages:
            problems.append(Problem(spec.name, line, sentence("; ".join(messages))))
            failed.add(row.sid)
            continue
        seen[row.sid] = line
        rows.append(row)
    return rows


def _check_row(spec: FileSpec, row: Row, mode: Mode) -> Iterable[str]:
    for column in spec.required:
        if not row[column]:
            yield f"{column} is empty"
    status = row["status"]
    if mode is Mode.DELTA and not status:
        yield "status is empty (a delta file needs active or tobedeleted)"
    elif status and status not in (ACTIVE, TO_BE_DELETED):
        yield f"status “{status}” is not active or tobedeleted"
    modified = row["dateLastModified"]
    if mode is Mode.DELTA and not modified:
        yield "dateLastModified is empty (a delta file needs it)"
    elif modified:
        try:
            datetime.fromisoformat(modified)
        except ValueError:
            yield f"dateLastModified “{modified}” is not an ISO 8601 date-time"
    for column in spec.dates:
        value = row[column]
        if value and not _is_date(value):
            yield f"{column} “{value}” is not a date (YYYY-MM-DD)"
    for column, vocabulary in spec.vocabularies.items():
        value = row[column]
        # The binding lets any vocabulary be extended with `ext:` tokens; they are read, not mapped.
        if value and value not in vocabulary and not value.startswith("ext:"):
            noun = "role" if column == "role" else column
            yield f"unknown {noun} “{value}” (expected one of: {', '.join(sorted(vocabulary))})"
    for column in spec.booleans:
        value = row[column]
        if value and value.lower() not in ("true", "false"):
            yield f"{column} “{value}” is not true or false"
    yield from _check_specific(spec, row)


def _check_specific(spec: FileSpec, row: Row) -> Iterable[str]:
    if spec is ACADEMIC_SESSIONS:
        year = row["schoolYear"]
        if year and not _YEAR.match(year):
            yield f"schoolYear “{year}” is not a four-digit year"
        start, end = row["startDate"], row["endDate"]
        if _is_date(start) and _is_date(end) and end <= start:
            yield "endDate is not after startDate"
    if spec is ROLES_FILE or spec is ENROLLMENTS:
        begin, end = row["beginDate"], row["endDate"]
        if _is_date(begin) and _is_date(end) and end < begin:
            yield "endDate is before beginDate"


COLUMNS = frozenset(c for spec in SPECS.values() for c in spec.columns)


def sentence(message: str) -> str:
    """A message as a sentence; one that starts with a column name keeps the column's spelling."""
    first = message.split(" ", 1)[0]
    if first not in COLUMNS:
        message = message[0].upper() + message[1:]
    return message if message.endswith(".") else message + "."


def _is_date(value: str) -> bool:
    if not _DATE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True
