"""Deterministic minimal ZIP writer: sorted entries, fixed metadata, libdeflate compression."""

from __future__ import annotations

import os
import struct
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise

import deflate

from repro_lambda.core.contract import UserError

COMPRESSION_LEVEL = 6
"""libdeflate level: the lowest never larger than zlib level 6 on the benchmark tree, ~3x faster."""

ZIP32_MAX_SIZE = 0xFFFFFFFE
"""Largest size or offset without ZIP64 (0xFFFFFFFF itself is the ZIP64 marker)."""
ZIP32_MAX_ENTRIES = 0xFFFE
"""Largest entry count without ZIP64 (0xFFFF itself is the ZIP64 marker)."""
ZIP_MAX_FIELD_LENGTH = 0xFFFF

_METHOD_STORED = 0
_METHOD_DEFLATED = 8
_VERSION_NEEDED = 20
_VERSION_MADE_BY = (3 << 8) | _VERSION_NEEDED
_FLAG_UTF8 = 1 << 11
_DOS_TIME = 0
_DOS_DATE = (0 << 9) | (1 << 5) | 1
_REGULAR_FILE = 0o100000

_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")
_CENTRAL_HEADER = struct.Struct("<IHHHHHHIIIHHHHHII")
_END_OF_CENTRAL_DIRECTORY = struct.Struct("<IHHHHIIH")
_LOCAL_HEADER_SIGNATURE = 0x04034B50
_CENTRAL_HEADER_SIGNATURE = 0x02014B50
_END_OF_CENTRAL_DIRECTORY_SIGNATURE = 0x06054B50


@dataclass(frozen=True)
class ZipEntry:
    """One file to store: its archive path, its content and whether it is executable."""

    path: str
    data: bytes
    executable: bool = False


@dataclass(frozen=True)
class _StoredEntry:
    name: bytes
    method: int
    crc: int
    size: int
    payload: bytes | bytearray
    executable: bool


_Compressed = tuple[int, int, bytes | bytearray]  # method, CRC, payload


class CompressionMemo:
    """Compressed contents by content, up to `budget` bytes: the zips one process packs compress
    the files they share (those of one third-party install) once."""

    def __init__(self, budget: int = 512 * 1024 * 1024) -> None:
        self._compressed: dict[bytes, _Compressed] = {}
        self._budget = budget

    def get(self, data: bytes) -> _Compressed | None:
        return self._compressed.get(data)

    def put(self, data: bytes, compressed: _Compressed) -> None:
        cost = len(data) + len(compressed[2])
        if cost <= self._budget:
            self._compressed[data] = compressed
            self._budget -= cost


def build_zip(
    entries: Iterable[ZipEntry], comment: bytes = b"", memo: CompressionMemo | None = None
) -> bytes:
    """Return the zip of `entries` sorted by UTF-8 path, with `comment`; raise UserError on bad
    input.
    """
    named = sorted(
        ((_encode_path(entry.path), entry) for entry in entries), key=lambda pair: pair[0]
    )
    _check_zip32_limits(named, comment)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        stored = pool.map(lambda pair: _compress(pair[0], pair[1], memo), named)
        return b"".join(_archive_parts(stored, comment))


def _encode_path(path: str) -> bytes:
    if not path:
        raise UserError("invalid archive path '': empty path")
    if path.startswith("/"):
        raise UserError(f"invalid archive path {path!r}: absolute paths are not allowed")
    if "\\" in path:
        raise UserError(f"invalid archive path {path!r}: backslashes are not allowed")
    control = next((char for char in path if unicodedata.category(char) == "Cc"), None)
    if control is not None:
        # Unzip tools disagree on such names: Python's zipfile reads `a\x00b` back as `a`.
        raise UserError(
            f"invalid archive path {path!r}: control character U+{ord(control):04X} is not allowed"
        )
    components = path.split("/")
    if "" in components:
        raise UserError(
            f"invalid archive path {path!r}: empty component (trailing or double slash)"
        )
    if "." in components or ".." in components:
        raise UserError(f"invalid archive path {path!r}: '.' and '..' components are not allowed")
    try:
        name = path.encode("utf-8")
    except UnicodeEncodeError:
        raise UserError(f"invalid archive path {path!r}: not encodable as UTF-8") from None
    if len(name) > ZIP_MAX_FIELD_LENGTH:
        raise UserError(
            f"invalid archive path {path[:80]!r}...: longer than {ZIP_MAX_FIELD_LENGTH} bytes"
        )
    return name


