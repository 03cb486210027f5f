"""Core models: people and tenancy, the learning framework, the scale and the grading policy.

Every tenant table inherits `TenantModel`: a non-null `school`, a django-scopes manager that
refuses to run a query outside a school scope, unique constraints and indexes that lead with
`school` (docs/design.md section 4).

One module of ~750 lines on purpose: Django finds an app's models here, the tables refer to each
other, and the file reads top to bottom by section (tenancy, people, framework, scale, policy,
audit).
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager

from mastery import calculation

slug_validator = RegexValidator(
    r"^[a-z0-9]+(?:-[a-z0-9]+)*$", _("Use lowercase letters, digits and single hyphens.")
)


# --- People ------------------------------------------------------------------------------------


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    @staticmethod
    def normalize_address(email: str) -> str:
        # The whole address is compared case-insensitively: people type their email many ways.
        return (email or "").strip().lower()

    def get_by_natural_key(self, username: str) -> User:
        return self.get(email=self.normalize_address(username))

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        if not email:
            raise ValueError("Users need an email address")
        user = self.model(email=self.normalize_address(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """Anyone who logs in: staff, students and guardians. Logs in by email."""

    email = models.EmailField(_("email"), unique=True)
    full_name = models.CharField(_("full name"), max_length=200)
    preferred_language = models.CharField(
        _("preferred language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    is_active = models.BooleanField(default=True)
    # Django admin access for superusers; school admins reach the admin through their membership.
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # When the activation email (a link to choose a first password) went out for an account made
    # by an import or by a school admin; empty until then. Sending claims it first, so a task run
    # twice sends once (mastery.accounts.activations_send).
    activation_sent_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        ordering = ["full_name", "email"]

    def __str__(self) -> str:
        return self.full_name or self.email

    def clean(self) -> None:
        super().clean()
        self.email = User.objects.normalize_address(self.email)

    def get_full_name(self) -> str:
        return self.full_name

    @property
    def is_activated(self) -> bool:
        """Whether the person has set credentials: until then (an imported or admin-made account)
        it waits for its owner's activation link."""
        return self.has_usable_password()

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class District(models.Model):
    """Groups schools; district admins read across its schools. A global table."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True, validators=[slug_validator])
    # Off: the district's staff and students sign in only through its identity provider
    # (mastery.sso); their password, reset and activation paths are closed (mastery.accounts).
    password_signin = models.BooleanField(
        _("staff and students may also sign in with a password"), default=True
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class School(models.Model):
    """The tenant: owns its policy, scale, targets, sections and cycles."""

    district = models.ForeignKey(
        District, null=True, blank=True, on_delete=models.PROTECT, related_name="schools"
    )
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True, validators=[slug_validator])
    timezone = models.CharField(max_length=64, default="America/Los_Angeles")
    default_language = models.CharField(max_length=8, choices=settings.LANGUAGES, default="en")
    feedback_interval_days = models.PositiveSmallIntegerField(
        _("feedback interval (days)"),
        default=14,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text=_(
            "Every student should receive feedback (a comment, or a score with feedback) at "
            "least this often; the grid and the teacher's home list who has gone longer."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TenantModel(models.Model):
    """A row that belongs to one school. Queries outside a school scope raise ScopeError."""

    school = models.ForeignKey(
        School, on_delete=models.CASCADE, related_name="%(app_label)s_%(class)s_set"
    )

    objects = ScopedManager(school="school")

    class Meta:
        abstract = True


class Role(models.TextChoices):
    SCHOOL_ADMIN = "school_admin", _("School admin")
    TEACHER = "teacher", _("Teacher")
    COUNSELOR = "counselor", _("Counselor")
    STUDENT = "student", _("Student")
    GUARDIAN = "guardian", _("Guardian")


STAFF_ROLES = frozenset({Role.SCHOOL_ADMIN, Role.TEACHER, Role.COUNSELOR})


class Membership(TenantModel):
    """A user's role in a school. A user may hold several (teacher and counselor, say)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["school", "user", "role"], name="membership_unique_role"
            ),
        ]
        indexes = [models.Index(fields=["school", "role"], name="membership_school_role")]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()}"


