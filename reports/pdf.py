"""HTML → PDF with WeasyPrint. One template renders both the page and the PDF."""

from __future__ import annotations

from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string


def render_pdf(
    template: str, context: dict, *, request=None, stylesheets: tuple[str, ...] = ("css/print.css",)
) -> bytes:
    """Render a template to PDF bytes; stylesheets are static paths (fonts embedded by WeasyPrint)."""
    # Imported here: loading WeasyPrint costs about 1.5 s, which no other request should pay.
    from weasyprint import CSS, HTML

    html = render_to_string(template, context, request=request)
    sheets = []
    for path in stylesheets:
        found = finders.find(path)
        if found:
            sheets.append(CSS(filename=found))
    base_url = str(settings.BASE_DIR)
    return HTML(string=html, base_url=base_url).write_pdf(stylesheets=sheets)
