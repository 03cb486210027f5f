"""Template helpers for levels and scores: a number, a label and a colour, never colour alone."""

from __future__ import annotations

import html
from decimal import Decimal
from functools import lru_cache

from django import template
from django.utils import formats, translation
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from mastery import calculation
from mastery.models import Role
from mastery.tenancy import DISTRICT_ADMIN

register = template.Library()


@register.filter
def fmt(value) -> str:
    """3, 2.5, 2.65 — never 3.00; with the language's decimal separator (2,65 in Spanish)."""
    if value is None or value == "":
        return ""
    return _localized(calculation.fmt(value), translation.get_language())


@register.filter
def plain_number(value) -> str:
    """3, 2.5, 2.65 as markup, forms and CSS read a number: a point, never localized (a value="2,5"
    or y1="6,7" is another number, or none, to a parser)."""
    if value is None or value == "":
        return ""
    return calculation.fmt(value)


@lru_cache(maxsize=4096)
def _localized(plain: str, language: str | None) -> str:
    # A grid shows a few hundred scores drawn from a few dozen values: format each value once.
    return formats.number_format(Decimal(plain))


@register.filter
def room_label(room) -> str:
    """A room as people say it: a number takes the word ("Room 216"); a name is shown as typed, so
    "Room 216" or "Library" never reads "Room Room 216" or "Room Library"."""
    room = (room or "").strip()
    if room[:1].isdigit():
        return translation.gettext("Room %(room)s") % {"room": room}
    return room


@register.filter
def role_label(role) -> str:
    """A role as people say it ("District admin", "School admin"), in the page's language."""
    if role == DISTRICT_ADMIN:
        return translation.gettext("District admin")
    try:
        return str(Role(role).label)
    except ValueError:
        return str(role)


def level_css(value) -> str:
    if value is None:
        return "level--none"
    return "level--" + calculation.fmt(value).replace(".", "_")


@register.filter
def level_class(value) -> str:
    return level_css(value)


def _label_for(value, levels) -> str:
    for level in levels or ():
        if Decimal(level.value) == Decimal(value):
            return getattr(level, "display_label", level.label)
    return ""


@register.simple_tag
def level_chip(record, levels, empty_text="No evidence yet"):
    """A Mastery record (or None) as a chip: “3 Proficient”, or the insufficient-evidence marker."""
    if record is None or record.evidence_count == 0:
        return format_html('<span class="level level--none">{}</span>', empty_text)
    if record.level is None:
        return format_html(
            '<span class="level level--none" title="{}">Insufficient evidence</span>',
            record.explanation,
        )
    return format_html(
        '<span class="level {}" title="{}"><span class="level__num">{}</span>'
        '<span class="level__label">{}</span></span>',
        level_css(record.level),
        record.explanation,
        fmt(record.score),
        _label_for(record.level, levels),
    )


@register.filter
def get_item(mapping, key):
    """mapping[key] in a template, or None."""
    if mapping is None:
        return None
    return mapping.get(key)


@register.simple_tag(takes_context=True)
def level_styles(context, levels):
    """The school's own level colours, as a nonce'd <style> (CSP forbids inline style attributes)."""
    rules = []
    for level in levels:
        color = getattr(level, "color", "") or ""
        if not (
            len(color) == 7
            and color.startswith("#")
            and all(c in "0123456789abcdefABCDEF" for c in color[1:])
        ):
            continue
        css = level_css(level.value)
        rules.append(f".{css}{{background:{color}}}")
        if getattr(level, "abbreviation", ""):
            rules.append(f".fill-{level.abbreviation}{{fill:{color}}}")
    # Safe: built only from validated hex colours and our own class names.
    return format_html(
        '<style nonce="{}">{}</style>', context.get("csp_nonce", ""), mark_safe("".join(rules))
    )


@register.simple_tag
def grid_chip(record, levels, url, label):
    """A dense grid cell: number + abbreviated level (full label for screen readers and on hover)."""
    return mark_safe(_grid_chip(record, levels, url, label))


def _grid_chip(record, levels, url: str, label: str) -> str:
    # Plain f-strings with the standard library's escape: a grid page builds hundreds of these,
    # and format_html's lazy-string checks cost more than the rest of the page.
    if record is None or record.evidence_count == 0:
        return (
            f'<a class="gchip gchip--empty" href="{_e(url)}" data-cell '
            f'aria-label="{_e(label)}: no evidence yet">–</a>'
        )
    if record.level is None:
        return (
            f'<a class="gchip gchip--ie" href="{_e(url)}" data-cell aria-label="{_e(label)}: '
            f'insufficient evidence" title="{_e(record.explanation)}">IE</a>'
        )
    info = next((lv for lv in levels if lv.value == record.level), None)
    score = _e(fmt(record.score))
    return (
        f'<a class="gchip level {level_css(record.level)}" href="{_e(url)}" data-cell '
        f'aria-label="{_e(label)}: {score} {_e(info.label if info else "")}" '
        f'title="{_e(record.explanation)}"><span class="level__num">{score}</span>'
        f"{_level_mark(record.level)}</a>"
    )


@register.simple_tag
def level_mark(value):
    """A level's marker beside a score: its number in a ring. Never a letter: "1.85 B" read as a
    B grade next to the course grades' letters (A-D), and the first letters of the labels
    (Beginning, Developing, Proficient, Advanced) are those letters. Drawn with a border, so it
    stays in black and white print, where the level's colour is gone."""
    return mark_safe(_level_mark(value))


def _level_mark(value) -> str:
    if value is None:
        return ""
    # The number is drawn by CSS (content: attr(data-mark)), not written as text: a chip's label
    # says the score and the level in words, and text inside it that the label does not contain
    # ("3.19" then "3") breaks WCAG 2.5.3, label in name.
    return f'<span class="level__mark" aria-hidden="true" data-mark="{_e(fmt(value))}"></span>'


def _e(text) -> str:
    return html.escape(str(text), quote=True)


@register.simple_tag
def grid_cells(row, grid, section_url: str):
    """Every level cell of one grid row (a page holds hundreds: built here, not in the template).

    Each cell links to its detail: `section_url` + students/<id>/targets/<id>/ (the cell_detail URL).
    """
    name = row.student.display_name
    cells = [
        _grid_cell(row.student.id, name, target, record, grid.levels, section_url)
        for record, target in zip(row.cells, grid.targets, strict=True)
    ]
    return mark_safe("".join(cells))  # every value in them is escaped by _e


@register.simple_tag
def grid_cell(row, grid, target_id: int, section_url: str, oob: bool = False):
    """One level cell of a grid row, the same markup as grid_cells gives it; `oob` marks it for
    an out-of-band swap, so a change made in the cell dialog redraws the grid behind it."""
    for record, target in zip(row.cells, grid.targets, strict=True):
        if target.id == target_id:
            cell = _grid_cell(
                row.student.id,
                row.student.display_name,
                target,
                record,
                grid.levels,
                section_url,
                oob=oob,
            )
            return mark_safe(cell)  # every value in it is escaped by _e
    return ""


def _grid_cell(student_id, name, target, record, levels, section_url, *, oob=False) -> str:
    swap = ' hx-swap-oob="true"' if oob else ""
    return (
        f'<td id="g-{student_id}-{target.id}" class="grid__cell"{swap}>'
        + _grid_chip(
            record,
            levels,
            f"{section_url}students/{student_id}/targets/{target.id}/",
            f"{name}, {target.code}",
        )
        + "</td>"
    )


@register.filter
def pair(a, b):
    """(a, b): a dictionary key for a student × target cell."""
    return (a, b)
