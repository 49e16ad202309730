from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from repro_lambda.core.install.pex_args import (
    PIP_VERSION,
    WORKING_DIRECTORY,
    complete_platform_args,
    index_args,
    lock_wheels_args,
    pex3_argv,
    resolve_args,
    venv_flat_args,
)

MIRROR = "https://mirror.example/manylinux/simple/"
WHEELS = "https://files.example/manylinux-wheels/"


def test_index_args_name_exactly_the_repos_and_never_pypi_by_default() -> None:
    assert index_args([MIRROR, "https://pypi.org/simple/"], [WHEELS], ["REPO|/srv/repo"]) == (
        "--no-pypi",
        f"--index={MIRROR}",
        "--index=https://pypi.org/simple/",
        f"--find-links={WHEELS}",
        "--path-mapping=REPO|/srv/repo",
    )
    assert index_args([]) == ("--no-pypi",)


def test_complete_platform_args_pair_the_option_with_each_file() -> None:
    assert complete_platform_args(["a.json", "b.json"]) == (
        "--complete-platform",
        "a.json",
        "--complete-platform",
        "b.json",
    )


def test_a_lock_is_strict_wheels_only_and_resolves_with_pip_2020() -> None:
    args = lock_wheels_args(
        "lock.json",
        ["p.json"],
        ["six==1.16.0"],
        repos=index_args([MIRROR]),
        constraints="c.txt",
    )
    assert args == (
        "--output=lock.json",
        "--style=strict",
        "--no-build",
        "--resolver-version=pip-2020-resolver",
        "--constraints=c.txt",
        "--no-pypi",
        f"--index={MIRROR}",
        "--complete-platform",
        "p.json",
        "six==1.16.0",
    )


def test_an_intransitive_lock_keeps_pips_default_resolver() -> None:
    args = lock_wheels_args("l.json", ["p.json"], ["a==1"], repos=(), intransitive=True)
    assert args[:4] == ("--output=l.json", "--style=strict", "--no-build", "--intransitive")
    assert not any(arg.startswith(("--resolver-version", "--constraints")) for arg in args)


def test_a_venv_is_flat_and_never_builds() -> None:
    assert venv_flat_args(
        "site-packages", "lock.json", ["six"], complete_platforms=["p.json"], options=["--x"]
    ) == (
        "--dest-dir=site-packages",
        "--layout=flat",
        "--lock=lock.json",
        "--no-build",
        "--x",
        "--complete-platform",
        "p.json",
        "six",
    )


def test_resolve_args_default_to_the_pinned_pip() -> None:
    assert resolve_args() == (f"--pip-version={PIP_VERSION}",)
    assert resolve_args("24.0", "ca.pem") == ("--pip-version=24.0", "--cert", "ca.pem")


def test_pex3_argv_runs_the_cli_from_the_given_directory(tmp_path: Path) -> None:
    """The runner code imports `pex.cli.pex` from the directory after it and hands the rest on."""
    cli = tmp_path / "pexdir" / "pex" / "cli"
    cli.mkdir(parents=True)
    for package in (cli.parent, cli):
        (package / "__init__.py").write_text("")
    (cli / "pex.py").write_text(
        "import sys\ndef main():\n    print(repr(sys.argv))\n    return 3\n"
    )
    mapping = f"--path-mapping=W|{WORKING_DIRECTORY}/wheels|built"
    argv = pex3_argv(
        sys.executable, "pexdir", ("venv", "create"), (mapping,), tmpdir="t", resolve=("--r",)
    )
    run = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 3, run.stderr
    # the working directory is put in where pex needs an absolute path
    absolute = f"--path-mapping=W|{tmp_path}/wheels|built"
    assert run.stdout.strip() == repr(["pex3", "venv", "create", "--tmpdir", "t", "--r", absolute])


def test_a_lock_of_some_projects_wheels_only_may_lock_other_sdists() -> None:
    args = lock_wheels_args("l.json", ["p.json"], ["docopt"], repos=(), only_binary=["numpy", "*"])
    assert "--no-build" in args and not any(a.startswith("--only-binary") for a in args)
    args = lock_wheels_args("l.json", ["p.json"], ["docopt"], repos=(), only_binary=["numpy"])
    assert "--no-build" not in args and "--only-binary=numpy" in args
    assert "--no-build" not in lock_wheels_args("l.json", [], ["docopt"], repos=(), only_binary=())
