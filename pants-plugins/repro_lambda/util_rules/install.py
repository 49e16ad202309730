"""Installing a Lambda's third-party wheels: its install inputs, its platform, and the flat install
from the resolve's platform lock.

A *platform* is one runtime × architecture, named like `python3.13-arm64` and described by its
complete platform (the marker environment and wheel tags pex resolves for); a resolve's *platform
lock* pins one wheel per requirement for each platform its targets use.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass

from pants.backend.python.subsystems.setup import PythonSetup
from pants.backend.python.target_types import PythonRequirementsField, PythonResolveField
from pants.backend.python.util_rules.pex import CompletePlatforms
from pants.engine.addresses import Address, UnparsedAddressInputs
from pants.engine.fs import (
    EMPTY_DIGEST,
    AddPrefix,
    CreateDigest,
    Digest,
    DigestContents,
    DigestEntries,
    FileContent,
    FileEntry,
    MergeDigests,
)
from pants.engine.platform import Platform
from pants.engine.process import FallibleProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import Target, TransitiveTargets, TransitiveTargetsRequest
from pants.util.logging import LogLevel
from pants.util.resources import read_resource

from repro_lambda.core.contract import Architecture, platform_name
from repro_lambda.core.install.pex_args import VENV_CREATE, WORKING_DIRECTORY, venv_flat_args
from repro_lambda.core.install.sdists import (
    BUILT_WHEELS,
    BuildEnvironment,
    SdistPin,
    unfit_wheel_message,
    wheel_fits,
    with_built_wheels,
)
from repro_lambda.errors import LambdaFieldError
from repro_lambda.subsystems.lambda_lock import LambdaLockSubsystem
from repro_lambda.target_types import (
    LambdaArchitectureField,
    LambdaCompletePlatformsField,
    LambdaHandlerField,
    LambdaLayerArchitecturesField,
    LambdaLayerRuntimesField,
    LambdaRuntimeField,
)
from repro_lambda.util_rules.pex import LambdaPexProcess
from repro_lambda.util_rules.platform_lock import (
    LambdaLockError,
    PlatformLock,
    PlatformLockRequest,
    check_platform_lock,
)
from repro_lambda.util_rules.sdists import BuiltWheel, SdistBuildError, SdistBuildRequest

SITE_PACKAGES = "site-packages"
_BUILT_WHEELS_DIR = "__built_wheels"


@dataclass(frozen=True)
class LambdaPlatformRequest:
    """A runtime × architecture's complete platform: the plugin's, one for every target that does
    not override it (`override` None), or the target's own."""

    runtime: str
    architecture: str
    override: LambdaCompletePlatformsField | None = None


@rule
async def lambda_complete_platforms(request: LambdaPlatformRequest) -> CompletePlatforms:
    override = request.override
    if override is not None and override.value:
        platforms = await Get(
            CompletePlatforms, UnparsedAddressInputs, override.to_unparsed_address_inputs()
        )
        if len(platforms) != 1:
            raise LambdaFieldError(
                f"The `{override.alias}` field in target {override.address} must name exactly one "
                "complete platform file (a Lambda runs on one platform), but it gave "
                f"{len(platforms)}: {sorted(platforms)}."
            )
        return platforms
    name = f"{platform_name(request.runtime, request.architecture)}.json"
    path = f"__lambda_platforms/{name}"
    content = read_resource("repro_lambda.platforms", name)
    assert content is not None, f"the plugin ships no complete platform {name}"
    digest = await Get(Digest, CreateDigest([FileContent(path, content)]))
    return CompletePlatforms([path], digest=digest)


@dataclass(frozen=True)
class LambdaInstallInputs:
    """What installing a function's or layer's wheels for one platform depends on."""

    resolve: str
    runtime: str
    architecture: str
    requirements: tuple[str, ...]
    platforms: CompletePlatforms
    platform_sha256: str

    @property
    def platform_name(self) -> str:
        return platform_name(self.runtime, self.architecture)


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
            LambdaPlatformRequest(
                runtime,
                architecture,
                request.complete_platforms if request.complete_platforms.value else None,
            ),
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
    assert isinstance(entry, FileEntry)
    return LambdaInstallInputs(
        resolve=request.resolve.normalized_value(python_setup),
        runtime=runtime,
        architecture=architecture,
        requirements=tuple(requirements),
        platforms=platforms,
        platform_sha256=entry.file_digest.fingerprint,
    )


def layer_install_requests(
    address: Address,
    resolve: PythonResolveField,
    runtimes: Iterable[str],
    architectures: Iterable[str],
) -> list[LambdaInstallInputsRequest]:
    """A `lambda_layer`'s installs: one per runtime × architecture, on the built-in platforms."""
    no_override = LambdaCompletePlatformsField(None, address)
    return [
        LambdaInstallInputsRequest(address, resolve, runtime, architecture, no_override)
        for runtime, architecture in itertools.product(runtimes, architectures)
    ]


def install_requests(tgt: Target) -> list[LambdaInstallInputsRequest]:
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


@dataclass(frozen=True)
class LambdaRequirementsRequest:
    address: Address
    inputs: LambdaInstallInputs


@dataclass(frozen=True)
class LambdaRequirements:
    """The wheels, installed under `site-packages/` with no scripts and no byte code."""

    digest: Digest


