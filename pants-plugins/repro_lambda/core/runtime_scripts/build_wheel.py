"""Builds a wheel from an sdist with its PEP 517 backend, hermetically and reproducibly.

Run by an interpreter of the runtime's Python version, isolated (`python -I -S -B build_wheel.py
--build-env DIR --sdist FILE --out DIR`): the backend the sdist's `pyproject.toml` names (PEP 517's
setuptools legacy backend if none) and its requirements come only from the pinned build environment
`DIR` (no pip, no index), which also holds `tomli` for a Python without `tomllib`; the sdist is
extracted with traversal, link and size checks, and the clock, time zone and umask are fixed, so
the wheel's files are the same bytes on any host. It prints the wheel's file name. Standard
library only, Python 3.9 syntax. On failure it prints one `error: ` line and exits 2.

The compiler the build sees is this script (`--compile cc ...`). Without a cross toolchain it
compiles nothing: a build that wants a compiler prints `NEEDS_COMPILER` in place of a wheel's name
(and succeeds, so that the answer is cached like a wheel), even when the sdist would quietly fall
back to pure Python. With one (`--zig-wheel ... --headers DIR --target
aarch64-linux-gnu.2.26`) it is Zig's `cc` for that machine and glibc, against the target Python's
headers, with no debug information and no build path in the output; a build that drops an
extension whose compile failed is an error.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shutil
import stat
import subprocess
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
MAX_TOOLCHAIN_BYTES = 2 * 1024 * 1024 * 1024
NEEDS_COMPILER = "needs-compiler"
"""What a build without a cross toolchain that wanted to compile something prints."""
COMPILER = "REPRO_LAMBDA_COMPILER"
"""The environment variable that tells `--compile` the toolchain and its log (JSON)."""
_SYSCONFIG_MODULE = "_sysconfigdata_repro_lambda"
_OPTIMISE = "-DNDEBUG -g0 -fwrapv -O2 -Wall"
_LINK = "-shared -Wl,--build-id=none -Wl,--strip-all"
_COMPILER_TAIL_LINES = 10
LEGACY_BACKEND = "setuptools.build_meta:__legacy__"
"""The backend of an sdist whose `pyproject.toml` names none (PEP 517)."""
_REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class BuildError(Exception):
    """The sdist cannot be built here; the message says why."""


def extract(sdist: str, destination: str, budget: int = MAX_UNPACKED_BYTES) -> str:
    """Extract `sdist` (`.tar.gz` or `.zip`) into `destination` (see `unpack`); return its one
    top-level directory."""
    unpack(sdist, destination, budget)
    tops = {PurePosixPath(name).parts[0] for name in os.listdir(destination)}
    if len(tops) != 1 or not os.path.isdir(os.path.join(destination, *tops)):
        raise BuildError(f"{os.path.basename(sdist)} has no single top-level directory")
    return os.path.join(destination, *tops)


def unpack(sdist: str, destination: str, budget: int) -> None:
    """Extract an archive (`.tar.gz`, or `.zip` and `.whl` with their executable bits) into
    `destination`, refusing unsafe names, links, special files and more than `budget` bytes."""
    if sdist.endswith((".zip", ".whl")):
        with zipfile.ZipFile(sdist) as archive:
            entries = archive.infolist()
            members = [
                (i.filename, i.file_size, not stat.S_ISLNK(i.external_attr >> 16)) for i in entries
            ]
            _check_members(sdist, members, budget)
            for entry in entries:
                path = archive.extract(entry, destination)
                if entry.external_attr >> 16 & 0o111:
                    os.chmod(path, 0o755)
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


class Toolchain:
    """The cross toolchain of a build: Zig, unpacked once per wheel into `home`, compiling for
    `target` (`aarch64-linux-gnu.2.26`) against the Python headers in `headers`."""

    def __init__(self, wheel: str, sha256: str, home: str, headers: str, target: str) -> None:
        self.home, self.headers = os.path.abspath(home), os.path.abspath(headers)
        self.target = target
        self.zig = os.path.join(self.home, "toolchains", sha256, "ziglang", "zig")
        if not os.path.exists(self.zig):
            _unpack_once(os.path.abspath(wheel), os.path.dirname(os.path.dirname(self.zig)))

    @property
    def machine(self) -> str:
        return self.target.split("-", 1)[0]

    def config_vars(self, work: str) -> dict[str, Any]:
        """The target's build-time configuration, for a build in `work`: what `sysconfig` and
        setuptools read to compile, link and name an extension."""
        triplet = self.target.rsplit(".", 2)[0]
        soabi = f"cpython-{sys.version_info[0]}{sys.version_info[1]}-{triplet}"
        paths = {"build": work, "zig": os.path.dirname(self.zig), "python": self.headers}
        maps = " ".join(f"-ffile-prefix-map={path}=/{name}" for name, path in paths.items())
        return {
            "CFLAGS": f"{_OPTIMISE} {maps}",
            "OPT": _OPTIMISE,
            "BASECFLAGS": "",
            "CPPFLAGS": "",
            "LDFLAGS": "",
            "CCSHARED": "-fPIC",
            "CFLAGSFORSHARED": "",
            "SHLIB_SUFFIX": ".so",
            "SOABI": soabi,
            "EXT_SUFFIX": f".{soabi}.so",
            "INCLUDEPY": self.headers,
            "CONFINCLUDEPY": self.headers,
            "MULTIARCH": triplet,
            "HOST_GNU_TYPE": triplet,
            "MACHDEP": "linux",
            "Py_ENABLE_SHARED": 0,
        }


def _unpack_once(wheel: str, destination: str) -> None:
    """Unpack the Zig wheel into `destination` unless another build already has."""
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    partial = tempfile.mkdtemp(prefix="partial-", dir=os.path.dirname(destination))
    try:
        unpack(wheel, partial, MAX_TOOLCHAIN_BYTES)
        os.rename(partial, destination)
    except OSError:
        if not os.path.isdir(destination):
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _configure(toolchain: Toolchain | None, work: str, log: str) -> None:
    """Make the build's compiler this script (`compile`) and, with a toolchain, its configuration
    the target's: a `sysconfig` data module of our own that the interpreter loads instead."""
    import sysconfig

    host: dict[str, Any] = dict(
        importlib.import_module(sysconfig._get_sysconfigdata_name()).build_time_vars  # type: ignore
    )
    me = f"{sys.executable} -I -S -B {os.path.abspath(__file__)} --compile"
    cc, cxx = f"{me} cc", f"{me} c++"
    host.update(CC=cc, CXX=cxx, AR=f"{me} ar", ARFLAGS="rc")
    host.update(LDSHARED=f"{cc} {_LINK}", BLDSHARED=f"{cc} {_LINK}", LDCXXSHARED=f"{cxx} {_LINK}")
    if toolchain is not None:
        host.update(toolchain.config_vars(work))
        os.environ["_PYTHON_HOST_PLATFORM"] = f"linux-{toolchain.machine}"
        os.environ["ZIG_GLOBAL_CACHE_DIR"] = os.path.join(toolchain.home, "cache")
        os.environ["ZIG_LOCAL_CACHE_DIR"] = os.path.join(work, "zig-cache")
    config = os.path.join(work, "sysconfig")
    os.makedirs(config)
    with open(os.path.join(config, f"{_SYSCONFIG_MODULE}.py"), "w") as file:
        file.write(f"build_time_vars = {host!r}\n")
    sys.path.insert(0, config)
    os.environ["_PYTHON_SYSCONFIGDATA_NAME"] = _SYSCONFIG_MODULE
    os.environ[COMPILER] = json.dumps(
        {
            "zig": toolchain.zig if toolchain else "",
            "target": toolchain.target if toolchain else "",
            "log": log,
        }
    )


