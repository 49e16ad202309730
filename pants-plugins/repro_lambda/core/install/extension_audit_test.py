"""The audit of built extensions, on ELF files written here byte by byte: the machine, the glibc
symbol versions and the needed libraries are each read and judged."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from repro_lambda.core.contract import Architecture
from repro_lambda.core.install.extension_audit import audit, audit_wheel, read_elf

AL2 = (2, 26)


def elf(machine: int, needed: tuple[str, ...] = (), versions: tuple[str, ...] = ()) -> bytes:
    """A 64-bit little-endian shared object with a `.dynamic` (DT_NEEDED) and a
    `.gnu.version_r` (one Verneed of libc.so.6 with `versions`), both over one string table."""
    strings = bytearray(b"\0")

    def string(text: str) -> int:
        strings.extend(text.encode() + b"\0")
        return len(strings) - len(text) - 1

    dynamic = b"".join(struct.pack("<qQ", 1, string(name)) for name in needed)
    dynamic += struct.pack("<qQ", 0, 0)
    verneed = b""
    if versions:
        verneed = struct.pack("<HHIII", 1, len(versions), string("libc.so.6"), 16, 0)
        for index, version in enumerate(versions):
            following = 16 if index < len(versions) - 1 else 0
            verneed += struct.pack("<IHHII", 0, 0, index + 2, string(version), following)
    body = [bytes(strings), dynamic, verneed]
    offsets, at = [], 64
    for part in body:
        offsets.append(at)
        at += len(part)
    header = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header += struct.pack("<HHIQQQIHHHHHH", 3, machine, 1, 0, 0, at, 0, 64, 0, 0, 64, 4, 0)

    def section(kind: int, index: int, link: int) -> bytes:
        return struct.pack(
            "<IIQQQQIIQQ", 0, kind, 0, 0, offsets[index], len(body[index]), link, 0, 8, 0
        )

    sections = bytes(64) + section(3, 0, 0) + section(6, 1, 1) + section(0x6FFFFFFE, 2, 1)
    return header + b"".join(body) + sections


def test_what_an_elf_file_needs_is_read() -> None:
    facts = read_elf(elf(183, ("libm.so.6", "libc.so.6"), ("GLIBC_2.17", "GLIBC_2.2.5")))
    assert facts.machine == 183
    assert facts.needed == ("libm.so.6", "libc.so.6")
    assert facts.versions == ("GLIBC_2.17", "GLIBC_2.2.5")


def test_an_extension_within_the_runtime_passes() -> None:
    facts = read_elf(elf(62, ("libc.so.6", "libpthread.so.0"), ("GLIBC_2.2.5", "GLIBC_2.26")))
    assert audit(facts, Architecture.X86_64, AL2) == []


@pytest.mark.parametrize(
    ("file", "problem"),
    [
        (elf(62), "is built for x86-64, not AArch64"),
        (
            elf(183, ("libc.so.6",), ("GLIBC_2.17", "GLIBC_2.34", "GLIBC_2.28")),
            "needs GLIBC_2.28, GLIBC_2.34, above the runtime's glibc 2.26",
        ),
        (
            elf(183, ("libc.so.6", "libpq.so.5")),
            "needs libpq.so.5, which the runtime does not have",
        ),
    ],
)
def test_an_extension_that_would_not_run_is_named_with_why(file: bytes, problem: str) -> None:
    assert audit(read_elf(file), Architecture.ARM64, AL2) == [problem]


def test_a_wheel_is_audited_file_by_file() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        wheel.writestr("x/__init__.py", "")
        wheel.writestr("x/_ok.cpython-311-aarch64-linux-gnu.so", elf(183, ("libc.so.6",)))
        wheel.writestr("x/_bad.cpython-311-x86_64-linux-gnu.so", elf(62))
        wheel.writestr("x/_short.so", b"\x7fELF\x01")
    assert audit_wheel(buffer.getvalue(), Architecture.ARM64, AL2) == [
        "x/_bad.cpython-311-x86_64-linux-gnu.so is built for x86-64, not AArch64",
        "x/_short.so is not an ELF file this audit can read (64-bit little-endian)",
    ]