def name_collision_warnings(paths: Iterable[str]) -> list[str]:
    """Warnings for archive paths that are one name once case-folded and Unicode-normalised, as
    on macOS and Windows, where one file would replace the other on extraction."""
    by_name: defaultdict[str, list[str]] = defaultdict(list)
    for path in paths:
        folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", path).casefold())
        by_name[folded].append(path)
    return [
        f"archive paths {', '.join(map(repr, sorted(same)))} are one name on case-insensitive or"
        " Unicode-normalising file systems: rename all but one"
        for same in sorted(by_name.values())
        if len(same) > 1
    ]


def _check_zip32_limits(named: list[tuple[bytes, ZipEntry]], comment: bytes) -> None:
    if len(named) > ZIP32_MAX_ENTRIES:
        raise UserError(
            f"{len(named)} entries would need ZIP64 (limit {ZIP32_MAX_ENTRIES}); not supported"
        )
    if len(comment) > ZIP_MAX_FIELD_LENGTH:
        raise UserError(
            f"zip comment is {len(comment)} bytes, over the limit of {ZIP_MAX_FIELD_LENGTH}"
        )
    for (name, entry), (next_name, _) in pairwise(named):
        if name == next_name:
            raise UserError(f"duplicate archive path {entry.path!r}")
    for _, entry in named:
        if len(entry.data) > ZIP32_MAX_SIZE:
            raise UserError(
                f"entry {entry.path!r} is {len(entry.data)} bytes and would need ZIP64; not"
                " supported"
            )


def _compress(name: bytes, entry: ZipEntry, memo: CompressionMemo | None) -> _StoredEntry:
    compressed: _Compressed | None = None if memo is None else memo.get(entry.data)
    if compressed is None:
        deflated = deflate.deflate_compress(entry.data, COMPRESSION_LEVEL)
        smaller = len(deflated) < len(entry.data)
        compressed = (
            _METHOD_DEFLATED if smaller else _METHOD_STORED,
            deflate.crc32(entry.data),
            deflated if smaller else entry.data,
        )
        if memo is not None:
            memo.put(entry.data, compressed)
    method, crc, payload = compressed
    return _StoredEntry(name, method, crc, len(entry.data), payload, entry.executable)


def _archive_parts(stored: Iterable[_StoredEntry], comment: bytes) -> Iterator[bytes | bytearray]:
    central_directory: list[bytes] = []
    offset = 0
    for entry in stored:
        _check_offset(offset)
        flags = 0 if entry.name.isascii() else _FLAG_UTF8
        common = (
            entry.method,
            _DOS_TIME,
            _DOS_DATE,
            entry.crc,
            len(entry.payload),
            entry.size,
            len(entry.name),
        )
        local_header = _LOCAL_HEADER.pack(
            _LOCAL_HEADER_SIGNATURE, _VERSION_NEEDED, flags, *common, 0
        )
        mode = 0o755 if entry.executable else 0o644
        central_directory.append(
            _CENTRAL_HEADER.pack(
                _CENTRAL_HEADER_SIGNATURE,
                _VERSION_MADE_BY,
                _VERSION_NEEDED,
                flags,
                *common,
                0,  # extra field length
                0,  # file comment length
                0,  # disk number
                0,  # internal attributes
                (_REGULAR_FILE | mode) << 16,
                offset,
            )
            + entry.name
        )
        yield local_header
        yield entry.name
        yield entry.payload
        offset += len(local_header) + len(entry.name) + len(entry.payload)
    _check_offset(offset)
    directory_size = sum(map(len, central_directory))
    _check_offset(offset + directory_size + _END_OF_CENTRAL_DIRECTORY.size + len(comment))
    yield from central_directory
    count = len(central_directory)
    yield _END_OF_CENTRAL_DIRECTORY.pack(
        _END_OF_CENTRAL_DIRECTORY_SIGNATURE,
        0,
        0,
        count,
        count,
        directory_size,
        offset,
        len(comment),
    )
    yield comment


def _check_offset(offset: int) -> None:
    if offset > ZIP32_MAX_SIZE:
        raise UserError(
            f"archive exceeds {ZIP32_MAX_SIZE} bytes and would need ZIP64; not supported"
        )
