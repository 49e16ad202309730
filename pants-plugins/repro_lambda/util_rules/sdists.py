"""Building an sdist's wheel for a Lambda runtime: a cached process with no network and nothing of
the host but an interpreter of the runtime's Python version.

The sdist is a download pinned by sha256 and size, the build environment is `[lambda-sdist-build]`
installed flat for that interpreter, and the builder (`core/runtime_scripts/build_wheel.py`) runs
it isolated with a fixed clock, time zone, locale and umask and an empty `PATH`, so the wheel is
the same bytes on any host, and a result one machine built is a cache hit on another.

It builds without a compiler first, which is all a pure-Python sdist needs (one build serves both
architectures). A build that wants a compiler runs again with the cross toolchain of the runtime ×
architecture (`util_rules/cross_toolchain.py`), and its extensions pass the audit a manylinux wheel
passes (`core/install/extension_audit.py`).
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
    DigestContents,
    DownloadFile,
    FileContent,
    FileDigest,
    MergeDigests,
    RemovePrefix,
    Snapshot,
)
from pants.engine.process import FallibleProcessResult, Process, ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.logging import LogLevel

from repro_lambda.core.contract import (
    ERROR_PREFIX,
    Architecture,
    UserError,
    platform_name,
    tool_messages,
)
from repro_lambda.core.install.extension_audit import audit_wheel
from repro_lambda.core.install.pex_args import DOWNLOAD, complete_platform_args
from repro_lambda.core.install.python_headers import OPTION as HEADERS_OPTION
from repro_lambda.core.install.python_headers import HeadersPin, parse_pins
from repro_lambda.core.install.sdists import (
    SYSTEM_LIBRARY_FIX,
    BuildEnvironment,
    missing_from_build,
)
from repro_lambda.core.runtime_scripts.build_wheel import NEEDS_COMPILER
from repro_lambda.core.runtimes import BY_NAME, PYTHON_RUNTIMES
from repro_lambda.errors import LambdaUserError
from repro_lambda.subsystems.sdist_build import LambdaSdistBuild
from repro_lambda.util_rules.cross_toolchain import HEADERS, CrossToolchain
from repro_lambda.util_rules.host_tools import HostBinary
from repro_lambda.util_rules.pex import LambdaPexProcess
from repro_lambda.util_rules.tools import (
    TOOL_SITE_PACKAGES,
    find_python,
    install_locked,
    install_tool,
    no_python_message,
    runtime_constraints,
)
from repro_lambda.workarounds import WAIT_FOR_REMOTE_CACHE_MILLIS

_BUILDER = "__build_wheel.py"
_BUILD_ENV = "__build_env"
_BUILD_LOCK = "__build_env.lock"
_SDIST = "__sdist"
_WHEEL = "__wheel"
_ZIG = "__zig"
_ZIG_CACHE = "repro_lambda_zig"
_ZIG_HOME = ".cache/repro_lambda_zig"
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
    architecture: Architecture
    build_platform: CompletePlatforms
    """The complete platform of the runtime on the host's architecture, where the build runs."""
    build_environment: BuildEnvironment | None = None
    """The sdist's own build environment, locked by `lambda-lock`; None: `[lambda-sdist-build]`."""

    @property
    def platform_name(self) -> str:
        return platform_name(self.runtime, self.architecture)


@dataclass(frozen=True)
class BuiltWheel:
    """The wheel, alone in its digest."""

    digest: Digest
    filename: str


@dataclass(frozen=True)
class SdistDownload:
    """The sdists of `pins` as the pex lock at `lock_path` in `lock` pins them for `platforms`
    (named `platform_name`), from `repos`."""

    lock: Digest
    lock_path: str
    pins: tuple[str, ...]
    platforms: CompletePlatforms
    repos: tuple[str, ...]
    platform_name: str


@dataclass(frozen=True)
class DownloadedSdists:
    """The sdists, under their file names."""

    digest: Digest


@rule(desc="Downloading sdists", level=LogLevel.DEBUG)
async def download_sdists(request: SdistDownload) -> DownloadedSdists:
    """Downloaded by pex, which checks each against the lock's sha256."""
    result = await Get(
        ProcessResult,
        LambdaPexProcess(
            subcommand=DOWNLOAD,
            args=(
                f"--lock={request.lock_path}",
                f"--dest-dir={_SDIST}",
                "--no-transitive",
                *request.repos,
                *complete_platform_args(request.platforms),
                *request.pins,
            ),
            input_digest=await Get(Digest, MergeDigests([request.lock, request.platforms.digest])),
            output_directories=(_SDIST,),
            description=f"Downloading {', '.join(request.pins)} for {request.platform_name}",
        ),
    )
    return DownloadedSdists(await Get(Digest, RemovePrefix(result.output_digest, _SDIST)))


