"""The CASE 1.0 standards import: packages, re-imports, refusals, the fetcher and the pages.

The packages are real OpenSALT exports (tests/mastery/case/README.md). Their counts were read off
the files: documents 1 each, items and associations the lengths of CFItems and CFAssociations,
and the tree depth the longest isChildOf chain from the document.
"""

from __future__ import annotations

import http.server
import json
import ssl
import threading
import uuid
from pathlib import Path

import pytest
import trustme
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from django_scopes import scopes_disabled

from mastery.models import (
    AuditEvent,
    District,
    DistrictMembership,
    Framework,
    FrameworkAssociation,
    FrameworkItem,
    School,
)
from mastery.standards.case import PackageError, package_parse
from mastery.standards.fetch import FetchError, checked_address, url_fetch
from mastery.standards.importer import framework_import
from mastery.standards.selectors import framework_tree, frameworks_visible_to
from tests.factories import make_user

CASE = Path(__file__).with_name("case")
WHAT = "what-standards-could-be.cfpackage.json"

# file: (items, associations, tree depth)
PACKAGES = {
    "AdoptedTestFramework.cfpackage.json": (1, 1, 1),
    "EmptyExternalFramework.cfpackage.json": (0, 0, 0),
    "ItemTypeTestFramework.cfpackage.json": (1, 1, 1),
    "MarkdownFramework.cfpackage.json": (2, 2, 1),
    "Ordering.cfpackage.json": (28, 28, 5),
    "SequenceNumberFramework.cfpackage.json": (2, 2, 1),
    "SmartLevelFramework.cfpackage.json": (14, 14, 2),
    "Utf8TestFramework.cfpackage.json": (1, 1, 1),
    WHAT: (16, 39, 3),
}


def raw(name: str) -> bytes:
    return (CASE / name).read_bytes()


def data(name: str) -> dict:
    return json.loads(raw(name))


def run_import(school: School, package: dict | bytes, *, dry_run: bool = False):
    body = package if isinstance(package, bytes) else json.dumps(package).encode()
    return framework_import(
        school=school, package=package_parse(body), source="test", imported_by=None, dry_run=dry_run
    )


@pytest.fixture
def district_a(world_a):
    district = District.objects.create(name="River Valley", slug="river-valley")
    School.objects.filter(pk=world_a.school.pk).update(district=district)
    world_a.school.refresh_from_db()
    return district


def framework_events(world):
    with scopes_disabled():
        return list(AuditEvent.objects.filter(school=world.school, object_type="framework"))


# --- Every package of the shared folder --------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), PACKAGES.items())
def test_it_imports_every_shared_package_with_its_counts_and_depth(world_a, name, expected):
    items, associations, depth = expected
    result = run_import(world_a.school, raw(name))
    framework = Framework.objects.get()
    assert Framework.objects.count() == 1
    assert str(framework.identifier) == data(name)["CFDocument"]["identifier"]
    assert framework.items.count() == items == result.items.created
    assert framework.associations.count() == associations == result.associations.created
    assert result.depth == depth
    assert max(framework.items.values_list("depth", flat=True), default=0) == depth


def test_the_tree_follows_is_child_of_in_sequence_order(world_a):
    run_import(world_a.school, raw("Ordering.cfpackage.json"))
    ordered, retired = framework_tree(Framework.objects.get())
    assert len(ordered) == 28 and retired == []
    seen = {}
    for item in ordered:
        if item.parent_identifier is not None:
            parent = seen[item.parent_identifier]  # a parent comes before its children
            assert item.depth == parent.depth + 1
        else:
            assert item.depth == 1
        seen[item.identifier] = item
    sequence = {
        a["originNodeURI"]["identifier"]: a.get("sequenceNumber")
        for a in data("Ordering.cfpackage.json")["CFAssociations"]
    }
    for item in ordered:  # siblings in sequenceNumber order
        siblings = [i for i in ordered if i.parent_identifier == item.parent_identifier]
        numbers = [sequence[str(i.identifier)] for i in siblings]
        assert numbers == sorted(numbers, key=lambda v: (v is None, v or 0))


