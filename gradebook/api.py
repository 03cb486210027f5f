"""REST API: the roster (terms, courses, sections, students, enrollments), assessments, evidence
and mastery records of one school.

Reads follow the page rules (gradebook.permissions): school admins, counselors and district
admins see the whole school, a teacher their own sections and the students in them. Evidence is
written through the same service as the grid (`evidence_record`, `evidence_void`), so the API
validates exactly as the grid does; only school admins and the section's teachers write.
"""

from __future__ import annotations

import django_filters
from django.db.models import Prefetch, Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from gradebook import exports
from gradebook.models import (
    Assessment,
    AssessmentTarget,
    Course,
    CourseTarget,
    Enrollment,
    Evidence,
    EvidenceStatus,
    GradingPeriod,
    Mastery,
    Section,
    SectionTeacher,
    Student,
    Term,
)
from gradebook.permissions import SCHOOL_WIDE, visible_sections, visible_students
from gradebook.selectors.common import section_cells_q, section_student_ids
from gradebook.services.evidence import evidence_record, evidence_void
from grading.pair import MASTERY_FIELDS
from mastery.models import Role
from mastery.rest import FirstRendererNegotiation, IdField, SchoolViewSet, filter_ids
from mastery.selectors import achievement_levels

# --- Terms and courses -------------------------------------------------------------------------------


class GradingPeriodSerializer(serializers.ModelSerializer):
    class Meta:
        model = GradingPeriod
        fields = ["id", "name", "starts_on", "ends_on"]


class TermSerializer(serializers.ModelSerializer):
    grading_periods = GradingPeriodSerializer(many=True, read_only=True)

    class Meta:
        model = Term
        fields = ["id", "name", "starts_on", "ends_on", "grading_periods"]


class TermViewSet(SchoolViewSet, viewsets.ReadOnlyModelViewSet):
    model = Term
    serializer_class = TermSerializer

    def get_queryset(self):
        periods = GradingPeriod.objects.filter(school=self.school).order_by("starts_on")
        return (
            Term.objects.filter(school=self.school)
            .prefetch_related(Prefetch("grading_periods", periods))
            .order_by("-starts_on", "id")
        )


class CourseSerializer(serializers.ModelSerializer):
    targets = serializers.SerializerMethodField(help_text="Target ids, in the grid's order.")

    class Meta:
        model = Course
        fields = ["id", "code", "name", "department", "grade_levels", "description", "targets"]

    def get_targets(self, course) -> list[int]:
        return [ct.target_id for ct in course.course_targets.all()]


class CourseFilter(django_filters.FilterSet):
    department = django_filters.NumberFilter(field_name="department_id")
    code = django_filters.CharFilter()


class CourseViewSet(SchoolViewSet, viewsets.ReadOnlyModelViewSet):
    model = Course
    serializer_class = CourseSerializer
    filterset_class = CourseFilter

    def get_queryset(self):
        ordered = CourseTarget.objects.filter(school=self.school).order_by("position", "id")
        return (
            Course.objects.filter(school=self.school)
            .prefetch_related(Prefetch("course_targets", ordered))
            .order_by("code")
        )


# --- Sections, students, enrollments ------------------------------------------------------------------


class TeacherSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="teacher_id")
    full_name = serializers.CharField(source="teacher.full_name")
    is_primary = serializers.BooleanField()


class SectionSerializer(serializers.ModelSerializer):
    course_code = serializers.CharField(source="course.code", read_only=True)
    teachers = TeacherSerializer(source="section_teachers", many=True, read_only=True)

    class Meta:
        model = Section
        fields = ["id", "course", "course_code", "term", "name", "period", "room", "teachers"]


class SectionFilter(django_filters.FilterSet):
    course = django_filters.NumberFilter(field_name="course_id")
    term = django_filters.NumberFilter(field_name="term_id")
    teacher = django_filters.NumberFilter(method="taught_by", label="Sections a user teaches")

    def taught_by(self, queryset, name, value):
        return queryset.filter(section_teachers__teacher_id=value)


class SectionViewSet(SchoolViewSet, viewsets.ReadOnlyModelViewSet):
    model = Section
    serializer_class = SectionSerializer
    filterset_class = SectionFilter

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR}, filters=False)
    @action(
        detail=True,
        methods=["get"],
        url_path="gradebook.csv",
        url_name="gradebook-csv",
        content_negotiation_class=FirstRendererNegotiation,
    )
    def gradebook_csv(self, request, school_slug: str, pk: str):
        """The section's gradebook as the grid shows it: students × targets (level and score),
        and the course grade."""
        return exports.section_response(school=self.school, section=self.get_object())

    def get_queryset(self):
        teachers = SectionTeacher.objects.filter(school=self.school).select_related("teacher")
        return (
            visible_sections(self.access, self.request.user)
            .select_related("course")
            .prefetch_related(Prefetch("section_teachers", teachers))
            .order_by("course__code", "period", "name", "id")
        )


class StudentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Student
        fields = [
            "id",
            "local_id",
            "first_name",
            "last_name",
            "preferred_name",
            "grade_level",
            "preferred_language",
            "is_active",
        ]


class StudentFilter(django_filters.FilterSet):
    section = django_filters.NumberFilter(method="in_section", label="Enrolled in this section")
    grade_level = django_filters.NumberFilter()
    is_active = django_filters.BooleanFilter()
    local_id = django_filters.CharFilter()

    def in_section(self, queryset, name, value):
        return queryset.filter(
            enrollments__section_id=value, enrollments__withdrawn_on__isnull=True
        )


class StudentViewSet(SchoolViewSet, viewsets.ReadOnlyModelViewSet):
    model = Student
    serializer_class = StudentSerializer
    filterset_class = StudentFilter

    def get_queryset(self):
        return visible_students(self.access, self.request.user).order_by(
            "last_name", "first_name", "id"
        )


class EnrollmentSerializer(serializers.ModelSerializer):
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = Enrollment
        fields = ["id", "section", "student", "enrolled_on", "withdrawn_on", "active"]


class EnrollmentFilter(django_filters.FilterSet):
    section = django_filters.NumberFilter(field_name="section_id")
    student = django_filters.NumberFilter(field_name="student_id")
    active = django_filters.BooleanFilter(field_name="withdrawn_on", lookup_expr="isnull")


class EnrollmentViewSet(SchoolViewSet, viewsets.ReadOnlyModelViewSet):
    model = Enrollment
    serializer_class = EnrollmentSerializer
    filterset_class = EnrollmentFilter

    def get_queryset(self):
        return Enrollment.objects.filter(
            school=self.school, section__in=visible_sections(self.access, self.request.user)
        ).order_by("section_id", "student_id")


# --- Assessments -----------------------------------------------------------------------------------


class AssessmentSerializer(serializers.ModelSerializer):
    targets = serializers.SerializerMethodField(help_text="Aligned target ids.")

    class Meta:
        model = Assessment
        fields = [
            "id",
            "title",
            "kind",
            "assessed_on",
            "course",
            "section",
            "tier",
            "original",
            "description",
            "targets",
        ]

    def get_targets(self, assessment) -> list[int]:
        return sorted(a.target_id for a in assessment.alignments.all())


class AssessmentFilter(django_filters.FilterSet):
    course = django_filters.NumberFilter(field_name="course_id")
    section = django_filters.NumberFilter(method="for_section", label="Given in this section")
    kind = django_filters.CharFilter()
    assessed_after = django_filters.DateFilter(field_name="assessed_on", lookup_expr="gte")
    assessed_before = django_filters.DateFilter(field_name="assessed_on", lookup_expr="lte")

    def for_section(self, queryset, name, value):
        # The section's own assessments and those common to its course (a subquery, not a join
        # over the course's sections, which would repeat each assessment once per section).
        course = Section.objects.filter(school=self.request.school, id=value).values("course_id")
        return queryset.filter(Q(section_id=value) | Q(section__isnull=True, course_id__in=course))


def _visible_assessments(access, user):
    assessments = Assessment.objects.filter(school=access.school)
    if not access.has(*SCHOOL_WIDE):
        sections = visible_sections(access, user)
        assessments = assessments.filter(
            Q(section__in=sections)
            | Q(section__isnull=True, course__in=sections.values("course_id"))
        )
    return assessments.prefetch_related(
        Prefetch("alignments", AssessmentTarget.objects.filter(school=access.school))
    )


class AssessmentViewSet(SchoolViewSet, viewsets.ReadOnlyModelViewSet):
    model = Assessment
    serializer_class = AssessmentSerializer
    filterset_class = AssessmentFilter

    def get_queryset(self):
        return _visible_assessments(self.access, self.request.user).order_by(
            "-assessed_on", "title", "id"
        )


# --- Evidence ---------------------------------------------------------------------------------------


