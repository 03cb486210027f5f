"""A period's gradebook as a OneRoster 1.2 CSV bundle (1EdTech OneRoster 1.2 CSV Binding).

The headers below are the binding's, column for column and in its order (CSV Binding §3, the
tables of categories.csv, lineItems.csv, results.csv, scoreScales.csv, lineItemScoreScales.csv,
resultScoreScales.csv, lineItemLearningObjectiveIds.csv, resultLearningObjectiveIds.csv; manifest
§3.1 Table 3.1). The binding's own rules followed here:
- RFC 4180 CSV (CRLF line ends, fields quoted when they hold a comma, a quote or a line break;
  carriage returns are not allowed inside a field, so a comment's line breaks become spaces),
  UTF-8 without a byte-order mark, a header row in every file;
- "Files that contain no data rows are NOT permitted": an empty file is left out and marked
  `absent` in the manifest;
- in delta mode every row carries `status` and `dateLastModified` (a mark withdrawn since it
  had a value: `tobedeleted`); in bulk mode those two fields "MUST NOT contain values" and a
  withdrawn mark is simply left out;
- dates YYYY-MM-DD, date-times YYYY-MM-DDTHH:MM:SS.sssZ (UTC), a score scale's values written
  `{LHS:RHS}` and joined by commas ("{A+:100},{A:94}"), a CASE learning objective as a UUID URN.

The bundle is a zip with every file at its root, each member stamped with one fixed time: the same
marks give the same bytes (the byte-for-byte test and a re-export rely on it).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from typing import Any

from sis.gradebook import TO_BE_DELETED, Gradebook, our_id

MANIFEST_VERSION = "1.0"
ONEROSTER_VERSION = "1.2"
BULK = "bulk"
DELTA = "delta"
ABSENT = "absent"

# manifest.csv, Table 3.1: every file.* row, in the table's order.
MANIFEST_FILES = (
    "academicSessions",
    "categories",
    "classes",
    "classResources",
    "courses",
    "courseResources",
    "demographics",
    "enrollments",
    "lineItemLearningObjectiveIds",
    "lineItems",
    "lineItemScoreScales",
    "orgs",
    "resources",
    "resultLearningObjectiveIds",
    "results",
    "resultScoreScales",
    "roles",
    "scoreScales",
    "userProfiles",
    "userResources",
    "users",
)
SYSTEM_NAME = "Mastery Gradebook"
SYSTEM_CODE = "mastery-gradebook"

HEADERS: dict[str, tuple[str, ...]] = {
    "categories": ("sourcedId", "status", "dateLastModified", "title", "weight"),
    "lineItems": (
        "sourcedId",
        "status",
        "dateLastModified",
        "title",
        "description",
        "assignDate",
        "dueDate",
        "classSourcedId",
        "categorySourcedId",
        "academicSessionSourcedId",
        "resultValueMin",
        "resultValueMax",
        "schoolSourcedId",
    ),
    "results": (
        "sourcedId",
        "status",
        "dateLastModified",
        "lineItemSourcedId",
        "studentSourcedId",
        "scoreStatus",
        "score",
        "scoreDate",
        "comment",
        "textScore",
        "classSourcedId",
        "inProgress",
        "incomplete",
        "late",
        "missing",
    ),
    "scoreScales": (
        "sourcedId",
        "status",
        "dateLastModified",
        "title",
        "type",
        "orgSourcedId",
        "courseSourcedId",
        "classSourcedId",
        "scoreScaleValue",
    ),
    "lineItemScoreScales": (
        "sourcedId",
        "status",
        "dateLastModified",
        "title",
        "lineItemSourcedId",
        "scoreScaleSourcedId",
    ),
    "resultScoreScales": (
        "sourcedId",
        "status",
        "dateLastModified",
        "title",
        "resultSourcedId",
        "scoreScaleSourcedId",
    ),
    "lineItemLearningObjectiveIds": (
        "sourcedId",
        "status",
        "dateLastModified",
        "lineItemSourcedId",
        "source",
        "learningObjectiveId",
    ),
    "resultLearningObjectiveIds": (
        "sourcedId",
        "status",
        "dateLastModified",
        "resultSourcedId",
        "source",
        "learningObjectiveId",
        "score",
        "textScore",
    ),
}
# The columns each file must fill on every row (the tables' Required = Yes; status and
# dateLastModified are "Yes for Delta").
REQUIRED: dict[str, tuple[str, ...]] = {
    "categories": ("sourcedId", "title"),
    "lineItems": (
        "sourcedId",
        "title",
        "assignDate",
        "dueDate",
        "classSourcedId",
        "categorySourcedId",
        "academicSessionSourcedId",
        "schoolSourcedId",
    ),
    "results": ("sourcedId", "lineItemSourcedId", "studentSourcedId", "scoreStatus", "scoreDate"),
    "scoreScales": (
        "sourcedId",
        "title",
        "type",
        "orgSourcedId",
        "courseSourcedId",
        "classSourcedId",
        "scoreScaleValue",
    ),
    "lineItemScoreScales": ("sourcedId", "lineItemSourcedId", "scoreScaleSourcedId"),
    "resultScoreScales": ("sourcedId", "resultSourcedId", "scoreScaleSourcedId"),
    "lineItemLearningObjectiveIds": (
        "sourcedId",
        "lineItemSourcedId",
        "source",
        "learningObjectiveId",
    ),
    "resultLearningObjectiveIds": (
        "sourcedId",
        "resultSourcedId",
        "source",
        "learningObjectiveId",
    ),
}
# Members of the zip carry this time, whatever the day (zip stores local times without a zone).
ZIP_TIME = (2000, 1, 1, 0, 0, 0)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | int):
        return (
            format(value, "f").rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
        )
    # Carriage returns are not permitted within a field (CSV Binding §3).
    return " ".join(str(value).splitlines())


def _sid(guid_ref: dict[str, str] | None) -> str:
    return guid_ref["sourcedId"] if guid_ref else ""


def _scale_values(values: Iterable[dict[str, str]]) -> str:
    """`{LHS:RHS}` pairs joined by commas; braces, colons and commas inside a value would break
    the pair apart, so they become spaces or hyphens."""

    def clean(text: str) -> str:
        return text.replace("{", "(").replace("}", ")").replace(":", "-").replace(",", " ")

    return ",".join(
        "{" + clean(v["itemValueLHS"]) + ":" + clean(v["itemValueRHS"]) + "}" for v in values
    )


def _case_urn(identifier: str) -> str:
    """lineItemLearningObjectiveIds.csv: "If an 1EdTech CASE identifier then it MUST be a valid
    UUID URN"."""
    return identifier if identifier.startswith("urn:uuid:") else f"urn:uuid:{identifier}"


