"""Byte-reproducible, content-addressed AWS Lambda artifacts.

See the repository's README and docs/ for the targets, the goals they support and the options.
"""

from __future__ import annotations

from repro_lambda import workarounds
from repro_lambda.external import rules as external_rules
from repro_lambda.external.target_types import LambdaSourceTarget
from repro_lambda.goals import lock, package, package_layer, publish
from repro_lambda.manifest import lock_rules as manifest_lock_rules
from repro_lambda.manifest import rules as manifest_rules
from repro_lambda.manifest.target_types import LambdaManifestTarget, ManifestPythonLambdaTarget
from repro_lambda.nodejs import rules as nodejs_rules
from repro_lambda.nodejs.target_types import NodeLambdaArtifactTarget
from repro_lambda.subsystems import nodejs, packer, publisher, runtimes, uv
from repro_lambda.target_types import LambdaArtifactTarget, LambdaLayerTarget
from repro_lambda.util_rules import (
    batches,
    cross_toolchain,
    handler,
    install,
    names,
    pack,
    pex,
    platform_lock,
    runtime_python,
    sdists,
)


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
        # goals
        *lock.rules(),
        *package.rules(),
        *package_layer.rules(),
        *publish.rules(),
        # util_rules
        *batches.rules(),
        *cross_toolchain.rules(),
        *handler.rules(),
        *install.rules(),
        *names.rules(),
        *pack.rules(),
        *pex.rules(),
        *platform_lock.rules(),
        *runtime_python.rules(),
        *sdists.rules(),
        # subsystems
        *nodejs.rules(),
        *packer.rules(),
        *publisher.rules(),
        *runtimes.rules(),
        *uv.rules(),
        # the other kinds of lambda, and external sources
        *external_rules.rules(),
        *manifest_lock_rules.rules(),
        *manifest_rules.rules(),
        *nodejs_rules.rules(),
        *workarounds.rules(),
    )
