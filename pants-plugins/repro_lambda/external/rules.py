"""Pinned external sources: their pins, fetching and staging, the sources of an artifact, and
locking them for `lambda-lock`.

A public download is fetched by a cacheable process keyed by its pin (URL, sha256, size), so
Pants' local and remote caches hold it; staging is another, keyed by the download's digest and
where it lands. A private `github_release` download needs the token, which must reach no
process (its environment is part of the cache key): Pants fetches it itself, once, into its store.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

from pants.base.glob_match_error_behavior import GlobMatchErrorBehavior
from pants.build_graph.address import AddressInput
from pants.engine.addresses import Address
from pants.engine.env_vars import EnvironmentVars, EnvironmentVarsRequest
from pants.engine.fs import (
    CreateDigest,
    Digest,
    DigestContents,
    DigestSubset,
    FileDigest,
    FileEntry,
    MergeDigests,
    NativeDownloadFile,
    PathGlobs,
)
from pants.engine.process import FallibleProcessResult, Process
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import (
    Target,
    Targets,
    UnparsedAddressInputs,
    WrappedTarget,
    WrappedTargetRequest,
)
from pants.option.global_options import GlobalOptions
from pants.util.logging import LogLevel

from repro_lambda.core.contract import ERROR_PREFIX, UserError, tool_messages
from repro_lambda.core.sources.safe_extract import stage
from repro_lambda.core.sources.safe_fetch import (
    ASSET_ACCEPT,
    fetch,
    fetch_pinned,
    github_asset_url,
    github_headers,
)
from repro_lambda.core.sources.spec import (
    LOCK_COMMAND,
    TOKEN_ENV_VAR,
    Extract,
    Pin,
    SourceSpec,
    SourceType,
    VersionFrom,
    check_dests,
    check_download_url,
    current_pin,
    fingerprint,
    parse_lock,
    parse_version,
    read_version,
    render,
    validate,
    version_file,
)
from repro_lambda.errors import LambdaUserError
from repro_lambda.external.target_types import (
    LambdaExternalSourcesField,
    LambdaSourceAssetField,
    LambdaSourceDestField,
    LambdaSourceExecutableField,
    LambdaSourceExtractField,
    LambdaSourceMemberField,
    LambdaSourceRepoField,
    LambdaSourceTagField,
    LambdaSourceTarget,
    LambdaSourceTypeField,
    LambdaSourceUrlField,
    LambdaSourceVersionField,
    LambdaSourceVersionFromField,
)
from repro_lambda.subsystems.packer import SourceTool
from repro_lambda.subsystems.sources import LambdaSources

_EXTERNAL = "__external"
_DOWNLOAD = "__download"
_VERSION_FROM_KEYS = ("source", "file", "key")


class LambdaSourceError(LambdaUserError):
    """A `lambda_source` cannot be locked, fetched or staged (a user error)."""


# A source's declaration and pin


def _source_name(address: Address) -> str:
    """A source's name: its target's (a generated source's own, e.g. `app.vendor`)."""
    return address.generated_name or address.target_name


@dataclass(frozen=True)
class SourceDeclaration:
    """A `lambda_source` as declared, validated; `version_from.source` is an address spec."""

    address: Address
    spec: SourceSpec
    upstream: Optional[Address]


async def _declaration(target: Target) -> SourceDeclaration:
    address = target.address
    if not target.has_field(LambdaSourceTypeField):
        raise LambdaSourceError(f"{address} is not a `{LambdaSourceTarget.alias}` target")
    upstream = None
    version_from = None
    raw = target[LambdaSourceVersionFromField].value
    if raw is not None:
        if sorted(raw) != sorted(_VERSION_FROM_KEYS):
            raise LambdaSourceError(
                f"{address}: `version_from` needs exactly the keys"
                f" {', '.join(_VERSION_FROM_KEYS)} (got {', '.join(sorted(raw)) or 'none'})"
            )
        upstream = await Get(
            Address,
            AddressInput,
            AddressInput.parse(
                raw["source"],
                relative_to=address.spec_path,
                description_of_origin=f"the `version_from` of {address}",
            ),
        )
        version_from = VersionFrom(upstream.spec, raw["file"], raw["key"])
    spec = SourceSpec(
        name=_source_name(address),
        type=SourceType(target[LambdaSourceTypeField].value),
        extract=Extract(target[LambdaSourceExtractField].value),
        dest=target[LambdaSourceDestField].value,
        url=target[LambdaSourceUrlField].value,
        repo=target[LambdaSourceRepoField].value,
        tag=target[LambdaSourceTagField].value,
        asset=target[LambdaSourceAssetField].value,
        version=target[LambdaSourceVersionField].value,
        version_from=version_from,
        member=target[LambdaSourceMemberField].value,
        executable=target[LambdaSourceExecutableField].value,
    )
    try:
        validate(spec, str(address))
    except UserError as error:
        raise LambdaSourceError(str(error)) from None
    return SourceDeclaration(address, spec, upstream)


@rule
async def source_declaration(address: Address) -> SourceDeclaration:
    wrapped = await Get(
        WrappedTarget,
        WrappedTargetRequest(address, description_of_origin="an `external_sources` field"),
    )
    return await _declaration(wrapped.target)


@dataclass(frozen=True)
class SourcePins:
    path: str
    pins: Mapping[str, Pin]


@rule
async def read_source_pins(subsystem: LambdaSources) -> SourcePins:
    contents = await Get(
        DigestContents,
        PathGlobs([subsystem.lockfile], glob_match_error_behavior=GlobMatchErrorBehavior.ignore),
    )
    if not contents:
        return SourcePins(subsystem.lockfile, {})
    try:
        return SourcePins(subsystem.lockfile, parse_lock(contents[0].content, subsystem.lockfile))
    except UserError as error:
        raise LambdaSourceError(str(error)) from None


@dataclass(frozen=True)
class PinnedSource:
    declaration: SourceDeclaration
    pin: Pin


async def _upstream(declaration: SourceDeclaration) -> Optional[SourceDeclaration]:
    if declaration.upstream is None:
        return None
    upstream = await Get(SourceDeclaration, Address, declaration.upstream)
    if upstream.upstream is not None:
        raise LambdaSourceError(
            f"{declaration.address} reads its version from {upstream.address}, which reads its"
            " own from another source: `version_from` is single-level, so name a source that"
            " sets `version`"
        )
    return upstream


@dataclass(frozen=True)
class StagedSource:
    """The source's files at their archive paths under `root` (`__external/<name>`)."""

    root: str
    digest: Digest


async def _check_version_from(
    declaration: SourceDeclaration, upstream: PinnedSource, pin: Pin, pins: SourcePins
) -> None:
    """A `version_from` source's pinned version is the one its upstream's staged file names."""
    spec = declaration.spec
    assert spec.version_from is not None
    staged = await Get(StagedSource, PinnedSource, upstream)
    path = version_file(Path(staged.root), upstream.declaration.spec, spec)
    contents = await Get(DigestContents, DigestSubset(staged.digest, PathGlobs([str(path)])))
    where = str(declaration.address)
    try:
        text = contents[0].content.decode("utf-8") if contents else ""
        version = parse_version(text, path.name, spec.version_from.key, where)
    except (UserError, UnicodeDecodeError) as error:
        raise LambdaSourceError(f"Cannot read the version of {where}: {error}") from None
    if version != pin.version:
        raise LambdaSourceError(
            f"the pin of {where} in {pins.path} does not match its declaration: its version"
            f" {pin.version!r} is not {version!r}, which {upstream.declaration.address} names."
            f" Was the lock edited? Run `{LOCK_COMMAND}` and review the diff"
        )


@rule
async def pinned_source(
    declaration: SourceDeclaration, pins: SourcePins, subsystem: LambdaSources
) -> PinnedSource:
    upstream = await _upstream(declaration)
    api = subsystem.github_api_url
    try:
        upstream_pin = None
        if upstream is not None:
            upstream_pin = current_pin(
                pins.pins, upstream.address.spec, upstream.spec, None, pins.path, api
            )
        pin = current_pin(
            pins.pins, declaration.address.spec, declaration.spec, upstream_pin, pins.path, api
        )
    except UserError as error:
        raise LambdaSourceError(str(error)) from None
    if upstream is not None and upstream_pin is not None:
        await _check_version_from(declaration, PinnedSource(upstream, upstream_pin), pin, pins)
    return PinnedSource(declaration, pin)


# Fetching and staging


@dataclass(frozen=True)
class FetchedSource:
    """The verified download, as the file `__download`."""

    digest: Digest


def _tool_error(address: Address, action: str, stderr: bytes) -> LambdaSourceError:
    text = stderr.decode(errors="replace")
    reasons = tool_messages(text, ERROR_PREFIX)
    return LambdaSourceError(f"Cannot {action} {address}: " + ("; ".join(reasons) or text.strip()))


async def _fetch_with_token(
    pinned: PinnedSource, subsystem: LambdaSources, token: str, global_options: GlobalOptions
) -> FetchedSource:
    """Fetch in Pants itself, then hand the bytes to the engine through a `file://` URL named by
    the pin: the engine remembers the URL's path with its digest, so a later run finds the bytes
    in the store and fetches nothing (it asks with a marker header, which only its memo sees).
    The download goes to a private file of its own (0600, a unique name in a 0700 directory) and
    is renamed into place whole; it is removed once the engine holds it."""
    pin, address = pinned.pin, pinned.declaration.address
    file_digest = FileDigest(pin.sha256, pin.size)
    cache = Path(global_options.named_caches_dir, "repro_lambda_sources")
    path = cache / pin.sha256
    try:
        await Get(Digest, NativeDownloadFile(path.as_uri(), file_digest, {"x-probe": "1"}))
    except Exception:  # not in the store yet: the engine found no file to read
        cache.mkdir(parents=True, exist_ok=True)
        cache.chmod(0o700)
        headers = {**ASSET_ACCEPT, **github_headers(token)}
        fd, partial = tempfile.mkstemp(dir=cache, prefix=f".{pin.sha256}.")
        try:
            with os.fdopen(fd, "wb") as out:
                fetch_pinned(pin.url, out, subsystem.policy, pin.sha256, pin.size, headers=headers)
            os.replace(partial, path)  # a concurrent run's file there has the same bytes
            await Get(Digest, NativeDownloadFile(path.as_uri(), file_digest))
        except UserError as error:
            raise LambdaSourceError(f"Cannot fetch {address}: {error}") from None
        finally:
            Path(partial).unlink(missing_ok=True)
            path.unlink(missing_ok=True)
    return FetchedSource(await Get(Digest, CreateDigest([FileEntry(_DOWNLOAD, file_digest)])))


@rule(desc="Fetching a pinned source", level=LogLevel.DEBUG)
async def fetch_source(
    pinned: PinnedSource,
    subsystem: LambdaSources,
    source_tool: SourceTool,
    global_options: GlobalOptions,
) -> FetchedSource:
    spec, pin, address = pinned.declaration.spec, pinned.pin, pinned.declaration.address
    github = spec.type is SourceType.GITHUB_RELEASE
    token = None
    if github:
        env = await Get(EnvironmentVars, EnvironmentVarsRequest([TOKEN_ENV_VAR]))
        token = env.get(TOKEN_ENV_VAR)
    if token:
        return await _fetch_with_token(pinned, subsystem, token, global_options)
    policy = subsystem.policy
    result = await Get(
        FallibleProcessResult,
        Process,
        source_tool.tool.process(
            (
                "fetch",
                f"--name={spec.name}",
                f"--url={pin.url}",
                f"--sha256={pin.sha256}",
                f"--size={pin.size}",
                f"--output={_DOWNLOAD}",
                *(["--github-asset"] if github else []),
                *(["--allow-loopback"] if policy.allow_loopback else []),
                *([f"--ca-file={policy.ca_file}"] if policy.ca_file else []),
            ),
            f"Fetching {address} {pin.version} ({pin.size:,} bytes)",
            output_files=(_DOWNLOAD,),
        ),
    )
    if result.exit_code != 0:
        raise _tool_error(address, "fetch", result.stderr)
    return FetchedSource(result.output_digest)


@rule(desc="Staging a pinned source", level=LogLevel.DEBUG)
async def stage_source(pinned: PinnedSource, source_tool: SourceTool) -> StagedSource:
    spec, pin = pinned.declaration.spec, pinned.pin
    fetched = await Get(FetchedSource, PinnedSource, pinned)
    root = f"{_EXTERNAL}/{spec.name}"
    member = spec.member and render(spec.member, pin.version)
    result = await Get(
        FallibleProcessResult,
        Process,
        source_tool.tool.process(
            (
                "stage",
                f"--name={spec.name}",
                f"--download={_DOWNLOAD}",
                f"--extract={spec.extract}",
                f"--dest={spec.dest}",
                *([f"--member={member}"] if member else []),
                *(["--executable"] if spec.executable else []),
                f"--output-dir={root}",
            ),
            f"Staging {pinned.declaration.address} at {spec.dest}",
            input_digest=fetched.digest,
            output_directories=(root,),
        ),
    )
    if result.exit_code != 0:
        raise _tool_error(pinned.declaration.address, "stage", result.stderr)
    return StagedSource(root, result.output_digest)


# An artifact's sources


@dataclass(frozen=True)
class ExternalSourcesRequest:
    address: Address
    field: LambdaExternalSourcesField


@dataclass(frozen=True)
class ExternalSources:
    """The staged sources of an artifact, merged, and their roots for the packer."""

    digest: Digest
    roots: tuple[str, ...]


@rule(desc="Collecting an artifact's external sources", level=LogLevel.DEBUG)
async def external_sources(request: ExternalSourcesRequest) -> ExternalSources:
    if not request.field.value:
        return ExternalSources(await Get(Digest, MergeDigests([])), ())
    targets = await Get(Targets, UnparsedAddressInputs, request.field.to_unparsed_address_inputs())
    by_name: dict[str, Address] = {}
    for target in targets:
        other = by_name.setdefault(_source_name(target.address), target.address)
        if other != target.address:
            raise LambdaSourceError(
                f"{request.address}: the external sources {other} and {target.address} have the"
                " same name, and a source's name is unique within an artifact: rename one"
            )
    declarations = [await _declaration(target) for target in targets]
    try:
        check_dests({d.spec.name: d.spec.dest for d in declarations}, str(request.address))
    except UserError as error:
        raise LambdaSourceError(str(error)) from None
    pinned = await MultiGet(Get(PinnedSource, SourceDeclaration, d) for d in declarations)
    staged = await MultiGet(Get(StagedSource, PinnedSource, p) for p in pinned)
    digest = await Get(Digest, MergeDigests(s.digest for s in staged))
    return ExternalSources(digest, tuple(s.root for s in staged))


# `lambda-lock`


@dataclass(frozen=True)
class LockedSource:
    address: Address
    pin: Pin


async def lock_sources(
    targets: Sequence[Target], subsystem: LambdaSources, token: Optional[str]
) -> list[LockedSource]:
    """Download every source (those that set `version` first), and pin it. Runs in the goal, so
    every `lambda-lock` downloads afresh."""
    declarations = [await _declaration(target) for target in targets]
    pins: dict[Address, Pin] = {}
    with tempfile.TemporaryDirectory(prefix="repro-lambda-lock-") as scratch:
        for declaration in sorted(declarations, key=lambda d: (d.upstream is not None, d.address)):
            upstream = await _upstream(declaration)
            try:
                pins[declaration.address] = _lock_one(
                    declaration, upstream, pins, subsystem, token, Path(scratch)
                )
            except UserError as error:
                raise LambdaSourceError(f"Cannot lock {declaration.address}: {error}") from None
    return [LockedSource(address, pins[address]) for address in sorted(pins)]


def _lock_one(
    declaration: SourceDeclaration,
    upstream: Optional[SourceDeclaration],
    pins: Mapping[Address, Pin],
    subsystem: LambdaSources,
    token: Optional[str],
    scratch: Path,
) -> Pin:
    spec = declaration.spec
    upstream_pin = None
    if upstream is not None:
        assert spec.version_from is not None
        upstream_pin = pins[upstream.address]
        staged = _scratch_path(scratch, upstream.address, "staged")
        if not staged.exists():
            member = upstream.spec.member and render(upstream.spec.member, upstream_pin.version)
            stage(
                _scratch_path(scratch, upstream.address, "download"),
                upstream.spec.extract,
                upstream.spec.dest,
                staged,
                member=member,
            )
        where = str(declaration.address)
        version = read_version(
            version_file(staged, upstream.spec, spec), spec.version_from.key, where
        )
    else:
        assert spec.version is not None
        version = spec.version
    headers: dict[str, str] = {}
    if spec.type is SourceType.GITHUB_RELEASE:
        assert spec.repo and spec.tag and spec.asset
        url = github_asset_url(
            subsystem.github_api_url,
            spec.repo,
            render(spec.tag, version),
            render(spec.asset, version),
            token,
            subsystem.policy,
        )
        headers = {**ASSET_ACCEPT, **github_headers(token)}
        try:
            check_download_url(spec, version, url, subsystem.github_api_url)
        except UserError as error:
            raise UserError(
                f"the GitHub API answered an asset URL that is not its own: {error}"
            ) from None
    else:
        assert spec.url
        url = render(spec.url, version)
    download = _scratch_path(scratch, declaration.address, "download")
    download.parent.mkdir(parents=True, exist_ok=True)
    with download.open("wb") as out:
        downloaded = fetch(url, out, subsystem.policy, headers=headers)
    return Pin(fingerprint(spec, upstream_pin), version, url, downloaded.sha256, downloaded.size)


def _scratch_path(scratch: Path, address: Address, kind: str) -> Path:
    return scratch / kind / address.spec.replace("/", "_").replace(":", "__")


def write_atomically(path: Path, content: bytes) -> bool:
    """Replace `path` with `content` unless it holds that already; return whether it changed."""
    if path.exists() and path.read_bytes() == content:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return True


def rules():
    return collect_rules()
