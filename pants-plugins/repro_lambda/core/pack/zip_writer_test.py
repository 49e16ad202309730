"""Tests for the deterministic ZIP writer, checked against the stdlib zipfile reader."""

from __future__ import annotations

import io
import operator
import os
import random
import re
import struct
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repro_lambda.core.contract import UserError
from repro_lambda.core.pack import zip_writer
from repro_lambda.core.pack.zip_writer import (
    CompressionMemo,
    ZipEntry,
    build_zip,
    name_collision_warnings,
)

SAMPLE_ENTRIES = [
    ZipEntry("pkg/handler.py", b"def handler(event, context):\n    return event\n" * 20),
    ZipEntry("bin/tool", b"#!/bin/sh\necho hi\n", executable=True),
    ZipEntry("données/ü.txt", b"non-ASCII path"),
    ZipEntry("empty.txt", b""),
    ZipEntry("random.bin", os.urandom(4096)),
]

segments = st.text(alphabet="abcXYZ_-.é中", min_size=1, max_size=6).filter(
    lambda s: s not in {".", ".."}
)
paths = st.lists(segments, min_size=1, max_size=3).map("/".join)
entry_lists = st.lists(
    st.builds(
        ZipEntry,
        paths,
        st.binary(max_size=300) | st.binary(max_size=30).map(lambda b: b * 20),
        st.booleans(),
    ),
    max_size=12,
    unique_by=operator.attrgetter("path"),
)


def read_zip(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def assert_canonical(data: bytes, entries: list[ZipEntry]) -> None:
    archive = read_zip(data)
    assert archive.testzip() is None
    infos = archive.infolist()
    expected_order = sorted(
        (entry.path for entry in entries), key=lambda path: path.encode("utf-8")
    )
    assert [info.filename for info in infos] == expected_order
    by_path = {entry.path: entry for entry in entries}
    for info in infos:
        entry = by_path[info.filename]
        assert archive.read(info) == entry.data
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.external_attr >> 16 == (0o100755 if entry.executable else 0o100644)
        assert info.create_system == 3
        assert info.create_version == 20
        assert info.extract_version == 20
        assert info.extra == b""
        assert not info.is_dir()
        assert not info.flag_bits & 0x08, "no data descriptors"
        assert bool(info.flag_bits & 0x800) == (not info.filename.isascii())


def test_round_trips_through_stdlib_zipfile() -> None:
    assert_canonical(build_zip(SAMPLE_ENTRIES), SAMPLE_ENTRIES)


def test_output_does_not_depend_on_entry_order() -> None:
    assert build_zip(SAMPLE_ENTRIES) == build_zip(list(reversed(SAMPLE_ENTRIES)))


@pytest.mark.parametrize("workers", [1, 2, 7])
def test_output_does_not_depend_on_worker_count(
    monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    expected = build_zip(SAMPLE_ENTRIES)
    monkeypatch.setattr(os, "cpu_count", lambda: workers)
    assert build_zip(SAMPLE_ENTRIES) == expected


def test_a_shared_memo_compresses_shared_contents_once_and_changes_no_byte(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expected = build_zip(SAMPLE_ENTRIES)
    compressed: list[int] = []
    compress = zip_writer.deflate.deflate_compress

    def counting_compress(data: bytes, level: int) -> bytes:
        compressed.append(len(data))
        return compress(data, level)

    monkeypatch.setattr(zip_writer.deflate, "deflate_compress", counting_compress)
    memo = CompressionMemo()
    assert build_zip(SAMPLE_ENTRIES, memo=memo) == expected
    renamed = [ZipEntry(f"other/{entry.path}", entry.data) for entry in SAMPLE_ENTRIES]
    assert_canonical(build_zip(renamed, memo=memo), renamed)
    assert len(compressed) == len(SAMPLE_ENTRIES)


def test_a_memo_keeps_no_more_than_its_budget() -> None:
    memo = CompressionMemo(budget=100)
    build_zip([ZipEntry("big.txt", b"x" * 200), ZipEntry("small.txt", b"y" * 20)], memo=memo)
    assert memo.get(b"x" * 200) is None
    assert memo.get(b"y" * 20) is not None


def test_local_headers_carry_sizes_fixed_date_and_no_extra_fields() -> None:
    data = build_zip([ZipEntry("a.txt", b"hello " * 100)])
    (
        signature,
        version,
        flags,
        method,
        time,
        date,
        _crc,
        csize,
        size,
        name_len,
        extra_len,
    ) = struct.unpack("<IHHHHHIIIHH", data[:30])
    assert (signature, version, flags, method, time, date) == (
        0x04034B50,
        20,
        0,
        8,
        0,
        (1 << 5) | 1,
    )
    assert (size, name_len, extra_len) == (600, 5, 0)
    assert 0 < csize < size


def test_deflates_only_when_smaller() -> None:
    archive = read_zip(build_zip(SAMPLE_ENTRIES))
    assert archive.getinfo("pkg/handler.py").compress_type == zipfile.ZIP_DEFLATED
    assert archive.getinfo("random.bin").compress_type == zipfile.ZIP_STORED
    assert archive.getinfo("empty.txt").compress_type == zipfile.ZIP_STORED


def test_comment_is_stored() -> None:
    assert read_zip(build_zip(SAMPLE_ENTRIES, comment=b"extra")).comment == b"extra"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("", "empty path"),
        ("/etc/passwd", "absolute"),
        ("a\\b.py", "backslash"),
        ("a/../b.py", "'..'"),
        ("..", "'..'"),
        ("./a.py", "'.'"),
        ("a//b.py", "empty component"),
        ("a/", "empty component"),
        ("bad\udc80.py", "UTF-8"),
    ],
)
def test_refuses_invalid_paths(path: str, reason: str) -> None:
    with pytest.raises(UserError, match=reason):
        build_zip([ZipEntry(path, b"x")])


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("a\x00b.py", r"invalid archive path 'a\x00b.py': control character U+0000 is not allowed"),
        ("a\nb.py", r"invalid archive path 'a\nb.py': control character U+000A is not allowed"),
        ("a\x7f.py", r"invalid archive path 'a\x7f.py': control character U+007F is not allowed"),
        ("a\x85.py", r"invalid archive path 'a\x85.py': control character U+0085 is not allowed"),
    ],
)
def test_refuses_control_characters(path: str, message: str) -> None:
    with pytest.raises(UserError, match=f"^{re.escape(message)}$"):
        build_zip([ZipEntry("ok.py", b""), ZipEntry(path, b"x")])


