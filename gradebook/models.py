"""Roster, assessments, evidence, mastery records and habits of work.

Evidence is never deleted: a changed score voids the old row (with a reason) and writes a new one,
so the full history of every cell stays in the table. Foreign keys from evidence use RESTRICT: a
student, target or assessment with evidence cannot be deleted on its own.

One module of ~700 lines on purpose: these tables refer to one another (evidence to assessments,
records to evidence), and it reads top to bottom from the roster to the evidence it carries.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mastery import calculation
from mastery.models import Department, GradingPolicy, LearningTarget, School, TenantModel


class SchoolYear(TenantModel):
    """A school year: the span a year's mastery is computed over (unless the policy carries
    earlier years), closed by the year rollover (years.services). Terms, sections and evidence
    belong to the year whose dates contain them."""

    name = models.CharField(max_length=40, help_text=_("e.g. 2026-2027"))
    starts_on = models.DateField()
    ends_on = models.DateField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-starts_on"]
        constraints = [
            models.UniqueConstraint(fields=["school", "name"], name="school_year_unique_name"),
            models.CheckConstraint(
                condition=Q(ends_on__gt=F("starts_on")), name="school_year_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def contains(self, day) -> bool:
        return self.starts_on <= day <= self.ends_on


class Term(TenantModel):
    name = models.CharField(max_length=80)
    starts_on = models.DateField()
    ends_on = models.DateField()
    closed_at = models.DateTimeField(
        null=True, blank=True, help_text=_("Set when its school year was closed.")
    )

    class Meta:
        ordering = ["-starts_on"]
        constraints = [
            models.UniqueConstraint(fields=["school", "name"], name="term_unique_name"),
            models.CheckConstraint(
                condition=Q(ends_on__gt=F("starts_on")), name="term_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def contains(self, day) -> bool:
        return self.starts_on <= day <= self.ends_on


class GradingPeriod(TenantModel):
    term = models.ForeignKey(Term, on_delete=models.CASCADE, related_name="grading_periods")
    name = models.CharField(max_length=80)
    starts_on = models.DateField()
    ends_on = models.DateField()
    # The posting window (marks): teachers post the period's marks from the first day to the
    # last, both in the school's time zone; empty ends leave that side open. Outside it only a
    # school admin posts (audited).
    posting_opens_on = models.DateField(_("posting opens on"), null=True, blank=True)
    posting_closes_on = models.DateField(_("posting closes on"), null=True, blank=True)

    class Meta:
        ordering = ["starts_on"]
        constraints = [
            models.UniqueConstraint(fields=["school", "term", "name"], name="period_unique_name"),
            models.CheckConstraint(
                condition=Q(ends_on__gt=F("starts_on")), name="period_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(posting_opens_on__isnull=True)
                | Q(posting_closes_on__isnull=True)
                | Q(posting_closes_on__gte=F("posting_opens_on")),
                name="period_posting_window_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.term} · {self.name}"

    def posting_open_on(self, day) -> bool:
        """Whether teachers may post this period's marks on `day` (the school's date)."""
        opens, closes = self.posting_opens_on, self.posting_closes_on
        return (opens is None or day >= opens) and (closes is None or day <= closes)


class Course(TenantModel):
    department = models.ForeignKey(Department, on_delete=models.RESTRICT, related_name="courses")
    code = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    grade_levels = models.CharField(max_length=40, blank=True, help_text=_("e.g. 9 or 9-10"))
    description = models.TextField(blank=True)
    targets = models.ManyToManyField(
        LearningTarget, through="CourseTarget", related_name="courses", blank=True
    )

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["school", "code"], name="course_unique_code"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class CourseTarget(TenantModel):
    """The learning targets a course scores and reports, in the order teachers see them."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="course_targets")
    target = models.ForeignKey(
        LearningTarget, on_delete=models.RESTRICT, related_name="course_targets"
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(
                fields=["school", "course", "target"], name="course_target_unique"
            ),
        ]