@dataclass(frozen=True)
class _InstalledWheels:
    digest: Digest


@rule(level=LogLevel.DEBUG)
async def lambda_requirements(
    request: LambdaRequirementsRequest, lock_options: LambdaLockSubsystem
) -> LambdaRequirements:
    inputs = request.inputs
    if not inputs.requirements:
        return LambdaRequirements(EMPTY_DIGEST)
    lock = await Get(PlatformLock, PlatformLockRequest(inputs.resolve))
    check_platform_lock(lock, inputs, request.address, lock_options.only_binary)
    try:
        installed = await Get(_InstalledWheels, LambdaInstallInputs, inputs)
    except LambdaLockError as error:
        raise LambdaLockError(f"Installing the wheels of {request.address}: {error}") from None
    return LambdaRequirements(installed.digest)


def host_architecture(platform: Platform) -> Architecture:
    """The Lambda architecture of this machine's instruction set."""
    return Architecture.ARM64 if platform.value.endswith("arm64") else Architecture.X86_64


BUILT_WHEELS_MAPPING = (
    f"--path-mapping={BUILT_WHEELS}|{WORKING_DIRECTORY}/{_BUILT_WHEELS_DIR}|built wheels"
)
"""The pex option that maps the built wheels' directory (`with_wheels_built`) for an install."""


async def with_wheels_built(
    lock: bytes,
    lock_path: str,
    sdists: tuple[SdistPin, ...],
    environments: tuple[BuildEnvironment | None, ...],
    runtime: str,
    architecture: str,
    platforms: CompletePlatforms,
    platform: Platform,
) -> Digest:
    """The pex lock (`lock`, at `lock_path`) with its `sdists`, each built in its build
    environment, pinned to the wheels built from them for the runtime × architecture whose
    complete platform is `platforms`; the wheels are beside it, for `BUILT_WHEELS_MAPPING`."""
    build_platform = await Get(
        CompletePlatforms, LambdaPlatformRequest(runtime, host_architecture(platform))
    )
    wheels = await MultiGet(
        Get(
            BuiltWheel,
            SdistBuildRequest(
                s.pin,
                s.url,
                s.sha256,
                s.size,
                runtime,
                Architecture(architecture),
                build_platform,
                environment,
            ),
        )
        for s, environment in zip(sdists, environments)
    )
    platform_file = await Get(DigestContents, Digest, platforms.digest)
    compatible_tags = json.loads(platform_file[0].content)["compatible_tags"]
    built = {}
    for sdist, wheel in zip(sdists, wheels):
        if not wheel_fits(wheel.filename, compatible_tags):
            message = unfit_wheel_message(
                sdist.pin, wheel.filename, platform_name(runtime, architecture)
            )
            raise SdistBuildError(message)
        (entry,) = await Get(DigestEntries, Digest, wheel.digest)
        assert isinstance(entry, FileEntry)
        built[sdist.pin] = (wheel.filename, entry.file_digest.fingerprint)
    derived = with_built_wheels(json.loads(lock), compatible_tags[0], built)
    derived_lock, wheels_dir = await MultiGet(
        Get(Digest, CreateDigest([FileContent(lock_path, json.dumps(derived).encode())])),
        Get(
            Digest,
            AddPrefix(await Get(Digest, MergeDigests(w.digest for w in wheels)), _BUILT_WHEELS_DIR),
        ),
    )
    return await Get(Digest, MergeDigests([derived_lock, wheels_dir]))


@rule(desc="Installing Lambda wheels", level=LogLevel.DEBUG)
async def install_wheels(inputs: LambdaInstallInputs, platform: Platform) -> _InstalledWheels:
    """One install for all the lambdas and layers with the same wheels and platform; the
    platform's sdists are built first, and installed as the wheels they built."""
    lock = await Get(PlatformLock, PlatformLockRequest(inputs.resolve))
    sdists = lock.sdists_for(inputs.platform_sha256)
    lock_digest = lock.digest
    options: tuple[str, ...] = ()
    if sdists:
        (lock_file,) = await Get(DigestContents, Digest, lock.digest)
        lock_digest = await with_wheels_built(
            lock_file.content,
            lock.path,
            sdists,
            tuple(lock.build_environment(s) for s in sdists),
            inputs.runtime,
            inputs.architecture,
            inputs.platforms,
            platform,
        )
        options = (BUILT_WHEELS_MAPPING,)
    input_digest = await Get(Digest, MergeDigests([lock_digest, inputs.platforms.digest]))
    result = await Get(
        FallibleProcessResult,
        LambdaPexProcess(
            subcommand=VENV_CREATE,
            args=venv_flat_args(
                SITE_PACKAGES,
                lock.path,
                inputs.requirements,
                complete_platforms=inputs.platforms,
                options=options,
            ),
            input_digest=input_digest,
            output_directories=(SITE_PACKAGES,),
            description=f"Installing {', '.join(inputs.requirements)} for {inputs.platform_name}",
        ),
    )
    if result.exit_code != 0:
        raise LambdaLockError(
            f"installing them for {inputs.platform_name} from {lock.path} failed:\n"
            f"{result.stderr.decode(errors='replace')}"
        )
    return _InstalledWheels(result.output_digest)


def rules():
    return collect_rules()
