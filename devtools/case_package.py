"""A generated CASE 1.0 CFPackage the size of a real state framework, to measure the import.

`case_package(items=5000)` makes a deterministic package: one document, `items` CFItems in a
four-level tree (grades → domains → clusters → standards, each with a full statement, a human
coding scheme, an item type and education levels) and one isChildOf association per item, plus
an exactMatchOf for every tenth standard. It is valid against the specification's schema.

    python -m devtools.case_package 5000 > /tmp/state.cfpackage.json
    python manage.py import_case /tmp/state.cfpackage.json --school SLUG
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

NAMESPACE = uuid.UUID("6b1c5f5e-2f0a-4c39-9c57-2f6f4a1e0c11")
WHEN = "2026-01-15T12:00:00+00:00"
BASE = "https://case.example.org/uri/"


def _id(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


def _link(identifier: str, title: str) -> dict[str, str]:
    return {"title": title[:60], "identifier": identifier, "uri": BASE + identifier}


def case_package(items: int = 5000, *, version: str = "1") -> dict[str, Any]:
    """A valid CFPackage with exactly `items` items (deterministic: the same ids every time)."""
    document = _id("document")
    doc = {
        "identifier": document,
        "uri": BASE + document,
        "creator": "Generated for the import benchmark",
        "title": "Generated State Standards",
        "lastChangeDateTime": WHEN,
        "version": version,
        "adoptionStatus": "Adopted",
        "CFPackageURI": _link(document, "Generated State Standards"),
    }
    cf_items: list[dict[str, Any]] = []
    associations: list[dict[str, Any]] = []

    def add(
        key: tuple, code: str, statement: str, kind: str, grade: int, parent: str | None, seq: int
    ) -> str:
        identifier = _id(*key)
        cf_items.append(
            {
                "identifier": identifier,
                "uri": BASE + identifier,
                "fullStatement": statement,
                "humanCodingScheme": code,
                "CFItemType": kind,
                "educationLevel": [f"{grade:02d}"],
                "language": "en",
                "lastChangeDateTime": WHEN,
            }
        )
        destination = parent or document
        association = _id("childOf", *key)
        associations.append(
            {
                "identifier": association,
                "uri": BASE + association,
                "associationType": "isChildOf",
                "sequenceNumber": seq,
                "originNodeURI": _link(identifier, code),
                "destinationNodeURI": _link(destination, "parent"),
                "lastChangeDateTime": WHEN,
            }
        )
        return identifier

    grade = domain = cluster = 0
    grade_id = domain_id = cluster_id = None
    standard = 0
    while len(cf_items) < items:
        n = len(cf_items)
        if grade_id is None or (domain >= 5 and cluster >= 4 and standard >= 10):
            grade += 1
            domain = cluster = standard = 0
            grade_id = add(
                ("g", grade),
                f"G{grade}",
                f"Grade {grade} mathematics.",
                "Grade",
                grade,
                None,
                grade,
            )
            domain_id = cluster_id = None
        elif domain_id is None or (cluster >= 4 and standard >= 10):
            domain += 1
            cluster = standard = 0
            domain_id = add(
                ("d", grade, domain),
                f"{grade}.D{domain}",
                f"Domain {domain} of grade {grade}.",
                "Domain",
                grade,
                grade_id,
                domain,
            )
            cluster_id = None
        elif cluster_id is None or standard >= 10:
            cluster += 1
            standard = 0
            cluster_id = add(
                ("c", grade, domain, cluster),
                f"{grade}.D{domain}.C{cluster}",
                f"Cluster {cluster}: understand and use idea {n}.",
                "Cluster",
                grade,
                domain_id,
                cluster,
            )
        else:
            standard += 1
            code = f"{grade}.D{domain}.C{cluster}.{standard}"
            sid = add(
                ("s", grade, domain, cluster, standard),
                code,
                f"Solve problems of kind {code}, explaining each step and checking the answer for reasonableness (standard {n}).",
                "Standard",
                grade,
                cluster_id,
                standard,
            )
            if standard == 10:
                other = _id("elsewhere", code)
                association = _id("match", code)
                associations.append(
                    {
                        "identifier": association,
                        "uri": BASE + association,
                        "associationType": "exactMatchOf",
                        "originNodeURI": _link(sid, code),
                        "destinationNodeURI": _link(other, f"CCSS {code}"),
                        "lastChangeDateTime": WHEN,
                    }
                )
    return {"CFDocument": doc, "CFItems": cf_items, "CFAssociations": associations}


if __name__ == "__main__":
    json.dump(case_package(int(sys.argv[1]) if len(sys.argv) > 1 else 5000), sys.stdout)
