"""Dependency inference from a `lambda_artifact`'s handler to its module."""

from __future__ import annotations

from textwrap import dedent

import pytest
from pants.engine.addresses import Address
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.target import InferredDependencies, InvalidFieldException
from pants.testutil.rule_runner import RuleRunner

from repro_lambda.util_rules.handler import (
    InferLambdaHandlerDependency,
    LambdaHandlerInferenceFieldSet,
)

FILES = {
    "src/python/app/__init__.py": "",
    "src/python/app/handler.py": "def lambda_handler(event, context):\n    pass\n",
    "src/python/app/pkg/__init__.py": "def lambda_handler(event, context):\n    pass\n",
}


def infer(rule_runner: RuleRunner, handler: str, extra_build: str = "") -> InferredDependencies:
    rule_runner.write_files(
        {
            **FILES,
            "src/python/app/BUILD": (
                dedent(
                    f"""\
                python_sources(name="lib", sources=["**/*.py"])
                lambda_artifact(name="fn", handler="{handler}", runtime="python3.12")
                """
                )
                + extra_build
            ),
        }
    )
    tgt = rule_runner.get_target(Address("src/python/app", target_name="fn"))
    field_set = LambdaHandlerInferenceFieldSet.create(tgt)
    return rule_runner.request(InferredDependencies, [InferLambdaHandlerDependency(field_set)])


@pytest.mark.parametrize(
    "handler, owner",
    [
        ("app.handler.lambda_handler", "handler.py"),
        ("app.pkg.lambda_handler", "pkg/__init__.py"),
    ],
)
def test_infers_the_handler_module(rule_runner: RuleRunner, handler: str, owner: str) -> None:
    inferred = infer(rule_runner, handler)
    assert list(inferred.include) == [
        Address("src/python/app", target_name="lib", relative_file_path=owner)
    ]


def test_ambiguous_handler_module(rule_runner: RuleRunner) -> None:
    extra = 'python_source(name="copy", source="handler.py")\n'
    with pytest.raises(ExecutionError) as exc_info:
        infer(rule_runner, "app.handler.lambda_handler", extra)
    (error,) = exc_info.value.wrapped_exceptions
    assert isinstance(error, InvalidFieldException)
    assert str(error).startswith(
        "The `handler` field in target src/python/app:fn names the module `app.handler`, which "
        "is provided by more than one target: "
    )
    assert "src/python/app:copy" in str(error)
    assert "src/python/app/handler.py:lib" in str(error)


@pytest.mark.parametrize(
    "handler",
    [
        "nowhere.api.lambda_handler",
        "app.missing.lambda_handler",
    ],
)
def test_handler_module_not_found(rule_runner: RuleRunner, handler: str) -> None:
    module = handler.rpartition(".")[0]
    with pytest.raises(ExecutionError) as exc_info:
        infer(rule_runner, handler)
    (error,) = exc_info.value.wrapped_exceptions
    assert isinstance(error, InvalidFieldException)
    assert (
        str(error)
        == f"The `handler` field in target src/python/app:fn names the module `{module}`, which is "
        "not provided by any `python_source` in the `lambdas` resolve. Check the spelling, and "
        f"that `{module.replace('.', '/')}.py` (relative to a source root) is owned by a "
        "`python_sources` target."
    )
