"""The service's state machine over stores and a queue in memory, with a stand-in for the build:
every build ends COMPLETED or FAILED, and no write overwrites a finished build."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from layer_builder import service as service_module
from layer_builder.builder import BuildFailed, BuiltLayers, BuiltZip, Deadline
from layer_builder.service import (
    NOT_QUEUED,
    STOPPED,
    UNEXPECTED,
    UNRECORDED,
    BuildRecord,
    LayerService,
    Settings,
    Status,
)
from layer_builder.testutil import many_pins

SIX = {"requirements": "six==1.16.0", "python_version": "3.13", "architectures": ["arm64"]}
DYNAMODB_ITEM_BYTES = 400 * 1024


class MemoryBuildStore:
    """Records in a dict; a write of a record for which `refuse(record)` holds raises, as a
    failing database does."""

    def __init__(self) -> None:
        self.records: dict[str, BuildRecord] = {}
        self.refuse: Callable[[BuildRecord], bool] = lambda record: False

    def put(self, record: BuildRecord) -> None:
        self._check(record)
        self.records[record.build_id] = record

    def put_if(self, record: BuildRecord, expected: tuple[Status, ...]) -> bool:
        self._check(record)
        current = self.records.get(record.build_id)
        if current is None or current.status not in expected:
            return False
        self.records[record.build_id] = record
        return True

    def get(self, build_id: str) -> BuildRecord | None:
        return self.records.get(build_id)

    def _check(self, record: BuildRecord) -> None:
        if self.refuse(record):
            raise OSError(f"the store refuses {record.status.value} records")


class MemoryArtifacts:
    def __init__(self) -> None:
        self.uploaded: dict[str, bytes] = {}

    def upload(self, key: str, path: Path, expires_at: int) -> None:
        self.uploaded[key] = path.read_bytes()

    def download_url(self, key: str, expires_at: int) -> str:
        return f"https://downloads.example/{key}?expires={expires_at}"


class ListQueue:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.broken = False

    def send(self, build_id: str) -> None:
        if self.broken:
            raise ConnectionError("the queue is down")
        self.sent.append(build_id)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Service:
    """A LayerService over the fakes; `builds` replaces build_layers (the zips and pins to
    return, or an exception to raise), and records each call's deadline."""

    def __init__(self, monkeypatch, tmp_path: Path) -> None:
        self.store, self.artifacts, self.queue = MemoryBuildStore(), MemoryArtifacts(), ListQueue()
        self.clock = Clock()
        self.api = LayerService(self.store, self.artifacts, self.queue, Settings(), self.clock)
        self.tmp_path = tmp_path
        self.deadlines: list[Deadline] = []
        self.pins: dict[str, list[dict[str, str]]] = {"python3.13-arm64": [PIN]}
        self.during_build: Callable[[], None] = lambda: None
        monkeypatch.setattr(service_module, "build_layers", self._build_layers)

    def _build_layers(self, request, workdir, settings, deadline) -> BuiltLayers:
        self.deadlines.append(deadline)
        self.during_build()
        out = self.tmp_path / f"zip-{len(self.deadlines)}"
        out.mkdir()
        path = out / "combined-python3.13-arm64.zip"
        path.write_bytes(b"PK\x05\x06" + bytes(18))
        return BuiltLayers((BuiltZip(path, "arm64", 22, "0" * 64, ()),), self.pins)

    def submit(self) -> str:
        status, answer = self.api.handle("POST", "/builds", json.dumps(SIX).encode())
        assert status == 202, answer
        build_id: str = answer["build_id"]
        return build_id

    def get(self, build_id: str) -> dict[str, Any]:
        return self.api.handle("GET", f"/builds/{build_id}", b"")[1]


def raising(error: BaseException) -> Callable[[], None]:
    def during_build() -> None:
        raise error

    return during_build


PIN = {
    "name": "six",
    "version": "1.16.0",
    "wheel": "six-1.16.0-py2.py3-none-any.whl",
    "sha256": "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254",
}


@pytest.fixture
def service(monkeypatch, tmp_path: Path) -> Service:
    return Service(monkeypatch, tmp_path)


def test_a_build_completes_and_records_when(service: Service) -> None:
    build_id = service.submit()
    assert service.store.records[build_id].updated_at == service.clock.now
    service.clock.now += 30
    service.api.work(build_id)
    record = service.store.records[build_id]
    assert record.status is Status.COMPLETED and record.updated_at == service.clock.now
    assert service.get(build_id)["pins"] == {"python3.13-arm64": [PIN]}


