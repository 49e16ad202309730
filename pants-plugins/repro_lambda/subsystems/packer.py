"""The packer tool (and the source tool, from the same install): the plugin's pure core run with
pinned libdeflate."""

from __future__ import annotations

from dataclasses import dataclass

from pants.backend.python.subsystems.python_tool_base import (
    LockfileRules,
    PythonToolRequirementsBase,
)
from pants.core.subsystems.python_bootstrap import PythonBootstrap
from pants.engine.rules import collect_rules, rule
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


@rule(desc="Setting up the Lambda packer", level=LogLevel.DEBUG)
async def setup_packer(packer: LambdaPacker, bootstrap: PythonBootstrap) -> PackerTool:
    return PackerTool(await build_lambda_tool(packer, "repro_lambda.core.pack.batch", bootstrap))


@dataclass(frozen=True)
class SourceTool:
    """The tool that fetches and stages external sources: the packer's install, with the core's
    sources modules."""

    tool: LambdaTool


@rule(desc="Setting up the Lambda source tool", level=LogLevel.DEBUG)
async def setup_source_tool(packer: LambdaPacker, bootstrap: PythonBootstrap) -> SourceTool:
    return SourceTool(await build_lambda_tool(packer, "repro_lambda.core.sources.tool", bootstrap))


def rules():
    return collect_rules()
