"""Test data builders. Every builder takes the school explicitly (no accidental cross-tenant rows)."""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_scopes import scope, scopes_disabled
from PIL import Image

from gradebook.models import (
    Assessment,
    AssessmentTarget,
    Course,
    CourseTarget,
    Enrollment,
    Evidence,
    FileAttachment,
    GradingPeriod,
    Guardianship,
    Mastery,
    ReassessmentRequest,
    ReassessmentRule,
    RecomputeRun,
    Section,
    SectionTeacher,
    SelfAssessment,
    Student,
    Submission,
    Term,
)
from gradebook.services.evidence import RecordResult, evidence_record
from gradebook.services.files import evidence_files_attach
from gradebook.services.self_assessment import self_assessment_record
from intervention.models import (
    InterventionCycle,
    InterventionGroup,
    InterventionSettings,
    InterventionSlot,
    RosterEntry,
)
from intervention.services import cycle_open
from marks.computing import section_marks_compute
from marks.models import CommentBankEntry, PostedMark
from marks.services import MarkEntry, section_marks_post
from mastery.models import (
    Competency,
    Department,
    GradingPolicy,
    LearningTarget,
    LevelDescriptor,
    Membership,
    Role,
    School,
    User,
)
from mastery.services import school_provision
from sis.models import SisDelivery
from tests.mastery.case.support import framework_of

PASSWORD = "correct-horse-battery"
_seq = itertools.count(1)


def make_user(email: str | None = None, name: str = "Test Person", **extra) -> User:
    email = email or f"user{next(_seq)}@example.test"
    return User.objects.create_user(email, PASSWORD, full_name=name, **extra)


def make_member(
    school: School, role: str, email: str | None = None, name: str | None = None
) -> User:
    user = make_user(email, name or f"{role.title()} {school.slug}")
    with scopes_disabled():
        Membership.objects.create(school=school, user=user, role=role)
    return user


@dataclass
class World:
    """One school with a small but complete setup: the unit most tests work in."""

    school: School
    admin: User
    teacher: User
    other_teacher: User
    counselor: User
    guardian: User
    student_user: User
    term: Term
    department: Department
    competency: Competency
    targets: list[LearningTarget]
    course: Course
    section: Section
    other_section: Section
    students: list[Student]
    other_students: list[Student]
    assessment: Assessment
    extra: dict = field(default_factory=dict)

    @property
    def student(self) -> Student:
        return self.students[0]


