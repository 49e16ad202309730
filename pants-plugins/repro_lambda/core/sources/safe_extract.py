"""Stage a verified download into a directory: only regular files, only inside it, within bounds.

An archive holding an absolute path, a `..` component, a symlink, a hard link, a device or a
FIFO is refused whole; so is one whose entries or extracted bytes exceed the bounds (a
decompression bomb fails at the first entry past them, not after filling the disk). Modes are
normalised: 0755 where the source is `executable` or the entry has an x bit, else 0644.
Standard library only, Python 3.9.
"""

from __future__ import annotations

import functools
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterator, Optional

from repro_lambda.core.contract import UserError
from repro_lambda.core.sources.spec import Extract

MAX_EXTRACTED_BYTES = 2 << 30
MAX_ENTRIES = 50_000
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Limits:
    extracted_bytes: int = MAX_EXTRACTED_BYTES
    entries: int = MAX_ENTRIES


@dataclass(frozen=True)
class _Entry:
    path: str
    kind: str  # "file", "dir", or what makes the archive refused
    size: int
    executable: bool
    open: Callable[[], IO[bytes]]


def stage(
    download: Path,
    extract: Extract,
    dest: str,
    out: Path,
    member: Optional[str] = None,
    executable: bool = False,
    limits: Limits = Limits(),
) -> int:
    """Place `download` (or its `member`, or all of it) at `dest` under `out`; return the number
    of files written. Raise UserError for a hostile or oversized archive."""
    if extract is Extract.NONE:
        _write(out / dest, download.open("rb"), executable)
        return 1
    written = 0
    total = 0
    seen = set()
    found_member = member is None
    tops = set()
    for count, entry in enumerate(_entries(download, extract), start=1):
        if count > limits.entries:
            raise UserError(f"the archive has more than {limits.entries:,} entries")
        _check_entry(entry)
        if not entry.path:
            continue
        tops.add(entry.path.split("/", 1)[0])
        target = _target(entry.path, member, dest)
        if target is None:
            continue
        found_member = True
        if entry.kind == "dir":
            continue
        total += entry.size
        if total > limits.extracted_bytes:
            raise UserError(
                f"the archive extracts to more than {limits.extracted_bytes:,} bytes (a"
                " decompression bomb?)"
            )
        if target in seen:
            raise UserError(f"the archive holds {entry.path!r} twice")
        seen.add(target)
        try:
            with entry.open() as data:
                _write(out / target, data, executable or entry.executable)
        except (OSError, zipfile.BadZipFile, tarfile.TarError) as error:
            raise UserError(f"cannot extract {entry.path!r}: {error}") from None
        written += 1
    if not found_member:
        listed = ", ".join(sorted(tops)[:10]) or "nothing"
        raise UserError(f"the archive has no member {member!r} (at its top: {listed})")
    return written


def _target(path: str, member: Optional[str], dest: str) -> Optional[str]:
    if member is None:
        return f"{dest}/{path}"
    if path == member:
        return dest
    if path.startswith(member + "/"):
        return f"{dest}/{path[len(member) + 1:]}"
    return None


def _check_entry(entry: _Entry) -> None:
    name = entry.path
    if entry.kind not in ("file", "dir"):
        raise UserError(f"the archive holds {entry.kind} {name!r}; only files are extracted")
    if name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        raise UserError(f"the archive holds the absolute path {name!r}")
    if ".." in name.split("/"):
        raise UserError(f"the archive holds {name!r}, which points outside it")


def _clean(name: str) -> str:
    """The entry's path without `./` and trailing `/`; absolute paths are kept to be refused."""
    parts = [part for part in name.split("/") if part not in ("", ".")]
    return ("/" if name.startswith("/") else "") + "/".join(parts)


def _entries(download: Path, extract: Extract) -> Iterator[_Entry]:
    try:
        if extract is Extract.ZIP:
            yield from _zip_entries(download)
        else:
            yield from _tar_entries(download)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as error:
        raise UserError(f"the download is not a valid {extract} archive: {error}") from None


def _zip_entries(download: Path) -> Iterator[_Entry]:
    with zipfile.ZipFile(download) as archive:
        for info in archive.infolist():
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                kind = "the symlink"
            elif stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                kind = "the special file"
            else:
                kind = "dir" if info.is_dir() else "file"
            yield _Entry(
                _clean(info.filename),
                kind,
                info.file_size,
                bool(mode & 0o111),
                functools.partial(archive.open, info),
            )


def _tar_entries(download: Path) -> Iterator[_Entry]:
    with tarfile.open(download, mode="r:gz") as archive:
        for info in archive:
            if info.isreg():
                kind = "file"
            elif info.isdir():
                kind = "dir"
            elif info.issym():
                kind = "the symlink"
            elif info.islnk():
                kind = "the hard link"
            elif info.ischr() or info.isblk():
                kind = "the device"
            elif info.isfifo():
                kind = "the FIFO"
            else:
                kind = "the special entry"
            yield _Entry(
                _clean(info.name),
                kind,
                info.size,
                bool(info.mode & 0o111),
                functools.partial(_member, archive, info),
            )


def _member(archive: tarfile.TarFile, info: tarfile.TarInfo) -> IO[bytes]:
    data = archive.extractfile(info)
    assert data is not None, "only regular files are opened"
    return data


def _write(path: Path, data: IO[bytes], executable: bool) -> None:
    """Copy `data` to a new file at `path`; an entry's size is what its header declares, which
    both readers stop at."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with data, open(path, "xb") as out:
        shutil.copyfileobj(data, out, _CHUNK)
    path.chmod(0o755 if executable else 0o644)
