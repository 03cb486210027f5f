"""Reads of the years pages: the school's years, a closed year's students and sections, a plan
shown in words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from gradebook.models import SchoolYear, Section, Student, YearEndMastery
from mastery.models import School
from years.models import Promotion, YearRollover
from years.services import NextYear, enrolled_next_year


@dataclass
class YearRow:
    year: SchoolYear
    state: str  # "current", "closed", "upcoming" or "past" (ended, not closed)
    records: int  # year-end records kept
    rollover: YearRollover | None


def school_years(*, school: School, today: date | None = None) -> list[YearRow]:
    """Every school year, newest first, with its state and its year-end records (3 queries)."""
    today = today or timezone.localdate()
    years = list(SchoolYear.objects.filter(school=school).order_by("-starts_on"))
    kept = dict(
        YearEndMastery.objects.filter(school=school)
        .values("year_id")
        .annotate(n=Count("id"))
        .values_list("year_id", "n")
    )
    current = next((y for y in years if y.starts_on <= today), None)
    rollovers: dict[int, YearRollover] = {}
    for rollover in YearRollover.objects.filter(school=school).order_by("created_at"):
        if rollover.year_id not in rollovers or rollover.status != YearRollover.Status.FAILED:
            rollovers[rollover.year_id] = rollover
    rows = []
    for year in years:
        if year.closed_at is not None:
            state = "closed"
        elif year is current:
            state = "current"
        elif year.starts_on > today:
            state = "upcoming"
        else:
            state = "past"
        rows.append(YearRow(year, state, kept.get(year.id, 0), rollovers.get(year.id)))
    return rows


def open_years(*, school: School) -> list[SchoolYear]:
    """The years a rollover may close: not closed, oldest first."""
    return list(
        SchoolYear.objects.filter(school=school, closed_at__isnull=True).order_by("starts_on")
    )


def next_year_suggestion(year: SchoolYear) -> NextYear:
    """The year after `year`: its name with each number one up ("2025-2026" → "2026-2027"),
    the same days a year later."""
    words = [str(int(w) + 1) if w.isdigit() else w for w in _split_numbers(year.name)]
    return NextYear(
        name="".join(words),
        starts_on=_a_year_later(year.starts_on),
        ends_on=_a_year_later(year.ends_on),
    )


def _split_numbers(text: str) -> list[str]:
    parts: list[str] = []
    for char in text:
        if parts and parts[-1].isdigit() == char.isdigit():
            parts[-1] += char
        else:
            parts.append(char)
    return parts


def _a_year_later(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # February 29
        return day + timedelta(days=365)


def plan_notes(*, school: School, plan: dict[str, Any], today: date | None = None) -> list[str]:
    """What the admin should know about a plan on the day it is shown (kept out of the plan
    itself, which depends on the school's rows only)."""
    today = today or timezone.localdate()
    year, spec = plan["year"], plan["next_year"]
    ends_on = date.fromisoformat(year["ends_on"])
    starts_on = date.fromisoformat(spec["starts_on"])
    notes = []
    if today < ends_on:
        notes.append(
            f"{year['name']} ends on {ends_on:%B %-d, %Y}: closing it now archives its sections "
            "before its last day."
        )
    if spec["id"] is not None:
        notes.append(f"{spec['name']} already exists (the roster import made it): it is kept.")
    if starts_on <= today:
        notes.append(
            f"{spec['name']} has begun: every level is recomputed from its evidence right after "
            "the rollover."
        )
    else:
        notes.append(
            f"Levels keep counting {year['name']}'s evidence until {starts_on:%B %-d, %Y}, "
            f"then count only {spec['name']}'s (recomputed that day)."
        )
    if plan["promote"]:
        already = enrolled_next_year(
            school,
            NextYear(spec["name"], starts_on, date.fromisoformat(spec["ends_on"])),
        )
        if already:
            notes.append(
                f"{already} students are already enrolled in {spec['name']}'s sections: if the "
                "roster import gave them next year's grade levels, untick “Promote”."
            )
    return notes


@dataclass
class YearStudent:
    student: Student
    records: int
    mastered: int
    promotion: Promotion | None


def year_students(*, school: School, year: SchoolYear) -> list[YearStudent]:
    """The students with year-end records in a closed year (or a promotion), by name (3 queries)."""
    counts = {
        row["student_id"]: (row["records"], row["mastered"])
        for row in YearEndMastery.objects.filter(school=school, year=year)
        .values("student_id")
        .annotate(records=Count("id"), mastered=Count("id", filter=Q(mastered=True)))
    }
    promotions = {p.student_id: p for p in Promotion.objects.filter(school=school, year=year)}
    students = Student.objects.filter(school=school, id__in=set(counts) | set(promotions))
    return [
        YearStudent(s, *counts.get(s.id, (0, 0)), promotions.get(s.id))
        for s in students.order_by("last_name", "first_name", "id")
    ]


def year_sections(*, school: School, year: SchoolYear) -> list[Section]:
    """The sections of the year's terms (archived by its rollover, still readable)."""
    return list(
        Section.objects.filter(
            school=school, term__starts_on__gte=year.starts_on, term__starts_on__lte=year.ends_on
        )
        .select_related("course", "term")
        .order_by("course__code", "period", "name")
    )
