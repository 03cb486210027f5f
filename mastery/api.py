"""REST API: schools, the learning framework (departments, competencies, targets) and the scale."""

from __future__ import annotations

import django_filters
from django.db.models import Prefetch, Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from mastery.models import (
    ApiToken,
    Competency,
    Department,
    Framework,
    FrameworkItem,
    LearningTarget,
    LevelDescriptor,
    ScaleLevel,
    School,
    TargetAlignment,
)
from mastery.rest import SchoolViewSet
from mastery.selectors import achievement_levels
from mastery.standards.selectors import (
    frameworks_visible_to,
    parse_identifier,
    with_child_counts,
)
from mastery.tenancy import schools_for_user

# --- Schools -----------------------------------------------------------------------------------------


class SchoolSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    district = serializers.CharField(allow_null=True)
    timezone = serializers.CharField()
    default_language = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField(), help_text="Your roles there.")


def _school_row(school: School, roles) -> dict:
    return {
        "slug": school.slug,
        "name": school.name,
        "district": school.district.name if school.district_id else None,
        "timezone": school.timezone,
        "default_language": school.default_language,
        "roles": list(roles),
    }


class SchoolList(viewsets.ViewSet):
    """The schools you can reach (with a token: the token's school only)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=SchoolSerializer(many=True))
    def list(self, request):
        rows = []
        for school, roles in schools_for_user(request.user):
            if isinstance(request.auth, ApiToken) and request.auth.school_id != school.id:
                continue
            rows.append(_school_row(school, roles))
        return Response(SchoolSerializer(rows, many=True).data)


class SchoolDetail(SchoolViewSet):
    @extend_schema(responses=SchoolSerializer)
    def retrieve(self, request, school_slug: str):
        school = School.objects.select_related("district").get(id=self.school.id)
        return Response(SchoolSerializer(_school_row(school, sorted(self.access.roles))).data)


# --- The scale -------------------------------------------------------------------------------------


class ScaleLevelSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScaleLevel
        fields = ["value", "label", "label_es", "cutoff", "color"]


class ScaleViewSet(SchoolViewSet, mixins.ListModelMixin):
    """The school's achievement levels, lowest first: what `level` means everywhere else."""

    model = ScaleLevel
    serializer_class = ScaleLevelSerializer
    pagination_class = None

    def get_queryset(self):
        return ScaleLevel.objects.none()

    def list(self, request, *args, **kwargs):
        return Response(self.get_serializer(achievement_levels(self.school), many=True).data)


# --- The framework ------------------------------------------------------------------------------


class DepartmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Department
        fields = ["id", "name", "code", "intervention_focus"]


class DepartmentViewSet(SchoolViewSet, viewsets.ReadOnlyModelViewSet):
    model = Department
    serializer_class = DepartmentSerializer

    def get_queryset(self):
        return Department.objects.filter(school=self.school).order_by("name")


class CompetencySerializer(serializers.ModelSerializer):
    class Meta:
        model = Competency
        fields = ["id", "code", "name", "description", "kind", "department", "position"]


class CompetencyFilter(django_filters.FilterSet):
    department = django_filters.NumberFilter(field_name="department_id")
    kind = django_filters.ChoiceFilter(choices=Competency.Kind.choices)


class CompetencyViewSet(SchoolViewSet, viewsets.ReadOnlyModelViewSet):
    model = Competency
    serializer_class = CompetencySerializer
    filterset_class = CompetencyFilter

    def get_queryset(self):
        return Competency.objects.filter(school=self.school).order_by("position", "code")


class DescriptorSerializer(serializers.ModelSerializer):
    class Meta:
        model = LevelDescriptor
        fields = ["level_value", "text", "text_es"]


class CaseItemSerializer(serializers.Serializer):
    """A standard the target is aligned to (issue [13] item 2), as its framework says it."""

    identifier = serializers.UUIDField(source="item.identifier", read_only=True)
    code = serializers.CharField(source="item.human_coding_scheme", read_only=True)
    statement = serializers.CharField(source="item.full_statement", read_only=True)
    framework = serializers.CharField(source="item.framework.title", read_only=True)
    is_retired = serializers.BooleanField(source="item.is_retired", read_only=True)


class TargetSerializer(serializers.ModelSerializer):
    competency_code = serializers.CharField(source="competency.code", read_only=True)
    descriptors = DescriptorSerializer(many=True, read_only=True)
    case_items = CaseItemSerializer(source="standard_alignments", many=True, read_only=True)

    class Meta:
        model = LearningTarget
        fields = [
            "id",
            "code",
            "statement",
            "statement_es",
            "standard_code",
            "subject",
            "dok_level",
            "competency",
            "competency_code",
            "department",
            "position",
            "is_active",
            "descriptors",
            "case_items",
        ]


class TargetFilter(django_filters.FilterSet):
    department = django_filters.NumberFilter(field_name="department_id")
    competency = django_filters.NumberFilter(field_name="competency_id")
    course = django_filters.NumberFilter(method="in_course", label="Targets a course scores")
    standard_code = django_filters.CharFilter()
    case_identifier = django_filters.CharFilter(
        method="aligned_to", label="Targets aligned to the standard with this CASE identifier"
    )
    code = django_filters.CharFilter()
    is_active = django_filters.BooleanFilter()

    def in_course(self, queryset, name, value):
        return queryset.filter(course_targets__course_id=value)

    def aligned_to(self, queryset, name, value):
        identifier = parse_identifier(value)
        if identifier is None:
            raise exceptions.ValidationError(
                {"case_identifier": [f"{value[:100]} is not a CASE identifier (a UUID)."]}
            )
        aligned = TargetAlignment.objects.filter(
            school=self.request.school, item__identifier=identifier
        ).values("target_id")
        return queryset.filter(id__in=aligned)


