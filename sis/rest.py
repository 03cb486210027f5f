"""The OneRoster 1.2 Gradebook REST binding, read only, for an SIS that pulls grades.

Base path /ims/oneroster/gradebook/v1p2 (OneRoster 1.2 Gradebook Service OpenAPI 3 definition,
servers.basePath). The GET operations of the definition that read what we hold:
getAllCategories, getCategory, getCategoriesForClass; getAllLineItems, getLineItem,
getLineItemsForClass; getAllResults, getResult, getResultsForClass,
getResultsForLineItemForClass, getResultsForStudentForClass; getAllScoreScales, getScoreScale,
getScoreScalesForClass, getScoreScalesForSchool. Collections take limit/offset/sort/orderBy/
filter/fields (sis.query) and answer X-Total-Count and Link; single objects take fields. Errors
are the binding's imsx_StatusInfo payload (401 unauthorisedrequest, 403 forbidden, 404
unknownobject, 400 invalid_filter_field / invalid_selection_field).

Who reads what: a bearer token from the OAuth 2 client-credentials grant (django-oauth-toolkit's
token endpoint, /oauth/token/), of a `SisClient` that is not revoked, with the gradebook.readonly
scope. The client's schools — its school, or its district's — are the only ones read, each in its
own tenant scope (mastery.tenancy.enter_school); anything else answers 404 as if it did not exist.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views import View
from oauth2_provider.oauth2_backends import get_oauthlib_core

from gradebook.models import GradingPeriod, RosterSource, Section
from marks.models import PostedMark
from mastery.models import School
from mastery.tenancy import enter_school
from sis.gradebook import (
    Gradebook,
    SourcedIds,
    href_at,
    period_gradebook,
    results_query,
    student_ids_of,
    with_hrefs,
)
from sis.models import SisClient
from sis.query import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Page,
    QueryError,
    fields_parse,
    int_param,
    link_header,
    query_apply,
)

BASE_PATH = "/ims/oneroster/gradebook/v1p2"
ROSTERING_PATH = "/ims/oneroster/rostering/v1p2"
READ_SCOPES = (
    "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.readonly",
    "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook-core.readonly",
)

# Each object's properties (components.schemas *DType): what `fields`, `filter` and `sort` name.
FIELDS = {
    "categories": ("sourcedId", "status", "dateLastModified", "metadata", "title", "weight"),
    "lineItems": (
        "sourcedId",
        "status",
        "dateLastModified",
        "metadata",
        "title",
        "description",
        "assignDate",
        "dueDate",
        "class",
        "school",
        "category",
        "gradingPeriod",
        "academicSession",
        "scoreScale",
        "resultValueMin",
        "resultValueMax",
        "learningObjectiveSet",
    ),
    "results": (
        "sourcedId",
        "status",
        "dateLastModified",
        "metadata",
        "lineItem",
        "student",
        "class",
        "scoreScale",
        "scoreStatus",
        "score",
        "textScore",
        "scoreDate",
        "comment",
        "learningObjectiveSet",
        "inProgress",
        "incomplete",
        "late",
        "missing",
    ),
    "scoreScales": (
        "sourcedId",
        "status",
        "dateLastModified",
        "metadata",
        "title",
        "type",
        "course",
        "class",
        "scoreScaleValue",
    ),
}
SINGULAR = {
    "categories": "category",
    "lineItems": "lineItem",
    "results": "result",
    "scoreScales": "scoreScale",
}


def _href(origin: str) -> Callable[[str, str], str]:
    return href_at(f"{origin}{BASE_PATH}", f"{origin}{ROSTERING_PATH}")


class OneRosterError(Exception):
    def __init__(self, status: int, code_minor: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.code_minor = code_minor
        self.description = description


def status_info(status: int, code_minor: str, description: str) -> JsonResponse:
    """The binding's imsx_StatusInfoDType."""
    return JsonResponse(
        {
            "imsx_codeMajor": "failure",
            "imsx_severity": "error",
            "imsx_description": description,
            "imsx_CodeMinor": {
                "imsx_codeMinorField": [
                    {
                        "imsx_codeMinorFieldName": "TargetEndSystem",
                        "imsx_codeMinorFieldValue": code_minor,
                    }
                ]
            },
        },
        status=status,
    )


