"""Logical names: unique across the whole repository, per catalog section, or set explicitly."""

from __future__ import annotations

import re
from textwrap import dedent

import pytest
from pants.core.goals.package import BuiltPackage
from pants.engine.addresses import Address
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.engine.target import InvalidTargetException
from pants.testutil.rule_runner import RuleRunner

from repro_lambda.core.contract import Section
from repro_lambda.goals.package import LambdaArtifactFieldSet
from repro_lambda.goals.package_layer import LambdaLayerFieldSet
from repro_lambda.nodejs.rules import NodeLambdaFieldSet
from repro_lambda.target_types import LambdaLogicalNameField
from repro_lambda.testutil import make_rule_runner
from repro_lambda.util_rules.names import (
    DuplicateLogicalName,
    LogicalName,
    LogicalNameRequest,
    RepositoryLogicalNames,
)

BILLING = Address("src/python/billing", target_name="orders")
SHOP = Address("src/python/shop", target_name="orders")
NODE = Address("src/nodejs/orders", target_name="orders")
LAYER = Address("src/python/layers", target_name="orders")
OTHER_LAYER = Address("src/python/more_layers", target_name="orders")


@pytest.fixture
def rule_runner() -> RuleRunner:
    rule_runner = make_rule_runner(
        QueryRule(LogicalName, [LogicalNameRequest]),
        QueryRule(RepositoryLogicalNames, []),
        QueryRule(BuiltPackage, [LambdaLayerFieldSet]),
        QueryRule(BuiltPackage, [NodeLambdaFieldSet]),
    )
    function = 'lambda_artifact(name="{}", handler="app.handler", runtime="python3.12"{})\n'
    layer = 'lambda_layer(name="orders", runtimes=["python3.12"])\n'
    rule_runner.write_files(
        {
            "src/python/billing/BUILD": function.format("orders", ""),
            "src/python/shop/BUILD": function.format("orders", "")
            + function.format("cafe", ', logical_name="shop-cafe"'),
            "src/python/cafe/BUILD": function.format("cafe", ""),
            "src/python/signs/BUILD": function.format("a+b", "") + function.format("a_b", ""),
            "src/python/api/BUILD": function.format(
                "api", ', architecture=parametrize("x86_64", "arm64")'
            ),
            "src/nodejs/orders/BUILD": (
                'nodejs_lambda_artifact(name="orders", handler="index.handler",'
                ' runtime="nodejs22.x")\n'
            ),
            "src/python/layers/BUILD": layer,
            "src/python/more_layers/BUILD": layer,
        }
    )
    return rule_runner


def _name(rule_runner: RuleRunner, address: Address) -> str:
    field = rule_runner.get_target(address)[LambdaLogicalNameField]
    return rule_runner.request(LogicalName, [LogicalNameRequest(address, field)]).value


def _duplicate(rule_runner: RuleRunner, address: Address) -> str:
    with pytest.raises(ExecutionError) as exc_info:
        _name(rule_runner, address)
    (error,) = exc_info.value.wrapped_exceptions
    assert isinstance(error, DuplicateLogicalName)
    return str(error)


def test_same_name_in_two_directories_names_every_owner(rule_runner: RuleRunner) -> None:
    assert _duplicate(rule_runner, BILLING) == (
        "The logical name `orders` of src/python/billing:orders is also that of"
        " src/nodejs/orders:orders, src/python/shop:orders: keys and catalog entries are named by"
        " it, so one would replace the other's. Set `logical_name` on all but one of them to a"
        " name no other target in the repository has."
    )


def test_names_that_become_one_key_collide(rule_runner: RuleRunner) -> None:
    message = _duplicate(rule_runner, Address("src/python/signs", target_name="a+b"))
    assert message.startswith(
        "The logical name `a_b` of src/python/signs:a+b is also that of src/python/signs:a_b:"
    )


def test_an_explicit_logical_name_resolves_a_collision(rule_runner: RuleRunner) -> None:
    assert _name(rule_runner, Address("src/python/cafe", target_name="cafe")) == "cafe"
    assert _name(rule_runner, Address("src/python/shop", target_name="cafe")) == "shop-cafe"


def test_layers_are_named_apart_from_functions(rule_runner: RuleRunner) -> None:
    owners = rule_runner.request(RepositoryLogicalNames, []).owners
    assert owners[Section.LAMBDAS, "orders"] == (NODE, BILLING, SHOP)
    assert owners[Section.LAYERS, "orders"] == (LAYER, OTHER_LAYER)


def test_parameters_keep_a_parametrized_target_unique(rule_runner: RuleRunner) -> None:
    names = {
        _name(
            rule_runner,
            Address("src/python/api", target_name="api", parameters={"architecture": arch}),
        )
        for arch in ("x86_64", "arm64")
    }
    assert names == {"api-x86_64", "api-arm64"}


@pytest.mark.parametrize(
    ("field_set", "address"),
    [
        (LambdaArtifactFieldSet, SHOP),
        (NodeLambdaFieldSet, NODE),
        (LambdaLayerFieldSet, LAYER),
    ],
)
def test_package_refuses_a_duplicate_name(rule_runner: RuleRunner, field_set, address) -> None:
    target = rule_runner.get_target(address)
    with pytest.raises(ExecutionError, match=re.escape(f"The logical name `orders` of {address}")):
        rule_runner.request(BuiltPackage, [field_set.create(target)])


def test_logical_name_must_be_a_key_segment(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {
            "src/python/bad/BUILD": dedent(
                """\
                lambda_artifact(
                    name="bad", handler="app.handler", runtime="python3.12", logical_name="a/b"
                )
                """
            )
        }
    )
    with pytest.raises(ExecutionError) as exc_info:
        rule_runner.get_target(Address("src/python/bad", target_name="bad"))
    (error,) = exc_info.value.wrapped_exceptions
    assert isinstance(error, InvalidTargetException)
    assert str(error).endswith(
        "The `logical_name` field in target src/python/bad:bad must be letters, digits, `.`, `_`"
        " and `-` (it names the artifact's key), but was `a/b`."
    )
