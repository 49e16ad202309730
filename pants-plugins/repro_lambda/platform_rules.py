"""The pex complete platform of each Lambda runtime × architecture."""

from __future__ import annotations

from dataclasses import dataclass

from pants.backend.python.util_rules.pex import CompletePlatforms
from pants.engine.addresses import UnparsedAddressInputs
from pants.engine.fs import CreateDigest, Digest, FileContent
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import InvalidFieldException
from pants.util.resources import read_resource

from repro_lambda.target_types import LambdaCompletePlatformsField


@dataclass(frozen=True)
class LambdaPlatformRequest:
    runtime: str
    architecture: str
    override: LambdaCompletePlatformsField


@rule
async def lambda_complete_platforms(request: LambdaPlatformRequest) -> CompletePlatforms:
    override = request.override
    if override.value:
        platforms = await Get(
            CompletePlatforms, UnparsedAddressInputs, override.to_unparsed_address_inputs()
        )
        if len(platforms) != 1:
            raise InvalidFieldException(
                f"The `{override.alias}` field in target {override.address} must name exactly one "
                f"complete platform file (a Lambda runs on one platform), but it gave "
                f"{len(platforms)}: {sorted(platforms)}."
            )
        return platforms
    name = f"{request.runtime}-{request.architecture}.json"
    path = f"__lambda_platforms/{name}"
    content = read_resource("repro_lambda.platforms", name)
    assert content is not None, f"the plugin ships no complete platform {name}"
    digest = await Get(Digest, CreateDigest([FileContent(path, content)]))
    return CompletePlatforms([path], digest=digest)


def rules():
    return collect_rules()