def _client(request: HttpRequest) -> SisClient:
    """The SIS client whose token the request carries, or 401/403."""
    if not request.headers.get("Authorization", "").startswith("Bearer "):
        raise OneRosterError(401, "unauthorisedrequest", "A bearer token is required.")
    valid, oauth_request = get_oauthlib_core().verify_request(request, scopes=[])
    token = getattr(oauth_request, "access_token", None) if valid else None
    if token is None:
        raise OneRosterError(401, "unauthorisedrequest", "The token is not valid or has expired.")
    client = (
        SisClient.objects.filter(application_id=token.application_id, revoked_at__isnull=True)
        .select_related("application")
        .first()
    )
    if client is None:
        raise OneRosterError(401, "unauthorisedrequest", "This client has been revoked.")
    if not set(token.scope.split()) & set(READ_SCOPES):
        raise OneRosterError(403, "forbidden", "The token does not carry gradebook.readonly.")
    now = timezone.now()
    if client.last_used_at is None or (now - client.last_used_at).total_seconds() > 60:
        SisClient.objects.filter(pk=client.pk).update(last_used_at=now)
    return client


Scope = tuple[School, GradingPeriod, list[int] | None, list[int] | None]


def _scopes(
    client: SisClient,
    *,
    class_id: str | None = None,
    student_id: str | None = None,
    school_id: str | None = None,
) -> Iterator[Scope]:
    """Each (school, period with posted marks, sections, students) the request reads, in a fixed
    order; the consumer runs inside that school's tenant scope while it holds one."""
    for school in School.objects.filter(id__in=client.school_ids()).order_by("id"):
        with enter_school(school):
            if school_id is not None and SourcedIds(school).org() != school_id:
                continue
            section_ids = None
            student_ids = None
            if class_id is not None:
                section = _section_of(school, class_id)
                if section is None:
                    continue
                section_ids = [section]
            if student_id is not None:
                found = student_ids_of(school, [student_id])
                if not found:
                    continue
                student_ids = list(found.values())
            periods = PostedMark.objects.filter(school=school)
            if section_ids is not None:
                periods = periods.filter(section_id__in=section_ids)
            period_ids = set(periods.values_list("period_id", flat=True).distinct())
            for period in GradingPeriod.objects.filter(school=school, id__in=period_ids).order_by(
                "starts_on", "id"
            ):
                yield school, period, section_ids, student_ids


def _books(
    client: SisClient,
    *,
    class_id: str | None = None,
    student_id: str | None = None,
    school_id: str | None = None,
    with_results: bool = True,
) -> Iterator[Gradebook]:
    """The gradebooks of every period with posted marks, in each of the client's schools, for
    one school, class or student where the path names them."""
    for school, period, section_ids, student_ids in _scopes(
        client, class_id=class_id, student_id=student_id, school_id=school_id
    ):
        yield period_gradebook(
            school=school,
            period=period,
            section_ids=section_ids,
            student_ids=student_ids,
            with_results=with_results,
        )


# The delta-sync idiom, dateLastModified>'…', in the form our dates are written: answered in SQL.
SINCE = re.compile(
    r"^\s*dateLastModified\s*(>=|>)\s*'(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z'\s*$"
)


def _since(params: dict[str, str]) -> tuple[bool, datetime | None]:
    """(whether the results can be paged in SQL, the first posting time they start from)."""
    if params.get("sort"):
        return False, None
    text = params.get("filter")
    if not text:
        return True, None
    match = SINCE.match(text)
    if match is None:
        return False, None
    moment = datetime.strptime(match[2], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)
    # Dates are written to the millisecond: "later than X" is from X's next millisecond.
    return True, moment + timedelta(milliseconds=1) if match[1] == ">" else moment


def _results_paged(
    client: SisClient,
    params: dict[str, str],
    modified_from: datetime | None,
    **narrow: str | None,
) -> Page:
    """A page of results without building the rest: each period's results are counted, then
    only the periods the page falls in are read, and only the page's rows of them (SQL
    LIMIT/OFFSET over results_query's order)."""
    limit = min(int_param(params, "limit", DEFAULT_LIMIT, 1), MAX_LIMIT)
    offset = int_param(params, "offset", 0, 0)
    selected = fields_parse(params.get("fields", ""), FIELDS["results"])
    segments = []
    for school, period, section_ids, student_ids in _scopes(client, **narrow):
        count = results_query(
            school=school,
            period=period,
            section_ids=section_ids,
            student_ids=student_ids,
            modified_from=modified_from,
        ).count()
        if count:
            segments.append((school, period, section_ids, student_ids, count))
    records: list[dict[str, Any]] = []
    start = 0
    for school, period, section_ids, student_ids, count in segments:
        end = start + count
        if end > offset and start < offset + limit and len(records) < limit:
            with enter_school(school):
                book = period_gradebook(
                    school=school,
                    period=period,
                    section_ids=section_ids,
                    student_ids=student_ids,
                    window=(max(offset - start, 0), limit - len(records)),
                    modified_from=modified_from,
                )
            records.extend(book.results)
        start = end
    if selected:
        records = [{k: r[k] for k in selected if k in r} for r in records]
    return Page(records, start, limit, offset)


