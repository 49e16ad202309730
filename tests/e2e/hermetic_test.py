"""A cold `./pants package src::` on a hostile host: every example still builds, byte for byte.

Pip's configuration search is pointed at a test directory (site-wide `XDG_CONFIG_DIRS` and the
user's home) holding a constraint file, a bogus index and find-links, and `PIP_*` variables say the
same; Pants passes them all, `HOME` included, to its processes. npm gets a bogus registry in the
user's npmrc. Every cache is empty: the launcher's (so Pants is installed anew), Pants' local store
and named caches, and the home directory, which the build must leave as it found it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e.checkout import Build, copy_checkout, run_pants

UMASK = 0o022
TZ = "UTC"
# Nothing listens on port 9 (discard) of the loopback address: any use of these fails at once.
BOGUS = "http://127.0.0.1:9"
HOSTILE_PIP_CONF = f"""\
[global]
index-url = {BOGUS}/simple
find-links = {BOGUS}/links
constraint = {{constraints}}
retries = 0
timeout = 1
"""
# Versions no lock of the examples holds: honouring them would make every install fail.
HOSTILE_CONSTRAINTS = "numpy==1.21.0\npydantic==1.10.0\ndeflate==0.8.1\nboto3==1.28.0\n"
HOSTILE_ENV_VARS = {
    "PIP_INDEX_URL": f"{BOGUS}/simple",
    "PIP_FIND_LINKS": f"{BOGUS}/links",
    "PIP_NO_BINARY": ":all:",
}


def _home_files(home: Path) -> dict[str, bytes]:
    return {
        path.relative_to(home).as_posix(): path.read_bytes() if path.is_file() else b""
        for path in sorted(home.rglob("*"))
    }


def _pyenv_root() -> str:
    return os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")


@pytest.fixture(scope="module")
def hostile(buildroot: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A hostile configuration directory, home and environment; nothing cached."""
    with tempfile.TemporaryDirectory(
        prefix="repro-lambda-hostile-", ignore_cleanup_errors=True
    ) as tmp:
        root = Path(tmp)
        constraints = root / "constraints.txt"
        constraints.write_text(HOSTILE_CONSTRAINTS)
        pip_conf = HOSTILE_PIP_CONF.format(constraints=constraints)
        home = root / "home"
        for conf in (root / "xdg/pip/pip.conf", home / ".config/pip/pip.conf"):
            conf.parent.mkdir(parents=True)
            conf.write_text(pip_conf)
        (home / ".npmrc").write_text(f"registry={BOGUS}/\n")
        env = {
            **HOSTILE_ENV_VARS,
            "HOME": str(home),
            "XDG_CONFIG_DIRS": str(root / "xdg"),
            "PYENV_ROOT": _pyenv_root(),
            "PANTS_LOCAL_STORE_DIR": str(root / "lmdb_store"),
            "PANTS_NAMED_CACHES_DIR": str(root / "named_caches"),
            "REPRO_LAMBDA_CACHE_DIR": str(root / "launcher"),
        }
        yield root, env


@dataclass(frozen=True)
class HostileBuild:
    build: Build
    home_before: dict[str, bytes]
    """The home directory after ./pants installed Pants, before the build."""


@pytest.fixture(scope="module")
def hostile_build(buildroot: Path, hostile: tuple[Path, dict[str, str]]) -> HostileBuild:
    root, env = hostile
    checkout = root / "repo"
    copy_checkout(buildroot, checkout, umask=UMASK)
    run_pants(checkout, "--version", umask=UMASK, tz=TZ, env=env)
    home_before = _home_files(root / "home")
    # Pants' processes get no HOME by default, and `~` is then the account's home, not this one.
    passed = sorted({"HOME", "XDG_CONFIG_DIRS", *HOSTILE_ENV_VARS})
    build = run_pants(
        checkout,
        f"--subprocess-environment-env-vars=+{passed!r}",
        "package",
        # The examples: the plugin's own wheel is built by Pants' setuptools process, which seeds
        # its venv in the home directory's pex root whatever PEX_ROOT says (Pants 2.17 and pex).
        "src::",
        umask=UMASK,
        tz=TZ,
        env=env,
    )
    return HostileBuild(build, home_before)


def test_pip_would_read_the_hostile_configuration(hostile: tuple[Path, dict[str, str]]) -> None:
    """The control: pip itself, in the same environment, reads the hostile files."""
    root, env = hostile
    pip = shutil.which("pip3") or shutil.which("pip")
    if not pip:
        pytest.skip("no pip on PATH to show what it reads")
    listed = subprocess.run(
        [pip, "config", "debug"],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"{root}/xdg/pip/pip.conf, exists: True" in listed
    assert f"global.index-url: {BOGUS}/simple" in listed
    assert f"PIP_INDEX_URL='{BOGUS}/simple'" in listed


def test_cold_hostile_build_is_byte_identical(
    first_build: Build, hostile_build: HostileBuild
) -> None:
    assert hostile_build.build.artifact_digests() == first_build.artifact_digests()


def test_installing_pants_keeps_no_cache_in_home(hostile_build: HostileBuild) -> None:
    # pip asks `rustc --version` for its user agent, and rustup's proxy for it writes `.rustup/`.
    assert not [
        path for path in hostile_build.home_before if path.startswith((".cache", ".pex", ".npm/"))
    ]


def test_cold_build_leaves_home_untouched(
    hostile: tuple[Path, dict[str, str]], hostile_build: HostileBuild
) -> None:
    root, _ = hostile
    assert _home_files(root / "home") == hostile_build.home_before
