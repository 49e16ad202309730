"""Command-line entry point: publish built zips to their stores as a plan says, then update the catalog.

    python -m repro_lambda.core.publish --plan plan.json

Exit codes: 0 when every artifact is published (or on a dry run), 1 when any failed, 2 for a bad plan,
usage or catalog (one `error:` line on stderr, nothing published).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from repro_lambda.core.catalog import SECTIONS, CatalogEntry, load_catalog, update_catalog, write_catalog
from repro_lambda.core.errors import PackError
from repro_lambda.core.stores import (
    PARALLEL_UPLOADS,
    Outcome,
    PublishError,
    Store,
    StoreUrl,
    check_key,
    open_store,
    parse_store_url,
)

USER_ERROR_EXIT_CODE = 2
FAILURE_EXIT_CODE = 1
DRY_RUN_STATUS = "would publish (dry run)"

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_REQUIRED = object()
_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list", type(None): "null"}


@dataclass(frozen=True)
class Artifact:
    """One zip to publish: its files, its metadata, and where it goes."""

    zip: str
    """The zip's path as the plan gives it (relative to the working directory)."""
    metadata: Mapping[str, Any]
    store: StoreUrl
    region: str | None
    lambda_at_edge: bool
    section: str

    @property
    def name(self) -> str:
        return str(self.metadata["logical_name"])

    @property
    def key(self) -> str:
        return str(self.metadata["s3_key"])

    @property
    def location(self) -> str:
        return self.store.location(self.key)


@dataclass(frozen=True)
class Plan:
    """The publisher's input, written by the Pants plugin."""

    buildroot: Path
    dry_run: bool
    catalog: str | None
    """The catalog's path relative to the buildroot, or None for no catalog."""
    catalog_history: int
    endpoint_url: str | None
    max_attempts: int
    artifacts: tuple[Artifact, ...]


@dataclass(frozen=True)
class Row:
    """What happened to one artifact: an outcome, or the reason it failed (neither on a dry run)."""

    artifact: Artifact
    outcome: Outcome | None = None
    reason: str | None = None

    @property
    def status(self) -> str:
        if self.reason is not None:
            return f"failed: {self.reason}"
        return DRY_RUN_STATUS if self.outcome is None else str(self.outcome)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the publisher CLI and return its exit code."""
    try:
        args = _parse_args(argv)
        plan = load_plan(args.plan)
        catalog_path = plan.buildroot / plan.catalog if plan.catalog is not None else None
        catalog = load_catalog(catalog_path) if catalog_path is not None else None
        stores = {} if plan.dry_run else _open_stores(plan)
    except PackError as error:
        return _user_error(error)
    if plan.dry_run:
        rows = sorted((Row(artifact) for artifact in plan.artifacts), key=_row_order)
    else:
        rows = publish_all(plan.artifacts, lambda artifact: stores[_store_id(artifact)])
    print(render_table(rows))
    print(summary(rows, dry_run=plan.dry_run))
    try:
        if catalog_path is not None and catalog is not None and not plan.dry_run:
            entries = [_catalog_entry(row.artifact) for row in rows if row.outcome is not None]
            if entries and write_catalog(catalog_path, update_catalog(catalog, entries, plan.catalog_history)):
                print(f"Updated {plan.catalog}")
    except OSError as error:
        return _user_error(error)
    return FAILURE_EXIT_CODE if any(row.reason is not None for row in rows) else 0


def publish_all(artifacts: Sequence[Artifact], store_for: Callable[[Artifact], Store]) -> list[Row]:
    """Publish `artifacts` concurrently; the rows are sorted by logical name, then store."""
    with ThreadPoolExecutor(max_workers=PARALLEL_UPLOADS) as pool:
        rows = list(pool.map(lambda artifact: publish_one(artifact, store_for(artifact)), artifacts))
    return sorted(rows, key=_row_order)


def publish_one(artifact: Artifact, store: Store) -> Row:
    """Check the zip against its metadata, then put it; a failure of any kind becomes the row's reason."""
    try:
        data = _read_zip(artifact)
        return Row(artifact, outcome=store.put_if_absent(artifact.key, data))
    except PublishError as error:
        return Row(artifact, reason=" ".join(str(error).split()))
    except Exception as error:
        return Row(artifact, reason=" ".join(f"internal error: {type(error).__name__}: {error}".split()))