class Section(TenantModel):
    """A class of a course taught by one or more teachers in a term."""

    course = models.ForeignKey(Course, on_delete=models.RESTRICT, related_name="sections")
    term = models.ForeignKey(Term, on_delete=models.RESTRICT, related_name="sections")
    name = models.CharField(max_length=80, help_text=_("e.g. Period 2"))
    period = models.PositiveSmallIntegerField(null=True, blank=True)
    room = models.CharField(max_length=40, blank=True)
    archived_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("Set when its school year was closed: readable, no longer on the home page."),
    )
    teachers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="SectionTeacher", related_name="sections", blank=True
    )

    class Meta:
        ordering = ["course__code", "period", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["school", "term", "course", "name"], name="section_unique_name"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.course.name} · {self.name}"


class SectionTeacher(TenantModel):
    section = models.ForeignKey(Section, on_delete=models.CASCADE, related_name="section_teachers")
    teacher = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="section_teachings"
    )
    is_primary = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["school", "section", "teacher"], name="section_teacher_unique"
            ),
        ]
        indexes = [models.Index(fields=["school", "teacher"], name="section_teacher_by_teacher")]


class Student(TenantModel):
    local_id = models.CharField(_("student number"), max_length=40)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    preferred_name = models.CharField(max_length=100, blank=True)
    grade_level = models.PositiveSmallIntegerField(null=True, blank=True)
    preferred_language = models.CharField(
        _("family's preferred language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="student_records",
        help_text=_("The student's own login, for the student portal."),
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["last_name", "first_name"]
        constraints = [
            models.UniqueConstraint(fields=["school", "local_id"], name="student_unique_local_id"),
            models.UniqueConstraint(
                fields=["school", "user"],
                condition=Q(user__isnull=False),
                name="student_unique_user",
            ),
        ]
        indexes = [models.Index(fields=["school", "last_name", "first_name"], name="student_name")]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return f"{self.preferred_name or self.first_name} {self.last_name}"

    @property
    def sortable_name(self) -> str:
        return f"{self.last_name}, {self.preferred_name or self.first_name}"


class Enrollment(TenantModel):
    section = models.ForeignKey(Section, on_delete=models.CASCADE, related_name="enrollments")
    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="enrollments")
    enrolled_on = models.DateField(default=timezone.localdate)
    withdrawn_on = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["school", "section", "student"], name="enrollment_unique"
            ),
        ]
        indexes = [models.Index(fields=["school", "student"], name="enrollment_by_student")]

    def __str__(self) -> str:
        return f"{self.student} in {self.section}"

    @property
    def is_active(self) -> bool:
        return self.withdrawn_on is None


class Guardianship(TenantModel):
    guardian = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="guardianships"
    )
    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="guardianships")
    relationship = models.CharField(
        max_length=40, blank=True, help_text=_("e.g. mother, grandfather")
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["school", "guardian", "student"], name="guardianship_unique"
            ),
        ]
        indexes = [models.Index(fields=["school", "student"], name="guardianship_by_student")]

    def __str__(self) -> str:
        return f"{self.guardian} → {self.student}"


class AssessmentKind(models.TextChoices):
    PRE = "pre", _("Pre-assessment")
    FORMATIVE = "formative", _("Formative")
    SUMMATIVE = "summative", _("Summative")
    INTERIM = "interim", _("Interim")
    REASSESSMENT = "reassessment", _("Reassessment")


class Assessment(TenantModel):
    """A task aligned to one or more targets, common to a course or given in one section."""

    title = models.CharField(max_length=200)
    kind = models.CharField(
        max_length=20, choices=AssessmentKind.choices, default=AssessmentKind.FORMATIVE
    )
    assessed_on = models.DateField(_("date"))
    course = models.ForeignKey(Course, on_delete=models.RESTRICT, related_name="assessments")
    section = models.ForeignKey(
        Section,
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="assessments",
        help_text=_("Empty: common to every section of the course."),
    )
    tier = models.CharField(max_length=40, blank=True, help_text=_("e.g. Tier 2, for tiered tasks"))
    original = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="reassessments",
        help_text=_("For a reassessment: the assessment it retakes."),
    )
    description = models.TextField(blank=True)
    targets = models.ManyToManyField(
        LearningTarget, through="AssessmentTarget", related_name="assessments"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The one-time token of the form that made it (the cell detail's "Record the reassessment"):
    # the same form sent twice (a double click) finds the attempt it already made.
    submission_token = models.UUIDField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-assessed_on", "title"]
        constraints = [
            models.CheckConstraint(
                condition=Q(original__isnull=True) | Q(kind="reassessment"),
                name="assessment_original_only_for_reassessment",
            ),
            models.UniqueConstraint(
                fields=["school", "submission_token"],
                condition=Q(submission_token__isnull=False),
                name="assessment_submission_token_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["school", "course", "assessed_on"], name="assessment_by_course"),
            models.Index(fields=["school", "section"], name="assessment_by_section"),
        ]

    def __str__(self) -> str:
        return self.title


class AssessmentTarget(TenantModel):
    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="alignments")
    target = models.ForeignKey(LearningTarget, on_delete=models.RESTRICT, related_name="alignments")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["school", "assessment", "target"], name="assessment_target_unique"
            ),
        ]


