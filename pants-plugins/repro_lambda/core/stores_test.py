"""Tests of the stores' write-once contract, against a directory and against a moto S3 server."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fake_s3 import FakeS3, FaultProxy, refusing_url

from repro_lambda.core.conftest import BUCKET
from repro_lambda.core.errors import UserError
from repro_lambda.core.file_store import PUBLISHED_MODE, FileStore
from repro_lambda.core.s3_store import BACKOFF_BASE_SECONDS, BACKOFF_CAP_SECONDS, S3Store
from repro_lambda.core.stores import (
    Outcome,
    PublishError,
    Store,
    StoreUrl,
    open_store,
    parse_store_url,
)

KEY = f"lambdas/orders/{'ab' * 32}.zip"
DATA = b"PK\x05\x06 the artifact" * 100


@pytest.fixture
def proxy(s3: FakeS3) -> Iterator[FaultProxy]:
    with FaultProxy(s3.url) as running:
        yield running


def s3_store(endpoint_url: str, *, prefix: str = "team", max_attempts: int = 4, **kwargs: object) -> S3Store:
    url = parse_store_url(f"s3://{BUCKET}/{prefix}", Path("/unused"))
    return S3Store(url, region="eu-west-1", endpoint_url=endpoint_url, max_attempts=max_attempts, **kwargs)


@dataclass
class Backend:
    """One kind of store under test, and direct access to what it holds."""

    open: Callable[[], Store]
    """A new store on the same place, as a separate publisher would open it."""
    contents: Callable[[], dict[str, bytes]]
    """Every stored object (or file), by full key."""
    plant: Callable[[str, bytes], None]
    """Store bytes under a full key behind the store's back."""


@pytest.fixture(params=["file", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "file":
        root = tmp_path / "store"

        def plant_file(key: str, data: bytes) -> None:
            (root / key).parent.mkdir(parents=True, exist_ok=True)
            (root / key).write_bytes(data)

        return Backend(
            open=lambda: FileStore(parse_store_url("file://store", tmp_path)),
            contents=lambda: {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()},
            plant=plant_file,
        )
    proxy = request.getfixturevalue("proxy")
    s3 = request.getfixturevalue("s3")
    return Backend(
        open=lambda: s3_store(proxy.url, prefix=""),
        contents=lambda: s3.objects(BUCKET),
        plant=lambda key, data: s3.client().put_object(Bucket=BUCKET, Key=key, Body=data),
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://my-bucket", StoreUrl("s3://my-bucket", bucket="my-bucket")),
        ("s3://my-bucket/", StoreUrl("s3://my-bucket", bucket="my-bucket")),
        ("s3://my.bucket-1/a/b/", StoreUrl("s3://my.bucket-1/a/b", bucket="my.bucket-1", prefix="a/b")),
        ("file://dist/lambda-store", StoreUrl("file://dist/lambda-store", directory=Path("/repo/dist/lambda-store"))),
        ("file:///abs/store/", StoreUrl("file:///abs/store/", directory=Path("/abs/store"))),
    ],
)
def test_parse_store_url(url: str, expected: StoreUrl) -> None:
    assert parse_store_url(url, Path("/repo")) == expected


def test_locations_and_object_keys() -> None:
    prefixed = parse_store_url("s3://my-bucket/a/b/", Path("/repo"))
    assert prefixed.object_key("lambdas/x.zip") == "a/b/lambdas/x.zip"
    assert prefixed.location("lambdas/x.zip") == "s3://my-bucket/a/b/lambdas/x.zip"
    directory = parse_store_url("file:///abs/store/", Path("/repo"))
    assert (directory.object_key("lambdas/x.zip"), directory.location("lambdas/x.zip")) == (
        "lambdas/x.zip",
        "file:///abs/store/lambdas/x.zip",
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://My_Bucket", "not a valid S3 bucket name"),
        ("s3://ab", "not a valid S3 bucket name"),
        ("s3://my-bucket/../x", "must be '/'-separated segments"),
        ("s3://my-bucket/a//b", "must be '/'-separated segments"),
        ("file://", "name a directory"),
        ("https://example.com/x", "use s3://bucket[/prefix] or file://directory"),
    ],
)
def test_parse_store_url_rejects(url: str, message: str) -> None:
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_store_url(url, Path("/repo"))


def test_put_once_then_already_present_and_never_overwrite(backend: Backend) -> None:
    assert backend.open().put_if_absent(KEY, DATA) is Outcome.UPLOADED
    assert backend.open().put_if_absent(KEY, DATA) is Outcome.ALREADY_PRESENT
    assert backend.contents() == {KEY: DATA}

    other_key = KEY.replace("orders", "billing")
    backend.plant(other_key, b"planted")
    with pytest.raises(PublishError) as failure:
        backend.open().put_if_absent(other_key, DATA)
    message = str(failure.value)
    assert f"{other_key} already holds different bytes" in message
    assert f"(sha256 {hashlib.sha256(b'planted').hexdigest()}, expected {hashlib.sha256(DATA).hexdigest()})" in message
    assert "keys are never overwritten" in message
    assert backend.contents() == {KEY: DATA, other_key: b"planted"}


@pytest.mark.parametrize("run", range(3))
def test_racing_publishers_all_succeed(backend: Backend, run: int) -> None:
    publishers = [backend.open() for _ in range(4)]
    barrier = threading.Barrier(len(publishers))
    outcomes: list[Outcome | BaseException] = []

    def publish(store: Store) -> None:
        barrier.wait()
        try:
            outcomes.append(store.put_if_absent(KEY, DATA))
        except BaseException as error:
            outcomes.append(error)

    threads = [threading.Thread(target=publish, args=(store,)) for store in publishers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(outcome, Outcome) for outcome in outcomes), outcomes
    assert Outcome.UPLOADED in outcomes
    assert backend.contents() == {KEY: DATA}


