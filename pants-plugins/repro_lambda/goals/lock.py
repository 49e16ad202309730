"""`pants lambda-lock`: write each resolve's Lambda platform lock (see `platform_lock`) and the
sources lock (see `external`).
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

from pants.backend.python.subsystems.setup import PythonSetup
from pants.backend.python.util_rules.pex import CompletePlatforms
from pants.backend.python.util_rules.pex_requirements import (
    ResolvePexConfig,
    ResolvePexConfigRequest,
    strip_comments_from_pex_json_lockfile,
)
from pants.base.build_root import BuildRoot
from pants.engine.console import Console
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import (
    CreateDigest,
    Digest,
    DigestContents,
    FileContent,
    MergeDigests,
    Workspace,
)
from pants.engine.goal import Goal
from pants.engine.process import FallibleProcessResult, ProcessCacheScope
from pants.engine.rules import Get, MultiGet, collect_rules, goal_rule, rule
from pants.engine.target import AllTargets
from pants.util.docutil import bin_name
from pants.util.strutil import softwrap

from repro_lambda.core.contract import Architecture, UserError
from repro_lambda.core.install.build_systems import pinned_versions, provided, read_build_system
from repro_lambda.core.install.lock_failure import MissingWheel, missing_wheel, pip_said
from repro_lambda.core.install.pex_args import LOCK_CREATE, index_args, lock_wheels_args
from repro_lambda.core.install.sdists import (
    SYSTEM_LIBRARY_FIX,
    LockedSdist,
    SdistPin,
    locked_sdists,
    missing_from_build,
    refuses,
)
from repro_lambda.core.manifest.hashed_requirements import canonical
from repro_lambda.core.runtimes import BY_NAME
from repro_lambda.core.sources.spec import TOKEN_ENV_VAR, render_lock
from repro_lambda.external.rules import lock_sources, write_atomically
from repro_lambda.external.target_types import LambdaSourceTarget
from repro_lambda.manifest.lock_rules import lock_manifest_lambdas
from repro_lambda.subsystems.lambda_lock import LambdaLockSubsystem
from repro_lambda.subsystems.sdist_build import LambdaSdistBuild
from repro_lambda.subsystems.sources import LambdaSources
from repro_lambda.util_rules.install import (
    LambdaInstallInputs,
    LambdaInstallInputsRequest,
    LambdaPlatformRequest,
    install_requests,
)
from repro_lambda.util_rules.pex import LambdaPexProcess
from repro_lambda.util_rules.platform_lock import (
    LOCK_COMMAND,
    METADATA_KEY,
    LambdaLockError,
    platform_lock_path,
    resolve_lockfile,
)
from repro_lambda.util_rules.sdists import DownloadedSdists, SdistDownload


class LambdaLock(Goal):
    subsystem_cls = LambdaLockSubsystem
    environment_behavior = Goal.EnvironmentBehavior.LOCAL_ONLY


def _locked_pins(resolve_lockfile: bytes) -> list[str]:
    lock = json.loads(strip_comments_from_pex_json_lockfile(resolve_lockfile))
    return sorted(
        f"{req['project_name']}=={req['version']}"
        for resolve in lock["locked_resolves"]
        for req in resolve["locked_requirements"]
    )


def _no_wheel_message(resolve: str, missing: MissingWheel, pins: list[str], why: str) -> str:
    """Name the resolve's pin and the platform pex could not find a wheel for, and why its sdist
    does not do instead."""
    by_project = {canonical(pin.split("==")[0]): pin for pin in pins}
    requirement, pin = missing.requirement, by_project.get(canonical(missing.project))
    pinned = f"pins `{pin}`" if pin else f"needs `{requirement}`"
    if pin and pin != requirement:
        pinned += f" (for `{requirement}`)"
    return softwrap(
        f"""
        The `{resolve}` resolve {pinned}, which has no wheel for {missing.platforms} (wheels fit
        the runtime's Python ABI and its glibc's manylinux window), {why}. Require a version that
        publishes one and run `{bin_name()} generate-lockfiles --resolve={resolve}`, or give the
        lambdas on {missing.platforms} a resolve of their own (their `resolve` field): runtimes
        with different glibc or ABI windows may need different pins.
        """
    )


def resolve_index_args(config: ResolvePexConfig) -> tuple[str, ...]:
    """The resolve's indexes, find-links and path mappings: its `pex_args()` without the
    `--manylinux`/`--no-manylinux` option, as the complete platforms say which wheels fit."""
    return index_args(config.indexes, config.find_links, config.path_mappings)


@dataclass(frozen=True)
class _ResolveLockRequest:
    resolve: str
    requirements: tuple[str, ...]
    platforms: tuple[LambdaInstallInputs, ...]
    only_binary: tuple[str, ...]


@dataclass(frozen=True)
class _ResolveLock:
    path: str
    content: bytes


async def _lock_create(
    request: _ResolveLockRequest,
    input_digest: Digest,
    repos: tuple[str, ...],
    only_binary: tuple[str, ...],
) -> FallibleProcessResult:
    return await Get(
        FallibleProcessResult,
        LambdaPexProcess(
            subcommand=LOCK_CREATE,
            args=lock_wheels_args(
                "lock.json",
                [path for p in request.platforms for path in p.platforms],
                request.requirements,
                repos=repos,
                constraints="__constraints.txt",
                only_binary=only_binary,
            ),
            input_digest=input_digest,
            output_files=("lock.json",),
            description=(
                f"Locking the `{request.resolve}` resolve for {len(request.platforms)} Lambda"
                " platforms"
            ),
            cache_scope=ProcessCacheScope.PER_SESSION,
        ),
    )


async def _sdist_pins(
    request: _ResolveLockRequest,
    lock: Digest,
    sdists: list[LockedSdist],
    first_tags: dict[str, LambdaInstallInputs],
    repos: tuple[str, ...],
    build: LambdaSdistBuild,
) -> list[SdistPin]:
    """Each sdist in the lock with its size (pex records none), downloaded once, for the first
    platform that installs it, and checked against the lock's sha256; and what its own build
    environment installs, where `[lambda-sdist-build]` does not provide its build system."""
    by_platform = defaultdict(list)
    for sdist in sdists:
        by_platform[sdist.platform_tags[0]].append(sdist.pin)
    downloads = await MultiGet(
        Get(
            DownloadedSdists,
            SdistDownload(
                lock,
                "lock.json",
                tuple(pins),
                first_tags[tag].platforms,
                repos,
                first_tags[tag].platform_name,
            ),
        )
        for tag, pins in sorted(by_platform.items())
    )
    shipped = pinned_versions(build.all_requirements)
    files = {}
    for download in downloads:
        for content in await Get(DigestContents, Digest, download.digest):
            files[content.path] = content.content
    sdist_pins = []
    for sdist in sdists:
        data = files.get(sdist.filename)
        if data is None or sha256(data).hexdigest() != sdist.sha256:
            raise LambdaLockError(
                f"Downloading {sdist.url} for `{request.resolve}` did not give the sdist of"
                f" `{sdist.pin}` with the sha256 pex locked ({sdist.sha256})."
            )
        platforms = tuple(sorted(first_tags[tag].platform_sha256 for tag in sdist.platform_tags))
        try:
            system = read_build_system(data, sdist.filename)
        except UserError as error:
            raise LambdaLockError(f"`{sdist.pin}` of `{request.resolve}`: {error}") from None
        pythons = {_python(first_tags[tag].runtime) for tag in sdist.platform_tags}
        own = not all(provided(system.requires, shipped, python) for python in pythons)
        sdist_pins.append(
            SdistPin(
                sdist.pin,
                sdist.url,
                sdist.sha256,
                len(data),
                platforms,
                system.environment() if own else (),
            )
        )
    return sdist_pins


def _python(runtime: str) -> tuple[int, int]:
    version = BY_NAME[runtime].python_version
    assert version is not None
    return version


async def _build_environment(
    request: _ResolveLockRequest,
    requires: tuple[str, ...],
    pins: list[SdistPin],
    first_tags: dict[str, LambdaInstallInputs],
    repos: tuple[str, ...],
) -> dict:
    """The pex lock of a build environment, for every runtime whose sdists it builds, on both
    architectures (a build runs on the host's)."""
    runtimes = sorted(
        {p.runtime for p in request.platforms for pin in pins if p.platform_sha256 in pin.platforms}
    )
    platforms = await MultiGet(
        Get(CompletePlatforms, LambdaPlatformRequest(runtime, architecture))
        for runtime in runtimes
        for architecture in Architecture
    )
    which = ", ".join(pin.pin for pin in pins)
    result = await Get(
        FallibleProcessResult,
        LambdaPexProcess(
            subcommand=LOCK_CREATE,
            args=lock_wheels_args(
                "build-env.lock",
                [path for p in platforms for path in p],
                requires,
                repos=repos,
            ),
            input_digest=await Get(Digest, MergeDigests(p.digest for p in platforms)),
            output_files=("build-env.lock",),
            description=f"Locking the build environment of {which}: {', '.join(requires)}",
            cache_scope=ProcessCacheScope.PER_SESSION,
        ),
    )
    if result.exit_code != 0:
        raise LambdaLockError(
            f"Locking the build environment of {which} (its `build-system.requires`:"
            f" {', '.join(requires)}) for {', '.join(runtimes)} failed. pip said:\n"
            + pip_said(result.stderr.decode(errors="replace"))
        )
    (content,) = await Get(DigestContents, Digest, result.output_digest)
    return dict(requires=list(requires), lock=json.loads(content.content))


@rule(desc="Locking wheels for Lambda platforms")
async def lock_resolve_for_lambda(
    request: _ResolveLockRequest, python_setup: PythonSetup, build: LambdaSdistBuild
) -> _ResolveLock:
    resolve = request.resolve
    resolve_path, resolve_content = await resolve_lockfile(resolve, python_setup)
    pins = _locked_pins(resolve_content)
    constraints = await Get(
        Digest, CreateDigest([FileContent("__constraints.txt", "\n".join(pins).encode())])
    )
    config = await Get(ResolvePexConfig, ResolvePexConfigRequest(resolve))
    repos = resolve_index_args(config)
    input_digest = await Get(
        Digest, MergeDigests([constraints, *(p.platforms.digest for p in request.platforms)])
    )
    first_tags = {}
    for p in request.platforms:
        contents = await Get(DigestContents, Digest, p.platforms.digest)
        first_tags[json.loads(contents[0].content)["compatible_tags"][0]] = p
    platform_names = {tag: p.platform_name for tag, p in first_tags.items()}
    # Wheels only first: where that fails, the missing wheel is named whether or not an sdist
    # does instead.
    result = await _lock_create(request, input_digest, repos, ("*",))
    if result.exit_code != 0:
        stderr = result.stderr.decode(errors="replace")
        missing = missing_wheel(stderr, platform_names)
        if missing is None:
            raise LambdaLockError(
                f"Locking the `{resolve}` resolve for Lambda failed. pip said:\n{pip_said(stderr)}"
            )
        if refuses(request.only_binary, missing.project):
            why = "and `[lambda-lock].only_binary` refuses its sdist"
            raise LambdaLockError(_no_wheel_message(resolve, missing, pins, why))
        result = await _lock_create(request, input_digest, repos, request.only_binary)
        if result.exit_code != 0:
            said = pip_said(result.stderr.decode(errors="replace"))
            lacks = missing_from_build(said)
            why = "and locking its sdist failed" + (
                f": it needs {lacks}, which a sandboxed build does not have (use"
                f" {SYSTEM_LIBRARY_FIX})"
                if lacks
                else ""
            )
            raise LambdaLockError(
                f"{_no_wheel_message(resolve, missing, pins, why)} pip said:\n{said}"
            )
    (lock_file,) = await Get(DigestContents, Digest, result.output_digest)
    lock = json.loads(lock_file.content)
    sdists = locked_sdists(lock)
    sdist_pins = (
        await _sdist_pins(request, result.output_digest, sdists, first_tags, repos, build)
        if sdists
        else []
    )
    by_environment = defaultdict(list)
    for pin in sdist_pins:
        if pin.build_requires:
            by_environment[pin.build_requires].append(pin)
    environments = [
        await _build_environment(request, requires, pins, first_tags, repos)
        for requires, pins in sorted(by_environment.items())
    ]
    lock[METADATA_KEY] = {
        "comment": f"Generated by `{LOCK_COMMAND}` from {resolve_path}; do not edit.",
        "resolve_lockfile_sha256": sha256(resolve_content).hexdigest(),
        "platforms": {p.platform_sha256: p.platform_name for p in request.platforms},
        "requirements": list(request.requirements),
        # an sdist that `[lambda-sdist-build]` builds records no `build_requires`
        "sdists": [
            {key: value for key, value in dataclasses.asdict(pin).items() if value != ()}
            for pin in sdist_pins
        ],
        **({"build_environments": environments} if environments else {}),
    }
    content = (json.dumps(lock, indent=2, sort_keys=True) + "\n").encode()
    return _ResolveLock(platform_lock_path(resolve_path), content)


async def _lock_sources(
    console: Console, all_targets: AllTargets, subsystem: LambdaSources, build_root: BuildRoot
) -> None:
    """Pin every `lambda_source`, and rewrite the sources lock if that changes it."""
    targets = [t for t in all_targets if isinstance(t, LambdaSourceTarget)]
    lock = Path(build_root.path, subsystem.lockfile)
    if not targets and not lock.exists():
        return
    env = await Get(EnvironmentVars, EnvironmentVarsRequest([TOKEN_ENV_VAR]))
    locked = await lock_sources(targets, subsystem, env.get(TOKEN_ENV_VAR))
    content = render_lock({source.address.spec: source.pin for source in locked})
    changed = write_atomically(lock, content)
    for source in locked:
        pin = source.pin
        console.print_stdout(
            f"{console.sigil_succeeded()} {source.address} {pin.version}: sha256 {pin.sha256}"
        )
    state = "Wrote" if changed else "Unchanged:"
    console.print_stdout(f"{state} {subsystem.lockfile} ({len(locked)} sources)")


@goal_rule
async def lambda_lock(
    console: Console,
    workspace: Workspace,
    all_targets: AllTargets,
    sources_subsystem: LambdaSources,
    build_root: BuildRoot,
    subsystem: LambdaLockSubsystem,
) -> LambdaLock:
    all_inputs = await MultiGet(
        Get(LambdaInstallInputs, LambdaInstallInputsRequest, request)
        for tgt in all_targets
        for request in install_requests(tgt)
    )
    by_resolve: dict[str, list[LambdaInstallInputs]] = defaultdict(list)
    for inputs in all_inputs:
        if inputs.requirements:
            by_resolve[inputs.resolve].append(inputs)
    requests = []
    for resolve, inputs_list in sorted(by_resolve.items()):
        platforms = {i.platform_sha256: i for i in inputs_list}
        requirements = sorted({r for i in inputs_list for r in i.requirements})
        requests.append(
            _ResolveLockRequest(
                resolve,
                tuple(requirements),
                tuple(platforms[k] for k in sorted(platforms)),
                tuple(subsystem.only_binary),
            )
        )
    locks = await MultiGet(Get(_ResolveLock, _ResolveLockRequest, r) for r in requests)
    digest = await Get(
        Digest, CreateDigest([FileContent(lock.path, lock.content) for lock in locks])
    )
    workspace.write_digest(digest)
    for lock, request in zip(locks, requests):
        names = ", ".join(sorted(p.platform_name for p in request.platforms))
        console.print_stdout(f"{console.sigil_succeeded()} Wrote {lock.path} ({names})")
    if not locks:
        console.print_stdout(
            "No lambda_artifact or lambda_layer has third-party requirements: nothing to lock."
        )
    await lock_manifest_lambdas(console, all_targets, build_root)
    await _lock_sources(console, all_targets, sources_subsystem, build_root)
    return LambdaLock(exit_code=0)


def rules():
    return collect_rules()
