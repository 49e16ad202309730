"""The pex command lines of every install and lock for a Lambda platform, the plugin's and the layer
builder's: the same pex and pip, run with the same arguments, install the same files.

Each function returns the arguments of one `pex3` subcommand; `pex3_argv` puts them on the command
line that runs pex's own CLI from its unpacked wheel, reading no configuration of the host.
"""

from __future__ import annotations

from collections.abc import Iterable

PIP_VERSION = "23.1.2"
"""The pip of every install: Pants 2.17's `[python].pip_version` default, which the plugin's
processes take from Pants (so that option still chooses theirs) and the layer builder from here."""

LOCK_CREATE = ("lock", "create")
VENV_CREATE = ("venv", "create")
DOWNLOAD = ("download",)

WORKING_DIRECTORY = "<working-directory>"
"""Stands for the process's working directory in a `pex3_argv` argument, for what pex needs as an
absolute path (a path mapping) in a sandbox whose path is not known in advance (Pants substitutes
its `{chroot}` only where it runs the process itself, not on a remote executor)."""

RUN_PEX3 = (
    "import os, sys; sys.path.insert(0, os.path.abspath(sys.argv.pop(1))); "
    f"sys.argv[1:] = [a.replace({WORKING_DIRECTORY!r}, os.getcwd()) for a in sys.argv[1:]]; "
    "from pex.cli.pex import main; sys.argv[0] = 'pex3'; sys.exit(main())"
)
"""Python code that runs `pex3` from the pex directory given as its first argument."""


def pex3_argv(
    python: str,
    pex_dir: str,
    subcommand: Iterable[str],
    args: Iterable[str],
    *,
    tmpdir: str,
    resolve: Iterable[str] = (),
) -> tuple[str, ...]:
    """Run `pex3 subcommand args` with `python` (isolated: no `PYTHON*` variable, no user site) from
    the pex wheel unpacked in `pex_dir`; `resolve` is `resolve_args()` for a subcommand that
    downloads or installs."""
    return (
        python,
        "-I",
        "-c",
        RUN_PEX3,
        pex_dir,
        *subcommand,
        "--tmpdir",
        tmpdir,
        *resolve,
        *args,
    )


def resolve_args(pip_version: str = PIP_VERSION, cert: str | None = None) -> tuple[str, ...]:
    """The pip to resolve with, and the CA bundle to trust if not the default."""
    return (f"--pip-version={pip_version}", *(("--cert", cert) if cert else ()))


def index_args(
    indexes: Iterable[str], find_links: Iterable[str] = (), path_mappings: Iterable[str] = ()
) -> tuple[str, ...]:
    """Download from exactly these indexes and find-links: PyPI only if it is one of `indexes`."""
    return (
        "--no-pypi",
        *(f"--index={index}" for index in indexes),
        *(f"--find-links={links}" for links in find_links),
        *(f"--path-mapping={mapping}" for mapping in path_mappings),
    )


def complete_platform_args(paths: Iterable[str]) -> tuple[str, ...]:
    """Resolve for each of these complete platform files (as Pants' `CompletePlatforms` says)."""
    return tuple(arg for path in paths for arg in ("--complete-platform", path))


def lock_wheels_args(
    output: str,
    complete_platforms: Iterable[str],
    requirements: Iterable[str],
    *,
    repos: Iterable[str],
    constraints: str | None = None,
    intransitive: bool = False,
    only_binary: Iterable[str] = ("*",),
) -> tuple[str, ...]:
    """`lock create`: a strict lock, one resolve per complete platform, from `repos`
    (`index_args()`), of wheels only for the projects `only_binary` names (all for `*`, the
    default) and else of a wheel or, where the platform has none, the sdist.

    A lock of `requirements` and their dependencies resolves with pip's 2020 resolver (pip 23.1's
    default is the legacy one); an `intransitive` lock of pins resolves nothing, with pip's default.
    """
    return (
        f"--output={output}",
        "--style=strict",
        *only_binary_args(only_binary),
        *(("--intransitive",) if intransitive else ("--resolver-version=pip-2020-resolver",)),
        *((f"--constraints={constraints}",) if constraints else ()),
        *repos,
        *complete_platform_args(complete_platforms),
        *requirements,
    )


def only_binary_args(projects: Iterable[str]) -> tuple[str, ...]:
    """pex's options that lock or install only wheels of these projects (of all for `*`)."""
    projects = tuple(projects)
    if "*" in projects:
        return ("--no-build",)
    return tuple(f"--only-binary={project}" for project in projects)


def venv_flat_args(
    dest_dir: str,
    lock: str,
    requirements: Iterable[str] = (),
    *,
    complete_platforms: Iterable[str] = (),
    options: Iterable[str] = (),
) -> tuple[str, ...]:
    """`venv create`: install `requirements` (all of the lock's if none) from `lock`, flat into
    `dest_dir` (a `site-packages`: no scripts, no byte code), never building a wheel."""
    return (
        f"--dest-dir={dest_dir}",
        "--layout=flat",
        f"--lock={lock}",
        "--no-build",
        *options,
        *complete_platform_args(complete_platforms),
        *requirements,
    )
