"""`pants lambda-lock`: write each resolve's Lambda platform lock (see `platform_lock`) and the
sources lock (see `external`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

from pants.backend.python.subsystems.setup import PythonSetup
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
from pants.engine.goal import Goal, GoalSubsystem
from pants.engine.process import FallibleProcessResult, ProcessCacheScope
from pants.engine.rules import Get, MultiGet, collect_rules, goal_rule, rule
from pants.engine.target import AllTargets
from pants.util.docutil import bin_name
from pants.util.strutil import help_text, softwrap

from repro_lambda.core.install.lock_failure import missing_wheel, pip_said
from repro_lambda.core.install.pex_args import LOCK_CREATE, index_args, lock_wheels_args
from repro_lambda.core.manifest.hashed_requirements import canonical
from repro_lambda.core.sources.spec import TOKEN_ENV_VAR, render_lock
from repro_lambda.external.rules import lock_sources, write_atomically
from repro_lambda.external.target_types import LambdaSourceTarget
from repro_lambda.manifest.lock_rules import lock_manifest_lambdas
from repro_lambda.subsystems.sources import LambdaSources
from repro_lambda.util_rules.install import (
    LambdaInstallInputs,
    LambdaInstallInputsRequest,
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


class LambdaLockSubsystem(GoalSubsystem):
    name = "lambda-lock"
    help = help_text(
        f"""
        Write each resolve's Lambda platform lock, next to its lockfile, and the sources lock.

        For every resolve that `lambda_artifact` and `lambda_layer` targets install from, lock
        one wheel per requirement for each runtime × architecture in use, at the versions of the
        resolve's lockfile, with sha256 hashes. Run it after `{bin_name()} generate-lockfiles`,
        or when a lambda or layer gains a requirement or a new runtime or architecture;
        `{bin_name()} package` says when it is due.

        Then compile the hashed requirements lock of each `lambda_manifest` pip lambda from the
        `requirements.in` in its `source_dir`, with uv (see `[lambda-uv]`), for its runtime's
        Python and its architecture's manylinux platform, wheels only; npm lambdas install from
        their package-lock.json as it is.

        Then download every `lambda_source` (resolving `version_from`), and record its version,
        URL, sha256 and size in `[lambda-sources].lockfile`, rewritten atomically and only if a
        pin changed.
        """
    )


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


def _lock_failure_message(
    resolve: str, stderr: str, platform_names: dict[str, str], pins: list[str]
) -> str:
    """Name the resolve's pin and the platform pex could not find a wheel for, when it says so;
    else say what pip said."""
    missing = missing_wheel(stderr, platform_names)
    if missing is None:
        return f"Locking the `{resolve}` resolve for Lambda failed. pip said:\n{pip_said(stderr)}"
    by_project = {canonical(pin.split("==")[0]): pin for pin in pins}
    requirement, pin = missing.requirement, by_project.get(canonical(missing.project))
    pinned = f"pins `{pin}`" if pin else f"needs `{requirement}`"
    if pin and pin != requirement:
        pinned += f" (for `{requirement}`)"
    return softwrap(
        f"""
        The `{resolve}` resolve {pinned}, which has no wheel for {missing.platforms}: only wheels
        are installed, for the runtime's Python ABI and within its glibc's manylinux window.
        Require a version that publishes one and run `{bin_name()} generate-lockfiles
        --resolve={resolve}`, or give the lambdas on {missing.platforms} a resolve of their own
        (their `resolve` field): runtimes with different glibc or ABI windows may need different
        pins.
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


@dataclass(frozen=True)
class _ResolveLock:
    path: str
    content: bytes


@rule(desc="Locking wheels for Lambda platforms")
async def lock_resolve_for_lambda(
    request: _ResolveLockRequest, python_setup: PythonSetup
) -> _ResolveLock:
    resolve = request.resolve
    resolve_path, resolve_content = await resolve_lockfile(resolve, python_setup)
    pins = _locked_pins(resolve_content)
    constraints = await Get(
        Digest, CreateDigest([FileContent("__constraints.txt", "\n".join(pins).encode())])
    )
    config = await Get(ResolvePexConfig, ResolvePexConfigRequest(resolve))
    input_digest = await Get(
        Digest, MergeDigests([constraints, *(p.platforms.digest for p in request.platforms)])
    )
    result = await Get(
        FallibleProcessResult,
        LambdaPexProcess(
            subcommand=LOCK_CREATE,
            args=lock_wheels_args(
                "lock.json",
                [path for p in request.platforms for path in p.platforms],
                request.requirements,
                repos=resolve_index_args(config),
                constraints="__constraints.txt",
            ),
            input_digest=input_digest,
            output_files=("lock.json",),
            description=(
                f"Locking the `{resolve}` resolve for {len(request.platforms)} Lambda platforms"
            ),
            cache_scope=ProcessCacheScope.PER_SESSION,
        ),
    )
    if result.exit_code != 0:
        platform_names = {}
        for p in request.platforms:
            contents = await Get(DigestContents, Digest, p.platforms.digest)
            tags = json.loads(contents[0].content)["compatible_tags"]
            platform_names[tags[0]] = p.platform_name
        raise LambdaLockError(
            _lock_failure_message(
                resolve, result.stderr.decode(errors="replace"), platform_names, pins
            )
        )
    (lock_file,) = await Get(DigestContents, Digest, result.output_digest)
    lock = json.loads(lock_file.content)
    lock[METADATA_KEY] = {
        "comment": f"Generated by `{LOCK_COMMAND}` from {resolve_path}; do not edit.",
        "resolve_lockfile_sha256": sha256(resolve_content).hexdigest(),
        "platforms": {p.platform_sha256: p.platform_name for p in request.platforms},
        "requirements": list(request.requirements),
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
                resolve, tuple(requirements), tuple(platforms[k] for k in sorted(platforms))
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
