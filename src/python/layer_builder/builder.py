"""The worker's build: resolve a request's requirements for each architecture with pex (wheels only,
within the runtime's manylinux window), record the pins, then install and pack each zip exactly as
`lambda_layer` does: the plugin's complete platforms, its pex and pip, and its packer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pex
from layer_builder.build_request import BuildRequest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from repro_lambda.core.contract import LayerLayout, Section, UserError
from repro_lambda.core.lock_failure import missing_wheel
from repro_lambda.core.pack import PackRequest, pack
from repro_lambda.core.runtimes import BY_NAME

# The plugin's installs run pex (`[lambda-pex]`, the version pinned in the dev requirements) with
# the pip of Pants 2.17's `[python].pip_version`; the same pex and pip install the same files.
PIP_VERSION = "23.1.2"
PYPI = "https://pypi.org/simple/"
_RUN_PEX3 = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from pex.cli.pex import main; sys.argv[0] = 'pex3'; sys.exit(main())"
)
_ERROR_TAIL_LINES = 15
_PEX_TIMEOUT_SECONDS = 600
# What pip says when it cannot download from the index at all (then every requirement is missing).
_UNREACHABLE = ("Could not fetch URL", "SSLError", "NewConnectionError", "ProxyError")


class BuildFailed(Exception):
    """The build cannot succeed; the message is shown to the person who asked for it."""


@dataclass(frozen=True)
class PexSettings:
    """Where pex keeps its cache, and the index and CA bundle it downloads with."""

    root: Path
    index_url: str = PYPI
    cert: str | None = None


@dataclass(frozen=True)
class BuiltZip:
    path: Path
    architecture: str
    size: int
    sha256: str
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class BuiltLayers:
    zips: tuple[BuiltZip, ...]
    pins: dict[str, list[dict[str, str]]]
    """Per platform (`python3.13-arm64`): each locked distribution's name, version, wheel and
    sha256."""


def zip_stem(package: str | None, runtime: str, architecture: str) -> str:
    """`combined-python3.13-arm64`, or `numpy-python3.13-arm64` for one package's zip."""
    return f"{package or 'combined'}-{runtime}-{architecture}"


def build_layers(request: BuildRequest, workdir: Path, settings: PexSettings) -> BuiltLayers:
    """Build `request`'s zips under `workdir/out`; raise BuildFailed if it cannot be built."""
    runtime = request.runtime
    platforms = {a: _complete_platform(workdir, runtime, a) for a in request.architectures}
    lock = workdir / "lock.json"
    _pex(
        settings,
        workdir,
        ("lock", "create"),
        f"--output={lock}",
        "--style=strict",
        "--no-build",
        "--resolver-version=pip-2020-resolver",
        "--no-pypi",
        f"--index={settings.index_url}",
        *(f"--complete-platform={path}" for path in platforms.values()),
        *request.requirements,
        failure=lambda stderr: _lock_failure(stderr, runtime, platforms, settings.index_url),
    )
    groups: list[tuple[str | None, tuple[str, ...]]] = [(None, request.requirements)]
    if not request.single_file:
        groups = [(canonicalize_name(Requirement(r).name), (r,)) for r in request.requirements]
    zips = []
    for architecture, platform in platforms.items():
        for package, requirements in groups:
            stem = zip_stem(package, runtime, architecture)
            site_packages = workdir / stem / "site-packages"
            _pex(
                settings,
                workdir,
                ("venv", "create"),
                f"--dest-dir={site_packages}",
                "--layout=flat",
                f"--lock={lock}",
                "--no-build",
                f"--complete-platform={platform}",
                *requirements,
                failure=lambda stderr: f"Installing {stem} failed:\n{_tail(stderr)}",
            )
            zips.append(_pack(workdir / "out", stem, runtime, architecture, site_packages))
    return BuiltLayers(tuple(zips), _pins(lock, runtime, platforms))