def _section_of(school: School, class_id: str) -> int | None:
    """Our section for a OneRoster class sourcedId in this school (rostered or ours)."""
    found = (
        RosterSource.objects.filter(
            school=school, target=RosterSource.Target.SECTION, sourced_id=class_id
        )
        .values_list("object_id", flat=True)
        .first()
    )
    if found is not None:
        return found
    ids = SourcedIds(school)
    for section_id in Section.objects.filter(school=school).values_list("id", flat=True):
        if ids.klass(section_id) == class_id:
            return section_id
    return None


def _records(books: list[Gradebook], entity: str) -> list[dict[str, Any]]:
    attribute = {
        "categories": "categories",
        "lineItems": "line_items",
        "results": "results",
        "scoreScales": "score_scales",
    }[entity]
    out: dict[str, dict[str, Any]] = {}
    for book in books:
        for record in getattr(book, attribute):
            # Categories and score scales recur in each period's book: once each.
            out.setdefault(record["sourcedId"], record)
    return list(out.values())


class GradebookView(View):
    """One GET of the binding: `entity` is what it answers; the URL's keyword arguments narrow
    it (class, line item, student) or name one object (sourced_id)."""

    entity = "lineItems"
    http_method_names = ["get"]

    def get(self, request: HttpRequest, **kwargs: str) -> JsonResponse:
        try:
            client = _client(request)
            return self._answer(request, client, **kwargs)
        except OneRosterError as error:
            return status_info(error.status, error.code_minor, error.description)
        except QueryError as error:
            return status_info(400, error.code_minor, str(error))

    def _answer(
        self,
        request: HttpRequest,
        client: SisClient,
        *,
        sourced_id: str | None = None,
        class_id: str | None = None,
        line_item_id: str | None = None,
        student_id: str | None = None,
        school_id: str | None = None,
    ) -> JsonResponse:
        fields = FIELDS[self.entity]
        if school_id is not None and not _school_readable(client, school_id):
            raise OneRosterError(404, "unknownobject", f"Unknown school: {school_id}.")
        narrow = {"class_id": class_id, "student_id": student_id, "school_id": school_id}
        params = dict(request.GET.items())
        origin = f"{request.scheme}://{request.get_host()}"
        pageable, modified_from = _since(params)
        if self.entity == "results" and sourced_id is None and line_item_id is None and pageable:
            if class_id is not None and not _class_exists(client, class_id):
                raise OneRosterError(404, "unknownobject", f"Unknown class: {class_id}.")
            page = _results_paged(client, params, modified_from, **narrow)
            return self._collection(request, params, page, origin)
        books = list(_books(client, with_results=self.entity == "results", **narrow))
        records = _records(books, self.entity)
        if class_id is not None and not records and not _class_exists(client, class_id):
            raise OneRosterError(404, "unknownobject", f"Unknown class: {class_id}.")
        if line_item_id is not None:
            if not any(i["sourcedId"] == line_item_id for b in books for i in b.line_items):
                raise OneRosterError(404, "unknownobject", f"Unknown lineItem: {line_item_id}.")
            records = [r for r in records if r["lineItem"]["sourcedId"] == line_item_id]
        if sourced_id is not None:
            found = next((r for r in records if r["sourcedId"] == sourced_id), None)
            if found is None:
                raise OneRosterError(
                    404, "unknownobject", f"Unknown {SINGULAR[self.entity]}: {sourced_id}."
                )
            selected = fields_parse(request.GET.get("fields", ""), fields)
            if selected:
                found = {k: found[k] for k in selected if k in found}
            return JsonResponse({SINGULAR[self.entity]: with_hrefs(found, _href(origin))})
        return self._collection(request, params, query_apply(records, params, fields), origin)

    def _collection(
        self, request: HttpRequest, params: dict[str, str], page: Page, origin: str
    ) -> JsonResponse:
        response = JsonResponse({self.entity: with_hrefs(page.records, _href(origin))})
        response["X-Total-Count"] = str(page.total)
        response["Link"] = link_header(request.build_absolute_uri(request.path), params, page)
        return response


def _school_readable(client: SisClient, school_sourced_id: str) -> bool:
    for school in School.objects.filter(id__in=client.school_ids()):
        with enter_school(school):
            if SourcedIds(school).org() == school_sourced_id:
                return True
    return False


def _class_exists(client: SisClient, class_id: str) -> bool:
    for school in School.objects.filter(id__in=client.school_ids()):
        with enter_school(school):
            if _section_of(school, class_id) is not None:
                return True
    return False
