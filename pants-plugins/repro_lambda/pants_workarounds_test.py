"""Canaries for the Pants 2.17 behaviours `pants_workarounds` relies on: if one fails after a Pants
upgrade, read that module's docstring and fix or drop the workaround."""

from __future__ import annotations

import os

import pytest
from pants.base.specs import AddressLiteralSpec
from pants.engine.process import InteractiveProcess
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner, mock_console

from repro_lambda import pants_workarounds
from repro_lambda.pants_workarounds import CommandLineSpecs, with_secret_env


def _command_line_specs(args: list[str], pwd: str | None) -> CommandLineSpecs:
    """The specs `command_line_specs` reads from `args`, with `pwd` relative to the build root."""
    rule_runner = RuleRunner(rules=[*pants_workarounds.rules(), QueryRule(CommandLineSpecs, [])])
    env = {} if pwd is None else {"PWD": os.path.join(rule_runner.build_root, pwd)}
    rule_runner.set_options(args, env=env)
    return rule_runner.request(CommandLineSpecs, [])


def test_command_line_specs_are_read_relative_to_the_shell_directory() -> None:
    specs = _command_line_specs(["publish", "shop:api"], pwd="src").specs
    assert specs is not None
    assert specs.includes.address_literals == (AddressLiteralSpec("src/shop", "api"),)


@pytest.mark.parametrize("pwd", [None, "..", "/"])
def test_command_line_specs_are_unknown_without_a_shell_directory_in_the_build_root(pwd) -> None:
    assert _command_line_specs(["publish", "shop:api"], pwd=pwd).specs is None


def test_pants_shows_environment_values_in_a_process_repr() -> None:
    """Why `with_secret_env` exists: if this fails, Pants hides them itself and it can go."""
    assert "s3cr3t" in repr(InteractiveProcess(["true"], env={"SECRET": "s3cr3t"}))


def test_secret_env_reaches_the_process_but_not_its_repr() -> None:
    # The script spells the value in two parts, so that only the environment holds it whole.
    process = with_secret_env(
        InteractiveProcess(["/bin/sh", "-c", 'test "$SECRET" = "s3""cr3t"']), {"SECRET": "s3cr3t"}
    )
    assert "s3cr3t" not in repr(process)
    rule_runner = RuleRunner()
    with mock_console(rule_runner.options_bootstrapper):
        assert rule_runner.run_interactive_process(process).exit_code == 0