class DistrictIdentityProvider(models.Model):
    """A district's single sign-on: an OpenID Connect provider (Google Workspace, Microsoft Entra
    ID, ClassLink or any other) or a SAML 2.0 identity provider (ADFS, Shibboleth…) its staff and
    students sign in with (docs/sso.md).

    For SAML, `issuer` is the identity provider's entity ID, `sso_url` where the browser is sent
    to sign in, and `certificate` the provider's public signing certificate (PEM); there is no
    client id or secret.

    A global table, as the district is. The client secret is stored encrypted (mastery.crypto)
    and never shown again. Once anyone has signed in through it, its issuer never changes: the
    accounts it links are keyed by (this provider, the token's subject), which stands for
    (issuer, subject) only while the issuer is fixed — a new issuer is a new provider.
    """

    class Kind(models.TextChoices):
        GOOGLE = "google", _("Google Workspace")
        ENTRA = "entra", _("Microsoft Entra ID")
        OIDC = "oidc", _("Another OpenID Connect provider (ClassLink…)")
        SAML = "saml", _("A SAML 2.0 provider (ADFS, Shibboleth…)")

    district = models.ForeignKey(
        District, on_delete=models.CASCADE, related_name="identity_providers"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    name = models.CharField(
        _("name"), max_length=80, help_text=_("What the sign-in button says, e.g. “Google”.")
    )
    issuer = models.CharField(_("issuer"), max_length=300)
    client_id = models.CharField(_("client id"), max_length=300, blank=True)
    secret_encrypted = models.TextField(editable=False, blank=True)
    sso_url = models.URLField(_("SAML sign-in URL"), max_length=500, blank=True)
    certificate = models.TextField(_("SAML signing certificate"), blank=True)
    # The addresses it vouches for, lower case ("lincoln.k12.example"): a first sign-in links
    # only an account whose address is in one of them.
    email_domains = models.JSONField(default=list)
    hosted_domain = models.CharField(_("Google hosted domain (hd)"), max_length=200, blank=True)
    tenant_id = models.CharField(_("Entra tenant id (tid)"), max_length=64, blank=True)
    enabled = models.BooleanField(_("in use"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["district", "name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.district})"

    @property
    def provider_id(self) -> str:
        """allauth's name for it: the key of the accounts it links, with the subject."""
        return f"district-{self.district_id}-{self.pk}"

    @property
    def login_route(self) -> str:
        """The name of the URL (with provider_id) that starts a sign-in through it."""
        return "saml_login" if self.kind == self.Kind.SAML else "openid_connect_login"

    @property
    def sign_in_address(self) -> str:
        """Where the person's browser is sent to sign in (its origin goes in our pages' CSP)."""
        return self.sso_url if self.kind == self.Kind.SAML else self.issuer


class DistrictMembership(models.Model):
    """A district admin: reads across every school of the district."""

    district = models.ForeignKey(District, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="district_memberships"
    )
    role = models.CharField(max_length=20, default="district_admin", editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["district", "user"], name="district_membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · district admin of {self.district}"


# --- The learning framework -----------------------------------------------------------------------


class Department(TenantModel):
    name = models.CharField(max_length=120)
    code = models.CharField(max_length=20, blank=True)
    intervention_focus = models.BooleanField(
        default=False,
        help_text=_(
            "Its targets feed the intervention rosters (by default mathematics and English)."
        ),
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["school", "name"], name="department_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Competency(TenantModel):
    """A graduation competency: 5-8 per content area, plus cross-curricular ones."""

    class Kind(models.TextChoices):
        CONTENT = "content", _("Content area")
        CROSS_CURRICULAR = "cross_curricular", _("Cross-curricular")

    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.RESTRICT, related_name="competencies"
    )
    code = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.CONTENT)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "code"]
        verbose_name_plural = "competencies"
        constraints = [
            models.UniqueConstraint(fields=["school", "code"], name="competency_unique_code"),
            models.CheckConstraint(
                condition=Q(kind="cross_curricular") | Q(department__isnull=False),
                name="competency_content_has_department",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class LearningTarget(TenantModel):
    """The unit that is scored and reported; shared by the courses of its department."""

    competency = models.ForeignKey(Competency, on_delete=models.RESTRICT, related_name="targets")
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.RESTRICT, related_name="targets"
    )
    code = models.CharField(max_length=40)
    statement = models.CharField(max_length=500, help_text=_("Student-facing: “I can …”"))
    statement_es = models.CharField(
        _("statement in Spanish"),
        max_length=500,
        blank=True,
        help_text=_("“Puedo …”; empty: shown in English."),
    )
    standard_code = models.CharField(
        max_length=80, blank=True, help_text=_("e.g. CCSS.MATH.CONTENT.HSF.LE.A.1")
    )
    subject = models.CharField(max_length=80, blank=True)
    dok_level = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(4)],
        help_text=_("Depth of Knowledge, 1-4"),
    )
    position = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "code"]
        constraints = [
            models.UniqueConstraint(fields=["school", "code"], name="target_unique_code"),
            models.CheckConstraint(
                condition=Q(dok_level__isnull=True) | Q(dok_level__gte=1, dok_level__lte=4),
                name="target_dok_1_to_4",
            ),
        ]
        indexes = [models.Index(fields=["school", "competency"], name="target_school_competency")]

    def __str__(self) -> str:
        return f"{self.code} {self.statement}"

    @property
    def display_statement(self) -> str:
        if self.statement_es and translation.get_language() == "es":
            return self.statement_es
        return self.statement


class ProficiencyScale(TenantModel):
    """The school's levels. One scale for achievement and one, separate, for habits of work."""

    class Kind(models.TextChoices):
        ACHIEVEMENT = "achievement", _("Achievement")
        HABITS = "habits", _("Habits of work")

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.ACHIEVEMENT)
    allows_half_points = models.BooleanField(
        default=False, help_text=_("Teachers may record 1.5, 2.5 and 3.5.")
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["school", "kind"], name="scale_unique_kind"),
        ]

    def __str__(self) -> str:
        return self.name