def compile_(argv: Sequence[str]) -> int:
    """Stand in for the build's compiler (`cc`, `c++`, `ar` and their arguments): run Zig's for the
    target, or, without a toolchain, record that the build wanted one and fail."""
    settings = json.loads(os.environ[COMPILER])
    with open(settings["log"], "a") as log:
        if not settings["zig"]:
            log.write("wanted\n")
            print("error: no compiler: this build runs without a cross toolchain", file=sys.stderr)
            return 1
        command = [settings["zig"], argv[0]]
        command += [*argv[1:]] if argv[0] == "ar" else ["-target", settings["target"], *argv[1:]]
        result = subprocess.run(command, stderr=subprocess.PIPE, text=True)
        sys.stderr.write(result.stderr)
        if result.returncode != 0:
            tail = result.stderr.strip().splitlines()[-_COMPILER_TAIL_LINES:]
            log.write(json.dumps(tail) + "\n")
        return result.returncode


class NeedsCompiler(Exception):
    """The build wanted a compiler, and this one runs without a cross toolchain."""


def build(build_env: str, sdist: str, out: str, toolchain: Toolchain | None = None) -> str:
    """Build the wheel of `sdist` into `out`; return its file name."""
    os.umask(0o022)
    os.environ.update(SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH, TZ="UTC")
    time.tzset()
    build_env, sdist, out = (os.path.abspath(path) for path in (build_env, sdist, out))
    sys.path.insert(0, build_env)
    work = tempfile.mkdtemp(prefix="sdist-", dir=os.path.dirname(out))
    log = os.path.join(work, "compiler.log")
    _configure(toolchain, work, log)
    source = extract(sdist, os.path.join(work, "source"))
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
        wheel = str(hooks.build_wheel(out, {}))
    except (Exception, SystemExit) as error:  # the sdist's own build code failed
        _check_compiles(log, toolchain is not None, None)
        raise BuildError(
            f"the backend {backend} failed: {type(error).__name__}: {error}"
        ) from error
    _check_compiles(log, toolchain is not None, wheel)
    return wheel


