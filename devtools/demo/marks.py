"""The demo school's marks of record: a comment bank in English and Spanish, posting windows, and
every section's marks posted for each grading period that has ended, by its teacher, with a few
overrides (each with its reason) and comments, so that the report cards of record, the admin's
progress page and the families' portal have something real to show."""

from __future__ import annotations

import random
from datetime import date, timedelta

from gradebook.models import GradingPeriod, Section, SectionTeacher
from marks.computing import COURSE, TARGET, section_marks_compute
from marks.models import CommentBankEntry, MarkSettings
from marks.services import MarkEntry, section_marks_post
from mastery.models import Department, School

# (code, department code or None, level or None, English, Spanish)
BANK = [
    (
        "G1",
        None,
        None,
        "{first_name} works steadily and asks for help when it is needed.",
        "{first_name} trabaja con constancia y pide ayuda cuando la necesita.",
    ),
    (
        "G2",
        None,
        None,
        "{first_name} should use the reassessment opportunities to show what they now know.",
        "{first_name} debería aprovechar las oportunidades de reevaluación para mostrar lo que ya sabe.",
    ),
    (
        "G3",
        None,
        None,
        "{first_name} is a generous partner in group work.",
        "{first_name} es un compañero generoso en el trabajo en grupo.",
    ),
    (
        "M1",
        "MATH",
        None,
        "{first_name} explains their reasoning clearly in {course}.",
        "{first_name} explica su razonamiento con claridad en {course}.",
    ),
    (
        "M2",
        "MATH",
        None,
        "{first_name} should practise the problem sets before each test.",
        "{first_name} debería practicar los ejercicios antes de cada prueba.",
    ),
    (
        "E1",
        "ENG",
        None,
        "{first_name} writes with a clear voice and uses evidence well.",
        "{first_name} escribe con voz propia y usa bien la evidencia.",
    ),
]


def demo_marks(*, school: School, today: date, seed: int = 2026) -> int:
    """Post the demo's marks (idempotent: posting again writes nothing). Returns marks written."""
    MarkSettings.objects.get_or_create(school=school)
    departments = {d.code: d for d in Department.objects.filter(school=school)}
    for code, department, level, english, spanish in BANK:
        CommentBankEntry.objects.get_or_create(
            school=school,
            code=code,
            defaults={
                "department": departments.get(department) if department else None,
                "level": level,
                "texts": {"en": english, "es": spanish},
            },
        )
    rng = random.Random(seed)
    written = 0
    periods = list(GradingPeriod.objects.filter(school=school).order_by("starts_on"))
    teachers = {
        link.section_id: link.teacher
        for link in SectionTeacher.objects.filter(school=school, is_primary=True).select_related(
            "teacher"
        )
    }
    bank_codes: dict[int | None, list[str]] = {}
    for code, department, *_ in BANK:
        key = departments[department].id if department in departments else None
        bank_codes.setdefault(key, []).append(code)
    ended = [p for p in periods if p.ends_on < today]
    for period in ended:
        # Posted while the window was open: the windows are set after posting, as they were.
        GradingPeriod.objects.filter(pk=period.pk).update(
            posting_opens_on=None, posting_closes_on=None
        )
        period.refresh_from_db()
        for section in Section.objects.filter(school=school, term_id=period.term_id).select_related(
            "course", "term"
        ):
            teacher = teachers.get(section.id)
            if teacher is None:
                continue
            codes = bank_codes.get(None, []) + bank_codes.get(section.course.department_id, [])
            marks = section_marks_compute(school=school, section=section, period=period)
            entries = []
            for key, computed in marks.computed.items():
                student_id, kind, _ = key
                value, reason, comment = computed.value, "", None
                # About one target mark in forty is overridden up, with a reason as teachers
                # write them; about one student in three gets a comment from the bank.
                if kind == TARGET and computed.value in {"2", "3"} and rng.random() < 0.025:
                    value = str(int(computed.value) + 1)
                    reason = "Showed it in a conference after the quarter's last test"
                if kind == COURSE and rng.random() < 0.35:
                    comment = rng.choice(codes)
                entries.append(
                    MarkEntry(key=key, value=value, reason=reason, comment=comment, seen=None)
                )
            result = section_marks_post(
                school=school,
                section=section,
                period=period,
                posted_by=teacher,
                entries=entries,
                is_admin=False,
                source="demo",
            )
            written += result.written
    for period in periods:
        GradingPeriod.objects.filter(pk=period.pk).update(
            posting_opens_on=period.ends_on - timedelta(days=4),
            posting_closes_on=period.ends_on + timedelta(days=7),
        )
    return written