def _date(value: str) -> str:
    """YYYY-MM-DD (the JSON's date-times of assignDate and dueDate are whole days)."""
    return value[:10]


def rows(book: Gradebook) -> dict[str, list[dict[str, str]]]:
    """Each file's rows, as {column: text}, in the book's order."""
    out: dict[str, list[dict[str, str]]] = {name: [] for name in HEADERS}
    for c in book.categories:
        out["categories"].append(
            {
                "sourcedId": c["sourcedId"],
                "status": c["status"],
                "dateLastModified": c["dateLastModified"],
                "title": c["title"],
                "weight": _text(c.get("weight")),
            }
        )
    for s in book.score_scales:
        out["scoreScales"].append(
            {
                "sourcedId": s["sourcedId"],
                "status": s["status"],
                "dateLastModified": s["dateLastModified"],
                "title": s["title"],
                "type": s["type"],
                "orgSourcedId": book.scale_org[s["sourcedId"]],
                "courseSourcedId": _sid(s.get("course")),
                "classSourcedId": _sid(s.get("class")),
                "scoreScaleValue": _scale_values(s["scoreScaleValue"]),
            }
        )
    titles = {s["sourcedId"]: s["title"] for s in book.score_scales}
    for item in book.line_items:
        out["lineItems"].append(
            {
                "sourcedId": item["sourcedId"],
                "status": item["status"],
                "dateLastModified": item["dateLastModified"],
                "title": item["title"],
                "description": _text(item.get("description")),
                "assignDate": _date(item["assignDate"]),
                "dueDate": _date(item["dueDate"]),
                "classSourcedId": _sid(item["class"]),
                "categorySourcedId": _sid(item["category"]),
                "academicSessionSourcedId": _sid(item.get("gradingPeriod")),
                "resultValueMin": _text(item.get("resultValueMin")),
                "resultValueMax": _text(item.get("resultValueMax")),
                "schoolSourcedId": _sid(item["school"]),
            }
        )
        if item.get("scoreScale"):
            scale = _sid(item["scoreScale"])
            out["lineItemScoreScales"].append(
                {
                    "sourcedId": our_id("lineItemScoreScale", item["sourcedId"], scale),
                    "status": item["status"],
                    "dateLastModified": item["dateLastModified"],
                    "title": titles.get(scale, ""),
                    "lineItemSourcedId": item["sourcedId"],
                    "scoreScaleSourcedId": scale,
                }
            )
        for objective_set in item.get("learningObjectiveSet", []):
            for identifier in objective_set["learningObjectiveIds"]:
                out["lineItemLearningObjectiveIds"].append(
                    {
                        "sourcedId": our_id("lineItemObjective", item["sourcedId"], identifier),
                        "status": item["status"],
                        "dateLastModified": item["dateLastModified"],
                        "lineItemSourcedId": item["sourcedId"],
                        "source": objective_set["source"],
                        "learningObjectiveId": _case_urn(identifier),
                    }
                )
    for r in book.results:
        out["results"].append(
            {
                "sourcedId": r["sourcedId"],
                "status": r["status"],
                "dateLastModified": r["dateLastModified"],
                "lineItemSourcedId": _sid(r["lineItem"]),
                "studentSourcedId": _sid(r["student"]),
                "scoreStatus": r["scoreStatus"],
                "score": _text(r.get("score")),
                "scoreDate": r["scoreDate"],
                "comment": _text(r.get("comment")),
                "textScore": _text(r.get("textScore")),
                "classSourcedId": _sid(r.get("class")),
                "inProgress": _text(r.get("inProgress")),
                "incomplete": _text(r.get("incomplete")),
                "late": _text(r.get("late")),
                "missing": _text(r.get("missing")),
            }
        )
        if r.get("scoreScale"):
            scale = _sid(r["scoreScale"])
            out["resultScoreScales"].append(
                {
                    "sourcedId": our_id("resultScoreScale", r["sourcedId"], scale),
                    "status": r["status"],
                    "dateLastModified": r["dateLastModified"],
                    "title": titles.get(scale, ""),
                    "resultSourcedId": r["sourcedId"],
                    "scoreScaleSourcedId": scale,
                }
            )
        for objective_set in r.get("learningObjectiveSet", []):
            for objective in objective_set["learningObjectiveResults"]:
                identifier = objective["learningObjectiveId"]
                out["resultLearningObjectiveIds"].append(
                    {
                        "sourcedId": our_id("resultObjective", r["sourcedId"], identifier),
                        "status": r["status"],
                        "dateLastModified": r["dateLastModified"],
                        "resultSourcedId": r["sourcedId"],
                        "source": objective_set["source"],
                        "learningObjectiveId": _case_urn(identifier),
                        "score": _text(objective.get("score")),
                        "textScore": _text(objective.get("textScore")),
                    }
                )
    return out