def test_a_result_that_cannot_be_recorded_fails_the_build(service: Service) -> None:
    build_id = service.submit()
    service.store.refuse = lambda record: record.status is Status.COMPLETED
    service.api.work(build_id)
    assert service.get(build_id) == {**service.get(build_id), "status": "FAILED"}
    assert service.get(build_id)["message"] == UNRECORDED


def test_a_record_too_large_to_store_fails_the_build_saying_why(service: Service) -> None:
    # A DynamoDB item holds 400 KB: about 1,600 pins per platform, for two, do not fit.
    service.store.refuse = lambda r: len(json.dumps(r.to_json())) > DYNAMODB_ITEM_BYTES
    pins = many_pins(1600, "cp313-cp313-manylinux_2_17_x86_64.manylinux2014_x86_64")
    service.pins = {"python3.13-arm64": pins, "python3.13-x86_64": pins}
    build_id = service.submit()
    service.api.work(build_id)
    build = service.get(build_id)
    assert build["status"] == "FAILED", build
    assert build["message"].startswith("The build's 3200 pins are too many to record")
    assert service.artifacts.uploaded == {}  # nothing uploaded for a build that failed


def test_a_repeated_message_never_overwrites_a_finished_build(service: Service) -> None:
    build_id = service.submit()

    def duplicate_finishes_first() -> None:
        # SQS delivers a message at least once: another worker takes the same build meanwhile.
        service.during_build = lambda: None
        service.api.work(build_id)
        raise BuildFailed("the late attempt failed")

    service.during_build = duplicate_finishes_first
    service.api.work(build_id)
    assert service.get(build_id)["status"] == "COMPLETED"
    service.api.work(build_id)  # and once more, after the fact
    assert service.get(build_id)["status"] == "COMPLETED"
    assert len(service.deadlines) == 2


def test_a_failed_send_fails_the_build_and_answers_503(service: Service) -> None:
    service.queue.broken = True
    status, answer = service.api.handle("POST", "/builds", json.dumps(SIX).encode())
    assert status == 503 and "try again" in answer["error"]
    (record,) = service.store.records.values()
    assert (record.status, record.message) == (Status.FAILED, NOT_QUEUED)


def test_a_store_that_cannot_record_answers_503(service: Service) -> None:
    service.store.refuse = lambda record: True
    status, answer = service.api.handle("POST", "/builds", json.dumps(SIX).encode())
    assert status == 503 and service.queue.sent == []


def test_a_build_left_building_past_its_time_fails_when_read(service: Service) -> None:
    build_id = service.submit()
    service.during_build = raising(SystemExit("the worker was killed"))
    with pytest.raises(SystemExit):
        service.api.work(build_id)
    started = service.store.records[build_id].updated_at
    overdue = started + Settings().build_seconds + 60

    service.clock.now = overdue
    assert service.get(build_id)["status"] == "BUILDING"
    service.clock.now = overdue + 1
    assert service.get(build_id) == {
        **service.get(build_id),
        "status": "FAILED",
        "message": STOPPED,
    }
    assert service.store.records[build_id].status is Status.FAILED  # recorded, not just shown
    service.api.work(build_id)  # a retry of the dead attempt does not build again
    assert len(service.deadlines) == 1


def test_a_queued_build_is_never_overdue(service: Service) -> None:
    build_id = service.submit()
    service.clock.now += 6 * 3600  # a long queue is no failure
    assert service.get(build_id)["status"] == "QUEUED"


def test_each_build_gets_the_time_left_less_a_minute(service: Service) -> None:
    service.api.work(service.submit(), seconds_left=300)
    service.api.work(service.submit())
    service.api.work(service.submit(), seconds_left=5000)
    assert [d.seconds for d in service.deadlines] == [240, 840, 840]


def test_an_unexpected_error_requeues_then_fails_on_the_last_attempt(service: Service) -> None:
    build_id = service.submit()
    service.during_build = raising(RuntimeError("S3 is down"))
    with pytest.raises(RuntimeError):
        service.api.work(build_id, last_attempt=False)
    assert service.get(build_id)["status"] == "QUEUED"  # for its retry, never overdue
    with pytest.raises(RuntimeError):
        service.api.work(build_id, last_attempt=True)
    assert service.get(build_id) == {**service.get(build_id), "status": "FAILED"}
    assert service.get(build_id)["message"] == UNEXPECTED


def test_abandon_fails_only_unfinished_builds(service: Service) -> None:
    queued, completed = service.submit(), service.submit()
    service.api.work(completed)
    service.api.abandon(queued)
    service.api.abandon(completed)
    service.api.abandon("0" * 32)
    assert service.get(queued) == {**service.get(queued), "status": "FAILED", "message": STOPPED}
    assert service.get(completed)["status"] == "COMPLETED"
