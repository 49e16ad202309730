"""Tests for the artifact metadata."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from repro_lambda.core.contract import UserError
from repro_lambda.core.metadata import build_metadata, render_metadata

ZIP_BYTES = b"PK\x05\x06" + bytes(18)


def make_metadata(**overrides: str) -> dict[str, str | int | None]:
    arguments: dict[str, Any] = {
        "logical_name": "orders-api",
        "runtime": "python3.12",
        "architecture": "arm64",
        "handler": "app.h",
    }
    arguments.update(overrides)
    return build_metadata(ZIP_BYTES, entry_count=3, uncompressed_size=1234, **arguments)


def test_metadata_describes_the_zip() -> None:
    digest = hashlib.sha256(ZIP_BYTES)
    assert make_metadata() == {
        "logical_name": "orders-api",
        "sha256": digest.hexdigest(),
        "code_sha256": base64.b64encode(digest.digest()).decode(),
        "size": len(ZIP_BYTES),
        "uncompressed_size": 1234,
        "runtime": "python3.12",
        "architecture": "arm64",
        "handler": "app.h",
        "entry_count": 3,
        "s3_key": f"lambdas/orders-api/{digest.hexdigest()}.zip",
    }


@pytest.mark.parametrize("logical_name", ["_private", "fn-x86_64", "v1.2", "..."])
def test_accepts_sanitised_target_names(logical_name: str) -> None:
    assert make_metadata(logical_name=logical_name)["logical_name"] == logical_name


def test_key_prefix_is_a_parameter() -> None:
    metadata = make_metadata(key_prefix="layers")
    assert metadata["s3_key"] == f"layers/orders-api/{metadata['sha256']}.zip"


@pytest.mark.parametrize("logical_name", ["", "a/b", ".", "..", "name with space", "ü"])
def test_refuses_unsafe_logical_names(logical_name: str) -> None:
    with pytest.raises(UserError, match="invalid logical name"):
        make_metadata(logical_name=logical_name)


@pytest.mark.parametrize("key_prefix", ["", "/lambdas", "lambdas/", "a//b", "../x", "a/./b"])
def test_refuses_unsafe_key_prefixes(key_prefix: str) -> None:
    with pytest.raises(UserError, match="invalid key prefix"):
        make_metadata(key_prefix=key_prefix)


def test_rendering_is_sorted_indented_ascii_with_trailing_newline() -> None:
    metadata = make_metadata(handler="häandler.main")
    text = render_metadata(metadata)
    assert text.isascii()
    assert text.endswith("}\n")
    assert text.startswith('{\n  "architecture": "arm64",\n')
    assert list(json.loads(text)) == sorted(metadata)
    assert json.loads(text) == metadata
