"""An S3 bucket as a store: one conditional, checksummed PutObject per key, retried with backoff.

boto3 and botocore are imported only when a store is opened: the core also runs without them.
"""

from __future__ import annotations

import base64
import hashlib
import random
import time
from collections.abc import Callable
from functools import cached_property
from typing import Any, TypeVar, cast

from repro_lambda.core.contract import StoreUrl, UserError
from repro_lambda.core.publish.stores import (
    PARALLEL_UPLOADS,
    TROUBLESHOOTING,
    Outcome,
    PublishError,
    integrity_error,
)

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 20.0
"""Exponential backoff as in AWS' standard retry mode: 1, 2, 4 … seconds, at most 20 per retry."""
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 60
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


class _KeyExists(Exception):
    """PutObject with If-None-Match: * answered 412 PreconditionFailed."""


class S3Store:
    """An S3 bucket: one conditional, checksummed PutObject per key, retried with backoff on
    transient errors.
    """

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
            raise UserError(
                f"publishing to {url.url} needs boto3, which is not installed here"
            ) from error
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
            raise UserError(f"cannot set up an S3 client for {url.url}: {error}") from error

    def put_if_absent(self, key: str, data: bytes) -> Outcome:
        object_key = self.url.object_key(key)
        location = self.url.location(key)
        digest = hashlib.sha256(data)
        checksum = base64.b64encode(digest.digest()).decode("ascii")
        try:
            self._call(
                "PutObject",
                location,
                lambda: cast(
                    "dict[str, Any]",
                    self._client.put_object(
                        Bucket=self._bucket,
                        Key=object_key,
                        Body=data,
                        IfNoneMatch="*",
                        ChecksumAlgorithm="SHA256",
                        ChecksumSHA256=checksum,
                        ContentType="application/zip",
                    ),
                ),
            )
            return Outcome.UPLOADED
        except _KeyExists:
            pass
        stored = self._stored_sha256(object_key, location, len(data))
        if stored != digest.hexdigest():
            raise integrity_error(location, f"sha256 {stored}", digest.hexdigest())
        return Outcome.ALREADY_PRESENT

    def _stored_sha256(self, object_key: str, location: str, size: int) -> str:
        """The stored object's SHA-256: its full-object checksum if S3 has one, else a hash of its
        bytes.
        """
        head = self._call(
            "HeadObject",
            location,
            lambda: cast(
                "dict[str, Any]",
                self._client.head_object(
                    Bucket=self._bucket, Key=object_key, ChecksumMode="ENABLED"
                ),
            ),
        )
        stored_size = head.get("ContentLength")
        if stored_size != size:  # Another object: say so without downloading it.
            raise integrity_error(location, f"{stored_size:,} bytes", f"{size:,} bytes")
        checksum = head.get("ChecksumSHA256")
        if checksum and "-" not in checksum:
            return base64.b64decode(checksum).hex()
        body = self._call(
            "GetObject",
            location,
            lambda: cast(
                bytes,
                self._client.get_object(
                    Bucket=self._bucket, Key=object_key, ChecksumMode="ENABLED"
                )["Body"].read(),
            ),
        )
        return hashlib.sha256(body).hexdigest()

    def _call(self, operation: str, location: str, call: Callable[[], T]) -> T:
        """Run `call`, retrying transient errors; raise _KeyExists on 412, PublishError on other AWS
        errors.
        """
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
                delay = backoff_seconds(attempt, _retry_after(error))
            self._sleep(delay)
            attempt += 1

    def _explain(
        self, operation: str, location: str, error: Exception, attempts: int
    ) -> PublishError:
        from botocore.exceptions import ClientError, NoCredentialsError

        if isinstance(error, NoCredentialsError):
            return PublishError(
                f"no AWS credentials found to {operation} {location}: set AWS_PROFILE, or"
                " AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a web identity token (OIDC); see"
                f" {TROUBLESHOOTING}"
            )
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        if not isinstance(error, ClientError):
            return PublishError(f"{operation} {location} failed{tries}: {error}")
        code = error.response.get("Error", {}).get("Code", "")
        if code == "AccessDenied" or _status(error) == 403:
            return PublishError(
                f"403 AccessDenied: {self._principal} may not {operation} {location}; check that it"
                f" has s3:PutObject and s3:GetObject on arn:aws:s3:::{self._bucket}/* and"
                f" s3:ListBucket on arn:aws:s3:::{self._bucket}, and that the bucket policy allows"
                " the request (a write-once bucket policy denies PUTs without If-None-Match); see"
                f" {TROUBLESHOOTING}"
            )
        region = f"region {self._region}" if self._region else "the default region"
        if code == "NoSuchBucket":
            return PublishError(
                f"bucket {self._bucket} does not exist (looked in {region}): create it or fix the"
                f" store URL and region; see {TROUBLESHOOTING}"
            )
        if code in _WRONG_REGION_CODES:
            return PublishError(
                f"bucket {self._bucket} is not in {region} ({code}): set the store's region"
            )
        message = error.response.get("Error", {}).get("Message", "")
        return PublishError(
            f"{operation} {location} failed{tries}: {code} (HTTP {_status(error)}): {message}"
        )

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


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """The wait before retry `attempt` (1 for the first): the exponential step's first half, and
    up to its second half at random ("equal jitter"); at least `Retry-After`, up to the cap."""
    step: float = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
    delay = step / 2 + random.uniform(0, step / 2)
    return max(delay, min(retry_after or 0.0, BACKOFF_CAP_SECONDS))


def _retry_after(error: Exception) -> float | None:
    """The seconds of a response's `Retry-After` header, if it has one in seconds."""
    from botocore.exceptions import ClientError

    if not isinstance(error, ClientError):
        return None
    value = error.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:  # An HTTP date: the backoff applies.
        return None


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
        status: int | None = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status
    return None


def _is_transient(error: Exception) -> bool:
    """Whether retrying might help: throttling, conflicts, 5xx, and connection errors other than TLS
    ones.
    """
    from botocore import exceptions

    if isinstance(error, exceptions.ClientError):
        status = _status(error) or 0
        return (
            status >= 500
            or status == 429
            or error.response.get("Error", {}).get("Code") in _TRANSIENT_CODES
        )
    transient = (
        exceptions.ConnectionError,
        exceptions.HTTPClientError,
        exceptions.IncompleteReadError,
        exceptions.FlexibleChecksumError,
    )
    return isinstance(error, transient) and not isinstance(error, exceptions.SSLError)
