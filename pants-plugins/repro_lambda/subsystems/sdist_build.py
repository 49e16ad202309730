"""`[lambda-sdist-build]`: the pinned build environment that builds an sdist's wheel."""

from __future__ import annotations

from pants.backend.python.subsystems.python_tool_base import (
    LockfileRules,
    PythonToolRequirementsBase,
)
from pants.option.option_types import StrListOption
from pants.util.strutil import help_text, softwrap

from repro_lambda.core.install.cross_pins import PYTHON_HEADERS


class LambdaSdistBuild(PythonToolRequirementsBase):
    options_scope = "lambda-sdist-build"
    help = help_text(
        """
        The build environment of the sdists a Lambda platform lock pins: setuptools (the backend
        most sdists name, and PEP 517's default), `wheel`, and `tomli` to read an sdist's
        `pyproject.toml` on a Python without `tomllib`, pinned by sha256 in the lockfile shipped
        with the plugin.

        It is installed flat for the runtime's own Python and is all an sdist's build sees: no
        pip, no index. An sdist whose `[build-system]` needs more (another backend, a plugin)
        fails to build naming it: add it to `requirements` (with `install_from_resolve` or
        `lockfile`) to give every sdist build the same larger environment.

        Extensions (C, C++) are compiled for the runtime's machine and glibc with `[lambda-zig]`
        against the headers of `python_headers`.
        """
    )

    default_version = "setuptools==80.9.0"
    default_extra_requirements = ["wheel==0.45.1", 'tomli==2.2.1; python_version < "3.11"']
    register_interpreter_constraints = True
    # every Lambda Python runtime: the build runs on an interpreter of the runtime's version
    default_interpreter_constraints = ["CPython>=3.9,<3.15"]
    default_lockfile_resource = ("repro_lambda.subsystems", "sdist_build.lock")
    lockfile_rules_type = LockfileRules.SIMPLE

    python_headers = StrListOption(
        default=list(PYTHON_HEADERS),
        help=softwrap(
            """
            The Python headers that sdists' C extensions compile against, one archive per
            runtime × architecture, pinned: `runtime|architecture|url|sha256|size`. An archive is
            a Debian or Ubuntu `libpython3.X-dev` package of the runtime's exact Python minor
            version for that architecture, or a tarball with an `include/python3.X/` directory
            (python-build-standalone's). The defaults are Debian's packages of Python 3.11
            (bookworm) and 3.13 (trixie); add an entry (`+[...]`) for another runtime, or to
            replace one with your mirror's copy. An sdist with extensions fails to build for a
            runtime × architecture with no entry, naming this option.
            """
        ),
        advanced=True,
    )
