"""The reference design's `lambdas.toml`, read as it states it: `[[lambda]]` entries, `[builder]`
defaults that a lambda's own value replaces (lists are not merged), digest-pinned base images,
and `[[lambda.source]]` entries as pinned external sources.

It takes the parsed TOML (the plugin parses it) and returns validated lambdas, or raises one
UserError naming the file, the `[[lambda]]` (by index and name), the field and the fix.
Standard library only, Python 3.9.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple, Type

from repro_lambda.core.contract import Architecture, StrChoice, UserError
from repro_lambda.core.runtimes import BY_NAME
from repro_lambda.core.sources.spec import Extract, SourceSpec, SourceType, VersionFrom, validate

BUILDER_VERSION = "repro-lambda-pants/1"
"""Folds into every manifest lambda's content key with its resolved builder."""

ARCH_PLACEHOLDER = "${arch}"
EDGE_REGION = "us-east-1"
_DIGEST_PINNED = re.compile(r"[^@\s]+@sha256:[0-9a-f]{64}")


class PackageManager(StrChoice):
    PIP = "pip"
    NPM = "npm"


DEFAULT_INCLUDE = ("**/*",)
DEFAULT_EXCLUDE = (".venv/**", "__pycache__/**", "*.pyc", ".git/**", ".env*", "node_modules/**")

_BUILDER_KEYS = ("base_image_python", "base_image_nodejs", "include_patterns", "exclude_patterns")
_LAMBDA_KEYS = (
    "logical_name",
    "source_dir",
    "requirements_lock",
    "runtime",
    "arch",
    "handler",
    "region",
    "package_manager",
    "package_json",
    "lambda_at_edge",
    "hash_extra",
    "source",
    *_BUILDER_KEYS,
)
_REQUIRED = ("logical_name", "source_dir", "runtime", "handler")
_SOURCE_KEYS = (
    "name",
    "type",
    "url",
    "repo",
    "tag",
    "asset",
    "sha256",  # written by the reference's lock; our pins live in the sources lock
    "extract",
    "member",
    "dest",
    "executable",
    "version",
    "version_from",
)


@dataclass(frozen=True)
class Builder:
    """A lambda's resolved builder: `[builder]` with its own overrides applied."""

    base_image_python: Optional[str]
    base_image_nodejs: Optional[str]
    include_patterns: Tuple[str, ...]
    exclude_patterns: Tuple[str, ...]

    def fingerprint(self, package_manager: PackageManager) -> str:
        """What folds into the lambda's key: its base image's digest, its patterns and the
        builder version."""
        image = self.base_image_nodejs if package_manager is PackageManager.NPM else None
        image = image or self.base_image_python
        inputs = {
            "image_digest": image.rsplit("@", 1)[1] if image else None,
            "include": list(self.include_patterns),
            "exclude": list(self.exclude_patterns),
            "builder": BUILDER_VERSION,
        }
        return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class ManifestLambda:
    index: int
    logical_name: str
    source_dir: str
    runtime: str
    arch: Architecture
    handler: str
    package_manager: PackageManager
    builder: Builder
    requirements_lock: Optional[str] = None
    package_json: Optional[str] = None
    region: Optional[str] = None
    lambda_at_edge: bool = False
    hash_extra: str = ""
    sources: Tuple[SourceSpec, ...] = ()

    @property
    def lock_path(self) -> Optional[str]:
        """The requirement lock of this lambda's architecture."""
        if self.requirements_lock is None:
            return None
        return self.requirements_lock.replace(ARCH_PLACEHOLDER, str(self.arch))

    @property
    def key_extra(self) -> str:
        """The zip comment: the lambda's `hash_extra` and its builder's fingerprint."""
        builder = f"builder={self.builder.fingerprint(self.package_manager)}"
        return f"{self.hash_extra}\n{builder}" if self.hash_extra else builder


class _Where:
    def __init__(self, path: str, index: Optional[int] = None, name: Any = None) -> None:
        self.path = path
        self.label = (
            path
            if index is None
            else f"{path}: [[lambda]] #{index}" + (f" ({name})" if isinstance(name, str) else "")
        )

    def error(self, message: str) -> UserError:
        return UserError(f"{self.label}: {message}")


