"""Canaries for the Pants 2.17 behaviours `workarounds` relies on: if one fails after a Pants
upgrade, read that module's docstring and fix or drop the workaround."""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import os
from pathlib import Path

import pytest
from packaging.version import Version
from pants.backend.python.util_rules.pex_cli import PexCli
from pants.base.specs import AddressLiteralSpec
from pants.engine.fs import (
    CreateDigest,
    Digest,
    DigestContents,
    FileContent,
    FileDigest,
    NativeDownloadFile,
    PathGlobs,
    Snapshot,
)
from pants.engine.process import InteractiveProcess, Process, ProcessResult
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner, mock_console

from repro_lambda import workarounds
from repro_lambda.workarounds import WORKAROUNDS, CommandLineSpecs, with_secret_env

PLUGIN_DIR = Path(__file__).parent


def test_every_workaround_names_a_canary_that_exists() -> None:
    for workaround in WORKAROUNDS:
        path, _, name = workaround.canary.partition("::")
        tree = ast.parse((PLUGIN_DIR / path).read_text())
        tests = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert name in tests, workaround.canary


def test_pants_default_pex_predates_the_fix() -> None:
    """Why `[lambda-pex]` and the platform lock exist: once Pants' own pex installs locked wheels
    for a foreign Python from an empty cache (pex 2.3.1), they can go."""
    assert Version(PexCli.default_version.lstrip("v")) < Version("2.3.1")


def test_large_files_show_as_executable_in_a_local_sandbox() -> None:
    """Why the packer reads the executables from the digest: a large file that is not executable
    in its digest runs as executable in a local sandbox."""
    rule_runner = RuleRunner(
        rules=[QueryRule(Digest, [CreateDigest]), QueryRule(ProcessResult, [Process])]
    )
    files = [FileContent(name, b"x" * size) for name, size in (("small", 1), ("large", 1 << 20))]
    digest = rule_runner.request(Digest, [CreateDigest(files)])
    script = "for f in small large; do if [ -x $f ]; then echo $f; fi; done"
    result = rule_runner.request(
        ProcessResult,
        [Process(("/bin/sh", "-c", script), description="modes", input_digest=digest)],
    )
    assert result.stdout.split() == [b"large"]


def test_globs_follow_symlinks(tmp_path: Path) -> None:
    """Why `without_symlinks` exists: a glob finds a symlinked file as a regular file."""
    rule_runner = RuleRunner(rules=[QueryRule(Snapshot, [PathGlobs])])
    rule_runner.write_files({"src/real.py": "x = 1\n"})
    os.symlink("real.py", os.path.join(rule_runner.build_root, "src/link.py"))
    snapshot = rule_runner.request(Snapshot, [PathGlobs(["src/*.py"])])
    assert snapshot.files == ("src/link.py", "src/real.py")


def test_processes_can_wait_for_the_remote_cache() -> None:
    """`WAIT_FOR_REMOTE_CACHE_MILLIS` needs Pants' per-process speculation delay."""
    fields = {field.name for field in dataclasses.fields(Process)}
    assert "remote_cache_speculation_delay_millis" in fields


def test_the_engine_remembers_a_download_by_its_path(tmp_path: Path) -> None:
    """What the private download relies on: once the engine has fetched a `file://` URL with its
    digest, it asks for it again without reading the file (so the file may go)."""
    rule_runner = RuleRunner(
        rules=[QueryRule(Digest, [NativeDownloadFile]), QueryRule(DigestContents, [Digest])]
    )
    content = b"the asset"
    file = tmp_path / hashlib.sha256(content).hexdigest()
    file.write_bytes(content)
    file_digest = FileDigest(hashlib.sha256(content).hexdigest(), len(content))
    first = rule_runner.request(Digest, [NativeDownloadFile(file.as_uri(), file_digest)])
    file.unlink()
    probe = NativeDownloadFile(file.as_uri(), file_digest, {"x-probe": "1"})
    again = rule_runner.request(Digest, [probe])
    assert again == first
    assert rule_runner.request(DigestContents, [again])[0].content == content


def _command_line_specs(args: list[str], pwd: str | None) -> CommandLineSpecs:
    """The specs `command_line_specs` reads from `args`, with `pwd` relative to the build root."""
    rule_runner = RuleRunner(rules=[*workarounds.rules(), QueryRule(CommandLineSpecs, [])])
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
