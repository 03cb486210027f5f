"""REST API: learning targets written, with the standards they are aligned to (issue [13] item 2).

Reads are the core's (`mastery.api.TargetViewSet`); this resource adds create and update through
the same service as the target form (`target_save`), so the API refuses exactly what the form
refuses. Who may write is the form's rule too (`can_edit_department`: school admins, and teachers
who teach a course of the target's department), which reads sections: hence it lives here, above
the core. `case_identifiers` makes the target's alignments exactly those standards: an identifier
that is no current standard of a framework the school sees is a 400 naming it, nothing changed.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.response import Response

from gradebook.permissions import can_edit_department
from mastery.api import TargetSerializer
from mastery.api import TargetViewSet as TargetReadViewSet
from mastery.models import Competency, LearningTarget
from mastery.rest import IdField
from mastery.services import target_save
from mastery.standards.alignments import FIELD as ALIGNMENT_FIELD

LEVELS = ("1", "2", "3", "4")


class TargetWriteSerializer(serializers.Serializer):
    competency = IdField(help_text="The competency (of this school) the target belongs to.")
    code = serializers.CharField(max_length=40)
    statement = serializers.CharField(max_length=500, help_text="Student-facing: “I can …”.")
    standard_code = serializers.CharField(max_length=80, required=False, allow_blank=True)
    dok_level = serializers.IntegerField(min_value=1, max_value=4, required=False, allow_null=True)
    descriptors = serializers.DictField(
        child=serializers.CharField(max_length=2000, allow_blank=True),
        required=False,
        help_text='"I can …" per level ("1" to "4"); an empty text removes that level\'s.',
    )
    case_identifiers = serializers.ListField(
        child=serializers.CharField(max_length=100),
        max_length=200,
        required=False,
        help_text="CASE identifiers of the standards the target is aligned to: exactly these "
        "(an empty list: none). Left out: the alignments stay as they are.",
    )

    def validate_descriptors(self, value: dict) -> dict:
        wrong = sorted(k for k in value if k not in LEVELS)
        if wrong:
            raise serializers.ValidationError(f"Levels are 1 to 4, not {', '.join(wrong)[:100]}.")
        return value


class TargetViewSet(TargetReadViewSet, mixins.CreateModelMixin, mixins.UpdateModelMixin):
    """Learning targets with their rubric rows and aligned standards; school admins and the
    department's teachers create and edit them."""

    def _competency(self, competency_id: int) -> Competency:
        competency = (
            Competency.objects.filter(school=self.school, id=competency_id)
            .select_related("department")
            .first()
        )
        if competency is None:
            raise exceptions.ValidationError(
                {"competency": ["That competency does not exist in this school."]}
            )
        return competency

    def _check_can_edit(self, department) -> None:
        if not can_edit_department(self.access, self.request.user, department):
            raise exceptions.PermissionDenied(
                "Only the department's teachers and school admins edit its targets."
            )

    def _save(self, data: dict, target: LearningTarget | None) -> LearningTarget:
        competency = self._competency(data["competency"])
        if target is not None:
            self._check_can_edit(target.department)
        self._check_can_edit(competency.department)
        try:
            return target_save(
                school=self.school,
                department=competency.department,
                target=target,
                competency=competency,
                code=data["code"],
                statement=data["statement"],
                standard_code=data.get("standard_code", ""),
                subject=competency.department.name,
                dok_level=data.get("dok_level"),
                descriptors=data.get("descriptors"),
                case_identifiers=data.get("case_identifiers"),
                saved_by=self.request.user,
            )
        except DjangoValidationError as exc:
            errors = (
                exc.message_dict
                if hasattr(exc, "error_dict")
                else {"non_field_errors": exc.messages}
            )
            if ALIGNMENT_FIELD in errors:  # the form's field name; the API's is case_identifiers
                errors["case_identifiers"] = errors.pop(ALIGNMENT_FIELD)
            raise exceptions.ValidationError(errors) from None

    def _answer(self, target: LearningTarget, status_code: int) -> Response:
        saved = self.get_queryset().get(pk=target.pk)  # with its descriptors and standards
        return Response(
            TargetSerializer(saved, context=self.get_serializer_context()).data,
            status=status_code,
        )

    @extend_schema(request=TargetWriteSerializer, responses={201: TargetSerializer})
    def create(self, request, *args, **kwargs):
        """A new learning target (its code unique in the school), optionally aligned."""
        data = TargetWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._answer(self._save(data.validated_data, None), status.HTTP_201_CREATED)

    @extend_schema(request=TargetWriteSerializer, responses={200: TargetSerializer})
    def update(self, request, *args, **kwargs):
        """Edit a target; with PATCH, what is left out stays as it is."""
        target = self.get_object()
        partial = kwargs.pop("partial", False)
        data = TargetWriteSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        current = {
            "competency": target.competency_id,
            "code": target.code,
            "statement": target.statement,
            "standard_code": target.standard_code,
            "dok_level": target.dok_level,
        }
        return self._answer(self._save({**current, **data.validated_data}, target), 200)

    @extend_schema(request=TargetWriteSerializer, responses={200: TargetSerializer})
    def partial_update(self, request, *args, **kwargs):
        kwargs["partial"] = True
        return self.update(request, *args, **kwargs)