def _csv(header: Sequence[str], data: list[dict[str, str]], *, mode: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in data:
        if mode == BULK:
            row = {**row, "status": "", "dateLastModified": ""}
        writer.writerow([row.get(column, "") for column in header])
    return buffer.getvalue().encode("utf-8")


def bundle_files(book: Gradebook, *, mode: str = DELTA) -> dict[str, bytes]:
    """manifest.csv and each gradebook file that has rows, by file name."""
    if mode not in (BULK, DELTA):
        raise ValueError(f"unknown mode {mode!r}")
    files: dict[str, bytes] = {}
    for name, data in rows(book).items():
        if mode == BULK:
            data = [row for row in data if row["status"] != TO_BE_DELETED]
        if data:
            files[f"{name}.csv"] = _csv(HEADERS[name], data, mode=mode)
    manifest = [("manifest.version", MANIFEST_VERSION), ("oneroster.version", ONEROSTER_VERSION)]
    manifest += [
        (f"file.{name}", mode if f"{name}.csv" in files else ABSENT) for name in MANIFEST_FILES
    ]
    manifest += [("source.systemName", SYSTEM_NAME), ("source.systemCode", SYSTEM_CODE)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(("propertyName", "value"))
    writer.writerows(manifest)
    return {"manifest.csv": buffer.getvalue().encode("utf-8"), **files}


def bundle_zip(files: dict[str, bytes]) -> bytes:
    """The files as a zip, manifest first, every member at the root with one fixed time."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files, key=lambda n: (n != "manifest.csv", n)):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name])
    return out.getvalue()
