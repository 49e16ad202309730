"""Tests for the artifact metadata."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from repro_lambda.core.contract import ArtifactMetadata, LayerArtifact, PackSpec, UserError
from repro_lambda.core.pack.metadata import build_metadata

ZIP_BYTES = b"PK\x05\x06" + bytes(18)


def make_metadata(**overrides: Any) -> ArtifactMetadata:
    arguments: dict[str, Any] = {
        "logical_name": "orders-api",
        "runtime": "python3.12",
        "architecture": "arm64",
        "handler": "app.h",
    }
    arguments.update(overrides)
    return build_metadata(
        ZIP_BYTES, spec=PackSpec(**arguments), entry_count=3, uncompressed_size=1234
    )


def test_metadata_describes_the_zip() -> None:
    digest = hashlib.sha256(ZIP_BYTES)
    assert json.loads(make_metadata().render()) == {
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
        "layers": [],
    }


def test_a_layer_has_no_layers_and_a_function_names_its_layers_sorted() -> None:
    layers = [LayerArtifact(name, "ab" * 32, f"layers/{name}/{'ab' * 32}.zip") for name in "ba"]
    layer = json.loads(make_metadata(handler=None, key_prefix="layers").render())
    assert "layers" not in layer and layer["handler"] is None
    function = make_metadata(layer_artifacts=tuple(layers))
    assert function.layers == tuple(reversed(layers))


def test_metadata_reads_back_as_it_was_written() -> None:
    for metadata in (make_metadata(), make_metadata(handler=None)):
        assert ArtifactMetadata.parse(metadata.render(), "m") == metadata


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"size": "12"}, "m: 'size' must be an integer, not \"12\""),
        ({"handler": 3}, "m: 'handler' must be a string or null, not 3"),
        ({"layers": [{"logical_name": "a"}]}, "m: 'layers'[0] has no 'sha256'"),
    ],
)
def test_metadata_of_another_shape_is_a_user_error_naming_the_field(
    change: dict[str, Any], message: str
) -> None:
    fields = {**json.loads(make_metadata().render()), **change}
    with pytest.raises(UserError) as error:
        ArtifactMetadata.parse(json.dumps(fields), "m")
    assert str(error.value) == message


@pytest.mark.parametrize("logical_name", ["_private", "fn-x86_64", "v1.2", "..."])
def test_accepts_sanitised_target_names(logical_name: str) -> None:
    assert make_metadata(logical_name=logical_name).logical_name == logical_name


def test_key_prefix_is_a_parameter() -> None:
    metadata = make_metadata(key_prefix="layers")
    assert metadata.s3_key == f"layers/orders-api/{metadata.sha256}.zip"


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
    text = metadata.render()
    assert text.isascii()
    assert text.endswith("}\n")
    assert text.startswith('{\n  "architecture": "arm64",\n')
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert json.loads(text)["handler"] == "häandler.main"
