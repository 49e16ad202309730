"""The contract between the plugin and the core: what both sides read the same way."""

from __future__ import annotations

import ast
import dataclasses
import json
import sys
from pathlib import Path

import pytest

from repro_lambda.core.contract import (
    Architecture,
    PlanArtifact,
    PublishPlan,
    Section,
    StoreUrl,
    UserError,
    is_key,
    parse_store_url,
    read_fields,
)


@pytest.mark.parametrize("module", ["contract.py", "install/npm_lock.py"])
def test_what_the_plugin_imports_is_standard_library_python_3_9(module: str) -> None:
    """The plugin imports these on Pants' Python 3.9 (see BUILD), so they must parse and import
    as 3.9 does: the standard library, and the contract."""
    source = Path(__file__).parent.joinpath(module).read_text(encoding="utf-8")
    tree = ast.parse(source, feature_version=(3, 9))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    outside = {
        name
        for name in imported
        if name.split(".")[0] not in sys.stdlib_module_names | {"__future__"}
    }
    assert outside <= {"repro_lambda.core.contract"}


def test_choices_read_as_their_values() -> None:
    assert [f"{arch}" for arch in Architecture] == ["x86_64", "arm64"]
    assert [arch.npm_cpu for arch in Architecture] == ["x64", "arm64"]
    assert json.dumps({"section": Section.LAYERS}) == '{"section": "layers"}'
    assert Architecture("arm64") is Architecture.ARM64


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("lambdas/orders/ab.zip", True),
        ("a", True),
        ("a..b/c", True),
        ("", False),
        ("/a", False),
        ("a/", False),
        ("a//b", False),
        ("a/../b", False),
        ("a/./b", False),
        ("a b", False),
        ("café", False),
    ],
)
def test_is_key(key: str, valid: bool) -> None:
    assert is_key(key) is valid


def test_plan_round_trip() -> None:
    artifact = PlanArtifact(
        zip="a.zip", metadata="a.json", store="s3://b", region="eu-west-1", section="layers"
    )
    plan = PublishPlan(
        buildroot="/repo", artifacts=[artifact], catalog="builds/catalog.json", max_attempts=3
    )
    read = read_fields(PublishPlan, json.loads(plan.render()), "plan")
    assert read == dataclasses.replace(plan, artifacts=[vars(artifact)])
    assert read_fields(PlanArtifact, read.artifacts[0], "artifact") == artifact


def test_plan_defaults_and_errors() -> None:
    assert read_fields(
        PlanArtifact, {"zip": "a", "metadata": "m", "store": "s"}, "x"
    ) == PlanArtifact("a", "m", "s")
    with pytest.raises(UserError, match="^x has no 'store'$"):
        read_fields(PlanArtifact, {"zip": "a", "metadata": "m"}, "x")
    with pytest.raises(UserError, match="^x: 'region' must be a string or null, not 3$"):
        read_fields(PlanArtifact, {"zip": "a", "metadata": "m", "store": "s", "region": 3}, "x")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://my-bucket", StoreUrl("s3://my-bucket", bucket="my-bucket")),
        ("s3://my-bucket/", StoreUrl("s3://my-bucket", bucket="my-bucket")),
        (
            "s3://my.bucket-1/a/b/",
            StoreUrl("s3://my.bucket-1/a/b", bucket="my.bucket-1", prefix="a/b"),
        ),
        (
            "file://dist/lambda-store",
            StoreUrl("file://dist/lambda-store", directory=Path("/repo/dist/lambda-store")),
        ),
        ("file:///abs/store/", StoreUrl("file:///abs/store/", directory=Path("/abs/store"))),
    ],
)
def test_parse_store_url(url: str, expected: StoreUrl) -> None:
    assert parse_store_url(url, Path("/repo")) == expected


def test_locations_and_object_keys() -> None:
    prefixed = parse_store_url("s3://my-bucket/a/b/", Path("/repo"))
    assert prefixed.object_key("lambdas/x.zip") == "a/b/lambdas/x.zip"
    assert prefixed.location("lambdas/x.zip") == "s3://my-bucket/a/b/lambdas/x.zip"
    directory = parse_store_url("file:///abs/store/", Path("/repo"))
    assert (directory.object_key("lambdas/x.zip"), directory.location("lambdas/x.zip")) == (
        "lambdas/x.zip",
        "file:///abs/store/lambdas/x.zip",
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://My_Bucket", "not a valid S3 bucket name"),
        ("s3://ab", "not a valid S3 bucket name"),
        ("s3://my-bucket/../x", "must be '/'-separated segments"),
        ("s3://my-bucket/a//b", "must be '/'-separated segments"),
        ("file://", "name a directory"),
        ("https://example.com/x", "use s3://bucket[/prefix] or file://directory"),
    ],
)
def test_parse_store_url_rejects(url: str, message: str) -> None:
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_store_url(url, Path("/repo"))