class ScaleLevel(TenantModel):
    scale = models.ForeignKey(ProficiencyScale, on_delete=models.CASCADE, related_name="levels")
    value = models.DecimalField(max_digits=4, decimal_places=2)
    label = models.CharField(max_length=60)
    label_es = models.CharField(max_length=60, blank=True)
    cutoff = models.DecimalField(
        max_digits=4,
        decimal_places=2,
        help_text=_("A computed score at or above this value bands into this level."),
    )
    color = models.CharField(
        max_length=7, default="#777777", help_text=_("Hex colour, e.g. #2e7d32")
    )

    class Meta:
        ordering = ["value"]
        constraints = [
            models.UniqueConstraint(fields=["school", "scale", "value"], name="level_unique_value"),
        ]

    def __str__(self) -> str:
        return f"{calculation.fmt(self.value)} {self.label}"

    @property
    def display_label(self) -> str:
        """The label in the active language where the school gives one (else the default)."""
        if self.label_es and translation.get_language() == "es":
            return self.label_es
        return self.label

    def as_engine_level(self) -> calculation.Level:
        return calculation.Level(self.value, self.label, cutoff=self.cutoff)


class LevelDescriptor(TenantModel):
    """The rubric row of one target at one level: “I can explain the starting value …”."""

    target = models.ForeignKey(LearningTarget, on_delete=models.CASCADE, related_name="descriptors")
    level_value = models.DecimalField(max_digits=4, decimal_places=2)
    text = models.TextField()
    text_es = models.TextField(blank=True)

    class Meta:
        ordering = ["target", "level_value"]
        constraints = [
            models.UniqueConstraint(
                fields=["school", "target", "level_value"], name="descriptor_unique_level"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.target.code} @ {calculation.fmt(self.level_value)}"

    @property
    def display_text(self) -> str:
        if self.text_es and translation.get_language() == "es":
            return self.text_es
        return self.text


# --- Grading policy --------------------------------------------------------------------------------


# The GradingPolicy fields a school admin may set; everything else is bookkeeping.
POLICY_FIELDS = (
    "method",
    "weight",
    "n",
    "recent",
    "power_law_at",
    "mode_ties",
    "counted_kinds",
    "min_evidence",
    "mastery_threshold",
    "missing_counts_as_minimum",
    "course_grade_rule",
    "grade_bands",
    "threshold_bands",
    "fallback_letter",
    "carry_prior_years",
    "count_self_assessment",
)


def default_counted_kinds() -> list[str]:
    return list(calculation.DEFAULT_COUNTED_KINDS)


class GradingPolicy(TenantModel):
    """How evidence becomes mastery and mastery a course grade (docs/design.md section 5).

    Versioned: a change never edits a row; `grading.services.policy_change` writes a new version and marks it
    current. The school default has no course; a course may have its own override.
    """

    class Method(models.TextChoices):
        LATEST = "latest", _("Most recent score")
        HIGHEST = "highest", _("Highest score")
        MEAN = "mean", _("Average")
        DECAYING_AVERAGE = "decaying_average", _("Decaying average")
        WEIGHTED_AVERAGE = "weighted_average", _("Weighted average")
        N_TIMES = "n_times", _("Mastered n times")
        POWER_LAW = "power_law", _("Power law (trend)")
        MODE = "mode", _("Most frequent score")
        MEDIAN = "median", _("Median")

    class CourseGradeRule(models.TextChoices):
        MEAN_BAND = "mean_band", _("Average of target scores, banded into letters")
        THRESHOLD_COUNT = "threshold_count", _("Share of targets mastered")

    course = models.ForeignKey(
        "gradebook.Course",
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="policies",
        help_text=_("Empty: the school default. Set: an override for one course."),
    )
    version = models.PositiveIntegerField(default=1)
    is_current = models.BooleanField(default=True)
    method = models.CharField(
        max_length=20, choices=Method.choices, default=Method.DECAYING_AVERAGE
    )
    weight = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal(65),
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(100)],
        help_text=_("Percent on the newest score (decaying and weighted average)."),
    )
    n = models.PositiveSmallIntegerField(default=3, validators=[MinValueValidator(1)])
    recent = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Only the last N scores."),
    )
    power_law_at = models.CharField(
        max_length=4,
        choices=[("last", _("Latest attempt")), ("next", _("Next attempt"))],
        default="last",
    )
    mode_ties = models.CharField(
        max_length=6,
        choices=[("higher", _("The higher score")), ("recent", _("The more recent score"))],
        default="higher",
    )
    counted_kinds = models.JSONField(
        default=default_counted_kinds,
        help_text=_("Kinds of evidence that count; pre-assessments do not by default."),
    )
    min_evidence = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    mastery_threshold = models.DecimalField(max_digits=4, decimal_places=2, default=Decimal(3))
    missing_counts_as_minimum = models.BooleanField(default=False)
    course_grade_rule = models.CharField(
        max_length=20, choices=CourseGradeRule.choices, default=CourseGradeRule.MEAN_BAND
    )
    grade_bands = models.JSONField(
        default=list,
        blank=True,
        help_text=_('mean_band letters: [{"letter": "A", "min_score": "3.0"}, …]'),
    )
    threshold_bands = models.JSONField(
        default=list,
        blank=True,
        help_text=_(
            'threshold_count letters: [{"letter": "A", "at_least": [["3", "90"]], "none_below": "2"}, …]'
        ),
    )
    fallback_letter = models.CharField(max_length=4, default="F")
    carry_prior_years = models.BooleanField(
        default=False,
        help_text=_(
            "A target taught again in a new school year keeps the evidence of earlier years. "
            "Off: a new year's mastery starts from the new year's evidence (earlier years stay "
            "readable as context)."
        ),
    )
    count_self_assessment = models.BooleanField(
        default=False,
        help_text=_(
            "Students' ratings of themselves count as evidence, like a score on the day they "
            "were made. Off: they are shown beside the teacher's scores and never counted."
        ),
    )
    note = models.CharField(max_length=300, blank=True, help_text=_("Why this version was made."))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "grading policies"
        ordering = ["course_id", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["school", "version"],
                condition=Q(course__isnull=True),
                name="policy_unique_school_version",
            ),
            models.UniqueConstraint(
                fields=["school", "course", "version"],
                condition=Q(course__isnull=False),
                name="policy_unique_course_version",
            ),
            models.UniqueConstraint(
                fields=["school"],
                condition=Q(course__isnull=True, is_current=True),
                name="policy_one_current_school_default",
            ),
            models.UniqueConstraint(
                fields=["school", "course"],
                condition=Q(course__isnull=False, is_current=True),
                name="policy_one_current_per_course",
            ),
            models.CheckConstraint(
                condition=Q(weight__gt=0, weight__lte=100), name="policy_weight_percent"
            ),
            models.CheckConstraint(
                condition=Q(method__in=calculation.METHODS), name="policy_known_method"
            ),
        ]

    def __str__(self) -> str:
        scope = self.course.code if self.course_id else "school default"
        return f"{self.get_method_display()} ({scope}, v{self.version})"

    def to_engine(
        self, levels: list[ScaleLevel] | tuple[calculation.Level, ...]
    ) -> calculation.Policy:
        """The engine's Policy for this version on the given scale levels."""
        engine_levels = tuple(
            lv if isinstance(lv, calculation.Level) else lv.as_engine_level() for lv in levels
        )
        kwargs = {}
        if self.grade_bands:
            kwargs["grade_bands"] = tuple(
                calculation.GradeBand(b["letter"], b["min_score"]) for b in self.grade_bands
            )
        if self.threshold_bands:
            kwargs["threshold_bands"] = tuple(
                calculation.ThresholdBand(
                    b["letter"],
                    at_least=tuple(tuple(pair) for pair in b.get("at_least", [])),
                    none_below=b.get("none_below"),
                )
                for b in self.threshold_bands
            )
        return calculation.Policy(
            method=self.method,
            weight=self.weight,
            n=self.n,
            recent=self.recent,
            power_law_at=self.power_law_at,
            mode_ties=self.mode_ties,
            counted_kinds=tuple(self.counted_kinds) if self.counted_kinds else None,
            min_evidence=self.min_evidence,
            mastery_threshold=self.mastery_threshold,
            scale_min=min(Decimal(lv) for lv in engine_levels),
            scale_max=max(Decimal(lv) for lv in engine_levels),
            missing_counts_as_minimum=self.missing_counts_as_minimum,
            count_self_assessment=self.count_self_assessment,
            levels=engine_levels,
            course_grade_rule=self.course_grade_rule,
            fallback_letter=self.fallback_letter,
            **kwargs,
        )


