"""Golden bytes: the packer's zip of a fixed input is pinned by its sha256.

The reproducibility tests compare two builds of one commit, so they stay green when a change to
the packer changes every zip the same way. This pin fails instead.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from repro_lambda.core.contract import PackJob, PackSpec
from repro_lambda.core.pack import zip_writer
from repro_lambda.core.pack.packer import pack

GOLDEN_SHA256 = "385f4e9f67018fc93f1f9ac31d8159e87507b41e06f09a206a0c6110b59a6e49"
"""The sha256 of the zip of `GOLDEN_INPUT`. Reviewed; change it only to re-key on purpose."""

# Root ("sources" or "site-packages") and path -> (content, mode on disk).
GOLDEN_INPUT: dict[tuple[str, str], tuple[bytes, int]] = {
    ("sources", "app.py"): (
        b"import json\n\nfrom dep import SQUARES\n\n\n"
        b"def handler(event, context):\n    return json.dumps(SQUARES[event['n']])\n",
        0o644,
    ),
    ("sources", "conf/__init__.py"): (b"", 0o600),
    ("sources", "conf/regions/eu-west-1/na\u00efve.json"): (b'{"region": "eu-west-1"}\n', 0o640),
    ("sources", "scripts/run.sh"): (b"#!/bin/sh\nexec python3 -m app\n", 0o700),
    ("site-packages", "dep/__init__.py"): (
        b"SQUARES = {\n" + b"".join(b"    %d: %d,\n" % (n, n * n) for n in range(400)) + b"}\n",
        0o644,
    ),
    ("site-packages", "dep-1.0.dist-info/METADATA"): (
        b"Metadata-Version: 2.1\nName: dep\nVersion: 1.0\n",
        0o644,
    ),
    ("site-packages", "dep-1.0.dist-info/RECORD"): (b"dep/__init__.py,,\n", 0o644),
}

REPIN_MESSAGE = """\
The packer's bytes changed: the golden zip's sha256 is {actual}, pinned {pinned}.
Every user's artifacts would re-key on upgrade: each zip gets a new S3 key and CodeSha256, and
Terraform redeploys every function with no change to its code.
If that is not intended, find what changed the bytes (the compression level, the `deflate` pin,
the entry order, a timestamp, a mode, a header field, a file kept or dropped).
If it is intended: set GOLDEN_SHA256 in pants-plugins/repro_lambda/core/pack/golden_test.py to the
new digest, regenerate the examples' keys with `PYTHONPATH=tests python3 -m e2e.update_golden_keys`,
and say in CHANGELOG.md that every artifact re-keys."""


def pack_golden(base: Path, executables: frozenset[str] | None = None) -> bytes:
    """Write `GOLDEN_INPUT` under `base` and pack it; return the zip."""
    for (root, path), (content, mode) in GOLDEN_INPUT.items():
        file = base / root / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(content)
        file.chmod(mode)
    executables_file = None
    if executables is not None:
        executables_file = str(base / "executables")
        Path(executables_file).write_text("".join(f"{path}\n" for path in executables))
    spec = PackSpec("golden", runtime="python3.12", architecture="arm64", handler="app.handler")
    pack(
        PackJob(
            spec,
            output=str(base / "golden.zip"),
            metadata=str(base / "golden.json"),
            sources=(str(base / "sources"),),
            site_packages=(str(base / "site-packages"),),
            executables=executables_file,
        )
    )
    return (base / "golden.zip").read_bytes()


def test_the_packers_bytes_are_pinned(tmp_path: Path) -> None:
    actual = hashlib.sha256(pack_golden(tmp_path)).hexdigest()
    assert actual == GOLDEN_SHA256, REPIN_MESSAGE.format(actual=actual, pinned=GOLDEN_SHA256)


def test_the_golden_input_covers_what_the_pin_guards(tmp_path: Path) -> None:
    """Deflated and stored entries, both modes, nesting and a UTF-8 name: a pin of less would
    miss changes to them."""
    archive = zipfile.ZipFile(io.BytesIO(pack_golden(tmp_path)))
    infos = {info.filename: info for info in archive.infolist()}
    assert list(infos) == [
        "app.py",
        "conf/__init__.py",
        "conf/regions/eu-west-1/na\u00efve.json",
        "dep-1.0.dist-info/METADATA",
        "dep/__init__.py",
        "scripts/run.sh",
    ]
    assert infos["dep/__init__.py"].compress_type == zipfile.ZIP_DEFLATED
    utf8_name = infos["conf/regions/eu-west-1/na\u00efve.json"]
    assert utf8_name.compress_type == zipfile.ZIP_STORED
    assert utf8_name.flag_bits & 0x800, "the UTF-8 flag"
    modes = {name: info.external_attr >> 16 for name, info in infos.items()}
    assert modes == {name: 0o100755 if name == "scripts/run.sh" else 0o100644 for name in infos}


def _zlib_deflate(data: bytes, level: int) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)  # raw DEFLATE, as libdeflate's
    return compressor.compress(data) + compressor.flush()


def _reverse_sorted(items: Iterable[Any], key: Callable[[Any], Any] | None = None) -> list[Any]:
    return sorted(items, key=key, reverse=True)


HOST_ZLIB = SimpleNamespace(deflate_compress=_zlib_deflate, crc32=zlib.crc32)


@pytest.mark.parametrize(
    "attribute, value",
    [
        pytest.param("COMPRESSION_LEVEL", 9, id="compression level"),
        pytest.param("deflate", HOST_ZLIB, id="the host's zlib for the deflate pin"),
        pytest.param("sorted", _reverse_sorted, id="entry order"),
        pytest.param("_DOS_DATE", (1 << 9) | (1 << 5) | 1, id="timestamp"),
        pytest.param("_VERSION_MADE_BY", zip_writer._VERSION_NEEDED, id="made by MS-DOS"),
    ],
)
def test_the_pin_catches_a_change_to_the_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, attribute: str, value: object
) -> None:
    monkeypatch.setattr(zip_writer, attribute, value, raising=False)
    assert hashlib.sha256(pack_golden(tmp_path)).hexdigest() != GOLDEN_SHA256


def test_the_pin_catches_a_lost_executable_bit(tmp_path: Path) -> None:
    assert hashlib.sha256(pack_golden(tmp_path, frozenset())).hexdigest() != GOLDEN_SHA256
