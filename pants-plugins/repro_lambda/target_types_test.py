"""`lambda_artifact` field validation and parametrization, from BUILD files."""

from __future__ import annotations

import re
from textwrap import dedent

import pytest
from pants.engine.addresses import Address
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.target import AllTargets, InvalidTargetException, Target
from pants.help.help_info_extracter import TargetFieldHelpInfo
from pants.testutil.rule_runner import RuleRunner

from repro_lambda import register
from repro_lambda.target_types import (
    LambdaArchitectureField,
    LambdaArtifactTarget,
    LambdaHandlerField,
    LambdaRuntimeField,
)
from repro_lambda.util_rules.names import logical_name


def _build_error(rule_runner: RuleRunner, fields: str) -> str:
    """The error of `lambda_artifact(name="bad", <fields>)` in src/python/orders/BUILD."""
    rule_runner.write_files({"src/python/orders/BUILD": f'lambda_artifact(name="bad", {fields})\n'})
    with pytest.raises(ExecutionError) as exc_info:
        rule_runner.get_target(Address("src/python/orders", target_name="bad"))
    (error,) = exc_info.value.wrapped_exceptions
    assert isinstance(error, InvalidTargetException)
    assert str(error).startswith("src/python/orders/BUILD:1: ")
    return str(error)


@pytest.mark.parametrize(
    "fields, alias, bad_value",
    [
        ('handler="orders", runtime="python3.12"', "handler", "orders"),
        ('handler="orders:handler", runtime="python3.12"', "handler", "orders:handler"),
        ('handler="orders.api.", runtime="python3.12"', "handler", "orders.api."),
        ('handler="orders.api.handler", runtime="python3.8"', "runtime", "python3.8"),
        ('handler="orders.api.handler", runtime="nodejs99"', "runtime", "nodejs99"),
        (
            'handler="orders.api.handler", runtime="python3.12", architecture="sparc"',
            "architecture",
            "sparc",
        ),
        *(
            (
                f'handler="orders.api.handler", runtime="python3.12", output_path="{path}"',
                "output_path",
                path,
            )
            for path in ("/tmp/orders.zip", "../orders.zip", "zips/../../orders.zip")
        ),
    ],
)
def test_invalid_field_value(
    rule_runner: RuleRunner, fields: str, alias: str, bad_value: str
) -> None:
    """A bad value is reported with the field's alias, the target's address and the value."""
    message = _build_error(rule_runner, fields)
    assert re.search(rf"[`']{alias}[`'] field in target src/python/orders:bad\b", message)
    assert re.search(rf"[`']{re.escape(bad_value)}[`']", message)


@pytest.mark.parametrize(
    "fields, alias",
    [('runtime="python3.12"', "handler"), ('handler="orders.api.handler"', "runtime")],
)
def test_required_field_missing(rule_runner: RuleRunner, fields: str, alias: str) -> None:
    message = _build_error(rule_runner, fields)
    assert f"'{alias}' field in target src/python/orders:bad must be defined" in message


def test_valid_fields_and_defaults(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {
            "src/python/orders/BUILD": dedent(
                """\
                lambda_artifact(
                    name="api", handler="orders.api.lambda_handler", runtime="python3.13"
                )
                """
            )
        }
    )
    tgt = rule_runner.get_target(Address("src/python/orders", target_name="api"))
    handler = tgt[LambdaHandlerField]
    assert (handler.module, handler.function) == ("orders.api", "lambda_handler")
    assert tgt[LambdaRuntimeField].value == "python3.13"
    assert tgt[LambdaArchitectureField].value == "x86_64"


def test_parametrize_architecture_and_runtime(rule_runner: RuleRunner) -> None:
    """`parametrize` creates one target per combination, each with a distinct logical name."""
    rule_runner.write_files(
        {
            "src/python/stats/BUILD": dedent(
                """\
                lambda_artifact(
                    name="stats",
                    handler="stats.handler.lambda_handler",
                    runtime=parametrize("python3.11", "python3.12"),
                    architecture=parametrize("x86_64", "arm64"),
                )
                """
            )
        }
    )
    targets = {
        tgt.address: tgt
        for tgt in rule_runner.request(AllTargets, [])
        if isinstance(tgt, LambdaArtifactTarget)
    }
    expected = {
        Address(
            "src/python/stats",
            target_name="stats",
            parameters={"architecture": arch, "runtime": runtime},
        ): (runtime, arch)
        for runtime in ("python3.11", "python3.12")
        for arch in ("x86_64", "arm64")
    }
    assert {
        address: (tgt[LambdaRuntimeField].value, tgt[LambdaArchitectureField].value)
        for address, tgt in targets.items()
    } == expected
    assert sorted(logical_name(address) for address in targets) == [
        "stats-arm64-python3.11",
        "stats-arm64-python3.12",
        "stats-x86_64-python3.11",
        "stats-x86_64-python3.12",
    ]


def test_lambda_at_edge_requires_x86_64(rule_runner: RuleRunner) -> None:
    message = _build_error(
        rule_runner,
        (
            'handler="orders.api.handler", runtime="python3.12", architecture="arm64",'
            " lambda_at_edge=True"
        ),
    )
    assert "src/python/orders:bad" in message
    assert "Lambda@Edge runs only on x86_64" in message
    assert 'set `architecture="x86_64"`' in message


def test_hash_extra_is_checked_against_the_zip_comment_limit(rule_runner: RuleRunner) -> None:
    """Up front, in bytes: 32,768 `é` are 65,536 bytes of UTF-8, one over a zip comment's limit."""
    fields = 'handler="orders.api.handler", runtime="python3.12", hash_extra="{}"'
    message = _build_error(rule_runner, fields.format("é" * 32_768))
    assert (
        "The `hash_extra` field in target src/python/orders:bad is 65,536 bytes (UTF-8), over the"
        " 65,535-byte limit of the zip comment it becomes: shorten it." in message
    )
    rule_runner.write_files(
        {"src/python/orders/BUILD": f'lambda_artifact(name="ok", {fields.format("x" * 65_535)})'}
    )
    rule_runner.get_target(Address("src/python/orders", target_name="ok"))


@pytest.mark.parametrize("target_type", register.target_types())
def test_every_field_has_help(target_type: type[Target]) -> None:
    """`pants help <target>` can describe every field (it reads `compute_value`'s type hints)."""
    for field in target_type.core_fields:
        info = TargetFieldHelpInfo.create(field, provider="repro_lambda")
        assert info.description, f"{target_type.alias}.{field.alias} has no help"


def test_smoke_import_needs_the_resolves_boto3(rule_runner: RuleRunner) -> None:
    message = _build_error(
        rule_runner,
        'handler="orders.api.handler", runtime="python3.12", smoke_import=True, runtime_boto3=True',
    )
    assert "src/python/orders:bad sets both `smoke_import=True` and `runtime_boto3=True`" in message
    assert "add boto3 to the `resolve` and drop `runtime_boto3`, or drop `smoke_import`" in message