def test_file_store_links_one_read_only_file(tmp_path: Path) -> None:
    store = FileStore(parse_store_url(f"file://{tmp_path}/deep/store", Path("/unused")))
    outcomes = []
    for _ in range(2):
        outcomes.append(store.put_if_absent(KEY, DATA))
    path = tmp_path / "deep/store" / KEY
    assert outcomes == [Outcome.UPLOADED, Outcome.ALREADY_PRESENT]
    assert path.read_bytes() == DATA
    assert path.stat().st_mode & 0o7777 == PUBLISHED_MODE
    assert os.listdir(path.parent) == [path.name], "temporary files are removed"


def test_file_store_race_has_exactly_one_writer(tmp_path: Path) -> None:
    stores = [FileStore(parse_store_url("file://store", tmp_path)) for _ in range(8)]
    barrier = threading.Barrier(len(stores))
    outcomes: list[Outcome] = []

    def publish(store: FileStore) -> None:
        barrier.wait()
        outcomes.append(store.put_if_absent(KEY, DATA))

    threads = [threading.Thread(target=publish, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [Outcome.ALREADY_PRESENT] * 7 + [Outcome.UPLOADED]


def test_file_store_unwritable_directory_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "store").write_bytes(b"a file where the directory should be")
    with pytest.raises(PublishError, match="cannot write file://store/lambdas/orders/"):
        FileStore(parse_store_url("file://store", tmp_path)).put_if_absent(KEY, DATA)


def test_s3_put_is_one_conditional_checksummed_request(proxy: FaultProxy, s3: FakeS3) -> None:
    assert s3_store(proxy.url).put_if_absent(KEY, DATA) is Outcome.UPLOADED
    assert s3_store(proxy.url).put_if_absent(KEY, DATA) is Outcome.ALREADY_PRESENT
    puts = [request for request in proxy.requests if request.method == "PUT"]
    assert [(put.path, put.status) for put in puts] == [(f"/{BUCKET}/team/{KEY}", 200), (f"/{BUCKET}/team/{KEY}", 412)]
    checksum = base64.b64encode(hashlib.sha256(DATA).digest()).decode()
    for put in puts:
        assert put.headers["if-none-match"] == "*"
        assert put.headers["x-amz-checksum-sha256"] == checksum
        assert put.headers["content-type"] == "application/zip"
        assert put.headers["content-length"] == str(len(DATA))
    assert not [request for request in proxy.requests if "uploads" in request.query or "partNumber" in request.query]
    assert {request.method for request in proxy.requests} == {"PUT", "HEAD"}
    assert s3.objects(BUCKET) == {f"team/{KEY}": DATA}


def test_s3_object_without_sha256_checksum_is_read_and_hashed(proxy: FaultProxy, s3: FakeS3) -> None:
    s3.client().put_object(Bucket=BUCKET, Key=f"team/{KEY}", Body=DATA)
    assert s3_store(proxy.url).put_if_absent(KEY, DATA) is Outcome.ALREADY_PRESENT
    assert [request.method for request in proxy.requests] == ["PUT", "HEAD", "GET"]


@pytest.mark.parametrize(
    ("script", "outcome"),
    [
        (["slow-down", "internal-error", "reset"], Outcome.UPLOADED),
        # The server stored the bytes but the answer was lost: the retry's 412 is verified, not a failure.
        (["drop"], Outcome.ALREADY_PRESENT),
        (["drop", None, "slow-down"], Outcome.ALREADY_PRESENT),  # The check after the 412 is retried too.
    ],
)
def test_s3_transient_faults_are_retried(s3: FakeS3, script: list[str | None], outcome: Outcome) -> None:
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
        with pytest.raises(PublishError, match=f"PutObject s3://{BUCKET}/team/{KEY} failed after 8 attempts: Could"):
            store.put_if_absent(KEY, DATA)
    assert len(sleeps) == 7
    for attempt, delay in enumerate(sleeps, start=1):
        assert 0 <= delay <= min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))


def test_s3_access_denied_names_principal_bucket_and_permissions(s3: FakeS3) -> None:
    with FaultProxy(s3.url, deny_puts=True) as proxy:
        with pytest.raises(PublishError) as failure:
            s3_store(proxy.url).put_if_absent(KEY, DATA)
        assert len([request for request in proxy.requests if request.method == "PUT"]) == 1, "not retried"
    message = str(failure.value)
    assert message.startswith("403 AccessDenied: arn:aws:sts::123456789012:user/moto may not PutObject s3://")
    assert f"s3:PutObject and s3:GetObject on arn:aws:s3:::{BUCKET}/* and s3:ListBucket on" in message
    assert "If-None-Match" in message and "docs/publishing.md#troubleshooting" in message


def test_s3_missing_bucket_is_named(s3: FakeS3) -> None:
    url = parse_store_url("s3://no-such-bucket", Path("/unused"))
    store = open_store(url, region="eu-west-1", endpoint_url=s3.url, max_attempts=3)
    with pytest.raises(PublishError, match="bucket no-such-bucket does not exist \\(looked in region eu-west-1\\)"):
        store.put_if_absent(KEY, DATA)


def test_s3_without_credentials_says_how_to_provide_them(s3: FakeS3, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(PublishError, match="no AWS credentials found to PutObject .*AWS_PROFILE"):
        s3_store(s3.url).put_if_absent(KEY, DATA)
