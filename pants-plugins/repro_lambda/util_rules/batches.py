"""Packing a BUILD directory's Python lambdas in batches of one packer process each, whatever
target declares them: each zip is still its own result, and a lambda that cannot be prepared or
packed for a reason the user has to fix (a `LambdaUserError`) fails only its own `package`; any
other exception is a bug, and fails the batch.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from pants.core.util_rules.environments import EnvironmentField, EnvironmentName
from pants.engine.addresses import Address
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import AllTargets, FieldSet
from pants.engine.unions import UnionMembership, union
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from repro_lambda.core.contract import PackSpec
from repro_lambda.core.pack.split import split_into_batches
from repro_lambda.errors import LambdaUserError
from repro_lambda.external.target_types import LambdaExternalSourcesField
from repro_lambda.target_types import (
    LambdaArchitectureField,
    LambdaHashExtraField,
    LambdaLogicalNameField,
    LambdaOutputPathField,
    LambdaRuntimeField,
)
from repro_lambda.util_rules.pack import (
    PackedBatch,
    PackedLambda,
    PackLambdaBatch,
    PackLambdaRequest,
)


@union(in_scope_types=[EnvironmentName])
@dataclass(frozen=True)
class BatchedLambdaFieldSet(FieldSet):
    """The `package` field sets of Python functions (`lambda_artifact`, a manifest's pip
    lambdas), which pack in batches, with the fields they share: each subclass is a member of this
    union with a rule that makes a `PreparedLambda` of it."""

    runtime: LambdaRuntimeField
    architecture: LambdaArchitectureField
    logical_name: LambdaLogicalNameField
    hash_extra: LambdaHashExtraField
    external_sources: LambdaExternalSourcesField
    output_path: LambdaOutputPathField
    environment: EnvironmentField

    def pack_spec(self, logical_name: str, handler: str, **options: Any) -> PackSpec:
        """The spec of its zip; `options` are PackSpec's other fields."""
        return PackSpec(
            logical_name,
            self.runtime.value,
            self.architecture.value,
            handler=handler,
            hash_extra=self.hash_extra.value or "",
            **options,
        )


@dataclass(frozen=True)
class PreparedLambda:
    """What a lambda is packed from, and what its package needs after packing."""

    request: PackLambdaRequest
    layer_zips: tuple[PackedLambda, ...] = ()


@dataclass(frozen=True)
class LambdaBatches:
    """The lambdas packed in one process, by address: those of one BUILD directory and
    environment, split so that an edit repacks only the batches of what it changes (see
    `split_into_batches`)."""

    by_address: FrozenDict[Address, tuple[BatchedLambdaFieldSet, ...]]


@rule(desc="Group Lambda artifacts into packing batches", level=LogLevel.DEBUG)
async def lambda_batches(targets: AllTargets, union_membership: UnionMembership) -> LambdaBatches:
    kinds = union_membership.get(BatchedLambdaFieldSet)
    groups: defaultdict[tuple[str, str | None], dict[str, BatchedLambdaFieldSet]] = defaultdict(
        dict
    )
    for target in targets:
        for kind in kinds:
            if kind.is_applicable(target):
                group = groups[(target.address.spec_path, target.get(EnvironmentField).value)]
                group[target.address.spec] = kind.create(target)
    by_address: dict[Address, tuple[BatchedLambdaFieldSet, ...]] = {}
    for group in groups.values():
        for batch in split_into_batches(group):
            members = tuple(group[spec] for spec in batch)
            by_address.update((field_set.address, members) for field_set in members)
    return LambdaBatches(FrozenDict(by_address))


@dataclass(frozen=True)
class _BatchMate:
    field_set: BatchedLambdaFieldSet


@dataclass(frozen=True)
class _MaybePrepared:
    prepared: PreparedLambda | None


@rule
async def prepare_batch_mate(mate: _BatchMate) -> _MaybePrepared:
    try:
        return _MaybePrepared(await Get(PreparedLambda, BatchedLambdaFieldSet, mate.field_set))
    except LambdaUserError:  # its own `package` reports it; the batch goes on without it
        return _MaybePrepared(None)


@dataclass(frozen=True)
class _BatchMates:
    field_sets: tuple[BatchedLambdaFieldSet, ...]


@rule(desc="Pack a batch of Lambda artifacts", level=LogLevel.DEBUG)
async def pack_batch_mates(batch: _BatchMates) -> PackedBatch:
    mates = await MultiGet(Get(_MaybePrepared, _BatchMate(fs)) for fs in batch.field_sets)
    requests = tuple(mate.prepared.request for mate in mates if mate.prepared)
    return await Get(PackedBatch, PackLambdaBatch(requests))


@dataclass(frozen=True)
class PackInBatch:
    """Pack `prepared`, the lambda of `field_set`, with the other lambdas of its batch."""

    field_set: BatchedLambdaFieldSet
    prepared: PreparedLambda


@rule(desc="Pack a Lambda artifact in its batch", level=LogLevel.DEBUG)
async def pack_in_batch(request: PackInBatch, batches: LambdaBatches) -> PackedLambda:
    field_set = request.field_set
    batch = await Get(
        PackedBatch, _BatchMates(batches.by_address.get(field_set.address, (field_set,)))
    )
    return batch.member(request.prepared.request).packed()


def rules():
    return collect_rules()
