"""Fixtures of the publishing tests: fake AWS credentials, a moto S3 server with one bucket, a
proxy.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fake_s3 import BUCKET, FAKE_AWS_ENV, FakeS3, FaultProxy


@pytest.fixture(autouse=True)
def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def moto_server() -> Iterator[FakeS3]:
    with FakeS3() as server:
        yield server


@pytest.fixture
def s3(moto_server: FakeS3) -> FakeS3:
    moto_server.reset()
    moto_server.create_bucket(BUCKET)
    return moto_server


@pytest.fixture
def proxy(s3: FakeS3) -> Iterator[FaultProxy]:
    """A recording, fault-injecting proxy in front of the fixture's S3 server."""
    with FaultProxy(s3.url) as running:
        yield running