def _check_keys(
    table: Mapping[str, Any], allowed: Tuple[str, ...], where: _Where, what: str
) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise where.error(
            f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} in"
            f" {what}; the keys are {', '.join(allowed)}"
        )


def _typed(table: Mapping[str, Any], key: str, kind: type, where: _Where) -> Any:
    value = table.get(key)
    if value is None:
        return None
    if kind is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise where.error(f"`{key}` must be a list of strings")
        return tuple(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise where.error(f"`{key}` must be a {kind.__name__}, not {value!r}")
    return value


def _choice(
    table: Mapping[str, Any], key: str, kind: Type[StrChoice], default: Any, where: _Where
) -> Any:
    value = _typed(table, key, str, where)
    try:
        return kind(value if value is not None else default)
    except ValueError:
        choices = ", ".join(str(choice) for choice in kind)
        raise where.error(f"`{key}` {value!r} is not one of {choices}") from None


def _builder(table: Mapping[str, Any], defaults: Optional[Builder], where: _Where) -> Builder:
    def pick(key: str, kind: type, default: Any) -> Any:
        value = _typed(table, key, kind, where)
        return default if value is None else value

    builder = Builder(
        base_image_python=pick("base_image_python", str, defaults and defaults.base_image_python),
        base_image_nodejs=pick("base_image_nodejs", str, defaults and defaults.base_image_nodejs),
        include_patterns=pick(
            "include_patterns", list, defaults.include_patterns if defaults else DEFAULT_INCLUDE
        ),
        exclude_patterns=pick(
            "exclude_patterns", list, defaults.exclude_patterns if defaults else DEFAULT_EXCLUDE
        ),
    )
    for key in ("base_image_python", "base_image_nodejs"):
        image = getattr(builder, key)
        if key in table and not _DIGEST_PINNED.fullmatch(image):
            raise where.error(
                f"`{key}` = {image!r} is not pinned by digest: use `<image>@sha256:<digest>`"
                " (`docker inspect --format='{{index .RepoDigests 0}}' <image>` prints it)"
            )
    return builder


def _source(entry: Any, where: _Where) -> SourceSpec:
    if not isinstance(entry, dict):
        raise where.error("each [[lambda.source]] must be a table")
    _check_keys(entry, _SOURCE_KEYS, where, "[[lambda.source]]")
    name = _typed(entry, "name", str, where)
    if not name:
        raise where.error("a [[lambda.source]] needs `name`")
    version_from = None
    if entry.get("version_from") is not None:
        raw = entry["version_from"]
        if not isinstance(raw, dict) or sorted(raw) != ["file", "key", "source"]:
            raise where.error(f"source {name!r}: `version_from` needs `source`, `file` and `key`")
        version_from = VersionFrom(str(raw["source"]), str(raw["file"]), str(raw["key"]))
    source_where = _Where(f"{where.label}: source {name!r}")
    spec = SourceSpec(
        name=name,
        type=_choice(entry, "type", SourceType, None, source_where),
        extract=_choice(entry, "extract", Extract, Extract.NONE, source_where),
        dest=_typed(entry, "dest", str, where) or "",
        url=_typed(entry, "url", str, where),
        repo=_typed(entry, "repo", str, where),
        tag=_typed(entry, "tag", str, where),
        asset=_typed(entry, "asset", str, where),
        # with `version_from`, `version` is what the reference's lock last wrote
        version=None if version_from else _typed(entry, "version", str, where),
        version_from=version_from,
        member=_typed(entry, "member", str, where),
        executable=bool(_typed(entry, "executable", bool, where)),
    )
    validate(spec, source_where.label)
    return spec


def _lambda(index: int, table: Any, builder: Builder, path: str) -> ManifestLambda:
    if not isinstance(table, dict):
        raise _Where(path, index).error("must be a table")
    where = _Where(path, index, table.get("logical_name"))
    _check_keys(table, _LAMBDA_KEYS, where, "a [[lambda]]")
    missing = [key for key in _REQUIRED if table.get(key) in (None, "")]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise where.error(f"missing required field{plural} {', '.join(missing)}")
    runtime = _typed(table, "runtime", str, where)
    if runtime not in BY_NAME:
        raise where.error(f"unknown `runtime` {runtime!r}; one of {', '.join(BY_NAME)}")
    arch = _choice(table, "arch", Architecture, Architecture.X86_64, where)
    manager = _choice(table, "package_manager", PackageManager, PackageManager.PIP, where)
    is_python = BY_NAME[runtime].python_version is not None
    if is_python != (manager is PackageManager.PIP):
        raise where.error(
            f"`runtime` {runtime!r} does not go with `package_manager` {str(manager)!r}: pip is for"
            " python runtimes, npm for nodejs ones"
        )
    if manager is PackageManager.NPM and not table.get("package_json"):
        raise where.error("an npm lambda needs `package_json` (the path of its package.json)")
    edge = bool(_typed(table, "lambda_at_edge", bool, where))
    region = _typed(table, "region", str, where)
    if edge and arch is not Architecture.X86_64:
        raise where.error('`lambda_at_edge` runs only on x86_64: set `arch = "x86_64"`')
    if edge and region != EDGE_REGION:
        raise where.error(
            f'`lambda_at_edge` deploys from {EDGE_REGION}: set `region = "{EDGE_REGION}"`'
        )
    raw_sources = table.get("source") or []
    if not isinstance(raw_sources, list):
        raise where.error("`source` must be [[lambda.source]] tables")
    sources = tuple(_source(entry, where) for entry in raw_sources)
    names = [s.name for s in sources]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise where.error(f"two [[lambda.source]] are named {duplicates[0]!r}")
    return ManifestLambda(
        index=index,
        logical_name=_typed(table, "logical_name", str, where),
        source_dir=_typed(table, "source_dir", str, where).strip("/"),
        runtime=runtime,
        arch=arch,
        handler=_typed(table, "handler", str, where),
        package_manager=manager,
        builder=_builder(table, builder, where),
        requirements_lock=_typed(table, "requirements_lock", str, where),
        package_json=_typed(table, "package_json", str, where),
        region=region,
        lambda_at_edge=edge,
        hash_extra=_typed(table, "hash_extra", str, where) or "",
        sources=sources,
    )


def parse_manifest(data: Mapping[str, Any], path: str) -> List[ManifestLambda]:
    """The manifest's lambdas, validated; UserError for the first problem."""
    top = _Where(path)
    _check_keys(data, ("lambda", "builder"), top, "the manifest")
    builder_table = data.get("builder") or {}
    if not isinstance(builder_table, dict):
        raise top.error("[builder] must be a table")
    _check_keys(builder_table, _BUILDER_KEYS, _Where(path), "[builder]")
    defaults = _builder(builder_table, None, _Where(f"{path}: [builder]"))
    entries = data.get("lambda") or []
    if not isinstance(entries, list):
        raise top.error("`lambda` must be an array of tables: write each as [[lambda]]")
    lambdas = [_lambda(index, table, defaults, path) for index, table in enumerate(entries, 1)]
    seen: Dict[str, ManifestLambda] = {}
    for item in lambdas:
        other = seen.setdefault(item.logical_name, item)
        if other is not item:
            raise _Where(path, item.index, item.logical_name).error(
                f"`logical_name` {item.logical_name!r} is also [[lambda]] #{other.index}'s:"
                " logical names are unique"
            )
    architectures = {item.arch for item in lambdas}
    for item in lambdas:
        lock = item.requirements_lock
        if (
            item.package_manager is PackageManager.PIP
            and lock
            and len(architectures) > 1
            and ARCH_PLACEHOLDER not in lock
        ):
            raise _Where(path, item.index, item.logical_name).error(
                f"`requirements_lock` {lock!r} has no {ARCH_PLACEHOLDER}, but the manifest builds"
                f" for {' and '.join(sorted(map(str, architectures)))}: name one lock per"
                f" architecture, e.g. {lock.rsplit('.', 1)[0]}.{ARCH_PLACEHOLDER}.lock"
            )
    return lambdas
