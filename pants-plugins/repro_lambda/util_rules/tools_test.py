"""A tool process gets only the core modules its module imports, so an edit elsewhere in the core
leaves its processes (and so every pack) cached."""

from __future__ import annotations

import importlib.resources
import shutil
from pathlib import Path

import pytest

from repro_lambda.util_rules.tools import core_modules

PACKER = "repro_lambda.core.pack.batch"
PUBLISHER = "repro_lambda.core.publish.publisher"
SOURCE_TOOL = "repro_lambda.core.sources.tool"


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A copy of the plugin's `repro_lambda` package, to edit."""
    copy = tmp_path / "repro_lambda"
    shutil.copytree(Path(str(importlib.resources.files("repro_lambda"))), copy)
    return copy


def directories(modules: dict[str, bytes]) -> set[str]:
    return {path.rsplit("/", 1)[0] for path in modules}


def test_each_tool_ships_the_core_modules_it_imports_and_no_other(package: Path) -> None:
    packer = core_modules(PACKER, package)
    assert {
        "repro_lambda/__init__.py",
        "repro_lambda/core/__init__.py",
        "repro_lambda/core/contract.py",
        "repro_lambda/core/runtimes.py",
        "repro_lambda/core/pack/__init__.py",
        "repro_lambda/core/pack/batch.py",
        "repro_lambda/core/pack/packer.py",
        "repro_lambda/core/pack/zip_writer.py",
        "repro_lambda/core/runtime_scripts/runtime_compile.py",
    } <= set(packer)
    assert "repro_lambda/core/pack/split.py" not in packer  # the plugin's, not the packer's
    assert directories(packer) == {
        "repro_lambda",
        "repro_lambda/core",
        "repro_lambda/core/pack",
        "repro_lambda/core/runtime_scripts",
    }
    assert directories(core_modules(PUBLISHER, package)) == {
        "repro_lambda",
        "repro_lambda/core",
        "repro_lambda/core/publish",
    }
    assert "repro_lambda/core/pack" not in directories(core_modules(SOURCE_TOOL, package))


def test_an_edit_to_the_publisher_leaves_the_packers_sources_as_they_are(package: Path) -> None:
    packer, publisher = core_modules(PACKER, package), core_modules(PUBLISHER, package)
    for module in ("publish/publisher.py", "publish/plan.py", "manifest/parse.py"):
        with (package / "core" / module).open("a") as file:
            file.write("\n# edited\n")
    assert core_modules(PACKER, package) == packer
    assert core_modules(PUBLISHER, package) != publisher

    with (package / "core/pack/tree.py").open("a") as file:
        file.write("\n# edited\n")
    assert core_modules(PACKER, package) != packer
