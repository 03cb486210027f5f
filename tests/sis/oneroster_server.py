"""A OneRoster 1.2 Gradebook service on loopback, over TLS, for testing our grade push against.

This is a test server, not a product. It runs the slice of the Gradebook service a push client
uses: an OAuth 2 client-credentials token endpoint, putLineItem and putResult, and getLineItem and
getResult so that a test can read back what was stored. It checks each request as strictly as the
specification allows, so a client that passes against it sends what a conforming SIS expects. It
also has hooks that make it fail the way a real SIS does: it can refuse an object, fail for a
while, or expire its tokens.

It is written from the 1EdTech OneRoster 1.2 specification:

- [OAS]: "OneRoster Gradebook Service OpenAPI (JSON) Definition" 1.2,
  https://purl.imsglobal.org/spec/or/v1p2/schema/openapi/onerosterv1p2gradebookservice_openapi3_v1p0.json
  It gives the base path and the operations (`putLineItem` and `putResult` answer 201, with no
  body), the OAuth2CC scopes, the schemas LineItemDType, ResultDType, the *GUIDRefDType refs and
  imsx_StatusInfoDType (each with its required[] list and additionalProperties: false), and the
  status codes PUT may answer (401, 403, 404, 422, 429, 500 and default; there is no 400).
- [CSV]: "IMS OneRoster: CSV Binding" 1.2 and 1.2.1, §3.11 lineItems and §3.16 results. It gives
  the same required fields, and the DateTime rule "W3C profile of ISO 8601 ... MUST contain the
  UTC timezone".
- The token endpoint follows RFC 6749 §2.3.1, §4.4 and §5, and bearer use follows RFC 6750 §3.
  The 1EdTech Security Framework asks for exactly these.

Where the specification leaves something open, this server makes the following choices:

- A PUT that replaces an object answers 201, as a new one does, because [OAS] lists only 201.
  Pass `replaced_status=200` (or 204) to check that a client takes any 2xx as stored.
- Broken JSON answers 400 with "default". JSON that breaks the schema or refers to an unknown
  object answers 422, which [OAS] describes as "well-formed ... but semantically erroneous". The
  codeMinor is `invaliddata`, or `unknownobject` when a Result names a lineItem the server does
  not hold.
- A transient failure, from `fail_next`, comes before authentication, as it would from a gateway
  in front of the SIS. A refusal, from `refuse`, comes after validation, so a refused object still
  has to be valid.

Public API, in brief: `OneRosterGradebookServer` (a context manager) with `base_url`, `token_url`,
`ca_file`, `client_id`, `client_secret`, `requests`, `line_items`, `results`, `puts()`,
`refuse()`, `stop_refusing()`, `fail_next()`, `expire_tokens()`, `issue_token()`,
`seed_line_item()`, `ssl_context()` and `reset()`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import json
import re
import secrets
import shutil
import ssl
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeGuard
from urllib.parse import parse_qsl, unquote, unquote_plus, urlsplit

import trustme

BASE_PATH = "/ims/oneroster/gradebook/v1p2"
TOKEN_PATH = "/oauth/token"

# [OAS] components.securitySchemes.OAuth2CC.flows.clientCredentials.scopes (the gradebook ones).
SCOPE_READONLY = "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.readonly"
SCOPE_CORE_READONLY = "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook-core.readonly"
SCOPE_CREATEPUT = "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.createput"
SCOPE_CREATEPOST = "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.createpost"
SCOPE_DELETE = "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.delete"
GRADEBOOK_SCOPES = frozenset(
    {SCOPE_READONLY, SCOPE_CORE_READONLY, SCOPE_CREATEPUT, SCOPE_CREATEPOST, SCOPE_DELETE}
)
# What each operation asks for in [OAS] `security` (any one of the scopes will do).
PUT_SCOPES = frozenset({SCOPE_CREATEPUT})
GET_SCOPES = frozenset({SCOPE_READONLY, SCOPE_CORE_READONLY})

STATUSES = ("active", "tobedeleted")
SCORE_STATUSES = ("exempt", "fully graded", "not submitted", "partially graded", "submitted")
LEARNING_OBJECTIVE_SOURCES = ("case", "unknown")

# The path segment of each collection and the wrapper key of a single object of it ([OAS]
# SingleLineItemDType and SingleResultDType).
KINDS = {"lineItems": "lineItem", "results": "result"}

MAX_BODY = 1 << 20
INVALID_STATUS = 422  # schema or semantic error in well-formed JSON (see the module docstring)


# --- What the tests see ---------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request as the server received it, and the status it answered."""

    method: str
    path: str  # as sent, query string included
    headers: Message  # case-insensitive: request.headers["authorization"]
    raw_body: bytes
    body: Any  # the JSON body parsed, or None when there is none or it is not JSON
    status: int | None = None

    @property
    def form(self) -> dict[str, str]:
        """The body read as an HTML form (the token requests)."""
        return dict(parse_qsl(self.raw_body.decode("utf-8", "replace"), keep_blank_values=True))


