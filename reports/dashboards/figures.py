"""Figures: one table of numbers, its bars, and its CSV — the unit every dashboard is made of."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.http import Http404, HttpResponse
from django.utils.text import slugify

from gradebook.exports import CONTENT_TYPE, csv_text, export_filename
from mastery.models import School

NOT_ASSESSED_COLOR = "#d9dde3"


@dataclass
class Segment:
    label: str
    count: int
    color: str
    x: float = 0.0  # percent of the bar's width where the segment starts
    width: float = 0.0  # percent of the bar's width


@dataclass
class Bar:
    """One horizontal bar: stacked segments (a distribution) or one value out of 100 (a share)."""

    label: str
    segments: list[Segment]
    total: int = 0
    note: str = ""  # shown after the bar, e.g. "62%"

    def __post_init__(self) -> None:
        self.total = sum(s.count for s in self.segments)
        x = 0.0
        for segment in self.segments:
            segment.x = x
            segment.width = 100 * segment.count / self.total if self.total else 0.0
            x += segment.width


@dataclass
class Figure:
    """A titled table (what the CSV holds) and optionally its bars (what the eye reads)."""

    slug: str
    title: str
    columns: list[str]
    rows: list[list]
    description: str = ""
    bars: list[Bar] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)  # (label, color)
    empty: str = "No data yet."
    # Columns whose cells are links in the table: {column index: url per row}.
    links: dict[int, list[str]] = field(default_factory=dict)
    # Columns of running text (a target's statement) that wrap; the others stay on one line.
    wrap: frozenset[int] = frozenset()

    @property
    def cells(self) -> list[list[tuple[object, str, bool]]]:
        """Rows as (value, link, wraps) for the template."""
        no_links = [""] * len(self.rows)
        return [
            [(value, self.links.get(i, no_links)[r], i in self.wrap) for i, value in enumerate(row)]
            for r, row in enumerate(self.rows)
        ]


def percent(part: int, whole: int) -> int | None:
    """A share as a whole percent (half up), None when there is nothing to share."""
    if not whole:
        return None
    return int((Decimal(100 * part) / Decimal(whole)).quantize(Decimal(1), ROUND_HALF_UP))


def share_bar(label: str, part: int, whole: int, color: str = "#1f6f43") -> Bar:
    """A bar of `part` out of `whole` (the rest light grey), its note the percent."""
    value = percent(part, whole)
    return Bar(
        label=label,
        segments=[
            Segment("yes", part, color),
            Segment("no", max(whole - part, 0), NOT_ASSESSED_COLOR),
        ],
        note="—" if value is None else f"{value}%",
    )


def mean(total: Decimal | float | None, n: int) -> Decimal | None:
    if not n or total is None:
        return None
    return (Decimal(str(total)) / n).quantize(Decimal("0.01"), ROUND_HALF_UP)


def figure_or_404(figures: Sequence[Figure], slug: str) -> Figure:
    for figure in figures:
        if figure.slug == slug:
            return figure
    raise Http404("No such figure on this dashboard.")


def figure_csv(figure: Figure, *, school: School | None, name: str, on: date) -> HttpResponse:
    """The figure's table as a CSV download (BOM for Excel, formulas defused)."""
    response = HttpResponse(csv_text(figure.columns, figure.rows), content_type=CONTENT_TYPE)
    if school is not None:
        filename = export_filename(school, name, figure.slug, on=on)
    else:
        filename = f"{slugify(name)}-{figure.slug}-{on.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def section_label(section) -> str:
    """How a section reads in every figure: course code and section name ("ALG1 Period 2")."""
    return f"{section.course.code} {section.name}"


def teacher_names(section) -> str:
    """The section's teachers (prefetched), comma-separated."""
    return ", ".join(t.full_name for t in section.teachers.all())
