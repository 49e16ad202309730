"""Hash-based bytecode, compiled by real interpreters of each Python version the host has."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from repro_lambda.core import contract
from repro_lambda.core.runtime_scripts import bytecode
from repro_lambda.core.testutil import find_python, write_files

SCRIPT = Path(bytecode.__file__)
VERSIONS = ["3.9", "3.10", "3.11", "3.12", "3.13"]
MODULES = {
    "app/__init__.py": b"",
    "app/handler.py": b"VALUE = 1\nNAMES = {'alpha', 'beta', 'gamma', 'delta'}\n",
    "top.py": b"import app\n",
    "legacy/py2.py": b"print 'only Python 2'\n",
}


def python_or_skip(version: str) -> str:
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} on PATH or in pyenv")
    return python


def compile_bytecode(
    python: str, root: Path, out: Path, invalidation: str = "unchecked-hash", seed: str = "0"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-s", "-S", "-B", str(SCRIPT), f"--invalidation={invalidation}", "--out", str(out)]
        + [str(root)],
        capture_output=True,
        text=True,
        env={"PYTHONHASHSEED": seed} if seed else dict[str, str](),
    )


def tree(directory: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize("version", VERSIONS)
def test_bytecode_is_the_same_wherever_it_is_compiled(tmp_path: Path, version: str) -> None:
    python = python_or_skip(version)
    outputs = []
    for copy in ("one/deeper", "two"):
        root = tmp_path / copy / "src"
        write_files(root, MODULES)
        out = tmp_path / copy / "out"
        assert compile_bytecode(python, root, out).returncode == 0
        outputs.append(tree(out))
    tag = f"cpython-{version.replace('.', '')}"
    assert sorted(outputs[0]) == [
        f"__pycache__/top.{tag}.pyc",
        f"app/__pycache__/__init__.{tag}.pyc",
        f"app/__pycache__/handler.{tag}.pyc",
    ]
    assert outputs[0] == outputs[1]
    assert all(data[4:8] == b"\x01\x00\x00\x00" for data in outputs[0].values())


@pytest.mark.parametrize("invalidation, imported", [("unchecked-hash", 1), ("checked-hash", 2)])
def test_the_interpreter_uses_the_bytecode_as_its_mode_says(
    tmp_path: Path, invalidation: str, imported: int
) -> None:
    """Unchecked bytecode is imported without reading the source; checked bytecode of a changed
    source is not."""
    python = python_or_skip("3.12")
    write_files(tmp_path, MODULES)
    assert compile_bytecode(python, tmp_path, tmp_path, invalidation).returncode == 0
    (tmp_path / "app" / "handler.py").write_bytes(b"VALUE = 2\n")
    result = subprocess.run(
        [
            python,
            "-I",
            "-B",
            "-c",
            "import sys; sys.path[:0] = ['.']; import app.handler as h; print(h.VALUE)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == str(imported), result


def test_refuses_to_compile_with_hash_randomization(tmp_path: Path) -> None:
    python = python_or_skip("3.12")
    write_files(tmp_path / "src", MODULES)
    result = compile_bytecode(python, tmp_path / "src", tmp_path / "out", seed="")
    assert result.returncode == 2
    assert result.stderr == "error: bytecode must be compiled with PYTHONHASHSEED=0\n"
    assert not (tmp_path / "out").exists()


def test_error_prefix_is_the_contracts() -> None:
    assert bytecode.ERROR_PREFIX == contract.ERROR_PREFIX