async def _build_environment(
    request: SdistBuildRequest, build: LambdaSdistBuild, python: HostBinary
) -> Digest:
    """`[lambda-sdist-build]`, or the sdist's own locked build environment, installed flat."""
    environment = request.build_environment
    if environment is None:
        return await install_tool(build, python, request.build_platform)
    lock = await Get(Digest, CreateDigest([FileContent(_BUILD_LOCK, environment.lock.encode())]))
    return await install_locked(
        lock,
        _BUILD_LOCK,
        environment.requires,
        python,
        request.build_platform,
        f"Installing the build environment of {request.requirement}: "
        + ", ".join(environment.requires),
    )


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
    build_env = await _build_environment(request, build, python)
    sdist, script = await MultiGet(
        Get(Digest, DownloadFile(request.url, FileDigest(request.sha256, request.size))),
        Get(Digest, CreateDigest([FileContent(_BUILDER, builder)])),
    )
    # the file is named as the engine named the download, not as we would parse the URL
    (sdist_name,) = (await Get(Snapshot, Digest, sdist)).files
    sdist_dir, env_dir = await MultiGet(
        Get(Digest, AddPrefix(sdist, _SDIST)), Get(Digest, AddPrefix(build_env, _BUILD_ENV))
    )
    inputs = await Get(Digest, MergeDigests([sdist_dir, env_dir, script]))
    argv = (
        python.path,
        *("-I", "-S", "-B", _BUILDER),
        f"--build-env={_BUILD_ENV}/{TOOL_SITE_PACKAGES}",
        f"--sdist={_SDIST}/{sdist_name}",
        f"--out={_WHEEL}",
    )
    where = f"{request.requirement} from its sdist ({sdist_name}) for {request.platform_name}"
    # first without a compiler: a pure-Python sdist needs no toolchain, and builds once for both
    # architectures
    process = _process(argv, inputs, f"Building {request.requirement} from its sdist", python)
    result = await Get(FallibleProcessResult, Process, process)
    if result.exit_code == 0 and result.stdout.decode().strip() == NEEDS_COMPILER:
        toolchain = await Get(CrossToolchain, HeadersPin, _headers_pin(build, request))
        process = _process(
            (
                *argv,
                f"--zig-wheel={_ZIG}/{toolchain.zig_wheel_name}",
                f"--zig-sha256={toolchain.zig_sha256}",
                f"--zig-home={_ZIG_HOME}",
                f"--headers={HEADERS}",
                f"--target={toolchain.target}",
            ),
            await Get(Digest, MergeDigests([inputs, toolchain.headers])),
            f"Compiling {where}",
            python,
            zig=toolchain.zig_wheel,
        )
        result = await Get(FallibleProcessResult, Process, process)
    if result.exit_code != 0:
        raise SdistBuildError(_failure(where, request, result.stderr.decode(errors="replace")))
    wheel = await Get(Snapshot, RemovePrefix(result.output_digest, _WHEEL))
    (filename,) = wheel.files
    # a pure-Python build may still ship ELF files of its own
    (contents,) = await Get(DigestContents, Digest, wheel.digest)
    glibc = BY_NAME[request.runtime].os.glibc
    problems = audit_wheel(contents.content, request.architecture, glibc)
    if problems:
        raise SdistBuildError(
            f"Building {where} gave {filename}, which would not run there: " + "; ".join(problems)
        )
    return BuiltWheel(wheel.digest, filename)


def _process(
    argv: tuple[str, ...],
    inputs: Digest,
    description: str,
    python: HostBinary,
    zig: Digest | None = None,
) -> Process:
    return Process(
        argv,
        description=description,
        input_digest=inputs,
        immutable_input_digests={_ZIG: zig} if zig else None,
        env={"PATH": "", "TZ": "UTC", "LC_ALL": "C.UTF-8"},
        output_directories=(_WHEEL,),
        append_only_caches={**python.caches, _ZIG_CACHE: _ZIG_HOME} if zig else python.caches,
        remote_cache_speculation_delay_millis=WAIT_FOR_REMOTE_CACHE_MILLIS,
        level=LogLevel.DEBUG,
    )


def _headers_pin(build: LambdaSdistBuild, request: SdistBuildRequest) -> HeadersPin:
    """The Python headers the request's extensions compile against, or why there are none."""
    try:
        pins = parse_pins(build.python_headers, PYTHON_RUNTIMES)
    except UserError as error:
        raise SdistBuildError(str(error)) from None
    pin = pins.get((request.runtime, request.architecture.value))
    if pin is None:
        raise SdistBuildError(
            f"`{request.requirement}` compiles extensions from its sdist, and no Python headers"
            f" are pinned for {request.platform_name}: add the pinned archive of"
            f" libpython{request.runtime[len('python'):]}-dev for {request.architecture.machine}"
            f" to `{HEADERS_OPTION}` (see `pants help-advanced lambda-sdist-build`), or pin a"
            f" version of `{request.requirement.split('==')[0]}` that publishes a wheel for"
            f" {request.platform_name}."
        )
    return pin


def _failure(where: str, request: SdistBuildRequest, stderr: str) -> str:
    """Why a build failed, what to do, and its last lines."""
    tail = "\n".join(stderr.strip().splitlines()[-_ERROR_TAIL_LINES:])
    missing = missing_from_build(stderr)
    if missing is not None:
        cause = f"it needs {missing}, which a sandboxed build does not have"
        fix = f"Use {SYSTEM_LIBRARY_FIX}."
    else:
        cause = "; ".join(tool_messages(stderr, ERROR_PREFIX)) or "the build failed"
        fix = (
            f"Pin a version that publishes a wheel for {request.platform_name}, or build a wheel"
            " and host it on your index."
        )
    return f"Cannot build {where}: {cause}. {fix} Its last lines:\n{tail}"


def rules():
    return collect_rules()
