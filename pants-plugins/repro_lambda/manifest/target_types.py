"""`lambda_manifest`: a reference-design `lambdas.toml` as targets, and the target it generates
for each pip lambda (npm lambdas are `nodejs_lambda_artifact`s, sources `lambda_source`s)."""

from __future__ import annotations

from pants.core.util_rules.environments import EnvironmentField
from pants.engine.target import (
    COMMON_TARGET_FIELDS,
    MultipleSourcesField,
    SingleSourceField,
    StringField,
    Target,
    TargetGenerator,
)
from pants.util.docutil import bin_name
from pants.util.strutil import help_text

from repro_lambda.external.target_types import LambdaExternalSourcesField
from repro_lambda.target_types import (
    LambdaArchitectureField,
    LambdaAtEdgeField,
    LambdaHashExtraField,
    LambdaLogicalNameField,
    LambdaOutputPathField,
    LambdaRuntimeField,
    LambdaSkipPublishField,
)


class LambdaManifestSourceField(SingleSourceField):
    default = "lambdas.toml"
    required = False
    help = "The manifest: a `lambdas.toml` of the reference design, relative to this BUILD file."


class ManifestSourcesField(MultipleSourcesField):
    help = help_text(
        """
        The lambda's files: its `source_dir`'s files that its include patterns select and its
        exclude patterns do not, as Pants globs.
        """
    )


class ManifestSourceDirField(StringField):
    alias = "source_dir"
    required = True
    value: str
    help = "The lambda's directory, relative to the build root: the root of its zip."


class ManifestHandlerField(StringField):
    alias = "handler"
    required = True
    value: str
    help = "The Lambda handler, `module.function`, relative to `source_dir`."


class ManifestRequirementsLockField(StringField):
    alias = "requirements_lock"
    help = help_text(
        """
        The hashed requirements file of this lambda's architecture (`pip-compile` / `uv pip
        compile --generate-hashes` format, `${arch}` already substituted), installed wheels
        only for the runtime and architecture, every hash verified.
        """
    )


class ManifestPythonLambdaTarget(Target):
    alias = "manifest_python_lambda"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        ManifestSourcesField,
        ManifestSourceDirField,
        ManifestHandlerField,
        LambdaRuntimeField,
        LambdaArchitectureField,
        LambdaLogicalNameField,
        ManifestRequirementsLockField,
        LambdaHashExtraField,
        LambdaExternalSourcesField,
        LambdaAtEdgeField,
        LambdaSkipPublishField,
        LambdaOutputPathField,
        EnvironmentField,
    )
    help = help_text(
        """
        A pip lambda of a `lambda_manifest` (generated, never declared by hand): its files are
        chosen by the manifest's patterns, not by dependency inference, and its wheels come from
        its per-architecture hashed requirements lock.
        """
    )


class LambdaManifestTarget(TargetGenerator):
    alias = "lambda_manifest"
    help = help_text(
        f"""
        Every `[[lambda]]` of a reference-design `lambdas.toml` as a target, addressed by its
        `logical_name` (`<this target>#<logical_name>`), with no BUILD file per lambda.

        A pip lambda becomes a `manifest_python_lambda`, an npm lambda a
        `nodejs_lambda_artifact`, and each `[[lambda.source]]` a `lambda_source`
        (`#<logical_name>.<source name>`). The manifest's semantics are the reference's:
        `[builder]` sets defaults that a lambda's own `base_image_python`, `base_image_nodejs`,
        `include_patterns` or `exclude_patterns` replaces (lists are not merged); base images
        must be pinned by `@sha256:` digest; a lambda's files are those under `source_dir` that
        its include patterns match and its exclude patterns do not; its resolved builder (image
        digest, patterns, builder version) folds into its key, so changing an override re-keys
        that lambda only. `{bin_name()} package`, `publish`, `list`, `peek` and `dependencies`
        treat the generated targets like BUILD-declared ones.

        Example (in the BUILD file at the repository root):

            lambda_manifest(name="lambdas")
        """
    )
    core_fields = (*COMMON_TARGET_FIELDS, LambdaManifestSourceField)
    copied_fields = COMMON_TARGET_FIELDS
    moved_fields = ()
    # and `nodejs_lambda_artifact` and `lambda_source` targets: see `generate_manifest_targets`
    generated_target_cls = ManifestPythonLambdaTarget