class EvidenceStatus(models.TextChoices):
    SCORED = "scored", _("Scored")
    MISSING = "missing", _("Missing")
    EXCUSED = "excused", _("Excused")
    INCOMPLETE = "incomplete", _("Incomplete")
    INSUFFICIENT = "insufficient", _("Insufficient evidence")


class Voidable(models.Model):
    """A row that is never deleted: it is voided, with who, when and why."""

    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    void_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        abstract = True

    @property
    def is_voided(self) -> bool:
        return self.voided_at is not None

    def void(self, *, by, reason: str, at=None) -> None:
        self.voided_at, self.voided_by, self.void_reason = at or timezone.now(), by, reason
        self.save(update_fields=["voided_at", "voided_by", "void_reason"])


class Evidence(TenantModel, Voidable):
    """One attempt: student × target × assessment, a score or a status. Voided, never deleted."""

    # The biggest table (about 18 million rows in a district): no single-column index on its
    # foreign keys. Every read leads with the school (the composite indexes in Meta serve them),
    # and each extra index is maintained on every score a teacher records.
    school = models.ForeignKey(
        School, on_delete=models.CASCADE, related_name="%(app_label)s_%(class)s_set", db_index=False
    )
    student = models.ForeignKey(
        Student, on_delete=models.RESTRICT, related_name="evidence", db_index=False
    )
    target = models.ForeignKey(
        LearningTarget, on_delete=models.RESTRICT, related_name="evidence", db_index=False
    )
    assessment = models.ForeignKey(
        Assessment, on_delete=models.RESTRICT, related_name="evidence", db_index=False
    )
    score = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    status = models.CharField(
        max_length=20, choices=EvidenceStatus.choices, default=EvidenceStatus.SCORED
    )
    # Copied from the assessment so the recompute reads one table (counted kinds are per policy).
    kind = models.CharField(max_length=20, choices=AssessmentKind.choices)
    assessed_on = models.DateField(_("evidence date"))
    feedback = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    recorded_at = models.DateTimeField(default=timezone.now)
    replaces = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="replaced_by",
        help_text=_("The earlier score on the same cell that this one replaced."),
    )

    class Meta:
        verbose_name_plural = "evidence"
        constraints = [
            # One live score per cell; changes void the old row and insert a new one.
            models.UniqueConstraint(
                fields=["school", "student", "target", "assessment"],
                condition=Q(voided_at__isnull=True),
                name="evidence_one_live_per_cell",
            ),
            models.CheckConstraint(
                condition=(Q(status="scored") & Q(score__isnull=False))
                | (~Q(status="scored") & Q(score__isnull=True)),
                name="evidence_score_iff_scored",
            ),
            models.CheckConstraint(
                condition=Q(voided_at__isnull=True)
                | (Q(voided_by__isnull=False) & ~Q(void_reason="")),
                name="evidence_void_has_who_and_why",
            ),
            models.CheckConstraint(
                condition=Q(status__in=calculation.STATUSES), name="evidence_known_status"
            ),
        ]
        indexes = [
            models.Index(
                fields=["school", "student", "target", "assessed_on", "id"], name="evidence_by_pair"
            ),
            models.Index(fields=["school", "assessment"], name="evidence_by_assessment"),
            models.Index(fields=["school", "target"], name="evidence_by_target"),
            # Feedback given (the cadence on the grid and the home page): the few live rows with
            # feedback, by student, without reading every score of the class.
            models.Index(
                fields=["school", "student", "assessment", "recorded_at"],
                condition=Q(voided_at__isnull=True) & ~Q(feedback=""),
                name="evidence_with_feedback",
            ),
        ]

    def __str__(self) -> str:
        value = calculation.fmt(self.score) if self.score is not None else self.get_status_display()
        return f"{self.student} · {self.target.code} · {value}"

    def as_engine_evidence(self) -> calculation.Evidence:
        return calculation.Evidence(
            score=self.score, assessed_on=self.assessed_on, kind=self.kind, status=self.status
        )