# --- Machine access ------------------------------------------------------------------------------


class ApiToken(TenantModel):
    """A personal API token: one user, one school, the roles the user holds there *now*.

    Only a SHA-256 digest of the token is stored (the token itself is shown once, when it is
    made); tokens are long random strings, so a fast hash is enough and lookups stay one indexed
    query. The token carries no roles of its own: every request asks the user's memberships in
    the token's school, so removing a membership cuts the token off too. Revoked tokens stay, with
    when, for the record.
    """

    PREFIX = "mgb"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(_("name"), max_length=80, help_text=_("What uses it, e.g. “SIS sync”."))
    key_prefix = models.CharField(
        max_length=16, help_text=_("The first characters, to recognise it.")
    )
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["school", "user"], name="api_token_by_user")]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def digest_of(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()


# --- The audit trail -------------------------------------------------------------------------------


class AuditTrailIsAppendOnly(Exception):
    """An audit event was about to be changed or deleted: the trail only ever grows."""


class AuditQuerySet(models.QuerySet):
    """Reads and inserts only: a queryset that could rewrite history refuses to."""

    def _refuse(self, *args, **kwargs):
        raise AuditTrailIsAppendOnly("Audit events are never changed or deleted.")

    update = delete = bulk_update = update_or_create = _refuse


class AlertEvent(TenantModel):
    """The alerts outbox (issue [17]): one piece of news a family, a student or a staff member may
    hear about — a new score, new feedback, a request answered — written by the service in the
    same transaction as the change (mastery.outbox), so a change that rolls back leaves none and
    one that commits always has one. Nothing here is sent: the alerts builder turns unhandled
    events into each recipient's mail (right away or in a digest, by their preferences), checks
    that the change still stands and who may still hear of it, and marks the event handled.

    Subjects are plain ids, as in the audit trail. `details` holds what a family that asked for
    scores in their mail may read (the assessment's title, the score); nothing else is mailed.
    """

    class Kind(models.TextChoices):
        # Families and students (about `student_id`)
        SCORE = "score", _("A new score")
        MISSING = "missing", _("Missing or incomplete work")
        FEEDBACK = "feedback", _("New feedback")
        REQUEST_ANSWERED = "request_answered", _("A reassessment request answered")
        PLACEMENT = "placement", _("An intervention placement and its days")
        # Derived by the alerts builder from a score: the target is below proficient after it.
        BELOW = "below", _("A learning target below proficient")
        REPORT_CARD = "report_card", _("A report card ready")
        OPPORTUNITY = "opportunity", _("A reassessment opportunity")
        # Staff (for `user_id`)
        REQUEST_RECEIVED = "request_received", _("A reassessment request to answer")
        BATCH_DONE = "batch_done", _("A batch of reports finished")
        DEADLINE = "deadline", _("A posting deadline for marks")

    kind = models.CharField(max_length=30, choices=Kind.choices)
    student_id = models.BigIntegerField(null=True, blank=True)
    user_id = models.BigIntegerField(null=True, blank=True)
    object_type = models.CharField(max_length=30, blank=True)
    object_id = models.BigIntegerField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["school", "created_at"],
                condition=Q(handled_at__isnull=True),
                name="alert_event_unhandled",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_type}:{self.object_id}"


