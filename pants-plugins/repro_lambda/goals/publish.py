"""`pants publish` for Lambda functions (Python, Node.js) and layers: write-once uploads, catalog.

Pants 2.17 runs one interactive process per published target, one after another. Starting boto3
costs about half a second, so when the command line names the targets (the usual `publish ::`)
the first of them publishes the whole run in one process and the others add nothing; a target
outside that batch (e.g. under `--changed-since`) gets a process of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import ClassVar

from pants.base.build_root import BuildRoot
from pants.base.specs import Specs
from pants.core.goals.package import BuiltPackage, EnvironmentAwarePackageRequest, PackageFieldSet
from pants.core.goals.publish import (
    PublishFieldSet,
    PublishOutputData,
    PublishPackages,
    PublishProcesses,
    PublishRequest,
)
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import CreateDigest, Digest, FileContent, MergeDigests
from pants.engine.process import InteractiveProcess
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    Field,
    NoApplicableTargetsBehavior,
    TargetRootsToFieldSets,
    TargetRootsToFieldSetsRequest,
)
from pants.util.logging import LogLevel

from repro_lambda.core.contract import (
    PlanArtifact,
    PublishPlan,
    Section,
    UserError,
    parse_store_url,
)
from repro_lambda.errors import LambdaUserError
from repro_lambda.goals.package import LambdaArtifactFieldSet
from repro_lambda.goals.package_layer import LambdaLayerFieldSet
from repro_lambda.manifest.rules import ManifestPythonLambdaFieldSet
from repro_lambda.manifest.target_types import ManifestHandlerField, ManifestSourceDirField
from repro_lambda.nodejs.rules import NodeLambdaFieldSet
from repro_lambda.nodejs.target_types import NodeLambdaHandlerField, NodeLambdaRuntimeField
from repro_lambda.subsystems.publisher import AWS_ENV_VARS, LambdaPublisher, PublisherTool
from repro_lambda.target_types import (
    LambdaAtEdgeField,
    LambdaHandlerField,
    LambdaLayerRuntimesField,
    LambdaRuntimeField,
    LambdaSkipPublishField,
)
from repro_lambda.workarounds import CommandLineSpecs, with_secret_env

_PLAN = "__lambda_publish/plan.json"
_EDGE_REGION = "us-east-1"


class InvalidLambdaStore(LambdaUserError, ValueError):
    """A `[lambda-publish]` store option that is not an `s3://` or `file://` URL."""


class PublishLambdaRequest(PublishRequest):
    pass


@dataclass(frozen=True)
class _LambdaPublishFieldSetBase(PublishFieldSet):
    publish_request_type = PublishLambdaRequest
    section: ClassVar[Section] = Section.LAMBDAS

    skip_publish: LambdaSkipPublishField

    def is_edge(self) -> bool:
        return False

    def get_output_data(self) -> PublishOutputData:
        return PublishOutputData({"publisher": "lambda-publish", **super().get_output_data()})


@dataclass(frozen=True)
class LambdaPublishFieldSet(_LambdaPublishFieldSetBase):
    required_fields: ClassVar[tuple[type[Field], ...]] = (LambdaHandlerField, LambdaRuntimeField)

    lambda_at_edge: LambdaAtEdgeField

    def is_edge(self) -> bool:
        return bool(self.lambda_at_edge.value)


@dataclass(frozen=True)
class NodeLambdaPublishFieldSet(LambdaPublishFieldSet):
    required_fields = (NodeLambdaHandlerField, NodeLambdaRuntimeField)


@dataclass(frozen=True)
class ManifestLambdaPublishFieldSet(LambdaPublishFieldSet):
    required_fields = (ManifestHandlerField, ManifestSourceDirField)


@dataclass(frozen=True)
class LambdaLayerPublishFieldSet(_LambdaPublishFieldSetBase):
    required_fields = (LambdaLayerRuntimesField,)
    section = Section.LAYERS


_FIELD_SETS: tuple[tuple[type[PackageFieldSet], type[_LambdaPublishFieldSetBase]], ...] = (
    (LambdaArtifactFieldSet, LambdaPublishFieldSet),
    (NodeLambdaFieldSet, NodeLambdaPublishFieldSet),
    (ManifestPythonLambdaFieldSet, ManifestLambdaPublishFieldSet),
    (LambdaLayerFieldSet, LambdaLayerPublishFieldSet),
)


@dataclass(frozen=True)
class PublishBatch:
    """The targets to publish in one process, sorted by address: empty if the CLI is unknown.

    Each is a (package field set, publish field set) pair.
    """

    field_sets: tuple[tuple[PackageFieldSet, _LambdaPublishFieldSetBase], ...]


@rule
async def find_publish_batch(command_line: CommandLineSpecs) -> PublishBatch:
    if command_line.specs is None:
        return PublishBatch(())
    roots = await Get(
        TargetRootsToFieldSets,
        {
            TargetRootsToFieldSetsRequest(
                PublishFieldSet,
                goal_description="",
                no_applicable_targets_behavior=NoApplicableTargetsBehavior.ignore,
            ): TargetRootsToFieldSetsRequest,
            command_line.specs: Specs,
        },
    )
    return PublishBatch(
        tuple(
            (package.create(t), publish.create(t))
            for t in sorted(roots.targets, key=lambda t: t.address)
            for package, publish in _FIELD_SETS
            if publish.is_applicable(t)
        )
    )


def _store_url(option: str, value: str, build_root: BuildRoot) -> str:
    try:
        parse_store_url(value, Path(build_root.path))
    except UserError as error:
        raise InvalidLambdaStore(
            f"`[lambda-publish].{option}` must be `s3://bucket[/prefix]` or `file://path`, "
            f"but was `{value}` ({error})."
        ) from error
    return value.rstrip("/")


def _plan_entries(
    package: BuiltPackage,
    field_set: _LambdaPublishFieldSetBase,
    publisher: LambdaPublisher,
    build_root: BuildRoot,
) -> list[PlanArtifact]:
    """One entry per zip of the package: a function's, or each of a layer's."""
    edge = field_set.is_edge()
    store = (
        _store_url("edge_store", publisher.edge_store_url(), build_root)
        if edge
        else _store_url("store", publisher.store, build_root)
    )
    return [
        PlanArtifact(
            zip=artifact.relpath,
            metadata=str(PurePath(artifact.relpath).with_suffix(".json")),
            store=store,
            region=_EDGE_REGION if edge else publisher.region,
            lambda_at_edge=edge,
            section=field_set.section.value,
        )
        for artifact in package.artifacts
        if artifact.relpath
    ]


@dataclass(frozen=True)
class _PublishProcessRequest:
    packages: tuple[BuiltPackage, ...]
    field_sets: tuple[_LambdaPublishFieldSetBase, ...]


@rule(desc="Set up the Lambda publish process", level=LogLevel.DEBUG)
async def publish_process(
    request: _PublishProcessRequest,
    publisher: LambdaPublisher,
    publisher_tool: PublisherTool,
    build_root: BuildRoot,
) -> PublishPackages:
    entries = [
        entry
        for package, field_set in zip(request.packages, request.field_sets)
        for entry in _plan_entries(package, field_set, publisher, build_root)
    ]
    plan = PublishPlan(
        buildroot=build_root.path,
        dry_run=publisher.dry_run,
        catalog=publisher.catalog or None,
        catalog_history=publisher.catalog_history,
        endpoint_url=publisher.endpoint_url or None,
        max_attempts=publisher.max_attempts,
        artifacts=entries,
    )
    plan_digest = await Get(Digest, CreateDigest([FileContent(_PLAN, plan.render().encode())]))
    input_digest, aws_env = await MultiGet(
        Get(Digest, MergeDigests([plan_digest, *(p.digest for p in request.packages)])),
        Get(EnvironmentVars, EnvironmentVarsRequest(AWS_ENV_VARS)),
    )
    interactive = InteractiveProcess(
        publisher_tool.tool.argv("--plan", _PLAN),
        input_digest=input_digest,
        immutable_input_digests=publisher_tool.tool.immutable_input_digests,
        append_only_caches=publisher_tool.tool.python.caches,
    )
    stores = sorted({entry.store for entry in entries})
    return PublishPackages(
        names=tuple(entry.zip for entry in entries),
        process=with_secret_env(interactive, aws_env),
        description=" and ".join(stores) + (" (dry run)" if publisher.dry_run else ""),
    )


@rule(desc="Publish Lambda artifacts", level=LogLevel.DEBUG)
async def publish_lambda(request: PublishLambdaRequest, batch: PublishBatch) -> PublishProcesses:
    field_set = request.field_set
    assert isinstance(field_set, _LambdaPublishFieldSetBase)
    if field_set.skip_publish.value:
        names = tuple(a.relpath for p in request.packages for a in p.artifacts if a.relpath)
        return PublishProcesses(
            [PublishPackages(names, description=f"(by `skip_publish` on {field_set.address})")]
        )
    to_publish = [(pkg, pub) for pkg, pub in batch.field_sets if not pub.skip_publish.value]
    field_sets: tuple[_LambdaPublishFieldSetBase, ...]
    if field_set.address not in {pub.address for _, pub in to_publish}:
        packages, field_sets = request.packages, (field_set,)
    elif field_set.address != to_publish[0][1].address:
        return PublishProcesses()  # The batch's first target publishes this one.
    else:
        packages = await MultiGet(
            Get(BuiltPackage, EnvironmentAwarePackageRequest(pkg)) for pkg, _ in to_publish
        )
        field_sets = tuple(pub for _, pub in to_publish)
    publish = await Get(PublishPackages, _PublishProcessRequest(tuple(packages), field_sets))
    return PublishProcesses([publish])


def rules():
    return (
        *collect_rules(),
        *LambdaPublishFieldSet.rules(),
        *NodeLambdaPublishFieldSet.rules(),
        *ManifestLambdaPublishFieldSet.rules(),
        *LambdaLayerPublishFieldSet.rules(),
    )
