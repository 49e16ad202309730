"""Artifact stores: an S3 bucket or a local directory, each writing a key at most once and never overwriting it.

boto3 and botocore are imported only when an s3:// store is opened: the core also runs without them.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol, TypeVar

from repro_lambda.core.durable import staged_file
from repro_lambda.core.errors import PackError

TROUBLESHOOTING = "docs/publishing.md#troubleshooting"
PUBLISHED_MODE = 0o444
BACKOFF_BASE_SECONDS = 0.1
BACKOFF_CAP_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 60
PARALLEL_UPLOADS = 8
"""Uploads run at once; each S3 client keeps as many connections."""

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_KEY_SEGMENT = re.compile(r"(?!\.{1,2}$)[A-Za-z0-9._-]+")
_TRANSIENT_CODES = frozenset(
    {
        "ConditionalRequestConflict",
        "OperationAborted",
        "RequestTimeout",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "TooManyRequestsException",
        "InternalError",
        "ServiceUnavailable",
    }
)
_WRONG_REGION_CODES = frozenset(
    {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"}
)

T = TypeVar("T")


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
            raise PackError(f"invalid store URL {url!r}: {bucket!r} is not a valid S3 bucket name")
        if prefix:
            check_key(prefix, f"invalid store URL {url!r}")
        return StoreUrl(url=f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}", bucket=bucket, prefix=prefix)
    if url.startswith("file://"):
        path = url.removeprefix("file://")
        if not path.strip("/"):
            raise PackError(f"invalid store URL {url!r}: name a directory, e.g. file://dist/lambda-store")
        return StoreUrl(url=url, directory=buildroot / path)
    raise PackError(f"unsupported store URL {url!r}: use s3://bucket[/prefix] or file://directory")


def check_key(key: str, context: str) -> None:
    """Raise PackError unless `key` is '/'-separated segments of letters, digits, '.', '_' and '-'."""
    if not all(_KEY_SEGMENT.fullmatch(segment) for segment in key.split("/")):
        raise PackError(f"{context}: key {key!r} must be '/'-separated segments of letters, digits, '.', '_', '-'")


def open_store(url: StoreUrl, *, region: str | None, endpoint_url: str | None, max_attempts: int) -> Store:
    """The store for `url`; S3 stores use boto3's default credential chain, `region` and `endpoint_url`."""
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


class FileStore:
    """A local directory: each key is a read-only file created once with an atomic link, never replaced."""

    def __init__(self, url: StoreUrl) -> None:
        assert url.directory is not None
        self.url = url
        self._directory = url.directory

    def put_if_absent(self, key: str, data: bytes) -> Outcome:
        path = self._directory / self.url.object_key(key)
        location = self.url.location(key)
        try:
            with staged_file(path, data, PUBLISHED_MODE) as temporary:
                try:
                    os.link(temporary, path)
                except FileExistsError:
                    existing = hashlib.sha256(path.read_bytes()).hexdigest()
                    expected = hashlib.sha256(data).hexdigest()
                    if existing != expected:
                        raise integrity_error(location, existing, expected) from None
                    return Outcome.ALREADY_PRESENT
            _fsync_directory(path.parent)
            return Outcome.UPLOADED
        except OSError as error:
            raise PublishError(f"cannot write {location}: {error}") from error


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class _KeyExists(Exception):
    """PutObject with If-None-Match: * answered 412 PreconditionFailed."""


