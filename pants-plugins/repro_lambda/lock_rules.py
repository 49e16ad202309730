"""Lambda platform locks: a resolve's wheels, hash-pinned for each Lambda runtime × architecture.

Pants' own lockfiles are universal locks made by pex 2.1.137, which knows no Python newer than
3.12 and so records no cp313 wheel. `pants lambda-lock` derives, next to each resolve's lockfile,
a strict pex lock with one wheel per requirement per Lambda platform in use, pinned to the
versions of the resolve's lockfile, and `pants package` installs from it.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable
from hashlib import sha256
from collections import defaultdict
from dataclasses import dataclass

from pants.backend.python.subsystems.setup import PythonSetup
from pants.backend.python.target_types import PythonRequirementsField, PythonResolveField
from pants.backend.python.util_rules.pex import CompletePlatforms
from pants.backend.python.util_rules.pex_requirements import (
    ResolvePexConfig,
    ResolvePexConfigRequest,
    strip_comments_from_pex_json_lockfile,
)
from pants.engine.addresses import Address
from pants.engine.console import Console
from pants.engine.fs import (
    CreateDigest,
    Digest,
    DigestContents,
    DigestEntries,
    FileContent,
    MergeDigests,
    PathGlobs,
    Workspace,
)
from pants.engine.goal import Goal, GoalSubsystem
from pants.engine.process import FallibleProcessResult, ProcessCacheScope
from pants.engine.rules import Get, MultiGet, collect_rules, goal_rule, rule
from pants.engine.target import AllTargets, Target, TransitiveTargets, TransitiveTargetsRequest
from pants.util.docutil import bin_name
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel
from pants.util.strutil import help_text, softwrap

from repro_lambda.pex_cli import LambdaPexProcess
from repro_lambda.platform_rules import LambdaPlatformRequest
from repro_lambda.target_types import (
    LambdaArchitectureField,
    LambdaCompletePlatformsField,
    LambdaHandlerField,
    LambdaLayerArchitecturesField,
    LambdaLayerRuntimesField,
    LambdaRuntimeField,
)

METADATA_KEY = "repro_lambda"
_LOCK_COMMAND = f"{bin_name()} lambda-lock"


class LambdaLockError(Exception):
    """A platform lock is missing, stale, or cannot be created."""


def platform_lock_path(resolve_lockfile: str) -> str:
    """`3rdparty/python/lambdas.lock` -> `3rdparty/python/lambdas.lambda-platforms.lock`."""
    return re.sub(r"\.lock$", "", resolve_lockfile) + ".lambda-platforms.lock"


@dataclass(frozen=True)
class LambdaInstallInputs:
    """What installing one `lambda_artifact`'s wheels depends on."""

    resolve: str
    runtime: str
    architecture: str
    requirements: tuple[str, ...]
    platforms: CompletePlatforms
    platform_sha256: str

    @property
    def platform_name(self) -> str:
        return f"{self.runtime}-{self.architecture}"


@dataclass(frozen=True)
class LambdaInstallInputsRequest:
    """The wheels of `address`'s closure, for one runtime × architecture."""

    address: Address
    resolve: PythonResolveField
    runtime: str
    architecture: str
    complete_platforms: LambdaCompletePlatformsField


@rule(level=LogLevel.DEBUG)
async def lambda_install_inputs(
    request: LambdaInstallInputsRequest, python_setup: PythonSetup
) -> LambdaInstallInputs:
    runtime, architecture = request.runtime, request.architecture
    transitive_targets, platforms = await MultiGet(
        Get(TransitiveTargets, TransitiveTargetsRequest([request.address])),
        Get(
            CompletePlatforms,
            LambdaPlatformRequest(runtime, architecture, request.complete_platforms),
        ),
    )
    requirements = sorted(
        {
            str(requirement)
            for tgt in transitive_targets.closure
            if tgt.has_field(PythonRequirementsField)
            for requirement in tgt[PythonRequirementsField].value
        }
    )
    (entry,) = await Get(DigestEntries, Digest, platforms.digest)
    return LambdaInstallInputs(
        resolve=request.resolve.normalized_value(python_setup),
        runtime=runtime,
        architecture=architecture,
        requirements=tuple(requirements),
        platforms=platforms,
        platform_sha256=entry.file_digest.fingerprint,
    )


