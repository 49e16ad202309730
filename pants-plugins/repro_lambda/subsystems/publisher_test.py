"""`[lambda-publish]`: the derived edge store, and the publishing guide's account of the options."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pants.option.option_types import _OptionBase
from pants.testutil.option_util import create_subsystem

from repro_lambda.subsystems.publisher import AWS_ENV_VARS, LambdaPublisher

GUIDE = Path("docs/publishing.md")


@pytest.mark.parametrize(
    "store, edge_store",
    [
        ("s3://artifacts", "s3://artifacts-us-east-1"),
        ("s3://artifacts/team/a", "s3://artifacts-us-east-1/team/a"),
        ("file://dist/lambda-store", "file://dist/lambda-store-us-east-1"),
        ("file:///var/store/", "file:///var/store-us-east-1"),
    ],
)
def test_edge_store_defaults_to_the_store_in_us_east_1(store: str, edge_store: str) -> None:
    publisher = create_subsystem(LambdaPublisher, store=store, edge_store=None)
    assert publisher.edge_store_url() == edge_store


def test_explicit_edge_store() -> None:
    publisher = create_subsystem(LambdaPublisher, store="s3://a", edge_store="s3://edge-artifacts")
    assert publisher.edge_store_url() == "s3://edge-artifacts"


def test_guide_shows_every_option_and_passed_variable() -> None:
    text = GUIDE.read_text()
    (config,) = re.findall(r"^```toml\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    options = {
        name for name, value in vars(LambdaPublisher).items() if isinstance(value, _OptionBase)
    }
    assert config.startswith("[lambda-publish]\n")
    assert set(re.findall(r"^(\w+) = ", config, re.MULTILINE)) == options
    assert all(f"| `{option}` |" in text for option in options)
    listed = re.search(r"Pants passes exactly these variables.*?\n\n(.*?)\n\n", text, re.DOTALL)
    assert listed and set(re.findall(r"`([A-Za-z0-9_]+)`", listed.group(1))) == set(AWS_ENV_VARS)
