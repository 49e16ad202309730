"""The layer builder service and `lambda_layer` make the same zips from the same pins."""

import json
import os
from pathlib import Path

import pytest
from layer_builder.build_request import BuildRequest
from layer_builder.builder import PexSettings, build_layers

from e2e.checkout import Build


def test_the_service_builds_the_science_layer_byte_for_byte(
    first_build: Build, tmp_path: Path
) -> None:
    lock = json.loads(
        (first_build.checkout / "3rdparty/python/lambdas.lambda-platforms.lock").read_text()
    )
    (numpy,) = {
        f"numpy=={requirement['version']}"
        for resolve in lock["locked_resolves"]
        for requirement in resolve["locked_requirements"]
        if requirement["project_name"] == "numpy"
    }
    request = BuildRequest((numpy,), "3.13", ("x86_64", "arm64"), single_file=True)
    settings = PexSettings(tmp_path / "pex", cert=os.environ.get("PANTS_CA_CERTS_PATH"))
    built = build_layers(request, tmp_path / "build", settings)

    assert [z.architecture for z in built.zips] == ["x86_64", "arm64"]
    for layer in built.zips:
        by_pants = (
            first_build.dist / f"src.python.layers/science-python3.13-{layer.architecture}.zip"
        )
        assert layer.path.read_bytes() == by_pants.read_bytes()


@pytest.mark.parametrize(
    ("requirement", "layer_zip"),
    [
        ("feedparser==6.0.11", "feedparser-python3.13-arm64.zip"),
        ("crcmod==1.7", "crcmod-python3.13-arm64.zip"),
    ],
)
def test_the_service_builds_a_layer_with_an_sdist_byte_for_byte(
    first_build: Build, tmp_path: Path, requirement: str, layer_zip: str
) -> None:
    """feedparser's dependency sgmllib3k publishes only an sdist, and crcmod only an sdist with a
    C extension, which both cross-compile for arm64: both build their wheels alike."""
    request = BuildRequest((requirement,), "3.13", ("arm64",), single_file=True)
    settings = PexSettings(tmp_path / "pex", cert=os.environ.get("PANTS_CA_CERTS_PATH"))
    (layer,) = build_layers(request, tmp_path / "build", settings).zips
    by_pants = first_build.dist / "src.python.feeds" / layer_zip
    assert layer.path.read_bytes() == by_pants.read_bytes()
