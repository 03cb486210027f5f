"""The PDF renderer reads only the file store: data: URIs, static files and the evidence store of
the document's school. A URL a user typed into a report (a comment, a goal, a title) is never
fetched: not over the network, not from the server's disk, not from another school's store."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.conf import settings
from weasyprint import HTML

from mastery.pdf import StoreFetcher
from tests.factories import make_evidence_file


@pytest.fixture
def listener():
    """A local web server that counts the requests it gets."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()


def test_network_and_local_file_urls_are_refused(listener):
    base, hits = listener
    fetcher = StoreFetcher(school_id=1)
    for url in (
        f"{base}/photo.png",
        f"{base.replace('http', 'https')}/photo.png",
        "file:///etc/passwd",
        f"file://{settings.BASE_DIR}/config/settings.py",
        "ftp://127.0.0.1/x",
    ):
        with pytest.raises(ValueError):
            fetcher.fetch(url)
    assert hits == []


def test_a_report_holding_a_users_urls_renders_without_fetching_them(listener):
    base, hits = listener
    typed = (
        f'<p>Feedback <img src="{base}/a.png"> <img src="file:///etc/passwd">'
        f'<link rel="stylesheet" href="{base}/x.css">'
        f"<span style=\"background: url('{base}/b.png')\">x</span></p>"
    )
    HTML(string=typed, base_url=str(settings.BASE_DIR), url_fetcher=StoreFetcher()).write_pdf()
    assert hits == []


def test_static_files_and_data_uris_are_read():
    fetcher = StoreFetcher()
    css = settings.BASE_DIR / "static" / "css" / "print.css"
    assert fetcher.fetch(css.as_uri()).read()
    assert fetcher.fetch("data:text/plain,hello").read() == b"hello"


def test_the_evidence_store_is_read_for_the_documents_school_only(world_a, world_b):
    ours = make_evidence_file(world_a).file
    theirs = make_evidence_file(world_b).file
    response = StoreFetcher(school_id=world_a.school.id).fetch(f"evidence:{ours.thumbnail.name}")
    assert response.read()[:3] == b"\xff\xd8\xff"
    for name in (
        theirs.thumbnail.name,  # another school's photo
        f"schools/{world_a.school.id}/evidence/../../../etc/passwd",
        f"schools/{world_a.school.id}/evidence/{'0' * 32}.pdf",  # only images are shown
    ):
        with pytest.raises(ValueError):
            StoreFetcher(school_id=world_a.school.id).fetch(f"evidence:{name}")
    with pytest.raises(ValueError):  # a document of no school reads no store
        StoreFetcher().fetch(f"evidence:{ours.thumbnail.name}")
