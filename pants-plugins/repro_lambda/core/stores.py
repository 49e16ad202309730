"""Artifact stores: what an S3 bucket (`s3_store`) and a local directory (`file_store`) share.

Each writes a key at most once and never overwrites it. boto3 and botocore are imported only when an
s3:// store is opened: the core also runs without them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from repro_lambda.core.errors import UserError

TROUBLESHOOTING = "docs/publishing.md#troubleshooting"
PARALLEL_UPLOADS = 8
"""Uploads run at once; each S3 client keeps as many connections."""

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_KEY_SEGMENT = re.compile(r"(?!\.{1,2}$)[A-Za-z0-9._-]+")
class Outcome(StrEnum):
    """How a successful put went: the store holds the artifact's bytes under its key either way."""

    UPLOADED = "uploaded"
    ALREADY_PRESENT = "already present"


class PublishError(Exception):
    """A put that could not be shown to leave the artifact's bytes under its key; the message says what to do."""


@dataclass(frozen=True)
class StoreUrl:
    """A parsed store URL: an S3 bucket with an optional key prefix, or a local directory."""

    url: str
    """`s3://bucket[/prefix]` without trailing slashes, or a file:// URL exactly as given."""
    bucket: str | None = None
    prefix: str = ""
    directory: Path | None = None

    def object_key(self, key: str) -> str:
        """The full object key (or path under the directory) of an artifact's `key`."""
        return f"{self.prefix}/{key}" if self.prefix else key

    def location(self, key: str) -> str:
        """The URL of an artifact's `key` in this store, for messages."""
        return f"{self.url.rstrip('/')}/{key}"


class Store(Protocol):
    """The contract both stores keep: a key is written at most once and never overwritten or deleted."""

    url: StoreUrl

    def put_if_absent(self, key: str, data: bytes) -> Outcome:
        """Store `data` under `key` unless present; raise PublishError if the key holds other bytes."""


def parse_store_url(url: str, buildroot: Path) -> StoreUrl:
    """Parse `s3://bucket[/prefix]` or `file://dir` (relative to `buildroot`) or `file:///abs/dir`."""
    if url.startswith("s3://"):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        prefix = prefix.strip("/")
        if not _BUCKET.fullmatch(bucket):
            raise UserError(f"invalid store URL {url!r}: {bucket!r} is not a valid S3 bucket name")
        if prefix:
            check_key(prefix, f"invalid store URL {url!r}")
        return StoreUrl(url=f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}", bucket=bucket, prefix=prefix)
    if url.startswith("file://"):
        path = url.removeprefix("file://")
        if not path.strip("/"):
            raise UserError(f"invalid store URL {url!r}: name a directory, e.g. file://dist/lambda-store")
        return StoreUrl(url=url, directory=buildroot / path)
    raise UserError(f"unsupported store URL {url!r}: use s3://bucket[/prefix] or file://directory")


def check_key(key: str, context: str) -> None:
    """Raise UserError unless `key` is '/'-separated segments of letters, digits, '.', '_' and '-'."""
    if not all(_KEY_SEGMENT.fullmatch(segment) for segment in key.split("/")):
        raise UserError(f"{context}: key {key!r} must be '/'-separated segments of letters, digits, '.', '_', '-'")


def open_store(url: StoreUrl, *, region: str | None, endpoint_url: str | None, max_attempts: int) -> Store:
    """The store for `url`; S3 stores use boto3's default credential chain, `region` and `endpoint_url`."""
    # Imported here: each store module builds on this one.
    from repro_lambda.core.file_store import FileStore
    from repro_lambda.core.s3_store import S3Store

    if url.directory is not None:
        return FileStore(url)
    return S3Store(url, region=region, endpoint_url=endpoint_url, max_attempts=max_attempts)


def integrity_error(location: str, found_sha256: str, expected_sha256: str) -> PublishError:
    """The failure for a key that already holds other bytes than the artifact's."""
    return PublishError(
        f"{location} already holds different bytes (sha256 {found_sha256}, expected {expected_sha256}); "
        "keys are never overwritten: something other than this publisher wrote that key, so find out what, "
        f"and do not delete it while functions may be using it; see {TROUBLESHOOTING}"
    )
