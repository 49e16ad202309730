"""Checks that the core imports nothing from Pants, and from third parties only `deflate`, boto3 and
botocore; and `packaging` where only the plugin imports the module (Pants ships it).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

CORE_DIR = Path(__file__).parent
CORE_MODULES = sorted(CORE_DIR.rglob("*.py"))
IDS = [path.relative_to(CORE_DIR).as_posix() for path in CORE_MODULES]
ALLOWED_THIRD_PARTY = {"deflate", "repro_lambda", "boto3", "botocore"}
ALLOWED_IN_TESTS = {"pytest", "hypothesis", "moto", "fake_s3", "fake_releases"}
PLUGIN_ONLY = {"install/build_systems.py": {"packaging"}}
"""Modules no tool process or layer builder imports, with what else they may import."""


def imported_top_level_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_scans_every_core_module() -> None:
    assert {"contract.py", "pack/packer.py", "publish/publisher.py", "sources/tool.py"} <= set(IDS)


@pytest.mark.parametrize("path", CORE_MODULES, ids=IDS)
def test_core_module_does_not_import_pants(path: Path) -> None:
    assert "pants" not in imported_top_level_names(path)


@pytest.mark.parametrize("path", CORE_MODULES, ids=IDS)
def test_core_module_imports_only_stdlib_and_deflate(path: Path) -> None:
    allowed = sys.stdlib_module_names | ALLOWED_THIRD_PARTY
    allowed |= PLUGIN_ONLY.get(path.relative_to(CORE_DIR).as_posix(), set())
    if path.name.endswith("_test.py") or path.name in ("conftest.py", "testutil.py"):
        allowed |= ALLOWED_IN_TESTS
    assert imported_top_level_names(path) <= allowed


RUNTIME_SCRIPTS = sorted(
    path for path in CORE_DIR.glob("runtime_scripts/*.py") if not path.name.endswith("_test.py")
)


@pytest.mark.parametrize("path", RUNTIME_SCRIPTS, ids=[path.name for path in RUNTIME_SCRIPTS])
def test_runtime_scripts_import_only_the_standard_library(path: Path) -> None:
    """The runtime's own Python runs them alone, from a file: they can import nothing else."""
    assert imported_top_level_names(path) <= sys.stdlib_module_names | {"__future__"}
