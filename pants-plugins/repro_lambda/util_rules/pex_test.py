"""The plugin's pex processes: the pip they resolve with, the layer builder's by default."""

from __future__ import annotations

from pants.engine.process import Process
from pants.engine.rules import QueryRule

from repro_lambda.core.install.pex_args import PIP_VERSION, RUN_PEX3
from repro_lambda.testutil import ENV_INHERIT, lambda_options, make_rule_runner
from repro_lambda.util_rules.pex import LambdaPexProcess


def _pip_args(process: Process) -> list[str]:
    return [arg for arg in process.argv if arg.startswith("--pip-version")]


def test_the_pip_is_pants_pip_version_by_default_the_core_one() -> None:
    rule_runner = make_rule_runner(QueryRule(Process, [LambdaPexProcess]))
    venv = LambdaPexProcess(("venv", "create"), ("--no-build",), "installing")
    process = rule_runner.request(Process, [venv])
    assert process.argv[2:5] == ("-c", RUN_PEX3, "__lambda_pex")
    assert process.argv[5:9] == ("venv", "create", "--tmpdir", ".tmp")
    assert process.argv[-1] == "--no-build"
    assert _pip_args(process) == [f"--pip-version={PIP_VERSION}"]

    inspect = LambdaPexProcess(("interpreter", "inspect"), (), "inspecting", resolves=False)
    assert _pip_args(rule_runner.request(Process, [inspect])) == []

    rule_runner.set_options(
        [*lambda_options(), "--python-pip-version=23.1.1"], env_inherit=ENV_INHERIT
    )
    assert _pip_args(rule_runner.request(Process, [venv])) == ["--pip-version=23.1.1"]
