"""Pinned external sources: what a source is, what its pin depends on, and the lock that pins it.

Standard library only, Python 3.9: the plugin validates sources and reads and writes the lock
with it, and the source tool fetches and stages them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Mapping, Optional, Tuple
from urllib.parse import SplitResult, urlsplit

from repro_lambda.core.contract import StrChoice, UserError

TOKEN_ENV_VAR = "REPRO_LAMBDA_SOURCES_TOKEN"
"""The environment variable that holds the token for private `github_release` sources."""

LOCK_COMMAND = "pants lambda-lock"


class SourceType(StrChoice):
    HTTPS = "https"
    GITHUB_RELEASE = "github_release"


class Extract(StrChoice):
    ZIP = "zip"
    TAR_GZ = "tar.gz"
    NONE = "none"


@dataclass(frozen=True)
class VersionFrom:
    """Read the version from the `key value` line of `file` in `source`'s staged tree."""

    source: str
    file: str
    key: str


@dataclass(frozen=True)
class SourceSpec:
    """One external source, as its target declares it (templates unrendered)."""

    name: str
    type: SourceType
    extract: Extract
    dest: str
    url: Optional[str] = None
    repo: Optional[str] = None
    tag: Optional[str] = None
    asset: Optional[str] = None
    version: Optional[str] = None
    version_from: Optional[VersionFrom] = None
    member: Optional[str] = None
    executable: bool = False

    def lock_inputs(self) -> Dict[str, object]:
        """What the pin depends on: everything that says what to download, nothing about where
        it lands."""
        inputs = asdict(self)
        for unpinned in ("name", "extract", "dest", "member", "executable"):
            del inputs[unpinned]
        return {
            key: str(value) if isinstance(value, StrChoice) else value
            for key, value in inputs.items()
        }


_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def validate(spec: SourceSpec, where: str) -> None:
    """Raise UserError naming `where` for a source that cannot be fetched or staged."""
    problems = []
    if spec.type is SourceType.HTTPS:
        if not spec.url:
            problems.append("an `https` source needs `url`")
        elif not spec.url.startswith("https://"):
            problems.append(f"`url` must start with https:// (got {spec.url!r})")
        if spec.repo or spec.tag or spec.asset:
            problems.append("`repo`, `tag` and `asset` are for `github_release` sources")
    else:
        if not (spec.repo and spec.tag and spec.asset):
            problems.append("a `github_release` source needs `repo`, `tag` and `asset`")
        elif not _REPO.fullmatch(spec.repo):
            problems.append(f"`repo` must be `owner/name` (got {spec.repo!r})")
        if spec.url:
            problems.append("`url` is for `https` sources")
    if (spec.version is None) == (spec.version_from is None):
        problems.append("set exactly one of `version` and `version_from`")
    elif spec.version is not None and not _VERSION.fullmatch(spec.version):
        problems.append(f"`version` {spec.version!r} is not a version")
    if spec.extract is Extract.NONE and spec.member:
        problems.append("`member` needs an archive (`extract` of `zip` or `tar.gz`)")
    for field, path in (("dest", spec.dest), ("member", spec.member)):
        if path is not None and not is_relative_path(path):
            problems.append(f"`{field}` must be a relative path without `..` (got {path!r})")
    if spec.version_from and not is_relative_path(spec.version_from.file):
        problems.append(f"`version_from` file must be a relative path: {spec.version_from.file!r}")
    if problems:
        raise UserError(f"{where}: " + "; ".join(problems))


def is_relative_path(path: str) -> bool:
    parts = path.split("/")
    return (
        bool(path)
        and not path.startswith("/")
        and "\\" not in path
        and all(part not in ("", ".", "..") for part in parts)
    )


def render(template: str, version: str) -> str:
    return template.replace("{version}", version)


def check_dests(dests: Mapping[str, str], where: str) -> None:
    """Raise UserError naming both sources when one `dest` is, or is inside, another's."""
    ordered = sorted(dests.items(), key=lambda item: item[1])
    for (name, dest), (other, other_dest) in zip(ordered, ordered[1:]):
        if other_dest == dest or other_dest.startswith(dest + "/"):
            raise UserError(
                f"{where}: the sources {name!r} (dest {dest!r}) and {other!r} (dest"
                f" {other_dest!r}) overlap; give them separate `dest`s"
            )


def read_version(path: Path, key: str, where: str) -> str:
    """The version on `key`'s line of an asdf-style `.tool-versions` file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{where}: cannot read {path.name!r} for `version_from`: {error}") from None
    return parse_version(text, path.name, key, where)


def parse_version(text: str, filename: str, key: str, where: str) -> str:
    """The version on `key`'s line of the `.tool-versions` text of `filename`."""
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and fields[0] == key:
            if not _VERSION.fullmatch(fields[1]):
                raise UserError(f"{where}: {key!r} in {filename!r} is not a version: {fields[1]!r}")
            return fields[1]
    raise UserError(f"{where}: {filename!r} has no {key!r} line for `version_from`")


