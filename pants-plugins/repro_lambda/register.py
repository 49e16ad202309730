"""Byte-reproducible, content-addressed AWS Lambda artifacts.

See the repository's README and docs/ for the targets, the goals they support and the options.
"""

from __future__ import annotations

from repro_lambda import (
    batch_rules,
    handler_rules,
    install_rules,
    layer_rules,
    lock_rules,
    names_rules,
    pack_rules,
    package_rules,
    pants_workarounds,
    pex_cli,
    platform_lock,
    publish_rules,
    runtime_python_rules,
)
from repro_lambda.external import rules as external_rules
from repro_lambda.external.target_types import LambdaSourceTarget
from repro_lambda.manifest import lock_rules as manifest_lock_rules
from repro_lambda.manifest import rules as manifest_rules
from repro_lambda.manifest import uv
from repro_lambda.manifest.target_types import LambdaManifestTarget, ManifestPythonLambdaTarget
from repro_lambda.nodejs import rules as nodejs_rules
from repro_lambda.nodejs import subsystem as nodejs_subsystem
from repro_lambda.nodejs.target_types import NodeLambdaArtifactTarget
from repro_lambda.subsystems import packer, publisher, runtimes
from repro_lambda.target_types import LambdaArtifactTarget, LambdaLayerTarget


def target_types():
    return [
        LambdaArtifactTarget,
        LambdaLayerTarget,
        NodeLambdaArtifactTarget,
        LambdaSourceTarget,
        LambdaManifestTarget,
        ManifestPythonLambdaTarget,
    ]


def rules():
    return (
        *batch_rules.rules(),
        *external_rules.rules(),
        *handler_rules.rules(),
        *install_rules.rules(),
        *layer_rules.rules(),
        *lock_rules.rules(),
        *manifest_lock_rules.rules(),
        *manifest_rules.rules(),
        *names_rules.rules(),
        *nodejs_rules.rules(),
        *nodejs_subsystem.rules(),
        *pack_rules.rules(),
        *package_rules.rules(),
        *pants_workarounds.rules(),
        *pex_cli.rules(),
        *platform_lock.rules(),
        *publish_rules.rules(),
        *runtime_python_rules.rules(),
        *packer.rules(),
        *publisher.rules(),
        *runtimes.rules(),
        *uv.rules(),
    )
