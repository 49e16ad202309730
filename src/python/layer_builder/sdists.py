"""Building the sdists a layer's lock pins, as `pants package` does: each downloaded by the lock's
sha256, built by an interpreter of the runtime's Python version with the plugin's wheel builder in
the plugin's pinned build environment, and installed from the lock pinned to the built wheels. The
same sdist, builder, environment and Python version give the same wheel, so the same layer bytes.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import platform
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Tuple

from repro_lambda.core.contract import Architecture, platform_name
from repro_lambda.core.install.pex_args import (
    DOWNLOAD,
    VENV_CREATE,
    complete_platform_args,
    venv_flat_args,
)
from repro_lambda.core.install.sdists import (
    BUILT_WHEELS,
    SYSTEM_LIBRARY_FIX,
    LockedSdist,
    locked_sdists,
    missing_from_build,
    unfit_wheel_message,
    wheel_fits,
    with_built_wheels,
)
from repro_lambda.core.runtime_scripts import build_wheel
from repro_lambda.core.runtimes import BY_NAME

RunPex = Callable[[Tuple[str, ...], Iterable[str], Callable[[str], str]], None]
"""Runs `pex3 command options` in the build's HOME; on failure raises with `failure(stderr)`."""
_BUILD_TIMEOUT_SECONDS = 600
_ERROR_TAIL_LINES = 15


class SdistFailed(Exception):
    """An sdist cannot be downloaded or built; the message says which and why."""


@dataclass(frozen=True)
class WheelsFromSdists:
    """The lock with its sdists pinned to the wheels built from them, and the option that maps
    those wheels' directory for pex."""

    lock: Path
    options: tuple[str, ...]


def build_sdists(
    run_pex: RunPex, workdir: Path, runtime: str, platforms: dict[str, Path], lock: Path
) -> WheelsFromSdists:
    """Build every sdist `lock` pins for `platforms` (architecture -> complete platform file)."""
    locked = json.loads(lock.read_bytes())
    sdists = locked_sdists(locked)
    if not sdists:
        return WheelsFromSdists(lock, ())
    python = _runtime_python(runtime)
    tags = {_first_tag(path): (architecture, path) for architecture, path in platforms.items()}
    downloads = _download(run_pex, workdir / "sdists", lock, sdists, tags)
    build_env = _build_environment(run_pex, workdir, runtime)
    built_dir = workdir / "built-wheels"
    built = {}
    for sdist in sdists:
        wheel = _build(python, build_env, downloads[sdist.pin], built_dir, sdist, runtime)
        for tag in sdist.platform_tags:
            architecture, path = tags[tag]
            if not wheel_fits(wheel.name, json.loads(path.read_bytes())["compatible_tags"]):
                platform = platform_name(runtime, architecture)
                raise SdistFailed(unfit_wheel_message(sdist.pin, wheel.name, platform))
        built[sdist.pin] = (wheel.name, hashlib.sha256(wheel.read_bytes()).hexdigest())
    for tag in tags:
        locked = with_built_wheels(locked, tag, built)
    derived = workdir / "lock-with-built-wheels.json"
    derived.write_text(json.dumps(locked))
    mapping = f"--path-mapping={BUILT_WHEELS}|{built_dir}|wheels built from sdists"
    return WheelsFromSdists(derived, (mapping,))


def _first_tag(platform_file: Path) -> str:
    tag: str = json.loads(platform_file.read_bytes())["compatible_tags"][0]
    return tag


def _runtime_python(runtime: str) -> str:
    """An interpreter of exactly the runtime's Python version: on PATH, else in pyenv's versions;
    the interpreter itself, not a shim that needs PATH."""
    version = BY_NAME[runtime].python_version
    assert version is not None
    name = f"python{version[0]}.{version[1]}"
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = [shutil.which(name), *sorted(glob.glob(f"{pyenv}/versions/*/bin/{name}"))]
    check = f"import sys; assert sys.version_info[:2] == {version[:2]}; print(sys.executable)"
    for candidate in filter(None, candidates):
        result = subprocess.run([candidate, "-c", check], capture_output=True, text=True)
        if result.returncode == 0:
            return result.stdout.strip()
    raise SdistFailed(
        f"Building an sdist for {runtime} needs {name}, which this service does not have: pin a"
        " version that publishes a wheel, or build the layer with `pants package`."
    )


