"""Batch-mates: a user error fails only its own lambda's `package`, a bug fails the batch."""

from __future__ import annotations

from textwrap import dedent
from typing import Any

import pytest
from pants.core.goals.package import BuiltPackage
from pants.engine.addresses import Address
from pants.engine.internals.scheduler import ExecutionError
from pants.testutil.rule_runner import QueryRule, RuleRunner

from repro_lambda.errors import LambdaFieldError
from repro_lambda.goals import package as package_rules
from repro_lambda.goals.package import LambdaArtifactFieldSet
from repro_lambda.testutil import make_rule_runner
from repro_lambda.util_rules.batches import LambdaBatches

GOOD = Address("src/python/app", target_name="good")
MATE = Address("src/python/app", target_name="mate")


def rule_runner_with_mate(mate_handler: str) -> RuleRunner:
    """`good` and `mate`, two lambdas of one BUILD directory, and so of one batch."""
    rule_runner = make_rule_runner(QueryRule(LambdaBatches, []))
    rule_runner.write_files(
        {
            "src/python/app/BUILD": dedent(
                f"""\
                python_sources()
                lambda_artifact(name="good", handler="app.handler.handler", runtime="python3.12")
                lambda_artifact(name="mate", handler="{mate_handler}", runtime="python3.12")
                """
            ),
            "src/python/app/__init__.py": "",
            "src/python/app/handler.py": "def handler(event, context):\n    return 1\n",
        }
    )
    batch = rule_runner.request(LambdaBatches, []).by_address[GOOD]
    assert {field_set.address for field_set in batch} == {GOOD, MATE}
    return rule_runner


def package(rule_runner: RuleRunner, address: Address) -> BuiltPackage:
    field_set = LambdaArtifactFieldSet.create(rule_runner.get_target(address))
    return rule_runner.request(BuiltPackage, [field_set])


def test_a_batch_mates_user_error_fails_only_its_own_package() -> None:
    rule_runner = rule_runner_with_mate("app.handlr.handler")
    assert package(rule_runner, GOOD).artifacts[0].relpath == "src.python.app/good.zip"
    with pytest.raises(ExecutionError) as exc_info:
        package(rule_runner, MATE)
    (error,) = exc_info.value.wrapped_exceptions
    assert isinstance(error, LambdaFieldError) and "`app.handlr`" in str(error)


def test_a_bug_while_preparing_a_batch_mate_fails_the_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An exception that is no `LambdaUserError` is not swallowed: `good` fails with it."""
    real = package_rules.PackLambdaRequest

    def buggy(address: Address, **fields: Any) -> package_rules.PackLambdaRequest:
        if address == MATE:
            raise RuntimeError("a bug while preparing the mate")
        return real(address, **fields)

    monkeypatch.setattr(package_rules, "PackLambdaRequest", buggy)
    rule_runner = rule_runner_with_mate("app.handler.handler")
    with pytest.raises(ExecutionError) as exc_info:
        package(rule_runner, GOOD)
    (error,) = exc_info.value.wrapped_exceptions
    assert isinstance(error, RuntimeError) and str(error) == "a bug while preparing the mate"
