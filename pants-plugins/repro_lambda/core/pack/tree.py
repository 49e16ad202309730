"""Collect the files to pack from input directories merged at the archive root."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from repro_lambda.core.contract import UserError
from repro_lambda.core.pack.zip_writer import ZipEntry

INSTALLER_FILES = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
"""Files in a third-party `*.dist-info/` that differ between pip, pex and uv installs."""

_ANY_EXECUTE_BIT = 0o111


@dataclass(frozen=True)
class InputRoot:
    """A directory whose contents land under `archive_prefix`; third-party roots are normalised,
    and only bytecode roots may hold `__pycache__/` and `.pyc` files."""

    path: Path
    third_party: bool
    archive_prefix: str = ""
    bytecode: bool = False


@dataclass(frozen=True)
class TreeFile:
    """A regular file to pack, where it comes from, its size and whether any x bit is set."""

    archive_path: str
    source: Path
    root: Path
    size: int
    executable: bool


@dataclass(frozen=True)
class CollectedTree:
    """The files to pack, sorted by UTF-8 archive path, and warnings about skipped files."""

    files: tuple[TreeFile, ...]
    warnings: tuple[str, ...]


def collect_tree(
    roots: Sequence[InputRoot], executables: Collection[str] | None = None
) -> CollectedTree:
    """Walk `roots` without following symlinks and merge them; raise UserError on any clash.

    A file is executable if its path (as the roots name it) is in `executables`, when given, else
    if any x bit is set: a sandbox may show other modes than the digest it was made from."""
    by_path: dict[str, TreeFile] = {}
    warnings: list[str] = []
    for root in roots:
        for file in _walk_root(root, executables, warnings):
            other = by_path.setdefault(file.archive_path, file)
            if other is not file:
                raise UserError(
                    f"archive path {file.archive_path!r} is provided by both"
                    f" {str(other.root)!r} and {str(file.root)!r}"
                )
    _check_file_directory_clashes(by_path.values())
    files = sorted(by_path.values(), key=lambda file: file.archive_path.encode("utf-8"))
    return CollectedTree(files=tuple(files), warnings=tuple(sorted(warnings)))


def load_entries(files: Iterable[TreeFile]) -> list[ZipEntry]:
    """Read `files` into zip entries."""
    return [
        ZipEntry(file.archive_path, file.source.read_bytes(), file.executable) for file in files
    ]


def _walk_root(
    root: InputRoot, executables: Collection[str] | None, warnings: list[str]
) -> Iterator[TreeFile]:
    if not root.path.is_dir():
        raise UserError(f"input directory {str(root.path)!r} does not exist or is not a directory")
    yield from _walk_directory(root, os.fsencode(root.path), (), executables, warnings)


def _walk_directory(
    root: InputRoot,
    directory: bytes,
    parents: tuple[str, ...],
    executables: Collection[str] | None,
    warnings: list[str],
) -> Iterator[TreeFile]:
    with os.scandir(directory) as scan:
        children = sorted(scan, key=lambda child: child.name)
    for child in children:
        name = _decode_name(child)
        archive_path = "/".join(
            (*([root.archive_prefix] if root.archive_prefix else []), *parents, name)
        )
        if child.is_symlink():
            warnings.append(
                f"skipped symlink {archive_path!r} in {str(root.path)!r} (symlinks are never"
                " followed)"
            )
        elif child.is_dir(follow_symlinks=False):
            if not _is_excluded_directory(root, parents, name):
                yield from _walk_directory(
                    root, child.path, (*parents, name), executables, warnings
                )
        elif child.is_file(follow_symlinks=False):
            if not _is_excluded_file(root, parents, name):
                stat = child.stat(follow_symlinks=False)
                source = Path(os.fsdecode(child.path))
                yield TreeFile(
                    archive_path=archive_path,
                    source=source,
                    root=root.path,
                    size=stat.st_size,
                    executable=(
                        bool(stat.st_mode & _ANY_EXECUTE_BIT)
                        if executables is None
                        else source.as_posix() in executables
                    ),
                )
        else:
            warnings.append(
                f"skipped special file {archive_path!r} in {str(root.path)!r} (not a regular file)"
            )


def _decode_name(child: os.DirEntry[bytes]) -> str:
    try:
        return child.name.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"file name {os.fsdecode(child.path)!r} is not valid UTF-8") from None


def _is_excluded_directory(root: InputRoot, parents: tuple[str, ...], name: str) -> bool:
    console_scripts = root.third_party and not parents and name == "bin"
    return (name == "__pycache__" and not root.bytecode) or console_scripts


def _is_excluded_file(root: InputRoot, parents: tuple[str, ...], name: str) -> bool:
    installer_file = (
        root.third_party
        and len(parents) == 1
        and parents[0].endswith(".dist-info")
        and name in INSTALLER_FILES
    )
    return (name.endswith(".pyc") and not root.bytecode) or installer_file


def _check_file_directory_clashes(files: Collection[TreeFile]) -> None:
    directory_roots: dict[str, Path] = {}
    for file in files:
        parts = file.archive_path.split("/")
        for depth in range(1, len(parts)):
            directory_roots.setdefault("/".join(parts[:depth]), file.root)
    for file in files:
        if file.archive_path in directory_roots:
            raise UserError(
                f"archive path {file.archive_path!r} is a file in {str(file.root)!r} "
                f"but a directory in {str(directory_roots[file.archive_path])!r}"
            )
