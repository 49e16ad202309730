"""The `lambda_artifact` and `lambda_layer` targets, and the fields `nodejs_lambda_artifact` shares.

`nodejs_lambda_artifact` itself is in `repro_lambda.nodejs.target_types`.
"""

from __future__ import annotations

import posixpath
import re
from typing import ClassVar, Iterable, Optional, Tuple

from pants.backend.python.target_types import PexCompletePlatformsField, PythonResolveField
from pants.core.goals.package import OutputPathField
from pants.core.util_rules.environments import EnvironmentField
from pants.engine.addresses import Address
from pants.engine.target import (
    COMMON_TARGET_FIELDS,
    AsyncFieldMixin,
    BoolField,
    Dependencies,
    InvalidFieldException,
    InvalidTargetException,
    SpecialCasedDependencies,
    StringField,
    StringSequenceField,
    Target,
)
from pants.util.docutil import bin_name
from pants.util.strutil import help_text

from repro_lambda.core.contract import (
    KEY_SEGMENT,
    ZIP_MAX_FIELD_LENGTH,
    Architecture,
    LayerLayout,
    Section,
    StrChoice,
)
from repro_lambda.core.runtimes import AL2, AL2023, PYTHON_RUNTIMES, describe
from repro_lambda.external.target_types import LambdaExternalSourcesField

RUNTIME_BOTO3_MODULES = ("boto3", "botocore")
"""The top-level modules a function with `runtime_boto3=True` imports from its runtime."""

_HANDLER_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