@dataclass(frozen=True)
class PlatformLock:
    """A resolve's platform lock as committed, with the facts it must agree with."""

    path: str
    digest: Digest
    metadata: FrozenDict | None  # None when the file does not exist
    resolve_lockfile_sha256: str


@dataclass(frozen=True)
class PlatformLockRequest:
    resolve: str


async def _resolve_lockfile(resolve: str, python_setup: PythonSetup) -> tuple[str, bytes]:
    path = python_setup.resolves[resolve]
    contents = await Get(DigestContents, PathGlobs([path]))
    if not contents:
        raise LambdaLockError(
            f"The `{resolve}` resolve's lockfile {path} does not exist: run "
            f"`{bin_name()} generate-lockfiles --resolve={resolve}`, then `{_LOCK_COMMAND}`."
        )
    return path, contents[0].content


@rule(desc="Reading a Lambda platform lock", level=LogLevel.DEBUG)
async def read_platform_lock(request: PlatformLockRequest, python_setup: PythonSetup) -> PlatformLock:
    resolve_path, resolve_content = await _resolve_lockfile(request.resolve, python_setup)
    path = platform_lock_path(resolve_path)
    digest = await Get(Digest, PathGlobs([path]))
    contents = await Get(DigestContents, Digest, digest)
    metadata = json.loads(contents[0].content)[METADATA_KEY] if contents else None
    return PlatformLock(
        path=path,
        digest=digest,
        metadata=FrozenDict.deep_freeze(metadata) if metadata is not None else None,
        resolve_lockfile_sha256=sha256(resolve_content).hexdigest(),
    )


def check_platform_lock(lock: PlatformLock, inputs: LambdaInstallInputs, address: Address) -> None:
    """Raise LambdaLockError unless `lock` covers `inputs` and matches its resolve's lockfile."""
    metadata = lock.metadata
    if metadata is None:
        problem = "does not exist"
    elif metadata["resolve_lockfile_sha256"] != lock.resolve_lockfile_sha256:
        problem = f"was made from another version of the `{inputs.resolve}` resolve's lockfile"
    elif inputs.platform_sha256 not in metadata["platforms"]:
        problem = f"has no wheels for {inputs.platform_name}"
    else:
        missing = sorted(set(inputs.requirements) - set(metadata["requirements"]))
        if not missing:
            return
        problem = "does not lock " + ", ".join(f"`{r}`" for r in missing)
    raise LambdaLockError(
        softwrap(
            f"""
            {address} needs the Lambda platform lock {lock.path}, which {problem}.
            Run `{_LOCK_COMMAND}` and commit the file.
            """
        )
    )


