"""Waiting for builds, and reading URLs, in the service's tests."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

FINISHED = ("COMPLETED", "FAILED")


def http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    """The status and the decoded JSON (or raw bytes) of one request."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request) as response:
            status, content, kind = response.status, response.read(), response.headers
    except urllib.error.HTTPError as e:
        status, content, kind = e.code, e.read(), e.headers
    if kind.get("Content-Type", "").startswith("application/json"):
        return status, json.loads(content)
    return status, content


def wait_for(get_build: Callable[[], dict[str, Any]], timeout: float = 300) -> dict[str, Any]:
    """Poll until the build is COMPLETED or FAILED."""
    deadline = time.monotonic() + timeout
    while True:
        build = get_build()
        if build.get("status") in FINISHED or time.monotonic() > deadline:
            return build
        time.sleep(0.5)
