"""Text put into a stylesheet: the PDFs' page footers (`@bottom-left { content: "…" }`).

`escapejs` is no CSS escape: it writes `\\u002D`, and CSS reads a backslash followed by a
non-hex letter as that letter, so "Anne-Marie" printed as "Anneu002DMarie" in every PDF footer.
"""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


def _escape(ch: str) -> str:
    if ch in '"\\':
        return "\\" + ch
    # Control characters (a newline would end the string: a CSS syntax error) and the
    # characters that could close the HTML <style> element around the rule, as a 6-digit hex
    # escape: at exactly 6 digits the escape ends on its own, so no space is needed after it and
    # a hex digit that follows (`\00000Ab`) is not read as part of it.
    if ch in "<>&" or ord(ch) < 0x20 or ord(ch) == 0x7F:
        return f"\\{ord(ch):06X}"
    return ch


@register.filter(is_safe=True)
def css_string(value) -> SafeString:
    """The value as the inside of a double-quoted CSS string, every character as it is spelled.

    Only what CSS syntax (and the HTML <style> element holding it) requires is escaped: a double
    quote and a backslash by a backslash, control characters and `<`, `>`, `&` by code point.
    Safe for HTML as it is: inside <style> the HTML parser decodes no entities, so HTML escaping
    (`O&#x27;Brien`) would print literally.
    """
    return mark_safe("".join(_escape(ch) for ch in str(value)))
