"""Copies of this checkout, and real `./pants` runs in them."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

# What the ./pants launcher needs from the caller's environment, and where the caller keeps Pants'
# caches; nothing else leaks in.
_PASSED_ENV_VARS = (
    "HOME",
    "PANTS_CA_CERTS_PATH",
    "PANTS_LOCAL_STORE_DIR",
    "PANTS_NAMED_CACHES_DIR",
    "PATH",
    "PYENV_ROOT",
    "REPRO_LAMBDA_CACHE_DIR",
    "XDG_CACHE_HOME",
)
_OUTPUT_TAIL_LINES = 80
_WROTE_KEY_RE = re.compile(r"Wrote (dist/\S+\.zip)\n\s+Key: (\S+)")


class PantsFailed(Exception):
    """A `./pants` run exited non-zero."""


@dataclass(frozen=True)
class Build:
    """A finished `./pants` run in a checkout copy, and everything it printed."""

    checkout: Path
    output: str
    returncode: int = 0

    @property
    def dist(self) -> Path:
        return self.checkout / "dist"

    def zips(self) -> dict[str, Path]:
        """The built zips by dist-relative path."""
        return {
            path.relative_to(self.dist).as_posix(): path
            for path in sorted(self.dist.rglob("*.zip"))
        }

    def artifact_digests(self) -> dict[str, str]:
        """The sha256 of every artifact zip and metadata JSON in dist/, by dist-relative path (the
        plugin's own wheel and sdist, which `package ::` builds too, are not Lambda artifacts)."""
        return {
            path.relative_to(self.dist).as_posix(): sha256_of(path)
            for path in sorted(self.dist.rglob("*"))
            if path.suffix in (".zip", ".json")
        }

    def printed_keys(self) -> dict[str, str]:
        """The `Key:` line `pants package` printed under each `Wrote dist/....zip` line."""
        return {path.removeprefix("dist/"): key for path, key in _WROTE_KEY_RE.findall(self.output)}


def checkout_files(buildroot: Path) -> list[str]:
    """The files git would commit in `buildroot`: tracked or untracked, not ignored, present."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=buildroot,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return sorted(
        {name for name in listing.split("\0") if name and os.path.lexists(buildroot / name)}
    )


def copy_checkout(buildroot: Path, dest: Path, umask: int) -> None:
    """Copy `buildroot`'s files to `dest` with the modes a git checkout under `umask` gives."""
    for name in checkout_files(buildroot):
        source, target = buildroot / name, dest / name
        _make_dirs(target.parent, umask)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
            continue
        shutil.copyfile(source, target)
        base_mode = 0o777 if source.stat().st_mode & 0o111 else 0o666
        target.chmod(base_mode & ~umask)


def touch_all(root: Path, mtime: float) -> None:
    """Set the access and modification times of every file and directory under `root`."""
    for path in [root, *root.rglob("*")]:
        os.utime(path, (mtime, mtime), follow_symlinks=False)


def run_pants(
    checkout: Path,
    *args: str,
    umask: int,
    tz: str,
    cached: bool = False,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> Build:
    """Run `./pants`; raise PantsFailed on failure if `check`.

    By default without pantsd or the local process cache, so that everything really runs;
    `cached` runs use both, for tests about what happens after packaging.
    """
    argv = ["bash", "-c", 'umask "$1" && shift && exec ./pants "$@"', "bash", f"{umask:04o}"]
    argv += [*([] if cached else ["--no-pantsd", "--no-local-cache"]), *args]
    passed = {name: os.environ[name] for name in _PASSED_ENV_VARS if name in os.environ}
    result = subprocess.run(
        argv,
        cwd=checkout,
        env={**passed, **(env or {}), "TZ": tz},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if check and result.returncode != 0:
        tail = "\n".join(result.stdout.splitlines()[-_OUTPUT_TAIL_LINES:])
        raise PantsFailed(
            f"`./pants {' '.join(args)}` in {checkout} (umask {umask:04o}, TZ={tz}) "
            f"exited {result.returncode}; last {_OUTPUT_TAIL_LINES} lines of output:\n{tail}"
        )
    return Build(checkout, result.stdout, result.returncode)


def stop_pantsd(checkout: Path) -> None:
    """Terminate the pantsd a `cached` run started in `checkout`, if any."""
    for pid_file in checkout.glob(".pids/*/pantsd/pid"):
        try:
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        except (ValueError, ProcessLookupError):
            pass


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _make_dirs(directory: Path, umask: int) -> None:
    if not directory.is_dir():
        _make_dirs(directory.parent, umask)
        directory.mkdir()
        directory.chmod(0o777 & ~umask)
