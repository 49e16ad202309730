"""Host binaries reach processes by identity: no host path in the process, the same process for the
same binary anywhere on the host."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from pants.engine.process import Process, ProcessResult
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner

from repro_lambda.testutil import make_rule_runner
from repro_lambda.util_rules.host_tools import HostBinary, HostBinaryRequest, ScriptsPython


@pytest.fixture
def rule_runner() -> RuleRunner:
    return make_rule_runner(
        QueryRule(HostBinary, [HostBinaryRequest]),
        QueryRule(ScriptsPython, []),
        QueryRule(ProcessResult, [Process]),
    )


def _run(rule_runner: RuleRunner, binary: HostBinary, *args: str) -> str:
    process = Process(
        (binary.path, *args),
        description="test",
        append_only_caches=binary.caches,
        env={"PATH": binary.directory},
    )
    return rule_runner.request(ProcessResult, [process]).stdout.decode()


def test_one_binary_in_two_places_is_one_path_naming_its_identity(
    rule_runner: RuleRunner, tmp_path: Path
) -> None:
    shell = shutil.which("sh")
    assert shell
    places = [tmp_path / "a" / "sh", tmp_path / "b" / "sh"]
    for place in places:
        place.parent.mkdir()
        place.symlink_to(shell)
    binaries = {
        rule_runner.request(HostBinary, [HostBinaryRequest(str(place), "sh 1.0/x86_64")])
        for place in places
    }
    (binary,) = binaries
    assert not os.path.isabs(binary.path) and str(tmp_path) not in binary.path
    assert "sh_1.0_x86_64/sh" in binary.path
    # it runs, and its directory is a `PATH` entry in the sandbox
    path = _run(rule_runner, binary, "-c", 'echo "$PATH"').strip()
    assert path.startswith("/") and path.endswith(os.path.dirname(binary.path))


def test_the_scripts_python_is_pants_own_by_a_relative_path(rule_runner: RuleRunner) -> None:
    python = rule_runner.request(ScriptsPython, []).binary
    assert not os.path.isabs(python.path)
    version = _run(rule_runner, python, "-I", "-c", "import sys; print(sys.version_info[:2])")
    assert version.strip() == str(sys.version_info[:2])