class LambdaHandlerField(StringField, AsyncFieldMixin):
    alias = "handler"
    required = True
    value: str
    help = help_text(
        """
        The function Lambda calls, in Lambda's own `module.function` form, e.g.
        `orders.api.lambda_handler` for `def lambda_handler(event, context)` in `orders/api.py`
        (the module path is relative to its source root).

        The handler's module is the root of the artifact: its first-party sources and third-party
        requirements are found by dependency inference from it, and nothing else is packed.
        Set the same string as the function's `handler` in your infrastructure code.
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> str:
        value = super().compute_value(raw_value, address)
        assert value is not None
        if not _HANDLER_RE.match(value):
            raise InvalidFieldException(
                f"The `{cls.alias}` field in target {address} must be in Lambda's "
                f"`module.function` form (e.g. `orders.api.lambda_handler`), but was `{value}`."
            )
        return value

    @property
    def module(self) -> str:
        return self.value.rpartition(".")[0]

    @property
    def function(self) -> str:
        return self.value.rpartition(".")[2]


class LambdaRuntimeField(StringField):
    alias = "runtime"
    required = True
    value: str
    valid_choices = PYTHON_RUNTIMES
    help = help_text(
        f"""
        The AWS Lambda runtime identifier the function runs on.

        It selects the Python version the third-party wheels are installed for, and the glibc
        ceiling of their manylinux tags: {AL2.name} has glibc {AL2.glibc[0]}.{AL2.glibc[1]},
        {AL2023.name} {AL2023.glibc[0]}.{AL2023.glibc[1]}. By AWS's dates, packaging for a
        deprecated runtime warns, and fails once functions on it can no longer be updated
        (see `[lambda-runtimes]`): {describe(PYTHON_RUNTIMES)}.
        """
    )


class LambdaArchitectureField(StringField):
    alias = "architecture"
    default = Architecture.X86_64.value
    value: str
    valid_choices = Architecture
    help = help_text(
        """
        The instruction set the function runs on: `x86_64` or `arm64` (Graviton).

        Native wheels are installed for this architecture whatever the build machine is, so an
        arm64 artifact can be built on an x86_64 host. To build both, use
        `architecture=parametrize("x86_64", "arm64")`.
        """
    )


class LambdaArtifactDependenciesField(Dependencies):
    supports_transitive_excludes = True
    help = help_text(
        """
        Addresses to add to what dependency inference finds from the `handler` module.

        Usually unnecessary: use it for resources loaded at run time or imports that inference
        cannot see. Prefix with `!` or `!!` to exclude an inferred dependency.
        """
    )


class LambdaCompletePlatformsField(PexCompletePlatformsField):
    help = help_text(
        """
        Override the built-in complete platform of the `runtime` × `architecture`.

        Addresses of `file` targets holding pex complete-platform JSON (the marker environment and
        compatible wheel tags of an interpreter). Leave unset to use the platform shipped with the
        plugin, generated for the Lambda base image of the runtime.
        """
    )


class LambdaLogicalNameField(StringField):
    alias = "logical_name"
    section: ClassVar[Section] = Section.LAMBDAS
    help = help_text(
        """
        The artifact's name in its key (`lambdas/<name>/<sha256>.zip`) and catalog entry; no two
        functions in the repository may share one.

        Default: the target's name. A parametrized target appends each parameter's value, e.g.
        `api-arm64` for `architecture=parametrize("x86_64", "arm64")`. Letters, digits, `.`, `_`
        and `-` only.
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> Optional[str]:
        value = super().compute_value(raw_value, address)
        if value is not None and not KEY_SEGMENT.fullmatch(value):
            raise InvalidFieldException(
                f"The `{cls.alias}` field in target {address} must be letters, digits, `.`, `_`"
                f" and `-` (it names the artifact's key), but was `{value}`."
            )
        return value


class LambdaHashExtraField(StringField):
    alias = "hash_extra"
    default = None
    help = help_text(
        f"""
        Free text that becomes the zip's comment, and so forces a new artifact key.

        Use it to redeploy unchanged code on purpose (e.g. after rotating a secret the function
        reads at start-up). Empty means no comment. At most {ZIP_MAX_FIELD_LENGTH:,} bytes
        (UTF-8), a zip comment's limit.
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> Optional[str]:
        value = super().compute_value(raw_value, address)
        size = len(value.encode("utf-8")) if value else 0
        if size > ZIP_MAX_FIELD_LENGTH:
            raise InvalidFieldException(
                f"The `{cls.alias}` field in target {address} is {size:,} bytes (UTF-8), over the"
                f" {ZIP_MAX_FIELD_LENGTH:,}-byte limit of the zip comment it becomes: shorten it."
            )
        return value


class LambdaLayersField(SpecialCasedDependencies):
    alias = "layers"
    help = help_text(
        """
        Addresses of `lambda_layer` targets the function runs with.

        Each must be built for the function's `runtime` and `architecture`. The zip leaves out
        every distribution the layers provide (at the same version; a different version in the
        function's lockfile is an error), and the function and its layers together must stay
        under Lambda's 262,144,000 bytes unzipped.
        """
    )


class LambdaAtEdgeField(BoolField):
    alias = "lambda_at_edge"
    default = False
    help = help_text(
        f"""
        Whether the function runs on Lambda@Edge (CloudFront).

        Lambda@Edge deploys from us-east-1 and runs only on x86_64, so `{bin_name()} publish`
        uploads the artifact to `[lambda-publish].edge_store` instead of `store`, and the
        `architecture` must be `x86_64`.
        """
    )


class LambdaSkipPublishField(BoolField):
    alias = "skip_publish"
    default = False
    help = f"If true, `{bin_name()} publish` skips this artifact (it can still be packaged)."


class LambdaRuntimeBoto3Field(BoolField):
    alias = "runtime_boto3"
    default = False
    help = help_text(
        """
        Whether the function imports `boto3` and `botocore` from the Lambda runtime instead of
        packing them.

        The packer refuses a function whose imports nothing in the zip, its layers or the runtime
        provides. Lambda's Python runtimes include a copy of boto3 whose version AWS chooses and
        changes: set this to rely on it without a requirement. Pinning boto3 in the `resolve`
        instead packs that version, which is reproducible.
        """
    )


class LambdaSmokeImportField(BoolField):
    alias = "smoke_import"
    default = False
    help = help_text(
        f"""
        Whether `{bin_name()} package` imports the handler from the packed zip before it reports
        the artifact.

        The zip and its layers are unzipped into a temporary directory laid out as Lambda's
        `/var/task` and `/opt`, and an isolated interpreter of the runtime's Python version
        (`python -I -S`, found on the search path of `[python-bootstrap]`) imports the
        handler's module and looks up its function, as a cold start does. An import error, or an
        exception the module raises at import time, fails the package. It runs only on a host of
        the function's architecture; elsewhere, or without such an interpreter, it is skipped
        with a message. It cannot be combined with `runtime_boto3`, whose boto3 is not there.
        """
    )


class Bytecode(StrChoice):
    """Whether a function ships bytecode, and how the interpreter checks it against the source
    (PEP 552)."""

    NONE = "none"
    UNCHECKED_HASH = "unchecked-hash"
    CHECKED_HASH = "checked-hash"


class LambdaBytecodeField(StringField):
    alias = "bytecode"
    default = Bytecode.NONE.value
    value: str
    valid_choices = Bytecode
    help = help_text(
        """
        Whether the zip holds bytecode, which saves a cold start compiling every module it
        imports: `none`, or hash-based `.pyc` files in `__pycache__/` beside each module, first-
        and third-party alike, which the interpreter uses without checking the source
        (`unchecked-hash`, the fastest) or after comparing the source's hash (`checked-hash`).

        The bytecode is compiled by an interpreter of the runtime's exact Python version, found
        on the search path of `[python-bootstrap]` (packaging fails if there is none), with
        `PYTHONHASHSEED=0`: it depends only on the sources, their paths in the zip and that
        version, so the zip is the same on every host. A module that version cannot compile gets
        no bytecode.
        """
    )


class LambdaOutputPathField(OutputPathField):
    help = help_text(
        f"""
        {OutputPathField.help}

        A metadata JSON with the same stem is written next to the zip. `{bin_name()} package`
        prints the S3 key the artifact is published under.
        """
    )

    @classmethod
    def compute_value(cls, raw_value: Optional[str], address: Address) -> Optional[str]:
        value = super().compute_value(raw_value, address)
        if value is not None and (
            posixpath.isabs(value) or posixpath.normpath(value).split("/")[0] == ".."
        ):
            raise InvalidFieldException(
                f"The `{cls.alias}` field in target {address} must be a path relative to the dist"
                f" directory that stays inside it, but was `{value}`."
            )
        return value


class LambdaArtifactTarget(Target):
    alias = "lambda_artifact"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        LambdaHandlerField,
        LambdaRuntimeField,
        LambdaArchitectureField,
        LambdaLogicalNameField,
        LambdaArtifactDependenciesField,
        PythonResolveField,
        LambdaCompletePlatformsField,
        LambdaHashExtraField,
        LambdaLayersField,
        LambdaExternalSourcesField,
        LambdaAtEdgeField,
        LambdaSkipPublishField,
        LambdaRuntimeBoto3Field,
        LambdaSmokeImportField,
        LambdaBytecodeField,
        LambdaOutputPathField,
        EnvironmentField,
    )
    help = help_text(
        f"""
        An AWS Lambda function packaged as a byte-reproducible zip.

        The zip holds the `handler`'s module and everything it imports, found by dependency
        inference (source roots stripped), plus the third-party wheels those imports need from
        the `resolve`'s lockfile, installed for the `runtime` and `architecture`. Its bytes depend
        only on that content: `{bin_name()} package` gives the same zip, and so the same
        `lambdas/<name>/<sha256>.zip` key, on any machine.

        Example:

            lambda_artifact(
                name="orders",
                handler="orders.api.lambda_handler",
                runtime="python3.13",
                architecture="arm64",
            )
        """
    )

    def validate(self) -> None:
        check_lambda_at_edge(self)
        if self[LambdaSmokeImportField].value and self[LambdaRuntimeBoto3Field].value:
            raise InvalidTargetException(
                f"The `{self.alias}` target {self.address} sets both `smoke_import=True` and"
                " `runtime_boto3=True`, but the smoke import has no runtime's boto3 to import:"
                " add boto3 to the `resolve` and drop `runtime_boto3`, or drop `smoke_import`."
            )


def check_lambda_at_edge(target: Target) -> None:
    architecture = target[LambdaArchitectureField].value
    if target[LambdaAtEdgeField].value and architecture != Architecture.X86_64:
        raise InvalidTargetException(
            f"The `{target.alias}` target {target.address} sets `lambda_at_edge=True` with "
            f'`architecture="{architecture}"`, but Lambda@Edge runs only on x86_64: set '
            '`architecture="x86_64"` or drop `lambda_at_edge`.'
        )


class LambdaLayerDependenciesField(Dependencies):
    help = help_text(
        """
        The `python_requirement` targets whose distributions the layer holds, e.g.
        `["3rdparty/python:numpy"]`; their own dependencies come along from the resolve's lockfile.
        """
    )


class _NonEmptyChoicesField(StringSequenceField):
    """A list of `valid_choices` (checked by Pants) with at least one item, duplicates dropped."""

    value: Tuple[str, ...]

    @classmethod
    def compute_value(cls, raw_value: Optional[Iterable[str]], address: Address) -> Tuple[str, ...]:
        value = super().compute_value(raw_value, address)
        if not value:
            raise InvalidFieldException(
                f"The `{cls.alias}` field in target {address} must name at least one of"
                f" {', '.join(str(c) for c in cls.valid_choices or ())}, but was"
                " empty."
            )
        return tuple(dict.fromkeys(value))


class LambdaLayerRuntimesField(_NonEmptyChoicesField):
    alias = "runtimes"
    required = True
    valid_choices = PYTHON_RUNTIMES
    help = "The Lambda runtimes to build the layer for: one zip per runtime × architecture."


class LambdaLayerArchitecturesField(_NonEmptyChoicesField):
    alias = "architectures"
    default = (Architecture.X86_64.value,)
    valid_choices = Architecture
    help = "The architectures to build the layer for: `x86_64`, `arm64` or both."


class LayerSplit(StrChoice):
    COMBINED = "combined"
    PER_PACKAGE = "per-package"


class LambdaLayerLayoutField(StringField):
    alias = "layout"
    default = LayerLayout.SITE_PACKAGES.value
    value: str
    valid_choices = LayerLayout
    help = help_text(
        """
        Where the distributions sit in the zip: `site-packages` puts them under
        `python/lib/pythonX.Y/site-packages/` (on the runtime's own `sys.path`, version-specific),
        `python` under `python/` (also on `sys.path`, for any version).
        """
    )


class LambdaLayerSplitField(StringField):
    alias = "split"
    default = LayerSplit.COMBINED.value
    value: str
    valid_choices = LayerSplit
    help = help_text(
        """
        `combined`: one zip per runtime × architecture with every requirement. `per-package`: one
        zip per top-level requirement (each with its own transitive dependencies) per runtime ×
        architecture, for functions that want to pick layers.
        """
    )


class LambdaLayerLogicalNameField(LambdaLogicalNameField):
    section = Section.LAYERS
    help = help_text(
        """
        The start of the layer's zip names (`<name>-<runtime>-<architecture>`), which name its
        keys (`layers/<zip name>/<sha256>.zip`) and catalog entries; no two layers in the
        repository may share one.

        Default: the target's name, with each parameter's value of a parametrized target
        appended. Letters, digits, `.`, `_` and `-` only.
        """
    )


class LambdaLayerTarget(Target):
    alias = "lambda_layer"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        LambdaLayerDependenciesField,
        LambdaLayerLogicalNameField,
        LambdaLayerRuntimesField,
        LambdaLayerArchitecturesField,
        LambdaLayerLayoutField,
        LambdaLayerSplitField,
        LambdaExternalSourcesField,
        PythonResolveField,
        LambdaSkipPublishField,
        EnvironmentField,
    )
    help = help_text(
        f"""
        An AWS Lambda layer of third-party Python distributions, as byte-reproducible zips: one per
        runtime × architecture (× top-level requirement with `split="per-package"`).

        The wheels come from the `resolve`'s lockfile, installed for each Lambda platform like a
        `lambda_artifact`'s. `{bin_name()} package` writes `<name>-<runtime>-<architecture>.zip`
        with its metadata JSON; each is published under `layers/<that name>/<sha256>.zip`.

        Example:

            lambda_layer(
                name="science",
                dependencies=["3rdparty/python:numpy"],
                runtimes=["python3.12", "python3.13"],
                architectures=["x86_64", "arm64"],
            )
        """
    )

    def validate(self) -> None:
        split = self[LambdaLayerSplitField].value
        if split == LayerSplit.PER_PACKAGE and self[LambdaExternalSourcesField].value:
            raise InvalidTargetException(
                f"The `{self.alias}` target {self.address} sets `external_sources` with"
                f' `split="{split}"`, but sources go into one zip and that makes one per package:'
                ' bundle them in a `split="combined"` layer of their own.'
            )
