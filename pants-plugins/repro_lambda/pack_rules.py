"""Packing one zip and its metadata JSON with the deterministic packer tool."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import PurePath

from pants.core.goals.package import BuiltPackageArtifact
from pants.engine.addresses import Address
from pants.engine.fs import (
    CreateDigest,
    Digest,
    DigestContents,
    DigestEntries,
    DigestSubset,
    FileContent,
    FileEntry,
    MergeDigests,
    PathGlobs,
)
from pants.engine.process import FallibleProcessResult, Process
from pants.engine.rules import Get, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from repro_lambda.core.contract import ERROR_PREFIX, WARNING_PREFIX, Section, tool_messages
from repro_lambda.install_rules import SITE_PACKAGES
from repro_lambda.subsystems.packer import PackerTool

logger = logging.getLogger(__name__)

SOURCES = "__sources"
BYTECODE = "__bytecode"
# The payload's executable files, as its digest records them: a local sandbox shows Pants 2.17's
# shared copies of large files (512 KiB and more) as executable, whatever the digest says.
_EXECUTABLES = "__executables"


class LambdaPackagingError(Exception):
    """The packer refused an artifact (a user error, reported without a traceback)."""


@dataclass(frozen=True)
class PackedLambda:
    """A zip and its metadata JSON, at their dist-relative paths."""

    digest: Digest
    zip_path: str
    metadata: FrozenDict

    def artifact(self, platform_name: str) -> BuiltPackageArtifact:
        """The zip, as `package` reports it: with its key, platform, file count and sizes."""
        metadata = self.metadata
        return BuiltPackageArtifact(
            self.zip_path,
            extra_log_lines=(
                f"    Key: {metadata['s3_key']}",
                (
                    f"    {platform_name}, {metadata['entry_count']} files, "
                    f"{metadata['size']:,} bytes ({metadata['uncompressed_size']:,} unzipped)"
                ),
            ),
        )


@dataclass(frozen=True)
class PackLambdaRequest:
    """One zip to pack from `payload`: `__sources/` and/or `site-packages/`, `__bytecode/` and
    `__external/`."""

    address: Address
    zip_path: str
    logical_name: str
    runtime: str
    architecture: str
    payload: Digest
    has_sources: bool
    has_site_packages: bool
    handler: str | None = None
    hash_extra: str | None = None
    key_prefix: str = Section.LAMBDAS.value
    site_packages_prefix: str = ""
    layer_dists: tuple[str, ...] = ()  # `layer:name==version` the function's layers provide
    layer_artifacts: tuple[str, ...] = ()  # `name=sha256=key` of the function's layer zips
    layers_unzipped_size: int = 0
    layer_zips: tuple[str, ...] = ()  # in `payload`, for the import check
    runtime_provides: tuple[str, ...] = ()  # top-level modules the function imports from Lambda
    has_bytecode: bool = False
    external_roots: tuple[str, ...] = ()  # in `payload`: staged external sources


@rule(desc="Packing a Lambda zip", level=LogLevel.DEBUG)
async def pack_lambda(request: PackLambdaRequest, packer: PackerTool) -> PackedLambda:
    zip_path = request.zip_path
    metadata_path = str(PurePath(zip_path).with_suffix(".json"))
    optional = {
        "handler": request.handler,
        "hash-extra": request.hash_extra,
        "sources": SOURCES if request.has_sources else None,
        "site-packages": SITE_PACKAGES if request.has_site_packages else None,
        "site-packages-prefix": request.site_packages_prefix,
        "layers-unzipped-size": request.layers_unzipped_size,
        "bytecode": BYTECODE if request.has_bytecode else None,
    }
    argv = (
        f"--output={zip_path}",
        f"--metadata={metadata_path}",
        f"--logical-name={request.logical_name}",
        f"--runtime={request.runtime}",
        f"--architecture={request.architecture}",
        f"--key-prefix={request.key_prefix}",
        *(f"--{option}={value}" for option, value in optional.items() if value),
        *(f"--layer-dist={dist}" for dist in request.layer_dists),
        *(f"--layer-artifact={artifact}" for artifact in request.layer_artifacts),
        *(f"--layer-zip={path}" for path in request.layer_zips),
        *(f"--runtime-provides={module}" for module in request.runtime_provides),
        *(f"--external={root}" for root in request.external_roots),
        f"--executables={_EXECUTABLES}",
    )
    entries = await Get(DigestEntries, Digest, request.payload)
    executables = "".join(
        f"{entry.path}\n"
        for entry in entries
        if isinstance(entry, FileEntry) and entry.is_executable
    )
    executables_digest = await Get(
        Digest, CreateDigest([FileContent(_EXECUTABLES, executables.encode())])
    )
    payload = await Get(Digest, MergeDigests([request.payload, executables_digest]))
    result = await Get(
        FallibleProcessResult,
        Process,
        packer.tool.process(
            argv,
            f"Packing {zip_path}",
            input_digest=payload,
            output_files=(zip_path, metadata_path),
        ),
    )
    stderr = result.stderr.decode(errors="replace")
    if result.exit_code != 0:
        reasons = tool_messages(stderr, ERROR_PREFIX)
        raise LambdaPackagingError(
            f"Cannot package {request.address}: " + ("; ".join(reasons) or stderr.strip())
        )
    for line in stderr.splitlines():
        logger.warning(f"{request.address}: {line.removeprefix(WARNING_PREFIX)}")
    contents = await Get(
        DigestContents, DigestSubset(result.output_digest, PathGlobs([metadata_path]))
    )
    metadata = FrozenDict.deep_freeze(json.loads(contents[0].content))
    return PackedLambda(result.output_digest, zip_path, metadata)


def rules():
    return collect_rules()
