"""REST API: reassessment requests and the reassessment rules of one school.

Requests (`reassessment-requests`): listed and read by whoever may see their section (school
admins, counselors and district admins the whole school, a teacher their own sections; a request
left without a section, by whoever may see its student). Teachers and school admins note a request
for a student (as a teacher: `by=teacher`, refused with the rules' words when the rules are not
met), accept requests for a day and decline them with a reason, through the same services as the
pages (gradebook.services.requests), so the API refuses exactly what the pages refuse. Only the
section's teachers and school admins accept or decline; counselors and district admins read.
Students and families ask from the portal: like every API route, this one is not theirs.

Rules (`reassessment-rules`): read only. The school's rules (the defaults, without an id, until an
admin sets them) and each course's own, in fields and in words (with what a new score does under
the governing policy), and a check of a request against them for a student (`check/`, as a
teacher would ask). No write through the API for rules: school admins set them on the rules page
(grading.views.rules_page), where each change is audited.
"""

from __future__ import annotations

import django_filters
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from gradebook.api import by_ids
from gradebook.models import ReassessmentRequest, ReassessmentRule, Section, Student
from gradebook.permissions import (
    SCHOOL_WIDE,
    can_score_section,
    visible_sections,
    visible_students,
)
from gradebook.selectors.reassessment import (
    BY_TEACHER,
    as_rule_lines,
    request_check,
    target_section,
)
from gradebook.services.requests import request_create, request_decline, requests_accept
from grading.policies import default_policy, policy_for_course
from grading.rules import course_rules, rules_statement, school_rules
from grading.services import RULE_FIELDS
from mastery.fields import parse_id
from mastery.models import LearningTarget, Role
from mastery.rest import IdField, SchoolViewSet
from mastery.selectors import current_policies
from mastery.tenancy import SchoolAccess

# Who notes, accepts and declines requests (a teacher only in the sections they teach).
WRITERS = (Role.SCHOOL_ADMIN, Role.TEACHER)
# Requests scheduled together in one call, at most (the page's form takes as many).
BULK_MAX = 200


def visible_requests(access: SchoolAccess, user) -> QuerySet[ReassessmentRequest]:
    """The requests of the sections the user may see (and, without a section, of the students)."""
    requests = ReassessmentRequest.objects.filter(school=access.school)
    if access.has(*SCHOOL_WIDE):
        return requests
    return requests.filter(
        Q(section__in=visible_sections(access, user))
        | Q(section__isnull=True, student__in=visible_students(access, user).values("id"))
    )


# --- Requests ---------------------------------------------------------------------------------------


class ReassessmentRuleLineSerializer(serializers.Serializer):
    rule = serializers.CharField(help_text="The rule applied to the request, in words.")
    met = serializers.BooleanField()


class ReassessmentRequestSerializer(serializers.ModelSerializer):
    target_code = serializers.CharField(source="target.code", read_only=True)
    requested_by = serializers.CharField(
        source="requested_by.full_name",
        read_only=True,
        help_text="The name of who asked: the student, one of their family or a teacher.",
    )
    rules = serializers.SerializerMethodField(
        help_text="The rules checked when the request was made, and whether each was met."
    )

    class Meta:
        model = ReassessmentRequest
        fields = [
            "id",
            "student",
            "target",
            "target_code",
            "section",
            "status",
            "note",
            "created_at",
            "scheduled_on",
            "sitting",
            "decline_reason",
            "rules",
            "requested_by",
            "resolved_at",
            "evidence",
        ]

    @extend_schema_field(ReassessmentRuleLineSerializer(many=True))
    def get_rules(self, request: ReassessmentRequest) -> list[dict]:
        return [line.as_dict() for line in as_rule_lines(request.rules)]


class ReassessmentRequestCreateSerializer(serializers.Serializer):
    student = IdField()
    target = IdField()
    note = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="At most 500 characters."
    )


class ReassessmentAcceptSerializer(serializers.Serializer):
    scheduled_on = serializers.DateField(
        help_text="The day of the reassessment (today or later, inside the section's term).",
        error_messages={
            "required": "Give the day of the reassessment.",
            "null": "Give the day of the reassessment.",
        },
    )


class ReassessmentAcceptManySerializer(ReassessmentAcceptSerializer):
    ids = serializers.ListField(
        child=IdField(),
        allow_empty=False,
        max_length=BULK_MAX,
        help_text="The requests to schedule on that day: one sitting per target and section.",
        error_messages={"empty": "Give the ids of the requests to schedule."},
    )


class ReassessmentDeclineSerializer(serializers.Serializer):
    reason = serializers.CharField(
        help_text="Why (the student and family read it); at most 300 characters.",
        error_messages={
            "required": "Say why the request is declined: the student reads it.",
            "blank": "Say why the request is declined: the student reads it.",
            "null": "Say why the request is declined: the student reads it.",
        },
    )


class RequestFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=ReassessmentRequest.Status.choices)
    section = django_filters.NumberFilter(field_name="section_id")
    student = django_filters.CharFilter(method=by_ids, label="Student id(s), comma-separated")
    target = django_filters.CharFilter(method=by_ids, label="Target id(s), comma-separated")


class ReassessmentRequestViewSet(SchoolViewSet, viewsets.ReadOnlyModelViewSet):
    """Requests to be reassessed on a target, in every status (oldest first)."""

    model = ReassessmentRequest
    serializer_class = ReassessmentRequestSerializer
    filterset_class = RequestFilter

    def get_queryset(self):
        return (
            visible_requests(self.access, self.request.user)
            .select_related("target", "requested_by")
            .order_by("created_at", "id")
        )

    def _check_writer(self) -> None:
        if not self.access.has(*WRITERS):
            raise exceptions.PermissionDenied(
                "Only teachers and school admins note, accept and decline requests."
            )

    def _check_can_resolve(self, requests: list[ReassessmentRequest]) -> None:
        """School admins resolve any request; a teacher those of the sections they teach."""
        if self.access.has(Role.SCHOOL_ADMIN):
            return
        sections: dict[int, bool] = {}
        for found in requests:
            section = found.section
            if section is not None and section.id not in sections:
                sections[section.id] = can_score_section(self.access, self.request.user, section)
            if section is None or not sections[section.id]:
                raise exceptions.PermissionDenied(
                    "Only the section's teachers and school admins accept or decline its requests."
                )

    def _answer(self, request_ids: list[int], *, many: bool, code: int = status.HTTP_200_OK):
        found = self.get_queryset().filter(id__in=request_ids)
        data = self.get_serializer(found if many else found.get(), many=many).data
        return Response(data, status=code)

    @extend_schema(
        request=ReassessmentRequestCreateSerializer,
        responses={
            201: ReassessmentRequestSerializer,
            200: OpenApiResponse(
                ReassessmentRequestSerializer, description="The same request, already noted"
            ),
        },
    )
    def create(self, request, *args, **kwargs):
        """Note a request for a student, as their teacher (or a school admin): checked against
        the course's rules as a teacher's request, and refused with the rules' words (400) when
        one is not met."""
        self._check_writer()
        data = ReassessmentRequestCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        student = Student.objects.filter(school=self.school, id=v["student"]).first()
        if student is None:
            raise exceptions.ValidationError({"student": ["No such student in this school."]})
        target = LearningTarget.objects.filter(school=self.school, id=v["target"]).first()
        if target is None:
            raise exceptions.ValidationError(
                {"target": ["No such learning target in this school."]}
            )
        if not self.access.has(Role.SCHOOL_ADMIN):
            if not visible_students(self.access, request.user).filter(id=student.id).exists():
                raise exceptions.PermissionDenied("You do not teach this student.")
            section = target_section(school=self.school, student=student, target_id=target.id)
            if section is not None and not can_score_section(self.access, request.user, section):
                raise exceptions.PermissionDenied(
                    "You do not teach this student in the course of that target."
                )
        started = timezone.now()
        made = request_create(
            school=self.school,
            requested_by=request.user,
            student=student,
            target=target,
            by=BY_TEACHER,
            note=v["note"],
        )
        # The service answers a request sent twice with the first one.
        code = status.HTTP_201_CREATED if made.created_at >= started else status.HTTP_200_OK
        return self._answer([made.id], many=False, code=code)

    @extend_schema(
        request=ReassessmentAcceptSerializer, responses={200: ReassessmentRequestSerializer}
    )
    @action(detail=True, methods=["post"])
    def accept(self, request, school_slug: str, pk: str):
        """Accept the request for a day: it joins the sitting of its target on that day in its
        section (made if there is none). Accepting again for the same day changes nothing;
        for another day, moves it."""
        self._check_writer()
        found = self.get_object()
        self._check_can_resolve([found])
        data = ReassessmentAcceptSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        requests_accept(
            school=self.school,
            request_ids=[found.id],
            accepted_by=request.user,
            scheduled_on=data.validated_data["scheduled_on"],
        )
        return self._answer([found.id], many=False)

    @extend_schema(
        operation_id="reassessment_requests_accept_many",
        request=ReassessmentAcceptManySerializer,
        responses={200: ReassessmentRequestSerializer(many=True)},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="accept",
        url_name="accept-many",
        pagination_class=None,
        filter_backends=[],
    )
    def accept_many(self, request, school_slug: str):
        """Accept several requests for one day, all or none: requests on one target (in one
        section) share one sitting."""
        self._check_writer()
        data = ReassessmentAcceptManySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids = list(dict.fromkeys(data.validated_data["ids"]))
        found = list(self.get_queryset().filter(id__in=ids).select_related("section"))
        missing = sorted(set(ids) - {r.id for r in found})
        if missing:
            raise exceptions.ValidationError(
                {"ids": [f"No such request in this school: {', '.join(map(str, missing))}."]}
            )
        self._check_can_resolve(found)
        requests_accept(
            school=self.school,
            request_ids=ids,
            accepted_by=request.user,
            scheduled_on=data.validated_data["scheduled_on"],
        )
        return self._answer(ids, many=True)

    @extend_schema(
        request=ReassessmentDeclineSerializer, responses={200: ReassessmentRequestSerializer}
    )
    @action(detail=True, methods=["post"])
    def decline(self, request, school_slug: str, pk: str):
        """Decline an open or scheduled request, saying why (the student and family read it)."""
        self._check_writer()
        found = self.get_object()
        self._check_can_resolve([found])
        data = ReassessmentDeclineSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        request_decline(
            school=self.school,
            request_id=found.id,
            declined_by=request.user,
            reason=data.validated_data["reason"],
        )
        return self._answer([found.id], many=False)


