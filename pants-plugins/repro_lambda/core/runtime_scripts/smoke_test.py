"""The smoke import, run by real interpreters of each Python version the host has."""

from __future__ import annotations

import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from repro_lambda.core import contract
from repro_lambda.core.runtime_scripts import smoke
from repro_lambda.core.testutil import find_python

SMOKE = Path(smoke.__file__)
HANDLER = b"import json\nfrom lib import config\ndef handler(event, context):\n    return 1\n"


def make_zip(path: Path, files: dict[str, bytes], *, link: str | None = None) -> str:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        if link:
            info = zipfile.ZipInfo(link)
            info.external_attr = 0o120777 << 16
            archive.writestr(info, "/etc/passwd")
    return str(path)


def run(
    tmp_path: Path,
    function: dict[str, bytes],
    *layers: dict[str, bytes],
    handler: str = "app.handler",
    version: str = "3.12",
    max_bytes: int = 10_000,
) -> subprocess.CompletedProcess[str]:
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} on PATH or in pyenv")
    args = ["--function", make_zip(tmp_path / "fn.zip", function)]
    for index, layer in enumerate(layers):
        args += ["--layer", make_zip(tmp_path / f"layer{index}.zip", layer)]
    return subprocess.run(
        [python, "-I", "-S", "-B", str(SMOKE), "--handler", handler, *args]
        + ["--max-unzipped-bytes", str(max_bytes)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=dict[str, str](),
    )


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    return line


@pytest.mark.parametrize("version", ["3.9", "3.10", "3.11", "3.12", "3.13"])
def test_imports_from_the_function_and_its_layers(tmp_path: Path, version: str) -> None:
    function = {"app.py": HANDLER}
    layer = {f"python/lib/python{version}/site-packages/lib/config.py": b"TABLE = 1\n"}
    assert run(tmp_path, function, layer, version=version).returncode == 0


def test_layers_under_python_are_on_the_path_too(tmp_path: Path) -> None:
    assert run(tmp_path, {"app.py": HANDLER}, {"python/lib/config.py": b""}).returncode == 0


def test_a_missing_module_names_the_module_the_version_and_the_file(tmp_path: Path) -> None:
    assert re.fullmatch(
        r"error: importing `app` on Python 3\.12\.\d+ raised ModuleNotFoundError: No module named"
        r" 'lib' \(at app\.py:2\)",
        error_line(run(tmp_path, {"app.py": HANDLER})),
    )


def test_an_exception_at_import_names_the_innermost_file_and_line(tmp_path: Path) -> None:
    function = {
        "app.py": HANDLER,
        "lib/__init__.py": b"",
        "lib/config.py": b"import os\nos.environ['TABLE']\n",
    }
    line = error_line(run(tmp_path, function))
    assert line.endswith(" raised KeyError: 'TABLE' (at lib/config.py:2)")


def test_the_host_has_nothing_to_offer(tmp_path: Path) -> None:
    """Only the standard library: not the host's site-packages (pytest is installed here)."""
    line = error_line(run(tmp_path, {"app.py": b"import pytest\ndef handler(e, c): pass\n"}))
    assert "No module named 'pytest'" in line


def test_a_handler_that_is_not_a_function(tmp_path: Path) -> None:
    line = error_line(run(tmp_path, {"app.py": b"handler = 5\n"}))
    assert line.startswith("error: `app` has no function `handler` once imported on Python 3.12.")


def test_runs_in_the_task_root(tmp_path: Path) -> None:
    source = b"import os\nopen('data.txt')\nassert os.environ['LAMBDA_TASK_ROOT'] == os.getcwd()\n"
    function = {"app.py": source + b"def handler(e, c): pass\n", "data.txt": b""}
    assert run(tmp_path, function).returncode == 0


@pytest.mark.parametrize("name", ["../escape.py", "/abs.py"])
def test_unsafe_names_are_refused(tmp_path: Path, name: str) -> None:
    line = error_line(run(tmp_path, {"app.py": HANDLER, name: b""}))
    assert f"has an unsafe entry {name!r}" in line
    assert not (tmp_path / "escape.py").exists()


def test_links_and_oversized_zips_are_refused(tmp_path: Path) -> None:
    python = find_python("3.12")
    if python is None:
        pytest.skip("no Python 3.12")
    make_zip(tmp_path / "fn.zip", {"app.py": HANDLER}, link="lib")
    args = ["--handler", "app.handler", "--function", "fn.zip", "--max-unzipped-bytes"]
    linked = subprocess.run(
        [python, "-I", "-S", "-B", str(SMOKE), *args, "100"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert "error: fn.zip has a link 'lib'" in linked.stderr
    make_zip(tmp_path / "fn.zip", {"app.py": HANDLER})
    small = subprocess.run(
        [python, "-I", "-S", "-B", str(SMOKE), *args, "10"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert "error: fn.zip unzips to more than its metadata's size" in small.stderr


def test_error_prefix_is_the_contracts() -> None:
    assert smoke.ERROR_PREFIX == contract.ERROR_PREFIX
