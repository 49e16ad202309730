"""The publisher's input: the plan the Pants plugin writes, and each zip's metadata, read and
checked.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repro_lambda.core.contract import (
    SECTIONS,
    SHA256_HEX,
    ArtifactMetadata,
    PlanArtifact,
    PublishPlan,
    StoreUrl,
    UserError,
    check_key,
    parse_store_url,
    read_fields,
)


@dataclass(frozen=True)
class Artifact:
    """One zip to publish: its files, its metadata, and where it goes."""

    zip: str
    """The zip's path as the plan gives it (relative to the working directory)."""
    metadata: ArtifactMetadata
    store: StoreUrl
    region: str | None
    lambda_at_edge: bool
    section: str

    @property
    def name(self) -> str:
        return self.metadata.logical_name

    @property
    def key(self) -> str:
        return self.metadata.s3_key

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


def load_plan(path: Path) -> Plan:
    """Read and check the plan and each artifact's metadata; raise UserError if any is wrong."""
    plan = _read_json(path, "plan")
    if not isinstance(plan, dict):
        raise UserError(f"plan {path} is not a JSON object")
    fields = read_fields(PublishPlan, plan, "plan")
    buildroot = Path(fields.buildroot)
    if not buildroot.is_absolute():
        raise UserError(f"plan: buildroot {str(buildroot)!r} is not an absolute path")
    if fields.max_attempts < 1 or fields.catalog_history < 0:
        raise UserError("plan: max_attempts must be at least 1 and catalog_history at least 0")
    artifacts = tuple(
        _artifact(item, buildroot, f"plan artifact #{index}")
        for index, item in enumerate(fields.artifacts, start=1)
    )
    _check_distinct([artifact.zip for artifact in artifacts], "zip")
    if fields.catalog is not None:
        _check_distinct(
            [f"{artifact.section}.{artifact.name}" for artifact in artifacts], "catalog entry"
        )
    return Plan(
        buildroot=buildroot,
        dry_run=fields.dry_run,
        catalog=fields.catalog,
        catalog_history=fields.catalog_history,
        endpoint_url=fields.endpoint_url,
        max_attempts=fields.max_attempts,
        artifacts=artifacts,
    )


def _artifact(item: Any, buildroot: Path, where: str) -> Artifact:
    if not isinstance(item, dict):
        raise UserError(f"{where} is not an object")
    fields = read_fields(PlanArtifact, item, where)
    if fields.section not in SECTIONS:
        raise UserError(f"{where}: section {fields.section!r} is not one of {', '.join(SECTIONS)}")
    return Artifact(
        zip=fields.zip,
        metadata=_metadata(Path(fields.metadata)),
        store=parse_store_url(fields.store, buildroot),
        region=fields.region,
        lambda_at_edge=fields.lambda_at_edge,
        section=fields.section,
    )


def _metadata(path: Path) -> ArtifactMetadata:
    """The zip's metadata, checked: its key must end in the zip's SHA-256, which `code_sha256` must
    encode.
    """
    where = f"metadata {path}"
    metadata = read_fields(ArtifactMetadata, _read_json(path, "metadata"), where)
    sha256 = metadata.sha256
    if not SHA256_HEX.fullmatch(sha256):
        raise UserError(f"{where}: sha256 {sha256!r} is not 64 lowercase hex digits")
    if metadata.code_sha256 != base64.b64encode(bytes.fromhex(sha256)).decode("ascii"):
        raise UserError(f"{where}: code_sha256 is not the base64 of the digest in sha256")
    check_key(metadata.s3_key, where)
    if metadata.s3_key.rpartition("/")[2] != f"{sha256}.zip":
        raise UserError(f"{where}: s3_key {metadata.s3_key!r} does not end in {sha256}.zip")
    return metadata


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read {what} {path}: {error}") from error
    except json.JSONDecodeError as error:
        raise UserError(f"{what} {path} is not valid JSON: {error}") from error


def _check_distinct(values: list[str], what: str) -> None:
    repeated = sorted({value for value in values if values.count(value) > 1})
    if repeated:
        raise UserError(f"plan: more than one artifact has the {what} {repeated[0]!r}")
