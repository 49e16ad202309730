"""What the Pants plugin and the core's tools agree on, defined once and imported by both sides.

Standard library only and Python 3.9, the plugin's interpreter: the architectures, the catalog's
sections (each also the key prefix of its artifacts), the zip's field limit, the rule for S3 keys,
store URLs, the publish plan's fields, and how the tools report errors and warnings.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import typing
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, List, NoReturn, Optional, Tuple, Type, TypeVar


class UserError(ValueError):
    """A problem the user has to fix; the tools print it as one `error:` line and exit 2."""


class StrChoice(str, Enum):
    """A choice that reads as its value, in f-strings and JSON alike, on every Python."""

    def __str__(self) -> str:
        return str(self.value)


class Architecture(StrChoice):
    """An instruction set Lambda runs functions on."""

    X86_64 = "x86_64"
    ARM64 = "arm64"

    @property
    def npm_cpu(self) -> str:
        """The name npm gives it (`--cpu`, a package's `cpu` field, `@img/sharp-linux-<cpu>`)."""
        return "x64" if self is Architecture.X86_64 else "arm64"

    @property
    def machine(self) -> str:
        """The name `uname -m` and manylinux wheel tags give it."""
        return "x86_64" if self is Architecture.X86_64 else "aarch64"


def platform_name(runtime: str, architecture: str) -> str:
    """A runtime × architecture's name, e.g. `python3.13-arm64`: of its complete platform file,
    its pins in the platform lock, and in messages."""
    return f"{runtime}-{architecture}"


class Section(StrChoice):
    """A section of the catalog; its artifacts' keys start with its name."""

    LAMBDAS = "lambdas"
    LAYERS = "layers"


SECTIONS = tuple(section.value for section in Section)
"""The section names, for JSON keys (an Enum member hashes by its Python name, not its value)."""


class LayerLayout(StrChoice):
    """Where a layer zip holds its distributions: where Lambda's Python finds them."""

    SITE_PACKAGES = "site-packages"
    PYTHON = "python"

    @property
    def directory(self) -> str:
        """The zip's directory of the distributions, a template of the runtime's `python`."""
        return (
            "python/lib/{python}/site-packages" if self is LayerLayout.SITE_PACKAGES else "python"
        )


# Zips

ZIP_MAX_FIELD_LENGTH = 0xFFFF
"""Longest file name or comment, in bytes: their lengths are 2-byte fields (APPNOTE 4.4.10,
4.4.25). The zip's comment is its `hash_extra`, which the plugin checks before packing."""


# Keys

KEY_CHARS = "A-Za-z0-9._-"
"""The characters of a key segment, as a regular expression character class's contents."""
KEY_SEGMENT = re.compile(rf"(?!\.{{1,2}}$)[{KEY_CHARS}]+")
"""One S3 key segment: letters, digits, '.', '_' and '-', but not '.' or '..'."""
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
"""A SHA-256 digest as keys and the catalog write it: 64 lowercase hex digits."""


def is_key(key: str) -> bool:
    """Whether `key` is '/'-separated key segments (none empty, no leading or trailing '/')."""
    return all(KEY_SEGMENT.fullmatch(segment) for segment in key.split("/"))


def check_key(key: str, context: str) -> None:
    """Raise UserError unless `is_key(key)`."""
    if not is_key(key):
        raise UserError(
            f"{context}: key {key!r} must be '/'-separated segments of letters, digits, '.',"
            " '_', '-'"
        )


# Store URLs

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


@dataclass(frozen=True)
class StoreUrl:
    """A parsed store URL: an S3 bucket with an optional key prefix, or a local directory."""

    url: str
    """`s3://bucket[/prefix]` without trailing slashes, or a file:// URL exactly as given."""
    bucket: Optional[str] = None
    prefix: str = ""
    directory: Optional[Path] = None

    def object_key(self, key: str) -> str:
        """The full object key (or path under the directory) of an artifact's `key`."""
        return f"{self.prefix}/{key}" if self.prefix else key

    def location(self, key: str) -> str:
        """The URL of an artifact's `key` in this store, for messages."""
        return f"{self.url.rstrip('/')}/{key}"


def parse_store_url(url: str, buildroot: Path) -> StoreUrl:
    """Parse `s3://bucket[/prefix]` or `file://dir` (relative to `buildroot`) or `file:///dir`."""
    if url.startswith("s3://"):
        bucket, _, prefix = url[len("s3://") :].partition("/")
        prefix = prefix.strip("/")
        if not _BUCKET.fullmatch(bucket):
            raise UserError(f"invalid store URL {url!r}: {bucket!r} is not a valid S3 bucket name")
        if prefix:
            check_key(prefix, f"invalid store URL {url!r}")
        return StoreUrl(
            url=f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}",
            bucket=bucket,
            prefix=prefix,
        )
    if url.startswith("file://"):
        path = url[len("file://") :]
        if not path.strip("/"):
            raise UserError(
                f"invalid store URL {url!r}: name a directory, e.g. file://dist/lambda-store"
            )
        return StoreUrl(url=url, directory=buildroot / path)
    raise UserError(f"unsupported store URL {url!r}: use s3://bucket[/prefix] or file://directory")


