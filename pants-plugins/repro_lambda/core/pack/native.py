"""Checks that the native Node.js addons (`*.node`) of a zip are Linux binaries for the function's
architecture.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from repro_lambda.core.contract import Architecture, UserError

ELF_MACHINES = {Architecture.X86_64: 62, Architecture.ARM64: 183}
"""The ELF `e_machine` of each Lambda architecture."""

MACHINE_NAMES = {62: "x86-64", 183: "AArch64"}
NOT_LINUX_ELF = "not a Linux ELF binary"
MAX_LISTED = 5

_HEADER_SIZE = 20
_LINUX_OS_ABIS = (0, 3)  # System V (what Linux toolchains write) and GNU/Linux
_ELF_CLASS_64 = 2
_ELF_LITTLE_ENDIAN = 1
_ELF_SHARED_OBJECT = 3


def check_native_binaries(files: Mapping[str, Path], architecture: str) -> None:
    """Raise UserError unless every `.node` file of `files` (archive path -> file) runs on
    `architecture`.
    """
    expected = f"built for {MACHINE_NAMES[ELF_MACHINES[Architecture(architecture)]]}"
    problems = []
    for path in sorted(path for path in files if path.endswith(".node")):
        with files[path].open("rb") as file:
            found = describe(file.read(_HEADER_SIZE))
        if found != expected:
            problems.append((path, found))
    if problems:
        raise UserError(_message(problems, architecture))


def check_external_binaries(files: Mapping[str, Path], architecture: str) -> None:
    """Raise UserError for any Linux ELF file of `files` (archive path -> staged external source)
    that is not built for `architecture`: a vendored tool downloaded for the wrong machine."""
    expected = ELF_MACHINES[Architecture(architecture)]
    problems = []
    for path in sorted(files):
        with files[path].open("rb") as file:
            header = file.read(_HEADER_SIZE)
        found = describe(header)
        if found == NOT_LINUX_ELF:
            continue
        order: Literal["little", "big"] = "little" if header[5] == _ELF_LITTLE_ENDIAN else "big"
        if int.from_bytes(header[18:20], order) != expected or header[4] != _ELF_CLASS_64:
            problems.append(f"{path} is {found.replace(' (not a shared object)', '')}")
    if problems:
        listed = "; ".join(problems[:MAX_LISTED])
        raise UserError(
            f"{listed}, but the artifact runs on {architecture}: pin the {architecture} download"
            " of the source that provides it"
        )


def describe(header: bytes) -> str:
    """What a file's first 20 bytes say it is, e.g. `built for x86-64`, `not a Linux ELF binary`."""
    if len(header) < _HEADER_SIZE or header[:4] != b"\x7fELF" or header[7] not in _LINUX_OS_ABIS:
        return NOT_LINUX_ELF
    order: Literal["little", "big"] = "little" if header[5] == _ELF_LITTLE_ENDIAN else "big"
    machine = int.from_bytes(header[18:20], order)
    words = [MACHINE_NAMES.get(machine, f"ELF machine {machine}")]
    if header[4] != _ELF_CLASS_64:
        words.insert(0, "32-bit")
    if order == "big":
        words.insert(0, "big-endian")
    if int.from_bytes(header[16:18], order) != _ELF_SHARED_OBJECT:
        words.append("(not a shared object)")
    return "built for " + " ".join(words)


def package_name(path: str) -> str | None:
    """The npm package holding `path`: `name` or `@scope/name` after its last `node_modules/`."""
    _, marker, inside = f"/{path}".rpartition("/node_modules/")
    directories = inside.split("/")[:-1]
    if not marker or not directories:
        return None
    return "/".join(directories[:2]) if directories[0].startswith("@") else directories[0]


def _message(problems: list[tuple[str, str]], architecture: str) -> str:
    named = [(path, found, package_name(path)) for path, found in problems]
    listed = [
        f"{path}{f' (package {package})' if package else ''} is {found}"
        for path, found, package in named
    ]
    if len(listed) > MAX_LISTED:
        listed[MAX_LISTED:] = [f"and {len(listed) - MAX_LISTED} more .node files"]
    platform = f"linux-{Architecture(architecture).npm_cpu}"
    packages = sorted({package for _, _, package in named if package})
    binaries = f"{platform} binaries through optionalDependencies"
    advice = []
    if len(packages) == 1:
        advice.append(f"use a version of {packages[0]} that ships {binaries}, or drop it")
    elif packages:
        advice.append(f"use versions of {', '.join(packages)} that ship {binaries}, or drop them")
    if any(package is None for _, _, package in named):
        advice.append(f"build the function's own .node files for {platform}")
    return f"{'; '.join(listed)}, but the function runs on {architecture}: {'; '.join(advice)}"
