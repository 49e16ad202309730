"""Download over HTTPS only, to public addresses only, with a size bound, hashing as it goes.

Every hop of a redirect chain is checked: its scheme, and every address its host resolves to; the
connection then goes to the address that was checked, so a name that resolves differently the
second time (DNS rebinding) gets nowhere. `Authorization` is dropped on a redirect to another
host. Errors name the URL without its query, which may be a signature. Standard library only,
Python 3.9.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import ipaddress
import json
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import IO, Callable, Dict, List, Mapping, Optional, Union
from urllib.parse import quote, urljoin, urlsplit

from repro_lambda.core.contract import UserError
from repro_lambda.core.sources.spec import TOKEN_ENV_VAR

MAX_DOWNLOAD_BYTES = 1 << 30
MAX_REDIRECTS = 10
FETCH_DEADLINE_SECONDS = 900
_MAX_API_RESPONSE = 16 << 20
_TIMEOUT_SECONDS = 60
_CHUNK = 1 << 16
_REDIRECTS = (301, 302, 303, 307, 308)
# Cloud metadata services: AWS's, GCP's and Azure's, AWS's IPv6 one, Alibaba's and Oracle's.
_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Deprecated site-local, and local-use NAT64 (whose IPv4 may sit anywhere): never public.
_NEVER_PUBLIC = (ipaddress.ip_network("fec0::/10"), ipaddress.ip_network("64:ff9b:1::/48"))
IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

Resolver = Callable[[str, int], List[str]]


def system_resolver(host: str, port: int) -> List[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise UserError(f"cannot resolve {host!r}: {error}") from None
    return sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True)
class FetchPolicy:
    """Where downloads may connect. `allow_loopback` and `ca_file` exist for tests, which serve
    releases from 127.0.0.1 with a test CA; nothing else may be loosened."""

    allow_loopback: bool = False
    ca_file: Optional[str] = None
    max_bytes: int = MAX_DOWNLOAD_BYTES
    deadline_seconds: float = FETCH_DEADLINE_SECONDS
    resolver: Resolver = field(default=system_resolver, compare=False)

    def check_address(self, host: str, address: str) -> None:
        """Raise UserError unless `address` is public: an IPv6 address that carries an IPv4 one
        (mapped, IPv4-compatible, 6to4, Teredo, NAT64) is judged by the IPv4 address."""
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        inner = embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
        ip = inner or ip
        if self.allow_loopback and ip.is_loopback:
            return
        if ip in _METADATA:
            kind = "a cloud metadata"
        elif ip.is_loopback:
            kind = "a loopback"
        elif not ip.is_global or ip.is_multicast or any(ip in net for net in _NEVER_PUBLIC):
            kind = "a private, link-local or reserved"
        else:
            return
        carried = f" (it carries {inner})" if inner else ""
        raise UserError(
            f"refusing to connect to {host!r}: it resolves to {address}{carried}, {kind} address"
        )


def embedded_ipv4(ip: ipaddress.IPv6Address) -> Optional[ipaddress.IPv4Address]:
    """The IPv4 address an IPv6 address leads to, if it embeds one."""
    if ip.ipv4_mapped or ip.sixtofour:
        return ip.ipv4_mapped or ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]  # the client, where the traffic goes
    if ip in _NAT64 or (int(ip) >> 32 == 0 and int(ip) > 1):  # NAT64, or ::a.b.c.d
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def redacted(url: str) -> str:
    """`url` without its query and fragment (a presigned URL's query is a credential)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class _PinnedConnection(http.client.HTTPSConnection):
    """An HTTPS connection to `address` that verifies the certificate of `host`."""

    def __init__(
        self, host: str, port: int, address: str, context: ssl.SSLContext, timeout: float
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._context = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        # Kept: `sock` goes to the response on `Connection: close`, whose reads still time out.
        self.tls = self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _Deadline:
    """The time a whole fetch (redirects, connections, body) may take."""

    def __init__(self, seconds: float, url: str) -> None:
        self.seconds = seconds
        self.url = url
        self._end = time.monotonic() + seconds

    def timeout(self) -> float:
        """A socket timeout for the next operation, or UserError once the time is up."""
        self.check()
        return min(_TIMEOUT_SECONDS, self._end - time.monotonic())

    def check(self) -> None:
        if time.monotonic() >= self._end:
            raise UserError(
                f"GET {redacted(self.url)} did not finish within {self.seconds:g} seconds"
            )


def _connect(
    host: str, port: int, addresses: List[str], context: ssl.SSLContext, deadline: _Deadline
) -> _PinnedConnection:
    """A connection to the first of the (checked) `addresses` that accepts one."""
    failures = []
    for address in addresses:
        connection = _PinnedConnection(host, port, address, context, deadline.timeout())
        try:
            connection.connect()
            return connection
        except OSError as error:
            connection.close()
            failures.append(f"{address}: {error}")
    raise UserError(f"cannot connect to {host!r} at any of its addresses ({'; '.join(failures)})")


@dataclass(frozen=True)
class Downloaded:
    sha256: str
    size: int


def fetch(
    url: str,
    out: IO[bytes],
    policy: FetchPolicy,
    headers: Optional[Mapping[str, str]] = None,
    max_bytes: Optional[int] = None,
) -> Downloaded:
    """GET `url` into `out`, following redirects under `policy`; return the body's digest."""
    limit = policy.max_bytes if max_bytes is None else max_bytes
    deadline = _Deadline(policy.deadline_seconds, url)
    context = ssl.create_default_context(cafile=policy.ca_file)
    sent: Dict[str, str] = dict(headers or {})
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise UserError(f"refusing {redacted(url)}: only https:// URLs are fetched")
        host, port = parts.hostname, parts.port or 443
        addresses = policy.resolver(host, port)
        if not addresses:
            raise UserError(f"cannot resolve {host!r}")
        for address in addresses:
            policy.check_address(host, address)
        connection = _connect(host, port, addresses, context, deadline)
        try:
            target = parts.path or "/"
            if parts.query:
                target += "?" + parts.query
            connection.request("GET", target, headers={"User-Agent": "repro-lambda", **sent})
            response = connection.getresponse()
            location = response.getheader("Location")
            if response.status in _REDIRECTS and location:
                next_url = urljoin(url, location)
                next_parts = urlsplit(next_url)
                if (next_parts.hostname, next_parts.port or 443) != (host, port):
                    sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
                url = next_url
                continue
            if response.status != 200:
                raise UserError(f"GET {redacted(url)} answered {response.status} {response.reason}")
            return _read_body(response, connection, out, limit, url, deadline)
        except (OSError, http.client.HTTPException) as error:
            deadline.check()  # a timeout because the fetch's time is up says so
            raise UserError(f"GET {redacted(url)} failed: {error}") from None
        finally:
            connection.close()
    raise UserError(f"GET {redacted(url)}: more than {MAX_REDIRECTS} redirects")


def _read_body(
    response: http.client.HTTPResponse,
    connection: _PinnedConnection,
    out: IO[bytes],
    limit: int,
    url: str,
    deadline: _Deadline,
) -> Downloaded:
    too_big = f"{redacted(url)} is larger than the download bound of {limit:,} bytes"
    length = response.getheader("Content-Length")
    if length and length.isdigit() and int(length) > limit:
        raise UserError(too_big)
    digest = hashlib.sha256()
    size = 0
    while True:
        connection.tls.settimeout(deadline.timeout())
        chunk = response.read1(_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise UserError(too_big)
        digest.update(chunk)
        out.write(chunk)
    return Downloaded(digest.hexdigest(), size)


def fetch_pinned(
    url: str, out: IO[bytes], policy: FetchPolicy, sha256: str, size: int, **kwargs
) -> None:
    """Fetch `url` into `out` and check it is the pinned download."""
    downloaded = fetch(url, out, policy, **kwargs)
    if (downloaded.sha256, downloaded.size) != (sha256, size):
        raise UserError(
            f"the download of {redacted(url)} has sha256 {downloaded.sha256} ({downloaded.size:,}"
            f" bytes), but the lock pins sha256 {sha256} ({size:,} bytes)"
        )


# GitHub releases

GITHUB_API = "https://api.github.com"
ASSET_ACCEPT = {"Accept": "application/octet-stream"}


def github_headers(token: Optional[str]) -> Dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def github_asset_url(
    api: str, repo: str, tag: str, asset: str, token: Optional[str], policy: FetchPolicy
) -> str:
    """The API URL of release `tag`'s asset named `asset`, which downloads it (with the
    `application/octet-stream` Accept header)."""
    body = io.BytesIO()
    url = f"{api.rstrip('/')}/repos/{repo}/releases/tags/{quote(tag, safe='')}"
    try:
        fetch(
            url,
            body,
            policy,
            headers={"Accept": "application/vnd.github+json", **github_headers(token)},
            max_bytes=_MAX_API_RESPONSE,
        )
    except UserError as error:
        hint = "" if token else f" (for a private repository, set {TOKEN_ENV_VAR})"
        raise UserError(f"cannot read release {tag!r} of {repo}: {error}{hint}") from None
    try:
        assets: dict[str, str] = {
            a["name"]: a["url"] for a in json.loads(body.getvalue())["assets"]
        }
    except (ValueError, KeyError, TypeError) as error:
        raise UserError(f"release {tag!r} of {repo}: unexpected API answer ({error})") from None
    if asset not in assets:
        names = ", ".join(sorted(assets)[:10]) or "none"
        raise UserError(f"release {tag!r} of {repo} has no asset {asset!r} (it has: {names})")
    return assets[asset]