class MasterySerializer(serializers.ModelSerializer):
    student_local_id = serializers.CharField(source="student.local_id", read_only=True)
    target_code = serializers.CharField(source="target.code", read_only=True)
    level_label = serializers.SerializerMethodField()

    class Meta:
        model = Mastery
        fields = [
            "id",
            "student",
            "student_local_id",
            "target",
            "target_code",
            "level_label",
            *MASTERY_FIELDS,
        ]

    def get_level_label(self, record) -> str | None:
        if record.level is None:
            return None
        labels = self.context.get("level_labels")
        if labels is None:
            labels = self.context["level_labels"] = {
                lv.value: lv.label for lv in achievement_levels(self.context["school"])
            }
        return labels.get(record.level)


class EvidenceSerializer(serializers.ModelSerializer):
    recorded_by_name = serializers.CharField(source="recorded_by.full_name", read_only=True)

    class Meta:
        model = Evidence
        fields = [
            "id",
            "student",
            "target",
            "assessment",
            "score",
            "status",
            "kind",
            "assessed_on",
            "feedback",
            "recorded_by",
            "recorded_by_name",
            "recorded_at",
            "replaces",
            "voided_at",
            "void_reason",
        ]


class EvidenceCreateSerializer(serializers.Serializer):
    student = IdField()
    target = IdField()
    assessment = IdField()
    score = serializers.DecimalField(
        max_digits=4,
        decimal_places=2,
        required=False,
        allow_null=True,
        help_text="A value on the school's scale (see /scale/); omit unless status is scored.",
    )
    status = serializers.ChoiceField(choices=EvidenceStatus.choices, default=EvidenceStatus.SCORED)
    assessed_on = serializers.DateField(
        required=False, allow_null=True, help_text="Default: the assessment's date."
    )
    feedback = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)


class EvidenceRecorded(serializers.Serializer):
    changed = serializers.BooleanField(help_text="False: the same value was already recorded.")
    evidence = EvidenceSerializer()
    replaced = serializers.IntegerField(allow_null=True, help_text="The evidence now voided.")
    mastery = MasterySerializer()


class VoidSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, help_text="Why this evidence is voided.")


def by_ids(queryset, name, value):
    """`?student=1,2,3`: the rows of those ids (a filter method for id-list parameters)."""
    return queryset.filter(**{f"{name}_id__in": filter_ids(value, name)})


class EvidenceFilter(django_filters.FilterSet):
    student = django_filters.CharFilter(method=by_ids, label="Student id(s), comma-separated")
    target = django_filters.CharFilter(method=by_ids, label="Target id(s), comma-separated")
    assessment = django_filters.NumberFilter(field_name="assessment_id")
    section = django_filters.NumberFilter(method="in_section", label="Students of this section")
    voided = django_filters.BooleanFilter(
        field_name="voided_at", lookup_expr="isnull", exclude=True
    )
    recorded_since = django_filters.IsoDateTimeFilter(field_name="recorded_at", lookup_expr="gte")

    def in_section(self, queryset, name, value):
        # The section's active students, on the section's own assessments and its course's
        # common ones (what its grid shows).
        section = Section.objects.filter(school=self.request.school, id=value).first()
        if section is None:
            return queryset.none()
        return queryset.filter(
            Q(assessment__section_id=section.id)
            | Q(assessment__section__isnull=True, assessment__course_id=section.course_id),
            student_id__in=section_student_ids(section),
        )


