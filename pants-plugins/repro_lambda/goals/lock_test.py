"""The `lambda-lock` goal: platform locks pinned to the resolve, and its errors."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from textwrap import dedent

import pytest
from pants.backend.python.util_rules.pex_requirements import (
    ResolvePexConfig,
    strip_comments_from_pex_json_lockfile,
)
from pants.engine.internals.scheduler import ExecutionError
from pants.testutil.rule_runner import RuleRunner
from pants.util.ordered_set import FrozenOrderedSet

from repro_lambda.core.install.pex_args import index_args
from repro_lambda.goals.lock import resolve_index_args
from repro_lambda.testutil import (
    LAMBDAS_LOCK,
    PLATFORM_LOCK,
    numpy_lambda_files,
    pants_lockfile,
    run_lambda_lock,
)
from repro_lambda.util_rules.platform_lock import LambdaLockError, platform_lock_path


def test_platform_lock_path() -> None:
    assert platform_lock_path(LAMBDAS_LOCK) == PLATFORM_LOCK


def test_lock_pins_the_resolve_for_each_platform_in_use(numpy_rule_runner: RuleRunner) -> None:
    """One strict resolve per runtime x architecture, at the resolve lockfile's versions."""
    resolve_lockfile = Path(numpy_rule_runner.build_root, LAMBDAS_LOCK).read_bytes()
    resolve = json.loads(strip_comments_from_pex_json_lockfile(resolve_lockfile))
    (version,) = {
        req["version"]
        for locked_resolve in resolve["locked_resolves"]
        for req in locked_resolve["locked_requirements"]
        if req["project_name"] == "numpy"
    }
    lock = json.loads(numpy_rule_runner.read_file(PLATFORM_LOCK))
    metadata = lock["repro_lambda"]
    assert sorted(metadata["platforms"].values()) == ["python3.12-arm64", "python3.12-x86_64"]
    assert metadata["requirements"] == ["numpy<2.3,>=2.2"]
    assert metadata["resolve_lockfile_sha256"] == hashlib.sha256(resolve_lockfile).hexdigest()
    numpy_wheels = {
        tuple(resolve["platform_tag"]): [
            (req["version"], [artifact["url"].rsplit("/", 1)[1] for artifact in req["artifacts"]])
            for req in resolve["locked_requirements"]
            if req["project_name"] == "numpy"
        ]
        for resolve in lock["locked_resolves"]
    }
    assert set(numpy_wheels) == {
        ("cp312", "cp312", "manylinux_2_34_aarch64"),
        ("cp312", "cp312", "manylinux_2_34_x86_64"),
    }
    for (_, _, platform), [(locked_version, [wheel])] in numpy_wheels.items():
        assert locked_version == version
        assert wheel.startswith(f"numpy-{version}-cp312-cp312-manylinux")
        assert wheel.endswith(f"_{platform.removeprefix('manylinux_2_34_')}.whl")


def test_nothing_to_lock(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {
            "src/python/app/BUILD": dedent(
                """\
                python_sources(name="lib")
                lambda_artifact(
                    name="fn", handler="app.handler.lambda_handler", runtime="python3.12"
                )
                """
            ),
            "src/python/app/handler.py": "def lambda_handler(event, context):\n    pass\n",
        }
    )
    stdout = run_lambda_lock(rule_runner)
    assert (
        stdout
        == "No lambda_artifact or lambda_layer has third-party requirements: nothing to lock.\n"
    )
    assert not Path(rule_runner.build_root, PLATFORM_LOCK).exists()


@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
def test_no_wheel_for_the_runtime(rule_runner: RuleRunner, architecture: str) -> None:
    """numpy 2.3.0 only has manylinux_2_28 wheels, too new for python3.11's glibc 2.26."""
    rule_runner.write_files(
        {
            LAMBDAS_LOCK: pants_lockfile({"numpy": "2.3.0"}),
            **numpy_lambda_files("numpy==2.3.0", '"python3.11"', f'"{architecture}"'),
        }
    )
    with pytest.raises(ExecutionError) as exc_info:
        run_lambda_lock(rule_runner)
    (error,) = exc_info.value.wrapped_exceptions
    assert isinstance(error, LambdaLockError)
    assert str(error).startswith("The `lambdas` resolve pins `numpy==2.3.0`, which")
    assert f"has no wheel for python3.11-{architecture} (wheels fit " in str(error)


def test_a_pin_that_predates_the_runtime(rule_runner: RuleRunner) -> None:
    """numpy 2.2.6 came out before CPython 3.14: it has no cp314 wheel. pip calls that a conflict
    between `numpy<2.3 and >=2.2` and the pin: the error names the pin and the platform, not pip's
    resolver dump with its sandbox paths."""
    rule_runner.write_files(
        {
            LAMBDAS_LOCK: pants_lockfile({"numpy": "2.2.6"}),
            **numpy_lambda_files(
                "numpy>=2.2,<2.3", 'parametrize("python3.12", "python3.14")', '"x86_64"'
            ),
        }
    )
    with pytest.raises(ExecutionError) as exc_info:
        run_lambda_lock(rule_runner)
    (error,) = exc_info.value.wrapped_exceptions
    assert isinstance(error, LambdaLockError)
    assert str(error).startswith(
        "The `lambdas` resolve pins `numpy==2.2.6` (for `numpy<2.3,>=2.2`), which has no wheel for"
        " python3.14-x86_64 (wheels fit the runtime's Python ABI and its glibc's manylinux window),"
        " and locking its sdist failed. Require a version that publishes one and run `pants"
        " generate-lockfiles --resolve=lambdas`, or give the lambdas on python3.14-x86_64 a"
        " resolve of their own (their `resolve` field): runtimes with different glibc or ABI"
        " windows may need different pins. pip said:\n"
    )


def test_the_lock_drops_only_the_manylinux_option_of_the_resolve() -> None:
    """Indexes, find-links and path mappings stay, even with `manylinux` in them: the complete
    platforms say which wheels fit. They are the layer builder's arguments for the same index."""
    mirror = "https://mirror.example/manylinux/simple/"
    wheels = "https://files.example/manylinux-wheels/"
    config = ResolvePexConfig(
        indexes=(mirror,),
        find_links=(wheels,),
        manylinux="manylinux2014",
        constraints_file=None,
        only_binary=FrozenOrderedSet(),
        no_binary=FrozenOrderedSet(),
        path_mappings=("WHEELS|/srv/manylinux",),
    )
    expected = (
        "--no-pypi",
        f"--index={mirror}",
        f"--find-links={wheels}",
        "--path-mapping=WHEELS|/srv/manylinux",
    )
    assert resolve_index_args(config) == expected
    pants_args = list(config.pex_args())
    assert pants_args[3:5] == ["--manylinux", "manylinux2014"]
    assert tuple(pants_args[:3] + pants_args[5:]) == expected
    no_manylinux = dataclasses.replace(config, manylinux=None, find_links=(), path_mappings=())
    assert "--no-manylinux" in no_manylinux.pex_args()
    assert resolve_index_args(no_manylinux) == index_args([mirror])