# The publish plan: the plugin writes it, the publisher reads it.


@dataclass(frozen=True)
class PlanArtifact:
    """One zip to publish: its path and its metadata's (relative to the working directory), and
    where.
    """

    zip: str
    metadata: str
    store: str
    region: Optional[str] = None
    lambda_at_edge: bool = False
    section: str = Section.LAMBDAS.value


@dataclass(frozen=True)
class PublishPlan:
    """The publisher's input; `artifacts` holds PlanArtifact fields."""

    buildroot: str
    artifacts: List[Any]
    dry_run: bool = False
    catalog: Optional[str] = None
    """The catalog's path relative to the buildroot, or None for no catalog."""
    catalog_history: int = 10
    endpoint_url: Optional[str] = None
    max_attempts: int = 10

    def render(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


_T = TypeVar("_T")
_NONE = type(None)
_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    bool: "true or false",
    list: "a list",
    tuple: "a list",
    _NONE: "null",
}


def read_fields(cls: Type[_T], mapping: Any, where: str) -> _T:
    """The dataclass `cls` from a JSON object, each field checked against its type: str, int,
    bool, None, Optional, `Tuple[X, ...]`, `List[Any]` or another such dataclass. Raise UserError
    naming `where` and the field if it does not fit; ignore names `cls` does not have."""
    if not isinstance(mapping, dict):
        raise UserError(f"{where} must be an object, not {json.dumps(mapping)}")
    hints = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name in mapping:
            value = mapping[field.name]
            values[field.name] = _read_value(value, hints[field.name], f"{where}: {field.name!r}")
        elif field.default is dataclasses.MISSING:
            raise UserError(f"{where} has no {field.name!r}")
    return cls(**values)


