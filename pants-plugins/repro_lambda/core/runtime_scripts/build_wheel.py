"""Builds a wheel from an sdist with its PEP 517 backend, hermetically and reproducibly.

Run by an interpreter of the runtime's Python version, isolated (`python -I -S -B build_wheel.py
--build-env DIR --sdist FILE --out DIR`): the backend the sdist's `pyproject.toml` names (PEP 517's
setuptools legacy backend if none) and its requirements come only from the pinned build environment
`DIR` (no pip, no index), which also holds `tomli` for a Python without `tomllib`; the sdist is
extracted with traversal, link and size checks, and the clock, time zone and umask are fixed, so
the wheel's files are the same bytes on any host. It prints the wheel's file name. Standard
library only, Python 3.9 syntax. On failure it prints one `error: ` line and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import stat
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

ERROR_PREFIX = "error: "
"""The same as the packer's (`repro_lambda.core.contract`), which the plugin parses."""

SOURCE_DATE_EPOCH = "315532800"
"""1980-01-01 00:00 UTC, the earliest time a zip can hold: what setuptools and wheel stamp."""

MAX_UNPACKED_BYTES = 512 * 1024 * 1024
LEGACY_BACKEND = "setuptools.build_meta:__legacy__"
"""The backend of an sdist whose `pyproject.toml` names none (PEP 517)."""
_REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class BuildError(Exception):
    """The sdist cannot be built here; the message says why."""


def extract(sdist: str, destination: str, budget: int = MAX_UNPACKED_BYTES) -> str:
    """Extract `sdist` (`.tar.gz` or `.zip`) into `destination`, refusing unsafe names, links,
    special files and more than `budget` bytes; return its one top-level directory."""
    if sdist.endswith(".zip"):
        with zipfile.ZipFile(sdist) as archive:
            entries = archive.infolist()
            members = [
                (i.filename, i.file_size, not stat.S_ISLNK(i.external_attr >> 16)) for i in entries
            ]
            _check_members(sdist, members, budget)
            archive.extractall(destination)
    else:
        with tarfile.open(sdist) as archive:
            infos = archive.getmembers()
            _check_members(
                sdist, [(i.name, i.size, i.isfile() or i.isdir()) for i in infos], budget
            )
            # our checks came first; Python's own data filter too where it has one
            options: dict[str, Any] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            for info in infos:
                archive.extract(info, destination, set_attrs=False, **options)
    tops = {PurePosixPath(name).parts[0] for name in os.listdir(destination)}
    if len(tops) != 1 or not os.path.isdir(os.path.join(destination, *tops)):
        raise BuildError(f"{os.path.basename(sdist)} has no single top-level directory")
    return os.path.join(destination, *tops)


def _check_members(sdist: str, members: Sequence[tuple[str, int, bool]], budget: int) -> None:
    name, left = os.path.basename(sdist), budget
    for member, size, regular in members:
        path = PurePosixPath(member)
        if path.is_absolute() or ".." in path.parts or "\\" in member or not path.parts:
            raise BuildError(f"{name} has an unsafe entry {member!r}")
        if not regular:
            raise BuildError(f"{name} has a link or special file {member!r}")
        left -= size
        if left < 0:
            raise BuildError(f"{name} unpacks to more than {budget:,} bytes")


def _backend(spec: str) -> Any:
    module, _, attributes = spec.partition(":")
    backend = importlib.import_module(module)
    for attribute in filter(None, attributes.split(".")):
        backend = getattr(backend, attribute)
    return backend


def _canonical(requirement: str) -> str:
    match = _REQUIREMENT_NAME.match(requirement)
    return re.sub(r"[-_.]+", "-", match.group(0)).lower() if match else requirement


def _installed(build_env: str) -> set[str]:
    """The canonical names of the distributions in the build environment."""
    return {
        _canonical(entry[: -len(".dist-info")].rsplit("-", 1)[0])
        for entry in os.listdir(build_env)
        if entry.endswith(".dist-info")
    }


def build_system(source: str) -> tuple[str, list[str], list[str]]:
    """The backend, backend path and requirements the sdist's `pyproject.toml` declares; PEP 517's
    and PEP 518's defaults where it declares none."""
    path = os.path.join(source, "pyproject.toml")
    if not os.path.exists(path):
        return LEGACY_BACKEND, [], ["setuptools"]
    try:
        toml = importlib.import_module("tomllib")
    except ImportError:  # Python < 3.11: the build environment's
        toml = importlib.import_module("tomli")
    with open(path, "rb") as file:
        try:
            table = toml.load(file).get("build-system", {})
        except toml.TOMLDecodeError as error:
            raise BuildError(f"its pyproject.toml is not valid TOML: {error}") from error
    if "build-backend" not in table:
        return LEGACY_BACKEND, [], table.get("requires", ["setuptools"])
    return table["build-backend"], table.get("backend-path", []), table.get("requires", [])


def _check_requirements(requires: Sequence[str], installed: set[str], what: str) -> None:
    missing = [
        r for r in requires if not r.strip().startswith("#") and _canonical(r) not in installed
    ]
    if missing:
        raise BuildError(
            f"{what} needs {', '.join(missing)}, which the build environment lacks: add"
            " it to `[lambda-sdist-build].requirements` and regenerate that lockfile"
        )


def build(build_env: str, sdist: str, out: str) -> str:
    """Build the wheel of `sdist` into `out`; return its file name."""
    os.umask(0o022)
    os.environ.update(SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH, TZ="UTC")
    time.tzset()
    build_env, sdist, out = (os.path.abspath(path) for path in (build_env, sdist, out))
    sys.path.insert(0, build_env)
    work = tempfile.mkdtemp(prefix="sdist-", dir=os.path.dirname(out))
    source = extract(sdist, work)
    os.chdir(source)
    backend, backend_path, requires = build_system(source)
    installed = _installed(build_env)
    _check_requirements(requires, installed, "its build")
    sys.path[:0] = [os.path.join(source, path) for path in backend_path]
    try:
        hooks = _backend(backend)
    except ImportError as error:
        raise BuildError(f"the build environment has no backend {backend}: {error}") from error
    get_requires = getattr(hooks, "get_requires_for_build_wheel", None)
    _check_requirements(
        get_requires({}) if get_requires else [], installed, f"the backend {backend}"
    )
    os.makedirs(out, exist_ok=True)
    try:
        return str(hooks.build_wheel(out, {}))
    except (Exception, SystemExit) as error:  # the sdist's own build code failed
        raise BuildError(
            f"the backend {backend} failed: {type(error).__name__}: {error}"
        ) from error


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build_wheel.py", description=__doc__)
    parser.add_argument("--build-env", required=True)
    parser.add_argument("--sdist", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    # what the backend and its compilers print goes to stderr: stdout is the wheel's name
    stdout = os.dup(1)
    os.dup2(2, 1)
    try:
        wheel = build(args.build_env, args.sdist, args.out)
    except (BuildError, OSError, tarfile.TarError, zipfile.BadZipFile) as error:
        print(f"{ERROR_PREFIX}{error}", file=sys.stderr)
        return 2
    finally:
        sys.stdout.flush()
        os.dup2(stdout, 1)
        os.close(stdout)
    print(wheel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
