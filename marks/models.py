"""The gradebook of record: the marks a teacher posts at the end of a grading period.

A posted mark's key (docs/marks.md): a student, a section (one course in one term), a grading
period of that term, and what is marked: a learning target of the course, the course grade, or a
habit of work. Its computed value is worked out from that course's evidence in that term up to
the period's last day, under that course's policy (marks.computing); the value posted is that
value or, with a reason, another one (an override).

Posted marks are append-only, like the audit trail: a re-post adds a version and the history stays.
The ORM refuses updates and deletes here, and on PostgreSQL a trigger refuses UPDATE and DELETE
whatever the client (migration 0001). The current mark of a key is its highest version.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager

from gradebook.models import GradingPeriod, Habit, Section, Student
from mastery.models import Department, GradingPolicy, LearningTarget, TenantModel


class MarksAreAppendOnly(Exception):
    """A posted mark was about to be changed or deleted: a re-post adds a version instead."""


class PostedMarkQuerySet(models.QuerySet):
    """Reads and inserts only, as for the audit trail."""

    def _refuse(self, *args, **kwargs):
        raise MarksAreAppendOnly("Posted marks are never changed or deleted; post a new version.")

    update = delete = bulk_update = update_or_create = _refuse

    def current(self) -> PostedMarkQuerySet:
        """Each key's latest version only."""
        newer = PostedMark.objects.filter(
            school=models.OuterRef("school"),
            student=models.OuterRef("student"),
            section=models.OuterRef("section"),
            period=models.OuterRef("period"),
            kind=models.OuterRef("kind"),
            subject_id=models.OuterRef("subject_id"),
            version__gt=models.OuterRef("version"),
        )
        return self.filter(~models.Exists(newer))

    def overridden(self) -> PostedMarkQuerySet:
        return self.exclude(value=F("computed_value"))


class CourseGradeForm(models.TextChoices):
    LETTER = "letter", _("Letter (A–F)")
    PERCENT = "percent", _("Percent (0–100)")
    GPA = "gpa", _("Grade points (4.0)")


class MarkSettings(TenantModel):
    """How the school shows the course grade of record (report cards, exports)."""

    course_grade_form = models.CharField(
        _("course grade shown as"),
        max_length=8,
        choices=CourseGradeForm.choices,
        default=CourseGradeForm.LETTER,
    )

    class Meta:
        verbose_name_plural = "mark settings"
        constraints = [models.UniqueConstraint(fields=["school"], name="mark_settings_one")]

    def __str__(self) -> str:
        return self.get_course_grade_form_display()


class CommentBankEntry(TenantModel):
    """A comment teachers pick when posting, in every language the school writes it in.

    Narrowed by department, target and level (each empty: any). `texts` maps a language code to
    its text; placeholders such as {first_name} are filled when the comment is posted. Retired,
    never deleted, once a posted mark quotes it.
    """

    department = models.ForeignKey(
        Department,
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="+",
        db_constraint=False,
    )
    target = models.ForeignKey(
        LearningTarget,
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="+",
        db_constraint=False,
    )
    level = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    code = models.CharField(
        max_length=12, help_text=_("A short handle teachers type to pick it, e.g. M3.")
    )
    texts = models.JSONField(default=dict)
    retired_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "comment bank entries"
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["school", "code"], name="comment_bank_unique_code"),
        ]

    def __str__(self) -> str:
        return f"{self.code}: {self.texts.get('en') or next(iter(self.texts.values()), '')}"


