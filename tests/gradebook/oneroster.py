"""What the OneRoster import tests share: the fixture packages, copies of them rewritten, running an import."""

from __future__ import annotations

import html
import io
import shutil
import zipfile
from datetime import date
from pathlib import Path

from django_scopes import scopes_disabled

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
from gradebook.oneroster.package import read_path
from gradebook.oneroster.service import oneroster_import
from mastery.models import Department, District, Membership, School, User

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "oneroster"


TODAY = date(2026, 11, 20)


# What the base export makes, by kind of record (the two schools together).
BASE_CREATED = {
    "districts": 1,
    "schools": 2,
    "terms": 6,  # 2026-2027, Fall 2026, Spring 2027 in each school
    "grading periods": 8,  # Q1-Q4 in each school
    "departments": 5,  # Mathematics, English Language Arts, Science, General; Mathematics
    "courses": 5,
    "sections": 6,
    "users": 13,  # six staff, four students with an email, three guardians
    "students": 7,
    "memberships": 13,
    "guardianships": 4,
    "enrollments": 14,
    "section teachers": 7,
    "school years": 2,  # the 2026-2027 schoolYear session in each school
}


TENANT_MODELS = (
    Term,
    GradingPeriod,
    Department,
    Course,
    Section,
    Student,
    Membership,
    Guardianship,
    Enrollment,
    SectionTeacher,
    RosterSource,
)


# --- Helpers ---------------------------------------------------------------------------------------


def files(name: str) -> dict[str, bytes]:
    return read_path(FIXTURES / name)


def run(name: str | dict, *, dry_run: bool = False, today: date = TODAY):
    """The command line's import (every school of the files, scopes disabled)."""
    package = files(name) if isinstance(name, str) else name
    with scopes_disabled():
        return oneroster_import(files=package, school=None, dry_run=dry_run, today=today)


def created(report) -> dict[str, int]:
    return {entity: tally.created for entity, tally in report.tallies.items() if tally.created}


def snapshot(school: School | None = None) -> dict[str, set[tuple]]:
    """Every field of every roster row (of one school and its members, or of all), to compare."""
    with scopes_disabled():
        rows = {
            model.__name__: set(
                (
                    model.objects.filter(school=school) if school else model.objects.all()
                ).values_list()
            )
            for model in TENANT_MODELS
        }
        members = User.objects.filter(memberships__school=school) if school else User.objects
        rows["User"] = set(members.values_list())
        if school is None:
            rows["School"] = set(School.objects.values_list())
            rows["District"] = set(District.objects.values_list())
    return rows


def package_copy(tmp_path: Path, name: str = "base") -> Path:
    target = tmp_path / name
    shutil.copytree(FIXTURES / name, target)
    return target


def zipped(directory: Path, *, folder: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.iterdir()):
            archive.write(path, f"{folder}{path.name}")
    return buffer.getvalue()


# --- Bad files -------------------------------------------------------------------------------------


def rewrite(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path.name}"
    path.write_text(text.replace(old, new))


# --- The upload page -------------------------------------------------------------------------------


def text(response) -> str:
    return html.unescape(response.content.decode())
