"""Logical names: what keys and catalog entries are named by, unique across the repository.

Packaging any target checks its name against every function and layer target of the repository,
not only those being built, so that publishing in two runs (or with `--changed-since`) can never
point one catalog entry at two targets' artifacts.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from pants.engine.addresses import Address
from pants.engine.rules import collect_rules, rule
from pants.engine.target import AllTargets
from pants.util.frozendict import FrozenDict

from repro_lambda.core.contract import KEY_CHARS, Section
from repro_lambda.errors import LambdaTargetError
from repro_lambda.target_types import LambdaLogicalNameField

_UNSAFE_KEY_CHARS = re.compile(f"[^{KEY_CHARS}]")


class DuplicateLogicalName(LambdaTargetError):
    """Two targets would publish under one key prefix and one catalog entry."""


def logical_name(address: Address, explicit: str | None = None) -> str:
    """`explicit`, else the target's name, plus the value of each parameter (in key order)."""
    name = explicit or address.generated_name or address.target_name
    params = [value for _, value in sorted(address.parameters.items())]
    return _UNSAFE_KEY_CHARS.sub("_", "-".join([name, *params]))


@dataclass(frozen=True)
class RepositoryLogicalNames:
    """The addresses of the repository's targets by catalog section and logical name."""

    owners: FrozenDict[tuple[Section, str], tuple[Address, ...]]


@rule(desc="Reading the logical names of the repository's lambdas and layers")
async def repository_logical_names(targets: AllTargets) -> RepositoryLogicalNames:
    owners: defaultdict[tuple[Section, str], list[Address]] = defaultdict(list)
    for target in targets:
        if target.has_field(LambdaLogicalNameField):
            field = target[LambdaLogicalNameField]
            owners[field.section, logical_name(target.address, field.value)].append(target.address)
    return RepositoryLogicalNames(
        FrozenDict((key, tuple(sorted(addresses))) for key, addresses in owners.items())
    )


@dataclass(frozen=True)
class LogicalNameRequest:
    address: Address
    field: LambdaLogicalNameField


@dataclass(frozen=True)
class LogicalName:
    value: str


@rule(desc="Checking a logical name is unique")
async def unique_logical_name(
    request: LogicalNameRequest, names: RepositoryLogicalNames
) -> LogicalName:
    name = logical_name(request.address, request.field.value)
    others = [
        a for a in names.owners.get((request.field.section, name), ()) if a != request.address
    ]
    if others:
        raise DuplicateLogicalName(
            f"The logical name `{name}` of {request.address} is also that of"
            f" {', '.join(map(str, others))}: keys and catalog entries are named by it, so one"
            f" would replace the other's. Set `{request.field.alias}` on all but one of them to a"
            " name no other target in the repository has."
        )
    return LogicalName(name)


def rules():
    return collect_rules()