class Mastery(TenantModel):
    """The current computed result of one student on one target, with how it was computed."""

    # Rewritten in place by every school recompute: only the indexes its reads need (the unique
    # pair, by target), so a recompute's updates stay HOT (heap-only, no index entries) in the
    # free space the migration's fillfactor leaves on each page.
    school = models.ForeignKey(
        School, on_delete=models.CASCADE, related_name="%(app_label)s_%(class)s_set", db_index=False
    )
    student = models.ForeignKey(
        Student, on_delete=models.CASCADE, related_name="mastery_records", db_index=False
    )
    target = models.ForeignKey(
        LearningTarget, on_delete=models.CASCADE, related_name="mastery_records", db_index=False
    )
    score = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    level = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    mastered = models.BooleanField(default=False)
    evidence_count = models.PositiveIntegerField(
        default=0, help_text=_("Live evidence of any status.")
    )
    scores_counted = models.PositiveIntegerField(default=0)
    last_evidence_on = models.DateField(null=True, blank=True)
    explanation = models.TextField(blank=True)
    # The policy version that computed the record. No database constraint: a policy change
    # rewrites this column on every record of the school, and PostgreSQL checks a foreign key per
    # changed row at commit (180,000 checks, 1.3 s of a 2,000-student recompute's commit). The
    # recompute writes only the id of a policy row it read in the same transaction, and policy
    # versions are never deleted (RESTRICT still refuses it in Django), so nothing can dangle.
    policy = models.ForeignKey(
        GradingPolicy,
        null=True,
        on_delete=models.RESTRICT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "mastery records"
        constraints = [
            models.UniqueConstraint(
                fields=["school", "student", "target"], name="mastery_unique_pair"
            ),
        ]
        indexes = [
            models.Index(fields=["school", "target", "mastered"], name="mastery_by_target"),
        ]

    def __str__(self) -> str:
        shown = calculation.fmt(self.score) if self.score is not None else "insufficient evidence"
        return f"{self.student} · {self.target.code} · {shown}"


class Habit(TenantModel):
    """A habit of work (effort, participation, practice): its own scale, never mixed into achievement."""

    name = models.CharField(max_length=80)
    description = models.CharField(max_length=300, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        constraints = [models.UniqueConstraint(fields=["school", "name"], name="habit_unique_name")]

    def __str__(self) -> str:
        return self.name


class HabitScore(TenantModel, Voidable):
    student = models.ForeignKey(Student, on_delete=models.RESTRICT, related_name="habit_scores")
    habit = models.ForeignKey(Habit, on_delete=models.RESTRICT, related_name="scores")
    section = models.ForeignKey(Section, on_delete=models.RESTRICT, related_name="habit_scores")
    score = models.DecimalField(max_digits=4, decimal_places=2)
    assessed_on = models.DateField()
    comment = models.CharField(max_length=300, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(
                fields=["school", "student", "habit", "assessed_on"], name="habit_score_by_student"
            ),
            models.Index(
                fields=["school", "section", "assessed_on"], name="habit_score_by_section"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.student} · {self.habit} · {calculation.fmt(self.score)}"


class ReassessmentRule(TenantModel):
    """A school's rules for reassessment (no course), or one course's own rules.

    Stated in words on the policy page, the portal and the report
    (grading.rules.rules_statement) and checked when a request is made.
    Edited in place, every change audited: the rules govern requests, not scores, so unlike a
    grading policy they need no versions to recompute from.
    """

    course = models.ForeignKey(
        "Course",
        db_constraint=False,  # (school_id, …) in the database: mastery/citus.py
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="reassessment_rules",
        help_text=_("Empty: the school's rules. Set: this course's own rules."),
    )
    students_may_request = models.BooleanField(default=True)
    families_may_request = models.BooleanField(default=False)
    teachers_may_request = models.BooleanField(
        default=True, help_text=_("A teacher may note a request on a student's behalf.")
    )
    requires_practice = models.BooleanField(
        default=True,
        help_text=_(
            "Before asking, the student has practised since the last attempt: a formative score "
            "on the target, or an intervention session on it attended."
        ),
    )
    max_per_period = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(20)],
        help_text=_("Reassessments per target per grading period; empty: no limit."),
    )
    min_days_after = models.PositiveSmallIntegerField(
        default=3,
        validators=[MaxValueValidator(60)],
        help_text=_("Not within this many days of the attempt being retaken."),
    )
    closes_days_before_end = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(30)],
        help_text=_("Requests close this many days before the grading period ends."),
    )
    expires_after_days = models.PositiveSmallIntegerField(
        default=7,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text=_("A scheduled reassessment not scored this many days after its date expires."),
    )
    note = models.CharField(
        max_length=500, blank=True, help_text=_("Anything else students and families should know.")
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["school"],
                condition=Q(course__isnull=True),
                name="reassessment_rule_one_school",
            ),
            models.UniqueConstraint(
                fields=["school", "course"],
                condition=Q(course__isnull=False),
                name="reassessment_rule_one_course",
            ),
        ]

    def __str__(self) -> str:
        return f"Reassessment rules · {self.course or 'school'}"