# --- Rules ------------------------------------------------------------------------------------------


class ReassessmentRuleSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="Empty: the school has not set its rules yet; these are the defaults.",
    )
    course = serializers.IntegerField(
        source="course_id",
        read_only=True,
        allow_null=True,
        help_text="Empty: the school's rules. Set: this course's own.",
    )
    statement = serializers.SerializerMethodField(
        help_text="The rules in words, as the policy page, the portal and the report state them."
    )

    class Meta:
        model = ReassessmentRule
        fields = ["id", "course", *RULE_FIELDS, "statement"]

    def get_statement(self, rule: ReassessmentRule) -> list[str]:
        school = self.context["school"]
        policies = self.context.get("policies")
        if policies is None:
            policies = self.context["policies"] = current_policies(school)
        if rule.course_id is None:
            policy = default_policy(school, policies)
        else:
            policy = policy_for_course(school=school, course_id=rule.course_id, policies=policies)
        return rules_statement(rule, policy)


class ReassessmentCheckSerializer(serializers.Serializer):
    student = serializers.IntegerField()
    target = serializers.IntegerField()
    target_code = serializers.CharField()
    section = serializers.IntegerField(
        allow_null=True,
        help_text="The student's current section whose course teaches the target (its rules).",
    )
    allowed = serializers.BooleanField(help_text="Every rule is met: a request would be noted.")
    lines = ReassessmentRuleLineSerializer(many=True)
    opens_on = serializers.DateField(
        allow_null=True, help_text="When it is too soon after the attempt: the first day allowed."
    )


class ReassessmentRuleViewSet(SchoolViewSet, viewsets.ReadOnlyModelViewSet):
    """The school's reassessment rules (first) and the courses' own (by course code)."""

    model = ReassessmentRule
    serializer_class = ReassessmentRuleSerializer

    def get_queryset(self):
        return ReassessmentRule.objects.filter(school=self.school).order_by(
            F("course__code").asc(nulls_first=True), "id"
        )

    def list(self, request, *args, **kwargs):
        # The school always has rules: its defaults (unsaved) until an admin sets them.
        rules = [school_rules(self.school), *course_rules(self.school)]
        page = self.paginate_queryset(rules)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        filters=False,
        parameters=[
            OpenApiParameter("student", int, required=True, description="A student's id"),
            OpenApiParameter("target", int, required=True, description="A learning target's id"),
        ],
        responses={200: ReassessmentCheckSerializer},
    )
    @action(detail=False, methods=["get"], url_path="check", url_name="check")
    def rules_check(self, request, school_slug: str):
        """Whether a teacher could note a request for the student on the target today, rule by
        rule (the student's current section whose course teaches the target gives the rules)."""
        student_id = parse_id(request.query_params.get("student", ""))
        if student_id is None:
            raise exceptions.ValidationError({"student": ["Give a student's id."]})
        target_id = parse_id(request.query_params.get("target", ""))
        if target_id is None:
            raise exceptions.ValidationError({"target": ["Give a learning target's id."]})
        student = visible_students(self.access, request.user).filter(id=student_id).first()
        if student is None:
            raise exceptions.ValidationError(
                {"student": ["No such student among those you may see."]}
            )
        target = LearningTarget.objects.filter(school=self.school, id=target_id).first()
        if target is None:
            raise exceptions.ValidationError(
                {"target": ["No such learning target in this school."]}
            )
        check = request_check(
            school=self.school,
            student=student,
            target=target,
            by=BY_TEACHER,
            today=timezone.localdate(),
        )
        section: Section | None = check.section
        body = {
            "student": student.id,
            "target": target.id,
            "target_code": target.code,
            "section": section.id if section is not None else None,
            "allowed": check.allowed,
            "lines": [line.as_dict() for line in check.lines],
            "opens_on": check.opens_on,
        }
        return Response(ReassessmentCheckSerializer(body).data)
