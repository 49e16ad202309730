"""The worker's build: resolve a request's requirements for each architecture with pex (wheels
within the runtime's manylinux window, else sdists, built as `sdists` says), record the pins, then
install and pack each zip exactly as `lambda_layer` does: the plugin's complete platforms, its pex
and pip, and its packer.

Every pex (and so pip) process runs in the build's own HOME, which is also its working directory:
no file of the service's working directory can stand in for a requirement, and the index's
credentials reach pex and pip only through a netrc file there (never in a URL, argv or the
environment); whatever the build says is scrubbed of them before it is shown.
"""

from __future__ import annotations

import json
import netrc
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import quote, urlsplit

import pex
from layer_builder.build_request import BuildRequest
from layer_builder.sdists import CrossDownloads, SdistFailed, build_sdists
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from repro_lambda.core.contract import (
    LayerLayout,
    PackJob,
    PackSpec,
    Section,
    UserError,
    platform_name,
)
from repro_lambda.core.install.lock_failure import missing_wheel
from repro_lambda.core.install.pex_args import (
    LOCK_CREATE,
    VENV_CREATE,
    index_args,
    lock_wheels_args,
    pex3_argv,
    resolve_args,
    venv_flat_args,
)
from repro_lambda.core.pack.packer import pack
from repro_lambda.core.runtimes import BY_NAME

# The plugin's installs run pex (`[lambda-pex]`, the version pinned in the dev requirements) with
# the same arguments (`pex_args`) and pip; the same pex and pip install the same files.
PYPI = "https://pypi.org/simple/"
_ERROR_TAIL_LINES = 15
_PEX_TIMEOUT_SECONDS = 600
# What pip says when it cannot download from the index at all (then every requirement is missing).
_UNREACHABLE = ("Could not fetch URL", "SSLError", "NewConnectionError", "ProxyError")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/?#]*@")
_SHORTEST_SECRET = 4


class BuildFailed(Exception):
    """The build cannot succeed; the message is shown to the person who asked for it."""


class DeadlineMissed(BuildFailed):
    """The build ran out of its time."""


