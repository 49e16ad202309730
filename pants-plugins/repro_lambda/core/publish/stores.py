"""Artifact stores: what an S3 bucket (`s3_store`) and a local directory (`file_store`) share.

Each writes a key at most once and never overwrites it. boto3 and botocore are imported only when an
s3:// store is opened: the core also runs without them.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Protocol
from urllib.parse import urlsplit

from repro_lambda.core.contract import StoreUrl

TROUBLESHOOTING = "Troubleshooting in `pants help lambda-publish`"
PARALLEL_UPLOADS = 8
"""Uploads run at once; each S3 client keeps as many connections."""


class Outcome(StrEnum):
    """How a successful put went: the store holds the artifact's bytes under its key either way."""

    UPLOADED = "uploaded"
    ALREADY_PRESENT = "already present"


class PublishError(Exception):
    """A put that could not be shown to leave the artifact's bytes under its key; the message says
    what to do.
    """


class Store(Protocol):
    """The contract both stores keep: a key is written at most once and never overwritten or
    deleted.
    """

    url: StoreUrl

    def put_if_absent(self, key: str, data: bytes) -> Outcome:
        """Store `data` under `key` unless present; raise PublishError if it holds other bytes."""


def open_store(
    url: StoreUrl, *, region: str | None, endpoint_url: str | None, max_attempts: int
) -> Store:
    """The store for `url`; S3 stores use boto3's default credential chain, `region` and
    `endpoint_url`.
    """
    # Imported here: each store module builds on this one.
    from repro_lambda.core.publish.file_store import FileStore
    from repro_lambda.core.publish.s3_store import S3Store

    if url.directory is not None:
        return FileStore(url)
    return S3Store(url, region=region, endpoint_url=endpoint_url, max_attempts=max_attempts)


def endpoint_warning(endpoint_url: str | None) -> str | None:
    """A warning for a plain-http S3 endpoint on another machine: keys and bytes travel clear."""
    if endpoint_url is None:
        return None
    url = urlsplit(endpoint_url)
    host = url.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if url.scheme != "http" or loopback:
        return None
    return (
        f"endpoint_url {endpoint_url} is plain http to another machine: artifacts and signed"
        " requests cross the network unencrypted; use https"
    )


def integrity_error(location: str, found: str, expected: str) -> PublishError:
    """The failure for a key that already holds other bytes than the artifact's: `found` and
    `expected` say how they differ, e.g. `sha256 <hex>` and `<hex>`."""
    return PublishError(
        f"{location} already holds different bytes ({found}, expected {expected}); keys are"
        " never overwritten: something other than this publisher"
        " wrote that key, so find out what, and do not delete it while functions may be using it;"
        f" see {TROUBLESHOOTING}"
    )
