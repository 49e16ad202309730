"""Deterministic JSON metadata describing a built zip."""

from __future__ import annotations

import base64
import hashlib

from repro_lambda.core.contract import KEY_SEGMENT, ArtifactMetadata, PackSpec, UserError, is_key


def validate_key_parts(logical_name: str, key_prefix: str) -> None:
    """Raise UserError unless the logical name and key prefix are safe S3 key segments."""
    if not KEY_SEGMENT.fullmatch(logical_name):
        raise UserError(
            f"invalid logical name {logical_name!r}: use letters, digits, '.', '_' and '-'"
        )
    if not is_key(key_prefix):
        raise UserError(
            f"invalid key prefix {key_prefix!r}: use '/'-separated segments of letters, digits,"
            " '.', '_', '-'"
        )


def build_metadata(
    zip_bytes: bytes,
    *,
    spec: PackSpec,
    entry_count: int,
    uncompressed_size: int,
) -> ArtifactMetadata:
    """Describe `zip_bytes`, packed for `spec`; a function's metadata names the layer zips it was
    built against (sorted by name)."""
    validate_key_parts(spec.logical_name, spec.key_prefix)
    digest = hashlib.sha256(zip_bytes)
    layers = sorted(spec.layer_artifacts, key=lambda layer: layer.logical_name)
    return ArtifactMetadata(
        logical_name=spec.logical_name,
        sha256=digest.hexdigest(),
        code_sha256=base64.b64encode(digest.digest()).decode("ascii"),
        size=len(zip_bytes),
        uncompressed_size=uncompressed_size,
        runtime=spec.runtime,
        architecture=spec.architecture,
        handler=spec.handler,
        entry_count=entry_count,
        s3_key=f"{spec.key_prefix}/{spec.logical_name}/{digest.hexdigest()}.zip",
        layers=None if spec.handler is None else tuple(layers),
    )