def _check_compiles(log: str, cross: bool, wheel: str | None) -> None:
    """Raise if the build wanted a compiler it did not have, or left out an extension whose
    compile failed (`wheel` is pure)."""
    entries = []
    if os.path.exists(log):
        with open(log) as file:
            entries = file.read().splitlines()
    if not cross and entries:
        raise NeedsCompiler()
    if cross and entries and wheel is not None and wheel.endswith("-any.whl"):
        tail = "\n".join(json.loads(entries[-1]))
        raise BuildError(
            "compiling its extension failed, and its build left the extension out (a slower"
            f" pure-Python fallback, or a missing feature). The compiler's last lines:\n{tail}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["--compile"]:
        return compile_(arguments[1:])
    parser = argparse.ArgumentParser(prog="build_wheel.py", description=__doc__)
    parser.add_argument("--build-env", required=True)
    parser.add_argument("--sdist", required=True)
    parser.add_argument("--out", required=True)
    cross = parser.add_argument_group("a cross toolchain (all or none)")
    for option in ("--zig-wheel", "--zig-sha256", "--zig-home", "--headers", "--target"):
        cross.add_argument(option)
    args = parser.parse_args(arguments)
    parts = (args.zig_wheel, args.zig_sha256, args.zig_home, args.headers, args.target)
    if any(parts) and not all(parts):
        parser.error("a cross toolchain needs all of its options")
    # what the backend and its compilers print goes to stderr: stdout is the wheel's name
    stdout = os.dup(1)
    os.dup2(2, 1)
    try:
        toolchain = Toolchain(*parts) if all(parts) else None
        wheel = build(args.build_env, args.sdist, args.out, toolchain)
    except NeedsCompiler:
        wheel = NEEDS_COMPILER
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
