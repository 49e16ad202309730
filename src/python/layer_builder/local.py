"""The embedded layer builder: the API and the page on a loopback address, builds in SQLite, a
queue and worker pool in the process, and zips on disk behind signed download links that expire.

    ./pants run src/python/layer_builder/local.py -- --port 8080

It has no authentication: it listens only on this machine, answers only requests addressed to it
by its own pages, and bounds what it takes (docs/layer-builder.md, "Security guards").
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import re
import secrets
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, quote, urlsplit

from layer_builder.build_request import MAX_BODY_BYTES
from layer_builder.builder import PYPI, BuildFailed, InvalidSettings, PexSettings
from layer_builder.service import UNFINISHED, BuildRecord, Clock, LayerService, Settings, Status

logger = logging.getLogger(__name__)

Answer = tuple[int, dict[str, Any]]

_DOWNLOADS = "/downloads/"
_KEY = re.compile(r"builds/[0-9a-f]{32}/[A-Za-z0-9._-]+\.zip")
_SIGNING_KEY = re.compile(r"[0-9a-f]{64,}")  # at least 32 bytes, in hex
_DECIMAL = re.compile(r"[0-9]+")  # str.isdigit() also takes `²`, which int() refuses
_GONE = "this file no longer exists: its build expired, or was evicted to keep the disk quota"
INTERRUPTED = "The service stopped during this build; submit it again."


class ServiceError(Exception):
    """The service cannot start; the message says why and what to do."""


@dataclass(frozen=True)
class Limits:
    """What the embedded service takes at once."""

    max_pending: int = 16
    """Builds queued or running; one more is refused (429) and not recorded."""
    max_connections: int = 32
    """Connections served at once; one more is answered 503 and closed."""
    request_timeout: float = 5
    """Seconds a connection may stay silent (sending its request or reading the answer) before it
    is dropped."""
    artifacts_quota_bytes: int = 2 * 1024**3
    """The zips kept on disk; the builds that expire first are evicted to make room."""
    sweep_seconds: int = 60
    """Expired builds and zips are deleted on a request, at most this often."""


class SqliteBuildStore:
    """Build records in one SQLite file, safe to use from many threads."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS builds"
            " (build_id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL, record TEXT NOT NULL)"
        )

    def put(self, record: BuildRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO builds VALUES (?, ?, ?)",
                (record.build_id, record.expires_at, json.dumps(record.to_json())),
            )

    def put_if(self, record: BuildRecord, expected: tuple[Status, ...]) -> bool:
        """Replace the record only if its stored status is one of `expected`; whether it did."""
        with self._lock:
            replaced = self._db.execute(
                "UPDATE builds SET expires_at = ?, record = ? WHERE build_id = ?"
                f" AND json_extract(record, '$.status') IN ({', '.join('?' * len(expected))})",
                (
                    record.expires_at,
                    json.dumps(record.to_json()),
                    record.build_id,
                    *(s.value for s in expected),
                ),
            )
        return replaced.rowcount == 1

    def get(self, build_id: str) -> BuildRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT record FROM builds WHERE build_id = ?", (build_id,)
            ).fetchone()
        return None if row is None else BuildRecord.from_json(json.loads(row[0]))

    def unfinished(self, now: int) -> list[BuildRecord]:
        """The builds not expired at `now` that are QUEUED or BUILDING, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT record FROM builds WHERE expires_at > ?"
                " AND json_extract(record, '$.status') IN (?, ?)"
                " ORDER BY json_extract(record, '$.created_at')",
                (now, *(status.value for status in UNFINISHED)),
            ).fetchall()
        return [BuildRecord.from_json(json.loads(row[0])) for row in rows]

    def delete_expired(self, now: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM builds WHERE expires_at <= ?", (now,))


class FileArtifactStore:
    """Zips under a directory, each build's in its own directory, within a quota; links signed
    with HMAC-SHA256 of the key and the link's expiry, under a key kept in the directory."""

    def __init__(
        self,
        root: Path,
        base_url: str,
        clock: Clock,
        quota_bytes: int = Limits.artifacts_quota_bytes,
    ) -> None:
        self.root = root
        self.base_url = base_url
        self.clock = clock
        self.quota_bytes = quota_bytes
        self._uploading = threading.Lock()
        root.mkdir(parents=True, exist_ok=True)
        self._secret = _signing_key(root / ".secret")

    def upload(self, key: str, path: Path, expires_at: int) -> None:
        """Store the zip, evicting other builds' zips, those that expire first, to keep within
        the quota; raise BuildFailed if the build's own zips do not fit it."""
        dest = self.root / key
        with self._uploading:
            self._make_room(path.stat().st_size, dest.parent)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
            os.utime(dest, (expires_at, expires_at))  # the file's mtime is its expiry

    def download_url(self, key: str, expires_at: int) -> str:
        query = f"expires={expires_at}&signature={self._signature(key, expires_at)}"
        return f"{self.base_url}{_DOWNLOADS}{quote(key)}?{query}"

    def open_download(self, key: str, query: str) -> tuple[int, str, BinaryIO | None]:
        """The opened file a download link names, or why not: (HTTP status, reason, file)."""
        if not _KEY.fullmatch(key):
            return 404, "no such file", None
        params = parse_qs(query)
        try:
            expires_at = int(params["expires"][0])
            signature = params["signature"][0].encode()
        except (KeyError, ValueError):
            return 403, "this download link is not signed", None
        if not hmac.compare_digest(signature, self._signature(key, expires_at).encode()):
            return 403, "this download link's signature is wrong", None
        now = self.clock()
        if expires_at <= now:
            return 403, f"this download link expired at {expires_at} (Unix time)", None
        try:
            file = (self.root / key).open("rb")
        except FileNotFoundError:
            return 404, _GONE, None
        if os.fstat(file.fileno()).st_mtime <= now:
            file.close()
            return 404, _GONE, None
        return 200, "", file

    def delete_expired(self, now: int) -> None:
        """Delete the builds whose zips expired at `now`; safe to run in many threads at once."""
        for expires_at, _, build in self._stored_builds():
            if expires_at <= now:
                shutil.rmtree(build, ignore_errors=True)

    def _make_room(self, size: int, own: Path) -> None:
        builds = self._stored_builds()
        used = sum(build_size for _, build_size, _ in builds)
        for _, build_size, build in builds:
            if used + size <= self.quota_bytes:
                break
            if build != own:
                logger.info(f"Evicting build {build.name}'s zips to keep the disk quota")
                shutil.rmtree(build, ignore_errors=True)
                used -= build_size
        if used + size > self.quota_bytes:
            raise BuildFailed(
                f"The build's zips take more than the service's disk quota of {self.quota_bytes}"
                " bytes on their own: build fewer requirements or architectures at once, or start"
                " the service with a larger --artifacts-quota-mb."
            )

    def _stored_builds(self) -> list[tuple[float, int, Path]]:
        """Each build directory's expiry and size, those that expire first first; what vanishes
        meanwhile (another sweep) is left out."""
        builds = []
        for directory in _entries(self.root / "builds"):
            stats = []
            for file in _entries(Path(directory)):
                with contextlib.suppress(FileNotFoundError):
                    stats.append(file.stat())
            if stats:
                expires_at = min(s.st_mtime for s in stats)
                builds.append((expires_at, sum(s.st_size for s in stats), Path(directory)))
        return sorted(builds)

    def _signature(self, key: str, expires_at: int) -> str:
        message = f"{key}\n{expires_at}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()


