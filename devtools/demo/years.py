"""The demo school's school years: the current one (the term's dates) and a closed previous one
with the levels its students reached, so that a teacher sees last year's level as context in
the cell and on the student's page, and the years page has a closed year to show."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from gradebook.models import CourseTarget, Enrollment, SchoolYear, YearEndMastery
from mastery.models import School

LEVEL_NAMES = {1: "Beginning", 2: "Developing", 3: "Proficient", 4: "Advanced"}


def demo_school_years(
    *, school: School, starts_on: date, ends_on: date, seed: int = 2025
) -> SchoolYear:
    """This year (`starts_on` – `ends_on`) and last year, closed, with a year-end level for each
    student on each target of their courses (a few thousand rows, made up, deterministic).
    Idempotent; call it inside the school (enter_school), before the levels are computed: this
    year's evidence all falls inside this year, so no level changes."""
    current, _ = SchoolYear.objects.get_or_create(
        school=school,
        name=f"{starts_on.year}-{ends_on.year}",
        defaults={"starts_on": starts_on, "ends_on": ends_on},
    )
    last_ends = starts_on - timedelta(days=60)
    last, _ = SchoolYear.objects.get_or_create(
        school=school,
        name=f"{starts_on.year - 1}-{starts_on.year}",
        defaults={
            "starts_on": starts_on.replace(year=starts_on.year - 1),
            "ends_on": last_ends,
            "closed_at": timezone.make_aware(
                datetime.combine(last_ends + timedelta(days=3), time(16))
            ),
        },
    )
    targets: dict[int, list[int]] = {}
    for course_id, target_id in CourseTarget.objects.filter(school=school).values_list(
        "course_id", "target_id"
    ):
        targets.setdefault(course_id, []).append(target_id)
    rng = random.Random(seed)
    rows = []
    pairs = (
        Enrollment.objects.filter(school=school, section__term__starts_on__gte=starts_on)
        .values_list("student_id", "section__course_id")
        .order_by("student_id", "section__course_id")
        .distinct()
    )
    for student_id, course_id in pairs:
        for target_id in targets.get(course_id, []):
            level = rng.choices([1, 2, 3, 4], weights=[1, 3, 4, 2])[0]
            rows.append(
                YearEndMastery(
                    school=school,
                    year=last,
                    student_id=student_id,
                    target_id=target_id,
                    score=Decimal(level),
                    level=Decimal(level),
                    mastered=level >= 3,
                    evidence_count=rng.randint(2, 5),
                    last_evidence_on=last_ends - timedelta(days=rng.randint(5, 60)),
                    explanation=f"{LEVEL_NAMES[level]} when {last.name} closed (demo data)",
                )
            )
    YearEndMastery.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)
    return current
