"""The catalog Terraform reads: the current zip of each lambda and layer, and the ones it replaced.

`jsondecode(file("builds/catalog.json")).lambdas.<name>.current` is the current zip's SHA-256.
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repro_lambda.core.contract import SECTIONS, UserError
from repro_lambda.core.publish.durable import staged_file

SCHEMA_VERSION = 1
NEW_CATALOG_MODE = 0o644
_LOCATION = ("bucket", "key", "store")
"""Where a zip is stored: what a history item records besides its SHA-256."""

Catalog = dict[str, Any]


@dataclass(frozen=True)
class CatalogEntry:
    """One published artifact, as its catalog entry records it."""

    section: str
    logical_name: str
    sha256: str
    store: str
    bucket: str | None
    key: str
    code_sha256: str
    size: int
    runtime: str
    architecture: str
    handler: str | None
    lambda_at_edge: bool
    layers: list[dict[str, str]] | None = None
    """A function's layer zips (logical name, sha256, key) as it was built; None for a layer."""


def empty_catalog() -> Catalog:
    return {"schema_version": SCHEMA_VERSION, **{section: {} for section in SECTIONS}}


def load_catalog(path: Path) -> Catalog:
    """Read and check the catalog at `path`, or an empty one if there is none; raise UserError if
    invalid.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return empty_catalog()
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read catalog {path}: {error}") from error
    try:
        catalog: Catalog = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"catalog {path} is not valid JSON: {error}") from error
    problem = _problem(catalog)
    if problem:
        raise UserError(f"invalid catalog {path}: {problem}; fix or remove it")
    return catalog


def _problem(catalog: Any) -> str | None:
    if not isinstance(catalog, dict):
        return "not a JSON object"
    version = catalog.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:
        return (
            f"unsupported schema_version {version!r} (this publisher reads and writes"
            f" {SCHEMA_VERSION})"
        )
    for section in SECTIONS:
        entries = catalog.get(section, {})
        if not isinstance(entries, dict):
            return f"{section!r} is not an object"
        for name, entry in entries.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("current"), str):
                return f"{section}.{name} has no string 'current'"
            history = entry.get("history", [])
            if not isinstance(history, list) or not all(isinstance(old, dict) for old in history):
                return f"{section}.{name}.history is not a list of objects"
    return None


def update_catalog(
    catalog: Catalog, entries: Iterable[CatalogEntry], history_limit: int
) -> Catalog:
    """A copy of `catalog` with `entries` current; a replaced current goes first in its entry's
    history.

    History is newest first, holds each SHA-256 once, never the current one, and at most
    `history_limit` items.
    """
    updated = copy.deepcopy(catalog)
    for section in SECTIONS:
        updated.setdefault(section, {})
    for entry in entries:
        previous = updated[entry.section].get(entry.logical_name)
        history = list(previous.get("history", [])) if previous else []
        if previous and previous["current"] != entry.sha256:
            history.insert(
                0,
                {"sha256": previous["current"], **{name: previous.get(name) for name in _LOCATION}},
            )
        updated[entry.section][entry.logical_name] = {
            "current": entry.sha256,
            "store": entry.store,
            "bucket": entry.bucket,
            "key": entry.key,
            "code_sha256": entry.code_sha256,
            "size": entry.size,
            "runtime": entry.runtime,
            "architecture": entry.architecture,
            "handler": entry.handler,
            "lambda_at_edge": entry.lambda_at_edge,
            **({} if entry.layers is None else {"layers": entry.layers}),
            "history": _distinct(history, entry.sha256)[:history_limit],
        }
    return updated


def _distinct(history: list[dict[str, Any]], current: str) -> list[dict[str, Any]]:
    """`history` without `current` and without later items repeating an earlier item's SHA-256."""
    seen: set[object] = {current}
    distinct = []
    for old in history:
        if old.get("sha256") not in seen:
            seen.add(old.get("sha256"))
            distinct.append(old)
    return distinct


def render_catalog(catalog: Catalog) -> str:
    """Deterministic JSON: sorted keys, indent 2, ASCII only and a trailing newline."""
    return json.dumps(catalog, sort_keys=True, indent=2, ensure_ascii=True) + "\n"


def write_catalog(path: Path, catalog: Catalog) -> bool:
    """Atomically replace the catalog at `path` if its content changes; return whether it did."""
    content = render_catalog(catalog).encode("ascii")
    try:
        if path.read_bytes() == content:
            return False
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = NEW_CATALOG_MODE
    with staged_file(path, content, mode) as temporary:
        os.replace(temporary, path)
    return True


def merge_into_catalog(path: Path, entries: Iterable[CatalogEntry], history_limit: int) -> bool:
    """Update the catalog at `path` with `entries` as it is now, under a lock, so that concurrent
    publishers keep each other's entries; return whether it changed."""
    with _directory_lock(path.parent):
        return write_catalog(path, update_catalog(load_catalog(path), entries, history_limit))


@contextmanager
def _directory_lock(directory: Path) -> Iterator[None]:
    """An exclusive advisory lock on `directory`: the catalog itself is replaced, not locked."""
    directory.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)
