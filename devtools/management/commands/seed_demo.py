"""`python manage.py seed_demo`: one realistic school a newcomer can click through.

Riverside High School: four departments, eight courses, 32 sections, 300 students with their
guardians, eight teachers, a counselor and an admin; eight weeks of assessments with several
attempts per target that show growth, some missing and excused work, feedback, and habits of work.

Idempotent: when the school exists it is left as it is (use --reset to rebuild it with fresh dates).
Deterministic: the same --seed gives the same school. One command module (~700 lines) that
reads as the demo school's story, top to bottom; the curriculum it loads is in devtools/demo/.
"""

from __future__ import annotations

import io
import json
import random
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageDraw

from alerts.services import alerts_save
from devtools.demo import curriculum, curriculum_es
from devtools.demo.marks import demo_marks
from devtools.demo.years import demo_school_years
from gradebook.models import (
    Assessment,
    AssessmentTarget,
    Course,
    CourseTarget,
    Enrollment,
    Evidence,
    EvidenceFile,
    GradingPeriod,
    Guardianship,
    Habit,
    HabitScore,
    Mastery,
    ReassessmentRequest,
    Section,
    SectionTeacher,
    Student,
    Term,
)
from gradebook.selectors.reassessment import next_school_day, request_check
from gradebook.services.evidence import evidence_record
from gradebook.services.requests import request_decline, request_withdraw, requests_accept
from gradebook.services.self_assessment import self_assessment_record, self_assessment_reply
from gradebook.services.submissions import submission_create
from grading.school import mastery_recompute_school
from grading.services import rules_save
from intervention.models import InterventionSettings, InterventionSlot, SessionAttendance
from intervention.services import cycle_open
from mastery import audit, outbox
from mastery.models import (
    Competency,
    Department,
    District,
    DistrictMembership,
    LearningTarget,
    LevelDescriptor,
    Membership,
    Role,
    School,
    User,
)
from mastery.services import school_provision
from mastery.standards.alignments import target_align
from mastery.standards.case import package_parse
from mastery.standards.importer import framework_import
from mastery.tenancy import all_schools, enter_school

SLUG = "riverside"
DOMAIN = "riverside.example"
PASSWORD = "mastery-demo"
LOGINS = [
    ("School admin", f"admin@{DOMAIN}"),
    ("Teacher (Algebra 1)", f"teacher@{DOMAIN}"),
    ("Counselor", f"counselor@{DOMAIN}"),
    ("Guardian of two children (prefers Spanish)", f"guardian@{DOMAIN}"),
    ("Student", f"student@{DOMAIN}"),
    ("District admin (the district's dashboard)", f"district@{DOMAIN}"),
]

# Eight steps of a course, spread over the weeks before today (up to sixteen, from the term's start,
# so that the quarter that ended has marks of record): a pre-assessment on every target, then two
# units (the first and second half of the course's targets), each with two formative checks and a
# summative task, and a common interim assessment on every target. (step, kind, title, targets)
PLAN = [
    (0, "pre", "Pre-assessment", "all"),
    (1, "formative", "{f1}", "unit1"),
    (2, "formative", "{f2}", "unit1"),
    (3, "summative", "Unit 1 {s}", "unit1"),
    (4, "formative", "{f1} 2", "unit2"),
    (5, "formative", "{f2} 2", "unit2"),
    (6, "summative", "Unit 2 {s}", "unit2"),
    (7, "interim", "Common interim assessment", "all"),
]
TITLES = {
    "Mathematics": {"f1": "Quiz", "f2": "Problem set", "s": "test"},
    "English": {"f1": "Reading response", "f2": "Essay draft", "s": "essay"},
    "Science": {"f1": "Quiz", "f2": "Lab report", "s": "test"},
    "History": {"f1": "Document analysis", "f2": "Source comparison", "s": "DBQ essay"},
}


def school_year(today: date) -> tuple[date, date]:
    start_year = today.year if today.month >= 8 else today.year - 1
    return date(start_year, 8, 17), date(start_year + 1, 6, 10)


def weekday_on_or_before(day: date) -> date:
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