def make_world(slug: str, *, students: int = 3, today: date | None = None) -> World:
    today = today or date.today()
    with scopes_disabled():
        school = School.objects.create(name=f"School {slug.upper()}", slug=slug)
        school_provision(school=school, allows_half_points=True)
        admin = make_member(school, Role.SCHOOL_ADMIN, f"admin@{slug}.test", "Ada Admin")
        teacher = make_member(school, Role.TEACHER, f"teacher@{slug}.test", "Tess Teacher")
        other_teacher = make_member(school, Role.TEACHER, f"teacher2@{slug}.test", "Otto Other")
        counselor = make_member(school, Role.COUNSELOR, f"counselor@{slug}.test", "Cora Counselor")
        guardian = make_member(school, Role.GUARDIAN, f"guardian@{slug}.test", "Gus Guardian")
        student_user = make_member(school, Role.STUDENT, f"student@{slug}.test", "Stu Student")
        term = Term.objects.create(
            school=school,
            name="This year",
            starts_on=today - timedelta(days=120),
            ends_on=today + timedelta(days=120),
        )
        department = Department.objects.create(school=school, name="Mathematics", code="MATH")
        competency = Competency.objects.create(
            school=school, department=department, code=f"{slug}-FN", name="Functions"
        )
        targets = []
        for i in range(3):
            target = LearningTarget.objects.create(
                school=school,
                competency=competency,
                department=department,
                code=f"{slug.upper()}.F{i + 1}",
                statement=f"I can do thing {i + 1}.",
                position=i,
            )
            LevelDescriptor.objects.bulk_create(
                LevelDescriptor(
                    school=school,
                    target=target,
                    level_value=Decimal(v),
                    text=f"Level {v} of {i + 1}",
                )
                for v in (1, 2, 3, 4)
            )
            targets.append(target)
        course = Course.objects.create(
            school=school, department=department, code="ALG1", name="Algebra 1"
        )
        CourseTarget.objects.bulk_create(
            CourseTarget(school=school, course=course, target=t, position=i)
            for i, t in enumerate(targets)
        )
        section = Section.objects.create(
            school=school, course=course, term=term, name="Period 1", period=1
        )
        other_section = Section.objects.create(
            school=school, course=course, term=term, name="Period 2", period=2
        )
        SectionTeacher.objects.create(school=school, section=section, teacher=teacher)
        SectionTeacher.objects.create(school=school, section=other_section, teacher=other_teacher)
        studs = [
            make_student(
                school,
                f"{slug}-{i}",
                first=f"Student{i}",
                sections=[section],
                enrolled_on=term.starts_on,
            )
            for i in range(students)
        ]
        others = [
            make_student(
                school,
                f"{slug}-x{i}",
                first=f"Other{i}",
                sections=[other_section],
                enrolled_on=term.starts_on,
            )
            for i in range(2)
        ]
        Guardianship.objects.create(
            school=school, guardian=guardian, student=studs[0], relationship="father"
        )
        studs[0].user = student_user
        studs[0].save(update_fields=["user"])
        assessment = make_assessment(school, course, targets[:2], on=today - timedelta(days=7))
    return World(
        school=school,
        admin=admin,
        teacher=teacher,
        other_teacher=other_teacher,
        counselor=counselor,
        guardian=guardian,
        student_user=student_user,
        term=term,
        department=department,
        competency=competency,
        targets=targets,
        course=course,
        section=section,
        other_section=other_section,
        students=studs,
        other_students=others,
        assessment=assessment,
    )


def make_student(
    school: School,
    local_id: str,
    *,
    first: str = "Sam",
    last: str = "Student",
    sections: list[Section] = (),
    enrolled_on: date | None = None,
    grade_level: int = 9,
) -> Student:
    with scopes_disabled():
        student = Student.objects.create(
            school=school,
            local_id=local_id,
            first_name=first,
            last_name=last,
            grade_level=grade_level,
        )
        for section in sections:
            Enrollment.objects.create(
                school=school,
                section=section,
                student=student,
                enrolled_on=enrolled_on or date.today(),
            )
    return student


def make_assessment(
    school: School,
    course: Course,
    targets: list[LearningTarget],
    *,
    on: date,
    kind: str = "summative",
    section: Section | None = None,
    title: str | None = None,
) -> Assessment:
    with scopes_disabled():
        assessment = Assessment.objects.create(
            school=school,
            course=course,
            section=section,
            kind=kind,
            assessed_on=on,
            title=title or f"{kind.title()} {next(_seq)}",
        )
        AssessmentTarget.objects.bulk_create(
            AssessmentTarget(school=school, assessment=assessment, target=t) for t in targets
        )
    return assessment


def make_reassessable(w: World) -> None:
    """The world's first student may now ask for a reassessment on its first target: an attempt
    nine days ago, then practice two days ago (the default rules' waiting time and practice)."""
    earlier = make_assessment(
        w.school, w.course, [w.targets[0]], on=timezone.localdate() - timedelta(days=9)
    )
    make_evidence(w, w.student, w.targets[0], "2", assessment=earlier)
    practice = make_assessment(
        w.school,
        w.course,
        [w.targets[0]],
        on=timezone.localdate() - timedelta(days=2),
        kind="formative",
    )
    make_evidence(w, w.student, w.targets[0], "2", assessment=practice)