class EvidenceViewSet(SchoolViewSet, viewsets.ReadOnlyModelViewSet):
    """Evidence (one attempt each), live and voided. Recording a new value on a cell voids the
    old row and keeps it; nothing is ever deleted."""

    model = Evidence
    serializer_class = EvidenceSerializer
    filterset_class = EvidenceFilter

    def get_queryset(self):
        evidence = Evidence.objects.filter(school=self.school)
        if not self.access.has(*SCHOOL_WIDE):
            evidence = evidence.filter(
                student__in=visible_students(self.access, self.request.user).values("id")
            )
        return evidence.select_related("recorded_by").order_by("id")

    def _check_can_write(self, *, student_id: int, assessment_id: int) -> None:
        """School admins write anywhere; a teacher in the sections they teach that student in."""
        if self.access.has(Role.SCHOOL_ADMIN):
            return
        if not self.access.has(Role.TEACHER):
            raise exceptions.PermissionDenied("Only teachers and school admins record evidence.")
        mine = Section.objects.filter(
            school=self.school,
            section_teachers__teacher=self.request.user,
            enrollments__student_id=student_id,
        )
        allowed = Assessment.objects.filter(school=self.school, id=assessment_id).filter(
            Q(section__in=mine) | Q(section__isnull=True, course__in=mine.values("course_id"))
        )
        if not allowed.exists():
            if not Assessment.objects.filter(school=self.school, id=assessment_id).exists():
                raise exceptions.ValidationError(
                    {"assessment": ["That assessment does not exist in this school."]}
                )
            raise exceptions.PermissionDenied(
                "You do not teach this student in a section of that assessment."
            )

    @extend_schema(
        request=EvidenceCreateSerializer,
        responses={
            201: EvidenceRecorded,
            200: OpenApiResponse(EvidenceRecorded, description="Unchanged"),
        },
    )
    def create(self, request, *args, **kwargs):
        data = EvidenceCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        self._check_can_write(student_id=v["student"], assessment_id=v["assessment"])
        result = evidence_record(
            school=self.school,
            recorded_by=request.user,
            student_id=v["student"],
            target_id=v["target"],
            assessment_id=v["assessment"],
            score=v.get("score"),
            status=v["status"],
            assessed_on=v.get("assessed_on"),
            feedback=v.get("feedback", ""),
        )
        context = self.get_serializer_context()
        body = {
            "changed": result.changed,
            "evidence": EvidenceSerializer(result.evidence, context=context).data,
            "replaced": result.replaced.id if result.replaced else None,
            "mastery": MasterySerializer(result.mastery, context=context).data,
        }
        return Response(body, status=status.HTTP_201_CREATED if result.changed else 200)

    @extend_schema(request=VoidSerializer, responses={200: MasterySerializer})
    @action(detail=True, methods=["post"])
    def void(self, request, school_slug: str, pk: str):
        """Void one piece of evidence (it stays, with who and why); returns the new Mastery."""
        evidence = self.get_object()
        data = VoidSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        self._check_can_write(student_id=evidence.student_id, assessment_id=evidence.assessment_id)
        mastery = evidence_void(
            school=self.school,
            evidence_id=evidence.id,
            voided_by=request.user,
            reason=data.validated_data["reason"],
        )
        return Response(MasterySerializer(mastery, context=self.get_serializer_context()).data)


# --- Mastery records ------------------------------------------------------------------------------


class MasteryFilter(django_filters.FilterSet):
    section = django_filters.NumberFilter(
        method="in_section", label="Students of this section × its course's targets"
    )
    student = django_filters.CharFilter(method=by_ids, label="Student id(s), comma-separated")
    target = django_filters.CharFilter(method=by_ids, label="Target id(s), comma-separated")
    level = django_filters.NumberFilter()
    mastered = django_filters.BooleanFilter()
    changed_since = django_filters.IsoDateTimeFilter(field_name="computed_at", lookup_expr="gte")

    def in_section(self, queryset, name, value):
        section = Section.objects.filter(school=self.request.school, id=value).first()
        return queryset.filter(section_cells_q(section)) if section else queryset.none()


class MasteryViewSet(SchoolViewSet, viewsets.ReadOnlyModelViewSet):
    """The current computed level of each student on each target, with its explanation."""

    model = Mastery
    serializer_class = MasterySerializer
    filterset_class = MasteryFilter

    @extend_schema(
        filters=False,
        parameters=[
            OpenApiParameter("section", int, description="Students of this section × its targets"),
            OpenApiParameter("target", str, description="A target's code or id"),
            OpenApiParameter("level", str, description="A level value (3) or label (Proficient)"),
            OpenApiParameter("changed_since", str, description="ISO date or date-time"),
        ],
        responses={(200, "text/csv"): OpenApiTypes.STR},
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="export.csv",
        url_name="export-csv",
        content_negotiation_class=FirstRendererNegotiation,
    )
    def export_csv(self, request, school_slug: str):
        """Every Mastery record of the school as CSV, streamed (school admins, counselors and
        district admins)."""
        if not self.access.has(*SCHOOL_WIDE):
            raise exceptions.PermissionDenied("The school's export is for admins and counselors.")
        try:
            filters = exports.parse_mastery_filters(
                request.query_params, school=self.school, ignore=("format",)
            )
        except exports.ExportFilterError as error:
            raise exceptions.ValidationError({"filters": [str(error)]}) from error
        return exports.mastery_response(school=self.school, filters=filters)

    def get_queryset(self):
        records = Mastery.objects.filter(school=self.school)
        if not self.access.has(*SCHOOL_WIDE):
            records = records.filter(
                student_id__in=visible_students(self.access, self.request.user).values("id")
            )
        return records.select_related("student", "target").order_by("id")