def _read_value(value: Any, hint: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return read_fields(hint, value, where)
    if origin is tuple and isinstance(value, list):
        return tuple(_read_value(item, args[0], f"{where}[{i}]") for i, item in enumerate(value))
    options = args if origin is typing.Union else (origin or hint,)
    if type(value) in options:
        return value
    if origin is typing.Union and value is not None:
        (inner,) = (option for option in options if option is not _NONE)
        if typing.get_origin(inner) is tuple or dataclasses.is_dataclass(inner):
            return _read_value(value, inner, where)
    expected = " or ".join(_TYPE_NAMES.get(typing.get_origin(o) or o, "an object") for o in options)
    raise UserError(f"{where} must be {expected}, not {json.dumps(value)}")


def to_json(record: Any) -> str:
    """A dataclass record as the JSON that `read_fields` reads back: sorted, ASCII, indented."""
    return json.dumps(dataclasses.asdict(record), sort_keys=True, indent=2, ensure_ascii=True)


# The packer's input: the plugin writes a batch of jobs, the packer reads them.


@dataclass(frozen=True)
class LayerDist:
    """A distribution, at one version, that one of a function's layers provides."""

    layer: str
    name: str
    version: str


@dataclass(frozen=True)
class LayerArtifact:
    """A layer zip that a function is built against, as the function's metadata records it."""

    logical_name: str
    sha256: str
    s3_key: str

    def check(self) -> None:
        """Raise UserError unless its name, digest and key are well formed."""
        if not (
            KEY_SEGMENT.fullmatch(self.logical_name)
            and SHA256_HEX.fullmatch(self.sha256)
            and is_key(self.s3_key)
        ):
            raise UserError(
                f"invalid layer artifact {self.logical_name}={self.sha256}={self.s3_key}: expected"
                " a name, 64 hex digits and a key"
            )


@dataclass(frozen=True)
class PackSpec:
    """What one zip is, on any machine that packs it: its name, platform, handler and options."""

    logical_name: str
    runtime: str
    architecture: str
    handler: Optional[str] = None
    """The function's handler; None for a layer."""
    hash_extra: str = ""
    """Text stored as the zip's comment, which changes its hash."""
    key_prefix: str = Section.LAMBDAS.value
    site_packages_prefix: str = ""
    """The zip's directory of the third-party installs."""
    layer_dists: Tuple[LayerDist, ...] = ()
    """The distributions the function's layers provide, left out of its zip."""
    layer_artifacts: Tuple[LayerArtifact, ...] = ()
    """The layer zips the function is built against, recorded in its metadata."""
    layers_unzipped_size: int = 0
    runtime_provides: Tuple[str, ...] = ()
    """Top-level modules the function imports from the runtime, such as boto3."""

    @property
    def platform_name(self) -> str:
        return platform_name(self.runtime, self.architecture)


@dataclass(frozen=True)
class PackJob:
    """One zip for the packer to write: its spec, where its inputs are and where its outputs go,
    as paths relative to the packer's working directory."""

    spec: PackSpec
    output: str
    metadata: str
    sources: Tuple[str, ...] = ()
    """Roots of first-party files."""
    site_packages: Tuple[str, ...] = ()
    """Roots of third-party installs, packed under `spec.site_packages_prefix`."""
    bytecode: Tuple[str, ...] = ()
    """Roots of hash-based bytecode of the packed modules, in `__pycache__/` directories."""
    external: Tuple[str, ...] = ()
    """Roots of staged external sources, each file at its archive path."""
    layer_zips: Tuple[str, ...] = ()
    """The function's layer zips, whose modules its imports may use."""
    executables: Optional[str] = None
    """A file naming the executable input files, one path a line; None: the files with an x bit."""


@dataclass(frozen=True)
class BatchMember:
    """A job of a packer batch, and the file for its `error:` and `warning:` lines."""

    job: PackJob
    messages: str


@dataclass(frozen=True)
class PackBatch:
    """The batch packer's input: jobs packed in one process, each exactly as alone."""

    members: Tuple[BatchMember, ...]


# The packer's output: the metadata beside each zip


@dataclass(frozen=True)
class ArtifactMetadata:
    """What the packer writes beside a zip, and publish, the catalog and `package` read."""

    logical_name: str
    sha256: str
    code_sha256: str
    """The base64 of the SHA-256 digest, as Lambda's CodeSha256."""
    size: int
    uncompressed_size: int
    runtime: str
    architecture: str
    handler: Optional[str]
    entry_count: int
    s3_key: str
    layers: Optional[Tuple[LayerArtifact, ...]] = None
    """A function's layer zips (sorted by name); None for a layer."""

    @property
    def platform_name(self) -> str:
        return platform_name(self.runtime, self.architecture)

    def render(self) -> str:
        """The metadata file: sorted ASCII JSON, indent 2, a trailing newline; no `layers` for a
        layer."""
        fields = dataclasses.asdict(self)
        if self.layers is None:
            del fields["layers"]
        return json.dumps(fields, sort_keys=True, indent=2, ensure_ascii=True) + "\n"

    @classmethod
    def parse(cls, text: str, where: str) -> ArtifactMetadata:
        """Read a metadata file's text; raise UserError naming `where` if it does not fit."""
        try:
            return read_fields(cls, json.loads(text), where)
        except json.JSONDecodeError as error:
            raise UserError(f"{where} is not valid JSON: {error}") from error


# The tools' command lines

USER_ERROR_EXIT_CODE = 2
ERROR_PREFIX = "error: "
WARNING_PREFIX = "warning: "


class ToolArgumentParser(argparse.ArgumentParser):
    """A tool's command line: a usage error is a UserError."""

    def error(self, message: str) -> NoReturn:
        raise UserError(message)


def report_user_error(error: Exception) -> int:
    """Print `error` as the tool's one `error:` line; return the user-error exit code."""
    print(f"{ERROR_PREFIX}{error}", file=sys.stderr)
    return USER_ERROR_EXIT_CODE


def tool_messages(stderr: str, prefix: str) -> list[str]:
    """The messages a tool printed on stderr with `prefix` (ERROR_PREFIX or WARNING_PREFIX)."""
    return [line[len(prefix) :] for line in stderr.splitlines() if line.startswith(prefix)]
