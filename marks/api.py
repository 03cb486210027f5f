"""REST API: the marks of record (posted marks, their versions and overrides) and the comment bank.

Read like the gradebook (gradebook.permissions): school admins, counselors and district admins
the whole school's marks, a teacher the marks of the sections they teach; families and students
read theirs on the portal, not through the API (API tokens are for staff, mastery.tenancy).
`posted-marks/` lists each mark's current version by default (`history=true`: every version).

Posting goes through the same service as the posting grid (marks.services.section_marks_post,
source "api"): `POST posted-marks/post/` with a section, a period and the marks, all or nothing.
The section's teachers and school admins post; outside the period's posting window only a school
admin does (marked on the mark and audited). A refused post answers 400 with each problem at its
mark's place in the list (`marks[3]`) and writes nothing.

The comment bank is read only here: school admins keep it on its page (marks.views.admin).
"""

from __future__ import annotations

import django_filters
from django.conf import settings
from django.db.models import F, QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from gradebook.api import by_ids
from gradebook.models import GradingPeriod, Section, SectionTeacher
from gradebook.permissions import SCHOOL_WIDE, can_score_section
from marks.computing import Key
from marks.models import CommentBankEntry, PostedMark
from marks.services import MarkEntry, PostingError, section_marks_post
from mastery.fields import ID_MAX
from mastery.models import Role
from mastery.rest import IdField, SchoolViewSet
from mastery.tenancy import SchoolAccess

# Marks in one post: a full section (40 students × 40 targets, the course grade and habits).
MAX_MARKS = 5000
COMMENT_MAX = 2000

# --- Posted marks --------------------------------------------------------------------------------


def visible_marks(access: SchoolAccess, user) -> QuerySet[PostedMark]:
    """Every version of the marks the user may read: the whole school's for school admins,
    counselors and district admins; a teacher's own sections' (as the grid); nothing else."""
    marks = PostedMark.objects.filter(school=access.school)
    if access.has(*SCHOOL_WIDE):
        return marks
    if access.has(Role.TEACHER):
        return marks.filter(
            section_id__in=SectionTeacher.objects.filter(school=access.school, teacher=user).values(
                "section_id"
            )
        )
    return marks.none()


class PostedMarkSerializer(serializers.ModelSerializer):
    overridden = serializers.BooleanField(
        read_only=True, help_text="The value posted is not the computed one (a reason says why)."
    )
    comment = serializers.DictField(
        child=serializers.CharField(),
        read_only=True,
        help_text="The comment as posted, by language code ({'en': '…', 'es': '…'}; {} = none).",
    )
    posted_by = serializers.CharField(
        source="posted_by.full_name", read_only=True, help_text="The name of who posted it."
    )

    class Meta:
        model = PostedMark
        fields = [
            "id",
            "student",
            "section",
            "period",
            "kind",
            "target",
            "habit",
            "version",
            "computed_value",
            "computed_score",
            "value",
            "overridden",
            "grade_form",
            "reason",
            "comment",
            "comment_entry",
            "posted_by",
            "posted_at",
            "outside_window",
        ]


class PostedMarkFilter(django_filters.FilterSet):
    period = django_filters.NumberFilter(field_name="period_id")
    section = django_filters.NumberFilter(field_name="section_id")
    student = django_filters.CharFilter(method=by_ids, label="Student id(s), comma-separated")
    kind = django_filters.ChoiceFilter(choices=PostedMark.Kind.choices)
    overridden = django_filters.BooleanFilter(
        method="by_override", label="true: overridden marks only; false: the others"
    )
    history = django_filters.BooleanFilter(
        method="every_version", label="true: every version of each mark, not only the current"
    )

    def by_override(self, queryset, name, value):
        return queryset.overridden() if value else queryset.filter(value=F("computed_value"))

    def every_version(self, queryset, name, value):
        return queryset  # the view keeps the current versions unless this is true