def _download(
    run_pex: RunPex,
    directory: Path,
    lock: Path,
    sdists: list[LockedSdist],
    tags: dict[str, tuple[str, Path]],
) -> dict[str, Path]:
    """Each sdist, downloaded once, for the first platform that installs it, and checked against
    its sha256."""
    by_platform: dict[str, list[str]] = {}
    for sdist in sdists:
        by_platform.setdefault(sdist.platform_tags[0], []).append(sdist.pin)
    for tag, pins in sorted(by_platform.items()):
        options = [f"--lock={lock}", f"--dest-dir={directory}", "--no-transitive"]
        options += [*complete_platform_args([str(tags[tag][1])]), *pins]
        message = f"Downloading {', '.join(pins)} failed"
        run_pex(DOWNLOAD, options, lambda stderr: message)
    files = {}
    for sdist in sdists:
        path = directory / sdist.filename
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != sdist.sha256:
            raise SdistFailed(f"The download of `{sdist.pin}` is not the sdist the lock pins.")
        files[sdist.pin] = path
    return files


def _build_environment(run_pex: RunPex, workdir: Path, runtime: str) -> Path:
    """The plugin's `[lambda-sdist-build]` lock, installed flat for the runtime on this machine's
    architecture."""
    text = resources.files("repro_lambda.subsystems").joinpath("sdist_build.lock").read_text()
    header = [line[3:] for line in text.splitlines() if line.startswith("// ")]
    start, end = header.index("--- BEGIN PANTS LOCKFILE METADATA: DO NOT EDIT OR REMOVE ---"), -1
    metadata = json.loads("\n".join(header[start + 1 : end]))
    lock = workdir / "sdist-build.lock"
    lock.write_text("\n".join(line for line in text.splitlines() if not line.startswith("//")))
    architecture = Architecture.ARM64 if platform.machine() == "aarch64" else Architecture.X86_64
    name = f"{platform_name(runtime, architecture)}.json"
    host_platform = workdir / "platforms" / f"host-{name}"
    host_platform.parent.mkdir(parents=True, exist_ok=True)
    host_platform.write_bytes(resources.files("repro_lambda.platforms").joinpath(name).read_bytes())
    build_env = workdir / "sdist-build-env"
    options = venv_flat_args(
        str(build_env),
        str(lock),
        metadata["generated_with_requirements"],
        complete_platforms=[str(host_platform)],
    )
    run_pex(VENV_CREATE, options, lambda stderr: "Installing the sdists' build environment failed")
    return build_env


def _build(
    python: str, build_env: Path, sdist: Path, out: Path, locked: LockedSdist, runtime: str
) -> Path:
    try:
        result = subprocess.run(
            [python, "-I", "-S", "-B", build_wheel.__file__, f"--build-env={build_env}"]
            + [f"--sdist={sdist}", f"--out={out}"],
            env={"PATH": "", "TZ": "UTC", "LC_ALL": "C.UTF-8"},
            cwd=out.parent,
            capture_output=True,
            text=True,
            timeout=_BUILD_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise SdistFailed(f"Building `{locked.pin}` from its sdist took over 600 s") from None
    if result.returncode == 0 and result.stdout.strip() == build_wheel.NEEDS_COMPILER:
        raise SdistFailed(
            f"`{locked.pin}` compiles extensions from its sdist, which this service does not do:"
            " build the layer with `pants package`, which cross-compiles them, or pin a version"
            " that publishes a wheel."
        )
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-_ERROR_TAIL_LINES:])
        missing = missing_from_build(result.stderr)
        cause = f": it needs {missing}. Use {SYSTEM_LIBRARY_FIX}" if missing else ""
        raise SdistFailed(
            f"Cannot build `{locked.pin}` from its sdist for {runtime}{cause}. Its last lines:"
            f"\n{tail}"
        )
    return out / result.stdout.strip()
