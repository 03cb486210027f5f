"""REST API: progress reports — one student's PDF, and batches rendered by Celery."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ValidationError
from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from gradebook.models import Student
from gradebook.permissions import visible_sections, visible_students
from mastery.rest import FirstRendererNegotiation, IdField, SchoolViewSet
from reports.models import ReportBatch
from reports.rendering import report_language
from reports.services.batches import batch_start, report_pdf_file
from reports.views import BATCH_ROLES, FAMILY_STAFF

# The same rules as the batch pages: teachers their sections, managers the grade or the school.
MANAGERS = FAMILY_STAFF


class BatchSerializer(serializers.ModelSerializer):
    percent = serializers.IntegerField(read_only=True)
    finished = serializers.BooleanField(read_only=True)
    download = serializers.SerializerMethodField(help_text="The zip, once finished.")

    class Meta:
        model = ReportBatch
        fields = [
            "id",
            "kind",
            "period",
            "section",
            "grade_level",
            "language",
            "status",
            "total",
            "done",
            "failed",
            "reused",
            "percent",
            "finished",
            "created_at",
            "finished_at",
            "download",
        ]

    def get_download(self, batch) -> str | None:
        if not batch.finished:
            return None
        return self.context["request"].build_absolute_uri(
            reverse("api:report-batch-download", args=[batch.school.slug, batch.id])
        )


class BatchStartSerializer(serializers.Serializer):
    section = IdField(
        required=False, allow_null=True, help_text="A section's students (teachers: their own)."
    )
    grade_level = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=13, help_text="Admins, counselors."
    )
    language = serializers.ChoiceField(choices=ReportBatch.Language.choices, default="family")

    def validate(self, attrs):
        if attrs.get("section") and attrs.get("grade_level") is not None:
            raise serializers.ValidationError("Give a section or a grade level, not both.")
        return attrs


class ReportBatchViewSet(
    SchoolViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin
):
    """Batches of progress reports (and, read here, of report cards of record: `kind`, `period`;
    those are started on the report cards page); each student's PDF renders in its own task."""

    model = ReportBatch
    allowed_roles = BATCH_ROLES
    serializer_class = BatchSerializer

    def get_queryset(self):
        batches = ReportBatch.objects.filter(school=self.school).select_related("school")
        if not self.access.has(*MANAGERS):
            batches = batches.filter(requested_by=self.request.user)
        return batches.order_by("-created_at", "-id")

    @extend_schema(request=BatchStartSerializer, responses={201: BatchSerializer})
    def create(self, request, *args, **kwargs):
        data = BatchStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        section = None
        if data.validated_data.get("section"):
            section = (
                visible_sections(self.access, request.user)
                .filter(id=data.validated_data["section"])
                .first()
            )
            if section is None:
                raise exceptions.ValidationError({"section": ["No such section of yours."]})
        elif not self.access.has(*MANAGERS):
            raise exceptions.PermissionDenied(
                "Teachers start batches for one of their sections; give `section`."
            )
        try:
            batch = batch_start(
                school=self.school,
                requested_by=request.user,
                section=section,
                grade_level=data.validated_data.get("grade_level"),
                language=data.validated_data["language"],
            )
        except ValidationError as exc:
            raise exceptions.ValidationError({"non_field_errors": exc.messages}) from exc
        batch.school = self.school
        return Response(self.get_serializer(batch).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"], content_negotiation_class=FirstRendererNegotiation)
    def download(self, request, school_slug: str, pk: str):
        """The batch's PDFs in one zip (404 until it is finished)."""
        batch = self.get_object()
        if not batch.finished or not batch.zip_path or not Path(batch.zip_path).exists():
            raise exceptions.NotFound("The batch has not finished yet.")
        return FileResponse(
            open(batch.zip_path, "rb"),
            as_attachment=True,
            filename=f"progress-reports-{batch.id}.zip",
            content_type="application/zip",
        )


class StudentReportViewSet(SchoolViewSet):
    """One student's progress report as a PDF (the stored file when nothing changed)."""

    model = Student
    content_negotiation_class = FirstRendererNegotiation

    def get_queryset(self):
        return visible_students(self.access, self.request.user)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "lang", str, enum=["en", "es"], description="Default: the family's language."
            )
        ],
        responses={(200, "application/pdf"): OpenApiTypes.BINARY},
    )
    def retrieve(self, request, school_slug: str, pk: str):
        student: Student = self.get_object()
        language = report_language(student, request.query_params.get("lang"))
        path, _, _ = report_pdf_file(school=self.school, student=student, language=language)
        filename = f"progress-report-{student.last_name}-{student.first_name}-{language}.pdf"
        return FileResponse(
            path.open("rb"),
            content_type="application/pdf",
            filename=filename.replace(" ", "-"),
            as_attachment=False,
        )
