"""Session fixtures: the checkout under test, and one `./pants package ::` build of a copy of it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.checkout import Build, copy_checkout, run_pants

FIRST_UMASK = 0o022
FIRST_TZ = "UTC"


@pytest.fixture(scope="session")
def buildroot() -> Path:
    root = os.environ.get("REPRO_LAMBDA_BUILDROOT")
    if not root:
        pytest.skip(
            "REPRO_LAMBDA_BUILDROOT is unset: run `./pants test tests::`, or set it to the "
            "checkout to test when running pytest directly"
        )
    return Path(root)


@pytest.fixture(scope="session")
def first_build(buildroot: Path) -> Iterator[Build]:
    """`./pants package ::` in a copy at `<tmp>/a/repo`, umask 022, TZ=UTC."""
    with tempfile.TemporaryDirectory(prefix="repro-lambda-e2e-", ignore_cleanup_errors=True) as tmp:
        checkout = Path(tmp, "a", "repo")
        copy_checkout(buildroot, checkout, umask=FIRST_UMASK)
        yield run_pants(checkout, "package", "::", umask=FIRST_UMASK, tz=FIRST_TZ)
