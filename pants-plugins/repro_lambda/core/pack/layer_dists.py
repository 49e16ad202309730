"""Leave out of a function's zip the distributions that its Lambda layers provide."""

from __future__ import annotations

import csv
import os
import posixpath
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from repro_lambda.core.contract import LayerDist, UserError


def canonical_name(name: str) -> str:
    """The PEP 503 normalised form of a distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def excluded_archive_paths(
    root: Path, archive_prefix: str, layer_dists: Iterable[LayerDist]
) -> frozenset[str]:
    """Archive paths of the files in site-packages `root` that the layers provide; raise UserError
    on a conflict.

    A provided distribution must be installed at the layer's version and have a RECORD; its files
    are those the RECORD lists inside `root`, and everything under its `.dist-info` directory.
    """
    provided = _index(layer_dists)
    excluded: set[str] = set()
    for dist_info, name, version in _installed_dists(root):
        layer_dist = provided.get(canonical_name(name))
        if layer_dist is None:
            continue
        if version != layer_dist.version:
            raise UserError(
                f"the function's {name} {version} conflicts with"
                f" {layer_dist.name} {layer_dist.version} in layer {layer_dist.layer}: use one"
                " version in both lockfiles"
            )
        record = dist_info / "RECORD"
        if record.is_symlink() or not record.is_file():
            raise UserError(
                f"cannot leave {name} {version} out of the function for layer {layer_dist.layer}: "
                f"{dist_info.name} has no RECORD listing its files"
            )
        excluded.update(_record_paths(record))
        excluded.update(_files_under(dist_info, root))
    return frozenset(posixpath.join(archive_prefix, path) for path in excluded)


def _index(layer_dists: Iterable[LayerDist]) -> dict[str, LayerDist]:
    provided: dict[str, LayerDist] = {}
    for layer_dist in layer_dists:
        other = provided.setdefault(canonical_name(layer_dist.name), layer_dist)
        if other.version != layer_dist.version:
            raise UserError(
                f"layers {other.layer} and {layer_dist.layer} provide {other.name} {other.version} "
                f"and {layer_dist.name} {layer_dist.version}: use one version in both layers"
            )
    return provided


def _installed_dists(root: Path) -> Iterator[tuple[Path, str, str]]:
    """The top-level `<name>-<version>.dist-info` directories of `root`, with name and version.

    A root that is not a directory has none here: collecting the tree reports it.
    """
    if not root.is_dir():
        return
    with os.scandir(root) as scan:
        dist_infos = sorted(Path(entry.path) for entry in scan if _is_dist_info(entry))
    for dist_info in dist_infos:
        name, _, version = dist_info.name.removesuffix(".dist-info").partition("-")
        if not version:
            name, version = _metadata_name_and_version(dist_info)
        if name and version:
            yield dist_info, name, version


def _is_dist_info(entry: os.DirEntry[str]) -> bool:
    return entry.name.endswith(".dist-info") and entry.is_dir(follow_symlinks=False)


def _metadata_name_and_version(dist_info: Path) -> tuple[str, str]:
    """Name and version from the `METADATA` headers, for a directory name without a version."""
    metadata = dist_info / "METADATA"
    if metadata.is_symlink() or not metadata.is_file():
        return "", ""
    from email.parser import HeaderParser  # rarely needed, and slow to import

    headers = HeaderParser().parsestr(metadata.read_text(encoding="utf-8", errors="replace"))
    return headers.get("Name", "").strip(), headers.get("Version", "").strip()


def _record_paths(record: Path) -> Iterator[str]:
    """The RECORD's paths, normalised, leaving out those that are absolute or escape the root."""
    try:
        with record.open(encoding="utf-8", newline="") as file:
            rows = list(csv.reader(file))
    except (UnicodeDecodeError, csv.Error) as error:
        raise UserError(f"cannot read {record}: {error}") from error
    for row in rows:
        path = posixpath.normpath(row[0]) if row and row[0] else ""
        if path and not posixpath.isabs(path) and path != ".." and not path.startswith("../"):
            yield path


def _files_under(dist_info: Path, root: Path) -> Iterator[str]:
    for directory, _, files in os.walk(dist_info):
        for file in files:
            yield Path(directory, file).relative_to(root).as_posix()
