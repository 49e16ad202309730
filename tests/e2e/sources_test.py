"""`lambda_source` end to end: `./pants lambda-lock`, then `./pants package` in two runs (a new
pantsd each), served by an HTTPS release server on 127.0.0.1: the second never downloads, a
public source (a cached process) or a private one (fetched by Pants with the token) alike."""

from __future__ import annotations

import io
import secrets
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import pytest
from fake_releases import ReleaseServer, release_server, tar_gz, zip_of

from e2e.checkout import copy_checkout, run_pants, stop_pantsd
from repro_lambda.core.sources.spec import TOKEN_ENV_VAR

UMASK = 0o022
TZ = "UTC"
TOOL = "src/python/vendored"


@pytest.fixture(scope="module")
def server() -> Iterator[ReleaseServer]:
    with tempfile.TemporaryDirectory(prefix="repro-lambda-ca-") as ca:
        with release_server(Path(ca)) as server:
            yield server


def test_a_second_build_never_downloads_again(buildroot: Path, server: ReleaseServer) -> None:
    # New bytes each run, so no cache of an earlier run can hold them: the first build downloads.
    nonce = secrets.token_hex(8).encode()
    tool = b"#!/bin/sh\necho " + nonce + b"\n"
    server.serve(
        "/tool/tool-2.1.0.tar.gz",
        tar_gz({"tool-2.1.0/bin/tool": tool}, modes={"tool-2.1.0/bin/tool": 0o755}),
    )
    server.github_release(
        "owner/private-tool", "v3.0.0", {"private-3.0.0.zip": zip_of({"private.txt": nonce})}
    )
    options = [
        f"--lambda-sources-test-ca-file={server.ca_file}",
        "--lambda-sources-test-allow-loopback",
        f"--lambda-sources-github-api-url={server.url('')}",
    ]
    token = {TOKEN_ENV_VAR: "the-e2e-token"}
    with tempfile.TemporaryDirectory(prefix="repro-lambda-e2e-", ignore_cleanup_errors=True) as tmp:
        checkout = Path(tmp, "repo")
        copy_checkout(buildroot, checkout, umask=UMASK)
        (checkout / TOOL).mkdir(parents=True)
        (checkout / TOOL / "handler.py").write_text(
            "def lambda_handler(event, context):\n    return 1\n"
        )
        (checkout / TOOL / "BUILD").write_text(
            dedent(
                f"""\
                python_sources()
                lambda_source(
                    name="tool",
                    type="https",
                    url="{server.url('/tool/tool-{version}.tar.gz')}",
                    version="2.1.0",
                    extract="tar.gz",
                    member="tool-{{version}}",
                    dest="vendor",
                )
                lambda_source(
                    name="private",
                    type="github_release",
                    repo="owner/private-tool",
                    tag="v{{version}}",
                    asset="private-{{version}}.zip",
                    version="3.0.0",
                    extract="zip",
                    dest="private",
                )
                lambda_artifact(
                    name="fn",
                    handler="vendored.handler.lambda_handler",
                    runtime="python3.12",
                    external_sources=[":tool", ":private"],
                )
                """
            )
        )
        try:
            locked = run_pants(
                checkout, *options, "lambda-lock", umask=UMASK, tz=TZ, cached=True, env=token
            )
            assert f"{TOOL}:tool 2.1.0: sha256" in locked.output
            downloads = []
            for _ in range(2):
                stop_pantsd(checkout)
                server.requests.clear()
                build = run_pants(
                    checkout,
                    *options,
                    "package",
                    f"{TOOL}:fn",
                    umask=UMASK,
                    tz=TZ,
                    cached=True,
                    env=token,
                )
                assert "the-e2e-token" not in build.output
                downloads.append(sorted(request.path for request in server.requests))
                sent_to_blobs = [r for r in server.requests if r.path.startswith("/blobs/")]
                assert all("Authorization" not in r.headers for r in sent_to_blobs)
        finally:
            stop_pantsd(checkout)
        private = ["/blobs/owner/private-tool/v3.0.0/private-3.0.0.zip"]
        asset = ["/repos/owner/private-tool/releases/assets/1"]
        assert downloads == [sorted([*private, *asset, "/tool/tool-2.1.0.tar.gz"]), []]
        (zip_path,) = build.zips().values()
        archive = zipfile.ZipFile(io.BytesIO(zip_path.read_bytes()))
        assert archive.read("vendor/bin/tool") == tool
        assert archive.getinfo("vendor/bin/tool").external_attr >> 16 == 0o100755
        assert archive.read("private/private.txt") == nonce
