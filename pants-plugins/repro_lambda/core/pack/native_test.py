"""Tests of the check that native Node.js addons match the function's architecture."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import pytest

from repro_lambda.core.contract import UserError
from repro_lambda.core.pack.native import (
    check_external_binaries,
    check_native_binaries,
    describe,
    package_name,
)
from repro_lambda.core.testutil import write_files

X86_64, AARCH64 = 62, 183
MACH_O_ARM64 = b"\xcf\xfa\xed\xfe\x0c\x00\x00\x01\x00\x00\x00\x00\x06\x00\x00\x00" + bytes(16)
PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(48)


def elf(
    machine: int, *, elf_class: int = 2, data: int = 1, os_abi: int = 0, e_type: int = 3
) -> bytes:
    """A synthetic ELF header (and a little more) of a shared object for `machine`."""
    order: Literal["little", "big"] = "little" if data == 1 else "big"
    ident = b"\x7fELF" + bytes([elf_class, data, 1, os_abi]) + bytes(8)
    return (
        ident
        + e_type.to_bytes(2, order)
        + machine.to_bytes(2, order)
        + (1).to_bytes(4, order)
        + bytes(40)
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (elf(X86_64), "built for x86-64"),
        (elf(AARCH64, os_abi=3), "built for AArch64"),
        (elf(40, elf_class=1), "built for 32-bit ELF machine 40"),
        (elf(AARCH64, data=2), "built for big-endian AArch64"),
        (elf(X86_64, e_type=1), "built for x86-64 (not a shared object)"),
        (elf(X86_64, os_abi=9), "not a Linux ELF binary"),  # FreeBSD
        (MACH_O_ARM64, "not a Linux ELF binary"),
        (PE, "not a Linux ELF binary"),
        (elf(X86_64)[:19], "not a Linux ELF binary"),
        (b"", "not a Linux ELF binary"),
    ],
)
def test_describe(header: bytes, expected: str) -> None:
    assert describe(header) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("node_modules/sharp/build/Release/sharp.node", "sharp"),
        ("node_modules/a/node_modules/@scope/pkg/bin.node", "@scope/pkg"),
        ("node_modules/.pnpm/x@1.0.0/node_modules/x/x.node", "x"),
        ("build/Release/addon.node", None),
        ("my_node_modules/x/x.node", None),
        ("node_modules/loose.node", None),
    ],
)
def test_package_name(path: str, expected: str | None) -> None:
    assert package_name(path) == expected


def test_matching_binaries_and_other_files_pass(tmp_path: Path) -> None:
    files = write_files(
        tmp_path,
        {
            "node_modules/sharp/build/Release/sharp.node": elf(X86_64),
            "node_modules/sharp/lib/index.js": b"module.exports = {};\n",
            "node_modules/other/darwin.so": MACH_O_ARM64,  # not a .node file: not checked
        },
    )
    check_native_binaries(files, "x86_64")


def test_x86_64_binary_on_arm64_names_the_scoped_package(tmp_path: Path) -> None:
    files = write_files(tmp_path, {"node_modules/a/node_modules/@scope/pkg/bin.node": elf(X86_64)})
    message = (
        "node_modules/a/node_modules/@scope/pkg/bin.node (package @scope/pkg) is built for"
        " x86-64, but the function runs on arm64: use a version of @scope/pkg that ships"
        " linux-arm64 binaries through optionalDependencies, or drop it"
    )
    with pytest.raises(UserError, match=f"^{re.escape(message)}$"):
        check_native_binaries(files, "arm64")


def test_mach_o_binary_is_not_linux_elf(tmp_path: Path) -> None:
    files = write_files(tmp_path, {"node_modules/fsevents/fsevents.node": MACH_O_ARM64})
    with pytest.raises(
        UserError,
        match=r"^node_modules/fsevents/fsevents.node \(package fsevents\) is not a Linux ELF",
    ):
        check_native_binaries(files, "arm64")


def test_reports_every_offender_sorted_in_one_line(tmp_path: Path) -> None:
    files = write_files(
        tmp_path,
        {
            "node_modules/zeta/z.node": elf(AARCH64),
            "build/Release/addon.node": PE,
            "node_modules/alpha/a.node": elf(AARCH64),
            "node_modules/ok/ok.node": elf(X86_64),
        },
    )
    message = (
        "build/Release/addon.node is not a Linux ELF binary; node_modules/alpha/a.node (package"
        " alpha) is built for AArch64; node_modules/zeta/z.node (package zeta) is built for"
        " AArch64, but the function runs on x86_64: use versions of alpha, zeta that ship"
        " linux-x64 binaries through optionalDependencies, or drop them; build the function's"
        " own .node files for linux-x64"
    )
    with pytest.raises(UserError, match=f"^{re.escape(message)}$"):
        check_native_binaries(files, "x86_64")


def test_many_offenders_are_listed_up_to_five_then_counted(tmp_path: Path) -> None:
    files = write_files(
        tmp_path, {f"node_modules/p{index}/p.node": elf(X86_64) for index in range(8)}
    )
    with pytest.raises(UserError) as error:
        check_native_binaries(files, "arm64")
    message = str(error.value)
    assert (
        "node_modules/p4/p.node (package p4) is built for x86-64; and 3 more .node files, but"
        in message
    )
    assert "p5/p.node" not in message
    assert (
        "use versions of p0, p1, p2, p3, p4, p5, p6, p7 that ship linux-arm64 binaries" in message
    )
    assert "\n" not in message


def test_external_binaries_of_another_machine_are_refused_whatever_their_name(
    tmp_path: Path,
) -> None:
    files = write_files(
        tmp_path,
        {
            "bin/terraform": elf(X86_64, e_type=2),
            "bin/helper": elf(AARCH64, e_type=2),
            "vendor/README": b"text",
            "vendor/tool.exe": PE,
        },
    )
    check_external_binaries({k: v for k, v in files.items() if k != "bin/terraform"}, "arm64")
    message = (
        "bin/terraform is built for x86-64, but the artifact runs on arm64: pin the arm64"
        " download of the source that provides it"
    )
    with pytest.raises(UserError, match=f"^{re.escape(message)}$"):
        check_external_binaries(files, "arm64")