def _entries(directory: Path) -> list[os.DirEntry]:
    """The directory's entries; none if it does not exist (or no longer does)."""
    try:
        with os.scandir(directory) as entries:
            return list(entries)
    except FileNotFoundError:
        return []


def _signing_key(path: Path) -> bytes:
    """The key kept at `path`, made first if there is none: written whole and synced to a private
    temporary file, then linked into place, so concurrent starts all use the first one linked."""
    if not path.exists():
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret-")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
                f.flush()
                os.fsync(f.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    key = path.read_text()
    if not _SIGNING_KEY.fullmatch(key):
        raise ServiceError(
            f"The download-signing key {path} must be at least 32 bytes, as 64 or more hexadecimal"
            f" digits and nothing else; it holds {len(key)} characters (perhaps a start was"
            " interrupted). Delete it and start again: a new key is made, and the download links"
            " signed with the old one stop working."
        )
    return key.encode()


class ThreadPoolQueue:
    """Builds run in the process, `workers` at a time, in the order they were queued."""

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="layer-worker")
        self.service: LayerService | None = None

    def send(self, build_id: str) -> None:
        assert self.service is not None
        self._pool.submit(self._work, self.service, build_id)

    @staticmethod
    def _work(service: LayerService, build_id: str) -> None:
        try:
            service.work(build_id)
        except Exception:
            pass  # logged and recorded as FAILED by the service

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class LocalService:
    """The embedded service's parts, under `data_dir`, which no other service may use meanwhile.
    At start, expired builds are deleted, and the builds a stopped service left unfinished are
    taken up: a QUEUED one is queued again, a BUILDING one is marked FAILED (its build may be
    what stopped the service)."""

    def __init__(
        self,
        data_dir: Path,
        base_url: str,
        settings: Settings,
        workers: int,
        clock: Clock,
        limits: Limits = Limits(),
    ) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _lock(data_dir)
        try:
            self.builds = SqliteBuildStore(data_dir / "builds.sqlite3")
            self.artifacts = FileArtifactStore(
                data_dir / "artifacts", base_url, clock, limits.artifacts_quota_bytes
            )
        except BaseException:
            os.close(self._lock_fd)
            raise
        self.clock = clock
        self.limits = limits
        self.queue = ThreadPoolQueue(workers)
        self.service = LayerService(self.builds, self.artifacts, self.queue, settings, clock)
        self.queue.service = self.service
        self._submitting = threading.Lock()
        self._sweeping = threading.Lock()
        self._next_sweep = 0
        self.sweep()
        for record in self.builds.unfinished(int(clock())):
            if record.status is Status.QUEUED:
                self.queue.send(record.build_id)
            else:
                failed = dataclasses.replace(
                    record, status=Status.FAILED, message=INTERRUPTED, updated_at=int(clock())
                )
                self.builds.put_if(failed, (Status.BUILDING,))

    def submit(self, body: bytes) -> Answer:
        """`POST /builds`, unless `max_pending` builds are already queued or running."""
        with self._submitting:
            pending = len(self.builds.unfinished(int(self.clock())))
            if pending >= self.limits.max_pending:
                return 429, {
                    "error": f"{pending} builds are queued or running, as many as this service"
                    " takes: submit this one again when one of them has finished"
                }
            return self.service.submit(body)

    def sweep(self) -> None:
        """Delete expired builds and zips, at most once per `sweep_seconds` of the clock, in one
        thread at a time."""
        now = int(self.clock())
        if now < self._next_sweep or not self._sweeping.acquire(blocking=False):
            return
        try:
            self._next_sweep = now + self.limits.sweep_seconds
            self.builds.delete_expired(now)
            self.artifacts.delete_expired(now)
        finally:
            self._sweeping.release()

    def close(self) -> None:
        """Stop the workers, after the builds running, and let another service use the data."""
        self.queue.shutdown()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


