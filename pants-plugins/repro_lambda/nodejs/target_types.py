"""The `nodejs_lambda_artifact` target and its fields."""

from __future__ import annotations

import re
from typing import Optional

from pants.core.util_rules.environments import EnvironmentField
from pants.engine.addresses import Address
from pants.engine.target import (
    COMMON_TARGET_FIELDS,
    BoolField,
    InvalidFieldException,
    MultipleSourcesField,
    StringField,
    Target,
)
from pants.util.docutil import bin_name
from pants.util.strutil import help_text

from repro_lambda.core.runtimes import NODEJS_RUNTIMES, describe
from repro_lambda.external.target_types import LambdaExternalSourcesField
from repro_lambda.target_types import (
    LambdaArchitectureField,
    LambdaAtEdgeField,
    LambdaHashExtraField,
    LambdaLogicalNameField,
    LambdaOutputPathField,
    LambdaSkipPublishField,
    check_lambda_at_edge,
)

_NODE_HANDLER_RE = re.compile(r"^[\w.-]+(/[\w.-]+)*\.[A-Za-z_$][\w$]*$")


class NodeLambdaHandlerField(StringField):
    alias = "handler"
    required = True
    value: str
    help = help_text(
        """
        The function Lambda calls, in Lambda's Node.js form `<file>.<export>`: `index.handler`
        for `exports.handler` (or `export const handler`) in `index.js`, `index.mjs` or
        `index.cjs`, relative to the directory of `package_json`; e.g. `src/api.main`.
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> str:
        value = super().compute_value(raw_value, address)
        assert value is not None
        if not _NODE_HANDLER_RE.match(value):
            raise InvalidFieldException(
                f"The `{cls.alias}` field in target {address} must be in Lambda's Node.js "
                f"`<file>.<export>` form (e.g. `index.handler`), but was `{value}`."
            )
        return value


class NodeLambdaRuntimeField(StringField):
    alias = "runtime"
    required = True
    value: str
    valid_choices = NODEJS_RUNTIMES
    help = help_text(
        f"""
        The AWS Lambda Node.js runtime identifier the function runs on. By AWS's dates,
        packaging for a deprecated runtime warns, and fails once functions on it can no longer
        be updated (see `[lambda-runtimes]`): {describe(NODEJS_RUNTIMES)}.
        """
    )


class NodeLambdaPackageJsonField(StringField):
    alias = "package_json"
    default = "package.json"
    value: str
    help = help_text(
        """
        The function's `package.json`, relative to the BUILD file's directory (in it or below).
        A `package-lock.json` must sit beside it: production dependencies are installed from it
        with `npm ci`, for Linux and the `architecture`. npm workspaces are not supported.
        """
    )


class NodeLambdaSkipSymlinksField(BoolField):
    alias = "skip_symlinks"
    default = False
    help = help_text(
        """
        Leave `sources` that are symlinks, or under one, out of the zip with a warning, as the
        reference design's packer does (`lambda_manifest` sets it). By default Pants follows
        symlinks and packs the files they point to.
        """
    )


class NodeLambdaSourcesField(MultipleSourcesField):
    default = (
        "**/*.js",
        "**/*.mjs",
        "**/*.cjs",
        "**/*.json",
        "!**/node_modules/**",
        "!**/test/**",
        "!**/tests/**",
        "!**/__tests__/**",
        "!**/*.test.*",
        "!**/*.spec.*",
    )
    help = help_text(
        """
        The function's own files, as globs relative to the BUILD file's directory (which must be
        the directory of `package_json` or above it), with `!` for exclusions.

        The default takes JavaScript and JSON files and leaves out `node_modules/` (installed
        fresh by `npm ci`), `test/`, `tests/`, `__tests__/` and `*.test.*` / `*.spec.*` files.
        Set your own list to change that, e.g. `["**/*.js", "**/*.json", "assets/**"]`.
        """
    )


class NodeLambdaArtifactTarget(Target):
    alias = "nodejs_lambda_artifact"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        NodeLambdaSourcesField,
        NodeLambdaHandlerField,
        NodeLambdaRuntimeField,
        LambdaArchitectureField,
        LambdaLogicalNameField,
        NodeLambdaPackageJsonField,
        NodeLambdaSkipSymlinksField,
        LambdaHashExtraField,
        LambdaExternalSourcesField,
        LambdaAtEdgeField,
        LambdaSkipPublishField,
        LambdaOutputPathField,
        EnvironmentField,
    )
    help = help_text(
        f"""
        An AWS Lambda function in Node.js, packaged as a byte-reproducible zip.

        The zip holds the `sources` (paths relative to the `package_json`'s directory) and the
        production dependencies `npm ci --omit=dev --ignore-scripts` installs from the
        `package-lock.json` for Linux and the `architecture`, with npm's `.bin` links and
        `.package-lock.json` left out. A native `.node` binary for another architecture is an
        error. `{bin_name()} package` writes the zip and its metadata; `{bin_name()} publish`
        publishes it like a Python function.

        It is a target of its own, not a `lambda_artifact` runtime, because it has no Python
        dependency inference, resolve or platforms, and has sources and a `package.json`.

        Example:

            nodejs_lambda_artifact(
                name="api",
                handler="index.handler",
                runtime="nodejs22.x",
                architecture="arm64",
            )
        """
    )

    def validate(self) -> None:
        check_lambda_at_edge(self)
