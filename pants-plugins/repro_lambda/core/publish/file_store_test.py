"""The file store: one read-only file per key, created with an atomic link."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from repro_lambda.core.contract import parse_store_url
from repro_lambda.core.publish.file_store import PUBLISHED_MODE, FileStore
from repro_lambda.core.publish.stores import Outcome, PublishError
from repro_lambda.core.testutil import DATA, KEY


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