def _lock(data_dir: Path) -> int:
    """An open file that holds the data directory's lock, refused if another service holds it."""
    fd = os.open(data_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ServiceError(
            f"{data_dir} is in use by another layer builder: stop it, or give this one another"
            " --data-dir."
        ) from None
    return fd


def page() -> bytes:
    return resources.files("layer_builder").joinpath("static/index.html").read_bytes()


def make_handler(local: LocalService, authorities: frozenset[str]) -> type[BaseHTTPRequestHandler]:
    """Requests answered only when addressed to one of `authorities` (the `Host` header), from no
    page (no `Origin`) or one of the service's own, and with JSON bodies."""
    origins = frozenset(f"http://{authority}" for authority in authorities)

    class Handler(BaseHTTPRequestHandler):
        timeout = local.limits.request_timeout

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            refusal = self._refusal(method)
            if refusal is not None:
                self._send_json(*refusal)
                return
            local.sweep()
            url = urlsplit(self.path)
            if method == "GET" and url.path in ("/", "/index.html"):
                self._send(200, "text/html; charset=utf-8", page())
            elif method == "GET" and url.path.startswith(_DOWNLOADS):
                self._download(url.path[len(_DOWNLOADS) :], url.query)
            elif method == "POST":
                self._send_json(*self._post(url.path))
            else:
                self._send_json(*local.service.handle(method, url.path, b""))

        def _refusal(self, method: str) -> Answer | None:
            hosts = [host.lower() for host in self.headers.get_all("Host", [])]
            if len(hosts) != 1 or hosts[0] not in authorities:
                names = ", ".join(sorted(authorities))
                return 421, {"error": f"this service answers only to the Host names {names}"}
            origin = self.headers.get_all("Origin")
            if origin is not None and (len(origin) != 1 or origin[0] not in origins):
                return 403, {"error": "only this service's own pages may call it (the Origin)"}
            if method == "POST" and self.headers.get_content_type() != "application/json":
                return 415, {"error": "send the body as JSON, with Content-Type: application/json"}
            return None

        def _post(self, path: str) -> Answer:
            lengths = self.headers.get_all("Content-Length", ["0"])
            if len(lengths) != 1 or not _DECIMAL.fullmatch(lengths[0]):
                return 400, {"error": "the Content-Length must be one decimal number of bytes"}
            if int(lengths[0]) > MAX_BODY_BYTES:
                return 413, {"error": f"the body is over {MAX_BODY_BYTES} bytes"}
            body = self.rfile.read(int(lengths[0]))
            if path == "/builds":
                return local.submit(body)
            return local.service.handle("POST", path, body)

        def _download(self, key: str, query: str) -> None:
            status, reason, file = local.artifacts.open_download(key, query)
            if file is None:
                self._send_json(status, {"error": reason})
                return
            with file:
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(os.fstat(file.fileno()).st_size))
                self.send_header("Content-Disposition", f'attachment; filename="{Path(key).name}"')
                self.end_headers()
                shutil.copyfileobj(file, self.wfile)

        def _send_json(self, status: int, answer: dict[str, Any]) -> None:
            self._send(status, "application/json", json.dumps(answer).encode())

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:
            logger.info(format % args)

    return Handler


