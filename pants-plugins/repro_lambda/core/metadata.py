"""Deterministic JSON metadata describing a built zip."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from repro_lambda.core.contract import KEY_SEGMENT, Section, UserError, is_key


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
    logical_name: str,
    runtime: str,
    architecture: str,
    handler: str | None,
    entry_count: int,
    uncompressed_size: int,
    key_prefix: str = Section.LAMBDAS.value,
    layers: Sequence[Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """Describe `zip_bytes`; `code_sha256` is the base64 SHA-256 digest, as Lambda's CodeSha256.

    A function's metadata names the layer zips it was built against (`layers`, sorted)."""
    validate_key_parts(logical_name, key_prefix)
    digest = hashlib.sha256(zip_bytes)
    return {
        "logical_name": logical_name,
        "sha256": digest.hexdigest(),
        "code_sha256": base64.b64encode(digest.digest()).decode("ascii"),
        "size": len(zip_bytes),
        "uncompressed_size": uncompressed_size,
        "runtime": runtime,
        "architecture": architecture,
        "handler": handler,
        "entry_count": entry_count,
        "s3_key": f"{key_prefix}/{logical_name}/{digest.hexdigest()}.zip",
        **({} if layers is None else {"layers": _sorted_layers(layers)}),
    }


def _sorted_layers(layers: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    return sorted((dict(layer) for layer in layers), key=lambda layer: layer["logical_name"])


def render_metadata(metadata: Mapping[str, Any]) -> str:
    """Serialise metadata as ASCII-safe JSON with sorted keys, indent 2 and a trailing newline."""
    return json.dumps(metadata, sort_keys=True, indent=2, ensure_ascii=True) + "\n"