class PostedMark(TenantModel):
    """One version of one mark of record. Never changed: a re-post adds the next version."""

    class Kind(models.TextChoices):
        TARGET = "target", _("Learning target")
        COURSE = "course", _("Course grade")
        HABIT = "habit", _("Habit of work")

    school = models.ForeignKey(
        "mastery.School",
        on_delete=models.CASCADE,
        related_name="%(app_label)s_%(class)s_set",
        db_index=False,
    )
    student = models.ForeignKey(
        Student, on_delete=models.RESTRICT, related_name="+", db_index=False, db_constraint=False
    )
    section = models.ForeignKey(
        Section, on_delete=models.RESTRICT, related_name="+", db_index=False, db_constraint=False
    )
    period = models.ForeignKey(
        GradingPeriod,
        on_delete=models.RESTRICT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    target = models.ForeignKey(
        LearningTarget,
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    habit = models.ForeignKey(
        Habit,
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # The target's or habit's id, 0 for the course grade: one non-null column for the key, so the
    # version is unique per key with one plain unique constraint (NULLs are distinct in SQL).
    subject_id = models.BigIntegerField(default=0)
    version = models.PositiveIntegerField(default=1)
    # What the evidence gave on the period's last day, as shown ("" = not enough evidence), and
    # the score behind it (a target's score, the course's mean, a habit's mean).
    computed_value = models.CharField(max_length=8, blank=True)
    computed_score = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    explanation = models.TextField(blank=True)
    evidence_count = models.PositiveIntegerField(default=0)
    # What was posted ("" = no mark); different from the computed value only with a reason.
    value = models.CharField(max_length=8, blank=True)
    # For the course grade: the form its values are in (letter, percent, gpa).
    grade_form = models.CharField(max_length=8, choices=CourseGradeForm.choices, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    # The comment as posted, per language, placeholders filled ({} = none); from the bank when
    # `comment_entry` is set (its texts then, copied: a later edit of the bank changes nothing).
    comment = models.JSONField(default=dict, blank=True)
    comment_entry = models.ForeignKey(
        CommentBankEntry,
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    policy = models.ForeignKey(
        GradingPolicy,
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    posted_at = models.DateTimeField(default=timezone.now)
    # Posted by a school admin outside the period's posting window.
    outside_window = models.BooleanField(default=False)
    source = models.CharField(max_length=20, blank=True)

    objects = ScopedManager(models.Manager.from_queryset(PostedMarkQuerySet), school="school")

    class Meta:
        ordering = ["section_id", "student_id", "kind", "subject_id", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["school", "section", "period", "student", "kind", "subject_id", "version"],
                name="posted_mark_one_version",
            ),
            models.CheckConstraint(
                condition=(Q(kind="target") & Q(target__isnull=False) & Q(habit__isnull=True))
                | (Q(kind="course") & Q(target__isnull=True) & Q(habit__isnull=True))
                | (Q(kind="habit") & Q(habit__isnull=False) & Q(target__isnull=True)),
                name="posted_mark_subject_of_kind",
            ),
            # The key's subject is the target's or habit's own id (0: the course grade), so one
            # mark's versions can never be split over two subject ids by a raw insert.
            models.CheckConstraint(
                condition=(Q(kind="target") & Q(subject_id=F("target_id")))
                | (Q(kind="course") & Q(subject_id=0))
                | (Q(kind="habit") & Q(subject_id=F("habit_id"))),
                name="posted_mark_subject_id",
            ),
            models.CheckConstraint(
                condition=Q(value=F("computed_value")) | ~Q(reason=""),
                name="posted_mark_override_has_reason",
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="posted_mark_version"),
        ]
        indexes = [
            models.Index(fields=["school", "period", "section"], name="posted_mark_by_period"),
            models.Index(fields=["school", "student", "period"], name="posted_mark_by_student"),
        ]

    def __str__(self) -> str:
        return f"{self.student_id} · {self.kind} {self.subject_id} · {self.value or '—'} v{self.version}"

    @property
    def overridden(self) -> bool:
        return self.value != self.computed_value

    @property
    def key(self) -> tuple[int, str, int]:
        return (self.student_id, self.kind, self.subject_id)

    def comment_in(self, language: str, fallback: str = "en") -> str:
        """The comment in `language`, else the school's language, else any text it has."""
        texts = self.comment or {}
        return texts.get(language) or texts.get(fallback) or next(iter(texts.values()), "")

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise MarksAreAppendOnly("Posted marks are never changed; post a new version.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise MarksAreAppendOnly("Posted marks are never deleted.")
