"""The Python headers of a cross build: Debian packages and tarballs written here, the machine's own
`pyconfig.h` chosen, and archives that attack the extraction or lack the headers refused."""

from __future__ import annotations

import io
import tarfile

import pytest

from repro_lambda.core.contract import Architecture, UserError
from repro_lambda.core.install import python_headers
from repro_lambda.core.install.python_headers import include_directory, parse_pins

SHA = "a" * 64


def tar(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return buffer.getvalue()


def deb(data: bytes) -> bytes:
    """An `ar` archive as dpkg writes it: the version, the control and the data members."""
    out = bytearray(b"!<arch>\n")
    for name, content in (
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", tar({})),
        ("data.tar.xz", data),
    ):
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(content):<10}`\n".encode()
        out += content + (b"\n" if len(content) % 2 else b"")
    return bytes(out)


DEBIAN = {
    "./usr/include/python3.13/Python.h": b"/* Python.h */",
    "./usr/include/python3.13/cpython/object.h": b"/* object.h */",
    "./usr/include/python3.13/pyconfig.h": b"#include <x86_64-linux-gnu/python3.13/pyconfig.h>",
    "./usr/include/aarch64-linux-gnu/python3.13/pyconfig.h": b"/* arm64 */",
    "./usr/include/x86_64-linux-gnu/python3.13/pyconfig.h": b"/* x86_64 */",
    "./usr/lib/aarch64-linux-gnu/libpython3.13.a": b"not a header",
}


@pytest.mark.parametrize(
    ("architecture", "config"), [("arm64", b"/* arm64 */"), ("x86_64", b"/* x86_64 */")]
)
def test_a_debian_package_gives_the_machines_own_pyconfig(architecture: str, config: bytes) -> None:
    headers = include_directory(
        deb(tar(DEBIAN)), "libpython3.13-dev.deb", (3, 13), Architecture(architecture)
    )
    assert headers == {
        "Python.h": b"/* Python.h */",
        "cpython/object.h": b"/* object.h */",
        "pyconfig.h": config,
    }


def test_a_tarball_with_an_include_directory_gives_its_headers() -> None:
    standalone = {
        "python/include/python3.12/Python.h": b"P",
        "python/include/python3.12/pyconfig.h": b"C",
    }
    headers = include_directory(tar(standalone), "cpython.tar.xz", (3, 12), Architecture.ARM64)
    assert headers == {"Python.h": b"P", "pyconfig.h": b"C"}


def test_headers_of_another_python_version_are_refused_naming_the_option() -> None:
    with pytest.raises(UserError, match=r"has no headers of Python 3\.11 .*\[lambda-sdist-build\]"):
        include_directory(deb(tar(DEBIAN)), "x.deb", (3, 11), Architecture.ARM64)


def test_an_archive_that_attacks_the_extraction_gives_nothing_outside_it() -> None:
    attack = {
        "./usr/include/python3.13/../../../../etc/Python.h": b"evil",
        "./usr/include/python3.13/pyconfig.h": b"C",
    }
    links = {"./usr/include/python3.13/Python.h": "/etc/passwd"}
    with pytest.raises(UserError, match="has no headers of Python 3.13"):
        include_directory(tar(attack, links), "x.tar.xz", (3, 13), Architecture.ARM64)


def test_an_archive_with_too_many_headers_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(python_headers, "MAX_HEADER_BYTES", 20)
    with pytest.raises(UserError, match="more than 20 bytes of headers"):
        include_directory(deb(tar(DEBIAN)), "x.deb", (3, 13), Architecture.ARM64)


def test_a_file_that_is_no_debian_package_is_refused() -> None:
    with pytest.raises(UserError, match="x.deb is not a Debian package"):
        include_directory(tar(DEBIAN), "x.deb", (3, 13), Architecture.ARM64)


def test_pins_are_read_and_a_later_one_replaces_an_earlier_one() -> None:
    pins = parse_pins(
        [
            f"python3.13|arm64|https://a/x.deb|{SHA}|10",
            f"python3.13|arm64|https://b/y.deb|{SHA}|20",
        ],
        ["python3.13"],
    )
    assert list(pins) == [("python3.13", "arm64")]
    assert pins["python3.13", "arm64"].url == "https://b/y.deb"
    assert pins["python3.13", "arm64"].size == 20


@pytest.mark.parametrize(
    "entry",
    [
        f"python3.99|arm64|u|{SHA}|1",
        f"python3.13|mips|u|{SHA}|1",
        "python3.13|arm64|u|abc|1",
        f"python3.13|arm64|u|{SHA}",
        f"python3.13|arm64|u|{SHA}|big",
    ],
)
def test_a_malformed_pin_is_refused_naming_the_option_and_the_entry(entry: str) -> None:
    with pytest.raises(UserError, match=r"`\[lambda-sdist-build\]\.python_headers` has the entry"):
        parse_pins([entry], ["python3.13"])