class AuditEvent(TenantModel):
    """One change, kept for good: who, when, what, the values before and after (docs/design.md §7).

    Written by the services (`mastery.audit.record`) in the same transaction as the change, so a
    change that is refused or rolled back leaves no event, and one that commits always has one.
    Never edited: the ORM refuses updates and deletes here, and on PostgreSQL a trigger refuses
    UPDATE and DELETE whatever the client (migration 0005). Subjects are plain ids, not foreign
    keys, so no cascade from a changed or removed row can ever reach back into the trail.
    """

    class Action(models.TextChoices):
        RECORD = "record", _("Recorded")
        REPLACE = "replace", _("Replaced")
        VOID = "void", _("Voided")
        CLEAR = "clear", _("Cleared")
        UNDO = "undo", _("Undone")
        FILL = "fill", _("Filled")
        CREATE = "create", _("Created")
        UPDATE = "update", _("Changed")
        DELETE = "delete", _("Removed")
        MOVE = "move", _("Moved")
        BUILD = "build", _("Roster built")
        CLOSE = "close", _("Cycle closed")
        EXPORT = "export", _("Exported")
        # Credential events of an account (mastery.accounts), recorded in each of its schools.
        SIGNIN_LINK = "signin_link", _("Sign-in link sent")
        PASSWORD_SET = "password_set", _("Password set")
        ACTIVATE = "activate", _("Account activated")
        EMAIL_CHANGE = "email_change", _("Email changed")
        LINK = "link", _("Account linked")
        # The marks of record (marks): a mark posted, or posted again as a new version.
        POST = "post", _("Posted")
        REPOST = "repost", _("Posted again")
        SEND = "send", _("Sent to the SIS")
        REVOKE = "revoke", _("Revoked")

    class ObjectType(models.TextChoices):
        EVIDENCE = "evidence", _("Evidence")
        POLICY = "policy", _("Grading policy")
        SCALE = "scale", _("Proficiency scale")
        TARGET = "target", _("Learning target")
        ROSTER = "roster", _("Roster placement")
        MEMBERSHIP = "membership", _("Membership")
        HABIT = "habit", _("Habit score")
        COMPETENCY = "competency", _("Competency")
        ATTENDANCE = "attendance", _("Intervention attendance")
        RECORDS = "records", _("Student records")
        ACCOUNT = "account", _("Account")
        INTERVENTION = "intervention", _("Intervention settings")
        REQUEST = "request", _("Reassessment request")
        RULES = "rules", _("Reassessment rules")
        SCHOOL = "school", _("School settings")
        YEAR = "year", _("School year")
        FRAMEWORK = "framework", _("Standards framework")
        SELF_ASSESSMENT = "self", _("Self-assessment")
        SUBMISSION = "submission", _("Submitted work")
        MARK = "mark", _("Posted mark")
        COMMENT_BANK = "comment_bank", _("Comment bank")
        PERIOD = "period", _("Grading period")
        SIS = "sis", _("Grades to the SIS")

    # Every read leads with the school and the time (the composite index): no index of its own.
    school = models.ForeignKey(
        School, on_delete=models.CASCADE, related_name="%(app_label)s_%(class)s_set", db_index=False
    )
    at = models.DateTimeField(default=timezone.now)
    # Who did it; empty for the system (a scheduled task, a command-line import). PROTECT: people
    # who changed something are deactivated, never deleted.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    action = models.CharField(max_length=12, choices=Action.choices)
    object_type = models.CharField(max_length=12, choices=ObjectType.choices)
    object_id = models.BigIntegerField(null=True, blank=True)
    # The student and learning target the change concerns, when it concerns one (cell history).
    student_id = models.BigIntegerField(null=True, blank=True)
    target_id = models.BigIntegerField(null=True, blank=True)
    summary = models.CharField(max_length=300)
    before = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    source = models.CharField(
        max_length=30, blank=True, help_text=_("Where: grid, api, admin, import, roster build…")
    )

    objects = ScopedManager(models.Manager.from_queryset(AuditQuerySet), school="school")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["school", "-at"], name="audit_school_at"),
            models.Index(
                fields=["school", "student_id", "target_id"],
                condition=Q(student_id__isnull=False),
                name="audit_school_student_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.get_action_display()} {self.summary}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditTrailIsAppendOnly("Audit events are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditTrailIsAppendOnly("Audit events are never deleted.")

    @property
    def changes(self) -> list[tuple[str, object, object]]:
        """(field, before, after) of every value that differs (all of them on a create or removal).

        Empty text reads as no value (None); a list of plain values as one line of text.
        """

        def shown(value):
            if value == "":
                return None
            if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
                return ", ".join(str(v) for v in value)
            return value

        before = self.before if isinstance(self.before, dict) else {}
        after = self.after if isinstance(self.after, dict) else {}
        keys = list(before) + [k for k in after if k not in before]
        pairs = ((k, shown(before.get(k)), shown(after.get(k))) for k in keys)
        return [(k, was, now) for k, was, now in pairs if was != now]


# --- Standards frameworks (1EdTech CASE 1.0) -------------------------------------------------------
# Reference data, not tenant rows: a framework belongs to a district (every school of it reads it)
# or, for a school without a district, to that one school. The owner columns are deliberately not
# named `school_id`: that name marks a tenant table (row-level security, the Citus keys), and a
# catalogue is a reference table there (docs/design.md section 4). Every read goes through
# `mastery.standards.selectors.frameworks_visible_to(school)`.


class Framework(models.Model):
    """A standards framework: one CASE CFDocument, keyed by its `identifier` within its owner.

    Imported (and re-imported) only by `mastery.standards.importer.framework_import`; nothing is
    typed by hand, so the fields say what the publisher's package said.
    """

    owner_district = models.ForeignKey(
        District, null=True, blank=True, on_delete=models.PROTECT, related_name="frameworks"
    )
    owner_school = models.ForeignKey(
        School,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="frameworks",
    )
    identifier = models.UUIDField()
    uri = models.CharField(max_length=2000)
    title = models.CharField(max_length=500)
    creator = models.CharField(max_length=500, blank=True)
    publisher = models.CharField(max_length=500, blank=True)
    description = models.TextField(blank=True)
    subjects = models.JSONField(default=list, blank=True)
    language = models.CharField(max_length=40, blank=True)
    version = models.CharField(max_length=100, blank=True)
    adoption_status = models.CharField(max_length=100, blank=True)
    official_source_url = models.CharField(max_length=2000, blank=True)
    notes = models.TextField(blank=True)
    last_change = models.CharField(max_length=40, blank=True, help_text=_("As the package says."))
    source = models.CharField(max_length=2000, blank=True, help_text=_("File name or URL."))
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["title", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(owner_district__isnull=False, owner_school__isnull=True)
                | Q(owner_district__isnull=True, owner_school__isnull=False),
                name="framework_one_owner",
            ),
            models.UniqueConstraint(
                fields=["owner_district", "identifier"],
                condition=Q(owner_district__isnull=False),
                name="framework_district_identifier",
            ),
            models.UniqueConstraint(
                fields=["owner_school", "identifier"],
                condition=Q(owner_school__isnull=False),
                name="framework_school_identifier",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class FrameworkItem(models.Model):
    """A CASE CFItem: one standard (or cluster, domain…) with its full statement.

    Its place in the tree (`parent_identifier`, `depth`, `position` among its siblings) is
    derived from the package's isChildOf associations at import. Items a newer package no longer
    has are retired, never deleted: alignments and old reports keep pointing at them.
    """

    framework = models.ForeignKey(Framework, on_delete=models.CASCADE, related_name="items")
    identifier = models.UUIDField()
    uri = models.CharField(max_length=2000)
    full_statement = models.TextField()
    human_coding_scheme = models.CharField(max_length=200, blank=True)
    abbreviated_statement = models.TextField(blank=True)
    alternative_label = models.TextField(blank=True)
    list_enumeration = models.CharField(max_length=100, blank=True)
    item_type = models.CharField(max_length=200, blank=True)
    education_levels = models.JSONField(default=list, blank=True)
    concept_keywords = models.JSONField(default=list, blank=True)
    language = models.CharField(max_length=40, blank=True)
    notes = models.TextField(blank=True)
    last_change = models.CharField(max_length=40, blank=True)
    parent_identifier = models.UUIDField(null=True, blank=True)
    sequence_number = models.IntegerField(null=True, blank=True)
    depth = models.PositiveSmallIntegerField(default=1)
    position = models.PositiveIntegerField(default=0)
    is_retired = models.BooleanField(default=False)

    class Meta:
        ordering = ["framework", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["framework", "identifier"], name="framework_item_identifier"
            ),
        ]
        indexes = [
            models.Index(fields=["framework", "position"], name="framework_item_position"),
        ]

    def __str__(self) -> str:
        return f"{self.human_coding_scheme} {self.full_statement[:60]}".strip()


class FrameworkAssociation(models.Model):
    """A CASE CFAssociation, of any type (isChildOf builds the tree; the others are kept and
    shown). Its ends are identifiers, not foreign keys: a CASE association may point outside the
    package (an exactMatchOf to another publisher's standard)."""

    framework = models.ForeignKey(Framework, on_delete=models.CASCADE, related_name="associations")
    identifier = models.UUIDField()
    uri = models.CharField(max_length=2000)
    association_type = models.CharField(max_length=30)
    origin_identifier = models.CharField(max_length=200)
    origin_uri = models.CharField(max_length=2000)
    origin_title = models.TextField(blank=True)
    destination_identifier = models.CharField(max_length=200)
    destination_uri = models.CharField(max_length=2000)
    destination_title = models.TextField(blank=True)
    sequence_number = models.IntegerField(null=True, blank=True)
    last_change = models.CharField(max_length=40, blank=True)
    is_retired = models.BooleanField(default=False)

    class Meta:
        ordering = ["framework", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["framework", "identifier"], name="framework_association_identifier"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.origin_identifier} {self.association_type} {self.destination_identifier}"


class TargetAlignment(TenantModel):
    """A learning target aligned to one standard of a framework (issue [13] item 2).

    The target keeps its own "I can" statement and descriptors; the standard's code and statement
    are shown beside them. A retired item stays aligned (shown as retired). Written only by
    `mastery.standards.alignments.target_align`, which allows only items of the frameworks the
    school sees.
    """

    # The database holds a composite key (school_id, target_id) instead (mastery/citus.py).
    target = models.ForeignKey(
        LearningTarget,
        on_delete=models.CASCADE,
        related_name="standard_alignments",
        db_constraint=False,
    )
    # A global reference table: an ordinary key. Items are retired, never deleted (RESTRICT still
    # lets a whole school go, with its own frameworks and alignments).
    item = models.ForeignKey(FrameworkItem, on_delete=models.RESTRICT, related_name="alignments")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["school", "target", "item"], name="target_alignment_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.target_id} → {self.item_id}"
