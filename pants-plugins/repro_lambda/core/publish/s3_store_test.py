"""The S3 store against a moto server: one conditional, checksummed PUT per key, retries with
bounded backoff, and failures that name what to fix."""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path

import pytest

from fake_s3 import BUCKET, FakeS3, FaultProxy, refusing_url
from repro_lambda.core.contract import PublishPlan, parse_store_url
from repro_lambda.core.publish.s3_store import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_CAP_SECONDS,
    backoff_seconds,
)
from repro_lambda.core.publish.stores import Outcome, PublishError, open_store
from repro_lambda.core.testutil import DATA, KEY, s3_store


def test_s3_put_is_one_conditional_checksummed_request(proxy: FaultProxy, s3: FakeS3) -> None:
    assert s3_store(proxy.url).put_if_absent(KEY, DATA) is Outcome.UPLOADED
    assert s3_store(proxy.url).put_if_absent(KEY, DATA) is Outcome.ALREADY_PRESENT
    puts = [request for request in proxy.requests if request.method == "PUT"]
    assert [(put.path, put.status) for put in puts] == [
        (f"/{BUCKET}/team/{KEY}", 200),
        (f"/{BUCKET}/team/{KEY}", 412),
    ]
    checksum = base64.b64encode(hashlib.sha256(DATA).digest()).decode()
    for put in puts:
        assert put.headers["if-none-match"] == "*"
        assert put.headers["x-amz-checksum-sha256"] == checksum
        assert put.headers["content-type"] == "application/zip"
        assert put.headers["content-length"] == str(len(DATA))
    assert not [
        request
        for request in proxy.requests
        if "uploads" in request.query or "partNumber" in request.query
    ]
    assert {request.method for request in proxy.requests} == {"PUT", "HEAD"}
    assert s3.objects(BUCKET) == {f"team/{KEY}": DATA}


def test_s3_object_without_sha256_checksum_is_read_and_hashed(
    proxy: FaultProxy, s3: FakeS3
) -> None:
    s3.client().put_object(Bucket=BUCKET, Key=f"team/{KEY}", Body=DATA)
    assert s3_store(proxy.url).put_if_absent(KEY, DATA) is Outcome.ALREADY_PRESENT
    assert [request.method for request in proxy.requests] == ["PUT", "HEAD", "GET"]


@pytest.mark.parametrize(
    ("script", "outcome"),
    [
        (["slow-down", "internal-error", "reset"], Outcome.UPLOADED),
        # The server stored the bytes but the answer was lost: the retry's 412 is verified, not a
        # failure.
        (["drop"], Outcome.ALREADY_PRESENT),
        (
            ["drop", None, "slow-down"],
            Outcome.ALREADY_PRESENT,
        ),  # The check after the 412 is retried too.
    ],
)
def test_s3_transient_faults_are_retried(
    s3: FakeS3, script: list[str | None], outcome: Outcome
) -> None:
    sleeps: list[float] = []
    with FaultProxy(s3.url, script=script) as proxy:
        assert s3_store(proxy.url, sleep=sleeps.append).put_if_absent(KEY, DATA) is outcome
        assert proxy.faults() == [fault for fault in script if fault]
        assert len(proxy.successful("PUT")) == 1
    assert len(sleeps) == len(proxy.faults())
    assert s3.objects(BUCKET) == {f"team/{KEY}": DATA}


def test_s3_store_down_fails_after_bounded_backoff() -> None:
    sleeps: list[float] = []
    with refusing_url() as url:
        store = s3_store(url, max_attempts=8, sleep=sleeps.append)
        with pytest.raises(
            PublishError, match=f"PutObject s3://{BUCKET}/team/{KEY} failed after 8 attempts: Could"
        ):
            store.put_if_absent(KEY, DATA)
    assert len(sleeps) == 7
    for attempt, delay in enumerate(sleeps, start=1):
        step = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
        assert step / 2 <= delay <= step


def test_s3_object_of_another_size_is_a_conflict_without_a_download(s3: FakeS3) -> None:
    s3.client().put_object(Bucket=BUCKET, Key=f"team/{KEY}", Body=b"planted")
    with FaultProxy(s3.url) as proxy:
        with pytest.raises(
            PublishError, match=r"holds different bytes \(7 bytes, expected 1,700 bytes\)"
        ):
            s3_store(proxy.url).put_if_absent(KEY, DATA)
        assert [request.method for request in proxy.requests] == ["PUT", "HEAD"]


def test_backoff_is_exponential_with_equal_jitter_capped_and_honours_retry_after() -> None:
    for attempt, step in [(1, 1), (2, 2), (5, 16), (6, 20), (30, 20)]:
        assert step / 2 <= backoff_seconds(attempt) <= step
    assert backoff_seconds(1, retry_after=7) == 7
    assert backoff_seconds(1, retry_after=3600) == BACKOFF_CAP_SECONDS


def test_s3_survives_ten_seconds_of_throttling(s3: FakeS3) -> None:
    """Every request is answered 503 SlowDown for 10 s; with the default attempts, the put waits
    it out (no Retry-After: the backoff alone is long enough)."""
    with FaultProxy(s3.url, throttle_seconds=10) as proxy:
        started = time.monotonic()
        outcome = s3_store(proxy.url, max_attempts=PublishPlan.max_attempts).put_if_absent(
            KEY, DATA
        )
        assert outcome is Outcome.UPLOADED
        assert time.monotonic() - started >= 10
        assert proxy.faults() and set(proxy.faults()) == {"slow-down"}
    assert s3.objects(BUCKET) == {f"team/{KEY}": DATA}


def test_s3_waits_as_long_as_retry_after_says(s3: FakeS3) -> None:
    sleeps: list[float] = []
    with FaultProxy(s3.url, script=["slow-down"], retry_after=3) as proxy:
        assert s3_store(proxy.url, sleep=sleeps.append).put_if_absent(KEY, DATA) is Outcome.UPLOADED
        assert proxy.faults() == ["slow-down"]
    assert sleeps == [3]


def test_s3_access_denied_names_principal_bucket_and_permissions(s3: FakeS3) -> None:
    with FaultProxy(s3.url, deny_puts=True) as proxy:
        with pytest.raises(PublishError) as failure:
            s3_store(proxy.url).put_if_absent(KEY, DATA)
        assert (
            len([request for request in proxy.requests if request.method == "PUT"]) == 1
        ), "not retried"
    message = str(failure.value)
    assert message.startswith(
        "403 AccessDenied: arn:aws:sts::123456789012:user/moto may not PutObject s3://"
    )
    assert (
        f"s3:PutObject and s3:GetObject on arn:aws:s3:::{BUCKET}/* and s3:ListBucket on" in message
    )
    assert (
        "If-None-Match" in message
        and "see Troubleshooting in `pants help lambda-publish`" in message
    )


def test_s3_missing_bucket_is_named(s3: FakeS3) -> None:
    url = parse_store_url("s3://no-such-bucket", Path("/unused"))
    store = open_store(url, region="eu-west-1", endpoint_url=s3.url, max_attempts=3)
    with pytest.raises(
        PublishError, match="bucket no-such-bucket does not exist \\(looked in region eu-west-1\\)"
    ):
        store.put_if_absent(KEY, DATA)


def test_s3_without_credentials_says_how_to_provide_them(
    s3: FakeS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(PublishError, match="no AWS credentials found to PutObject .*AWS_PROFILE"):
        s3_store(s3.url).put_if_absent(KEY, DATA)
