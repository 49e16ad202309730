"""Packing one zip and its metadata JSON with the deterministic packer tool."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import PurePath

from pants.core.goals.package import BuiltPackageArtifact
from pants.engine.addresses import Address
from pants.engine.fs import (
    EMPTY_DIGEST,
    AddPrefix,
    CreateDigest,
    Digest,
    DigestContents,
    DigestEntries,
    DigestSubset,
    FileContent,
    FileEntry,
    MergeDigests,
    PathGlobs,
    RemovePrefix,
)
from pants.engine.process import FallibleProcessResult, Process
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.logging import LogLevel

from repro_lambda.core.contract import (
    ERROR_PREFIX,
    WARNING_PREFIX,
    ArtifactMetadata,
    BatchMember,
    PackBatch,
    PackJob,
    PackSpec,
    UserError,
    to_json,
    tool_messages,
)
from repro_lambda.errors import LambdaUserError
from repro_lambda.subsystems.packer import PackerTool
from repro_lambda.util_rules.install import SITE_PACKAGES

logger = logging.getLogger(__name__)

FIRST_PARTY = "__first_party"  # first-party sources (external ones are in `__external/`)
BYTECODE = "__bytecode"
# The payloads' executable files, as their digest records them: a local sandbox shows Pants 2.17's
# shared copies of large files (512 KiB and more) as executable, whatever the digest says.
_EXECUTABLES = "__executables"
_BATCH = "__batch.json"
_INPUTS = "__in"  # a member's payload at `__in/<index>/`
_INSTALLS = "__installs"  # each of their third-party installs once, at `__installs/<index>/`
_OUTPUTS = "__out"  # its zip and metadata at `__out/<index>/`
_MESSAGES = "__messages"  # its `error:` and `warning:` lines in `__messages/<index>`


class LambdaPackagingError(LambdaUserError):
    """The packer refused an artifact (a user error, reported without a traceback)."""


@dataclass(frozen=True)
class PackedLambda:
    """A zip and its metadata JSON, at their dist-relative paths."""

    digest: Digest
    zip_path: str
    metadata: ArtifactMetadata

    def artifact(self) -> BuiltPackageArtifact:
        """The zip, as `package` reports it: with its key, platform, file count and sizes."""
        metadata = self.metadata
        return BuiltPackageArtifact(
            self.zip_path,
            extra_log_lines=(
                f"    Key: {metadata.s3_key}",
                (
                    f"    {metadata.platform_name}, {metadata.entry_count} files, "
                    f"{metadata.size:,} bytes ({metadata.uncompressed_size:,} unzipped)"
                ),
            ),
        )


@dataclass(frozen=True)
class PackLambdaRequest:
    """One zip to pack for `spec` from `payload` (`__first_party/`, `__bytecode/`, `__external/`)
    and `site_packages` (a third-party install in `site-packages/`)."""

    address: Address
    zip_path: str
    spec: PackSpec
    payload: Digest
    has_sources: bool
    site_packages: Digest = EMPTY_DIGEST
    has_bytecode: bool = False
    external_roots: tuple[str, ...] = ()  # in `payload`: staged external sources
    layer_zips: tuple[str, ...] = ()  # in `payload`, for the import check


@dataclass(frozen=True)
class PackLambdaBatch:
    """Zips to pack in one packer process, each exactly as it would be packed alone."""

    requests: tuple[PackLambdaRequest, ...]


@dataclass(frozen=True)
class PackedMember:
    """What the packer made of one request of a batch: its zip and metadata (none if it failed),
    and its `error:` and `warning:` lines."""

    request: PackLambdaRequest
    digest: Digest
    metadata: ArtifactMetadata | None
    messages: tuple[str, ...]

    def packed(self) -> PackedLambda:
        """The zip; log its warnings, or raise LambdaPackagingError with its errors."""
        address = self.request.address
        if self.metadata is None:
            reasons = tool_messages("\n".join(self.messages), ERROR_PREFIX)
            raise LambdaPackagingError(
                f"Cannot package {address}: " + ("; ".join(reasons) or "the packer wrote no zip")
            )
        for warning in tool_messages("\n".join(self.messages), WARNING_PREFIX):
            logger.warning(f"{address}: {warning}")
        return PackedLambda(self.digest, self.request.zip_path, self.metadata)


@dataclass(frozen=True)
class PackedBatch:
    """The members of a packed batch, in the order of its requests."""

    members: tuple[PackedMember, ...]

    def member(self, request: PackLambdaRequest) -> PackedMember:
        return next(member for member in self.members if member.request == request)


def _pack_job(
    request: PackLambdaRequest, inputs: str, site_packages: str | None, outputs: str
) -> PackJob:
    """The packer's job for `request`, whose payload is at `inputs/` and install at
    `site_packages/`, its outputs to go to `outputs/`."""
    return PackJob(
        spec=request.spec,
        output=f"{outputs}/{request.zip_path}",
        metadata=f"{outputs}/{_metadata_path(request)}",
        sources=(f"{inputs}/{FIRST_PARTY}",) if request.has_sources else (),
        site_packages=(f"{site_packages}/{SITE_PACKAGES}",) if site_packages else (),
        bytecode=(f"{inputs}/{BYTECODE}",) if request.has_bytecode else (),
        external=tuple(f"{inputs}/{root}" for root in request.external_roots),
        layer_zips=tuple(f"{inputs}/{path}" for path in request.layer_zips),
        executables=_EXECUTABLES,
    )


def _metadata_path(request: PackLambdaRequest) -> str:
    return str(PurePath(request.zip_path).with_suffix(".json"))


@rule(desc="Packing Lambda zips", level=LogLevel.DEBUG)
async def pack_lambda_batch(batch: PackLambdaBatch, packer: PackerTool) -> PackedBatch:
    requests = batch.requests
    inputs = [f"{_INPUTS}/{index}" for index in range(len(requests))]
    outputs = [f"{_OUTPUTS}/{index}" for index in range(len(requests))]
    messages = [f"{_MESSAGES}/{index}" for index in range(len(requests))]
    # members with one install share one copy of it
    installs = sorted({r.site_packages for r in requests} - {EMPTY_DIGEST}, key=str)
    install_roots = {install: f"{_INSTALLS}/{index}" for index, install in enumerate(installs)}
    payloads = await MultiGet(
        *(Get(Digest, AddPrefix(r.payload, prefix)) for r, prefix in zip(requests, inputs)),
        *(Get(Digest, AddPrefix(install, root)) for install, root in install_roots.items()),
    )
    payload = await Get(Digest, MergeDigests(payloads))
    entries = await Get(DigestEntries, Digest, payload)
    executables = "".join(
        f"{entry.path}\n"
        for entry in entries
        if isinstance(entry, FileEntry) and entry.is_executable
    )
    members = tuple(
        BatchMember(
            _pack_job(request, root, install_roots.get(request.site_packages), out), messages_path
        )
        for request, root, out, messages_path in zip(requests, inputs, outputs, messages)
    )
    batch_file = await Get(
        Digest,
        CreateDigest(
            [
                FileContent(_EXECUTABLES, executables.encode()),
                FileContent(_BATCH, to_json(PackBatch(members)).encode()),
            ]
        ),
    )
    input_digest = await Get(Digest, MergeDigests([payload, batch_file]))
    description = (
        f"Packing {requests[0].zip_path}"
        if len(requests) == 1
        else f"Packing {len(requests)} Lambda zips"
    )
    result = await Get(
        FallibleProcessResult,
        Process,
        packer.tool.process(
            (_BATCH,),
            description,
            input_digest=input_digest,
            output_directories=(_OUTPUTS, _MESSAGES),
        ),
    )
    if result.exit_code != 0:
        addresses = ", ".join(str(request.address) for request in requests)
        raise LambdaPackagingError(
            f"Cannot package {addresses}: {result.stderr.decode(errors='replace').strip()}"
        )
    wanted = [
        *messages,
        *(f"{out}/{_metadata_path(request)}" for request, out in zip(requests, outputs)),
    ]
    contents = await Get(DigestContents, DigestSubset(result.output_digest, PathGlobs(wanted)))
    by_path = {content.path: content.content for content in contents}
    subsets = await MultiGet(
        Get(Digest, DigestSubset(result.output_digest, PathGlobs([f"{out}/**"]))) for out in outputs
    )
    digests = await MultiGet(
        Get(Digest, RemovePrefix(subset, out)) for subset, out in zip(subsets, outputs)
    )
    return PackedBatch(
        tuple(
            PackedMember(
                request,
                digest,
                _metadata(by_path.get(f"{out}/{_metadata_path(request)}"), request),
                tuple(by_path[messages_path].decode().splitlines()),
            )
            for request, digest, out, messages_path in zip(requests, digests, outputs, messages)
        )
    )


def _metadata(content: bytes | None, request: PackLambdaRequest) -> ArtifactMetadata | None:
    if content is None:
        return None
    try:
        return ArtifactMetadata.parse(content.decode(), f"the metadata of {request.zip_path}")
    except UserError as error:
        raise LambdaPackagingError(f"Cannot package {request.address}: {error}") from error


@rule(desc="Packing a Lambda zip", level=LogLevel.DEBUG)
async def pack_lambda(request: PackLambdaRequest) -> PackedLambda:
    batch = await Get(PackedBatch, PackLambdaBatch((request,)))
    return batch.member(request).packed()


def rules():
    return collect_rules()
