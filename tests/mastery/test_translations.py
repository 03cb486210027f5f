"""The Spanish catalogue: compiled as committed, and complete for everything families read."""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
from pathlib import Path

import pytest

LOCALE = Path(__file__).resolve().parents[2] / "mastery" / "locale" / "es" / "LC_MESSAGES"

# Sources whose every string a Spanish-speaking family or student can meet.
# (Staff pages stay in English for now; the invitation letter is bilingual by hand.)
FAMILY_FACING = (
    "reports/explain.py",
    "reports/selectors.py",  # the default habits' names
    "reports/views.py",
    "reports/templates/reports/_child_body.html",
    "reports/templates/reports/family_home.html",
    "reports/templates/reports/child.html",
    "reports/templates/reports/progress_report.html",
    "reports/templates/reports/invitation_",
    "templates/base.html",
    "templates/registration/",
    "templates/404.html",
    "templates/403.html",
)


def po_entries() -> list[dict]:
    entries = []
    for block in LOCALE.joinpath("django.po").read_text(encoding="utf-8").split("\n\n"):
        refs = [r for line in re.findall(r"^#: (.*)$", block, re.M) for r in line.split()]
        translated = [
            "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m))
            for m in re.findall(r'^msgstr(?:\[\d\])? ((?:".*"\n?)+)', block, re.M)
        ]
        entries.append(
            {
                "refs": refs,
                "translated": bool(translated) and all(translated),
                "fuzzy": "#, fuzzy" in block,
            }
        )
    return entries


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="gettext is installed by .ci/services")
def test_the_committed_catalogue_is_the_compiled_po_file(tmp_path):
    compiled = tmp_path / "django.mo"
    subprocess.run(
        ["msgfmt", "--check", "-o", str(compiled), str(LOCALE / "django.po")],
        check=True,
        capture_output=True,
    )
    with compiled.open("rb") as fresh, (LOCALE / "django.mo").open("rb") as committed:
        assert (
            gettext.GNUTranslations(fresh)._catalog == gettext.GNUTranslations(committed)._catalog
        )


def test_every_string_a_family_reads_is_translated_to_spanish():
    untranslated = sorted(
        {
            ref
            for entry in po_entries()
            if entry["refs"] and (entry["fuzzy"] or not entry["translated"])
            for ref in entry["refs"]
            if ref.startswith(FAMILY_FACING)
        }
    )
    assert untranslated == []
