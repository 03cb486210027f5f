"""HTML → PDF with WeasyPrint. One template renders both the page and the PDF.

What does not change between documents is made once per process: the parsed stylesheets, the
font configuration, and an SSL context for the URL fetcher (WeasyPrint's default fetcher builds
one per document, loading the system's certificates: about 60 ms each time).

What a document may read (`StoreFetcher`): data: URIs, the project's own static files, and the
evidence file store of the document's school through the internal scheme
`evidence:schools/<school>/evidence/<name>` — never the network (http, https, ftp) and never
another local file, whatever URL a user managed to put into a report's text.
"""

from __future__ import annotations

import re
import ssl
import threading
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.files.storage import storages
from django.template.loader import render_to_string
from weasyprint import CSS, HTML
from weasyprint.formatting_structure.boxes import MarginBox
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

from mastery.gcpause import gc_paused

_local = threading.local()


@cache
def _ssl_context() -> ssl.SSLContext:
    # Never used to connect (no network scheme is allowed); WeasyPrint's fetcher wants one.
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


# The evidence store's names: schools/<school id>/evidence/<32 hex>[.thumb].<image extension>.
_STORE_NAME = re.compile(r"schools/(\d+)/evidence/[0-9a-f]{32}(?:\.thumb)?\.(?:jpg|png|webp)")
_STORE_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def _static_roots() -> list[Path]:
    roots = [Path(d) for d in settings.STATICFILES_DIRS]
    if settings.STATIC_ROOT:
        roots.append(Path(settings.STATIC_ROOT))
    return [root.resolve() for root in roots]


class StoreFetcher(URLFetcher):
    """WeasyPrint's fetcher, held to the file store: data: URIs, static files, and the images of
    one school's evidence store (`evidence:` + a stored name of that school). Anything else —
    http(s), ftp, a file: outside the static folders, another school's files — is refused."""

    def __init__(self, *, school_id: int | None = None):
        super().__init__(allowed_protocols={"file", "data", "evidence"}, ssl_context=_ssl_context())
        self.school_id = school_id

    def fetch(self, url, headers=None):
        scheme = url.split(":", 1)[0].lower()
        if scheme == "evidence":
            return self._from_store(url.split(":", 1)[1])
        if scheme == "file":
            path = Path(url2pathname(urlsplit(url).path)).resolve()
            if not any(path.is_relative_to(root) for root in _static_roots()):
                raise ValueError(f"Only static files may be read: {url}")
        elif scheme != "data":
            raise ValueError(f"URI uses disallowed protocol: {url}")
        return super().fetch(url, headers)

    def _from_store(self, name: str) -> URLFetcherResponse:
        found = _STORE_NAME.fullmatch(name)
        if found is None or self.school_id is None or int(found[1]) != self.school_id:
            raise ValueError(f"Not a file of this school's store: {name}")
        with storages["evidence"].open(name, "rb") as handle:
            body = handle.read()
        content_type = _STORE_TYPES[name.rsplit(".", 1)[1]]
        return URLFetcherResponse(
            f"evidence:{name}", body, {"Content-Type": content_type}, status=200
        )


def _fetcher(school_id: int | None = None) -> StoreFetcher:
    return StoreFetcher(school_id=school_id)


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
    template: str,
    context: dict,
    *,
    request=None,
    stylesheets: tuple[str, ...] = ("css/print.css",),
    school_id: int | None = None,
):
    """Lay a template out as pages (WeasyPrint's Document), to look at before writing the PDF.
    `school_id`: whose evidence files (`evidence:` URLs) the document may show."""
    # Imported here: loading WeasyPrint costs about 1.5 s, which no other request should pay.

    with gc_paused():  # layout allocates millions of objects (mastery/gcpause.py)
        html = render_to_string(template, context, request=request)
        fonts, _ = _shared()
        sheets = [sheet for sheet in map(_stylesheet, stylesheets) if sheet is not None]
        document = HTML(
            string=html, base_url=str(settings.BASE_DIR), url_fetcher=_fetcher(school_id)
        )
        return document.render(stylesheets=sheets, font_config=fonts)


def render_pdf(
    template: str,
    context: dict,
    *,
    request=None,
    stylesheets: tuple[str, ...] = ("css/print.css",),
    school_id: int | None = None,
) -> bytes:
    """Render a template to PDF bytes; stylesheets are static paths (fonts embedded by WeasyPrint)."""
    with gc_paused():
        document = render_document(
            template, context, request=request, stylesheets=stylesheets, school_id=school_id
        )
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