def _busy_answer() -> bytes:
    body = json.dumps(
        {"error": "this service is serving as many connections as it takes; try again shortly"}
    )
    return (
        "HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}"
    ).encode()


class _Server(ThreadingHTTPServer):
    """A thread per connection, at most `max_connections` at once: one more is answered 503."""

    def __init__(self, host: str, port: int, max_connections: int) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), BaseHTTPRequestHandler)
        self._places = threading.BoundedSemaphore(max_connections)

    def process_request(self, request, client_address) -> None:
        if not self._places.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(_busy_answer())
                request.setblocking(False)
                request.recv(65536)  # what the client sent, so that closing does not reset
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._places.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._places.release()


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _authority(host: str, port: int) -> str:
    return f"{_bracketed(host)}:{port}"


def _authorities(host: str, port: int) -> frozenset[str]:
    """The Host values the service answers to: its address and the loopback names, with the port
    (and without it on port 80, where browsers leave it out)."""
    hosts = {_bracketed(name) for name in (host.lower(), "localhost", "127.0.0.1")}
    return frozenset({f"{h}:{port}" for h in hosts} | (hosts if port == 80 else set()))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    data_dir: Path,
    host: str,
    port: int,
    settings: Settings,
    workers: int,
    clock: Clock = time.time,
    limits: Limits = Limits(),
) -> tuple[ThreadingHTTPServer, LocalService]:
    """A started server (on a thread) and its service; `port` 0 picks a free port. `host` must be
    a loopback address: the service has no authentication."""
    if not _is_loopback(host):
        raise ServiceError(
            f"--host {host}: the layer builder has no authentication, so it listens only on a"
            " loopback address (127.0.0.1, ::1 or localhost). To use it from another machine,"
            " forward a port to it: ssh -L 8080:127.0.0.1:8080 <this machine>."
        )
    try:
        server = _Server(host, port, limits.max_connections)
    except OSError as e:
        raise ServiceError(f"cannot listen on {_authority(host, port)}: {e.strerror}") from e
    port = server.server_address[1]
    try:
        local = LocalService(
            data_dir, f"http://{_authority(host, port)}", settings, workers, clock, limits
        )
    except BaseException:
        server.server_close()
        raise
    server.RequestHandlerClass = make_handler(local, _authorities(host, port))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, local


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="a loopback address to listen on (the service has no authentication)",
    )
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"), "layer-builder"),
        help="where builds, zips and pex's cache are kept",
    )
    parser.add_argument("--ttl-hours", type=float, default=24, help="how long builds are kept")
    parser.add_argument(
        "--url-minutes", type=float, default=60, help="how long a download link works"
    )
    parser.add_argument("--workers", type=int, default=2, help="builds that run at once")
    parser.add_argument(
        "--max-pending",
        type=int,
        default=Limits.max_pending,
        help="builds queued or running at once; more are refused until one finishes",
    )
    parser.add_argument(
        "--artifacts-quota-mb",
        type=float,
        default=Limits.artifacts_quota_bytes / 2**20,
        help="disk for zips; the builds that expire first are evicted to make room",
    )
    parser.add_argument(
        "--build-minutes",
        type=float,
        default=Settings.build_seconds / 60,
        help="how long a build may take before it fails",
    )
    parser.add_argument(
        "--index-url", default=PYPI, help="the package index to build from, without credentials"
    )
    parser.add_argument(
        "--netrc",
        type=Path,
        help="a netrc file with the index's credentials (never shown in messages or argv)",
    )
    parser.add_argument(
        "--cert",
        default=os.environ.get("SSL_CERT_FILE"),
        help="a CA bundle for the index, e.g. a TLS-intercepting proxy's ($SSL_CERT_FILE)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        settings = Settings(
            ttl_seconds=int(args.ttl_hours * 3600),
            url_seconds=int(args.url_minutes * 60),
            build_seconds=int(args.build_minutes * 60),
            pex=PexSettings(args.data_dir / "pex", args.index_url, args.cert, args.netrc),
        )
    except InvalidSettings as e:
        parser.error(str(e))
    limits = Limits(
        max_pending=args.max_pending,
        artifacts_quota_bytes=int(args.artifacts_quota_mb * 2**20),
    )
    try:
        server, _ = serve(
            args.data_dir, args.host, args.port, settings, args.workers, limits=limits
        )
    except ServiceError as e:
        parser.error(str(e))
    url = f"http://{_authority(args.host, server.server_address[1])}/"
    print(f"The layer builder is at {url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