class LambdaLockSubsystem(GoalSubsystem):
    name = "lambda-lock"
    help = help_text(
        f"""
        Write each resolve's Lambda platform lock, next to its lockfile.

        For every resolve that `lambda_artifact` and `lambda_layer` targets install from, lock
        one wheel per requirement for each runtime × architecture in use, at the versions of the resolve's
        lockfile, with sha256 hashes. Run it after `{bin_name()} generate-lockfiles`, or when
        a lambda or layer gains a requirement or a new runtime or architecture; `{bin_name()}
        package` says when it is due.
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


# pex names the platform it failed for, or the directory of pip's resolver report does (its first tag).
_FAILED_PLATFORM_RE = re.compile(
    r"complete platform (\S+?):?\s*$|\bresolver_report\.[^/\s]+/([^/\s]+)/pip-report\.json", re.M
)
_UNSATISFIED_RE = re.compile(
    r"(?:Dependency on|requirement) (\S+) not satisfied"
    r"|satisfies the requirement (\S+)"
    r"|Cannot install (\S+) because"
)


def _first_groups(pattern: re.Pattern, text: str) -> list[str]:
    return [next(g for g in m.groups() if g) for m in pattern.finditer(text)]


def _lock_failure_message(resolve: str, stderr: str, platform_names: dict[str, str]) -> str:
    """Name the requirement and the platform pex could not find a wheel for, when it says so."""
    requirements = _first_groups(_UNSATISFIED_RE, stderr)
    if not requirements:
        return f"Locking the `{resolve}` resolve for Lambda failed:\n{stderr}"
    requirement = requirements[0]
    tags = _first_groups(_FAILED_PLATFORM_RE, stderr)
    where = ", ".join(sorted({platform_names.get(t, t) for t in tags})) or "a Lambda platform"
    return softwrap(
        f"""
        The requirement `{requirement}` of the `{resolve}` resolve has no wheel for {where}
        (only wheels are installed, within the manylinux window of the runtime's glibc). Pin a
        version that publishes one in the resolve's requirements, or change the runtime or
        architecture of the lambdas that use it.
        """
    )


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
    resolve_path, resolve_content = await _resolve_lockfile(resolve, python_setup)
    pins = _locked_pins(resolve_content)
    constraints = await Get(Digest, CreateDigest([FileContent("__constraints.txt", "\n".join(pins).encode())]))
    config = await Get(ResolvePexConfig, ResolvePexConfigRequest(resolve))
    index_args = [arg for arg in config.pex_args() if "manylinux" not in arg]
    input_digest = await Get(
        Digest, MergeDigests([constraints, *(p.platforms.digest for p in request.platforms)])
    )
    result = await Get(
        FallibleProcessResult,
        LambdaPexProcess(
            subcommand=("lock", "create"),
            args=(
                "--output=lock.json",
                "--style=strict",
                "--no-build",
                "--resolver-version=pip-2020-resolver",
                "--constraints=__constraints.txt",
                *index_args,
                *(arg for p in request.platforms for arg in p.platforms.generate_pex_arg_list()),
                *request.requirements,
            ),
            input_digest=input_digest,
            output_files=("lock.json",),
            description=f"Locking the `{resolve}` resolve for {len(request.platforms)} Lambda platforms",
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
            _lock_failure_message(resolve, result.stderr.decode(errors="replace"), platform_names)
        )
    (lock_file,) = await Get(DigestContents, Digest, result.output_digest)
    lock = json.loads(lock_file.content)
    lock[METADATA_KEY] = {
        "comment": f"Generated by `{_LOCK_COMMAND}` from {resolve_path}; do not edit.",
        "resolve_lockfile_sha256": sha256(resolve_content).hexdigest(),
        "platforms": {p.platform_sha256: p.platform_name for p in request.platforms},
        "requirements": list(request.requirements),
    }
    content = (json.dumps(lock, indent=2, sort_keys=True) + "\n").encode()
    return _ResolveLock(platform_lock_path(resolve_path), content)


def layer_install_requests(
    address: Address, resolve: PythonResolveField, runtimes: Iterable[str], architectures: Iterable[str]
) -> list[LambdaInstallInputsRequest]:
    """A `lambda_layer`'s installs: one per runtime × architecture, on the built-in platforms."""
    no_override = LambdaCompletePlatformsField(None, address)
    return [
        LambdaInstallInputsRequest(address, resolve, runtime, architecture, no_override)
        for runtime, architecture in itertools.product(runtimes, architectures)
    ]


def _install_requests(tgt: Target) -> list[LambdaInstallInputsRequest]:
    """Every runtime × architecture a `lambda_artifact` or `lambda_layer` installs wheels for."""
    if tgt.has_field(LambdaLayerRuntimesField):
        return layer_install_requests(
            tgt.address,
            tgt[PythonResolveField],
            tgt[LambdaLayerRuntimesField].value,
            tgt[LambdaLayerArchitecturesField].value,
        )
    if tgt.has_field(LambdaHandlerField):
        return [
            LambdaInstallInputsRequest(
                tgt.address,
                tgt[PythonResolveField],
                tgt[LambdaRuntimeField].value,
                tgt[LambdaArchitectureField].value,
                tgt[LambdaCompletePlatformsField],
            )
        ]
    return []


@goal_rule
async def lambda_lock(
    console: Console, workspace: Workspace, all_targets: AllTargets
) -> LambdaLock:
    all_inputs = await MultiGet(
        Get(LambdaInstallInputs, LambdaInstallInputsRequest, request)
        for tgt in all_targets
        for request in _install_requests(tgt)
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
    digest = await Get(Digest, CreateDigest([FileContent(lock.path, lock.content) for lock in locks]))
    workspace.write_digest(digest)
    for lock, request in zip(locks, requests):
        names = ", ".join(sorted(p.platform_name for p in request.platforms))
        console.print_stdout(f"{console.sigil_succeeded()} Wrote {lock.path} ({names})")
    if not locks:
        console.print_stdout("No lambda_artifact or lambda_layer has third-party requirements: nothing to lock.")
    return LambdaLock(exit_code=0)


def rules():
    return collect_rules()