class Command(BaseCommand):
    help = "Create the demo school (Riverside High School) with realistic data. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset", action="store_true", help="Delete and rebuild the demo school."
        )
        parser.add_argument(
            "--students", type=int, default=300, help="Number of students (default 300)."
        )
        parser.add_argument("--seed", type=int, default=2026, help="Random seed (default 2026).")

    def handle(self, *args, **options):
        with all_schools():
            existing = School.objects.filter(slug=SLUG).first()
            if existing and not options["reset"]:
                self.stdout.write(f"The demo school {existing.name} already exists; nothing to do.")
                self.print_logins()
                return
            if existing:
                self.remove(existing)
        self.rng = random.Random(options["seed"])
        # A school's history made at once is a bulk change: it alerts nobody (mastery.outbox).
        with outbox.silenced():
            with transaction.atomic():
                school = self.build(students=max(8, options["students"]))
            with enter_school(school):
                result = mastery_recompute_school(school=school)
                self.make_requests(school, self.sections)
                self.make_intervention(school)
                self.make_standards(school)
                self.make_student_work(school)
                demo_marks(school=school, today=timezone.localdate())
        self.seed_alert_choices()
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {school.name}: {result.pairs} student × target results computed ({result.method})."
            )
        )
        self.print_logins()

    def seed_alert_choices(self) -> None:
        """Alert choices to show off: the Spanish-speaking guardian hears of every score right
        away with the details; the teacher of each reassessment request at once. Everyone else
        keeps the defaults (scores in a daily summary, missing work right away)."""
        by_email = {u.email: u for u in User.objects.filter(email__in=[e for _, e in LOGINS])}
        if guardian := by_email.get(f"guardian@{DOMAIN}"):
            alerts_save(
                guardian,
                frequencies={"score": "immediate", "feedback": "immediate"},
                details=True,
                # No quiet hours: the demo's mail prints whenever someone tries it.
                quiet_from=None,
                quiet_until=None,
            )
        if teacher := by_email.get(f"teacher@{DOMAIN}"):
            alerts_save(
                teacher,
                frequencies={"request_received": "immediate"},
                details=False,
                quiet_from=None,
                quiet_until=None,
            )

    def print_logins(self) -> None:
        self.stdout.write(f"\nDemo logins (password for all: {PASSWORD}):")
        for role, email in LOGINS:
            self.stdout.write(f"  {role:<44} {email}")
        self.stdout.write(
            "  Django admin: http://127.0.0.1:8000/admin/ (log in as the school admin)\n"
            "  Alerts: score a child of the guardian (Algebra 1) and the mail prints on this\n"
            "  console, in Spanish; what was sent: the school's home, Alerts sent.\n"
        )

    @transaction.atomic
    def remove(self, school: School) -> None:
        with enter_school(school):
            Evidence.objects.filter(school=school).update(replaces=None)
            # The demo's photos go with it (only the demo's reset ever deletes a stored file).
            for stored in EvidenceFile.objects.filter(school=school):
                for field in (stored.file, stored.thumbnail):
                    if field:
                        field.storage.delete(field.name)
            audit.allow_purge()  # the school goes as a whole, its audit trail with it
            school.delete()
        User.objects.filter(email__endswith="@" + DOMAIN, memberships__isnull=True).delete()

    # --- building --------------------------------------------------------------------------------

    def build(self, *, students: int) -> School:
        today = timezone.localdate()
        district, _ = District.objects.get_or_create(
            slug="river-valley", defaults={"name": "River Valley Unified"}
        )
        school = School.objects.create(district=district, name="Riverside High School", slug=SLUG)
        with enter_school(school):
            school_provision(school=school, allows_half_points=True)
            self.password = make_password(PASSWORD)  # hashed once: argon2 is slow on purpose
            staff = self.make_staff(school)
            DistrictMembership.objects.get_or_create(
                district=district, user=self.user(f"district@{DOMAIN}", "Dana Morales")
            )
            targets = self.make_framework(school)
            courses = self.make_courses(school, targets)
            term_start, term_end = school_year(today)
            term = Term.objects.create(
                school=school,
                name=f"{term_start.year}-{str(term_end.year)[2:]} school year",
                starts_on=term_start,
                ends_on=term_end,
            )
            self.make_periods(school, term)
            sections = self.make_sections(school, term, courses, staff)
            roster = self.make_students(school, students, sections, term_start)
            anchor = min(today - timedelta(days=1), term_end)
            start = max(term_start + timedelta(days=7), anchor - timedelta(weeks=16))
            self.make_assessments_and_evidence(
                school, courses, sections, roster, staff, start, anchor
            )
            self.make_habits(school, sections, roster, start, anchor)
            demo_school_years(school=school, starts_on=term_start, ends_on=term_end)
            self.sections = sections
        return school

    def user(self, email: str, name: str, language: str = "en") -> User:
        return User.objects.create(
            email=email, full_name=name, preferred_language=language, password=self.password
        )

    def make_staff(self, school: School) -> dict[str, User]:
        admin = self.user(f"admin@{DOMAIN}", "Robert Hayes")
        counselor = self.user(f"counselor@{DOMAIN}", "Patricia Lee")
        Membership.objects.create(school=school, user=admin, role=Role.SCHOOL_ADMIN)
        Membership.objects.create(school=school, user=counselor, role=Role.COUNSELOR)
        teachers = {}
        for local, (name, course_code) in curriculum.TEACHERS.items():
            teacher = self.user(f"{local}@{DOMAIN}", name)
            Membership.objects.create(school=school, user=teacher, role=Role.TEACHER)
            teachers[course_code] = teacher
        # The principal also teaches nothing but may score any section as school admin.
        return {"admin": admin, "counselor": counselor, **teachers}

    def make_framework(self, school: School) -> dict[str, LearningTarget]:
        targets: dict[str, LearningTarget] = {}
        for dept_name, (dept_code, competencies) in curriculum.DEPARTMENTS.items():
            department = Department.objects.create(school=school, name=dept_name, code=dept_code)
            for c_pos, (c_code, c_name, kind, target_rows) in enumerate(competencies):
                competency = Competency.objects.create(
                    school=school,
                    department=department,
                    code=c_code,
                    name=c_name,
                    kind=kind,
                    position=c_pos,
                )
                for t_pos, (code, statement, standard, dok, descriptors) in enumerate(target_rows):
                    spanish_statement, spanish_levels = curriculum_es.TARGETS_ES.get(code, ("", {}))
                    target = LearningTarget.objects.create(
                        school=school,
                        competency=competency,
                        department=department,
                        code=code,
                        statement=statement,
                        statement_es=spanish_statement,
                        standard_code=standard,
                        subject=dept_name,
                        dok_level=dok,
                        position=t_pos,
                    )
                    LevelDescriptor.objects.bulk_create(
                        LevelDescriptor(
                            school=school,
                            target=target,
                            level_value=Decimal(level),
                            text=text,
                            text_es=spanish_levels.get(level, ""),
                        )
                        for level, text in descriptors.items()
                    )
                    targets[code] = target
        return targets

    def make_courses(
        self, school: School, targets
    ) -> dict[str, tuple[Course, list[LearningTarget]]]:
        departments = {d.name: d for d in Department.objects.filter(school=school)}
        courses = {}
        for code, (name, dept, grade, target_codes) in curriculum.COURSES.items():
            course = Course.objects.create(
                school=school,
                department=departments[dept],
                code=code,
                name=name,
                grade_levels=str(grade),
            )
            CourseTarget.objects.bulk_create(
                CourseTarget(school=school, course=course, target=targets[t], position=i)
                for i, t in enumerate(target_codes)
            )
            courses[code] = (course, [targets[t] for t in target_codes])
        return courses

    def make_periods(self, school: School, term: Term) -> None:
        y = term.starts_on.year
        for name, start, end in (
            ("Quarter 1", date(y, 8, 17), date(y, 10, 16)),
            ("Quarter 2", date(y, 10, 19), date(y, 12, 18)),
            ("Quarter 3", date(y + 1, 1, 5), date(y + 1, 3, 12)),
            ("Quarter 4", date(y + 1, 3, 15), term.ends_on),
        ):
            GradingPeriod.objects.create(
                school=school, term=term, name=name, starts_on=start, ends_on=end
            )

    def make_sections(self, school, term, courses, staff) -> dict[str, list[Section]]:
        sections: dict[str, list[Section]] = {}
        for code, (course, _) in courses.items():
            sections[code] = []
            for period in range(1, 5):
                section = Section.objects.create(
                    school=school,
                    course=course,
                    term=term,
                    name=f"Period {period}",
                    period=period,
                    room=f"{course.department.code[0]}{100 + period + 10 * list(courses).index(code)}",
                )
                SectionTeacher.objects.create(school=school, section=section, teacher=staff[code])
                sections[code].append(section)
        return sections

    def make_students(self, school, count, sections, term_start) -> list[dict]:
        rng = self.rng
        grade9 = [c for c, row in curriculum.COURSES.items() if row[2] == 9]
        grade10 = [c for c, row in curriculum.COURSES.items() if row[2] == 10]
        roster: list[dict] = []
        used_names: set[tuple[str, str]] = set()
        students: list[Student] = []
        for i in range(count):
            while True:
                first, last = rng.choice(curriculum.FIRST_NAMES), rng.choice(curriculum.LAST_NAMES)
                if (first, last) not in used_names:
                    used_names.add((first, last))
                    break
            grade = 9 if i < count // 2 else 10
            spanish = last in {
                "Alvarez",
                "Bautista",
                "Cruz",
                "Díaz",
                "Flores",
                "García",
                "Gómez",
                "Gutiérrez",
                "Hernández",
                "López",
                "Martínez",
                "Mendoza",
                "Morales",
                "Ortiz",
                "Pérez",
                "Ramírez",
                "Reyes",
                "Rodríguez",
                "Romero",
                "Sánchez",
                "Torres",
                "Vargas",
            }
            language = "es" if spanish and rng.random() < 0.7 else "en"
            students.append(
                Student(
                    school=school,
                    local_id=f"{26000 + i:06d}",
                    first_name=first,
                    last_name=last,
                    grade_level=grade,
                    preferred_language=language,
                )
            )
        Student.objects.bulk_create(students)
        students = list(Student.objects.filter(school=school).order_by("local_id"))
        # A sibling pair (one in each grade) shares a last name and a guardian.
        half = count // 2
        for k in range(min(20, half)):
            younger, older = students[k], students[half + k]
            older.last_name = younger.last_name
            older.preferred_language = younger.preferred_language
            older.save(update_fields=["last_name", "preferred_language"])

        enrollments, guardianships = [], []
        guardian_users: dict[int, User] = {}
        for idx, student in enumerate(students):
            # Ability: where the student starts and how fast they grow, varying by target later.
            ability = rng.gauss(0, 0.65)
            codes = grade9 if student.grade_level == 9 else grade10
            period_sections = []
            for c_i, code in enumerate(codes):
                section = sections[code][(idx + c_i) % 4]
                period_sections.append(section)
                enrollments.append(
                    Enrollment(
                        school=school, section=section, student=student, enrolled_on=term_start
                    )
                )
            roster.append({"student": student, "ability": ability, "sections": period_sections})
            sibling_of = idx - half if half <= idx < half + min(20, half) else None
            if sibling_of is not None and sibling_of in guardian_users:
                guardian = guardian_users[sibling_of]
            else:
                local = "guardian" if idx == 0 else f"family{idx:03d}"
                guardian = self.user(
                    f"{local}@{DOMAIN}",
                    (
                        "Ana "
                        if idx == 0
                        else rng.choice(
                            [
                                "Carmen ",
                                "James ",
                                "Linda ",
                                "Wei ",
                                "Rosa ",
                                "Michael ",
                                "Aisha ",
                                "Jorge ",
                            ]
                        )
                    )
                    + student.last_name,
                    language=student.preferred_language if idx else "es",
                )
                if idx == 0:
                    student.preferred_language = "es"
                    student.save(update_fields=["preferred_language"])
                    students[half].preferred_language = "es"
                    students[half].save(update_fields=["preferred_language"])
                Membership.objects.get_or_create(school=school, user=guardian, role=Role.GUARDIAN)
            guardian_users[idx] = guardian
            guardianships.append(
                Guardianship(
                    school=school,
                    guardian=guardian,
                    student=student,
                    relationship=rng.choice(
                        ["mother", "father", "grandmother", "aunt", "guardian"]
                    ),
                )
            )
        Enrollment.objects.bulk_create(enrollments)
        Guardianship.objects.bulk_create(guardianships)
        # The demo student's own login.
        demo_student = students[1]
        demo_student.user = self.user(
            f"student@{DOMAIN}", demo_student.display_name, demo_student.preferred_language
        )
        demo_student.save(update_fields=["user"])
        Membership.objects.create(school=school, user=demo_student.user, role=Role.STUDENT)
        return roster

    def make_assessments_and_evidence(
        self, school, courses, sections, roster, staff, start, anchor
    ):
        rng = self.rng
        span = (anchor - start).days
        by_course: dict[int, list[dict]] = {}
        for entry in roster:
            for section in entry["sections"]:
                by_course.setdefault(section.course_id, []).append({**entry, "section": section})
        evidence: list[Evidence] = []
        # Per (student, target): starting level and growth per attempt.
        trajectory: dict[tuple[int, int], tuple[float, float]] = {}
        attempts: dict[tuple[int, int], int] = {}
        for code, (course, targets) in courses.items():
            dept = course.department.name
            teacher = staff[code]
            half = (len(targets) + 1) // 2
            units = {"all": targets, "unit1": targets[:half], "unit2": targets[half:]}
            summative_by_week = {}
            for week, kind, title, which in PLAN:
                day = weekday_on_or_before(
                    start + timedelta(days=min(span, round(week * span / 7)))
                )
                aligned = units[which]
                assessment = Assessment.objects.create(
                    school=school,
                    title=title.format(**TITLES[dept]),
                    kind=kind,
                    assessed_on=day,
                    course=course,
                    created_by=teacher,
                    description="Common assessment for every section of the course.",
                )
                AssessmentTarget.objects.bulk_create(
                    AssessmentTarget(school=school, assessment=assessment, target=t)
                    for t in aligned
                )
                if kind == "summative":
                    summative_by_week[week] = (assessment, aligned)
                for entry in by_course[course.id]:
                    student = entry["student"]
                    for target in aligned:
                        key = (student.id, target.id)
                        if key not in trajectory:
                            trajectory[key] = (
                                1.95 + entry["ability"] + rng.uniform(-0.25, 0.25),
                                max(0.05, rng.gauss(0.42, 0.15)),
                            )
                        evidence.append(
                            self.attempt(
                                school, entry, target, assessment, teacher, trajectory, attempts
                            )
                        )
            # Yesterday's exit ticket, not scored yet: something for the demo teacher to score.
            ticket = Assessment.objects.create(
                school=school,
                title="Exit ticket",
                kind="formative",
                assessed_on=anchor,
                course=course,
                created_by=teacher,
                description="Quick check at the end of class; not scored yet.",
            )
            AssessmentTarget.objects.bulk_create(
                AssessmentTarget(school=school, assessment=ticket, target=t) for t in targets[-2:]
            )
            # Reassessments, given per section after re-teaching, for students below mastery on unit 1.
            unit1, unit1_targets = summative_by_week[3]
            re_day = weekday_on_or_before(unit1.assessed_on + timedelta(days=9))
            below = {
                (e.student_id, e.target_id)
                for e in evidence
                if e.assessment_id == unit1.id and (e.score is None or e.score < 3)
            }
            for section in sections[code]:
                reassessment = Assessment.objects.create(
                    school=school,
                    title=f"{unit1.title} – reassessment",
                    kind="reassessment",
                    assessed_on=min(re_day, anchor),
                    course=course,
                    section=section,
                    original=unit1,
                    created_by=teacher,
                    description="After re-teaching, for students not yet at mastery.",
                )
                AssessmentTarget.objects.bulk_create(
                    AssessmentTarget(school=school, assessment=reassessment, target=t)
                    for t in unit1_targets
                )
                for entry in by_course[course.id]:
                    if entry["section"].id != section.id:
                        continue
                    for target in unit1_targets:
                        if (entry["student"].id, target.id) in below and rng.random() < 0.8:
                            evidence.append(
                                self.attempt(
                                    school,
                                    entry,
                                    target,
                                    reassessment,
                                    teacher,
                                    trajectory,
                                    attempts,
                                    boost=0.4,
                                )
                            )
        Evidence.objects.bulk_create(evidence, batch_size=2000)

    def attempt(
        self, school, entry, target, assessment, teacher, trajectory, attempts, boost=0.0
    ) -> Evidence:
        rng = self.rng
        key = (entry["student"].id, target.id)
        n = attempts.get(key, 0)
        attempts[key] = n + 1
        start, growth = trajectory[key]
        raw = (
            start
            + growth * n
            + boost
            + rng.gauss(0, 0.3)
            - (0.4 if assessment.kind == "pre" else 0)
        )
        # Half points are allowed, but most scores are whole levels.
        score = min(4.0, max(1.0, round(raw * 2) / 2))
        if score % 1 and rng.random() < 0.6:
            score = min(4.0, max(1.0, score + rng.choice([-0.5, 0.5])))
        roll = rng.random()
        status, value = "scored", Decimal(str(score))
        if assessment.kind != "pre" and roll < 0.03:
            status, value = "missing", None
        elif assessment.kind != "pre" and roll < 0.045:
            status, value = "excused", None
        elif assessment.kind != "pre" and roll < 0.055:
            status, value = "incomplete", None
        feedback = ""
        if (
            status == "scored"
            and assessment.kind in ("summative", "reassessment")
            and rng.random() < 0.5
        ):
            band = "low" if score < 2.5 else "mid" if score < 3.5 else "high"
            feedback = rng.choice(curriculum.FEEDBACK[band])
        recorded = timezone.make_aware(
            datetime.combine(
                assessment.assessed_on + timedelta(days=rng.randint(0, 2)),
                time(15, rng.randint(0, 59)),
            )
        )
        return Evidence(
            school=school,
            student=entry["student"],
            target=target,
            assessment=assessment,
            score=value,
            status=status,
            kind=assessment.kind,
            assessed_on=assessment.assessed_on,
            feedback=feedback,
            recorded_by=teacher,
            recorded_at=recorded,
        )

    def make_standards(self, school: School) -> None:
        """The district's standards as a CASE 1.0 package (one item per standard code the demo's
        targets name, under a subject), imported as IT would, and every target aligned to its
        standard: the target's page, its form's tree and the district comparison use them."""
        space = uuid.UUID("0b0e4bd6-52a4-4c8e-9a1d-3f3c1f6a7e21")  # the same identifiers each time

        def node(*key: str) -> str:
            return str(uuid.uuid5(space, "/".join(key)))

        def link(identifier: str, title: str) -> dict[str, str]:
            base = "https://standards.river-valley.example/uri/"
            return {"title": title, "identifier": identifier, "uri": base + identifier}

        when = "2026-08-01T00:00:00+00:00"
        document = node("document")
        items: list[dict] = []
        associations: list[dict] = []
        by_code: dict[str, str] = {}
        targets = list(
            LearningTarget.objects.filter(school=school)
            .exclude(standard_code="")
            .order_by("subject", "position", "id")
        )
        for subject in dict.fromkeys(t.subject for t in targets):
            parent = node("subject", subject)
            items.append(
                {
                    "identifier": parent,
                    "uri": link(parent, subject)["uri"],
                    "fullStatement": f"{subject}, high school",
                    "humanCodingScheme": subject,
                    "CFItemType": "Subject",
                    "lastChangeDateTime": when,
                }
            )
            associations.append(
                {
                    "identifier": node("child", subject),
                    "uri": link(node("child", subject), subject)["uri"],
                    "associationType": "isChildOf",
                    "originNodeURI": link(parent, subject),
                    "destinationNodeURI": link(document, "River Valley standards"),
                    "lastChangeDateTime": when,
                }
            )
            for n, target in enumerate(t for t in targets if t.subject == subject):
                if target.standard_code in by_code:
                    continue
                identifier = by_code[target.standard_code] = node("item", target.standard_code)
                statement = target.statement.removeprefix("I can ").rstrip(".")
                items.append(
                    {
                        "identifier": identifier,
                        "uri": link(identifier, target.standard_code)["uri"],
                        "fullStatement": f"{statement[:1].upper()}{statement[1:]}.",
                        "humanCodingScheme": target.standard_code,
                        "CFItemType": "Standard",
                        "educationLevel": ["09", "10"],
                        "lastChangeDateTime": when,
                    }
                )
                associations.append(
                    {
                        "identifier": node("child", target.standard_code),
                        "uri": link(node("child", target.standard_code), "")["uri"],
                        "associationType": "isChildOf",
                        "sequenceNumber": n + 1,
                        "originNodeURI": link(identifier, target.standard_code),
                        "destinationNodeURI": link(parent, subject),
                        "lastChangeDateTime": when,
                    }
                )
        package = {
            "CFDocument": {
                "identifier": document,
                "uri": link(document, "")["uri"],
                "creator": "River Valley Unified (demo)",
                "title": "River Valley standards (demo)",
                "lastChangeDateTime": when,
                "CFPackageURI": link(document, "River Valley standards"),
            },
            "CFItems": items,
            "CFAssociations": associations,
        }
        framework_import(
            school=school,
            package=package_parse(json.dumps(package)),
            source="demo",
            imported_by=None,
        )
        for target in targets:
            target_align(school=school, target=target, identifiers=[by_code[target.standard_code]])

    def make_student_work(self, school: School) -> None:
        """The demo student's own part: a rating of themselves with a reflection their teacher
        answered, and a photo of homework handed in and waiting to be scored."""
        student = Student.objects.get(school=school, user__email=f"student@{DOMAIN}")
        enrollment = (
            Enrollment.objects.filter(school=school, student=student, withdrawn_on__isnull=True)
            .select_related("section__course")
            .order_by("section__course__code")
            .first()
        )
        course_targets = list(
            enrollment.section.course.course_targets.order_by("position").select_related("target")
        )
        rated, handed_in = course_targets[0].target, course_targets[-1].target
        teacher = SectionTeacher.objects.filter(school=school, section=enrollment.section).first()
        rating = self_assessment_record(
            school=school,
            student=student,
            target=rated,
            score="3",
            reflection="I can do these on my own now; I still check my work with a graph.",
            recorded_by=student.user,
        )
        self_assessment_reply(
            school=school,
            rating_id=rating.id,
            reply="Agreed: your last quiz shows it. Try explaining your check in words next time.",
            replied_by=teacher.teacher,
        )
        page = Image.new("RGB", (900, 1200), (250, 248, 240))
        pen = ImageDraw.Draw(page)
        for y in range(120, 1150, 60):
            pen.line([(60, y), (840, y)], fill=(190, 205, 225), width=2)
        for y in range(140, 700, 120):
            pen.line(
                [(90, y), (90 + self.rng.randint(350, 700), y + 10)], fill=(40, 40, 90), width=5
            )
        photo = io.BytesIO()
        page.save(photo, "JPEG", quality=80)
        submission_create(
            school=school,
            student=student,
            target=handed_in,
            title="Homework, problems 1-4",
            note="I showed my steps. Number 3 was hard.",
            uploads=[SimpleUploadedFile("IMG_2041.JPG", photo.getvalue(), "image/jpeg")],
            submitted_by=student.user,
        )

    def make_requests(self, school, sections) -> None:
        """The school's reassessment rules, and requests in every state (what the teacher's home,
        the cell and the portal show): waiting, scheduled, completed by a score, declined with a
        reason, withdrawn, expired. Made through the services, as people would (audited)."""
        rules_save(
            school=school,
            values={"families_may_request": True, "max_per_period": 2, "min_days_after": 3},
            saved_by=self.user_for_requests(school),
        )
        notes = [
            "I went to tutoring on Tuesday and redid the practice set.",
            "Can I retake this after the review session?",
            "I fixed my errors from the quiz; ready to show it.",
            "",
        ]
        states = [
            "open",
            "open",
            "scheduled",
            "completed",
            "declined",
            "open",
            "withdrawn",
            "expired",
        ]
        today = timezone.localdate()
        made = 0
        for code in ("ALG1", "ENG9"):
            for section in sections[code][:2]:
                teacher = (
                    SectionTeacher.objects.filter(school=school, section=section).first().teacher
                )
                below = (
                    Mastery.objects.filter(
                        school=school,
                        student__enrollments__section=section,
                        mastered=False,
                        evidence_count__gt=1,
                        target__course_targets__course=section.course,
                    )
                    .select_related("student", "target")
                    .order_by("score")[:4]
                )
                for record in below:
                    state = states[made % len(states)]
                    made += 1
                    request = ReassessmentRequest.objects.create(
                        school=school,
                        student=record.student,
                        target=record.target,
                        section=section,
                        requested_by=record.student.user or teacher,
                        note=notes[made % len(notes)],
                        rules=[
                            line.as_dict()
                            for line in request_check(
                                school=school,
                                student=record.student,
                                target=record.target,
                                by="student",
                                today=today,
                            ).lines
                        ],
                        created_at=timezone.now() - timedelta(days=made % 5 + 1),
                    )
                    if state in ("scheduled", "completed"):
                        day = today if state == "completed" else next_school_day(today)
                        requests_accept(
                            school=school,
                            request_ids=[request.id],
                            accepted_by=teacher,
                            scheduled_on=day,
                        )
                        if state == "completed":
                            request.refresh_from_db()
                            evidence_record(
                                school=school,
                                recorded_by=teacher,
                                student_id=record.student_id,
                                target_id=record.target_id,
                                assessment_id=request.sitting_id,
                                score=Decimal(3),
                                assessed_on=day,
                                feedback="Much clearer this time: the steps are all there.",
                            )
                    elif state == "declined":
                        request_decline(
                            school=school,
                            request_id=request.id,
                            declined_by=teacher,
                            reason="Come to Wednesday's re-teaching first, then ask again.",
                        )
                    elif state == "withdrawn":
                        request_withdraw(
                            school=school,
                            request_id=request.id,
                            student=record.student,
                            withdrawn_by=request.requested_by,
                        )
                    elif state == "expired":
                        ReassessmentRequest.objects.filter(pk=request.pk).update(
                            status=ReassessmentRequest.Status.EXPIRED, resolved_at=timezone.now()
                        )

    def user_for_requests(self, school):
        # Requests made in class are noted by the teacher on the student's behalf.
        return (
            SectionTeacher.objects.filter(school=school).select_related("teacher").first().teacher
        )

    def make_intervention(self, school) -> None:
        """Math and English feed Wednesday/Thursday rosters; cycle 1 opened three Mondays ago."""

        rng = self.rng
        Department.objects.filter(school=school, name__in=["Mathematics", "English"]).update(
            intervention_focus=True
        )
        InterventionSettings.objects.create(
            school=school, cycle_weeks=4, weekdays=[2, 3], group_capacity=20, enrichment_capacity=35
        )
        specialists = []
        for email, name, room in (
            (f"gholt@{DOMAIN}", "Grace Holt", "Library A"),
            (f"vramos@{DOMAIN}", "Victor Ramos", "Library B"),
            (f"nokoye@{DOMAIN}", "Ngozi Okoye", "Learning Lab"),
            (f"pchen@{DOMAIN}", "Paul Chen", "Room 210"),
            (f"lmorgan@{DOMAIN}", "Laura Morgan", "Room 212"),
            (f"tsato@{DOMAIN}", "Takeshi Sato", "Room 214"),
            (f"rdiaz@{DOMAIN}", "Rafael Díaz", "Gym mezzanine"),
            (f"hwright@{DOMAIN}", "Hannah Wright", "Room 216"),
        ):
            user = self.user(email, name)
            Membership.objects.create(school=school, user=user, role=Role.TEACHER)
            specialists.append((user, room))
        rooms = {}
        for st in SectionTeacher.objects.filter(school=school).select_related("section", "teacher"):
            rooms.setdefault(st.teacher_id, (st.teacher, st.section.room))
        slots = [
            InterventionSlot(school=school, teacher=teacher, weekday=weekday, room=room)
            for teacher, room in [*rooms.values(), *specialists]
            for weekday in (2, 3)
        ]
        InterventionSlot.objects.bulk_create(slots)
        today = timezone.localdate()
        start = today - timedelta(days=today.weekday()) - timedelta(weeks=3)
        cycle = cycle_open(school=school, starts_on=start)
        marks = []
        for entry in cycle.entries.filter(group__isnull=False).select_related("group"):
            for day in cycle.session_dates(entry.weekday):
                if day >= today:
                    break
                roll = rng.random()
                status = "present" if roll < 0.88 else "absent" if roll < 0.96 else "excused"
                marks.append(
                    SessionAttendance(
                        school=school,
                        entry=entry,
                        session_date=day,
                        status=status,
                        recorded_by=entry.group.teacher,
                    )
                )
        SessionAttendance.objects.bulk_create(marks)

    def make_habits(self, school, sections, roster, start, anchor) -> None:
        rng = self.rng
        habits = [
            Habit.objects.create(school=school, name=name, description=desc, position=i)
            for i, (name, desc) in enumerate(curriculum.HABITS)
        ]
        teacher_of = {
            st.section_id: st.teacher for st in SectionTeacher.objects.filter(school=school)
        }
        scores = []
        days = [
            weekday_on_or_before(start + timedelta(days=d))
            for d in range(13, (anchor - start).days + 1, 14)
        ]
        for entry in roster:
            base = 2.8 + entry["ability"] * 0.8
            for section in entry["sections"]:
                for habit in habits:
                    for day in days:
                        value = min(4, max(1, round(base + rng.gauss(0, 0.6))))
                        scores.append(
                            HabitScore(
                                school=school,
                                student=entry["student"],
                                habit=habit,
                                section=section,
                                score=Decimal(value),
                                assessed_on=day,
                                recorded_by=teacher_of[section.id],
                            )
                        )
        HabitScore.objects.bulk_create(scores, batch_size=5000)