def _complete_platform(workdir: Path, runtime: str, architecture: str) -> Path:
    name = f"{runtime}-{architecture}.json"
    path = workdir / "platforms" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(resources.files("repro_lambda.platforms").joinpath(name).read_bytes())
    return path


def _first_tag(platform: Path) -> str:
    return json.loads(platform.read_bytes())["compatible_tags"][0]


def _pex(
    settings: PexSettings,
    workdir: Path,
    command: tuple[str, str],
    *options: str,
    failure: Callable[[str], str],
) -> None:
    """Run `pex3 command options`, reading no pip or pex configuration of the host; on failure
    raise BuildFailed with `failure(stderr)`."""
    tmp = workdir / "tmp"
    tmp.mkdir(exist_ok=True)
    cert = (f"--cert={settings.cert}",) if settings.cert else ()
    pex_path = str(Path(pex.__file__).parent.parent)
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-I",
                "-c",
                _RUN_PEX3,
                pex_path,
                *command,
                f"--tmpdir={tmp}",
                f"--pip-version={PIP_VERSION}",
                *cert,
                *options,
            ],
            env={
                "PATH": os.environ.get("PATH", os.defpath),
                "HOME": str(workdir),
                "PEX_ROOT": str(settings.root),
                "PEX_IGNORE_RCFILES": "true",
                "PIP_CONFIG_FILE": os.devnull,
            },
            capture_output=True,
            text=True,
            timeout=_PEX_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise BuildFailed(f"`pex3 {' '.join(command)}` took over {_PEX_TIMEOUT_SECONDS} s")
    if result.returncode != 0:
        raise BuildFailed(failure(result.stderr))


def _tail(stderr: str) -> str:
    return "\n".join(stderr.strip().splitlines()[-_ERROR_TAIL_LINES:])


def _lock_failure(stderr: str, runtime: str, platforms: dict[str, Path], index_url: str) -> str:
    if any(sign in stderr for sign in _UNREACHABLE):
        return f"Cannot reach the package index {index_url}:\n{_tail(stderr)}"
    names = {_first_tag(path): f"{runtime} {a}" for a, path in platforms.items()}
    missing = missing_wheel(stderr, names)
    if missing is None:
        return f"Resolving the requirements failed:\n{_tail(stderr)}"
    glibc = ".".join(map(str, BY_NAME[runtime].os.glibc))
    return (
        f"`{missing.requirement}` has no wheel for {missing.platforms}: only wheels are built, "
        f"for manylinux up to glibc {glibc}. Pin a version that publishes one, or choose "
        "another Python version or architecture."
    )


def _pack(out: Path, stem: str, runtime: str, architecture: str, site_packages: Path) -> BuiltZip:
    output = out / f"{stem}.zip"
    try:
        result = pack(
            PackRequest(
                output=output,
                metadata=out / f"{stem}.json",
                logical_name=stem,
                runtime=runtime,
                architecture=architecture,
                handler=None,
                site_packages=(site_packages,),
                site_packages_prefix=LayerLayout.SITE_PACKAGES.directory.format(python=runtime),
                key_prefix=Section.LAYERS.value,
            )
        )
    except UserError as e:
        raise BuildFailed(f"Cannot pack {stem}.zip: {e}")
    metadata = result.metadata
    return BuiltZip(output, architecture, metadata["size"], metadata["sha256"], result.warnings)


def _pins(lock: Path, runtime: str, platforms: dict[str, Path]) -> dict[str, list[dict[str, str]]]:
    names = {_first_tag(path): f"{runtime}-{a}" for a, path in platforms.items()}
    pins = {}
    for resolve in json.loads(lock.read_bytes())["locked_resolves"]:
        pins[names["-".join(resolve["platform_tag"])]] = [
            {
                "name": requirement["project_name"],
                "version": requirement["version"],
                "wheel": artifact["url"].rsplit("/", 1)[-1],
                "sha256": artifact["hash"],
            }
            for requirement in resolve["locked_requirements"]
            for artifact in requirement["artifacts"][:1]
        ]
    return dict(sorted(pins.items()))