@dataclass
class _Token:
    scopes: frozenset[str]
    expires_at: float  # time.monotonic()


@dataclass
class _Refusal:
    status: int
    description: str
    code_minor: str


@dataclass
class _Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


# --- Responses ------------------------------------------------------------------------------------


def _json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Response:
    return _Response(
        status,
        json.dumps(payload).encode(),
        {"Content-Type": "application/json", **(headers or {})},
    )


def imsx_failure(description: str, code_minor: str) -> dict[str, Any]:
    """The error payload of [OAS] imsx_StatusInfoDType: codeMajor/severity failure/error."""
    return {
        "imsx_codeMajor": "failure",
        "imsx_severity": "error",
        "imsx_description": description,
        "imsx_CodeMinor": {
            "imsx_codeMinorField": [
                {
                    # [OAS] imsx_CodeMinorFieldDType: "In most cases ... 'TargetEndSystem'".
                    "imsx_codeMinorFieldName": "TargetEndSystem",
                    "imsx_codeMinorFieldValue": code_minor,
                }
            ]
        },
    }


def _imsx(
    status: int, description: str, code_minor: str, headers: dict[str, str] | None = None
) -> _Response:
    return _json_response(status, imsx_failure(description, code_minor), headers)


def _code_minor_for(status: int) -> str:
    """The codeMinor that [OAS] pairs with each status of a failed request."""
    return {
        401: "unauthorisedrequest",
        403: "forbidden",
        404: "unknownobject",
        429: "server_busy",
        503: "server_busy",
    }.get(status, "internal_server_error" if status >= 500 else "invaliddata")


def _oauth_error(status: int, error: str, headers: dict[str, str] | None = None) -> _Response:
    # RFC 6749 §5.2: the error response is JSON and must not be cached either.
    return _json_response(
        status, {"error": error}, {"Cache-Control": "no-store", **(headers or {})}
    )


# --- The schema checks ([OAS] LineItemDType, ResultDType) -----------------------------------------

Check = Callable[[Any, str, list[str]], None]

_DATETIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})"
)  # RFC 3339, which OpenAPI's "format: date-time" means
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+")  # absolute URI, RFC 3986 §4.3
_EXT_SCORE_STATUS = re.compile(r"(ext:)[a-zA-Z0-9.\-_]+")  # [OAS] ResultDType.scoreStatus
# [OAS] LearningObjectiveSetDType.source, verbatim (the leading "/" is the specification's).
_EXT_SOURCE = re.compile(r"^/(?!case$)(?!unknown$)[a-z0-9]+$")


