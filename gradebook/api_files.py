"""REST API: evidence files (metadata, and the file itself through the same permission check as
the pages) and the work students submitted.

`evidence-files/`: the files staff may read (gradebook.selectors.files: school admins, counselors
and district admins any file of the school; a teacher those on a student's work on a target of
a course they teach the student in, on work handed in to their sections and on their courses'
assessments), voided ones included (marked). Each lists where it is
attached. `GET evidence-files/<id>/download/` answers the bytes with the page's headers (no
sniffing, a sandboxing CSP); a file the caller may not read is not found, as on the pages.
`submissions/`: work students handed in, in the sections the caller sees; filter by `status`,
`student`, `target` and `section`. Students hand work in from the portal, and teachers score it
there: like every API route, these are read-only and for staff (mastery.tenancy.API_ROLES).
"""

from __future__ import annotations

import django_filters
from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action

from gradebook.api import by_ids
from gradebook.models import EvidenceFile, FileAttachment, Submission
from gradebook.permissions import SCHOOL_WIDE, visible_sections
from gradebook.selectors import files as file_reads
from gradebook.services.files import EXTENSION as STORED_TYPES
from gradebook.views.files import file_response
from mastery.models import Role
from mastery.rest import SchoolViewSet
from mastery.tenancy import SchoolAccess


def visible_files(access: SchoolAccess, user) -> QuerySet[EvidenceFile]:
    """The files a staff member may read (the download view's rule, as one queryset)."""
    files = EvidenceFile.objects.filter(school=access.school)
    if access.has(*SCHOOL_WIDE):
        return files
    if not access.has(Role.TEACHER):
        return files.none()
    attached = FileAttachment.objects.filter(school=access.school).filter(
        file_reads.teacher_readable(access, user)
    )
    return files.filter(id__in=attached.values("file_id"))


class AttachmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = FileAttachment
        fields = [
            "id",
            "evidence",
            "assessment",
            "submission",
            "student",
            "attached_at",
            "voided_at",
            "void_reason",
        ]


class EvidenceFileSerializer(serializers.ModelSerializer):
    attachments = AttachmentSerializer(many=True, read_only=True, source="shown_attachments")
    download = serializers.SerializerMethodField(
        help_text="The file itself, through the same permission check (this API's route)."
    )

    class Meta:
        model = EvidenceFile
        fields = [
            "id",
            "original_name",
            "content_type",
            "converted_from",
            "size",
            "sha256",
            "width",
            "height",
            "uploaded_at",
            "voided_at",
            "attachments",
            "download",
        ]

    def get_download(self, obj: EvidenceFile) -> str:
        return self.context["request"].build_absolute_uri(
            reverse(
                "api:evidence-file-download",
                kwargs={"school_slug": obj.school.slug, "pk": obj.id},
            )
        )


class EvidenceFileFilter(django_filters.FilterSet):
    evidence = django_filters.NumberFilter(field_name="attachments__evidence_id")
    assessment = django_filters.NumberFilter(field_name="attachments__assessment_id")
    submission = django_filters.NumberFilter(field_name="attachments__submission_id")
    student = django_filters.NumberFilter(field_name="attachments__student_id")


class EvidenceFileViewSet(SchoolViewSet, viewsets.ReadOnlyModelViewSet):
    """Photos and PDFs of students' work and of assessments: metadata, and a download."""

    model = EvidenceFile
    serializer_class = EvidenceFileSerializer
    filterset_class = EvidenceFileFilter

    def get_queryset(self):
        return (
            visible_files(self.access, self.request.user)
            .select_related("school")
            .prefetch_related(
                Prefetch(
                    "attachments",
                    queryset=FileAttachment.objects.filter(school=self.school).order_by("id"),
                    to_attr="shown_attachments",
                )
            )
            .distinct()
            .order_by("id")
        )

    @extend_schema(
        # The stored file in its own type: the types a check by content accepts (HEIC is stored
        # as JPEG), never the uploader's claim.
        responses={
            (200, content_type): OpenApiResponse(
                OpenApiTypes.BINARY, description="The stored file (images without metadata)."
            )
            for content_type in STORED_TYPES
        }
    )
    @action(detail=True, methods=["get"])
    def download(self, request, *args, **kwargs):
        found = file_reads.file_for_viewer(
            access=self.access, user=request.user, file_id=self.get_object().id
        )
        if found is None:
            raise Http404("No such file")
        return file_response(found, thumbnail=False)


class SubmissionSerializer(serializers.ModelSerializer):
    target_code = serializers.CharField(source="target.code", read_only=True)
    files = serializers.SerializerMethodField(help_text="Ids of the live files handed in.")

    class Meta:
        model = Submission
        fields = [
            "id",
            "student",
            "target",
            "target_code",
            "section",
            "title",
            "note",
            "status",
            "submitted_at",
            "resolved_at",
            "response",
            "evidence",
            "files",
        ]

    def get_files(self, obj: Submission) -> list[int]:
        return [a.file_id for a in obj.attachments.all() if a.voided_at is None]


class SubmissionFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Submission.Status.choices)
    student = django_filters.CharFilter(method=by_ids, label="Student id(s), comma-separated")
    target = django_filters.CharFilter(method=by_ids, label="Target id(s), comma-separated")
    section = django_filters.NumberFilter(field_name="section_id")


class SubmissionViewSet(SchoolViewSet, viewsets.ReadOnlyModelViewSet):
    """Work students handed in on a target: pending (counted for nothing), scored (with the
    evidence it became), returned or withdrawn."""

    model = Submission
    serializer_class = SubmissionSerializer
    filterset_class = SubmissionFilter

    def get_queryset(self):
        return (
            Submission.objects.filter(
                school=self.school, section__in=visible_sections(self.access, self.request.user)
            )
            .select_related("target")
            .prefetch_related("attachments")
            .order_by("id")
        )
