"""`pants package` for `lambda_artifact`: closure + wheels (less its layers'), packed
deterministically, in batches (see `util_rules/batches.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.backend.python.target_types import PythonResolveField
from pants.backend.python.util_rules.python_sources import (
    PythonSourceFilesRequest,
    StrippedPythonSourceFiles,
)
from pants.core.goals.package import BuiltPackage, PackageFieldSet
from pants.engine.fs import AddPrefix, Digest, MergeDigests
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import TransitiveTargets, TransitiveTargetsRequest
from pants.engine.unions import UnionRule
from pants.util.logging import LogLevel

from repro_lambda.external.rules import ExternalSources, ExternalSourcesRequest
from repro_lambda.goals.package_layer import FunctionLayers, FunctionLayersRequest
from repro_lambda.subsystems.runtimes import RuntimeLifecycle, RuntimeLifecycleRequest
from repro_lambda.target_types import (
    RUNTIME_BOTO3_MODULES,
    Bytecode,
    LambdaBytecodeField,
    LambdaCompletePlatformsField,
    LambdaHandlerField,
    LambdaLayersField,
    LambdaRuntimeBoto3Field,
    LambdaRuntimeField,
    LambdaSmokeImportField,
)
from repro_lambda.util_rules.batches import BatchedLambdaFieldSet, PackInBatch, PreparedLambda
from repro_lambda.util_rules.handler import HandlerOwner, HandlerOwnerRequest
from repro_lambda.util_rules.install import (
    SITE_PACKAGES,
    LambdaInstallInputs,
    LambdaInstallInputsRequest,
    LambdaRequirements,
    LambdaRequirementsRequest,
)
from repro_lambda.util_rules.names import LogicalName, LogicalNameRequest
from repro_lambda.util_rules.pack import FIRST_PARTY, PackedLambda, PackLambdaRequest
from repro_lambda.util_rules.runtime_python import (
    BytecodeRequest,
    CompiledBytecode,
    RuntimeCompiled,
    RuntimeCompileRequest,
    SmokeImported,
    SmokeImportRequest,
)


@dataclass(frozen=True)
class LambdaArtifactFieldSet(PackageFieldSet, BatchedLambdaFieldSet):
    required_fields = (LambdaHandlerField, LambdaRuntimeField)

    handler: LambdaHandlerField
    resolve: PythonResolveField
    complete_platforms: LambdaCompletePlatformsField
    layers: LambdaLayersField
    runtime_boto3: LambdaRuntimeBoto3Field
    smoke_import: LambdaSmokeImportField
    bytecode: LambdaBytecodeField


@rule(desc="Prepare a Lambda artifact", level=LogLevel.DEBUG)
async def prepare_lambda_artifact(field_set: LambdaArtifactFieldSet) -> PreparedLambda:
    name = await Get(LogicalName, LogicalNameRequest(field_set.address, field_set.logical_name))
    await Get(RuntimeLifecycle, RuntimeLifecycleRequest(field_set.address, field_set.runtime.value))
    await Get(HandlerOwner, HandlerOwnerRequest(field_set.handler, field_set.resolve))
    inputs = await Get(
        LambdaInstallInputs,
        LambdaInstallInputsRequest(
            field_set.address,
            field_set.resolve,
            field_set.runtime.value,
            field_set.architecture.value,
            field_set.complete_platforms,
        ),
    )
    transitive_targets, requirements, layers, external = await MultiGet(
        Get(TransitiveTargets, TransitiveTargetsRequest([field_set.address])),
        Get(LambdaRequirements, LambdaRequirementsRequest(field_set.address, inputs)),
        Get(
            FunctionLayers,
            FunctionLayersRequest(
                field_set.address, field_set.layers, inputs.runtime, inputs.architecture
            ),
        ),
        Get(
            ExternalSources,
            ExternalSourcesRequest(field_set.address, field_set.external_sources),
        ),
    )
    sources = await Get(
        StrippedPythonSourceFiles,
        PythonSourceFilesRequest(transitive_targets.closure, include_resources=True),
    )
    stripped = sources.stripped_source_files.snapshot.digest
    await Get(
        RuntimeCompiled,
        RuntimeCompileRequest(
            field_set.address,
            field_set.runtime.value,
            tuple(transitive_targets.closure),
            sources.stripped_source_files.snapshot,
        ),
    )
    prefixed_sources = await Get(Digest, AddPrefix(stripped, FIRST_PARTY))
    payload = await Get(
        Digest,
        MergeDigests(
            [
                prefixed_sources,
                external.digest,
                *(z.digest for z in layers.zips),
            ]
        ),
    )
    has_bytecode = field_set.bytecode.value != Bytecode.NONE
    if has_bytecode:
        bytecode = await Get(
            CompiledBytecode,
            BytecodeRequest(
                field_set.address,
                field_set.runtime.value,
                field_set.bytecode.value,
                await Get(Digest, MergeDigests([payload, requirements.digest])),
                (FIRST_PARTY, SITE_PACKAGES) if inputs.requirements else (FIRST_PARTY,),
            ),
        )
        payload = await Get(Digest, MergeDigests([payload, bytecode.digest]))
    spec = field_set.pack_spec(
        name.value,
        field_set.handler.value,
        layer_dists=layers.dists,
        layer_artifacts=layers.artifacts,
        layers_unzipped_size=layers.unzipped_size,
        runtime_provides=RUNTIME_BOTO3_MODULES if field_set.runtime_boto3.value else (),
    )
    request = PackLambdaRequest(
        field_set.address,
        zip_path=field_set.output_path.value_or_default(file_ending="zip"),
        spec=spec,
        payload=payload,
        has_sources=True,
        site_packages=requirements.digest,
        has_bytecode=has_bytecode,
        external_roots=external.roots,
        layer_zips=tuple(z.zip_path for z in layers.zips),
    )
    return PreparedLambda(request, layers.zips)


@rule(desc="Package a Lambda artifact", level=LogLevel.DEBUG)
async def package_lambda_artifact(field_set: LambdaArtifactFieldSet) -> BuiltPackage:
    prepared = await Get(PreparedLambda, LambdaArtifactFieldSet, field_set)
    packed = await Get(PackedLambda, PackInBatch(field_set, prepared))
    if field_set.smoke_import.value:
        await Get(
            SmokeImported,
            SmokeImportRequest(
                field_set.address,
                field_set.runtime.value,
                field_set.architecture.value,
                field_set.handler.value,
                packed,
                prepared.layer_zips,
            ),
        )
    return BuiltPackage(packed.digest, (packed.artifact(),))


def rules():
    return (
        *collect_rules(),
        UnionRule(PackageFieldSet, LambdaArtifactFieldSet),
        UnionRule(BatchedLambdaFieldSet, LambdaArtifactFieldSet),
    )
