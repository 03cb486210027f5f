"""The REST API's common ground: token authentication, the school scope, errors, paging, throttles.

Every resource lives under /api/v1/schools/<school-slug>/ and is served by a `SchoolViewSet`: the
view resolves the school exactly as the page middleware does (`school_access`), answers 404 for a
school the caller cannot enter (or that the token was not made for), 403 for a role the resource
does not serve, and runs the handler inside the school's django-scopes scope.

Input the database cannot hold is refused here for every resource, before any query: each number a
filter takes fits a 64-bit integer (`BoundedFilterBackend`), ids in a body are `IdField`s, and a
JSON body nested beyond the parser's recursion limit is a 400 (`JSONParser`).
"""

from __future__ import annotations

from contextlib import ExitStack

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django_filters import NumberFilter
from django_filters.rest_framework import DjangoFilterBackend
from django_scopes import scope
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, parsers, serializers, viewsets
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.views import exception_handler

from mastery import audit, rls
from mastery.fields import ID_MAX, ID_MIN, INT64_MAX, INT64_MIN, parse_id
from mastery.models import ApiToken
from mastery.tenancy import API_ROLES, school_access

# --- Authentication ---------------------------------------------------------------------------------


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "mastery.api_plumbing.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token made on the API tokens page of a school "
            "(shown once). It reaches only that school, with the roles its user holds there.",
        }


# --- Input the database can hold --------------------------------------------------------------------


class IdField(serializers.IntegerField):
    """The id of a row in a request body: a whole number from 1 to 2**63 - 1."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", ID_MIN)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(**kwargs)


class BoundedFilterBackend(DjangoFilterBackend):
    """django-filter, with every number a filter takes bounded to a 64-bit integer.

    A NumberFilter reads a Decimal of any size ("1e400", 2**64): compared with an id column, that is
    an OverflowError on SQLite and a number no row can hold anywhere; refused as a 400 instead,
    with the filter's name.
    """

    def get_filterset(self, request, queryset, view):
        filterset = super().get_filterset(request, queryset, view)
        if filterset is not None:
            for number in filterset.filters.values():
                if isinstance(number, NumberFilter):
                    number.extra.setdefault("min_value", INT64_MIN)
                    number.extra.setdefault("max_value", INT64_MAX)
        return filterset


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; a body nested deeper than Python's recursion limit is a 400 too."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(
                "JSON parse error - the body is nested too deeply."
            ) from None


# --- The school scope ---------------------------------------------------------------------------------


class SchoolViewSet(viewsets.GenericViewSet):
    """A resource of one school: resolves the school, checks the role, enters the scope."""

    # Roles that may use the resource at all; finer rules (a teacher's own sections) live in
    # get_queryset / the write actions.
    allowed_roles: frozenset[str] = API_ROLES
    # The resource's model: the OpenAPI generator asks for a queryset without a request (no
    # school), so it gets an empty one of this model instead of the real, scoped query.
    model = None
    filter_backends = [BoundedFilterBackend]
    parser_classes = [JSONParser, parsers.FormParser, parsers.MultiPartParser]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        real = cls.__dict__.get("get_queryset")
        if real is None:
            return

        def get_queryset(self):
            if getattr(self, "swagger_fake_view", False) and self.model is not None:
                return self.model._base_manager.none()
            return real(self)

        get_queryset.__doc__ = real.__doc__
        cls.get_queryset = get_queryset

    def dispatch(self, request, *args, **kwargs):
        # The school's row-level security wall (mastery.rls) outlives the scope for a streamed
        # response (the CSV export): its rows are read after dispatch returns.
        self._walls = walls = ExitStack()
        try:
            with ExitStack() as stack:
                self._scope_stack = stack
                response = super().dispatch(request, *args, **kwargs)
        except BaseException:
            walls.close()
            raise
        return rls.close_with(response, walls)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication, permissions, throttles
        slug = kwargs.get("school_slug", "")
        # Open to every school for the membership lookup, then to this school only (as the
        # school middleware does).
        wall = self._walls.enter_context(rls.Wall(all_schools=True))
        access = school_access(request.user, slug)
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if access is None or (token is not None and token.school_id != access.school.id):
            wall.let_through()  # closed again
            raise exceptions.NotFound("No such school.")
        if not access.has(*self.allowed_roles):
            wall.let_through()
            raise exceptions.PermissionDenied("Your role in this school does not include this.")
        access.school._request_memo = {}  # see mastery.selectors._per_request
        self.school = request.school = access.school
        self.access = request.access = access
        wall.let_through(school_id=access.school.id)
        self._scope_stack.enter_context(scope(school=access.school))
        self._scope_stack.enter_context(audit.context(actor=request.user, source="api"))

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["school"] = getattr(self, "school", None)
        return context


class FirstRendererNegotiation(BaseContentNegotiation):
    """For downloads (CSV, PDF, zip) that return their own response: errors still answer JSON
    whatever the client's Accept header asks for (DRF would otherwise refuse with 406)."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def filter_ids(value: str, label: str) -> list[int]:
    """`?student=1,2,3` → [1, 2, 3], or a 400 that says what was wrong."""
    ids = [parse_id(part.strip()) for part in value.split(",") if part.strip()]
    if None in ids:
        raise exceptions.ValidationError({label: ["Give one id or ids separated by commas."]})
    if len(ids) > 500:
        raise exceptions.ValidationError({label: ["At most 500 ids at a time."]})
    return ids


# --- Errors -----------------------------------------------------------------------


def _error_body(status_code: int, code: str, detail: str, errors=None) -> dict:
    body = {"status": status_code, "code": code, "detail": detail}
    if errors:
        body["errors"] = errors
    return body


def api_exception_handler(exc, context):
    """Every error is `{"status", "code", "detail", "errors"?}`, whatever raised it."""
    if isinstance(exc, DjangoValidationError):
        errors = (
            exc.message_dict
            if hasattr(exc, "error_dict")
            else {"non_field_errors": list(exc.messages)}
        )
        exc = exceptions.ValidationError(errors)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        errors = data if isinstance(data, dict) else {"non_field_errors": data}
        first = next(iter(errors.values()), ["Invalid input."])
        first = first[0] if isinstance(first, list) and first else first
        response.data = _error_body(
            response.status_code, "invalid", f"The request was not valid: {first}", errors
        )
    else:
        detail = data.get("detail", "") if isinstance(data, dict) else str(data)
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        response.data = _error_body(response.status_code, str(code), str(detail))
    return response


@csrf_exempt  # a POST to an unknown URL is a 404, not a CSRF failure page
def api_not_found(request, *args, **kwargs):
    """Unknown URLs under /api/ answer JSON, not the HTML 404 page."""
    return JsonResponse(
        _error_body(404, "not_found", "No such API endpoint. See /api/docs/."), status=404
    )


# --- OpenAPI ------------------------------------------------------------------------------------------

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": True},
    },
    "required": ["status", "code", "detail"],
}

ERROR_RESPONSES = {
    "400": "The request was not valid; `errors` names each field.",
    "401": "No credentials, or a token that is unknown or revoked.",
    "403": "Your role in this school does not include this.",
    "404": "No such school for you, or no such object in it.",
    "405": "Method not allowed.",
    "406": "Not acceptable.",
    "415": "Unsupported media type.",
    "429": "Too many requests; retry after the Retry-After header.",
}


def add_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: document the error shape on every operation."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path in result.get("paths", {}).values():
        for method, operation in path.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for code, description in ERROR_RESPONSES.items():
                responses.setdefault(
                    code,
                    {"description": description, "content": {"application/json": {"schema": ref}}},
                )
    return result
