"""The cross toolchain of an sdist build for a runtime × architecture: the pinned Zig wheel of this
host (`[lambda-zig]`) and the target Python's headers from their pinned archive
(`[lambda-sdist-build].python_headers`), flattened into one include directory.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.engine.fs import (
    CreateDigest,
    Digest,
    DigestContents,
    DownloadFile,
    FileContent,
    FileDigest,
)
from pants.engine.platform import Platform
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.util.logging import LogLevel

from repro_lambda.core.contract import UserError, platform_name
from repro_lambda.core.install.cross_pins import zig_target
from repro_lambda.core.install.python_headers import HeadersPin, include_directory
from repro_lambda.core.runtimes import BY_NAME
from repro_lambda.errors import LambdaUserError
from repro_lambda.subsystems.zig import LambdaZig

HEADERS = "__python_headers"


@dataclass(frozen=True)
class CrossToolchain:
    """Zig's wheel (`zig_wheel`, by sha256) and the target's headers under `HEADERS` in
    `headers`, for `target` (`aarch64-linux-gnu.2.26`)."""

    zig_wheel: Digest
    zig_wheel_name: str
    zig_sha256: str
    headers: Digest
    target: str


@rule(desc="Preparing a cross toolchain", level=LogLevel.DEBUG)
async def cross_toolchain(pin: HeadersPin, zig: LambdaZig, platform: Platform) -> CrossToolchain:
    download = zig.get_request(platform).download_file_request
    archive, zig_wheel = await MultiGet(
        Get(Digest, DownloadFile(pin.url, FileDigest(pin.sha256, pin.size))),
        Get(Digest, DownloadFile, download),
    )
    (contents,) = await Get(DigestContents, Digest, archive)
    python = BY_NAME[pin.runtime].python_version
    assert python is not None
    try:
        headers = include_directory(contents.content, contents.path, python, pin.architecture)
    except UserError as error:
        where = platform_name(pin.runtime, pin.architecture)
        raise LambdaUserError(f"The Python headers of {where}: {error}") from None
    headers_digest = await Get(
        Digest,
        CreateDigest(FileContent(f"{HEADERS}/{path}", data) for path, data in headers.items()),
    )
    return CrossToolchain(
        zig_wheel,
        download.url.rsplit("/", 1)[-1],
        download.expected_digest.fingerprint,
        headers_digest,
        zig_target(pin.runtime, pin.architecture),
    )


def rules():
    return collect_rules()
