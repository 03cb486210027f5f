"""REST API: students' self-assessments (their ratings of themselves on a target, with a
reflection) and the teachers' answers.

Listed and read by school admins, counselors and district admins (the whole school) and by a
teacher for a student they teach, on the targets of the courses they teach that student in (as the
cell page shows them), live ratings only: a rating the student withdrew is shown to nobody else.
Filter by `student` and `target`. A teacher of the student in a course of the target (or a
school admin) answers one: `POST self-assessments/<id>/reply/`, through the same service as the
cell page (gradebook.services.self_assessment), audited.
Students rate themselves from the portal: like every API route, this one is not theirs (API tokens
are for staff, mastery.tenancy.API_ROLES).
"""

from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from gradebook.api import by_ids
from gradebook.models import SectionTeacher, SelfAssessment
from gradebook.permissions import SCHOOL_WIDE, visible_students
from gradebook.services.self_assessment import REPLY_MAX, self_assessment_reply
from mastery.models import Role
from mastery.rest import SchoolViewSet
from mastery.tenancy import SchoolAccess


def visible_ratings(access: SchoolAccess, user) -> QuerySet[SelfAssessment]:
    """The live self-assessments the user may read: school admins, counselors and district
    admins every student's; a teacher only a student's ratings on the targets of a course they
    teach that student in (the cell page's rule), not their reflections on other teachers'
    courses."""
    ratings = SelfAssessment.objects.filter(school=access.school, voided_at__isnull=True)
    if access.has(*SCHOOL_WIDE):
        return ratings.filter(student__in=visible_students(access, user).values("id"))
    if not access.has(Role.TEACHER):
        return ratings.none()
    return ratings.filter(
        Exists(
            SectionTeacher.objects.filter(
                school=access.school,
                teacher=user,
                section__enrollments__student_id=OuterRef("student_id"),
                section__course__course_targets__target_id=OuterRef("target_id"),
            )
        )
    )


def can_answer(access: SchoolAccess, user, rating: SelfAssessment) -> bool:
    """School admins answer any rating; a teacher, one by a student they teach in a course of
    the rated target (the cell page's rule: the section's teachers)."""
    if access.has(Role.SCHOOL_ADMIN):
        return True
    return (
        access.has(Role.TEACHER)
        and SectionTeacher.objects.filter(
            school=access.school,
            teacher=user,
            section__enrollments__student_id=rating.student_id,
            section__course__course_targets__target_id=rating.target_id,
        ).exists()
    )


class SelfAssessmentSerializer(serializers.ModelSerializer):
    target_code = serializers.CharField(source="target.code", read_only=True)
    replied_by = serializers.CharField(
        source="replied_by.full_name",
        read_only=True,
        allow_null=True,
        default=None,
        help_text="The name of the teacher who answered, if one has.",
    )

    class Meta:
        model = SelfAssessment
        fields = [
            "id",
            "student",
            "target",
            "target_code",
            "score",
            "reflection",
            "assessed_on",
            "created_at",
            "reply",
            "replied_by",
            "replied_at",
        ]


class SelfAssessmentReplySerializer(serializers.Serializer):
    reply = serializers.CharField(
        max_length=REPLY_MAX,
        help_text=f"The answer the student reads; at most {REPLY_MAX} characters. A new answer "
        "replaces the earlier one (both stay in the audit trail).",
        error_messages={
            "required": "Write an answer first.",
            "blank": "Write an answer first.",
            "null": "Write an answer first.",
        },
    )


class SelfAssessmentFilter(django_filters.FilterSet):
    student = django_filters.CharFilter(method=by_ids, label="Student id(s), comma-separated")
    target = django_filters.CharFilter(method=by_ids, label="Target id(s), comma-separated")


class SelfAssessmentViewSet(SchoolViewSet, viewsets.ReadOnlyModelViewSet):
    """Students' ratings of themselves on a target (live ones, oldest first). They count toward
    a level only where the school's grading policy says so (`count_self_assessment`)."""

    model = SelfAssessment
    serializer_class = SelfAssessmentSerializer
    filterset_class = SelfAssessmentFilter

    def get_queryset(self):
        return (
            visible_ratings(self.access, self.request.user)
            .select_related("target", "replied_by")
            .order_by("assessed_on", "id")
        )

    @extend_schema(request=SelfAssessmentReplySerializer, responses={200: SelfAssessmentSerializer})
    @action(detail=True, methods=["post"])
    def reply(self, request, school_slug: str, pk: str):
        """Answer the student's reflection, as a teacher of the student in a course of the target
        (or a school admin). The same answer sent twice changes nothing."""
        rating = self.get_object()
        if not can_answer(self.access, request.user, rating):
            raise exceptions.PermissionDenied(
                "Only a teacher of the student in a course of this target (or a school admin) "
                "answers a self-assessment."
            )
        data = SelfAssessmentReplySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        self_assessment_reply(
            school=self.school,
            rating_id=rating.id,
            reply=data.validated_data["reply"],
            replied_by=request.user,
        )
        return Response(self.get_serializer(self.get_queryset().get(id=rating.id)).data)
