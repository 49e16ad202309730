"""Byte-reproducible, content-addressed AWS Lambda artifacts.

See the repository's README and docs/ for the targets, the goals they support and the options.
"""

from __future__ import annotations

from repro_lambda import (
    handler_rules,
    layer_rules,
    lock_rules,
    nodejs_rules,
    pack_rules,
    package_rules,
    pex_cli,
    platform_rules,
    publish_rules,
    requirements_rules,
)
from repro_lambda.subsystems import nodejs, packer, publisher
from repro_lambda.target_types import (
    LambdaArtifactTarget,
    LambdaLayerTarget,
    NodeLambdaArtifactTarget,
)


def target_types():
    return [LambdaArtifactTarget, LambdaLayerTarget, NodeLambdaArtifactTarget]


def rules():
    return (
        *handler_rules.rules(),
        *layer_rules.rules(),
        *lock_rules.rules(),
        *nodejs_rules.rules(),
        *pack_rules.rules(),
        *package_rules.rules(),
        *pex_cli.rules(),
        *platform_rules.rules(),
        *publish_rules.rules(),
        *requirements_rules.rules(),
        *nodejs.rules(),
        *packer.rules(),
        *publisher.rules(),
    )
