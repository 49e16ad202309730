"""`pants package` for `lambda_layer`: one zip per runtime × architecture (× top-level requirement).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
from collections import defaultdict
from dataclasses import astuple, dataclass

from pants.backend.python.pip_requirement import PipRequirement
from pants.backend.python.target_types import PythonRequirementsField, PythonResolveField
from pants.core.goals.package import BuiltPackage, PackageFieldSet
from pants.core.util_rules.environments import EnvironmentField
from pants.engine.addresses import Address, UnparsedAddressInputs
from pants.engine.collection import Collection
from pants.engine.fs import Digest, DigestEntries, FileEntry, MergeDigests
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import AllTargets, DependenciesRequest, Targets
from pants.engine.unions import UnionRule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from repro_lambda.core.contract import LayerArtifact, LayerDist, LayerLayout, PackSpec, Section
from repro_lambda.errors import LambdaFieldError, LambdaTargetError, LambdaUserError
from repro_lambda.external.rules import ExternalSources, ExternalSourcesRequest
from repro_lambda.external.target_types import LambdaExternalSourcesField
from repro_lambda.subsystems.runtimes import RuntimeLifecycle, RuntimeLifecycleRequest
from repro_lambda.target_types import (
    LambdaLayerArchitecturesField,
    LambdaLayerDependenciesField,
    LambdaLayerLayoutField,
    LambdaLayerLogicalNameField,
    LambdaLayerRuntimesField,
    LambdaLayersField,
    LambdaLayerSplitField,
    LayerSplit,
)
from repro_lambda.util_rules.install import (
    SITE_PACKAGES,
    LambdaInstallInputs,
    LambdaInstallInputsRequest,
    LambdaRequirements,
    LambdaRequirementsRequest,
    layer_install_requests,
)
from repro_lambda.util_rules.names import (
    DuplicateLogicalName,
    LogicalName,
    LogicalNameRequest,
    logical_name,
)
from repro_lambda.util_rules.pack import PackedLambda, PackLambdaRequest


@dataclass(frozen=True)
class LambdaLayerFieldSet(PackageFieldSet):
    required_fields = (LambdaLayerRuntimesField,)

    dependencies: LambdaLayerDependenciesField
    logical_name: LambdaLayerLogicalNameField
    runtimes: LambdaLayerRuntimesField
    architectures: LambdaLayerArchitecturesField
    layout: LambdaLayerLayoutField
    split: LambdaLayerSplitField
    external_sources: LambdaExternalSourcesField
    resolve: PythonResolveField
    environment: EnvironmentField


def layer_name(base: str, runtime: str, architecture: str, package: str | None = None) -> str:
    """`science-python3.13-arm64`, or `science-numpy-python3.13-arm64` for one package."""
    return "-".join([base, *([package] if package else []), runtime, architecture])


@dataclass(frozen=True)
class _PackageGroups:
    """The layer's zips per platform: (package name, top-level requirements), or one (None, ())
    for the whole closure."""

    groups: tuple[tuple[str | None, tuple[str, ...]], ...]


def _requirements(direct: Targets) -> list[PipRequirement]:
    return [
        req
        for tgt in direct
        if tgt.has_field(PythonRequirementsField)
        for req in tgt[PythonRequirementsField].value
    ]


def _package(requirement: PipRequirement) -> str:
    return requirement.project_name.lower().replace("_", "-")


@rule
async def package_groups(field_set: LambdaLayerFieldSet) -> _PackageGroups:
    direct = await Get(Targets, DependenciesRequest(field_set.dependencies))
    requirements = _requirements(direct)
    if not requirements:
        raise LambdaTargetError(
            f"The `lambda_layer` target {field_set.address} has no `python_requirement` in its "
            "`dependencies`: list the requirements the layer should hold."
        )
    if field_set.split.value == LayerSplit.COMBINED:
        return _PackageGroups(((None, ()),))
    return _PackageGroups(tuple(sorted((_package(req), (str(req),)) for req in requirements)))


@dataclass(frozen=True)
class RepositoryLayerZipNames:
    """The addresses of the repository's layers by the name of each zip they make: a per-package
    layer `a` makes `a-numpy-…`, which a layer named `a-numpy` makes too."""

    owners: FrozenDict[str, tuple[Address, ...]]


@rule(desc="Reading the zip names of the repository's layers")
async def repository_layer_zip_names(targets: AllTargets) -> RepositoryLayerZipNames:
    field_sets = [
        LambdaLayerFieldSet.create(t) for t in targets if LambdaLayerFieldSet.is_applicable(t)
    ]
    all_direct = await MultiGet(
        Get(Targets, DependenciesRequest(fs.dependencies)) for fs in field_sets
    )
    owners: defaultdict[str, list[Address]] = defaultdict(list)
    for field_set, direct in zip(field_sets, all_direct):
        packages: list[str | None] = [None]
        if field_set.split.value != LayerSplit.COMBINED:
            packages = [_package(req) for req in _requirements(direct)]
        base = logical_name(field_set.address, field_set.logical_name.value)
        for runtime, architecture, package in itertools.product(
            field_set.runtimes.value, field_set.architectures.value, packages
        ):
            owners[layer_name(base, runtime, architecture, package)].append(field_set.address)
    return RepositoryLayerZipNames(
        FrozenDict((name, tuple(sorted(set(addresses)))) for name, addresses in owners.items())
    )


@dataclass(frozen=True)
class LayerPlatformRequest:
    """A layer's zips for one runtime × architecture."""

    field_set: LambdaLayerFieldSet
    runtime: str
    architecture: str


