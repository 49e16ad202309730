"""Deterministic minimal ZIP writer: sorted entries, fixed metadata, libdeflate compression.

Section numbers cite PKWARE's APPNOTE.TXT, the .ZIP File Format Specification (6.3.x): the layout
is 4.3.6 without encryption headers, data descriptors or ZIP64 records, and every field is
little-endian (4.4.1.1). `golden_test.py` pins the bytes.
"""

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

from repro_lambda.core.contract import ZIP_MAX_FIELD_LENGTH, UserError

COMPRESSION_LEVEL = 6
"""libdeflate level: the lowest never larger than zlib level 6 on the benchmark tree, ~3x faster."""

ZIP32_MAX_SIZE = 0xFFFFFFFE
"""Largest size or offset without ZIP64 (0xFFFFFFFF itself is the ZIP64 marker: 4.4.1.4, 4.4.8)."""
ZIP32_MAX_ENTRIES = 0xFFFE
"""Largest entry count without ZIP64 (0xFFFF itself is the ZIP64 marker: 4.4.1.4, 4.4.22)."""

_METHOD_STORED = 0  # 4.4.5 compression method
_METHOD_DEFLATED = 8  # 4.4.5; the stream is RFC 1951 DEFLATE
_VERSION_NEEDED = 20  # 4.4.3.2: 2.0, Deflate's (stored entries, which need 1.0, say 2.0 too)
_VERSION_MADE_BY = (3 << 8) | _VERSION_NEEDED  # 4.4.2.2 upper byte 3: UNIX; 4.4.2.3 lower: 2.0
_FLAG_UTF8 = 1 << 11  # 4.4.4 bit 11, the language encoding flag: the name is UTF-8 (APPENDIX D)
_DOS_TIME = 0  # 4.4.6 MS-DOS time (hour << 11 | minute << 5 | second // 2): 00:00:00
_DOS_DATE = (0 << 9) | (1 << 5) | 1  # 4.4.6 MS-DOS date ((year - 1980) << 9 | month << 5 | day)
_REGULAR_FILE = 0o100000  # S_IFREG, in the high 16 bits of the 4.4.15 external attributes

_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")  # 4.3.7 local file header, up to the file name
_CENTRAL_HEADER = struct.Struct("<IHHHHHHIIIHHHHHII")  # 4.3.12 central directory file header
_END_OF_CENTRAL_DIRECTORY = struct.Struct("<IHHHHIIH")  # 4.3.16, up to the comment
_LOCAL_HEADER_SIGNATURE = 0x04034B50  # 4.3.7
_CENTRAL_HEADER_SIGNATURE = 0x02014B50  # 4.3.12
_END_OF_CENTRAL_DIRECTORY_SIGNATURE = 0x06054B50  # 4.3.16


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
    if path.startswith("/"):  # 4.4.17.1: no leading slash, forward slashes only
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
    """The local header, name and data of each entry (4.3.6), then the central directory (4.3.12)
    and its end record (4.3.16)."""
    central_directory: list[bytes] = []
    offset = 0
    for entry in stored:
        _check_offset(offset)
        flags = 0 if entry.name.isascii() else _FLAG_UTF8  # 4.4.4; no bit 3: no data descriptor
        common = (  # the fields both headers share, in this order
            entry.method,  # 4.4.5
            _DOS_TIME,  # 4.4.6
            _DOS_DATE,  # 4.4.6
            entry.crc,  # 4.4.7
            len(entry.payload),  # 4.4.8 compressed size
            entry.size,  # 4.4.9 uncompressed size
            len(entry.name),  # 4.4.10 file name length
        )
        local_header = _LOCAL_HEADER.pack(
            _LOCAL_HEADER_SIGNATURE,
            _VERSION_NEEDED,  # 4.4.3
            flags,
            *common,
            0,  # 4.4.11 extra field length: no extra fields (4.4.28)
        )
        mode = 0o755 if entry.executable else 0o644
        central_directory.append(
            _CENTRAL_HEADER.pack(
                _CENTRAL_HEADER_SIGNATURE,
                _VERSION_MADE_BY,  # 4.4.2
                _VERSION_NEEDED,  # 4.4.3
                flags,
                *common,
                0,  # 4.4.11 extra field length
                0,  # 4.4.12 file comment length
                0,  # 4.4.13 disk number start
                0,  # 4.4.14 internal file attributes
                (_REGULAR_FILE | mode) << 16,  # 4.4.15 external file attributes: st_mode
                offset,  # 4.4.16 relative offset of local header
            )
            + entry.name  # 4.4.17 file name
        )
        yield local_header
        yield entry.name  # 4.4.17
        yield entry.payload  # 4.3.8 file data
        offset += len(local_header) + len(entry.name) + len(entry.payload)
    _check_offset(offset)
    directory_size = sum(map(len, central_directory))
    _check_offset(offset + directory_size + _END_OF_CENTRAL_DIRECTORY.size + len(comment))
    yield from central_directory
    count = len(central_directory)
    yield _END_OF_CENTRAL_DIRECTORY.pack(
        _END_OF_CENTRAL_DIRECTORY_SIGNATURE,
        0,  # 4.4.19 number of this disk
        0,  # 4.4.20 number of the disk with the start of the central directory
        count,  # 4.4.21 entries in the central directory on this disk
        count,  # 4.4.22 entries in the central directory
        directory_size,  # 4.4.23 size of the central directory
        offset,  # 4.4.24 offset of the start of the central directory
        len(comment),  # 4.4.25 .ZIP file comment length
    )
    yield comment  # 4.4.26 .ZIP file comment


def _check_offset(offset: int) -> None:
    if offset > ZIP32_MAX_SIZE:
        raise UserError(
            f"archive exceeds {ZIP32_MAX_SIZE} bytes and would need ZIP64; not supported"
        )