# The lock


@dataclass(frozen=True)
class Pin:
    """A source's download, as `lambda-lock` resolved it."""

    inputs: str  # the fingerprint of the source's lock inputs (and its upstream's pin)
    version: str
    url: str
    sha256: str
    size: int


def fingerprint(spec: SourceSpec, upstream: Optional[Pin] = None) -> str:
    """What a pin is stale against: the source's lock inputs and, for `version_from`, the pin
    of the source it reads its version from."""
    inputs: Dict[str, object] = {
        **spec.lock_inputs(),
        "upstream_sha256": upstream.sha256 if upstream else None,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


_SHA256 = re.compile(r"[0-9a-f]{64}")


def parse_lock(content: bytes, path: str) -> Dict[str, Pin]:
    """The pins of a lock file, by source address; raise UserError for a malformed file."""
    try:
        data = json.loads(content)
        pins = {address: Pin(**entry) for address, entry in data["sources"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise UserError(
            f"{path} is not a sources lock ({error}); delete it and run `{LOCK_COMMAND}`"
        ) from None
    for address, pin in pins.items():
        if not _SHA256.fullmatch(pin.sha256) or not isinstance(pin.size, int):
            raise UserError(f"{path}: the pin of {address} is malformed; run `{LOCK_COMMAND}`")
    return pins


def render_lock(pins: Mapping[str, Pin]) -> bytes:
    """The lock file for `pins`: sorted, so writing the same pins twice writes the same bytes."""
    data = {
        "comment": f"Generated by `{LOCK_COMMAND}`; do not edit.",
        "sources": {address: asdict(pins[address]) for address in sorted(pins)},
    }
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def current_pin(
    pins: Mapping[str, Pin],
    address: str,
    spec: SourceSpec,
    upstream: Optional[Pin],
    lock: str,
    github_api: str,
) -> Pin:
    """The pin of `address`, or UserError with the command to run when it is missing, stale or
    not what the declaration says (a lock is a file anyone can edit in a pull request)."""
    pin = pins.get(address)
    if pin is None:
        raise UserError(f"{address} has no pin in {lock}: run `{LOCK_COMMAND}`")
    if pin.inputs != fingerprint(spec, upstream):
        raise UserError(
            f"the pin of {address} in {lock} is stale (the source changed since it was locked):"
            f" run `{LOCK_COMMAND}`"
        )
    problem = None
    if spec.version is not None and pin.version != spec.version:
        problem = f"its version {pin.version!r} is not the declared {spec.version!r}"
    else:
        try:
            check_download_url(spec, pin.version, pin.url, github_api)
        except UserError as error:
            problem = str(error)
    if problem:
        raise UserError(
            f"the pin of {address} in {lock} does not match its declaration: {problem}. Was the"
            f" lock edited? Run `{LOCK_COMMAND}` and review the diff"
        )
    return pin


def check_download_url(spec: SourceSpec, version: str, url: str, github_api: str) -> None:
    """Raise UserError unless `url` is where `spec` at `version` downloads from: its `url`
    rendered (https), or an asset of its `repo` on `github_api`, the only host a token goes to."""
    if spec.type is SourceType.HTTPS:
        assert spec.url is not None
        expected = render(spec.url, version)
        if url != expected:
            raise UserError(f"its URL {url!r} is not the declared {expected!r}")
        return
    assert spec.repo is not None
    api, asset = urlsplit(github_api), urlsplit(url)
    prefix = f"{api.path.rstrip('/')}/repos/{spec.repo}/releases/assets/"
    number = asset.path[len(prefix) :] if asset.path.lower().startswith(prefix.lower()) else ""
    if not (
        asset.scheme == api.scheme == "https"
        and _host_and_port(asset) == _host_and_port(api)
        and asset.username is None
        and not (asset.query or asset.fragment)
        and number.isascii()
        and number.isdigit()
    ):
        raise UserError(
            f"its URL {url!r} is not a release asset of {spec.repo} on"
            f" `[lambda-sources].github_api_url` ({api.scheme}://{api.netloc}{prefix}<id>)"
        )


def _host_and_port(url: SplitResult) -> Tuple[Optional[str], Optional[int]]:
    try:
        return url.hostname, url.port or 443
    except ValueError:  # a port that is not a number
        return url.hostname, None


def version_file(staged: Path, upstream: SourceSpec, spec: SourceSpec) -> Path:
    """Where `spec`'s `version_from` file is in the staged tree of `upstream`: relative to its
    member-stripped root, which is staged at its `dest`."""
    assert spec.version_from is not None
    return staged.joinpath(*upstream.dest.split("/"), *spec.version_from.file.split("/"))
