"""The audit of the extensions in a wheel built from an sdist, the one a manylinux wheel passes:
each ELF file is for the function's machine, asks for no glibc symbol version above the runtime's,
and needs no shared library beyond those every Lambda runtime has.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from collections.abc import Callable, Iterator
from typing import NamedTuple, Tuple

from repro_lambda.core.contract import Architecture
from repro_lambda.core.pack.native import ELF_MACHINES, MACHINE_NAMES

RUNTIME_LIBRARIES = frozenset(
    (
        "libc.so.6",
        "libm.so.6",
        "libdl.so.2",
        "librt.so.1",
        "libpthread.so.0",
        "libutil.so.1",
        "libresolv.so.2",
        "libgcc_s.so.1",
        "libstdc++.so.6",
        "ld-linux-x86-64.so.2",
        "ld-linux-aarch64.so.1",
    )
)
"""The libraries of manylinux's policy that both Amazon Linux 2 and 2023 provide."""

_ELF_MAGIC = b"\x7fELF"
_SHT_DYNAMIC, _SHT_VERNEED = 6, 0x6FFFFFFE
_DT_NEEDED = 1
_GLIBC_VERSION = re.compile(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)?")


class ElfFacts(NamedTuple):
    """What the audit reads of one ELF file."""

    machine: int
    needed: Tuple[str, ...]
    versions: Tuple[str, ...]
    """The symbol versions it needs (`GLIBC_2.17`, …)."""


def read_elf(data: bytes) -> ElfFacts:
    """The machine, needed libraries and symbol versions of a 64-bit little-endian ELF file."""
    if data[:4] != _ELF_MAGIC or data[4] != 2 or data[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    (machine,) = struct.unpack_from("<H", data, 18)
    (table_offset,) = struct.unpack_from("<Q", data, 40)
    entry_size, count = struct.unpack_from("<HH", data, 58)
    # each section: name, type, flags, address, offset, size, link, info
    sections = [
        struct.unpack_from("<IIQQQQII", data, table_offset + i * entry_size) for i in range(count)
    ]

    def string(table: int, offset: int) -> str:
        start = sections[table][4] + offset
        return data[start : data.index(b"\0", start)].decode("ascii", "replace")

    needed: list[str] = []
    versions: list[str] = []
    for _, kind, _, _, offset, size, link, _ in sections:
        if kind == _SHT_DYNAMIC:
            for tag, value in struct.iter_unpack("<qQ", data[offset : offset + size]):
                if tag == _DT_NEEDED:
                    needed.append(string(link, value))
        elif kind == _SHT_VERNEED:
            versions.extend(_needed_versions(data, offset, lambda at: string(link, at)))
    return ElfFacts(machine, tuple(needed), tuple(versions))


def _needed_versions(data: bytes, offset: int, name: Callable[[int], str]) -> Iterator[str]:
    while True:
        _, count, _, aux, following = struct.unpack_from("<HHIII", data, offset)
        at = offset + aux
        for _ in range(count):
            _, _, _, name_offset, next_aux = struct.unpack_from("<IHHII", data, at)
            yield name(name_offset)
            at += next_aux
        if not following:
            return
        offset += following


def audit(facts: ElfFacts, architecture: Architecture, glibc: Tuple[int, int]) -> list[str]:
    """What keeps a file with these facts from running on the runtime (empty if nothing)."""
    problems = []
    machine = ELF_MACHINES[architecture]
    if facts.machine != machine:
        found = MACHINE_NAMES.get(facts.machine, f"machine {facts.machine}")
        problems.append(f"is built for {found}, not {MACHINE_NAMES[machine]}")
    too_new = sorted(
        {v for v in facts.versions if _glibc(v) and _glibc(v) > glibc}, key=_glibc  # type: ignore
    )
    if too_new:
        ceiling = ".".join(map(str, glibc))
        problems.append(f"needs {', '.join(too_new)}, above the runtime's glibc {ceiling}")
    missing = sorted(set(facts.needed) - RUNTIME_LIBRARIES)
    if missing:
        problems.append(f"needs {', '.join(missing)}, which the runtime does not have")
    return problems


def _glibc(version: str) -> Tuple[int, int] | None:
    match = _GLIBC_VERSION.fullmatch(version)
    return (int(match.group(1)), int(match.group(2))) if match else None


def audit_wheel(wheel: bytes, architecture: Architecture, glibc: Tuple[int, int]) -> list[str]:
    """`path: problem` for each ELF file of the wheel that would not run on the runtime."""
    problems: list[str] = []
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        for name in sorted(archive.namelist()):
            with archive.open(name) as member:
                if member.read(4) != _ELF_MAGIC:
                    continue
            try:
                found = audit(read_elf(archive.read(name)), architecture, glibc)
            except (ValueError, struct.error, IndexError):
                found = ["is not an ELF file this audit can read (64-bit little-endian)"]
            problems.extend(f"{name} {problem}" for problem in found)
    return problems
