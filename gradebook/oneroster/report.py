"""What an import did (or, in a dry run, would do): counts per kind of record, and every problem."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from gradebook.oneroster.parser import Problem

# The records an import writes, in the order the report lists them.
SCHOOLS = "schools"
DISTRICTS = "districts"
TERMS = "terms"
GRADING_PERIODS = "grading periods"
DEPARTMENTS = "departments"
COURSES = "courses"
SECTIONS = "sections"
USERS = "users"
STUDENTS = "students"
MEMBERSHIPS = "memberships"
GUARDIANSHIPS = "guardianships"
ENROLLMENTS = "enrollments"
SECTION_TEACHERS = "section teachers"
ENTITIES = (
    DISTRICTS,
    SCHOOLS,
    TERMS,
    GRADING_PERIODS,
    DEPARTMENTS,
    COURSES,
    SECTIONS,
    USERS,
    STUDENTS,
    MEMBERSHIPS,
    GUARDIANSHIPS,
    ENROLLMENTS,
    SECTION_TEACHERS,
)

OTHER_SCHOOL = "belongs to another school"


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    # Withdrawn (enrollments, students made inactive) or removed (memberships, guardianships,
    # section teachers): what status=tobedeleted did. Nothing an import does deletes a student or
    # their evidence.
    withdrawn: int = 0
    unchanged: int = 0

    @property
    def touched(self) -> bool:
        return bool(self.created or self.updated or self.withdrawn)


@dataclass
class ImportReport:
    dry_run: bool = False
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    tallies: dict[str, Tally] = field(default_factory=lambda: {e: Tally() for e in ENTITIES})
    # Rows read but not imported, by (file, why): another school's rows, roles this app has no
    # use for, records a tobedeleted never removes.
    not_imported: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.errors

    def tally(self, entity: str) -> Tally:
        return self.tallies[entity]

    @property
    def created(self) -> int:
        return sum(t.created for t in self.tallies.values())

    @property
    def updated(self) -> int:
        return sum(t.updated for t in self.tallies.values())

    @property
    def withdrawn(self) -> int:
        return sum(t.withdrawn for t in self.tallies.values())

    @property
    def skipped_other_schools(self) -> int:
        return sum(n for (_, why), n in self.not_imported.items() if why == OTHER_SCHOOL)

    def rows(self) -> list[tuple[str, Tally]]:
        """The tallies worth showing: records the import touched or found as they were."""
        return [(e, t) for e, t in self.tallies.items() if t.touched or t.unchanged]

    def not_imported_rows(self) -> list[tuple[str, str, int]]:
        return sorted((file, why, n) for (file, why), n in self.not_imported.items())

    def add_error(self, file: str, line: int, message: str) -> None:
        self.errors.append(Problem(file, line, message))

    def add_warning(self, file: str, line: int, message: str) -> None:
        self.warnings.append(Problem(file, line, message))

    def skip(self, file: str, why: str) -> None:
        self.not_imported[(file, why)] += 1