def _read_zip(artifact: Artifact) -> bytes:
    try:
        data = Path(artifact.zip).read_bytes()
    except OSError as error:
        raise PublishError(f"cannot read {artifact.zip}: {error}") from error
    sha256, size = hashlib.sha256(data).hexdigest(), len(data)
    if (sha256, size) != (artifact.metadata["sha256"], artifact.metadata["size"]):
        expected = f"{artifact.metadata['sha256']}, {artifact.metadata['size']} bytes"
        raise PublishError(
            f"{artifact.zip} does not match its metadata (sha256 {sha256}, {size} bytes; expected {expected}): "
            "the build output is corrupt, rebuild it"
        )
    return data


def render_table(rows: Sequence[Row]) -> str:
    """Aligned NAME, KEY and STATUS columns, one line per row after the header."""
    lines = [("NAME", "KEY", "STATUS"), *((row.artifact.name, row.artifact.location, row.status) for row in rows)]
    widths = [max(len(line[column]) for line in lines) for column in range(2)]
    return "\n".join(f"{name:<{widths[0]}}  {key:<{widths[1]}}  {status}" for name, key, status in lines)


def summary(rows: Sequence[Row], *, dry_run: bool) -> str:
    if dry_run:
        return f"{len(rows)} would publish (dry run)"
    uploaded = sum(row.outcome is Outcome.UPLOADED for row in rows)
    present = sum(row.outcome is Outcome.ALREADY_PRESENT for row in rows)
    failed = sum(row.reason is not None for row in rows)
    return f"{uploaded} uploaded, {present} already present, {failed} failed"


def load_plan(path: Path) -> Plan:
    """Read and check the plan and each artifact's metadata; raise PackError if anything is wrong."""
    plan = _read_json(path, "plan")
    if not isinstance(plan, dict):
        raise PackError(f"plan {path} is not a JSON object")
    buildroot = Path(_field(plan, "buildroot", str, where="plan"))
    if not buildroot.is_absolute():
        raise PackError(f"plan: buildroot {str(buildroot)!r} is not an absolute path")
    catalog = _field(plan, "catalog", str, type(None), default=None, where="plan")
    max_attempts = _field(plan, "max_attempts", int, default=6, where="plan")
    catalog_history = _field(plan, "catalog_history", int, default=10, where="plan")
    if max_attempts < 1 or catalog_history < 0:
        raise PackError("plan: max_attempts must be at least 1 and catalog_history at least 0")
    artifacts = tuple(
        _artifact(item, buildroot, f"plan artifact #{index}")
        for index, item in enumerate(_field(plan, "artifacts", list, where="plan"), start=1)
    )
    _check_distinct([artifact.zip for artifact in artifacts], "zip")
    if catalog is not None:
        _check_distinct([f"{artifact.section}.{artifact.name}" for artifact in artifacts], "catalog entry")
    return Plan(
        buildroot=buildroot,
        dry_run=_field(plan, "dry_run", bool, default=False, where="plan"),
        catalog=catalog,
        catalog_history=catalog_history,
        endpoint_url=_field(plan, "endpoint_url", str, type(None), default=None, where="plan"),
        max_attempts=max_attempts,
        artifacts=artifacts,
    )


def _artifact(item: Any, buildroot: Path, where: str) -> Artifact:
    if not isinstance(item, dict):
        raise PackError(f"{where} is not an object")
    section = _field(item, "section", str, default="lambdas", where=where)
    if section not in SECTIONS:
        raise PackError(f"{where}: section {section!r} is not one of {', '.join(SECTIONS)}")
    return Artifact(
        zip=_field(item, "zip", str, where=where),
        metadata=_metadata(Path(_field(item, "metadata", str, where=where))),
        store=parse_store_url(_field(item, "store", str, where=where), buildroot),
        region=_field(item, "region", str, type(None), default=None, where=where),
        lambda_at_edge=_field(item, "lambda_at_edge", bool, default=False, where=where),
        section=section,
    )


