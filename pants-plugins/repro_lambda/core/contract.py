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
from typing import Any, List, Mapping, NoReturn, Optional, Type, TypeVar


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
_REQUIRED = object()
_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    bool: "true or false",
    list: "a list",
    type(None): "null",
}


def read_field(
    mapping: Mapping[str, Any], name: str, *types: type, where: str, default: Any = _REQUIRED
) -> Any:
    """`mapping[name]` if it is of one of the JSON `types`, else `default`; raise UserError if
    neither.
    """
    if name not in mapping:
        if default is _REQUIRED:
            raise UserError(f"{where} has no {name!r}")
        return default
    value = mapping[name]
    if type(value) not in types:
        expected = " or ".join(_TYPE_NAMES[kind] for kind in types)
        raise UserError(f"{where}: {name!r} must be {expected}, not {json.dumps(value)}")
    return value


def read_fields(cls: Type[_T], mapping: Mapping[str, Any], where: str) -> _T:
    """The dataclass `cls` from a JSON object, each field checked by `read_field`."""
    hints = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        hint = hints[field.name]
        origin = typing.get_origin(hint)
        types = typing.get_args(hint) if origin is typing.Union else (origin or hint,)
        default = _REQUIRED if field.default is dataclasses.MISSING else field.default
        values[field.name] = read_field(mapping, field.name, *types, where=where, default=default)
    return cls(**values)


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
