"""`pants package` for `lambda_artifact`: closure + wheels, packed deterministically."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import PurePath

from pants.backend.python.target_types import PythonResolveField
from pants.backend.python.util_rules.pex import VenvPexProcess
from pants.backend.python.util_rules.python_sources import (
    PythonSourceFiles,
    PythonSourceFilesRequest,
    StrippedPythonSourceFiles,
)
from pants.core.goals.package import BuiltPackage, BuiltPackageArtifact, PackageFieldSet
from pants.core.util_rules.environments import EnvironmentField
from pants.engine.addresses import Address
from pants.engine.fs import AddPrefix, Digest, DigestContents, DigestSubset, MergeDigests, PathGlobs
from pants.engine.process import FallibleProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import TransitiveTargets, TransitiveTargetsRequest
from pants.engine.unions import UnionRule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from repro_lambda.handler_rules import HandlerOwner, HandlerOwnerRequest
from repro_lambda.lock_rules import LambdaInstallInputs, LambdaInstallInputsRequest
from repro_lambda.requirements_rules import (
    SITE_PACKAGES,
    LambdaRequirements,
    LambdaRequirementsRequest,
)
from repro_lambda.subsystems.packer import PackerPex
from repro_lambda.target_types import (
    LambdaArchitectureField,
    LambdaCompletePlatformsField,
    LambdaHandlerField,
    LambdaHashExtraField,
    LambdaOutputPathField,
    LambdaRuntimeField,
)

logger = logging.getLogger(__name__)

_SOURCES = "__sources"
_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]")


class LambdaPackagingError(Exception):
    """The packer refused an artifact (a user error, reported without a traceback)."""


def logical_name(address: Address) -> str:
    """The artifact's name in keys and the catalog: the target name plus any parameters."""
    name = address.generated_name or address.target_name
    params = [value for _, value in sorted(address.parameters.items())]
    return _UNSAFE_KEY_CHARS.sub("_", "-".join([name, *params]))


@dataclass(frozen=True)
class LambdaArtifactFieldSet(PackageFieldSet):
    required_fields = (LambdaHandlerField, LambdaRuntimeField)

    handler: LambdaHandlerField
    runtime: LambdaRuntimeField
    architecture: LambdaArchitectureField
    resolve: PythonResolveField
    complete_platforms: LambdaCompletePlatformsField
    hash_extra: LambdaHashExtraField
    output_path: LambdaOutputPathField
    environment: EnvironmentField


@dataclass(frozen=True)
class PackedLambda:
    """A zip and its metadata JSON, at their dist-relative paths."""

    digest: Digest
    zip_path: str
    metadata: FrozenDict


@dataclass(frozen=True)
class PackLambdaRequest:
    field_set: LambdaArtifactFieldSet
    payload: Digest  # __sources/, and site-packages/ when there are third-party wheels
    has_site_packages: bool


@rule(desc="Packing a Lambda zip", level=LogLevel.DEBUG)
async def pack_lambda(request: PackLambdaRequest, packer: PackerPex) -> PackedLambda:
    field_set = request.field_set
    zip_path = field_set.output_path.value_or_default(file_ending="zip")
    metadata_path = str(PurePath(zip_path).with_suffix(".json"))
    argv = [
        f"--output={zip_path}",
        f"--metadata={metadata_path}",
        f"--logical-name={logical_name(field_set.address)}",
        f"--runtime={field_set.runtime.value}",
        f"--architecture={field_set.architecture.value}",
        f"--handler={field_set.handler.value}",
        f"--sources={_SOURCES}",
    ]
    if request.has_site_packages:
        argv.append(f"--site-packages={SITE_PACKAGES}")
    if field_set.hash_extra.value:
        argv.append(f"--hash-extra={field_set.hash_extra.value}")
    result = await Get(
        FallibleProcessResult,
        VenvPexProcess(
            packer.pex,
            argv=tuple(argv),
            input_digest=request.payload,
            output_files=(zip_path, metadata_path),
            description=f"Packing {zip_path}",
            level=LogLevel.DEBUG,
        ),
    )
    stderr = result.stderr.decode(errors="replace")
    if result.exit_code != 0:
        reasons = [line[len("error: ") :] for line in stderr.splitlines() if line.startswith("error: ")]
        raise LambdaPackagingError(
            f"Cannot package {field_set.address}: " + ("; ".join(reasons) or stderr.strip())
        )
    for line in stderr.splitlines():
        logger.warning(f"{field_set.address}: {line.removeprefix('warning: ')}")
    contents = await Get(DigestContents, DigestSubset(result.output_digest, PathGlobs([metadata_path])))
    metadata = FrozenDict.deep_freeze(json.loads(contents[0].content))
    return PackedLambda(result.output_digest, zip_path, metadata)


@rule(desc="Package a Lambda artifact", level=LogLevel.DEBUG)
async def package_lambda_artifact(field_set: LambdaArtifactFieldSet) -> BuiltPackage:
    await Get(HandlerOwner, HandlerOwnerRequest(field_set.handler, field_set.resolve))
    inputs = await Get(
        LambdaInstallInputs,
        LambdaInstallInputsRequest(
            field_set.address,
            field_set.resolve,
            field_set.runtime,
            field_set.architecture,
            field_set.complete_platforms,
        ),
    )
    transitive_targets, requirements = await MultiGet(
        Get(TransitiveTargets, TransitiveTargetsRequest([field_set.address])),
        Get(LambdaRequirements, LambdaRequirementsRequest(field_set.address, inputs)),
    )
    sources = await Get(
        StrippedPythonSourceFiles,
        PythonSourceFilesRequest(transitive_targets.closure, include_resources=True),
    )
    prefixed_sources = await Get(
        Digest, AddPrefix(sources.stripped_source_files.snapshot.digest, _SOURCES)
    )
    payload = await Get(Digest, MergeDigests([prefixed_sources, requirements.digest]))
    packed = await Get(
        PackedLambda, PackLambdaRequest(field_set, payload, bool(inputs.requirements))
    )
    metadata = packed.metadata
    artifact = BuiltPackageArtifact(
        packed.zip_path,
        extra_log_lines=(
            f"    Key: {metadata['s3_key']}",
            f"    {inputs.platform_name}, {metadata['entry_count']} files, "
            f"{metadata['size']:,} bytes ({metadata['uncompressed_size']:,} unzipped)",
        ),
    )
    return BuiltPackage(packed.digest, (artifact,))


def rules():
    return (*collect_rules(), UnionRule(PackageFieldSet, LambdaArtifactFieldSet))
