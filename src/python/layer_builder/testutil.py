"""Waiting for builds, and reading URLs, in the service's tests."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

FINISHED = ("COMPLETED", "FAILED")


def many_pins(count: int, tags: str) -> list[dict[str, str]]:
    """`count` pins of wheels with `tags`, as a platform's pins in a build record."""
    return [
        {
            "name": f"package{i}",
            "version": "1.0.0",
            "wheel": f"package{i}-1.0.0-{tags}.whl",
            "sha256": f"{i:064x}",
        }
        for i in range(count)
    ]


def http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    """The status and the decoded JSON (or raw bytes) of one request; a body is sent as JSON."""
    data = None if body is None else json.dumps(body).encode()
    headers = {} if data is None else {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request) as response:
            status, content, kind = response.status, response.read(), response.headers
    except urllib.error.HTTPError as e:
        status, content, kind = e.code, e.read(), e.headers
    if kind.get("Content-Type", "").startswith("application/json"):
        return status, json.loads(content)
    return status, content


def raw_http(port: int, request: bytes, timeout: float = 30) -> tuple[int, Any]:
    """Send `request` as it is to 127.0.0.1:`port` and read the answer until the server closes
    the connection: its status and its decoded JSON body (or raw bytes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    assert answer, "the server closed the connection without answering"
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    return status, json.loads(body) if head.find(b"application/json") > 0 else body


def wait_for(get_build: Callable[[], Any], timeout: float = 300) -> dict[str, Any]:
    """Poll until the build is COMPLETED or FAILED."""
    deadline = time.monotonic() + timeout
    while True:
        build: dict[str, Any] = get_build()
        if build.get("status") in FINISHED or time.monotonic() > deadline:
            return build
        time.sleep(0.5)
