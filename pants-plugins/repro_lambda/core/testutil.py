"""What the core tests share: files by archive path, an artifact, and an S3 store on the fake
server's bucket."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from fake_s3 import BUCKET
from repro_lambda.core.contract import parse_store_url
from repro_lambda.core.publish.s3_store import S3Store

KEY = f"lambdas/orders/{'ab' * 32}.zip"
DATA = b"PK\x05\x06 the artifact" * 100


def s3_store(
    endpoint_url: str, *, prefix: str = "team", max_attempts: int = 4, **kwargs: Any
) -> S3Store:
    url = parse_store_url(f"s3://{BUCKET}/{prefix}", Path("/unused"))
    return S3Store(
        url, region="eu-west-1", endpoint_url=endpoint_url, max_attempts=max_attempts, **kwargs
    )


def write_files(base: Path, contents: dict[str, bytes]) -> dict[str, Path]:
    """Write each archive path's content under `base`; return the files by archive path."""
    files = {}
    for archive_path, content in contents.items():
        source = base / archive_path
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_bytes(content)
        files[archive_path] = source
    return files


def find_python(version: str) -> str | None:
    """A working `python<version>`: on PATH, else in pyenv's versions."""
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = [
        shutil.which(f"python{version}"),
        *sorted(glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python{version}"), reverse=True),
    ]
    check = f"import sys; sys.exit(sys.version_info[:2] != {tuple(map(int, version.split('.')))})"
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "-c", check], capture_output=True).returncode == 0:
            return candidate
    return None
