"""The built zips run on their runtime and hold exactly what their handlers need."""

from __future__ import annotations

import json
import math
import posixpath
import re
import shutil
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest

from e2e.arm64_python import QEMU, arm64_python
from e2e.checkout import Build
from repro_lambda.core.contract import Architecture
from repro_lambda.core.install.extension_audit import audit, read_elf
from repro_lambda.core.runtimes import BY_NAME
from repro_lambda.core.testutil import find_python

GREETER_ZIP = "src.python.greeter/greeter.zip"
GREETER_FILES = {
    "greeter/__init__.py",
    "greeter/handler.py",
    "greeter/templates/greeting.txt",
    "shared/__init__.py",
    "shared/responses.py",
}
STATS_ZIPS_BY_E_MACHINE = {
    "src.python.stats/stats@architecture=arm64.zip": 183,  # EM_AARCH64
    "src.python.stats/stats@architecture=x86_64.zip": 62,  # EM_X86_64
}
_SHARED_LIBRARY_RE = re.compile(r"\.so(\.\d+)*$")

# Run in the unzipped dir with -S -E -B: sys.path is that dir and the stdlib only, as on Lambda.
_INVOKE_GREETER = """
import json, os, sys
import greeter.handler
assert os.path.dirname(os.path.dirname(greeter.handler.__file__)) == os.getcwd(), sys.path
print(json.dumps(greeter.handler.lambda_handler({"name": "Ada"}, None)))
"""