class MarkInSerializer(serializers.Serializer):
    student = IdField()
    kind = serializers.ChoiceField(choices=PostedMark.Kind.choices)
    subject = serializers.IntegerField(
        min_value=0,
        max_value=ID_MAX,
        help_text="The target's or habit's id; 0 for the course grade.",
    )
    value = serializers.CharField(
        allow_blank=True,
        max_length=20,
        help_text="The mark posted: a level of the scale, a habit score, or the course grade in the "
        "school's form (letter, percent or grade points); empty: no mark.",
    )
    reason = serializers.CharField(
        allow_blank=True,
        default="",
        max_length=300,
        help_text="Required when the value is not the computed one, or changes a posted mark.",
    )
    comment = serializers.CharField(
        allow_blank=True,
        allow_null=True,
        default=None,
        max_length=COMMENT_MAX,
        help_text="Omitted or null: keep the comment posted; empty: none; a bank code (M3) takes "
        "the bank's texts in every language; other text is the teacher's own, in `language`.",
    )
    seen = serializers.CharField(
        allow_blank=True,
        allow_null=True,
        default=None,
        max_length=20,
        help_text="The computed value the caller reviewed: if the computed mark has changed "
        "since, the post is refused. Omitted or null: not checked.",
    )
    version = serializers.IntegerField(
        min_value=0,
        max_value=2**31 - 1,
        allow_null=True,
        default=None,
        help_text="The version of the mark the caller saw (0: not posted yet): if someone has "
        "posted it since, the mark is refused, never overwritten. Omitted or null: not checked.",
    )


class SectionPostSerializer(serializers.Serializer):
    section = IdField()
    period = IdField()
    marks = MarkInSerializer(many=True, allow_empty=False, max_length=MAX_MARKS)
    language = serializers.ChoiceField(
        choices=settings.LANGUAGES,
        required=False,
        help_text="The language of free-text comments; default: the school's.",
    )

    def validate_marks(self, marks: list[dict]) -> list[dict]:
        seen: dict[Key, int] = {}
        for index, mark in enumerate(marks):
            key = (mark["student"], mark["kind"], mark["subject"])
            if key in seen:
                raise serializers.ValidationError(
                    f"marks[{index}] is the same mark as marks[{seen[key]}]: send each mark once."
                )
            seen[key] = index
        return marks


class PostResultSerializer(serializers.Serializer):
    written = serializers.IntegerField(help_text="Marks posted (a first version or a new one).")
    unchanged = serializers.IntegerField(help_text="Marks sent exactly as already posted.")
    overridden = serializers.IntegerField(help_text="Of those written, overrides.")
    outside_window = serializers.BooleanField(
        help_text="Posted by a school admin outside the period's posting window."
    )