class ReassessmentRequest(TenantModel):
    """A request to be reassessed on a target: made by the student, a family member or a
    teacher, accepted (scheduled, possibly with others into one sitting) or declined with a
    reason, then completed by the reassessment's score, or expired, or withdrawn."""

    class Status(models.TextChoices):
        OPEN = "open", _("Waiting for the teacher")
        SCHEDULED = "scheduled", _("Scheduled")
        COMPLETED = "completed", _("Completed")
        DECLINED = "declined", _("Declined")
        EXPIRED = "expired", _("Expired")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    LIVE = ("open", "scheduled")

    student = models.ForeignKey(
        Student, on_delete=models.CASCADE, related_name="reassessment_requests"
    )
    target = models.ForeignKey(
        LearningTarget, on_delete=models.CASCADE, related_name="reassessment_requests"
    )
    section = models.ForeignKey(
        Section,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reassessment_requests",
    )
    period = models.ForeignKey(
        GradingPeriod,
        db_constraint=False,  # (school_id, …) in the database: mastery/citus.py
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reassessment_requests",
        help_text=_("The grading period it counts in (for the per-period limit)."),
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)
    rules = models.JSONField(
        default=list,
        blank=True,
        help_text=_("The rules checked when it was made, in words, and whether each was met."),
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    scheduled_on = models.DateField(null=True, blank=True)
    sitting = models.ForeignKey(
        "Assessment",
        db_constraint=False,  # (school_id, …) in the database: mastery/citus.py
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="requests",
        help_text=_("The reassessment the accepted request was scheduled into."),
    )
    decline_reason = models.CharField(max_length=300, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    evidence = models.ForeignKey(
        Evidence,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("The reassessment score that completed the request."),
    )

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["school", "status", "section"], name="reassessment_request_open")
        ]
        constraints = [
            # One live request per student and target: a double tap on "Send" makes one.
            models.UniqueConstraint(
                fields=["school", "student", "target"],
                condition=Q(status__in=["open", "scheduled"]),
                name="reassessment_request_one_live",
            ),
            models.CheckConstraint(
                condition=~Q(status="declined") | ~Q(decline_reason=""),
                name="reassessment_request_declined_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.student} · {self.target.code} · {self.get_status_display()}"

    @property
    def live(self) -> bool:
        return self.status in self.LIVE


class RecomputeRun(TenantModel):
    """One recompute of a school's Mastery records (after a policy change): what the page polls."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    policy = models.ForeignKey(GradingPolicy, on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    pairs = models.PositiveIntegerField(default=0)
    written = models.PositiveIntegerField(default=0)
    # Results whose level changed, told apart from `written` (every record names the new version):
    # the count a policy preview predicts. Empty for runs recorded before it was counted.
    level_changes = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-queued_at"]
        indexes = [models.Index(fields=["school", "status"], name="recompute_run_status")]

    def __str__(self) -> str:
        return f"Recompute {self.get_status_display()} ({self.queued_at:%Y-%m-%d %H:%M})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


class AssessmentFeedback(TenantModel):
    """The teacher's comment to one student on one assessment (one per student and assessment)."""

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="feedback")
    student = models.ForeignKey(
        Student, on_delete=models.CASCADE, related_name="assessment_feedback"
    )
    text = models.TextField()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["school", "assessment", "student"], name="assessment_feedback_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.student} · {self.assessment}"


class ScoringUndo(TenantModel):
    """One step of a teacher's undo stack in a scoring grid.

    A table rather than the session: cell saves arrive concurrently, and each request rewriting
    the session would lose the others' entries.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="+")
    action = models.JSONField()
    description = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["school", "user", "assessment", "id"], name="scoring_undo_stack")
        ]

    def __str__(self) -> str:
        return self.description


class RosterSource(TenantModel):
    """Where a rostered record came from: one OneRoster row (kind + sourcedId) → the object it made.

    Imports upsert through this table: a row seen before updates its object, a new one creates it.
    One row may make several objects (a user: a Student and a login), hence `target`. The
    fingerprint is a hash of the row as last imported: an unchanged row is not written again, so
    a re-import changes nothing (and an edit made in the app survives until the SIS changes the row).
    """

    class Kind(models.TextChoices):
        ORG = "org", "org"
        ACADEMIC_SESSION = "academicSession", "academicSession"
        COURSE = "course", "course"
        CLASS = "class", "class"
        USER = "user", "user"
        ROLE = "role", "role"
        ENROLLMENT = "enrollment", "enrollment"

    class Target(models.TextChoices):
        SCHOOL = "school", _("School")
        DISTRICT = "district", _("District")
        TERM = "term", _("Term")
        GRADING_PERIOD = "grading_period", _("Grading period")
        COURSE = "course", _("Course")
        SECTION = "section", _("Section")
        STUDENT = "student", _("Student")
        USER = "user", _("User")
        MEMBERSHIP = "membership", _("Membership")
        ENROLLMENT = "enrollment", _("Enrollment")
        SECTION_TEACHER = "section_teacher", _("Section teacher")

    kind = models.CharField(max_length=20, choices=Kind.choices)
    sourced_id = models.CharField(_("sourcedId"), max_length=255)
    target = models.CharField(max_length=20, choices=Target.choices)
    object_id = models.BigIntegerField()
    fingerprint = models.CharField(max_length=64)
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["school", "kind", "sourced_id", "target"], name="roster_source_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.sourced_id} → {self.target} {self.object_id}"


class YearEndMastery(TenantModel):
    """A student's mastery of a target as it stood when a school year was closed.

    Written once by the year rollover (set-based, ON CONFLICT DO NOTHING: a second run adds
    nothing), read as last year's context by the next year's teachers, never as a grade.
    """

    # (school_id, …) keys and references in the database: mastery/citus.py
    year = models.ForeignKey(
        SchoolYear, on_delete=models.RESTRICT, related_name="year_end", db_constraint=False
    )
    student = models.ForeignKey(
        Student, on_delete=models.RESTRICT, related_name="year_end", db_constraint=False
    )
    target = models.ForeignKey(
        LearningTarget, on_delete=models.RESTRICT, related_name="year_end", db_constraint=False
    )
    score = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    level = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    mastered = models.BooleanField(default=False)
    evidence_count = models.PositiveIntegerField(default=0)
    last_evidence_on = models.DateField(null=True, blank=True)
    explanation = models.TextField(blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["school", "year", "student", "target"], name="year_end_mastery_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["school", "student", "target"], name="year_end_mastery_pair")
        ]

    def __str__(self) -> str:
        return f"{self.year} · {self.student} · {self.target.code}"


class SelfAssessment(TenantModel, Voidable):
    """A student's rating of themselves on a learning target, on the school's scale, with a short
    reflection; a teacher may answer it.

    A history, like attempts: rating the same target again later writes a new row, never edits
    one; the student may withdraw (void) their own, which then counts nowhere and is shown to
    nobody else. Never counted by the calculation unless the governing policy's
    `count_self_assessment` says so (then as evidence of kind "self", on `assessed_on`).
    """

    REFLECTION_MAX = 1000
    REPLY_MAX = 1000

    # (school_id, …) keys and references in the database: mastery/citus.py
    student = models.ForeignKey(
        Student, on_delete=models.RESTRICT, related_name="self_assessments", db_constraint=False
    )
    target = models.ForeignKey(
        LearningTarget,
        on_delete=models.RESTRICT,
        related_name="self_assessments",
        db_constraint=False,
    )
    score = models.DecimalField(max_digits=4, decimal_places=2)
    reflection = models.TextField(blank=True)
    assessed_on = models.DateField(default=timezone.localdate)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # The form's one-time token: a double tap on "Save" records one rating (unique below).
    submission_token = models.UUIDField(null=True, blank=True, editable=False)
    reply = models.TextField(blank=True)
    replied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    replied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["assessed_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["school", "submission_token"],
                condition=Q(submission_token__isnull=False),
                name="self_assessment_token_unique",
            ),
            models.CheckConstraint(
                condition=Q(voided_at__isnull=True)
                | (Q(voided_by__isnull=False) & ~Q(void_reason="")),
                name="self_assessment_void_has_who_and_why",
            ),
        ]
        indexes = [
            models.Index(
                fields=["school", "student", "target", "assessed_on", "id"],
                name="self_assessment_by_pair",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.student} · {self.target.code} · {calculation.fmt(self.score)} (self)"

    def as_engine_evidence(self) -> calculation.Evidence:
        return calculation.Evidence(
            score=self.score, assessed_on=self.assessed_on, kind=calculation.SELF
        )


# --- Evidence files and student submissions (docs/files.md) ------------------------------------


class EvidenceStore(Storage):
    """The named storage "evidence" (config/settings.py STORAGES): the file system under
    MEDIA_ROOT by default, an S3-compatible bucket in production. Looked up at each use rather
    than when the models load, so the migrations do not freeze whichever backend was configured
    when they were written, and a changed STORAGES setting (a test's store) is followed."""

    @staticmethod
    def backend() -> Storage:
        return storages["evidence"]

    def open(self, name, mode="rb"):
        return self.backend().open(name, mode)

    def save(self, name, content, max_length=None):
        return self.backend().save(name, content, max_length=max_length)

    def exists(self, name):
        return self.backend().exists(name)

    def delete(self, name):
        return self.backend().delete(name)

    def size(self, name):
        return self.backend().size(name)

    def path(self, name):
        return self.backend().path(name)

    def url(self, name):
        # Never a public address: files are read through the authorized download view.
        raise NotImplementedError("Evidence files have no URL; use gradebook:file_download.")

    def listdir(self, path):
        return self.backend().listdir(path)

    def generate_filename(self, filename):
        return self.backend().generate_filename(filename)


_evidence_store = EvidenceStore()


def evidence_storage() -> EvidenceStore:
    return _evidence_store


class EvidenceFile(TenantModel, Voidable):
    """One stored file: a photo or a PDF of a student's work, or of a task.

    Stored under an unguessable school-scoped name (schools/<school>/evidence/<uuid>.<ext>) and
    never at a public URL: it is read only through the authorized download view. Images are
    re-encoded without their metadata (no GPS, no device), so `size` and `sha256` describe the
    stored bytes, not the upload. `original_name` is for display only, never a path.
    """

    class Kind(models.TextChoices):
        JPEG = "image/jpeg", "JPEG"
        PNG = "image/png", "PNG"
        WEBP = "image/webp", "WebP"
        PDF = "application/pdf", "PDF"

    file = models.FileField(storage=evidence_storage, max_length=255)
    thumbnail = models.FileField(storage=evidence_storage, max_length=255, blank=True)
    content_type = models.CharField(max_length=40, choices=Kind.choices)
    # What the upload was, by its content, when it was converted (a phone's HEIC → JPEG).
    converted_from = models.CharField(max_length=40, blank=True)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    original_name = models.CharField(max_length=200)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["uploaded_at", "id"]
        indexes = [models.Index(fields=["school", "sha256"], name="evidence_file_by_hash")]
        constraints = [
            models.CheckConstraint(
                condition=Q(voided_at__isnull=True)
                | (Q(voided_by__isnull=False) & ~Q(void_reason="")),
                name="evidence_file_void_has_who_and_why",
            ),
        ]

    def __str__(self) -> str:
        return self.original_name

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


class Submission(TenantModel):
    """Work a student hands in on a target: pending until a teacher scores it, and counted for
    nothing until then (the calculation reads Evidence only). Scoring makes an assessment in the
    student's section and the Evidence on it; the files follow."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for the teacher")
        SCORED = "scored", _("Scored")
        RETURNED = "returned", _("Returned")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    # (school_id, …) keys and references in the database: mastery/citus.py
    student = models.ForeignKey(
        Student, on_delete=models.RESTRICT, related_name="submissions", db_constraint=False
    )
    target = models.ForeignKey(
        LearningTarget, on_delete=models.RESTRICT, related_name="submissions", db_constraint=False
    )
    section = models.ForeignKey(
        Section,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="submissions",
        db_constraint=False,
    )
    title = models.CharField(max_length=200)
    note = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField(default=timezone.now)
    # The one-time token of the form that made it: the same form sent twice makes one.
    submission_token = models.UUIDField(null=True, blank=True, editable=False)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    response = models.CharField(max_length=500, blank=True)
    evidence = models.ForeignKey(
        Evidence,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="submissions",
        db_constraint=False,
        help_text=_("The evidence it became when a teacher scored it."),
    )

    class Meta:
        ordering = ["-submitted_at", "-id"]
        indexes = [
            models.Index(fields=["school", "status", "section"], name="submission_by_status"),
            models.Index(fields=["school", "student", "target"], name="submission_by_pair"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["school", "submission_token"],
                condition=Q(submission_token__isnull=False),
                name="submission_token_unique",
            ),
            models.CheckConstraint(
                condition=~Q(status="scored") | Q(evidence__isnull=False),
                name="submission_scored_has_evidence",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.student} · {self.target.code} · {self.title}"


class FileAttachment(TenantModel, Voidable):
    """A file on one thing: a piece of evidence, an assessment (the task, an answer key), or a
    student's submission. One file may sit on several (a group photo on each student's
    evidence): `student` says whose work it is shown as, so one file on several students is
    seen and flagged. Voided with the evidence it is on; the file itself is kept."""

    # (school_id, …) keys and references in the database: mastery/citus.py
    file = models.ForeignKey(
        EvidenceFile, on_delete=models.RESTRICT, related_name="attachments", db_constraint=False
    )
    evidence = models.ForeignKey(
        Evidence,
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="attachments",
        db_constraint=False,
    )
    assessment = models.ForeignKey(
        Assessment,
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="attachments",
        db_constraint=False,
    )
    submission = models.ForeignKey(
        Submission,
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="attachments",
        db_constraint=False,
    )
    student = models.ForeignKey(
        Student,
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="attachments",
        db_constraint=False,
    )
    attached_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    attached_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["attached_at", "id"]
        indexes = [
            models.Index(fields=["school", "evidence"], name="attachment_by_evidence"),
            models.Index(fields=["school", "assessment"], name="attachment_by_assessment"),
            models.Index(fields=["school", "submission"], name="attachment_by_submission"),
            models.Index(fields=["school", "file"], name="attachment_by_file"),
            models.Index(fields=["school", "student"], name="attachment_by_student"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(evidence__isnull=False)
                    & Q(assessment__isnull=True)
                    & Q(submission__isnull=True)
                )
                | (
                    Q(evidence__isnull=True)
                    & Q(assessment__isnull=False)
                    & Q(submission__isnull=True)
                )
                | (
                    Q(evidence__isnull=True)
                    & Q(assessment__isnull=True)
                    & Q(submission__isnull=False)
                ),
                name="attachment_on_one_thing",
            ),
            models.CheckConstraint(
                condition=Q(assessment__isnull=False) | Q(student__isnull=False),
                name="attachment_student_work_has_student",
            ),
            models.CheckConstraint(
                condition=Q(voided_at__isnull=True)
                | (Q(voided_by__isnull=False) & ~Q(void_reason="")),
                name="attachment_void_has_who_and_why",
            ),
            models.UniqueConstraint(
                fields=["school", "file", "evidence"],
                condition=Q(voided_at__isnull=True, evidence__isnull=False),
                name="attachment_once_per_evidence",
            ),
            models.UniqueConstraint(
                fields=["school", "file", "assessment"],
                condition=Q(voided_at__isnull=True, assessment__isnull=False),
                name="attachment_once_per_assessment",
            ),
            models.UniqueConstraint(
                fields=["school", "file", "submission"],
                condition=Q(voided_at__isnull=True, submission__isnull=False),
                name="attachment_once_per_submission",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.file} on {self.evidence_id or self.assessment_id or self.submission_id}"
