"""The contract both stores keep, tested against a directory and against a moto S3 server: a key is
written at most once and never overwritten, however many publishers race for it."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from fake_s3 import BUCKET, FakeS3, FaultProxy
from repro_lambda.core.contract import parse_store_url
from repro_lambda.core.publish.file_store import FileStore
from repro_lambda.core.publish.stores import Outcome, PublishError, Store, endpoint_warning
from repro_lambda.core.testutil import DATA, KEY, s3_store


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
            contents=lambda: {
                str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()
            },
            plant=plant_file,
        )
    proxy: FaultProxy = request.getfixturevalue("proxy")
    s3: FakeS3 = request.getfixturevalue("s3")

    def plant_object(key: str, data: bytes) -> None:
        s3.client().put_object(Bucket=BUCKET, Key=key, Body=data)

    return Backend(
        open=lambda: s3_store(proxy.url, prefix=""),
        contents=lambda: s3.objects(BUCKET),
        plant=plant_object,
    )


def test_put_once_then_already_present_and_never_overwrite(backend: Backend) -> None:
    assert backend.open().put_if_absent(KEY, DATA) is Outcome.UPLOADED
    assert backend.open().put_if_absent(KEY, DATA) is Outcome.ALREADY_PRESENT
    assert backend.contents() == {KEY: DATA}

    other_key = KEY.replace("orders", "billing")
    planted = b"X" * len(DATA)  # The same size: only the hash tells them apart.
    backend.plant(other_key, planted)
    with pytest.raises(PublishError) as failure:
        backend.open().put_if_absent(other_key, DATA)
    message = str(failure.value)
    assert f"{other_key} already holds different bytes" in message
    assert (
        f"(sha256 {hashlib.sha256(planted).hexdigest()}, expected"
        f" {hashlib.sha256(DATA).hexdigest()})" in message
    )
    assert "keys are never overwritten" in message
    assert backend.contents() == {KEY: DATA, other_key: planted}


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


@pytest.mark.parametrize(
    ("endpoint_url", "warns"),
    [
        (None, False),
        ("https://s3.example.com", False),
        ("http://127.0.0.1:9000", False),
        ("http://localhost:9000", False),
        ("http://[::1]:9000", False),
        ("http://minio.internal:9000", True),
        ("http://10.0.0.5", True),
    ],
)
def test_plain_http_endpoint_on_another_machine_warns(
    endpoint_url: str | None, warns: bool
) -> None:
    warning = endpoint_warning(endpoint_url)
    assert (warning is not None) == warns
    if warning:
        assert warning.startswith(f"endpoint_url {endpoint_url} is plain http to another machine")