def run_in(task_root: Path, *command: str) -> object:
    """Run `command` in the unzipped artifact; return what it prints, parsed as JSON."""
    result = subprocess.run(command, cwd=task_root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def run_python_in(task_root: Path, python: str | list[str], code: str) -> object:
    """Run `code` with `python` (a path, or a command) as Lambda would import from the task root:
    `-S -E -B`, so `sys.path` is that directory and the standard library only."""
    command = [python] if isinstance(python, str) else python
    return run_in(task_root, *command, "-S", "-E", "-B", "-c", code)


def file_names(zip_path: Path) -> set[str]:
    with zipfile.ZipFile(zip_path) as archive:
        return {name for name in archive.namelist() if not name.endswith("/")}


def elf_machines(zip_path: Path) -> dict[str, int]:
    """The ELF e_machine of every shared library in the zip, by archive path."""
    machines = {}
    with zipfile.ZipFile(zip_path) as archive:
        for name in archive.namelist():
            if _SHARED_LIBRARY_RE.search(name):
                header = archive.open(name).read(20)
                assert header[:4] == b"\x7fELF", f"{name} is not an ELF file"
                machines[name] = int.from_bytes(header[18:20], "little")
    return machines


def test_greeter_handler_runs_on_python311(first_build: Build, tmp_path: Path) -> None:
    python = find_python("3.11")
    if python is None:
        pytest.skip("no Python 3.11 on PATH or in pyenv to run the python3.11 artifact with")
    with zipfile.ZipFile(first_build.dist / GREETER_ZIP) as archive:
        archive.extractall(tmp_path)
    response = run_python_in(tmp_path, python, _INVOKE_GREETER)
    assert isinstance(response, dict)
    assert response["statusCode"] == 200
    assert response["headers"] == {"Content-Type": "application/json"}
    assert json.loads(response["body"]) == {"message": "Hello, Ada!"}


def test_greeter_zip_holds_exactly_its_closure(first_build: Build) -> None:
    assert file_names(first_build.dist / GREETER_ZIP) == GREETER_FILES


def test_no_zip_holds_unused_modules_or_unasked_for_byte_code(first_build: Build) -> None:
    for name, zip_path in first_build.zips().items():
        names = file_names(zip_path)
        assert not {n for n in names if n.startswith("legacy/")}, name
        if name not in STATS_ZIPS_BY_E_MACHINE:  # stats asks for bytecode
            assert not {n for n in names if "__pycache__/" in n or n.endswith(".pyc")}, name


@pytest.mark.parametrize("zip_name", STATS_ZIPS_BY_E_MACHINE)
def test_stats_ships_hash_based_bytecode_of_every_module(first_build: Build, zip_name: str) -> None:
    """Its own modules, numpy's and pydantic's: unchecked-hash `.pyc` files of Python 3.12."""
    names = file_names(first_build.dist / zip_name)
    modules = {n for n in names if n.endswith(".py")}
    bytecode = {n for n in names if n.endswith(".pyc")}
    assert "stats/__pycache__/handler.cpython-312.pyc" in bytecode
    assert "numpy/__pycache__/__init__.cpython-312.pyc" in bytecode
    assert "pydantic/__pycache__/main.cpython-312.pyc" in bytecode
    for pyc in bytecode:
        cache_dir, name = posixpath.split(pyc)
        assert posixpath.basename(cache_dir) == "__pycache__", pyc
        assert name.endswith(".cpython-312.pyc"), pyc
        assert posixpath.join(posixpath.dirname(cache_dir), name.split(".")[0] + ".py") in modules
    with zipfile.ZipFile(first_build.dist / zip_name) as archive:
        flags = {archive.open(pyc).read(8)[4:8] for pyc in bytecode}
    assert flags == {b"\x01\x00\x00\x00"}


def test_stats_handler_runs_from_its_bytecode_on_python312(
    first_build: Build, tmp_path: Path
) -> None:
    python = find_python("3.12")
    if python is None:
        pytest.skip("no Python 3.12 on PATH or in pyenv to run the python3.12 artifact with")
    with zipfile.ZipFile(first_build.dist / "src.python.stats/stats@architecture=x86_64.zip") as zf:
        zf.extractall(tmp_path)
    (tmp_path / "stats" / "handler.py").write_text("raise AssertionError('source was read')\n")
    invoke = (
        "import json, stats.handler as h;"
        " print(json.dumps(h.lambda_handler({'values': [1, 2, 3]}, None)))"
    )
    assert run_python_in(tmp_path, python, invoke) == {
        "mean": 2.0,
        "std": pytest.approx(math.sqrt(2 / 3)),
        "max": 3.0,
    }


@pytest.mark.parametrize(
    "zip_name, e_machine",
    # PyYAML's compiled module, from the arm64 hashed lock of a lambdas.toml lambda
    [*STATS_ZIPS_BY_E_MACHINE.items(), ("inventory.zip", 183)],
)
def test_native_libraries_match_the_architecture(
    first_build: Build, zip_name: str, e_machine: int
) -> None:
    machines = elf_machines(first_build.dist / zip_name)
    assert machines, f"{zip_name} holds no shared library"
    assert {name: m for name, m in machines.items() if m != e_machine} == {}


NODE_ZIPS = {arch: f"src.nodejs.api/api@architecture={arch}.zip" for arch in ("x86_64", "arm64")}
ESBUILD_CPU = {"x86_64": "x64", "arm64": "arm64"}
# Required from the unzipped dir, as Lambda's runtime does, and called with an event.
_INVOKE_API = (
    'require("./index").handler({milliseconds: 90000}).then((r) => console.log(JSON.stringify(r)))'
)


def test_node_handler_runs(first_build: Build, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("no node on PATH to run the nodejs22.x artifact with")
    with zipfile.ZipFile(first_build.dist / NODE_ZIPS["x86_64"]) as archive:
        archive.extractall(tmp_path)
    response = run_in(tmp_path, node, "-e", _INVOKE_API)
    assert isinstance(response, dict)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {
        "duration": "2 minutes",
        "esbuild": "0.25.4",
        "binary": "@esbuild/linux-x64",
    }


@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
def test_node_zip_has_production_dependencies_for_its_architecture(
    first_build: Build, architecture: str
) -> None:
    names = file_names(first_build.dist / NODE_ZIPS[architecture])
    binary = f"node_modules/@esbuild/linux-{ESBUILD_CPU[architecture]}/bin/esbuild"
    assert binary in names
    with zipfile.ZipFile(first_build.dist / NODE_ZIPS[architecture]) as archive:
        header = archive.open(binary).read(20)
    assert int.from_bytes(header[18:20], "little") == {"x86_64": 62, "arm64": 183}[architecture]
    platform_packages = {n.split("/")[2] for n in names if n.startswith("node_modules/@esbuild/")}
    assert platform_packages == {f"linux-{ESBUILD_CPU[architecture]}"}
    assert (
        "node_modules/ms/index.js" in names and "index.js" in names and "lib/platform.js" in names
    )
    assert not {
        n for n in names if n.startswith(("node_modules/is-number/", "test/", "node_modules/.bin/"))
    }
    assert "node_modules/.package-lock.json" not in names


# The lambdas of the root lambdas.toml
_INVOKE_INVENTORY = """
import inventory
print(inventory.lambda_handler({"body": "apples: 3\\npears: 4"}, None)["body"])
"""
_INVOKE_EDGE = (
    'require("./index").handler({Records: [{cf: {response: {status: "200", headers: {}}}}]})'
    ".then((r) => console.log(JSON.stringify(r)))"
)


def test_manifest_lambda_runs_with_its_locked_wheels(first_build: Build, tmp_path: Path) -> None:
    python = find_python("3.13")
    if python is None:
        pytest.skip("no Python 3.13 on PATH or in pyenv to run the python3.13 artifact with")
    with zipfile.ZipFile(first_build.dist / "inventory.zip") as archive:
        archive.extractall(tmp_path)
    # PyYAML's arm64 extension does not load on this machine: it falls back to pure Python
    assert run_python_in(tmp_path, python, _INVOKE_INVENTORY) == 7


def test_manifest_override_patterns_choose_the_files(first_build: Build) -> None:
    assert file_names(first_build.dist / "resizer.zip") == {"resizer/handler.py", "resizer/fit.py"}


def test_manifest_edge_lambda_runs(first_build: Build, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("no node on PATH to run the nodejs22.x artifact with")
    with zipfile.ZipFile(first_build.dist / "edge-headers.zip") as archive:
        archive.extractall(tmp_path)
    response = run_in(tmp_path, node, "-e", _INVOKE_EDGE)
    assert isinstance(response, dict)
    headers = response["headers"]
    assert headers["x-content-type-options"] == [
        {"key": "X-Content-Type-Options", "value": "nosniff"}
    ]


FEEDS_ZIPS = {
    (runtime, architecture): f"src.python.feeds/feeds@architecture={architecture},"
    f"runtime={runtime.replace('.', '_')}.zip"
    for runtime in ("python3.11", "python3.13")
    for architecture in ("x86_64", "arm64")
}
_FEED = (
    '<rss version="2.0"><channel><title>News</title>'
    "<item><title>First</title><link>https://example.com/1</link></item></channel></rss>"
)
_INVOKE_FEEDS = f"""
import json, feeds.handler
event = {{"feed": {_FEED!r}, "options": "--limit=1"}}
print(json.dumps(feeds.handler.lambda_handler(event, None)))
"""


@pytest.mark.parametrize("runtime", ["python3.11", "python3.13"])
@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
def test_feeds_runs_with_the_wheels_built_from_sdists(
    first_build: Build, tmp_path_factory: pytest.TempPathFactory, runtime: str, architecture: str
) -> None:
    """docopt, sgmllib3k and crcmod publish only sdists: sgmllib3k's pure wheel is the same bytes
    for every architecture; crcmod's C extension was cross-compiled for each, passes the audit for
    the runtime's glibc, and computes the feed's CRC-32 in the runtime's Python (arm64 under
    qemu)."""
    version = runtime.removeprefix("python")
    if architecture == "x86_64":
        python = find_python(version)
        command = None if python is None else [python]
    else:
        command = arm64_python(version, tmp_path_factory.mktemp(f"arm64-python{version}"))
    if command is None:
        what = f"Python {version}" if architecture == "x86_64" else QEMU
        pytest.skip(f"no {what} on this machine to run the {runtime}-{architecture} artifact")
    zips = {arch: first_build.dist / FEEDS_ZIPS[runtime, arch] for arch in ("x86_64", "arm64")}
    for path in zips.values():
        assert {"sgmllib.py", "sgmllib3k-1.0.0.dist-info/WHEEL"} <= file_names(path)
    with zipfile.ZipFile(zips["x86_64"]) as x86, zipfile.ZipFile(zips["arm64"]) as arm:
        assert x86.read("sgmllib.py") == arm.read("sgmllib.py")
        assert b"Tag: py3-none-any" in x86.read("sgmllib3k-1.0.0.dist-info/WHEEL")
    machine = "x86_64" if architecture == "x86_64" else "aarch64"
    extension = f"crcmod/_crcfunext.cpython-{version.replace('.', '')}-{machine}-linux-gnu.so"
    with zipfile.ZipFile(zips[architecture]) as artifact:
        facts = read_elf(artifact.read(extension))
        artifact.extractall(task_root := tmp_path_factory.mktemp("task"))
    assert audit(facts, Architecture(architecture), BY_NAME[runtime].os.glibc) == []
    assert run_python_in(task_root, command, _INVOKE_FEEDS) == {
        "title": "News",
        "entries": [{"title": "First", "link": "https://example.com/1"}],
        "crc32": format(zlib.crc32(_FEED.encode()), "08x"),
    }
