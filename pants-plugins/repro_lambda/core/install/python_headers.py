"""The Python headers a cross build compiles extensions against: the pinned archive of each
runtime × architecture (`[lambda-sdist-build].python_headers`), and the flat include directory
taken from it.

An archive is a Debian or Ubuntu `libpython3.X-dev` package (`.deb`: `usr/include/python3.X/`, and
the machine's `pyconfig.h` under `usr/include/<triplet>/python3.X/`) or a tarball with an
`include/python3.X/` directory (python-build-standalone's). Standard library only.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Dict, NamedTuple, Tuple

from repro_lambda.core.contract import Architecture, UserError

OPTION = "[lambda-sdist-build].python_headers"
MAX_HEADER_BYTES = 64 * 1024 * 1024
_AR_MAGIC = b"!<arch>\n"
_AR_HEADER = 60


class HeadersPin(NamedTuple):
    """A runtime × architecture's headers archive, pinned."""

    runtime: str
    architecture: Architecture
    url: str
    sha256: str
    size: int


def parse_pins(
    entries: Iterable[str], runtimes: Iterable[str]
) -> Dict[Tuple[str, str], HeadersPin]:
    """The option's `runtime|architecture|url|sha256|size` entries, by (runtime, architecture); a
    later entry for the same pair replaces an earlier one."""
    pins = {}
    known = set(runtimes)
    for entry in entries:
        fields = [field.strip() for field in entry.split("|")]
        if (
            len(fields) != 5
            or fields[0] not in known
            or fields[1] not in {a.value for a in Architecture}
            or len(fields[3]) != 64
            or not fields[4].isdigit()
        ):
            raise UserError(
                f"`{OPTION}` has the entry {entry!r}: write `runtime|architecture|url|sha256|size`,"
                f" with a Python runtime ({', '.join(sorted(known))}), x86_64 or arm64, and the"
                " archive's sha256 and size in bytes"
            )
        pin = HeadersPin(fields[0], Architecture(fields[1]), fields[2], fields[3], int(fields[4]))
        pins[(pin.runtime, pin.architecture.value)] = pin
    return pins


def include_directory(
    archive: bytes, name: str, python: Tuple[int, int], architecture: Architecture
) -> Dict[str, bytes]:
    """The headers of Python `python` for `architecture` in `archive` (named `name`), as a flat
    include directory (relative path -> bytes) with the machine's own `pyconfig.h`."""
    version = f"python{python[0]}.{python[1]}"
    triplet = f"{architecture.machine}-linux-gnu"
    tar = debian_data(archive, name) if name.endswith(".deb") else archive
    headers: Dict[str, bytes] = {}
    machine_config = None
    budget = MAX_HEADER_BYTES
    with tarfile.open(fileobj=io.BytesIO(tar)) as members:
        for member in members:
            parts = PurePosixPath(member.name).parts
            if not member.isfile() or ".." in parts or "include" not in parts:
                continue
            after = parts[parts.index("include") + 1 :]
            if after[:2] == (triplet, version) and after[2:] == ("pyconfig.h",):
                machine_config = _read(members, member)
            elif after[:1] == (version,) and len(after) > 1:
                budget -= member.size
                if budget < 0:
                    raise UserError(f"{name} holds more than {MAX_HEADER_BYTES:,} bytes of headers")
                headers["/".join(after[1:])] = _read(members, member)
    if machine_config is not None:
        headers["pyconfig.h"] = machine_config
    if "Python.h" not in headers or "pyconfig.h" not in headers:
        raise UserError(
            f"{name} has no headers of Python {python[0]}.{python[1]} (include/{version}/Python.h"
            f" and pyconfig.h): pin a libpython{python[0]}.{python[1]}-dev package for {triplet},"
            f" or a tarball with include/{version}/, in `{OPTION}`"
        )
    return headers


def _read(members: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    file = members.extractfile(member)
    assert file is not None
    return file.read()


def debian_data(deb: bytes, name: str) -> bytes:
    """The `data.tar.*` member of a Debian package (an `ar` archive)."""
    if not deb.startswith(_AR_MAGIC):
        raise UserError(f"{name} is not a Debian package")
    offset = len(_AR_MAGIC)
    while offset + _AR_HEADER <= len(deb):
        header = deb[offset : offset + _AR_HEADER]
        member, size = header[:16].decode("ascii").strip().rstrip("/"), int(header[48:58])
        if member.startswith("data.tar"):
            return deb[offset + _AR_HEADER : offset + _AR_HEADER + size]
        offset += _AR_HEADER + size + size % 2
    raise UserError(f"{name} is a Debian package without data")
