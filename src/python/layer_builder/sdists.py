"""Building the sdists a layer's lock pins, as `pants package` does: each downloaded by the lock's
sha256, built by an interpreter of the runtime's Python version with the plugin's wheel builder in
the plugin's pinned build environment, and installed from the lock pinned to the built wheels. An
sdist with extensions is built again for each architecture with the plugin's pinned Zig and Python
headers (`core/install/cross_pins.py`), downloaded once into the service's cache and checked
against their sha256. The same sdist, builder, environment, toolchain and Python version give the
same wheel, so the same layer bytes.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import platform
import shutil
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Tuple

from repro_lambda.core.contract import Architecture, UserError, platform_name
from repro_lambda.core.install.cross_pins import PYPI_FILES, PYTHON_HEADERS, ZIG_WHEELS, zig_target
from repro_lambda.core.install.extension_audit import audit_wheel
from repro_lambda.core.install.pex_args import (
    DOWNLOAD,
    VENV_CREATE,
    complete_platform_args,
    venv_flat_args,
)
from repro_lambda.core.install.python_headers import include_directory, parse_pins
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
from repro_lambda.core.runtimes import BY_NAME, PYTHON_RUNTIMES

RunPex = Callable[[Tuple[str, ...], Iterable[str], Callable[[str], str]], None]
"""Runs `pex3 command options` in the build's HOME; on failure raises with `failure(stderr)`."""
_BUILD_TIMEOUT_SECONDS = 600
_DOWNLOAD_TIMEOUT_SECONDS = 300
_ERROR_TAIL_LINES = 15


class SdistFailed(Exception):
    """An sdist cannot be downloaded or built; the message says which and why."""


@dataclass(frozen=True)
class WheelsFromSdists:
    """The lock with its sdists pinned to the wheels built from them, and the option that maps
    those wheels' directory for pex."""

    lock: Path
    options: tuple[str, ...]


@dataclass(frozen=True)
class CrossDownloads:
    """Where the service keeps Zig and the Python headers once downloaded, and the CA bundle it
    downloads them with (no credentials go to those hosts)."""

    cache: Path
    cert: str | None = None


def build_sdists(
    run_pex: RunPex,
    workdir: Path,
    runtime: str,
    platforms: dict[str, Path],
    lock: Path,
    cross: CrossDownloads,
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
    built: dict[str, dict[str, tuple[str, str]]] = {tag: {} for tag in tags}
    for sdist in sdists:
        pure = _build(python, build_env, downloads[sdist.pin], built_dir, sdist, runtime)
        for tag in sdist.platform_tags:
            architecture, path = tags[tag]
            where = platform_name(runtime, architecture)
            wheel = pure or _build(
                python,
                build_env,
                downloads[sdist.pin],
                built_dir,
                sdist,
                runtime,
                _toolchain(workdir, cross, runtime, Architecture(architecture)),
            )
            assert wheel is not None, "a cross build never asks for a compiler"
            if not wheel_fits(wheel.name, json.loads(path.read_bytes())["compatible_tags"]):
                raise SdistFailed(unfit_wheel_message(sdist.pin, wheel.name, where))
            data = wheel.read_bytes()
            problems = audit_wheel(data, Architecture(architecture), BY_NAME[runtime].os.glibc)
            if problems:
                raise SdistFailed(
                    f"Building `{sdist.pin}` for {where} gave {wheel.name}, which would not run"
                    " there: " + "; ".join(problems)
                )
            built[tag][sdist.pin] = (wheel.name, hashlib.sha256(data).hexdigest())
    for tag in tags:
        locked = with_built_wheels(locked, tag, built[tag])
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


def _toolchain(
    workdir: Path, cross: CrossDownloads, runtime: str, architecture: Architecture
) -> list[str]:
    """The builder's options of a cross build for the runtime × architecture: the plugin's pinned
    Zig for this machine, and the runtime's Python headers for the architecture."""
    host = "linux_arm64" if platform.machine() == "aarch64" else "linux_x86_64"
    path, zig_sha256, zig_size = ZIG_WHEELS[host]
    zig = fetch_pinned(f"{PYPI_FILES}/{path}.whl", zig_sha256, zig_size, cross)
    pin = parse_pins(PYTHON_HEADERS, PYTHON_RUNTIMES).get((runtime, architecture.value))
    where = platform_name(runtime, architecture)
    if pin is None:
        raise SdistFailed(
            f"Building extensions for {where} needs that Python's headers, which this service"
            " does not have: build the layer with `pants package` and an entry for it in"
            " `[lambda-sdist-build].python_headers`."
        )
    headers = workdir / f"headers-{where}"
    if not headers.is_dir():
        version = BY_NAME[runtime].python_version
        assert version is not None
        archive = fetch_pinned(pin.url, pin.sha256, pin.size, cross)
        try:
            files = include_directory(archive.read_bytes(), pin.url, version, architecture)
        except UserError as error:
            raise SdistFailed(f"The Python headers of {where}: {error}") from None
        for name, data in files.items():
            (headers / name).parent.mkdir(parents=True, exist_ok=True)
            (headers / name).write_bytes(data)
    return [
        f"--zig-wheel={zig}",
        f"--zig-sha256={zig_sha256}",
        f"--zig-home={cross.cache / 'zig'}",
        f"--headers={headers}",
        f"--target={zig_target(runtime, architecture)}",
    ]


def fetch_pinned(url: str, sha256: str, size: int, cross: CrossDownloads) -> Path:
    """The file at `url`, downloaded once into the cache (under its sha256, by its name), of
    exactly that sha256 and size, checked each time it is used."""
    path = cross.cache / "downloads" / sha256 / url.rsplit("/", 1)[-1]
    if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256:
        return path
    context = ssl.create_default_context(cafile=cross.cert)
    try:
        with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_SECONDS, context=context) as r:
            data = r.read(size + 1)
    except (urllib.error.URLError, OSError) as error:
        raise SdistFailed(f"Downloading {url} failed: {error}") from None
    if len(data) != size or hashlib.sha256(data).hexdigest() != sha256:
        raise SdistFailed(f"The download of {url} is not the pinned file (sha256 {sha256}).")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as partial:
        partial.write(data)
    os.replace(partial.name, path)
    return path


def _build(
    python: str,
    build_env: Path,
    sdist: Path,
    out: Path,
    locked: LockedSdist,
    runtime: str,
    toolchain: Iterable[str] = (),
) -> Path | None:
    """The wheel built from `sdist` (with a cross toolchain, given its options), or None if the
    build needs a compiler and has none."""
    try:
        result = subprocess.run(
            [python, "-I", "-S", "-B", build_wheel.__file__, f"--build-env={build_env}"]
            + [f"--sdist={sdist}", f"--out={out}", *toolchain],
            env={"PATH": "", "TZ": "UTC", "LC_ALL": "C.UTF-8"},
            cwd=out.parent,
            capture_output=True,
            text=True,
            timeout=_BUILD_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise SdistFailed(f"Building `{locked.pin}` from its sdist took over 600 s") from None
    if result.returncode == 0 and result.stdout.strip() == build_wheel.NEEDS_COMPILER:
        return None
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-_ERROR_TAIL_LINES:])
        missing = missing_from_build(result.stderr)
        cause = f": it needs {missing}. Use {SYSTEM_LIBRARY_FIX}" if missing else ""
        raise SdistFailed(
            f"Cannot build `{locked.pin}` from its sdist for {runtime}{cause}. Its last lines:"
            f"\n{tail}"
        )
    return out / result.stdout.strip()