@dataclass(frozen=True)
class LayerInstall:
    """One zip's name and its distributions, installed under `site-packages/`."""

    name: str
    inputs: LambdaInstallInputs
    digest: Digest


class LayerInstalls(Collection[LayerInstall]):
    pass


@rule(desc="Installing a Lambda layer's wheels", level=LogLevel.DEBUG)
async def install_layer_for_platform(
    request: LayerPlatformRequest, zip_names: RepositoryLayerZipNames
) -> LayerInstalls:
    field_set = request.field_set
    (install_request,) = layer_install_requests(
        field_set.address, field_set.resolve, [request.runtime], [request.architecture]
    )
    base = await Get(LogicalName, LogicalNameRequest(field_set.address, field_set.logical_name))
    groups = await Get(_PackageGroups, LambdaLayerFieldSet, field_set)
    names = [
        layer_name(base.value, request.runtime, request.architecture, package)
        for package, _ in groups.groups
    ]
    for name in names:
        others = [a for a in zip_names.owners.get(name, ()) if a != field_set.address]
        if others:
            raise DuplicateLogicalName(
                f"The layer {field_set.address} makes a zip named `{name}`, as"
                f" {', '.join(map(str, others))} does: keys and catalog entries are named by it,"
                " so one would replace the other's. Set `logical_name` on one of them so that"
                " their zips' names differ."
            )
    inputs = await Get(LambdaInstallInputs, LambdaInstallInputsRequest, install_request)
    variants = [
        (package, dataclasses.replace(inputs, requirements=reqs) if reqs else inputs)
        for package, reqs in groups.groups
    ]
    installs = await MultiGet(
        Get(LambdaRequirements, LambdaRequirementsRequest(field_set.address, variant_inputs))
        for _, variant_inputs in variants
    )
    return LayerInstalls(
        LayerInstall(name, variant_inputs, install.digest)
        for name, (_, variant_inputs), install in zip(names, variants, installs)
    )


class LayerZips(Collection[PackedLambda]):
    """A layer's zips for one runtime × architecture."""


@rule(desc="Packing a Lambda layer's zips", level=LogLevel.DEBUG)
async def pack_layer_for_platform(request: LayerPlatformRequest) -> LayerZips:
    field_set = request.field_set
    installs, external = await MultiGet(
        Get(LayerInstalls, LayerPlatformRequest, request),
        Get(ExternalSources, ExternalSourcesRequest(field_set.address, field_set.external_sources)),
    )
    directory = field_set.address.spec_path.replace(os.sep, ".")
    layout = LayerLayout(field_set.layout.value).directory
    packed = await MultiGet(
        Get(
            PackedLambda,
            PackLambdaRequest(
                field_set.address,
                zip_path=os.path.join(directory, f"{install.name}.zip"),
                spec=PackSpec(
                    install.name,
                    install.inputs.runtime,
                    install.inputs.architecture,
                    key_prefix=Section.LAYERS.value,
                    site_packages_prefix=layout.format(python=install.inputs.runtime),
                ),
                payload=external.digest,
                has_sources=False,
                site_packages=install.digest,
                external_roots=external.roots,
            ),
        )
        for install in installs
    )
    return LayerZips(packed)


