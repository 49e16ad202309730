"""Compiling with the runtime's own Python, by real interpreters of the versions the host has."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from repro_lambda.core import contract
from repro_lambda.core.runtime_scripts import runtime_compile
from repro_lambda.core.testutil import find_python, write_files

SCRIPT = Path(runtime_compile.__file__)
FIX = "fix the module, or drop it from the handler's dependencies"
MATCH = "match event:\n    case _:\n        pass\n"
TYPE_PARAMETERS = "def first[T](items: list[T]) -> T:\n    return items[0]\n"


def errors(tmp_path: Path, files: dict[str, str], version: str) -> list[str]:
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} on PATH or in pyenv")
    write_files(tmp_path / "sources", {path: text.encode() for path, text in files.items()})
    result = subprocess.run(
        [python, "-I", "-S", "-B", str(SCRIPT), "sources"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=dict[str, str](),
    )
    lines = result.stderr.splitlines()
    assert result.returncode == (2 if lines else 0), result
    assert all(line.startswith(contract.ERROR_PREFIX) for line in lines), result
    assert not (tmp_path / "sources" / "app" / "__pycache__").exists()
    return [line.removeprefix(contract.ERROR_PREFIX) for line in lines]


@pytest.mark.parametrize(
    "version, failing",
    [("3.9", ["app/route.py:1", "app/types.py:1"]), ("3.11", ["app/types.py:1"]), ("3.12", [])],
)
def test_each_version_compiles_its_own_grammar(
    tmp_path: Path, version: str, failing: list[str]
) -> None:
    files = {
        "app/__init__.py": "",
        "app/route.py": MATCH,
        "app/types.py": TYPE_PARAMETERS,
        "app/notes.txt": "not Python (",
    }
    found = errors(tmp_path, files, version)
    assert [error.split(": ")[0] for error in found] == failing
    assert all(error.endswith(f" (Python {version}, the runtime's): {FIX}") for error in found)


def test_errors_only_the_compiler_finds(tmp_path: Path) -> None:
    """Beyond the parser: `return` outside a function, `nonlocal` at module level."""
    files = {"a/b/c.py": "x = 1\n\nreturn x\n", "a/d.py": "nonlocal y\n", "e.py": "pass\n"}
    assert errors(tmp_path, files, "3.12") == [
        f"a/b/c.py:3: 'return' outside function (Python 3.12, the runtime's): {FIX}",
        f"a/d.py:1: nonlocal declaration not allowed at module level (Python 3.12, the runtime's):"
        f" {FIX}",
    ]


def test_error_prefix_is_the_contracts() -> None:
    assert runtime_compile.ERROR_PREFIX == contract.ERROR_PREFIX
