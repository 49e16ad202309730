"""Test helpers: an HTTPS server on 127.0.0.1 with its own test CA, serving release downloads and a
fake of GitHub's release API, and recording the requests it answers.

It answers as both `127.0.0.1` and `localhost` (two hosts to a client), so a redirect from one
to the other is a redirect to another host.
"""

from __future__ import annotations

import io
import json
import ssl
import subprocess
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def make_test_ca(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 and localhost: (ca.pem, cert.pem, key.pem)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.pem", directory / "ca-key.pem"
    cert, key, csr = directory / "cert.pem", directory / "key.pem", directory / "server.csr"
    ext = directory / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=repro-lambda test CA",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        str(key),
        "-out",
        str(csr),
    )
    openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        str(ext),
        "-out",
        str(cert),
    )
    return ca, cert, key


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    drip_seconds: float = 0.0  # sent a byte at a time, this long apart (a slow server)


@dataclass(frozen=True)
class Request:
    host: str
    path: str
    headers: Mapping[str, str]


class ReleaseServer:
    """Routes by path (the query is ignored); `requests` lists what was asked, in order."""

    def __init__(self, ca: Path, cert: Path, key: Path) -> None:
        self.ca_file = str(ca)
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?", 1)[0]
                server.requests.append(
                    Request(self.headers.get("Host", ""), path, dict(self.headers.items()))
                )
                route = server.routes.get(path, Route(404, b"not found"))
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                if not route.drip_seconds:
                    self.wfile.write(route.body)
                    return
                try:
                    for byte in route.body:
                        time.sleep(route.drip_seconds)
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                except OSError:  # the client gave up
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}{path}"

    def serve(self, path: str, body: bytes) -> str:
        self.routes[path] = Route(body=body)
        return self.url(path)

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        self.routes[path] = Route(status, headers={"Location": location})
        return self.url(path)

    def github_release(self, repo: str, tag: str, assets: Mapping[str, bytes]) -> None:
        """GitHub's API for release `tag` of `repo`: its asset URLs redirect to another host
        (as GitHub's do, to a presigned URL), which serves the bytes."""
        listed = []
        for number, (name, body) in enumerate(sorted(assets.items()), start=1):
            asset_path = f"/repos/{repo}/releases/assets/{number}"
            blob_path = f"/blobs/{repo}/{tag}/{name}"
            self.routes[blob_path] = Route(body=body)
            self.redirect(asset_path, self.url(blob_path, host="localhost") + "?X-Signature=s3cr3t")
            listed.append({"name": name, "url": self.url(asset_path)})
        body = json.dumps({"tag_name": tag, "assets": listed}).encode()
        self.routes[f"/repos/{repo}/releases/tags/{tag}"] = Route(body=body)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def release_server(directory: Path) -> Iterator[ReleaseServer]:
    server = ReleaseServer(*make_test_ca(directory))
    try:
        yield server
    finally:
        server.close()


# Archives


def tar_gz(files: Mapping[str, bytes], modes: Mapping[str, int] | None = None) -> bytes:
    """A .tar.gz of regular files (sorted), with `modes` where given (else 0644)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = (modes or {}).get(name, 0o644)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def zip_of(files: Mapping[str, bytes], modes: Mapping[str, int] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in sorted(files.items()):
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100000 | (modes or {}).get(name, 0o644)) << 16
            archive.writestr(info, data)
    return out.getvalue()
