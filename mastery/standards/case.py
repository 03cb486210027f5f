"""Reading and validating a CASE 1.0 CFPackage.

The package is checked against the specification's CFPackage JSON schema with `jsonschema`
(draft 4, the draft the schema is written in), then for what a schema cannot say (identifiers
unique within the package). Every problem is reported at once, each at its JSON path
(`$.CFItems[3].fullStatement`), and a package with any problem is refused whole.

Two habits of real publishers are repaired before the check, because the specification's own
reference implementation (OpenSALT) exports them and refusing them would refuse its packages:
a JSON `null` for an optional property (read as absent) and a `sequenceNumber` written as a
numeric string ("2"). The repairs are counted and shown with the import's result.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator

SCHEMA_PATH = Path(__file__).with_name("case-v1p0-cfpackage-schema.json")


class PackageError(Exception):
    """The package was refused: `errors` lists every problem, each at its JSON path."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors[:5]))
        self.errors = errors


@dataclass
class Package:
    """A valid CFPackage (its JSON, repaired as the module docstring says)."""

    data: dict[str, Any]
    repairs: list[str] = field(default_factory=list)

    @property
    def document(self) -> dict[str, Any]:
        return self.data["CFDocument"]

    @property
    def items(self) -> list[dict[str, Any]]:
        return self.data.get("CFItems") or []

    @property
    def associations(self) -> list[dict[str, Any]]:
        return self.data.get("CFAssociations") or []


@cache
def validator() -> Draft4Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)


def _repair(value: Any, path: str, repairs: list[str]) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, inner in value.items():
            where = f"{path}.{key}"
            if inner is None:
                repairs.append(f"{where}: null read as absent")
                continue
            if key == "sequenceNumber" and isinstance(inner, str) and inner.strip().isdigit():
                repairs.append(f"{where}: the string {inner!r} read as a number")
                out[key] = int(inner)
                continue
            out[key] = _repair(inner, where, repairs)
        return out
    if isinstance(value, list):
        return [_repair(inner, f"{path}[{i}]", repairs) for i, inner in enumerate(value)]
    return value


def _located(error: Any) -> str:
    path = error.json_path
    if error.validator == "required":
        # "'fullStatement' is a required property" at $.CFItems[3]: point at the property itself.
        missing = error.message.split("'")[1] if error.message.count("'") >= 2 else ""
        return f"{path}.{missing}: required, missing" if missing else f"{path}: {error.message}"
    if error.validator in ("oneOf", "anyOf") and error.context:
        deepest = max(error.context, key=lambda e: len(list(e.absolute_path)))
        return f"{deepest.json_path}: {_short(deepest.message)}"
    return f"{path}: {_short(error.message)}"


def _short(message: str) -> str:
    return message if len(message) <= 200 else message[:197] + "…"


def package_parse(raw: bytes | str) -> Package:
    """The valid package in `raw` (JSON text), or PackageError with every problem located."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise PackageError([f"$: not JSON ({where}): {exc.msg}"]) from exc
    except UnicodeDecodeError as exc:
        raise PackageError([f"$: not JSON (not UTF-8 text at byte {exc.start})"]) from exc
    if not isinstance(data, dict):
        raise PackageError(["$: a CFPackage is a JSON object with a CFDocument"])
    repairs: list[str] = []
    data = _repair(data, "$", repairs)
    errors = sorted({_located(e) for e in validator().iter_errors(data)}, key=_natural)
    errors += _duplicates(data)
    if errors:
        raise PackageError(errors)
    return Package(data=data, repairs=repairs)


def _natural(text: str) -> tuple:
    """Sort $.CFItems[10] after $.CFItems[9]."""
    parts: list[Any] = []
    for chunk in text.replace("]", "[").split("["):
        parts.append((0, int(chunk), "") if chunk.isdigit() else (1, 0, chunk))
    return tuple(parts)


def _not_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return True
    return False


def _duplicates(data: dict[str, Any]) -> list[str]:
    """Identifiers that are no UUID (the schema's pattern is unanchored) or repeat."""
    errors = []
    document = data.get("CFDocument") or {}
    if "identifier" in document and _not_uuid(document["identifier"]):
        errors.append("$.CFDocument.identifier: not a UUID")
    for key in ("CFItems", "CFAssociations"):
        first: dict[str, int] = {}
        for i, row in enumerate(data.get(key) or []):
            if "identifier" not in row:
                continue
            identifier = str(row["identifier"]).lower()
            if _not_uuid(identifier):
                errors.append(f"$.{key}[{i}].identifier: not a UUID")
            elif identifier in first:
                errors.append(
                    f"$.{key}[{i}].identifier: {identifier} is also $.{key}[{first[identifier]}]"
                )
            else:
                first[identifier] = i
    return errors
