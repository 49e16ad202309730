"""The embedded layer builder: the API and the page on 127.0.0.1, builds in SQLite, a queue and
worker pool in the process, and zips on disk behind signed download links that expire.

    ./pants run src/python/layer_builder/local.py -- --port 8080
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

from layer_builder.build_request import MAX_BODY_BYTES
from layer_builder.builder import PYPI, PexSettings
from layer_builder.service import BuildRecord, Clock, LayerService, Settings, Status

logger = logging.getLogger(__name__)

_DOWNLOADS = "/downloads/"
_KEY = re.compile(r"builds/[0-9a-f]{32}/[A-Za-z0-9._-]+\.zip")


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
        with self._lock:
            row = self._db.execute(
                "SELECT record FROM builds WHERE build_id = ?", (record.build_id,)
            ).fetchone()
            if row is None or json.loads(row[0])["status"] not in expected:
                return False
            self._db.execute(
                "UPDATE builds SET expires_at = ?, record = ? WHERE build_id = ?",
                (record.expires_at, json.dumps(record.to_json()), record.build_id),
            )
            return True

    def get(self, build_id: str) -> BuildRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT record FROM builds WHERE build_id = ?", (build_id,)
            ).fetchone()
        return None if row is None else BuildRecord.from_json(json.loads(row[0]))

    def delete_expired(self, now: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM builds WHERE expires_at <= ?", (now,))


class FileArtifactStore:
    """Zips under a directory, each with its expiry; links signed with HMAC-SHA256 of the key and
    the link's expiry, under a secret kept in the directory."""

    def __init__(self, root: Path, base_url: str, clock: Clock) -> None:
        self.root = root
        self.base_url = base_url
        self.clock = clock
        root.mkdir(parents=True, exist_ok=True)
        secret_file = root / ".secret"
        if not secret_file.exists():
            fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        self._secret = secret_file.read_text().encode()

    def upload(self, key: str, path: Path, expires_at: int) -> None:
        dest = self.root / key
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        os.utime(dest, (expires_at, expires_at))  # the file's mtime is its expiry

    def download_url(self, key: str, expires_at: int) -> str:
        query = f"expires={expires_at}&signature={self._signature(key, expires_at)}"
        return f"{self.base_url}{_DOWNLOADS}{quote(key)}?{query}"

    def open_download(self, key: str, query: str) -> tuple[int, str, Path | None]:
        """The file a download link names, or why not: (HTTP status, reason, path)."""
        if not _KEY.fullmatch(key):
            return 404, "no such file", None
        params = parse_qs(query)
        try:
            expires_at = int(params["expires"][0])
            signature = params["signature"][0]
        except (KeyError, ValueError):
            return 403, "this download link is not signed", None
        if not hmac.compare_digest(signature, self._signature(key, expires_at)):
            return 403, "this download link's signature is wrong", None
        now = self.clock()
        path = self.root / key
        if expires_at <= now:
            return 403, f"this download link expired at {expires_at} (Unix time)", None
        if not path.is_file() or path.stat().st_mtime <= now:
            return 404, "this file no longer exists: its build expired", None
        return 200, "", path

    def delete_expired(self, now: int) -> None:
        for path in self.root.glob("builds/*/*"):
            if path.stat().st_mtime <= now:
                path.unlink()

    def _signature(self, key: str, expires_at: int) -> str:
        message = f"{key}\n{expires_at}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()


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
    """The embedded service's parts, under `data_dir`."""

    def __init__(
        self, data_dir: Path, base_url: str, settings: Settings, workers: int, clock: Clock
    ) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.builds = SqliteBuildStore(data_dir / "builds.sqlite3")
        self.artifacts = FileArtifactStore(data_dir / "artifacts", base_url, clock)
        self.queue = ThreadPoolQueue(workers)
        self.service = LayerService(self.builds, self.artifacts, self.queue, settings, clock)
        self.queue.service = self.service

    def delete_expired(self) -> None:
        now = int(self.clock())
        self.builds.delete_expired(now)
        self.artifacts.delete_expired(now)


def page() -> bytes:
    return resources.files("layer_builder").joinpath("static/index.html").read_bytes()


def make_handler(local: LocalService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            local.delete_expired()
            url = urlsplit(self.path)
            if method == "GET" and url.path in ("/", "/index.html"):
                self._send(200, "text/html; charset=utf-8", page())
            elif method == "GET" and url.path.startswith(_DOWNLOADS):
                self._download(url.path[len(_DOWNLOADS) :], url.query)
            else:
                length = self.headers.get("Content-Length") or "0"
                if not length.isdigit() or int(length) > MAX_BODY_BYTES:
                    status, answer = 413, {"error": f"the body is over {MAX_BODY_BYTES} bytes"}
                else:
                    body = self.rfile.read(int(length))
                    status, answer = local.service.handle(method, url.path, body)
                self._send(status, "application/json", json.dumps(answer).encode())

        def _download(self, key: str, query: str) -> None:
            status, reason, path = local.artifacts.open_download(key, query)
            if path is None:
                self._send(status, "application/json", json.dumps({"error": reason}).encode())
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(path.stat().st_size))
            self.send_header("Content-Disposition", f'attachment; filename="{path.name}"')
            self.end_headers()
            with path.open("rb") as f:
                shutil.copyfileobj(f, self.wfile)

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


def serve(
    data_dir: Path,
    host: str,
    port: int,
    settings: Settings,
    workers: int,
    clock: Clock = time.time,
) -> tuple[ThreadingHTTPServer, LocalService]:
    """A started server (on a thread) and its service; `port` 0 picks a free port."""
    server = ThreadingHTTPServer((host, port), BaseHTTPRequestHandler)
    base_url = f"http://{host}:{server.server_address[1]}"
    local = LocalService(data_dir, base_url, settings, workers, clock)
    server.RequestHandlerClass = make_handler(local)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, local


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
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
    parser.add_argument("--index-url", default=PYPI, help="the package index to build from")
    parser.add_argument(
        "--cert",
        default=os.environ.get("SSL_CERT_FILE"),
        help="a CA bundle for the index, e.g. a TLS-intercepting proxy's ($SSL_CERT_FILE)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = Settings(
        ttl_seconds=int(args.ttl_hours * 3600),
        url_seconds=int(args.url_minutes * 60),
        pex=PexSettings(args.data_dir / "pex", args.index_url, args.cert),
    )
    server, _ = serve(args.data_dir, args.host, args.port, settings, args.workers)
    print(f"The layer builder is at http://{args.host}:{server.server_address[1]}/", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