def make_evidence(
    w: World,
    student: Student | None = None,
    target: LearningTarget | None = None,
    score: str | None = "3",
    *,
    assessment: Assessment | None = None,
    by: User | None = None,
    status: str = "scored",
    **extra,
) -> RecordResult:
    """A score recorded through the service (evidence_record), inside the world's school: by default
    its teacher scores its second student on its first target on its assessment. A status other than
    "scored" (missing, excused) records no score; `extra` goes to the service as it is (assessed_on,
    feedback, replaced_reason, ...). Returns the service's result (`.evidence`, `.mastery`)."""
    with scope(school=w.school):
        return evidence_record(
            school=w.school,
            recorded_by=by or w.teacher,
            student_id=(student or w.students[1]).id,
            target_id=(target or w.targets[0]).id,
            assessment_id=(assessment or w.assessment).id,
            score=score if status == "scored" else None,
            status=status,
            **extra,
        )


def make_photo(colour=(200, 30, 30), size=(64, 48), name: str = "work.jpg") -> SimpleUploadedFile:
    """A small JPEG as a browser uploads it."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG")
    return SimpleUploadedFile(name, out.getvalue(), content_type="image/jpeg")


def make_evidence_file(w: World) -> FileAttachment:
    """A photo on the evidence of the world's first student (w.student, who has the account and
    the guardian) on its first target, attached by the section's teacher."""
    evidence = make_evidence(w, w.student, w.targets[0], "3").evidence
    with scope(school=w.school):
        evidence_files_attach(
            school=w.school, evidence=evidence, uploads=[make_photo()], attached_by=w.teacher
        )
    with scopes_disabled():
        return FileAttachment.objects.filter(evidence=evidence, voided_at__isnull=True).first()


def make_submission(w: World) -> Submission:
    """Work the world's first student handed in on its first target (pending)."""
    with scopes_disabled():
        return Submission.objects.create(
            school=w.school,
            student=w.student,
            target=w.targets[0],
            section=w.section,
            title="Homework 4",
            note="Problem 4, with my working",
            submitted_by=w.student_user,
        )


def make_request(w: World):

    with scopes_disabled():
        return ReassessmentRequest.objects.create(
            school=w.school,
            student=w.students[1],
            target=w.targets[0],
            section=w.section,
            requested_by=w.student_user,
        )


def make_run(w: World):

    with scopes_disabled():
        policy = GradingPolicy.objects.get(school=w.school, course__isnull=True, is_current=True)
        return RecomputeRun.objects.create(school=w.school, policy=policy)


def make_intervention(w: World, *, weekdays=(2, 3)):
    """Math as the focus subject, the world's teachers available on the intervention days, and an
    open cycle starting this week's Monday (rosters built from whatever Mastery exists)."""

    with scope(school=w.school):
        w.department.intervention_focus = True
        w.department.save(update_fields=["intervention_focus"])
        InterventionSettings.objects.update_or_create(
            school=w.school, defaults={"weekdays": list(weekdays)}
        )
        for weekday in weekdays:
            for teacher, room in ((w.teacher, "101"), (w.other_teacher, "102")):
                InterventionSlot.objects.get_or_create(
                    school=w.school, teacher=teacher, weekday=weekday, defaults={"room": room}
                )
        today = date.today()
        return cycle_open(school=w.school, starts_on=today - timedelta(days=today.weekday()))


def api_objects(w: World) -> dict[str, int]:
    """The id of one object of each REST API resource of the world's school (a path parameter for
    every operation), after make_evidence and make_intervention (a reassessment request and the
    school's reassessment rules are made here when the world has none)."""
    with scopes_disabled():
        request = ReassessmentRequest.objects.filter(school=w.school).first() or make_request(w)
        rule, _ = ReassessmentRule.objects.get_or_create(school=w.school, course=None)
        return {
            "reassessment-requests": request.id,
            "self-assessments": (
                SelfAssessment.objects.filter(school=w.school, voided_at__isnull=True).first()
                or make_self_assessment(w)
            ).id,
            "reassessment-rules": rule.id,
            "students": w.students[1].id,
            "reports": w.students[1].id,
            "sections": w.section.id,
            "courses": w.course.id,
            "targets": w.targets[0].id,
            "competencies": w.competency.id,
            "departments": w.department.id,
            "assessments": w.assessment.id,
            "terms": w.term.id,
            "enrollments": w.students[1].enrollments.get().id,
            "evidence": Evidence.objects.filter(school=w.school).first().id,
            "mastery": Mastery.objects.filter(school=w.school).first().id,
            "cycles": InterventionCycle.objects.filter(school=w.school).first().id,
            "groups": InterventionGroup.objects.filter(school=w.school).first().id,
            "roster-entries": RosterEntry.objects.filter(school=w.school).first().id,
            "frameworks": framework_of(w).id,
            "evidence-files": (
                FileAttachment.objects.filter(school=w.school).first() or make_evidence_file(w)
            ).file_id,
            "submissions": (
                Submission.objects.filter(school=w.school).first() or make_submission(w)
            ).id,
            "posted-marks": make_posted_mark(w).id,
            "comment-bank": make_comment_entry(w).id,
        }