@rule(desc="Package a Lambda layer", level=LogLevel.DEBUG)
async def package_lambda_layer(field_set: LambdaLayerFieldSet) -> BuiltPackage:
    await MultiGet(
        Get(RuntimeLifecycle, RuntimeLifecycleRequest(field_set.address, runtime))
        for runtime in field_set.runtimes.value
    )
    per_platform = await MultiGet(
        Get(LayerZips, LayerPlatformRequest(field_set, runtime, architecture))
        for runtime, architecture in itertools.product(
            field_set.runtimes.value, field_set.architectures.value
        )
    )
    zips = [layer_zip for layer_zips in per_platform for layer_zip in layer_zips]
    digest = await Get(Digest, MergeDigests(z.digest for z in zips))
    return BuiltPackage(digest, tuple(z.artifact() for z in zips))


class LambdaLayerMismatch(LambdaUserError):
    """A function uses a layer that is not built for its runtime or architecture."""


@dataclass(frozen=True)
class FunctionLayersRequest:
    """The layers of the function `address`, for its runtime × architecture."""

    address: Address
    layers: LambdaLayersField
    runtime: str
    architecture: str


@dataclass(frozen=True)
class FunctionLayers:
    """What a function's layers provide: their distributions and unzipped size, and their zips."""

    dists: tuple[LayerDist, ...]
    unzipped_size: int
    zips: tuple[PackedLambda, ...]

    @property
    def artifacts(self) -> tuple[LayerArtifact, ...]:
        """The layer zips, as the function's metadata records them."""
        return tuple(
            LayerArtifact(z.metadata.logical_name, z.metadata.sha256, z.metadata.s3_key)
            for z in self.zips
        )


_DIST_INFO = re.compile(rf"^{SITE_PACKAGES}/([^/]+)-([^/-]+)\.dist-info/")


@rule(desc="Checking a Lambda function's layers", level=LogLevel.DEBUG)
async def function_layers(request: FunctionLayersRequest) -> FunctionLayers:
    targets = await Get(Targets, UnparsedAddressInputs, request.layers.to_unparsed_address_inputs())
    for target in targets:
        if not LambdaLayerFieldSet.is_applicable(target):
            raise LambdaFieldError(
                f"The `layers` field of {request.address} must name `lambda_layer` targets, but "
                f"{target.address} is a `{target.alias}`."
            )
        runtimes = target[LambdaLayerRuntimesField].value
        architectures = target[LambdaLayerArchitecturesField].value
        if request.runtime not in runtimes or request.architecture not in architectures:
            raise LambdaLayerMismatch(
                f"{request.address} runs on {request.runtime} {request.architecture}, but its layer"
                f" {target.address} is built for runtimes {list(runtimes)} and architectures"
                f" {list(architectures)}: add them to the layer, or use another layer."
            )
    platform_requests = [
        LayerPlatformRequest(LambdaLayerFieldSet.create(t), request.runtime, request.architecture)
        for t in targets
    ]
    all_installs = await MultiGet(
        Get(LayerInstalls, LayerPlatformRequest, r) for r in platform_requests
    )
    all_zips = await MultiGet(Get(LayerZips, LayerPlatformRequest, r) for r in platform_requests)
    installs = [install for installs in all_installs for install in installs]
    entries = await MultiGet(Get(DigestEntries, Digest, install.digest) for install in installs)
    dists: set[LayerDist] = set()
    size = 0
    for install, install_entries in zip(installs, entries):
        for entry in install_entries:
            if isinstance(entry, FileEntry):
                size += entry.file_digest.serialized_bytes_length
                match = _DIST_INFO.match(entry.path)
                if match:
                    dists.add(LayerDist(install.name, match[1], match[2]))
    packed = tuple(z for zips in all_zips for z in zips)
    return FunctionLayers(tuple(sorted(dists, key=astuple)), size, packed)


def rules():
    return (*collect_rules(), UnionRule(PackageFieldSet, LambdaLayerFieldSet))