def _describe(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _string(value: Any, where: str, problems: list[str]) -> None:
    if not isinstance(value, str):
        problems.append(f"{where}: must be a string, not {_describe(value)}")


def _nonempty_string(value: Any, where: str, problems: list[str]) -> None:
    if not isinstance(value, str):
        problems.append(f"{where}: must be a string, not {_describe(value)}")
    elif not value.strip():
        problems.append(f"{where}: must not be empty")


def _number(value: Any, where: str, problems: list[str]) -> None:
    # bool is an int in Python but true/false is not a JSON number.
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(f"{where}: must be a number, not {_describe(value)}")


def _metadata(value: Any, where: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"{where}: must be an object, not {_describe(value)}")


def _enum(values: Iterable[str]) -> Check:
    allowed = tuple(values)

    def check(value: Any, where: str, problems: list[str]) -> None:
        if value not in allowed:
            problems.append(f"{where}: {value!r} is not one of {', '.join(allowed)}")

    return check


def _parse_datetime(value: str) -> datetime | None:
    match = _DATETIME.fullmatch(value)
    if not match:
        return None
    day, clock, zone = match.groups()
    try:  # the regex has the shape; this rejects 2024-02-30 and 25:00:00
        return datetime.fromisoformat(f"{day}T{clock}{'+00:00' if zone == 'Z' else zone}")
    except ValueError:
        return None


def _datetime(value: Any, where: str, problems: list[str]) -> None:
    if not isinstance(value, str) or _parse_datetime(value) is None:
        problems.append(
            f"{where}: must be an ISO 8601 date-time with a time zone, e.g. "
            f"2024-04-23T18:25:43.511Z, not {value!r}"
        )


def _utc_datetime(value: Any, where: str, problems: list[str]) -> None:
    # [OAS] dateLastModified: "DateTimes MUST be expressed in W3C profile of [ISO 8601] and MUST
    # contain the UTC timezone."
    parsed = _parse_datetime(value) if isinstance(value, str) else None
    if parsed is None or not (value.endswith("Z") or value.endswith("+00:00")):
        problems.append(
            f"{where}: must be an ISO 8601 date-time in UTC, e.g. 2024-04-23T18:25:43.511Z, "
            f"not {value!r}"
        )


def _date(value: Any, where: str, problems: list[str]) -> None:
    # [OAS] ResultDType.scoreDate: "The format is YYYY-MM-DD as defined in [ISO 8601]".
    valid = isinstance(value, str) and _DATE.fullmatch(value)
    if valid:
        try:
            date.fromisoformat(value)
        except ValueError:
            valid = False
    if not valid:
        problems.append(f"{where}: must be a date YYYY-MM-DD, not {value!r}")


def _true_false(value: Any, where: str, problems: list[str]) -> None:
    # [OAS] ResultDType.inProgress etc.: the strings "true" and "false", not JSON booleans.
    if value not in ("true", "false"):
        problems.append(f'{where}: must be the string "true" or "false", not {value!r}')


def _score_status(value: Any, where: str, problems: list[str]) -> None:
    if value in SCORE_STATUSES:
        return
    if isinstance(value, str) and _EXT_SCORE_STATUS.fullmatch(value):
        return
    problems.append(f"{where}: {value!r} is not one of {', '.join(SCORE_STATUSES)} nor ext:…")


def _object(
    value: Any,
    where: str,
    problems: list[str],
    properties: dict[str, Check],
    required: Iterable[str],
) -> None:
    """Check an object against its properties and required[] ([OAS] additionalProperties: false)."""
    if not isinstance(value, dict):
        problems.append(f"{where}: must be an object, not {_describe(value)}")
        return
    problems.extend(f"{where}.{key}: required, missing" for key in required if key not in value)
    for key, item in value.items():
        check = properties.get(key)
        if check is None:
            problems.append(f"{where}.{key}: not a property of this object")
        else:
            check(item, f"{where}.{key}", problems)


def _guid_ref(kind: str) -> Check:
    """[OAS] *GUIDRefDType: href, sourcedId and type, all three required; type names the kind."""

    def href(value: Any, where: str, problems: list[str]) -> None:
        if not isinstance(value, str) or not _URI.fullmatch(value):
            problems.append(f"{where}: must be an absolute URI, not {value!r}")

    properties = {"href": href, "sourcedId": _nonempty_string, "type": _enum([kind])}

    def check(value: Any, where: str, problems: list[str]) -> None:
        _object(value, where, problems, properties, ("href", "sourcedId", "type"))

    return check


def _source(value: Any, where: str, problems: list[str]) -> None:
    if value in LEARNING_OBJECTIVE_SOURCES:
        return
    if isinstance(value, str) and _EXT_SOURCE.match(value):
        return
    problems.append(f"{where}: {value!r} is not one of case, unknown")


def _learning_objective_id(source: Any) -> Check:
    def check(value: Any, where: str, problems: list[str]) -> None:
        _nonempty_string(value, where, problems)
        # [OAS]: "If these are CASE identifiers they MUST be valid UUIDs" ([CSV]: "UUID URN").
        if source == "case" and isinstance(value, str):
            try:
                uuid.UUID(value.removeprefix("urn:uuid:"))
            except ValueError:
                problems.append(f"{where}: a CASE identifier must be a UUID, not {value!r}")

    return check


def _list_of(check: Check, min_items: int) -> Check:
    def check_list(value: Any, where: str, problems: list[str]) -> None:
        if not isinstance(value, list):
            problems.append(f"{where}: must be an array, not {_describe(value)}")
            return
        if len(value) < min_items:
            problems.append(f"{where}: must have at least {min_items} item(s)")
        for index, item in enumerate(value):
            check(item, f"{where}[{index}]", problems)

    return check_list


def _line_item_objectives(value: Any, where: str, problems: list[str]) -> None:
    # [OAS] LearningObjectiveSetDType
    source = value.get("source") if isinstance(value, dict) else None
    properties = {
        "source": _source,
        "learningObjectiveIds": _list_of(_learning_objective_id(source), 1),
    }
    _object(value, where, problems, properties, ("source", "learningObjectiveIds"))


def _result_objectives(value: Any, where: str, problems: list[str]) -> None:
    # [OAS] LearningObjectiveScoreSetDType and LearningObjectiveResultsDType
    source = value.get("source") if isinstance(value, dict) else None
    result_properties = {
        "learningObjectiveId": _learning_objective_id(source),
        "score": _number,
        "textScore": _string,
    }

    def one_result(item: Any, item_where: str, item_problems: list[str]) -> None:
        _object(item, item_where, item_problems, result_properties, ("learningObjectiveId",))

    properties = {"source": _source, "learningObjectiveResults": _list_of(one_result, 1)}
    _object(value, where, problems, properties, ("source", "learningObjectiveResults"))


LINE_ITEM_PROPERTIES: dict[str, Check] = {
    "sourcedId": _nonempty_string,
    "status": _enum(STATUSES),
    "dateLastModified": _utc_datetime,
    "metadata": _metadata,
    "title": _nonempty_string,
    "description": _string,
    "assignDate": _datetime,
    "dueDate": _datetime,
    "class": _guid_ref("class"),
    "school": _guid_ref("org"),
    "category": _guid_ref("category"),
    "gradingPeriod": _guid_ref("academicSession"),
    "academicSession": _guid_ref("academicSession"),
    "scoreScale": _guid_ref("scoreScale"),
    "resultValueMin": _number,
    "resultValueMax": _number,
    "learningObjectiveSet": _list_of(_line_item_objectives, 0),
}
LINE_ITEM_REQUIRED = (
    "sourcedId",
    "status",
    "dateLastModified",
    "title",
    "assignDate",
    "dueDate",
    "class",
    "school",
    "category",
)

RESULT_PROPERTIES: dict[str, Check] = {
    "sourcedId": _nonempty_string,
    "status": _enum(STATUSES),
    "dateLastModified": _utc_datetime,
    "metadata": _metadata,
    "lineItem": _guid_ref("lineItem"),
    "student": _guid_ref("user"),
    "class": _guid_ref("class"),
    "scoreScale": _guid_ref("scoreScale"),
    "scoreStatus": _score_status,
    "score": _number,
    "textScore": _string,
    "scoreDate": _date,
    "comment": _string,
    "learningObjectiveSet": _list_of(_result_objectives, 0),
    "inProgress": _true_false,
    "incomplete": _true_false,
    "late": _true_false,
    "missing": _true_false,
}
RESULT_REQUIRED = (
    "sourcedId",
    "status",
    "dateLastModified",
    "lineItem",
    "student",
    "scoreStatus",
    "scoreDate",
)

_SCHEMAS = {
    "lineItem": (LINE_ITEM_PROPERTIES, LINE_ITEM_REQUIRED),
    "result": (RESULT_PROPERTIES, RESULT_REQUIRED),
}


def schema_problems(kind: str, payload: Any, sourced_id: str | None = None) -> list[str]:
    """What is wrong with a Single* payload ({"lineItem": {...}} or {"result": {...}}), by field.

    An empty list means the payload matches [OAS]. With `sourced_id`, the object's sourcedId must
    also equal it (the one in the path)."""
    problems: list[str] = []
    if not isinstance(payload, dict):
        return [f"body: must be an object {{{kind!r}: {{...}}}}, not {_describe(payload)}"]
    problems.extend(f"{key}: not a property of this object" for key in payload if key != kind)
    if kind not in payload:
        problems.append(f"{kind}: required, missing (the body is {{{kind!r}: {{...}}}})")
        return problems
    properties, required = _SCHEMAS[kind]
    obj = payload[kind]
    _object(obj, kind, problems, properties, required)
    if isinstance(obj, dict):
        body_id = obj.get("sourcedId")
        if sourced_id is not None and isinstance(body_id, str) and body_id != sourced_id:
            problems.append(
                f"{kind}.sourcedId: {body_id!r} is not the sourcedId in the path, {sourced_id!r}"
            )
        low, high = obj.get("resultValueMin"), obj.get("resultValueMax")
        if _is_number(low) and _is_number(high) and low > high:
            problems.append(f"{kind}.resultValueMin: {low} is above resultValueMax {high}")
    return problems


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _strict_json(raw: bytes) -> Any:
    """Parse JSON as RFC 8259 has it: UTF-8, no NaN or Infinity, no key twice in one object."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise ValueError(f"the key {key!r} appears twice in one object")
            result[key] = value
        return result

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(
        raw.decode("utf-8"), object_pairs_hook=no_duplicates, parse_constant=no_constant
    )


# --- The server -----------------------------------------------------------------------------------


class OneRosterGradebookServer:
    """A OneRoster 1.2 Gradebook service on https://127.0.0.1:<port>, with a CA made for it.

    Use it as `with OneRosterGradebookServer() as sis:`. Trust `sis.ca_file` and take a token at
    `sis.token_url` with `sis.client_id` and `sis.client_secret`. Then PUT to `sis.base_url`.
    """

    def __init__(
        self,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        token_lifetime: int = 3600,
        default_scopes: Iterable[str] = GRADEBOOK_SCOPES,
        replaced_status: int = 201,
        hostname: str = "127.0.0.1",
    ) -> None:
        self.client_id = client_id if client_id is not None else f"client-{secrets.token_hex(6)}"
        self.client_secret = (
            client_secret if client_secret is not None else secrets.token_urlsafe(24)
        )
        self.token_lifetime = token_lifetime
        self.default_scopes = frozenset(default_scopes)  # granted when a token request has no scope
        self.replaced_status = replaced_status
        # The name in the URLs. The certificate covers 127.0.0.1 and localhost, and the server
        # listens on 127.0.0.1 only.
        self.hostname = hostname
        self._lock = threading.RLock()
        self._tokens: dict[str, _Token] = {}
        self._httpd: _TLSServer | None = None
        self._thread: threading.Thread | None = None
        self._dir: Path | None = None
        self._clear()

    def _clear(self) -> None:
        self._line_items: dict[str, dict[str, Any]] = {}
        self._results: dict[str, dict[str, Any]] = {}
        self._requests: list[RecordedRequest] = []
        self._accepted: dict[tuple[str, str], int] = {}
        self._refusals: dict[str, _Refusal] = {}
        self._failures: list[tuple[int, str | None]] = []
        self._tokens_issued = 0

    # -- Starting and stopping --

    def start(self) -> OneRosterGradebookServer:
        if self._httpd is not None:
            return self
        ca = trustme.CA()
        certificate = ca.issue_cert("127.0.0.1", "localhost")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate.configure_cert(context)
        self._dir = Path(tempfile.mkdtemp(prefix="oneroster-sis-"))
        ca.cert_pem.write_to_path(str(self._dir / "ca.pem"))
        self._httpd = _TLSServer(self, context)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="oneroster-gradebook-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
        self._httpd = self._thread = self._dir = None

    def __enter__(self) -> OneRosterGradebookServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- Where it is --

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError(
                "The server is not started: use it in a `with` block or call start()."
            )
        return self._httpd.server_address[1]

    @property
    def origin(self) -> str:
        return f"https://{self.hostname}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.origin + BASE_PATH

    @property
    def token_url(self) -> str:
        return self.origin + TOKEN_PATH

    @property
    def ca_file(self) -> str:
        """The PEM of the CA that signed the server's certificate: what a client must trust."""
        if self._dir is None:
            raise RuntimeError(
                "The server is not started: use it in a `with` block or call start()."
            )
        return str(self._dir / "ca.pem")

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this server (and nothing else)."""
        return ssl.create_default_context(cafile=self.ca_file)

    # -- What it holds and saw (copies: the tests may not change the server's state by mistake) --

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def line_items(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._line_items)

    @property
    def results(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._results)

    @property
    def tokens_issued(self) -> int:
        with self._lock:
            return self._tokens_issued

    def puts(self, sourced_id: str, kind: str | None = None) -> int:
        """How many PUTs of this sourcedId were accepted and stored (kind: "lineItem"/"result")."""
        with self._lock:
            return sum(
                count
                for (stored_kind, stored_id), count in self._accepted.items()
                if stored_id == sourced_id and kind in (None, stored_kind)
            )

    # -- Test hooks --

    def refuse(
        self,
        sourced_id: str,
        status: int = 422,
        description: str = "The SIS refused this object.",
        code_minor: str | None = None,
    ) -> None:
        """From now on, refuse each valid PUT of this sourcedId with `status` and an imsx body."""
        with self._lock:
            self._refusals[sourced_id] = _Refusal(
                status, description, code_minor or _code_minor_for(status)
            )

    def stop_refusing(self, sourced_id: str) -> None:
        with self._lock:
            self._refusals.pop(sourced_id, None)

    def fail_next(
        self, n: int = 1, status: int = 503, retry_after: int | str | None = None
    ) -> None:
        """Fail the next `n` PUTs, whatever they carry, with `status`, and store nothing.

        Give `retry_after` (seconds, or an HTTP date) to send a Retry-After header."""
        with self._lock:
            self._failures.extend([(status, None if retry_after is None else str(retry_after))] * n)

    def expire_tokens(self) -> None:
        """Make every token issued so far invalid; requests with one then get 401."""
        with self._lock:
            for token in self._tokens.values():
                token.expires_at = float("-inf")

    def issue_token(self, scopes: Iterable[str] | None = None) -> str:
        """A valid access token without a token request (for tests of the server itself)."""
        with self._lock:
            granted = self.default_scopes if scopes is None else frozenset(scopes)
            return self._new_token(granted)

    def seed_line_item(self, line_item: dict[str, Any]) -> None:
        """Store a line item as if the SIS had it already (no request is recorded or counted)."""
        problems = schema_problems("lineItem", {"lineItem": line_item})
        if problems:
            raise ValueError("Not a valid OneRoster 1.2 lineItem: " + "; ".join(problems))
        with self._lock:
            self._line_items[line_item["sourcedId"]] = copy.deepcopy(line_item)

    def reset(self) -> None:
        """Forget the stored objects, the requests, the counts and the hooks; tokens stay valid."""
        with self._lock:
            self._clear()

    # -- Handling a request (called by the handler thread; one request at a time) --

    def _handle(
        self,
        method: str,
        target: str,
        headers: Message,
        raw_body: bytes,
        unreadable: _Response | None = None,
    ) -> _Response:
        """Record the request and answer it (`unreadable`: the answer when the body was not read)."""
        try:
            body = json.loads(raw_body) if raw_body else None
        except (ValueError, RecursionError):
            body = None
        record = RecordedRequest(method, target, headers, raw_body, body)
        with self._lock:
            self._requests.append(record)
            response = unreadable or self._route(method, urlsplit(target).path, headers, raw_body)
            record.status = response.status
        return response

    def _route(self, method: str, path: str, headers: Message, raw_body: bytes) -> _Response:
        if path == TOKEN_PATH:
            if method != "POST":
                return _oauth_error(405, "invalid_request", {"Allow": "POST"})
            return self._token(headers, raw_body)
        segments = (
            path.removeprefix(BASE_PATH + "/").split("/")
            if path.startswith(BASE_PATH + "/")
            else []
        )
        if len(segments) != 2 or segments[0] not in KINDS or not segments[1]:
            return _imsx(404, f"Unknown Object: no such endpoint {path}", "unknownobject")
        kind, sourced_id = KINDS[segments[0]], unquote(segments[1])
        if method == "PUT":
            return self._put(kind, sourced_id, headers, raw_body)
        if method == "GET":
            return self._get(kind, sourced_id, headers)
        return _imsx(
            405, f"{method} is not supported here: GET or PUT", "invaliddata", {"Allow": "GET, PUT"}
        )

    def _put(self, kind: str, sourced_id: str, headers: Message, raw_body: bytes) -> _Response:
        if self._failures:
            status, retry_after = self._failures.pop(0)
            extra = {"Retry-After": retry_after} if retry_after is not None else {}
            return _imsx(
                status, "The SIS is unavailable for the moment.", _code_minor_for(status), extra
            )
        denied = self._authorise(headers, PUT_SCOPES)
        if denied is not None:
            return denied
        if headers.get_content_type() != "application/json" or headers.get_content_charset(
            "utf-8"
        ).lower() not in ("utf-8", "utf8"):
            return _imsx(
                415,
                f"The body must be application/json in UTF-8, not {headers.get('Content-Type')!r}",
                "invaliddata",
            )
        if not raw_body:
            return _imsx(400, f"A {kind} body is required: {{{kind!r}: {{...}}}}", "invaliddata")
        try:
            payload = _strict_json(raw_body)
        except ValueError as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            return _imsx(400, f"The body is not JSON: {error}", "invaliddata")
        problems = schema_problems(kind, payload, sourced_id)
        if problems:
            return _imsx(INVALID_STATUS, "; ".join(problems), "invaliddata")
        obj = payload[kind]
        if kind == "result":
            line_item_id = obj["lineItem"]["sourcedId"]
            line_item = self._line_items.get(line_item_id)
            if line_item is None:
                return _imsx(
                    INVALID_STATUS,
                    f"result.lineItem.sourcedId: Unknown Object, the SIS has no lineItem "
                    f"{line_item_id!r}",
                    "unknownobject",
                )
            problems = _score_in_range(obj, line_item)
            if problems:
                return _imsx(INVALID_STATUS, "; ".join(problems), "invaliddata")
        refusal = self._refusals.get(sourced_id)
        if refusal is not None:
            return _imsx(refusal.status, refusal.description, refusal.code_minor)
        store = self._line_items if kind == "lineItem" else self._results
        replaced = sourced_id in store
        store[sourced_id] = copy.deepcopy(obj)
        self._accepted[(kind, sourced_id)] = self._accepted.get((kind, sourced_id), 0) + 1
        # [OAS] putLineItem/putResult: 201 "successfully stored", with no body.
        return _Response(self.replaced_status if replaced else 201)

    def _get(self, kind: str, sourced_id: str, headers: Message) -> _Response:
        denied = self._authorise(headers, GET_SCOPES)
        if denied is not None:
            return denied
        store = self._line_items if kind == "lineItem" else self._results
        if sourced_id not in store:
            # [OAS] 404: "The statement 'Unknown Object' should also be presented."
            return _imsx(404, f"Unknown Object: no {kind} {sourced_id!r}", "unknownobject")
        return _json_response(200, {kind: store[sourced_id]})

    def _authorise(self, headers: Message, scopes: frozenset[str]) -> _Response | None:
        """None when the request carries a live bearer token with one of `scopes` (RFC 6750 §3)."""
        scheme, _, credential = (headers.get("Authorization") or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            return _imsx(
                401,
                "The request has no bearer access token (Authorization: Bearer <token>).",
                "unauthorisedrequest",
                {"WWW-Authenticate": 'Bearer realm="oneroster"'},
            )
        token = self._tokens.get(credential.strip())
        if token is None or token.expires_at <= time.monotonic():
            return _imsx(
                401,
                "The access token is unknown or has expired.",
                "unauthorisedrequest",
                {"WWW-Authenticate": 'Bearer realm="oneroster", error="invalid_token"'},
            )
        if not token.scopes & scopes:
            needed = " ".join(sorted(scopes))
            challenge = f'Bearer realm="oneroster", error="insufficient_scope", scope="{needed}"'
            return _imsx(
                403,
                f"The access token lacks the scope this operation needs: {needed}",
                "forbidden",
                {"WWW-Authenticate": challenge},
            )
        return None

    def _token(self, headers: Message, raw_body: bytes) -> _Response:
        """The token endpoint for the client credentials grant (RFC 6749 §4.4)."""
        if headers.get_content_type() != "application/x-www-form-urlencoded":
            return _oauth_error(400, "invalid_request")
        try:
            pairs = parse_qsl(
                raw_body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw_body)
            )
        except (UnicodeDecodeError, ValueError):
            return _oauth_error(400, "invalid_request")
        form = dict(pairs)
        if len(form) != len(pairs):  # RFC 6749 §3.2: no parameter more than once
            return _oauth_error(400, "invalid_request")

        basic = _basic_credentials(headers.get("Authorization"))
        in_body = "client_id" in form or "client_secret" in form
        if basic is not None and in_body:  # RFC 6749 §2.3: one way of authenticating, not two
            return _oauth_error(400, "invalid_request")
        client_id, client_secret = basic or (form.get("client_id"), form.get("client_secret"))
        if not (
            client_id is not None
            and client_secret is not None
            and hmac.compare_digest(client_id.encode(), self.client_id.encode())
            and hmac.compare_digest(client_secret.encode(), self.client_secret.encode())
        ):
            # RFC 6749 §5.2: a client that tried Basic is told which scheme to use.
            extra = {"WWW-Authenticate": 'Basic realm="oneroster"'} if basic is not None else {}
            return _oauth_error(401, "invalid_client", extra)

        if "grant_type" not in form:
            return _oauth_error(400, "invalid_request")
        if form["grant_type"] != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type")
        if "scope" in form:
            requested = frozenset(form["scope"].split(" "))
            if not form["scope"] or "" in requested or not requested <= GRADEBOOK_SCOPES:
                return _oauth_error(400, "invalid_scope")
            granted = requested
        else:
            granted = self.default_scopes
        token = self._new_token(granted)
        return _json_response(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "scope": " ".join(sorted(granted)),
            },
            # RFC 6749 §5.1
            {"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    def _new_token(self, scopes: frozenset[str]) -> str:
        token = secrets.token_urlsafe(32)
        self._tokens[token] = _Token(scopes, time.monotonic() + self.token_lifetime)
        self._tokens_issued += 1
        return token


def _score_in_range(result: dict[str, Any], line_item: dict[str, Any]) -> list[str]:
    # [OAS] LineItemDType.resultValueMin/Max: "The minimum (maximum) value (numeric) that can be
    # assigned to the score attribute in a result."
    score = result.get("score")
    if not _is_number(score):
        return []
    problems = []
    low, high = line_item.get("resultValueMin"), line_item.get("resultValueMax")
    if _is_number(low) and score < low:
        problems.append(f"result.score: {score} is below the lineItem's resultValueMin {low}")
    if _is_number(high) and score > high:
        problems.append(f"result.score: {score} is above the lineItem's resultValueMax {high}")
    return problems


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    """The client id and secret of an HTTP Basic header, form-decoded (RFC 6749 §2.3.1)."""
    scheme, _, encoded = (header or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")  # present but unreadable: fails authentication as invalid_client
    client_id, _, client_secret = decoded.partition(":")
    return unquote_plus(client_id), unquote_plus(client_secret)


# --- HTTP plumbing --------------------------------------------------------------------------------


class _BodyError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive, as a client's connection pool expects.
    protocol_version = "HTTP/1.1"
    timeout = 10  # an idle kept-alive connection is closed, so its thread ends
    # Headers and body go out as two writes; with Nagle on, each answer waits for a delayed ACK.
    disable_nagle_algorithm = True
    server: _TLSServer

    def setup(self) -> None:
        super().setup()
        # The TLS handshake happens here, in this connection's thread, not in the accepting one:
        # a client that stalls or refuses the certificate must not hold up the server.
        self.connection.do_handshake()

    def do_GET(self) -> None:
        self._serve("GET")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _serve(self, method: str) -> None:
        gradebook = self.server.gradebook
        try:
            raw_body = self._read_body()
        except _BodyError as error:
            # The rest of the body is still on the wire: answer, then close the connection.
            self.close_connection = True
            refusal = _imsx(error.status, error.description, "invaliddata")
            self._send(gradebook._handle(method, self.path, self.headers, b"", refusal))
            return
        self._send(gradebook._handle(method, self.path, self.headers, raw_body))

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.strip().isdigit():
            raise _BodyError(400, f"Content-Length is not a number: {length!r}")
        if int(length) > MAX_BODY:
            raise _BodyError(413, f"The body is larger than {MAX_BODY} bytes.")
        return self.rfile.read(int(length))

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise _BodyError(400, "A chunk size is not hexadecimal.") from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailer fields, ignored
                    pass
                return bytes(body)
            if len(body) + size > MAX_BODY:
                raise _BodyError(413, f"The body is larger than {MAX_BODY} bytes.")
            body += self.rfile.read(size)
            self.rfile.readline(1024)  # the CRLF after the chunk

    def _send(self, response: _Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the tests read `server.requests`, not a log


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, gradebook: OneRosterGradebookServer, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.gradebook = gradebook
        self.socket = context.wrap_socket(
            self.socket, server_side=True, do_handshake_on_connect=False
        )

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that refuses our certificate, or hangs up, is a case the tests make on purpose.
        if isinstance(sys.exc_info()[1], ssl.SSLError | ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)