def make_attempt(w: World, student, target, value: str, *, days_ago: int = 7, feedback: str = ""):
    """A score recorded on an assessment of its own, `days_ago` days before the world's assessment
    (so several attempts of one target have an order)."""
    a = make_assessment(
        w.school, w.course, [target], on=w.assessment.assessed_on - timedelta(days=days_ago)
    )
    return make_evidence(w, student, target, value, assessment=a, feedback=feedback)


def make_self_assessment(
    w: World,
    score: str = "4",
    *,
    target: LearningTarget | None = None,
    reflection: str = "I can explain it to a friend.",
    days_ago: int = 0,
    token: str = "",
):
    """The world's first student (the one with an account) rates themselves through the service,
    on the world's first target by default, today."""
    with scope(school=w.school):
        return self_assessment_record(
            school=w.school,
            student=w.students[0],
            target=target or w.targets[0],
            score=score,
            reflection=reflection,
            recorded_by=w.student_user,
            token=token,
            assessed_on=date.today() - timedelta(days=days_ago),
        )


def marking_period(w: World, name: str = "Q1") -> GradingPeriod:
    """A grading period of the world's term, from its first day to a month ahead, its posting
    window left open (made once per world and name)."""
    with scopes_disabled():
        period, _ = GradingPeriod.objects.get_or_create(
            school=w.school,
            term=w.term,
            name=name,
            defaults={"starts_on": w.term.starts_on, "ends_on": date.today() + timedelta(days=30)},
        )
    return period


def make_posted_mark(w: World) -> PostedMark:
    """The world's section's marks posted as computed for marking_period (once), through the
    service by the section's teacher; returns the first student's mark on the first target."""
    period = marking_period(w)
    with scope(school=w.school):
        if not PostedMark.objects.filter(
            school=w.school, section=w.section, period=period
        ).exists():
            computed = section_marks_compute(school=w.school, section=w.section, period=period)
            section_marks_post(
                school=w.school,
                section=w.section,
                period=period,
                posted_by=w.teacher,
                entries=[MarkEntry(key=k, value=c.value) for k, c in computed.computed.items()],
                is_admin=False,
            )
        return (
            PostedMark.objects.filter(
                school=w.school,
                section=w.section,
                period=period,
                student=w.students[0],
                kind=PostedMark.Kind.TARGET,
                subject_id=w.targets[0].id,
            )
            .current()
            .get()
        )


def make_comment_entry(w: World, code: str = "M1") -> CommentBankEntry:
    """A comment bank entry of the school in English and Spanish (made once per code)."""
    with scopes_disabled():
        entry, _ = CommentBankEntry.objects.get_or_create(
            school=w.school,
            code=code,
            defaults={
                "texts": {
                    "en": "{first_name} explains their reasoning clearly.",
                    "es": "{first_name} explica su razonamiento con claridad.",
                }
            },
        )
    return entry


def make_sis_delivery(w: World) -> SisDelivery:
    """A delivery of grades to the SIS (a download of marking_period's files) by the school admin,
    as the SIS page's delivery page shows it (made once per world)."""
    with scopes_disabled():
        delivery, _ = SisDelivery.objects.get_or_create(
            school=w.school,
            period=marking_period(w),
            kind=SisDelivery.Kind.FILES,
            defaults={
                "status": SisDelivery.Status.DONE,
                "requested_by": w.admin,
                "counts": {"lineItems": 0, "results": 0, "mode": "delta"},
            },
        )
    return delivery
