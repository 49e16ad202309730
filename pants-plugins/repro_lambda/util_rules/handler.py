"""The handler: the dependency inference root of a `lambda_artifact`."""

from __future__ import annotations

from dataclasses import dataclass

from pants.backend.python.dependency_inference.module_mapper import FirstPartyPythonModuleMapping
from pants.backend.python.subsystems.setup import PythonSetup
from pants.backend.python.target_types import PythonResolveField
from pants.engine.addresses import Address
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import FieldSet, InferDependenciesRequest, InferredDependencies
from pants.engine.unions import UnionRule

from repro_lambda.errors import LambdaFieldError
from repro_lambda.target_types import LambdaArtifactDependenciesField, LambdaHandlerField


@dataclass(frozen=True)
class HandlerOwnerRequest:
    handler: LambdaHandlerField
    resolve: PythonResolveField


@dataclass(frozen=True)
class HandlerOwner:
    address: Address


@rule(desc="Finding the module of a Lambda handler")
async def find_handler_owner(
    request: HandlerOwnerRequest,
    python_setup: PythonSetup,
    mapping: FirstPartyPythonModuleMapping,
) -> HandlerOwner:
    handler = request.handler
    resolve = request.resolve.normalized_value(python_setup)
    # Lambda imports the module itself: a parent package that provides it (ancestry > 0) won't do.
    owners = sorted(
        {
            provider.provider.addr
            for provider in mapping.providers_for_module(handler.module, resolve)
            if provider.ancestry == 0
        }
    )
    if len(owners) == 1:
        return HandlerOwner(owners[0])
    if owners:
        problem = "is provided by more than one target: " + ", ".join(map(str, owners))
        fix = "Make exactly one `python_source` own the module: remove or narrow the others."
    else:
        problem = f"is not provided by any `python_source` in the `{resolve}` resolve"
        fix = (
            f"Check the spelling, and that `{handler.module.replace('.', '/')}.py` (relative to "
            "a source root) is owned by a `python_sources` target."
        )
    raise LambdaFieldError(
        f"The `{handler.alias}` field in target {handler.address} names the module "
        f"`{handler.module}`, which {problem}. {fix}"
    )


@dataclass(frozen=True)
class LambdaHandlerInferenceFieldSet(FieldSet):
    required_fields = (LambdaArtifactDependenciesField, LambdaHandlerField, PythonResolveField)

    dependencies: LambdaArtifactDependenciesField
    handler: LambdaHandlerField
    resolve: PythonResolveField


class InferLambdaHandlerDependency(InferDependenciesRequest):
    infer_from = LambdaHandlerInferenceFieldSet


@rule(desc="Inferring the dependency on a Lambda's handler module")
async def infer_lambda_handler_dependency(
    request: InferLambdaHandlerDependency,
) -> InferredDependencies:
    field_set = request.field_set
    owner = await Get(HandlerOwner, HandlerOwnerRequest(field_set.handler, field_set.resolve))
    return InferredDependencies([owner.address])


def rules():
    return (
        *collect_rules(),
        UnionRule(InferDependenciesRequest, InferLambdaHandlerDependency),
    )