def test_warns_of_names_one_on_case_insensitive_or_normalising_file_systems() -> None:
    nfc, nfd = "caf\u00e9.py", "cafe\u0301.py"
    paths = ["README", "readme", "Readme", nfc, nfd, "other.py", "Stra\u00dfe.py", "strasse.py"]
    assert name_collision_warnings(paths) == [
        "archive paths 'README', 'Readme', 'readme' are one name on case-insensitive or"
        " Unicode-normalising file systems: rename all but one",
        "archive paths 'Stra\u00dfe.py', 'strasse.py' are one name on case-insensitive or"
        " Unicode-normalising file systems: rename all but one",
        f"archive paths {nfd!r}, {nfc!r} are one name on case-insensitive or Unicode-normalising"
        " file systems: rename all but one",
    ]
    assert name_collision_warnings(["a.py", "b.py", "a/b.py"]) == []


def test_refuses_duplicate_paths() -> None:
    with pytest.raises(UserError, match=re.escape("duplicate archive path 'a.py'")):
        build_zip([ZipEntry("a.py", b"1"), ZipEntry("b.py", b""), ZipEntry("a.py", b"2")])


def test_refuses_too_many_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zip_writer, "ZIP32_MAX_ENTRIES", 2)
    with pytest.raises(UserError, match="ZIP64"):
        build_zip([ZipEntry(f"{i}.py", b"") for i in range(3)])


def test_refuses_entry_needing_zip64(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zip_writer, "ZIP32_MAX_SIZE", 10)
    with pytest.raises(UserError, match=re.escape("'big.bin' is 11 bytes and would need ZIP64")):
        build_zip([ZipEntry("big.bin", bytes(11))])


def test_refuses_archive_needing_zip64(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zip_writer, "ZIP32_MAX_SIZE", 100)
    with pytest.raises(UserError, match="archive exceeds 100 bytes"):
        build_zip([ZipEntry(f"{i}.bin", os.urandom(60)) for i in range(3)])


def test_refuses_oversized_comment() -> None:
    with pytest.raises(UserError, match="comment"):
        build_zip([ZipEntry("a.py", b"")], comment=bytes(0x10000))


@settings(max_examples=60, deadline=None)
@given(entries=entry_lists, order=st.randoms())
def test_any_entries_round_trip_in_canonical_form(
    entries: list[ZipEntry], order: random.Random
) -> None:
    data = build_zip(entries)
    assert_canonical(data, entries)
    shuffled = list(entries)
    order.shuffle(shuffled)
    assert build_zip(shuffled) == data
