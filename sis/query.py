"""The OneRoster REST binding's query parameters over a list of records: filter, sort, fields,
paging (limit/offset, X-Total-Count, Link), as OneRoster 1.1 §3.4 defined them and 1.2 keeps them
(the 1.2 OpenAPI definition lists `limit` (default 100, at least 1), `offset`, `sort`,
`orderBy` (asc|desc), `filter`, `fields`, and the X-Total-Count header on every collection).

filter: `field op 'value'`, at most two predicates joined by one ` AND ` or ` OR `; operators
= != > >= < <= and ~ (contains, case-insensitive); a dotted field reads inside a reference
(`class.sourcedId`). Values compare as numbers when both sides are numbers, as text otherwise —
date-times are all written in one UTC format, so text order is time order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000

PREDICATE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_.]*)\s*(!=|>=|<=|=|>|<|~)\s*'((?:[^']|'')*)'\s*$")
JOINER = re.compile(r"\s+(AND|OR)\s+")


class QueryError(ValueError):
    """A query parameter the binding cannot answer; `code_minor` is the imsx codeMinor value."""

    def __init__(self, message: str, code_minor: str = "invalid_selection_field") -> None:
        super().__init__(message)
        self.code_minor = code_minor


@dataclass(frozen=True)
class Predicate:
    field: str
    op: str
    value: str


def _read(record: Mapping[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _split_outside_quotes(text: str) -> tuple[list[str], list[str]]:
    """The predicates and the joiners between them, ignoring AND/OR inside quoted values."""
    parts, joiners, start, quoted, i = [], [], 0, False, 0
    while i < len(text):
        if text[i] == "'":
            quoted = not quoted
        elif not quoted:
            match = JOINER.match(text, i)
            if match:
                parts.append(text[start:i])
                joiners.append(match.group(1))
                i = start = match.end()
                continue
        i += 1
    parts.append(text[start:])
    return parts, joiners


def filter_parse(text: str, fields: Sequence[str]) -> tuple[list[Predicate], str]:
    """The predicates of a filter and how they join ("AND"/"OR")."""
    parts, joiners = _split_outside_quotes(text)
    if len(parts) > 2:
        raise QueryError("A filter has at most two predicates.", "invalid_filter_field")
    predicates = []
    for part in parts:
        match = PREDICATE.match(part)
        if not match:
            raise QueryError(
                f"The filter “{part.strip()}” is not field<op>'value' "
                "(op one of = != > >= < <= ~).",
                "invalid_filter_field",
            )
        field, op, value = match.groups()
        if field.split(".")[0] not in fields:
            raise QueryError(f"Unknown filter field: {field}.", "invalid_filter_field")
        predicates.append(Predicate(field, op, value.replace("''", "'")))
    return predicates, (joiners[0] if joiners else "AND")


def _holds(record: Mapping[str, Any], p: Predicate) -> bool:
    actual = _read(record, p.field)
    if p.op == "~":
        return actual is not None and p.value.lower() in str(actual).lower()
    left, right = _number(actual), _number(p.value)
    if left is not None and right is not None:
        a, b = left, right
    else:
        a, b = ("" if actual is None else str(actual)), p.value  # type: ignore[assignment]
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "=": lambda x, y: x == y,
        "!=": lambda x, y: x != y,
        ">": lambda x, y: x > y,
        ">=": lambda x, y: x >= y,
        "<": lambda x, y: x < y,
        "<=": lambda x, y: x <= y,
    }
    return compare[p.op](a, b)


@dataclass
class Page:
    records: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


def int_param(params: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise QueryError(f"{name} must be a whole number.", "invaliddata") from exc
    if value < minimum:
        raise QueryError(f"{name} must be at least {minimum}.", "invaliddata")
    return value


def query_apply(
    records: list[dict[str, Any]], params: Mapping[str, str], fields: Sequence[str]
) -> Page:
    """Filter, sort, page and select fields as the request asks."""
    if params.get("filter"):
        predicates, joiner = filter_parse(params["filter"], fields)
        test = all if joiner == "AND" else any
        records = [r for r in records if test(_holds(r, p) for p in predicates)]
    sort = params.get("sort")
    order = params.get("orderBy", "asc")
    if order not in ("asc", "desc"):
        raise QueryError("orderBy is asc or desc.", "invaliddata")
    if sort:
        if sort.split(".")[0] not in fields:
            raise QueryError(f"Unknown sort field: {sort}.")

        def key(record: dict[str, Any]) -> tuple[int, Any]:
            value = _read(record, sort)
            number = _number(value)
            if number is not None:
                return (0, number)
            return (1, "" if value is None else str(value))

        records = sorted(records, key=key, reverse=order == "desc")
    limit = min(int_param(params, "limit", DEFAULT_LIMIT, 1), MAX_LIMIT)
    offset = int_param(params, "offset", 0, 0)
    page = records[offset : offset + limit]
    selected = fields_parse(params.get("fields", ""), fields)
    if selected:
        page = [{k: r[k] for k in selected if k in r} for r in page]
    return Page(page, len(records), limit, offset)


def fields_parse(text: str, fields: Sequence[str]) -> list[str]:
    wanted = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in fields]
    if unknown:
        raise QueryError(f"Unknown field: {', '.join(unknown)}.")
    return wanted


def link_header(url: str, params: Mapping[str, str], page: Page) -> str:
    """RFC 8288 links to the first, previous, next and last pages."""

    def at(offset: int) -> str:
        query = {**params, "limit": str(page.limit), "offset": str(offset)}
        return f"<{url}?{urlencode(query)}>"

    links = [f'{at(0)}; rel="first"']
    if page.offset > 0:
        links.append(f'{at(max(page.offset - page.limit, 0))}; rel="prev"')
    if page.offset + page.limit < page.total:
        links.append(f'{at(page.offset + page.limit)}; rel="next"')
    last = max((page.total - 1) // page.limit * page.limit, 0)
    links.append(f'{at(last)}; rel="last"')
    return ", ".join(links)
