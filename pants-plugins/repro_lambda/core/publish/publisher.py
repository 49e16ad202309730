"""Command-line entry point: publish built zips as a plan says, then update the catalog.

    python -m repro_lambda.core.publish.publisher --plan plan.json

Exit codes: 0 when every artifact is published (or on a dry run), 1 when any failed, 2 for a bad
plan, usage or catalog (one `error:` line on stderr, nothing published).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from repro_lambda.core.contract import (
    WARNING_PREFIX,
    ToolArgumentParser,
    UserError,
    report_user_error,
)
from repro_lambda.core.publish.catalog import CatalogEntry, load_catalog, merge_into_catalog
from repro_lambda.core.publish.plan import Artifact, Plan, load_plan
from repro_lambda.core.publish.stores import (
    PARALLEL_UPLOADS,
    Outcome,
    PublishError,
    Store,
    endpoint_warning,
    open_store,
)

FAILURE_EXIT_CODE = 1
DRY_RUN_STATUS = "would publish (dry run)"


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
        if catalog_path is not None:
            load_catalog(catalog_path)  # A bad catalog fails before anything is published.
        stores = {} if plan.dry_run else _open_stores(plan)
    except UserError as error:
        return report_user_error(error)
    warning = endpoint_warning(plan.endpoint_url)
    if warning and not plan.dry_run:
        print(f"{WARNING_PREFIX}{warning}", file=sys.stderr)
    if plan.dry_run:
        rows = sorted((Row(artifact) for artifact in plan.artifacts), key=_row_order)
    else:
        rows = publish_all(plan.artifacts, lambda artifact: stores[_store_id(artifact)])
    print(render_table(rows))
    print(summary(rows, dry_run=plan.dry_run))
    try:
        if catalog_path is not None and not plan.dry_run:
            entries = [_catalog_entry(row.artifact) for row in rows if row.outcome is not None]
            if entries and merge_into_catalog(catalog_path, entries, plan.catalog_history):
                print(f"Updated {plan.catalog}")
    except (OSError, UserError) as error:
        return report_user_error(error)
    return FAILURE_EXIT_CODE if any(row.reason is not None for row in rows) else 0


def publish_all(artifacts: Sequence[Artifact], store_for: Callable[[Artifact], Store]) -> list[Row]:
    """Publish `artifacts` concurrently; the rows are sorted by logical name, then store."""
    with ThreadPoolExecutor(max_workers=PARALLEL_UPLOADS) as pool:
        rows = list(
            pool.map(lambda artifact: publish_one(artifact, store_for(artifact)), artifacts)
        )
    return sorted(rows, key=_row_order)


def publish_one(artifact: Artifact, store: Store) -> Row:
    """Check the zip against its metadata, then put it; a failure of any kind becomes the row's
    reason.
    """
    try:
        data = _read_zip(artifact)
        return Row(artifact, outcome=store.put_if_absent(artifact.key, data))
    except PublishError as error:
        return Row(artifact, reason=" ".join(str(error).split()))
    except Exception as error:
        return Row(
            artifact, reason=" ".join(f"internal error: {type(error).__name__}: {error}".split())
        )


def _read_zip(artifact: Artifact) -> bytes:
    try:
        data = Path(artifact.zip).read_bytes()
    except OSError as error:
        raise PublishError(f"cannot read {artifact.zip}: {error}") from error
    sha256, size = hashlib.sha256(data).hexdigest(), len(data)
    if (sha256, size) != (artifact.metadata.sha256, artifact.metadata.size):
        expected = f"{artifact.metadata.sha256}, {artifact.metadata.size} bytes"
        raise PublishError(
            f"{artifact.zip} does not match its metadata (sha256 {sha256}, {size} bytes; expected"
            f" {expected}): the build output is corrupt, rebuild it"
        )
    return data


def render_table(rows: Sequence[Row]) -> str:
    """Aligned NAME, KEY and STATUS columns, one line per row after the header."""
    lines = [
        ("NAME", "KEY", "STATUS"),
        *((row.artifact.name, row.artifact.location, row.status) for row in rows),
    ]
    widths = [max(len(line[column]) for line in lines) for column in range(2)]
    return "\n".join(
        f"{name:<{widths[0]}}  {key:<{widths[1]}}  {status}" for name, key, status in lines
    )


def summary(rows: Sequence[Row], *, dry_run: bool) -> str:
    if dry_run:
        return f"{len(rows)} would publish (dry run)"
    uploaded = sum(row.outcome is Outcome.UPLOADED for row in rows)
    present = sum(row.outcome is Outcome.ALREADY_PRESENT for row in rows)
    failed = sum(row.reason is not None for row in rows)
    return f"{uploaded} uploaded, {present} already present, {failed} failed"


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
        sha256=metadata.sha256,
        store=artifact.store.url,
        bucket=artifact.store.bucket,
        key=artifact.store.object_key(artifact.key),
        code_sha256=metadata.code_sha256,
        size=metadata.size,
        runtime=metadata.runtime,
        architecture=metadata.architecture,
        handler=metadata.handler,
        lambda_at_edge=artifact.lambda_at_edge,
        layers=None if metadata.layers is None else [asdict(layer) for layer in metadata.layers],
    )


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = ToolArgumentParser(
        prog="python -m repro_lambda.core.publish.publisher", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--plan", type=Path, required=True, help="the JSON publishing plan")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