def _metadata(path: Path) -> dict[str, Any]:
    """The zip's metadata, checked: its key must end in the zip's SHA-256, which `code_sha256` must encode."""
    metadata = _read_json(path, "metadata")
    where = f"metadata {path}"
    if not isinstance(metadata, dict):
        raise PackError(f"{where} is not a JSON object")
    for name in ("logical_name", "sha256", "code_sha256", "runtime", "architecture", "s3_key"):
        _field(metadata, name, str, where=where)
    _field(metadata, "size", int, where=where)
    _field(metadata, "handler", str, type(None), where=where)
    sha256 = metadata["sha256"]
    if not _SHA256_HEX.fullmatch(sha256):
        raise PackError(f"{where}: sha256 {sha256!r} is not 64 lowercase hex digits")
    if metadata["code_sha256"] != base64.b64encode(bytes.fromhex(sha256)).decode("ascii"):
        raise PackError(f"{where}: code_sha256 is not the base64 of the digest in sha256")
    check_key(metadata["s3_key"], where)
    if metadata["s3_key"].rpartition("/")[2] != f"{sha256}.zip":
        raise PackError(f"{where}: s3_key {metadata['s3_key']!r} does not end in {sha256}.zip")
    return metadata


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise PackError(f"cannot read {what} {path}: {error}") from error
    except json.JSONDecodeError as error:
        raise PackError(f"{what} {path} is not valid JSON: {error}") from error


def _field(mapping: Mapping[str, Any], name: str, *types: type, where: str, default: Any = _REQUIRED) -> Any:
    if name not in mapping:
        if default is _REQUIRED:
            raise PackError(f"{where} has no {name!r}")
        return default
    value = mapping[name]
    if type(value) not in types:
        expected = " or ".join(_TYPE_NAMES[kind] for kind in types)
        raise PackError(f"{where}: {name!r} must be {expected}, not {json.dumps(value)}")
    return value


def _check_distinct(values: list[str], what: str) -> None:
    repeated = sorted({value for value in values if values.count(value) > 1})
    if repeated:
        raise PackError(f"plan: more than one artifact has the {what} {repeated[0]!r}")


def _store_id(artifact: Artifact) -> tuple[str, str | None]:
    return artifact.store.url, artifact.region


def _open_stores(plan: Plan) -> dict[tuple[str, str | None], Store]:
    """One store (so one S3 client) per store URL and region."""
    stores: dict[tuple[str, str | None], Store] = {}
    for artifact in plan.artifacts:
        if _store_id(artifact) not in stores:
            stores[_store_id(artifact)] = open_store(
                artifact.store,
                region=artifact.region,
                endpoint_url=plan.endpoint_url,
                max_attempts=plan.max_attempts,
            )
    return stores


def _row_order(row: Row) -> tuple[str, str]:
    return row.artifact.name, row.artifact.store.url


def _catalog_entry(artifact: Artifact) -> CatalogEntry:
    metadata = artifact.metadata
    return CatalogEntry(
        section=artifact.section,
        logical_name=artifact.name,
        sha256=metadata["sha256"],
        store=artifact.store.url,
        bucket=artifact.store.bucket,
        key=artifact.store.object_key(artifact.key),
        code_sha256=metadata["code_sha256"],
        size=metadata["size"],
        runtime=metadata["runtime"],
        architecture=metadata["architecture"],
        handler=metadata["handler"],
        lambda_at_edge=artifact.lambda_at_edge,
    )


def _user_error(error: Exception) -> int:
    print(f"error: {error}", file=sys.stderr)
    return USER_ERROR_EXIT_CODE


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise PackError(message)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _ArgumentParser(prog="python -m repro_lambda.core.publish", description=__doc__.splitlines()[0])
    parser.add_argument("--plan", type=Path, required=True, help="the JSON publishing plan")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
