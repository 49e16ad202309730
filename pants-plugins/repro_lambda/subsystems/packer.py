"""The packer tool: the plugin's pure `repro_lambda.core` run from a PEX with pinned libdeflate."""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass

from pants.backend.python.subsystems.python_tool_base import (
    LockfileRules,
    PythonToolRequirementsBase,
)
from pants.core.subsystems.python_bootstrap import PythonBootstrap
from pants.engine.fs import CreateDigest, Digest, FileContent
from pants.engine.rules import Get, collect_rules, rule
from pants.util.logging import LogLevel
from pants.util.strutil import help_text

from repro_lambda.util_rules.tools import LambdaTool, build_lambda_tool


class LambdaPacker(PythonToolRequirementsBase):
    options_scope = "lambda-packer"
    help = help_text(
        """
        The deterministic zip packer of `lambda_artifact`, `nodejs_lambda_artifact` and
        `lambda_layer` targets.

        It compresses with libdeflate from the pinned PyPI `deflate` package, never with the
        host's zlib, so the bytes of an artifact do not depend on the machine that built it.
        """
    )

    default_version = "deflate==0.9.0"
    register_interpreter_constraints = True
    # deflate 0.9.0 ships cp311-abi3 wheels; the lockfile is made for these versions.
    default_interpreter_constraints = ["CPython>=3.11,<3.13"]
    default_lockfile_resource = ("repro_lambda.subsystems", "packer.lock")
    lockfile_rules_type = LockfileRules.SIMPLE


@dataclass(frozen=True)
class PackerTool:
    tool: LambdaTool


def _is_test_module(name: str) -> bool:
    return name.endswith("_test.py") or name == "conftest.py"


def core_sources() -> list[FileContent]:
    """The `repro_lambda.core` modules, as they ship inside the plugin distribution."""
    core = importlib.resources.files("repro_lambda.core")
    modules = sorted(
        (m for m in core.iterdir() if m.name.endswith(".py") and not _is_test_module(m.name)),
        key=lambda m: m.name,
    )
    return [
        FileContent("repro_lambda/__init__.py", b""),
        *(FileContent(f"repro_lambda/core/{m.name}", m.read_bytes()) for m in modules),
    ]


@rule(desc="Setting up the Lambda packer", level=LogLevel.DEBUG)
async def setup_packer(packer: LambdaPacker, bootstrap: PythonBootstrap) -> PackerTool:
    sources = await Get(Digest, CreateDigest(core_sources()))
    tool = await build_lambda_tool(packer, "repro_lambda.core.pack_batch", sources, bootstrap)
    return PackerTool(tool)


def rules():
    return collect_rules()
