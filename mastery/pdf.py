"""HTML → PDF with WeasyPrint. One template renders both the page and the PDF.

What does not change between documents is made once per process: the parsed stylesheets, the
font configuration, and an SSL context for the URL fetcher (WeasyPrint's default fetcher builds
one per document, loading the system's certificates: about 60 ms each time). The fetcher only
reads local files and data: URIs, so a report can never make the server fetch from the network.
"""

from __future__ import annotations

import ssl
import threading
from functools import cache

from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from weasyprint import CSS, HTML
from weasyprint.formatting_structure.boxes import MarginBox
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

from mastery.gcpause import gc_paused

_local = threading.local()


@cache
def _ssl_context() -> ssl.SSLContext:
    # Never used to connect (only file: and data: URLs are allowed); WeasyPrint's fetcher wants one.
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _fetcher():

    return URLFetcher(allowed_protocols={"file", "data"}, ssl_context=_ssl_context())


def _shared() -> tuple:
    """This thread's font configuration and parsed stylesheets (WeasyPrint objects are not shared
    between threads)."""
    if not hasattr(_local, "fonts"):
        _local.fonts = FontConfiguration()
        _local.sheets = {}
    return _local.fonts, _local.sheets


def _stylesheet(path: str):

    fonts, sheets = _shared()
    if path not in sheets or settings.DEBUG:  # in development, pick up edits to the stylesheet
        found = finders.find(path)
        sheets[path] = (
            CSS(filename=found, font_config=fonts, url_fetcher=_fetcher()) if found else None
        )
    return sheets[path]


def render_document(
    template: str, context: dict, *, request=None, stylesheets: tuple[str, ...] = ("css/print.css",)
):
    """Lay a template out as pages (WeasyPrint's Document), to look at before writing the PDF."""
    # Imported here: loading WeasyPrint costs about 1.5 s, which no other request should pay.

    with gc_paused():  # layout allocates millions of objects (mastery/gcpause.py)
        html = render_to_string(template, context, request=request)
        fonts, _ = _shared()
        sheets = [sheet for sheet in map(_stylesheet, stylesheets) if sheet is not None]
        document = HTML(string=html, base_url=str(settings.BASE_DIR), url_fetcher=_fetcher())
        return document.render(stylesheets=sheets, font_config=fonts)


def render_pdf(
    template: str, context: dict, *, request=None, stylesheets: tuple[str, ...] = ("css/print.css",)
) -> bytes:
    """Render a template to PDF bytes; stylesheets are static paths (fonts embedded by WeasyPrint)."""
    with gc_paused():
        document = render_document(template, context, request=request, stylesheets=stylesheets)
        return document.write_pdf()


def last_page_filled(document) -> float:
    """How much of the last page's height its content takes, 0 to 1 (the footer's margin aside)."""

    # WeasyPrint's Page keeps its laid-out boxes in _page_box (there is no public accessor); the
    # footer is in the page's margin boxes, which are not content.
    page = document.pages[-1]._page_box
    top = page.content_box_y()
    bottom = max(
        (
            box.position_y + box.margin_height()
            for root in page.children
            if not isinstance(root, MarginBox)
            for box in root.descendants()
            if box is not root and box.element_tag != "body"
        ),
        default=top,
    )
    return (bottom - top) / page.height
