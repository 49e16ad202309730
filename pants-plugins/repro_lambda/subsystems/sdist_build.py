"""`[lambda-sdist-build]`: the pinned build environment that builds an sdist's wheel."""

from __future__ import annotations

from pants.backend.python.subsystems.python_tool_base import (
    LockfileRules,
    PythonToolRequirementsBase,
)
from pants.option.option_types import StrListOption
from pants.util.strutil import help_text, softwrap

_DEBIAN = "https://deb.debian.org/debian/pool/main/p"


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
        default=[
            f"python3.11|x86_64|{_DEBIAN}/python3.11/libpython3.11-dev_3.11.2-6+deb12u8_amd64.deb"
            "|01a8eddeb8505bb6e2c01209cda66b41fb5ebeaa64e69d0e25f7131915f1cd32|4737920",
            f"python3.11|arm64|{_DEBIAN}/python3.11/libpython3.11-dev_3.11.2-6+deb12u8_arm64.deb"
            "|454a191a37dd86674c309691904be69d499f060e643c1f8efc8b82078967cd48|4394264",
            f"python3.13|x86_64|{_DEBIAN}/python3.13/libpython3.13-dev_3.13.5-2+deb13u5_amd64.deb"
            "|4bd7b17ffbeb367ce1fef8b6ff02536a25f29fc07372d1bdd3ed1e1faa5b9409|5285588",
            f"python3.13|arm64|{_DEBIAN}/python3.13/libpython3.13-dev_3.13.5-2+deb13u5_arm64.deb"
            "|cd8e73644d319576d8cf02ab63ccd6b1fb8eb12637b5f59114b520a9b3d4741e|4932808",
        ],
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
