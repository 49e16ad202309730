"""Building an sdist's wheel for a Lambda runtime: a cached process with no network and nothing of
the host but an interpreter of the runtime's Python version.

The sdist is a download pinned by sha256 and size, the build environment is `[lambda-sdist-build]`
installed flat for that interpreter, and the builder (`core/runtime_scripts/build_wheel.py`) runs
it isolated with a fixed clock, time zone, locale and umask and an empty `PATH`, so the wheel is
the same bytes on any host, and a result one machine built is a cache hit on another.
"""

from __future__ import annotations

import pkgutil
from dataclasses import dataclass

from pants.backend.python.util_rules.pex import CompletePlatforms
from pants.core.subsystems.python_bootstrap import PythonBootstrap
from pants.engine.fs import (
    AddPrefix,
    CreateDigest,
    Digest,
    DownloadFile,
    FileContent,
    FileDigest,
    MergeDigests,
    RemovePrefix,
    Snapshot,
)
from pants.engine.process import FallibleProcessResult, Process
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.logging import LogLevel

from repro_lambda.core.contract import ERROR_PREFIX, tool_messages
from repro_lambda.core.install.sdists import SYSTEM_LIBRARY_FIX, missing_from_build
from repro_lambda.errors import LambdaUserError
from repro_lambda.subsystems.sdist_build import LambdaSdistBuild
from repro_lambda.util_rules.tools import (
    TOOL_SITE_PACKAGES,
    find_python,
    install_tool,
    no_python_message,
    runtime_constraints,
)
from repro_lambda.workarounds import WAIT_FOR_REMOTE_CACHE_MILLIS

_BUILDER = "__build_wheel.py"
_BUILD_ENV = "__build_env"
_SDIST = "__sdist"
_WHEEL = "__wheel"
_ERROR_TAIL_LINES = 15


class SdistBuildError(LambdaUserError):
    """An sdist cannot be built for a runtime (a user error: the message says what to do)."""


@dataclass(frozen=True)
class SdistBuildRequest:
    """Build `requirement`'s wheel for `runtime` from its sdist at `url` (pinned)."""

    requirement: str
    url: str
    sha256: str
    size: int
    runtime: str
    build_platform: CompletePlatforms
    """The complete platform of the runtime on the host's architecture, where the build runs."""


@dataclass(frozen=True)
class BuiltWheel:
    """The wheel, alone in its digest."""

    digest: Digest
    filename: str


@rule(desc="Building a wheel from an sdist", level=LogLevel.DEBUG)
async def build_sdist(
    request: SdistBuildRequest, build: LambdaSdistBuild, bootstrap: PythonBootstrap
) -> BuiltWheel:
    constraints = runtime_constraints(request.runtime)
    python = await find_python(constraints, bootstrap)
    if python is None:
        raise SdistBuildError(
            f"Building `{request.requirement}` (an sdist) for {request.runtime} needs"
            f" {no_python_message(constraints, bootstrap)}"
        )
    builder = pkgutil.get_data("repro_lambda.core.runtime_scripts", "build_wheel.py")
    assert builder is not None
    build_env = await install_tool(build, python, request.build_platform)
    sdist, script = await MultiGet(
        Get(Digest, DownloadFile(request.url, FileDigest(request.sha256, request.size))),
        Get(Digest, CreateDigest([FileContent(_BUILDER, builder)])),
    )
    # the file is named as the engine named the download, not as we would parse the URL
    (sdist_name,) = (await Get(Snapshot, Digest, sdist)).files
    sdist_dir, env_dir = await MultiGet(
        Get(Digest, AddPrefix(sdist, _SDIST)), Get(Digest, AddPrefix(build_env, _BUILD_ENV))
    )
    input_digest = await Get(Digest, MergeDigests([sdist_dir, env_dir, script]))
    description = f"Building {request.requirement} from its sdist for {request.runtime}"
    result = await Get(
        FallibleProcessResult,
        Process(
            (
                python.path,
                *("-I", "-S", "-B", _BUILDER),
                f"--build-env={_BUILD_ENV}/{TOOL_SITE_PACKAGES}",
                f"--sdist={_SDIST}/{sdist_name}",
                f"--out={_WHEEL}",
            ),
            description=description,
            input_digest=input_digest,
            env={"PATH": "", "TZ": "UTC", "LC_ALL": "C.UTF-8"},
            output_directories=(_WHEEL,),
            append_only_caches=python.caches,
            remote_cache_speculation_delay_millis=WAIT_FOR_REMOTE_CACHE_MILLIS,
            level=LogLevel.DEBUG,
        ),
    )
    stderr = result.stderr.decode(errors="replace")
    if result.exit_code != 0:
        tail = "\n".join(stderr.strip().splitlines()[-_ERROR_TAIL_LINES:])
        missing = missing_from_build(stderr)
        if missing is not None:
            cause = f"it needs {missing}, which a sandboxed build does not have"
            fix = f"Use {SYSTEM_LIBRARY_FIX}."
        else:
            cause = "; ".join(tool_messages(stderr, ERROR_PREFIX)) or "the build failed"
            fix = (
                f"Pin a version that publishes a wheel for {request.runtime}, or build a wheel"
                " and host it on your index."
            )
        raise SdistBuildError(
            f"Cannot build `{request.requirement}` from its sdist ({sdist_name}) for"
            f" {request.runtime}: {cause}. {fix} Its last lines:\n{tail}"
        )
    wheel = await Get(Snapshot, RemovePrefix(result.output_digest, _WHEEL))
    (filename,) = wheel.files
    return BuiltWheel(wheel.digest, filename)


def rules():
    return collect_rules()