def test_it_keeps_statements_types_levels_and_other_associations(world_a):
    run_import(world_a.school, raw(WHAT))
    item = FrameworkItem.objects.get(human_coding_scheme="CCSS.Math.Content.6.RP.A")
    assert item.full_statement.startswith("Understand ratio concepts")
    assert item.item_type == "Cluster" and item.education_levels == ["06"]
    kinds = set(FrameworkAssociation.objects.values_list("association_type", flat=True))
    assert kinds == {"isChildOf", "exactMatchOf", "precedes", "exemplar", "isRelatedTo"}


def test_the_publishers_lenient_values_are_read_and_counted(world_a):
    result = run_import(world_a.school, raw(WHAT))
    assert any("sequenceNumber" in r for r in result.repairs)
    assert FrameworkAssociation.objects.filter(sequence_number=2).exists()


def test_non_bmp_characters_survive(world_a):
    run_import(world_a.school, raw("Utf8TestFramework.cfpackage.json"))
    item = FrameworkItem.objects.get()
    assert (
        item.full_statement
        == data("Utf8TestFramework.cfpackage.json")["CFItems"][0]["fullStatement"]
    )


# --- Re-importing ----------------------------------------------------------------------------------


def test_a_reimport_changes_nothing(world_a, district_a):
    first = run_import(world_a.school, raw(WHAT))
    rows = list(FrameworkItem.objects.values().order_by("id"))
    again = run_import(world_a.school, raw(WHAT))
    assert not again.changed
    assert (again.items.unchanged, again.associations.unchanged) == (16, 39)
    assert again.framework_id == first.framework_id
    assert list(FrameworkItem.objects.values().order_by("id")) == rows
    assert len(framework_events(world_a)) == 1  # the first import only


def test_an_edited_package_updates_only_what_changed(world_a, district_a):
    run_import(world_a.school, raw(WHAT))
    package = data(WHAT)
    changed, gone = package["CFItems"][1], package["CFItems"][15]
    changed["fullStatement"] = "A corrected statement."
    del package["CFItems"][15]
    new_id = str(uuid.uuid4())
    package["CFItems"].append({**package["CFItems"][0], "identifier": new_id, "uri": "x:new"})
    untouched = FrameworkItem.objects.get(identifier=package["CFItems"][2]["identifier"])
    result = run_import(world_a.school, package)
    assert (result.items.created, result.items.updated, result.items.retired) == (1, 1, 1)
    assert result.items.unchanged == 14
    assert FrameworkItem.objects.get(identifier=changed["identifier"]).full_statement == (
        "A corrected statement."
    )
    retired = FrameworkItem.objects.get(identifier=gone["identifier"])
    assert retired.is_retired  # kept, never deleted
    assert FrameworkItem.objects.count() == 17 and Framework.objects.count() == 1
    untouched.refresh_from_db()
    assert untouched.full_statement == package["CFItems"][2]["fullStatement"]
    (event,) = framework_events(world_a)[:1]
    assert "1 created, 1 updated, 1 retired, 14 unchanged" in event.summary


def test_a_dry_run_counts_and_writes_nothing(world_a):
    result = run_import(world_a.school, raw(WHAT), dry_run=True)
    assert (result.items.created, result.associations.created) == (16, 39)
    assert not Framework.objects.exists() and not FrameworkItem.objects.exists()
    assert framework_events(world_a) == []


# --- Bad packages ----------------------------------------------------------------------------------


def test_a_malformed_package_is_refused_whole_with_every_error_located(world_a):
    package = data(WHAT)
    package["CFItems"][3]["fullStatement"] = 42
    del package["CFItems"][5]["uri"]
    package["CFAssociations"][2]["associationType"] = "isCousinOf"
    package["CFItems"][7]["identifier"] = package["CFItems"][6]["identifier"]
    with pytest.raises(PackageError) as refused:
        run_import(world_a.school, package)
    errors = refused.value.errors
    assert "$.CFItems[3].fullStatement: 42 is not of type 'string'" in errors
    assert "$.CFItems[5].uri: required, missing" in errors
    assert any(e.startswith("$.CFAssociations[2].associationType:") for e in errors)
    assert any(e.startswith("$.CFItems[7].identifier:") for e in errors)
    assert not Framework.objects.exists() and not FrameworkItem.objects.exists()