class S3Store:
    """An S3 bucket: one conditional, checksummed PutObject per key, retried with backoff on transient errors."""

    def __init__(
        self,
        url: StoreUrl,
        *,
        region: str | None,
        endpoint_url: str | None,
        max_attempts: int,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        try:
            import boto3
            from botocore.exceptions import BotoCoreError
        except ImportError as error:
            raise PackError(f"publishing to {url.url} needs boto3, which is not installed here") from error
        assert url.bucket is not None
        self.url = url
        self._bucket = url.bucket
        self._region = region
        self._endpoint_url = endpoint_url
        self._max_attempts = max_attempts
        self._sleep = sleep
        try:
            self._session = boto3.session.Session()
            self._client = self._session.client(
                "s3", region_name=region, endpoint_url=endpoint_url, config=_config()
            )
        except (BotoCoreError, ValueError) as error:
            raise PackError(f"cannot set up an S3 client for {url.url}: {error}") from error

    def put_if_absent(self, key: str, data: bytes) -> Outcome:
        object_key = self.url.object_key(key)
        location = self.url.location(key)
        digest = hashlib.sha256(data)
        checksum = base64.b64encode(digest.digest()).decode("ascii")
        try:
            self._call(
                "PutObject",
                location,
                lambda: self._client.put_object(
                    Bucket=self._bucket,
                    Key=object_key,
                    Body=data,
                    IfNoneMatch="*",
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=checksum,
                    ContentType="application/zip",
                ),
            )
            return Outcome.UPLOADED
        except _KeyExists:
            pass
        stored = self._stored_sha256(object_key, location, len(data))
        if stored != digest.hexdigest():
            raise integrity_error(location, stored, digest.hexdigest())
        return Outcome.ALREADY_PRESENT

    def _stored_sha256(self, object_key: str, location: str, size: int) -> str:
        """The stored object's SHA-256: its full-object checksum if S3 has one, else a hash of its bytes."""
        head = self._call(
            "HeadObject",
            location,
            lambda: self._client.head_object(Bucket=self._bucket, Key=object_key, ChecksumMode="ENABLED"),
        )
        checksum = head.get("ChecksumSHA256")
        if checksum and "-" not in checksum and head.get("ContentLength") == size:
            return base64.b64decode(checksum).hex()
        body = self._call(
            "GetObject",
            location,
            lambda: self._client.get_object(Bucket=self._bucket, Key=object_key, ChecksumMode="ENABLED")["Body"].read(),
        )
        return hashlib.sha256(body).hexdigest()

    def _call(self, operation: str, location: str, call: Callable[[], T]) -> T:
        """Run `call`, retrying transient errors; raise _KeyExists on 412, PublishError on other AWS errors."""
        from botocore.exceptions import BotoCoreError, ClientError

        attempt = 1
        while True:
            try:
                return call()
            except (BotoCoreError, ClientError) as error:
                if _status(error) == 412:
                    raise _KeyExists from error
                if attempt >= self._max_attempts or not _is_transient(error):
                    raise self._explain(operation, location, error, attempt) from error
            self._sleep(random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))))
            attempt += 1

    def _explain(self, operation: str, location: str, error: Exception, attempts: int) -> PublishError:
        from botocore.exceptions import ClientError, NoCredentialsError

        if isinstance(error, NoCredentialsError):
            return PublishError(
                f"no AWS credentials found to {operation} {location}: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                f"AWS_SECRET_ACCESS_KEY, or a web identity token (OIDC); see {TROUBLESHOOTING}"
            )
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        if not isinstance(error, ClientError):
            return PublishError(f"{operation} {location} failed{tries}: {error}")
        code = error.response.get("Error", {}).get("Code", "")
        if code == "AccessDenied" or _status(error) == 403:
            return PublishError(
                f"403 AccessDenied: {self._principal} may not {operation} {location}; check that it has "
                f"s3:PutObject and s3:GetObject on arn:aws:s3:::{self._bucket}/* and s3:ListBucket on "
                f"arn:aws:s3:::{self._bucket}, and that the bucket policy allows the request (a write-once bucket "
                f"policy denies PUTs without If-None-Match); see {TROUBLESHOOTING}"
            )
        region = f"region {self._region}" if self._region else "the default region"
        if code == "NoSuchBucket":
            return PublishError(
                f"bucket {self._bucket} does not exist (looked in {region}): create it or fix the store URL "
                f"and region; see {TROUBLESHOOTING}"
            )
        if code in _WRONG_REGION_CODES:
            return PublishError(f"bucket {self._bucket} is not in {region} ({code}): set the store's region")
        message = error.response.get("Error", {}).get("Message", "")
        return PublishError(f"{operation} {location} failed{tries}: {code} (HTTP {_status(error)}): {message}")

    @cached_property
    def _principal(self) -> str:
        """The caller's ARN, best effort: it only makes an access-denied message clearer."""
        try:
            sts = self._session.client(
                "sts", region_name=self._region, endpoint_url=self._endpoint_url, config=_config()
            )
            return str(sts.get_caller_identity()["Arn"])
        except Exception:
            return "the current AWS principal (sts:GetCallerIdentity failed)"


def _config() -> Any:
    from botocore.config import Config

    return Config(
        retries={"total_max_attempts": 1},
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        max_pool_connections=PARALLEL_UPLOADS,
    )


def _status(error: Exception) -> int | None:
    from botocore.exceptions import ClientError

    if isinstance(error, ClientError):
        return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return None


def _is_transient(error: Exception) -> bool:
    """Whether retrying might help: throttling, conflicts, 5xx, and connection errors other than TLS ones."""
    from botocore import exceptions

    if isinstance(error, exceptions.ClientError):
        status = _status(error) or 0
        return status >= 500 or status == 429 or error.response.get("Error", {}).get("Code") in _TRANSIENT_CODES
    transient = (
        exceptions.ConnectionError,
        exceptions.HTTPClientError,
        exceptions.IncompleteReadError,
        exceptions.FlexibleChecksumError,
    )
    return isinstance(error, transient) and not isinstance(error, exceptions.SSLError)
