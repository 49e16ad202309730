"""`[lambda-sdist-build]`: the pinned build environment that builds an sdist's wheel."""

from __future__ import annotations

from pants.backend.python.subsystems.python_tool_base import (
    LockfileRules,
    PythonToolRequirementsBase,
)
from pants.util.strutil import help_text


class LambdaSdistBuild(PythonToolRequirementsBase):
    options_scope = "lambda-sdist-build"
    help = help_text(
        """
        The build environment of the sdists a Lambda platform lock pins: the build backend that an
        sdist without a `pyproject.toml` `[build-system]` gets (setuptools' legacy backend), with
        its requirements, pinned by sha256 in the lockfile shipped with the plugin.

        It is installed flat for the runtime's own Python and is all an sdist's build sees: no
        pip, no index.
        """
    )

    default_version = "setuptools==80.9.0"
    register_interpreter_constraints = True
    # every Lambda Python runtime: the build runs on an interpreter of the runtime's version
    default_interpreter_constraints = ["CPython>=3.9,<3.15"]
    default_lockfile_resource = ("repro_lambda.subsystems", "sdist_build.lock")
    lockfile_rules_type = LockfileRules.SIMPLE