def test_text_that_is_not_json_is_refused(world_a):
    with pytest.raises(PackageError) as refused:
        package_parse(b'{"CFDocument": ')
    assert refused.value.errors[0].startswith("$: not JSON")


def test_a_value_too_long_for_its_column_is_refused_not_cut(world_a):
    package = data(WHAT)
    package["CFItems"][0]["humanCodingScheme"] = "X" * 201
    with pytest.raises(PackageError) as refused:
        run_import(world_a.school, package)
    assert refused.value.errors == ["$.CFItems[0].humanCodingScheme: longer than 200 characters"]
    assert not Framework.objects.exists()


# --- Owners and visibility ---------------------------------------------------------------------------


def test_a_district_framework_is_seen_by_the_district_only(world_a, world_b, district_a):
    result = run_import(world_a.school, raw(WHAT))
    framework = Framework.objects.get(pk=result.framework_id)
    assert framework.owner_district_id == district_a.pk and framework.owner_school_id is None
    sibling = School.objects.create(name="Sibling", slug="sibling", district=district_a)
    assert list(frameworks_visible_to(sibling)) == [framework]
    assert not frameworks_visible_to(world_b.school).exists()


def test_a_school_without_a_district_owns_its_framework(world_a, world_b):
    result = run_import(world_a.school, raw(WHAT))
    assert Framework.objects.get(pk=result.framework_id).owner_school_id == world_a.school.pk
    # Another school importing the same package gets its own copy, not the first school's.
    run_import(world_b.school, raw(WHAT))
    assert Framework.objects.count() == 2
    assert frameworks_visible_to(world_b.school).get().owner_school_id == world_b.school.pk


# --- The fetcher -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://example.org/package.json", "Only https"),
        ("https://127.0.0.1/p", "loopback"),
        ("https://localhost/p", "loopback"),
        ("https://10.1.2.3/p", "private"),
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://[::1]/p", "loopback"),
        ("https://[::ffff:10.0.0.1]/p", "private"),
        ("file:///etc/passwd", "Only https"),
    ],
)
def test_it_refuses_to_fetch_private_addresses_and_plain_http(url, why):
    with pytest.raises(FetchError) as refused:
        checked_address(url)
    assert why.split()[0] in str(refused.value) or why in str(refused.value)


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict, bytes]] = {}

    def do_GET(self):
        status, headers, body = self.routes.get(self.path, (404, {}, b""))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def https_server(settings, tmp_path):
    """A real HTTPS server on loopback with a certificate from a CA made for the test."""
    ca = trustme.CA()
    certificate = ca.issue_cert("localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    settings.CASE_IMPORT_CA_FILE = str(ca_file)
    settings.CASE_IMPORT_ALLOWED_HOSTS = ["localhost"]
    _Handler.routes = {}
    yield f"https://localhost:{server.server_address[1]}", _Handler.routes
    server.shutdown()
    server.server_close()


def test_it_fetches_a_package_over_https_from_an_allowed_host(https_server, world_a):
    base, routes = https_server
    routes["/ims/case/v1p0/CFPackages/x"] = (200, {"Content-Type": "application/json"}, raw(WHAT))
    body = url_fetch(f"{base}/ims/case/v1p0/CFPackages/x")
    assert body == raw(WHAT)
    call_command("import_case", f"{base}/ims/case/v1p0/CFPackages/x", school=world_a.school.slug)
    assert FrameworkItem.objects.count() == 16


def test_the_allowed_host_setting_is_what_lets_loopback_through(https_server, settings):
    base, routes = https_server
    routes["/p"] = (200, {}, raw(WHAT))
    settings.CASE_IMPORT_ALLOWED_HOSTS = []
    with pytest.raises(FetchError, match="loopback"):
        url_fetch(f"{base}/p")


def test_it_stops_reading_past_the_size_cap(https_server, settings):
    base, routes = https_server
    routes["/big"] = (200, {}, raw(WHAT))
    settings.CASE_IMPORT_MAX_BYTES = 1000
    with pytest.raises(FetchError, match="larger than"):
        url_fetch(f"{base}/big")


def test_a_redirect_is_checked_like_the_first_address(https_server):
    base, routes = https_server
    routes["/moved"] = (302, {"Location": "https://10.0.0.1/p"}, b"")
    with pytest.raises(FetchError, match="private"):
        url_fetch(f"{base}/moved")
    routes["/plain"] = (302, {"Location": "http://localhost/p"}, b"")
    with pytest.raises(FetchError, match="Only https"):
        url_fetch(f"{base}/plain")


def test_a_certificate_the_server_cannot_prove_is_refused(https_server, settings):
    base, routes = https_server
    routes["/p"] = (200, {}, raw(WHAT))
    settings.CASE_IMPORT_CA_FILE = ""
    with pytest.raises(FetchError, match="could not be read"):
        url_fetch(f"{base}/p")


# --- The command -----------------------------------------------------------------------------------


def test_the_command_imports_a_file_and_refuses_a_bad_one(world_a, tmp_path, capsys):
    call_command("import_case", str(CASE / WHAT), school=world_a.school.slug)
    assert "16 created" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"CFDocument": {"identifier": "nope"}}))
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_case", str(bad), school=world_a.school.slug)
    assert "$.CFDocument.title: required, missing" in capsys.readouterr().err
    with pytest.raises(CommandError, match="loopback"):
        call_command("import_case", "https://127.0.0.1/p", school=world_a.school.slug)
    assert Framework.objects.count() == 1