class InvalidSettings(ValueError):
    """The service is configured in a way it refuses to run with; the message says what to do."""


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` fit to show: the userinfo of every URL in it, and each of `secrets` (plain or
    percent-encoded; those under 4 characters are not taken for secrets), replaced by `***`."""
    text = _USERINFO.sub(r"\1***@", text)
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= _SHORTEST_SECRET:
            text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
    return text


@dataclass(frozen=True)
class Deadline:
    """When a build must be done by (a `time.monotonic()` value), and the seconds it was given."""

    at: float
    seconds: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds, seconds)

    def left(self) -> float:
        return self.at - time.monotonic()

    def missed(self) -> DeadlineMissed:
        return DeadlineMissed(
            f"The build took longer than its {self.seconds:.0f} s: build fewer requirements or "
            "architectures at once (one zip per package takes longest)."
        )


@dataclass(frozen=True)
class PexSettings:
    """Where pex keeps its cache, the index and CA bundle it downloads with, and the netrc file
    with the index's credentials, if it needs any."""

    root: Path
    index_url: str = PYPI
    cert: str | None = None
    netrc: Path | None = None

    def __post_init__(self) -> None:
        if "@" in urlsplit(self.index_url).netloc:
            raise InvalidSettings(
                f"The index URL {scrub(self.index_url)} carries credentials: give it without "
                "them, and the credentials in a netrc file (locally a file given with `--netrc`, "
                "on AWS the secret of `index_credentials_secret_arn`), so that no message, log, "
                "process list or state file shows them."
            )

    def secrets(self) -> list[str]:
        """The logins and passwords of the netrc file: never to be shown."""
        if self.netrc is None:
            return []
        try:
            entries = netrc.netrc(self.netrc).hosts.values()
        except (OSError, netrc.NetrcParseError):
            # The parser's message may quote the file: say only where it is.
            raise BuildFailed(
                f"The service's index credentials ({self.netrc}) cannot be read as a netrc file: "
                "tell its operator."
            ) from None
        return [value for entry in entries for value in entry if value]


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
    return f"{package or 'combined'}-{platform_name(runtime, architecture)}"


def build_layers(
    request: BuildRequest,
    workdir: Path,
    settings: PexSettings,
    deadline: Deadline | None = None,
) -> BuiltLayers:
    """Build `request`'s zips under `workdir/out`, by `deadline` if given; raise BuildFailed, with
    a message scrubbed of the index's credentials, if it cannot be built."""
    secrets = settings.secrets()
    try:
        return _build(request, workdir.resolve(), settings, deadline)
    except BuildFailed as e:
        raise BuildFailed(scrub(str(e), secrets)) from None


def _build(
    request: BuildRequest, workdir: Path, settings: PexSettings, deadline: Deadline | None
) -> BuiltLayers:
    runtime = request.runtime
    platforms = {a: _complete_platform(workdir, runtime, a) for a in request.architectures}
    _make_home(workdir, settings)
    lock = workdir / "lock.json"

    def run_pex(
        command: tuple[str, ...], options: Iterable[str], failure: Callable[[str], str]
    ) -> None:
        _pex(settings, workdir, deadline, command, options, failure=failure)

    def lock_create(only_binary: tuple[str, ...]) -> None:
        options = lock_wheels_args(
            str(lock),
            [str(path) for path in platforms.values()],
            request.requirements,
            repos=index_args([settings.index_url]),
            only_binary=only_binary,
        )
        run_pex(LOCK_CREATE, options, failure=lambda stderr: stderr)

    # Wheels only first: where a platform has no wheel of a version, its sdist instead.
    try:
        lock_create(("*",))
    except DeadlineMissed:
        raise
    except BuildFailed as wheels_only:
        stderr = str(wheels_only)
        no_wheel = _no_wheel(stderr, runtime, platforms)
        if no_wheel is None or any(sign in stderr for sign in _UNREACHABLE):
            raise BuildFailed(
                _lock_failure(stderr, runtime, platforms, settings.index_url)
            ) from None
        try:
            lock_create(())
        except BuildFailed as with_sdists:
            raise BuildFailed(
                f"{no_wheel}: locking it failed. Pin a version that publishes a wheel, or choose"
                f" another Python version or architecture. pip said:\n{_tail(str(with_sdists))}"
            ) from None
    try:
        cross = CrossDownloads(settings.root / "cross", settings.cert)
        with_wheels = build_sdists(run_pex, workdir, runtime, platforms, lock, cross)
    except SdistFailed as e:
        raise BuildFailed(str(e)) from None
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
                deadline,
                VENV_CREATE,
                venv_flat_args(
                    str(site_packages),
                    str(with_wheels.lock),
                    requirements,
                    complete_platforms=[str(platform)],
                    options=with_wheels.options,
                ),
                failure=lambda stderr: f"Installing {stem} failed:\n{_tail(stderr)}",
            )
            zips.append(_pack(workdir / "out", stem, runtime, architecture, site_packages))
    return BuiltLayers(tuple(zips), _pins(lock, runtime, platforms))


def _complete_platform(workdir: Path, runtime: str, architecture: str) -> Path:
    name = f"{platform_name(runtime, architecture)}.json"
    path = workdir / "platforms" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(resources.files("repro_lambda.platforms").joinpath(name).read_bytes())
    return path


def _first_tag(platform: Path) -> str:
    tag: str = json.loads(platform.read_bytes())["compatible_tags"][0]
    return tag


def _make_home(workdir: Path, settings: PexSettings) -> None:
    """The build's HOME and working directory, private, with the index's netrc (0600) in it."""
    home = workdir / "home"
    home.mkdir(mode=0o700, parents=True)
    if settings.netrc is not None:
        fd = os.open(home / ".netrc", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(settings.netrc.read_bytes())


def _pex(
    settings: PexSettings,
    workdir: Path,
    deadline: Deadline | None,
    command: tuple[str, ...],
    options: Iterable[str],
    *,
    failure: Callable[[str], str],
) -> None:
    """Run `pex3 command options` in the build's HOME, reading no pip or pex configuration of the
    host, for at most 600 s and never past `deadline`; on failure raise BuildFailed with
    `failure(stderr)`."""
    timeout = float(_PEX_TIMEOUT_SECONDS)
    if deadline is not None:
        if deadline.left() <= 0:
            raise deadline.missed()
        timeout = min(timeout, deadline.left())
    home = workdir / "home"
    tmp = workdir / "tmp"
    tmp.mkdir(exist_ok=True)
    pex_path = str(Path(pex.__file__).parent.parent)
    # A session of its own, so that a timeout kills pip with pex (pip would hold the pipes open).
    with subprocess.Popen(
        pex3_argv(
            sys.executable,
            pex_path,
            command,
            options,
            tmpdir=str(tmp),
            resolve=resolve_args(cert=settings.cert),
        ),
        env={
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": str(home),
            "PEX_ROOT": str(settings.root),
            "PEX_IGNORE_RCFILES": "true",
            "PIP_CONFIG_FILE": os.devnull,
        },
        cwd=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            _, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            if deadline is not None and deadline.left() <= 0:
                raise deadline.missed()
            raise BuildFailed(f"`pex3 {' '.join(command)}` took over {_PEX_TIMEOUT_SECONDS} s")
    if process.returncode != 0:
        raise BuildFailed(failure(stderr))


def _tail(stderr: str) -> str:
    return "\n".join(stderr.strip().splitlines()[-_ERROR_TAIL_LINES:])


def _no_wheel(stderr: str, runtime: str, platforms: dict[str, Path]) -> str | None:
    """What a failed lock says is missing a wheel, and for which platforms; None if nothing."""
    names = {_first_tag(path): f"{runtime} {a}" for a, path in platforms.items()}
    missing = missing_wheel(stderr, names)
    if missing is None:
        return None
    glibc = ".".join(map(str, BY_NAME[runtime].os.glibc))
    return (
        f"`{missing.requirement}` has no wheel for {missing.platforms} (wheels fit manylinux up to"
        f" glibc {glibc}), and its sdist does not do instead"
    )


def _lock_failure(stderr: str, runtime: str, platforms: dict[str, Path], index_url: str) -> str:
    if any(sign in stderr for sign in _UNREACHABLE):
        return f"Cannot reach the package index {index_url}:\n{_tail(stderr)}"
    return f"Resolving the requirements failed:\n{_tail(stderr)}"


def _pack(out: Path, stem: str, runtime: str, architecture: str, site_packages: Path) -> BuiltZip:
    output = out / f"{stem}.zip"
    try:
        spec = PackSpec(
            stem,
            runtime,
            architecture,
            key_prefix=Section.LAYERS.value,
            site_packages_prefix=LayerLayout.SITE_PACKAGES.directory.format(python=runtime),
        )
        job = PackJob(
            spec, str(output), str(out / f"{stem}.json"), site_packages=(str(site_packages),)
        )
        result = pack(job)
    except UserError as e:
        raise BuildFailed(f"Cannot pack {stem}.zip: {e}")
    metadata = result.metadata
    return BuiltZip(output, architecture, metadata.size, metadata.sha256, result.warnings)


def _pins(lock: Path, runtime: str, platforms: dict[str, Path]) -> dict[str, list[dict[str, str]]]:
    names = {_first_tag(path): platform_name(runtime, a) for a, path in platforms.items()}
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