def flat_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested errors as one level, each at its place: `marks[3].value`, `marks`, `period`
    (a list's own errors sit at the list's name; its items' at their index)."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for name, inner in detail.items():
            if isinstance(name, int) or str(name).isdigit():
                place = f"{prefix}[{name}]"
            elif name == "non_field_errors" and prefix:
                place = prefix
            else:
                place = f"{prefix}.{name}" if prefix else str(name)
            out.update(flat_errors(inner, place))
    elif isinstance(detail, list) and all(isinstance(item, str) for item in detail):
        out.setdefault(prefix or "non_field_errors", []).extend(str(item) for item in detail)
    elif isinstance(detail, list):
        for index, inner in enumerate(detail):
            if inner:
                out.update(flat_errors(inner, f"{prefix}[{index}]"))
    else:
        out.setdefault(prefix or "non_field_errors", []).append(str(detail))
    return out


class PostedMarkViewSet(SchoolViewSet, viewsets.ReadOnlyModelViewSet):
    """Marks of record: what a teacher posted for a student in a section and grading period, on
    a target, the course grade or a habit, with the computed value beside it. Each post of a
    changed mark is a new version; nothing posted is ever changed or deleted. The list shows the
    current versions (`history=true`: every version); a mark's id reads that version."""

    model = PostedMark
    serializer_class = PostedMarkSerializer
    filterset_class = PostedMarkFilter

    def get_queryset(self):
        return (
            visible_marks(self.access, self.request.user)
            .select_related("posted_by")
            .order_by("period_id", "section_id", "student_id", "kind", "subject_id", "-version")
        )

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)  # every filter checked (a 400) first
        history = self.request.query_params.get("history", "").lower()  # as django-filter reads it
        if self.action == "list" and history not in ("true", "1"):
            queryset = queryset.current()
        return queryset

    @extend_schema(
        request=SectionPostSerializer,
        responses={
            201: PostResultSerializer,
            200: OpenApiResponse(PostResultSerializer, description="Nothing changed"),
        },
    )
    @action(detail=False, methods=["post"], url_path="post", url_name="post")
    def post_marks(self, request, school_slug: str):
        """Post marks of one section for one grading period, as the posting grid does: all or
        nothing. A mark sent as it is already posted writes nothing (a repeated request is
        harmless); a changed one adds a version and needs a reason, as does any value other than
        the computed one. Errors name each refused mark by its place: `marks[3]`."""
        if not self.access.has(Role.SCHOOL_ADMIN, Role.TEACHER):
            raise exceptions.PermissionDenied(
                "Only the section's teachers and school admins post marks."
            )
        data = SectionPostSerializer(data=request.data)
        if not data.is_valid():
            raise exceptions.ValidationError(flat_errors(data.errors))
        v = data.validated_data
        section = (
            Section.objects.filter(school=self.school, id=v["section"])
            .select_related("course", "term")
            .first()
        )
        if section is None:
            raise exceptions.ValidationError({"section": ["No such section in this school."]})
        if not can_score_section(self.access, request.user, section):
            raise exceptions.PermissionDenied(
                "Only the section's teachers and school admins post its marks."
            )
        period = GradingPeriod.objects.filter(school=self.school, id=v["period"]).first()
        if period is None:
            raise exceptions.ValidationError({"period": ["No such grading period."]})
        places: dict[Key, int] = {}
        entries = []
        for index, mark in enumerate(v["marks"]):
            key = (mark["student"], mark["kind"], mark["subject"])
            places[key] = index
            entries.append(
                MarkEntry(
                    key=key,
                    value=mark["value"],
                    reason=mark["reason"],
                    comment=mark["comment"],
                    seen=mark["seen"],
                    version_seen=mark["version"],
                )
            )
        try:
            result = section_marks_post(
                school=self.school,
                section=section,
                period=period,
                posted_by=request.user,
                entries=entries,
                is_admin=self.access.has(Role.SCHOOL_ADMIN),
                language=v.get("language") or self.school.default_language,
                source="api",
            )
        except PostingError as error:
            errors: dict[str, list[str]] = {}
            for key, message in error.errors.items():
                place = "non_field_errors" if key is None else f"marks[{places[key]}]"
                errors.setdefault(place, []).append(message)
            raise exceptions.ValidationError(errors) from error
        body = PostResultSerializer(
            {
                "written": result.written,
                "unchanged": result.unchanged,
                "overridden": result.overridden,
                "outside_window": result.outside_window,
            }
        ).data
        return Response(body, status=status.HTTP_201_CREATED if result.written else 200)


# --- The comment bank ----------------------------------------------------------------------------


class CommentBankSerializer(serializers.ModelSerializer):
    texts = serializers.DictField(
        child=serializers.CharField(),
        read_only=True,
        help_text="The comment by language code; placeholders such as {first_name} are filled "
        "when it is posted.",
    )
    retired = serializers.SerializerMethodField()

    class Meta:
        model = CommentBankEntry
        fields = [
            "id",
            "code",
            "department",
            "target",
            "level",
            "texts",
            "retired",
            "retired_at",
            "created_at",
        ]

    def get_retired(self, entry) -> bool:
        return entry.retired_at is not None


class CommentBankFilter(django_filters.FilterSet):
    department = django_filters.NumberFilter(field_name="department_id")
    target = django_filters.NumberFilter(field_name="target_id")
    code = django_filters.CharFilter()
    retired = django_filters.BooleanFilter(
        field_name="retired_at", lookup_expr="isnull", exclude=True
    )


class CommentBankViewSet(SchoolViewSet, viewsets.ReadOnlyModelViewSet):
    """The school's comment bank (read only: school admins keep it on its page). Teachers pick
    an entry by its code when posting; `retired=false` lists the entries still offered."""

    model = CommentBankEntry
    serializer_class = CommentBankSerializer
    filterset_class = CommentBankFilter

    def get_queryset(self):
        return CommentBankEntry.objects.filter(school=self.school).order_by("code", "id")
