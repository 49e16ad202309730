"""`./pants package ::` gives byte-identical artifacts from another path, umask, TZ and mtimes."""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
import zipfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from e2e.checkout import Build, copy_checkout, run_pants, touch_all
from e2e.update_golden_keys import (
    GOLDEN_KEYS_FILE,
    UPDATE_COMMAND,
    artifact_keys,
    key_changes,
    read_golden_keys,
)

SECOND_UMASK = 0o077
SECOND_TZ = "Pacific/Kiritimati"  # UTC+14, while the first build runs in UTC
SECOND_MTIME = datetime(2004, 2, 29, 23, 59, 58, tzinfo=timezone.utc).timestamp()

# dist-relative zip -> (logical_name, runtime, architecture, handler), as the BUILD files declare.
EXPECTED_ARTIFACTS: dict[str, tuple[str, str, str, str | None]] = {
    "src.python.greeter/greeter.zip": (
        "greeter",
        "python3.11",
        "x86_64",
        "greeter.handler.lambda_handler",
    ),
    "src.python.orders/orders.zip": (
        "orders",
        "python3.13",
        "arm64",
        "orders.api.lambda_handler",
    ),
    "src.python.stats/stats@architecture=arm64.zip": (
        "stats-arm64",
        "python3.12",
        "arm64",
        "stats.handler.lambda_handler",
    ),
    "src.python.stats/stats@architecture=x86_64.zip": (
        "stats-x86_64",
        "python3.12",
        "x86_64",
        "stats.handler.lambda_handler",
    ),
    "src.python.report/report.zip": (
        "report",
        "python3.13",
        "arm64",
        "report.main.lambda_handler",
    ),
    **{
        f"src.nodejs.api/api@architecture={arch}.zip": (
            f"api-{arch}",
            "nodejs22.x",
            arch,
            "index.handler",
        )
        for arch in ("x86_64", "arm64")
    },
    **{
        f"src.python.layer_builder/{role}.zip": (
            f"layer-builder-{role}",
            "python3.12",
            "arm64",
            f"layer_builder.aws.{role}_handler",
        )
        for role in ("api", "worker", "sweeper")
    },
    **{
        f"src.python.feeds/feeds@architecture={arch},runtime={runtime.replace('.', '_')}.zip": (
            f"feeds-{arch}-{runtime}",
            runtime,
            arch,
            "feeds.handler.lambda_handler",
        )
        for runtime in ("python3.11", "python3.13")
        for arch in ("x86_64", "arm64")
    },
    "src.python.feeds/feedparser-python3.13-arm64.zip": (
        "feedparser-python3.13-arm64",
        "python3.13",
        "arm64",
        None,
    ),
    "src.python.feeds/crcmod-python3.13-arm64.zip": (
        "crcmod-python3.13-arm64",
        "python3.13",
        "arm64",
        None,
    ),
    # the lambdas of the root lambdas.toml
    "inventory.zip": ("inventory", "python3.13", "arm64", "inventory.lambda_handler"),
    "resizer.zip": ("resizer", "python3.12", "x86_64", "resizer.handler.handler"),
    "edge-headers.zip": ("edge-headers", "nodejs22.x", "x86_64", "index.handler"),
    **{
        f"src.python.layers/science-{runtime}-{arch}.zip": (
            f"science-{runtime}-{arch}",
            runtime,
            arch,
            None,
        )
        for runtime in ("python3.12", "python3.13")
        for arch in ("x86_64", "arm64")
    },
}


@pytest.fixture(scope="module")
def second_build(buildroot: Path) -> Iterator[Build]:
    """The same build from a deeper, differently named path, umask 077, TZ=+14, old mtimes."""
    with tempfile.TemporaryDirectory(prefix="repro-lambda-e2e-", ignore_cleanup_errors=True) as tmp:
        checkout = Path(tmp, "deeper", "b", "checkout")
        copy_checkout(buildroot, checkout, umask=SECOND_UMASK)
        touch_all(checkout, SECOND_MTIME)
        yield run_pants(checkout, "package", "::", umask=SECOND_UMASK, tz=SECOND_TZ)


def metadata_of(zip_path: Path) -> dict[str, str | int]:
    metadata: dict[str, str | int] = json.loads(zip_path.with_suffix(".json").read_text())
    return metadata


def test_packages_every_example_lambda_and_layer(first_build: Build) -> None:
    assert EXPECTED_ARTIFACTS.keys() == first_build.zips().keys()


def test_every_artifact_keeps_its_golden_key(first_build: Build) -> None:
    """A change that re-keys an example fails here until the golden keys are updated on purpose."""
    changes = key_changes(read_golden_keys(first_build.checkout), artifact_keys(first_build))
    assert not changes, "\n".join(
        [
            f"these artifacts' keys differ from {GOLDEN_KEYS_FILE} (golden -> built):",
            *changes,
            "Unless the change is to those examples' own code, wheels or settings, every user's"
            " artifacts would re-key on upgrade (new S3 keys, every function redeployed with no"
            " change to its code): find what changed the bytes"
            " (pants-plugins/repro_lambda/core/pack/golden_test.py pins the packer's). If the new"
            f" keys are intended, run `{UPDATE_COMMAND}` from the repository's root, commit"
            f" {GOLDEN_KEYS_FILE} and say in CHANGELOG.md what re-keys and why.",
        ]
    )


def test_rebuild_elsewhere_is_byte_identical(first_build: Build, second_build: Build) -> None:
    assert first_build.checkout != second_build.checkout
    assert second_build.zips().keys() == first_build.zips().keys()
    assert second_build.artifact_digests() == first_build.artifact_digests()


def test_metadata_describes_its_zip(first_build: Build) -> None:
    for name, zip_path in first_build.zips().items():
        content = zip_path.read_bytes()
        digest = hashlib.sha256(content)
        metadata = metadata_of(zip_path)
        with zipfile.ZipFile(zip_path) as archive:
            entry_count = len(archive.infolist())
        assert metadata["sha256"] == digest.hexdigest(), name
        assert metadata["code_sha256"] == base64.b64encode(digest.digest()).decode(), name
        assert metadata["size"] == len(content), name
        assert metadata["entry_count"] == entry_count, name
        kind = "layers" if metadata["handler"] is None else "lambdas"
        assert metadata["s3_key"] == f"{kind}/{metadata['logical_name']}/{digest.hexdigest()}.zip"


def test_metadata_matches_the_targets(first_build: Build) -> None:
    fields = ("logical_name", "runtime", "architecture", "handler")
    for name, expected in EXPECTED_ARTIFACTS.items():
        metadata = metadata_of(first_build.dist / name)
        assert tuple(metadata[field] for field in fields) == expected, name


def test_printed_keys_match_metadata(first_build: Build, second_build: Build) -> None:
    for build in (first_build, second_build):
        expected = {name: metadata_of(path)["s3_key"] for name, path in build.zips().items()}
        assert build.printed_keys() == expected
