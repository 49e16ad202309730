from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_releases import ReleaseServer, release_server, zip_of

from repro_lambda.core.sources.tool import main

ARCHIVE = zip_of({"terraform": b"\x7fELF terraform"})
SHA256 = hashlib.sha256(ARCHIVE).hexdigest()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReleaseServer]:
    with release_server(tmp_path_factory.mktemp("ca")) as server:
        server.serve("/terraform.zip", ARCHIVE)
        yield server


def fetch_args(server: ReleaseServer, output: Path, sha256: str = SHA256) -> list[str]:
    return [
        "fetch",
        "--name=terraform",
        f"--url={server.url('/terraform.zip')}",
        f"--sha256={sha256}",
        f"--size={len(ARCHIVE)}",
        f"--output={output}",
        "--allow-loopback",
        f"--ca-file={server.ca_file}",
    ]


def test_fetch_then_stage(server: ReleaseServer, tmp_path: Path) -> None:
    download = tmp_path / "download"
    assert main(fetch_args(server, download)) == 0
    assert download.read_bytes() == ARCHIVE
    out = tmp_path / "out"
    argv = [
        "stage",
        "--name=terraform",
        f"--download={download}",
        "--extract=zip",
        "--dest=bin/terraform",
        "--member=terraform",
        "--executable",
        f"--output-dir={out}",
    ]
    assert main(argv) == 0
    staged = out / "bin" / "terraform"
    assert staged.read_bytes() == b"\x7fELF terraform" and staged.stat().st_mode & 0o777 == 0o755


def test_errors_name_the_source(
    server: ReleaseServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(fetch_args(server, tmp_path / "d", sha256="0" * 64)) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: source 'terraform': the download of https://127.0.0.1:")
    assert f"has sha256 {SHA256}" in error and f"pins sha256 {'0' * 64}" in error
    argv = fetch_args(server, tmp_path / "d")
    argv.remove("--allow-loopback")
    assert main(argv) == 2
    assert "refusing to connect to '127.0.0.1'" in capsys.readouterr().err