class TargetViewSet(SchoolViewSet, viewsets.ReadOnlyModelViewSet):
    """Learning targets with their rubric rows (level descriptors)."""

    model = LearningTarget
    serializer_class = TargetSerializer
    filterset_class = TargetFilter

    def get_queryset(self):
        return (
            LearningTarget.objects.filter(school=self.school)
            .select_related("competency")
            .prefetch_related(
                Prefetch(
                    "descriptors",
                    LevelDescriptor.objects.filter(school=self.school).order_by("level_value"),
                ),
                Prefetch(
                    "standard_alignments",
                    TargetAlignment.objects.filter(school=self.school)
                    .select_related("item__framework")
                    .order_by("item__framework__title", "item__position", "id"),
                ),
            )
            .order_by("competency__position", "position", "code")
        )


# --- Standards frameworks (CASE, issue [13]) ----------------------------------------------------------


class FrameworkSerializer(serializers.ModelSerializer):
    owner = serializers.SerializerMethodField(help_text="Who imported it: district or school.")
    item_count = serializers.IntegerField(read_only=True, help_text="Current (not retired) items.")

    class Meta:
        model = Framework
        fields = [
            "id",
            "identifier",
            "uri",
            "title",
            "creator",
            "publisher",
            "description",
            "subjects",
            "language",
            "version",
            "adoption_status",
            "official_source_url",
            "last_change",
            "imported_at",
            "owner",
            "item_count",
        ]

    def get_owner(self, framework: Framework) -> str:
        return "district" if framework.owner_district_id else "school"


class FrameworkItemSerializer(serializers.ModelSerializer):
    code = serializers.CharField(source="human_coding_scheme", read_only=True)
    child_count = serializers.IntegerField(
        read_only=True, help_text="Current items one level below (isChildOf)."
    )

    class Meta:
        model = FrameworkItem
        fields = [
            "identifier",
            "uri",
            "code",
            "full_statement",
            "abbreviated_statement",
            "alternative_label",
            "list_enumeration",
            "item_type",
            "education_levels",
            "concept_keywords",
            "language",
            "notes",
            "last_change",
            "parent_identifier",
            "sequence_number",
            "depth",
            "position",
            "child_count",
            "is_retired",
        ]


ITEM_PARAMETERS = [
    OpenApiParameter(
        "parent",
        OpenApiTypes.STR,
        description="The children of the item with this identifier; `none` for the top level.",
    ),
    OpenApiParameter("q", OpenApiTypes.STR, description="Code or statement contains (any case)."),
    OpenApiParameter("identifier", OpenApiTypes.UUID, description="The item of this identifier."),
    OpenApiParameter("is_retired", OpenApiTypes.BOOL, description="Retired items or current."),
]


class FrameworkViewSet(SchoolViewSet, viewsets.ReadOnlyModelViewSet):
    """The standards frameworks the school sees (its district's and its own), read only: they are
    imported from CASE packages on the standards page or with `import_case`."""

    model = Framework
    serializer_class = FrameworkSerializer

    def get_queryset(self):
        return frameworks_visible_to(self.school).order_by("title", "id")

    @extend_schema(parameters=ITEM_PARAMETERS, responses=FrameworkItemSerializer(many=True))
    @action(detail=True, methods=["get"], serializer_class=FrameworkItemSerializer)
    def items(self, request, school_slug: str, pk: str):
        """The framework's items, level by level, siblings in the publisher's order; paged."""
        framework = self.get_object()
        items = FrameworkItem.objects.filter(framework=framework)
        query = request.query_params
        errors = {}
        if "parent" in query:
            if query["parent"].strip().lower() in ("", "none", "null"):
                items = items.filter(parent_identifier__isnull=True)
            elif (parent := parse_identifier(query["parent"])) is None:
                errors["parent"] = [f"{query['parent'][:100]} is not a CASE identifier (a UUID)."]
            else:
                items = items.filter(parent_identifier=parent)
        if "identifier" in query:
            if (identifier := parse_identifier(query["identifier"])) is None:
                errors["identifier"] = [
                    f"{query['identifier'][:100]} is not a CASE identifier (a UUID)."
                ]
            else:
                items = items.filter(identifier=identifier)
        q = query.get("q", "").strip()[:100]
        if "\x00" in q:  # PostgreSQL text cannot hold it: no statement contains one
            errors["q"] = ["The search holds a NUL character; type the words to look for."]
        elif q:
            items = items.filter(
                Q(human_coding_scheme__icontains=q) | Q(full_statement__icontains=q)
            )
        if "is_retired" in query:
            flag = query["is_retired"].strip().lower()
            if flag not in ("true", "false"):
                errors["is_retired"] = ["Give true or false."]
            else:
                items = items.filter(is_retired=flag == "true")
        if errors:
            raise exceptions.ValidationError(errors)
        page = self.paginate_queryset(
            with_child_counts(items).order_by("depth", "parent_identifier", "position", "id")
        )
        return self.get_paginated_response(FrameworkItemSerializer(page, many=True).data)
