"""REST API: intervention cycles, their groups and rosters (read only; counselors build them)."""

from __future__ import annotations

import django_filters
from rest_framework import serializers, viewsets

from gradebook.permissions import SCHOOL_WIDE
from intervention.models import InterventionCycle, InterventionGroup, RosterEntry
from intervention.views import READERS  # the same roles as the counselor pages
from mastery.rest import SchoolViewSet


class CycleSerializer(serializers.ModelSerializer):
    class Meta:
        model = InterventionCycle
        fields = [
            "id",
            "number",
            "starts_on",
            "ends_on",
            "status",
            "opened_at",
            "closed_at",
            "built_at",
        ]


class CycleFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=InterventionCycle.Status.choices)


class CycleViewSet(SchoolViewSet, viewsets.ReadOnlyModelViewSet):
    model = InterventionCycle
    allowed_roles = READERS
    serializer_class = CycleSerializer
    filterset_class = CycleFilter

    def get_queryset(self):
        return InterventionCycle.objects.filter(school=self.school).order_by("-number")


class GroupSerializer(serializers.ModelSerializer):
    target_code = serializers.CharField(source="target.code", read_only=True, allow_null=True)
    teacher_name = serializers.CharField(
        source="teacher.full_name", read_only=True, allow_null=True
    )

    class Meta:
        model = InterventionGroup
        fields = [
            "id",
            "cycle",
            "kind",
            "target",
            "target_code",
            "weekday",
            "teacher",
            "teacher_name",
            "room",
            "capacity",
        ]


class GroupFilter(django_filters.FilterSet):
    cycle = django_filters.NumberFilter(field_name="cycle_id")
    weekday = django_filters.NumberFilter()
    target = django_filters.NumberFilter(field_name="target_id")
    teacher = django_filters.NumberFilter(field_name="teacher_id")


class GroupViewSet(SchoolViewSet, viewsets.ReadOnlyModelViewSet):
    model = InterventionGroup
    allowed_roles = READERS
    serializer_class = GroupSerializer
    filterset_class = GroupFilter

    def get_queryset(self):
        groups = InterventionGroup.objects.filter(school=self.school)
        if not self.access.has(*SCHOOL_WIDE):
            groups = groups.filter(teacher=self.request.user)
        return groups.select_related("target", "teacher").order_by("cycle_id", "weekday", "id")


class RosterEntrySerializer(serializers.ModelSerializer):
    student_local_id = serializers.CharField(source="student.local_id", read_only=True)
    student_name = serializers.CharField(source="student.display_name", read_only=True)
    target_code = serializers.CharField(source="target.code", read_only=True, allow_null=True)
    waitlisted = serializers.BooleanField(read_only=True)

    class Meta:
        model = RosterEntry
        fields = [
            "id",
            "cycle",
            "group",
            "weekday",
            "student",
            "student_local_id",
            "student_name",
            "kind",
            "target",
            "target_code",
            "score_at_entry",
            "level_at_entry",
            "reason",
            "priority",
            "outcome",
            "score_at_close",
            "locked",
            "waitlisted",
        ]


class RosterEntryFilter(django_filters.FilterSet):
    cycle = django_filters.NumberFilter(field_name="cycle_id")
    group = django_filters.NumberFilter(field_name="group_id")
    student = django_filters.NumberFilter(field_name="student_id")
    target = django_filters.NumberFilter(field_name="target_id")
    weekday = django_filters.NumberFilter()
    outcome = django_filters.ChoiceFilter(choices=RosterEntry.Outcome.choices)
    waitlisted = django_filters.BooleanFilter(field_name="group", lookup_expr="isnull")


class RosterEntryViewSet(SchoolViewSet, viewsets.ReadOnlyModelViewSet):
    """Who is in which group on which day of a cycle (group null: on the wait list)."""

    model = RosterEntry
    allowed_roles = READERS
    serializer_class = RosterEntrySerializer
    filterset_class = RosterEntryFilter

    def get_queryset(self):
        entries = RosterEntry.objects.filter(school=self.school)
        if not self.access.has(*SCHOOL_WIDE):
            entries = entries.filter(group__teacher=self.request.user)
        return entries.select_related("student", "target").order_by(
            "cycle_id", "weekday", "priority", "id"
        )
