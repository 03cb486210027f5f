"""Fetching a CASE package by URL without opening a door into the server's network.

A URL an admin types is fetched by the server, so it must not reach what only the server can
reach (server-side request forgery): the database, the cloud's metadata service at 169.254.169.254,
an intranet. Hence:
- https only;
- the host is resolved once and every address it resolves to must be public (not private,
  loopback, link-local, reserved, multicast or unspecified), unless the host is listed in the
  setting CASE_IMPORT_ALLOWED_HOSTS (an operator's own CASE server, say);
- the connection goes to the address that was checked (the TLS certificate is still verified
  against the host name), so a second DNS answer cannot swap in another address;
- a redirect is followed (at most three) only after its target passes the same checks;
- the body is read in chunks and abandoned past CASE_IMPORT_MAX_BYTES; every socket operation
  has CASE_IMPORT_TIMEOUT seconds and the whole fetch twice that.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from urllib.parse import urljoin, urlsplit

from django.conf import settings

MAX_REDIRECTS = 3
CHUNK = 64 * 1024


class FetchError(Exception):
    """The URL was refused or could not be read; the message says why, for the admin."""


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    # is_global also leaves out the shared address space 100.64.0.0/10 (carrier-grade NAT, some
    # clouds' metadata services, overlay networks), which is_private does not cover.
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def checked_address(url: str, allowed_hosts: list[str] | None = None) -> tuple[str, str, int]:
    """(host, the address to connect to, port) of an https URL that may be fetched; hosts in
    `allowed_hosts` (by default CASE_IMPORT_ALLOWED_HOSTS) may resolve to private addresses.
    The SIS push (sis.push) checks its URLs here too, with its own list."""
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise FetchError("Only https:// addresses are fetched.")
    host = (parts.hostname or "").lower()
    if not host:
        raise FetchError("The address has no host.")
    if parts.username or parts.password:
        raise FetchError("Addresses with a user name or password are not fetched.")
    try:
        port = parts.port or 443
    except ValueError as exc:
        raise FetchError("The address has an invalid port.") from exc
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"The host {host} could not be found.") from exc
    addresses = [str(info[4][0]) for info in infos]
    if allowed_hosts is None:
        allowed_hosts = settings.CASE_IMPORT_ALLOWED_HOSTS
    allowed = {h.lower() for h in allowed_hosts}
    if host not in allowed:
        refused = [a for a in addresses if not _public(a)]
        if refused:
            raise FetchError(
                f"The host {host} is a private, loopback or link-local address ({refused[0]}); "
                "it is not fetched."
            )
    return host, addresses[0], port


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to a checked address, verifying the certificate for the host name."""

    def __init__(
        self, host: str, address: str, port: int, *, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._ssl_context = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._ssl_context.wrap_socket(sock, server_hostname=self.host)


def _context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.CASE_IMPORT_CA_FILE:
        context.load_verify_locations(cafile=settings.CASE_IMPORT_CA_FILE)
    return context


def url_fetch(url: str) -> bytes:
    """The body of an https URL (a CASE `CFPackages/{id}` endpoint), within the limits above."""
    limit = settings.CASE_IMPORT_MAX_BYTES
    timeout = settings.CASE_IMPORT_TIMEOUT
    deadline = time.monotonic() + 2 * timeout
    for _ in range(MAX_REDIRECTS + 1):
        host, address, port = checked_address(url)
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection = PinnedHTTPSConnection(host, address, port, timeout=timeout, context=_context())
        try:
            connection.request(
                "GET", target, headers={"Accept": "application/json", "Host": parts.netloc}
            )
            response = connection.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if not location:
                    raise FetchError(f"{url} redirects nowhere.")
                url = urljoin(url, location)
                continue
            if response.status != 200:
                raise FetchError(f"{url} answered {response.status} {response.reason}.")
            length = response.getheader("Content-Length")
            if length and length.isdigit() and int(length) > limit:
                raise FetchError(f"The package is larger than {limit // 1_000_000} MB.")
            body = bytearray()
            while chunk := response.read(CHUNK):
                body += chunk
                if len(body) > limit:
                    raise FetchError(f"The package is larger than {limit // 1_000_000} MB.")
                if time.monotonic() > deadline:
                    raise FetchError(f"{url} took too long to answer.")
            return bytes(body)
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError(f"{url} could not be read: {exc}") from exc
        finally:
            connection.close()
    raise FetchError(f"{url} redirects more than {MAX_REDIRECTS} times.")


def looks_like_url(source: str) -> bool:
    return "://" in source[:12]


def source_read(source: str) -> bytes:
    """The bytes of a package named by a path or an https URL (the same limits either way)."""
    if looks_like_url(source):
        return url_fetch(source)
    limit = settings.CASE_IMPORT_MAX_BYTES
    try:
        with open(source, "rb") as handle:
            body = handle.read(limit + 1)
    except OSError as exc:
        raise FetchError(f"{source} could not be read: {exc.strerror or exc}") from exc
    if len(body) > limit:
        raise FetchError(f"The package is larger than {limit // 1_000_000} MB.")
    return body
