"""Test helpers: a moto S3 server on 127.0.0.1, and a recording, fault-injecting HTTP proxy in front
of it.
"""

from __future__ import annotations

import functools
import http.client
import logging
import random
import socket
import struct
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import boto3
from moto.server import ThreadedMotoServer

BUCKET = "artifact-bucket"
"""The bucket the tests' fixtures create."""

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
}
"""Environment for code using boto3's default chain against the fake server: dummy keys, no profile
files.
"""

FAULTS = ("slow-down", "internal-error", "reset", "drop")
"""Injected faults: 503 SlowDown and 500 InternalError answered by the proxy, a connection reset
before forwarding, and a reset after forwarding (the server did the work, the client never sees the
response).
"""

_ERROR_RESPONSES = {
    "slow-down": (503, "SlowDown", "Please reduce your request rate."),
    "internal-error": (500, "InternalError", "We encountered an internal error. Please try again."),
    "access-denied": (403, "AccessDenied", "Access Denied"),
}
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "expect",
    "proxy-connection",
    "te",
    "upgrade",
}


class FakeS3:
    """A moto server in this process; its state is process-global, so `reset()` clears it between
    tests.
    """

    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)

    def __enter__(self) -> FakeS3:
        self._server.start()
        self.reset()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop()

    @property
    def url(self) -> str:
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def reset(self) -> None:
        """Delete every bucket and object of every moto backend."""
        urllib.request.urlopen(
            urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        ).close()

    def client(self, region: str = "us-east-1") -> Any:
        """A boto3 S3 client talking to the server directly (not through a proxy)."""
        return boto3.session.Session().client(
            "s3",
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def create_bucket(self, name: str, region: str = "eu-west-1") -> None:
        configuration = {} if region == "us-east-1" else {"LocationConstraint": region}
        self.client(region).create_bucket(Bucket=name, CreateBucketConfiguration=configuration)

    def objects(self, bucket: str) -> dict[str, bytes]:
        """Every object of `bucket`, by key."""
        client = self.client()
        keys = [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
        return {key: client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


@dataclass(frozen=True)
class RecordedRequest:
    """One request the proxy received, and what became of it."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    status: int | None
    """The status the server (or the proxy, for an injected error) answered; None: not forwarded."""
    fault: str | None
    """One of FAULTS, "access-denied", or None for a faithfully proxied request."""


class FaultProxy:
    """A threaded HTTP proxy on 127.0.0.1 that records every request and injects faults at
    `failure_rate`.

    The first requests, in arrival order, get the faults of `script` (None: no fault); later ones
    get one with probability `failure_rate`, drawn from `random.Random(seed)`. For the first
    `throttle_seconds` after the first request, every request is answered 503 SlowDown, with
    `Retry-After: <retry_after>` if set. PUTs are answered 403 AccessDenied while `deny_puts` is
    set. Each request first waits `latency` seconds, as if it crossed a network.
    """

    def __init__(
        self,
        upstream: str,
        *,
        failure_rate: float = 0.0,
        seed: int = 0,
        script: Sequence[str | None] = (),
        deny_puts: bool = False,
        latency: float = 0.0,
        throttle_seconds: float = 0.0,
        retry_after: int | None = None,
    ) -> None:
        self.upstream = urlsplit(upstream)
        self.failure_rate = failure_rate
        self.deny_puts = deny_puts
        self.latency = latency
        self.throttle_seconds = throttle_seconds
        self.retry_after = retry_after
        self.requests: list[RecordedRequest] = []
        self._first_request: float | None = None
        self.max_in_flight = 0
        self._script = list(script)
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._server = _ProxyServer(("127.0.0.1", 0), _ProxyHandler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def successful(self, method: str) -> list[RecordedRequest]:
        """The `method` requests the server answered 2xx, whether or not the client saw it."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r.method == method and r.status is not None and r.status < 300
            ]

    def faults(self) -> list[str]:
        with self._lock:
            return [request.fault for request in self.requests if request.fault]

    def _draw_fault(self, method: str) -> str | None:
        if self.deny_puts and method == "PUT":
            return "access-denied"
        with self._lock:
            now = time.monotonic()
            self._first_request = self._first_request or now
            if now - self._first_request < self.throttle_seconds:
                return "slow-down"
            if self._script:
                return self._script.pop(0)
            if self._random.random() < self.failure_rate:
                return self._random.choice(FAULTS)
        return None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _enter_flight(self, delta: int) -> None:
        with self._lock:
            self._in_flight += delta
            self.max_in_flight = max(self.max_in_flight, self._in_flight)


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], proxy: FaultProxy
    ) -> None:
        super().__init__(address, handler)
        self.proxy = proxy


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    do_PUT = do_POST = do_HEAD = do_DELETE = do_GET

    def _handle(self) -> None:
        proxy = self.server.proxy
        proxy._enter_flight(1)
        try:
            self._proxy(proxy)
        finally:
            proxy._enter_flight(-1)

    def _proxy(self, proxy: FaultProxy) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(proxy.latency)
        path, _, query = self.path.partition("?")
        headers = {name.lower(): value for name, value in self.headers.items()}
        fault = proxy._draw_fault(self.command)
        record = functools.partial(RecordedRequest, self.command, path, query, headers, fault=fault)
        if fault in _ERROR_RESPONSES:
            status, code, message = _ERROR_RESPONSES[fault]
            proxy._record(record(status=status))
            self._send_error(status, code, message)
        elif fault == "reset":
            proxy._record(record(status=None))
            self._reset()
        else:
            status, reason, response_headers, data = self._forward(body)
            proxy._record(record(status=status))
            if fault == "drop":
                self._reset()
            else:
                self._send(status, reason, response_headers, data)

    def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        upstream = self.server.proxy.upstream
        connection = http.client.HTTPConnection(
            upstream.hostname or "127.0.0.1", upstream.port, timeout=30
        )
        try:
            headers = {
                name: value
                for name, value in self.headers.items()
                if name.lower() not in _HOP_BY_HOP
            }
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.reason, response.getheaders(), response.read()
        finally:
            connection.close()

    def _send(self, status: int, reason: str, headers: list[tuple[str, str]], data: bytes) -> None:
        """Answer with `data`, keeping the connection open; a HEAD answer keeps the server's
        Content-Length.
        """
        self.send_response_only(status, reason)
        length = str(len(data))
        for name, value in headers:
            if name.lower() == "content-length":
                length = value if self.command == "HEAD" else length
            elif name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_error(self, status: int, code: str, message: str) -> None:
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            "<RequestId>fake-s3-proxy</RequestId></Error>"
        )
        headers = [("Content-Type", "application/xml")]
        retry_after = self.server.proxy.retry_after
        if code == "SlowDown" and retry_after is not None:
            headers.append(("Retry-After", str(retry_after)))
        self._send(status, code, headers, xml.encode())

    def _reset(self) -> None:
        """Abort the connection with a TCP RST: SO_LINGER with a zero timeout, then close."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()  # Only marks it closed while the request reader still holds it...
        self.rfile.close()  # ...which this releases, so the socket really closes now.
        self.close_connection = True


@contextmanager
def refusing_url() -> Iterator[str]:
    """An http:// URL on 127.0.0.1 whose port refuses connections: bound while in use, never
    listening.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{holder.getsockname()[1]}"