# --- The pages -------------------------------------------------------------------------------------


def test_an_admin_checks_then_imports_an_uploaded_package(client, world_a):
    client.force_login(world_a.admin)
    url = reverse("standards", kwargs={"school_slug": world_a.school.slug})
    with (CASE / WHAT).open("rb") as upload:
        checked = client.post(url, {"package": upload})
    assert checked.status_code == 200
    assert "16 created" in checked.content.decode() and not Framework.objects.exists()
    token = checked.context["token"]
    done = client.post(url, {"token": token})
    framework = Framework.objects.get()
    assert done.status_code == 302 and done.url == reverse(
        "standards_framework",
        kwargs={"school_slug": world_a.school.slug, "framework_id": framework.pk},
    )
    (event,) = framework_events(world_a)
    assert event.actor_id == world_a.admin.pk
    page = client.get(done.url)
    assert "CCSS.Math.Content.6.RP.A" in page.content.decode()
    found = client.get(done.url, {"q": "ratio"})
    assert found.status_code == 200 and len(found.context["results"]) >= 1
    assert client.post(url, {"token": token}).status_code == 422  # used up


def test_bad_input_on_the_page_gets_a_message_and_changes_nothing(client, world_a):
    client.force_login(world_a.admin)
    url = reverse("standards", kwargs={"school_slug": world_a.school.slug})
    for body in (
        {"url": "https://127.0.0.1/package"},
        {"url": "http://example.org/package"},
        {},
        {"token": "forged"},
    ):
        response = client.post(url, body)
        assert response.status_code == 422, body
        assert response.context["errors"]
    response = client.post(url, {"package": _named(b"{not json", "p.json")})
    assert response.status_code == 422 and "not JSON" in response.content.decode()
    assert not Framework.objects.exists()


def _named(body: bytes, name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, body, content_type="application/json")


def test_another_districts_framework_answers_404(client, world_a, world_b, district_a):
    result = run_import(world_a.school, raw(WHAT))
    client.force_login(world_b.admin)
    foreign = reverse(
        "standards_framework",
        kwargs={"school_slug": world_b.school.slug, "framework_id": result.framework_id},
    )
    assert client.get(foreign).status_code == 404
    listing = client.get(reverse("standards", kwargs={"school_slug": world_b.school.slug}))
    assert "What Standards Could Be" not in listing.content.decode()


def test_a_district_admin_imports_for_the_district(client, world_a, district_a):
    admin = make_user("district@river.test", "Dee District")
    DistrictMembership.objects.create(district=district_a, user=admin)
    client.force_login(admin)
    url = reverse("standards", kwargs={"school_slug": world_a.school.slug})
    checked = client.post(url, {"package": _named(raw(WHAT), WHAT)})
    client.post(url, {"token": checked.context["token"]})
    assert Framework.objects.get().owner_district_id == district_a.pk


def test_teachers_do_not_import(client, world_a):
    client.force_login(world_a.teacher)
    url = reverse("standards", kwargs={"school_slug": world_a.school.slug})
    assert client.post(url, {"package": _named(raw(WHAT), WHAT)}).status_code == 403
