"""The layer builder service, from submit to downloadable zips: numpy and requests (pinned) for
python3.13 on both architectures through the embedded service (`layer_builder.local`), over HTTP.

Run from the repository root, in an interpreter with the `dev` resolve's pex, deflate and packaging:

    PYTHONPATH=src/python:pants-plugins:benchmarks python3.11 \
        benchmarks/layer_builder_benchmark.py [--repeat 3]

Each build gets a new data directory; the first starts with an empty pex cache (every wheel and pip
itself downloaded), the others reuse it (a warm worker, as the AWS worker is between invocations).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
import urllib.request
from pathlib import Path

from layer_builder.builder import PexSettings
from layer_builder.local import serve
from layer_builder.service import Settings

REQUEST = {
    "requirements": "numpy==2.2.6\nrequests==2.32.4",
    "python_version": "3.13",
    "architectures": ["x86_64", "arm64"],
    "single_file": True,
}


def _json(method: str, url: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}  # the service refuses any other body
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request) as r:
        answer: dict = json.loads(r.read())
    return answer


def build_once(data_dir: Path, pex_root: Path) -> tuple[float, list[tuple[str, int]]]:
    """Seconds from submit to every zip downloaded and checked; each zip's name and bytes."""
    pex = PexSettings(pex_root, cert=os.environ.get("SSL_CERT_FILE"))
    server, local = serve(data_dir, "127.0.0.1", 0, Settings(pex=pex), workers=1)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        start = time.perf_counter()
        build_id = _json("POST", f"{url}/builds", REQUEST)["build_id"]
        while (build := _json("GET", f"{url}/builds/{build_id}"))["status"] not in (
            "COMPLETED",
            "FAILED",
        ):
            time.sleep(0.2)
        if build["status"] != "COMPLETED":
            raise SystemExit(f"the build failed: {build['message']}")
        files = []
        for f in build["files"]:
            with urllib.request.urlopen(f["download_url"]) as r:
                data = r.read()
            assert hashlib.sha256(data).hexdigest() == f["sha256"]
            files.append((f["filename"], len(data)))
        return time.perf_counter() - start, files
    finally:
        server.shutdown()
        local.queue.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="builds in all (the first cold)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="layer-builder-benchmark-") as tmp:
        pex_root = Path(tmp, "pex")
        print("| build | seconds | zips |")
        print("|---|---:|---|")
        for run in range(args.repeat):
            seconds, files = build_once(Path(tmp, f"data-{run}"), pex_root)
            zips = ", ".join(f"{name} {size:,} B" for name, size in files)
            print(f"| {'cold' if run == 0 else 'warm'} | {seconds:.1f} | {zips} |", flush=True)


if __name__ == "__main__":
    main()
