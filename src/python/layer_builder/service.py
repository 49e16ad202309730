"""The layer builder's API and worker over any build store, artifact store and queue: the embedded
service (`layer_builder.local`) and the AWS Lambda handlers (`layer_builder.aws`) differ only in
those three.

`POST /builds` checks the request, records the build as QUEUED and queues it; the worker marks it
BUILDING, builds its zips, uploads them and marks it COMPLETED or FAILED; `GET /builds/{id}` reads
the record and signs an expiring download URL per file. Records and artifacts expire after the
service's TTL.

Every build ends COMPLETED or FAILED: a build has `build_seconds` (less a minute to upload and
record it) and fails when they run out; a result that cannot be recorded fails it; a build left
BUILDING past its time (its worker died) is failed when read, and on AWS when its message reaches
the dead-letter queue. Records change only from the statuses expected (`BuildStore.put_if`), so a
repeated or late worker never overwrites a finished build.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import math
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from layer_builder.build_request import (
    ARCHITECTURES,
    MAX_REQUIREMENTS,
    PYTHON_VERSIONS,
    BuildRequest,
    InvalidBuildRequest,
    parse_build_request,
)
from layer_builder.builder import BuildFailed, Deadline, PexSettings, build_layers

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
_BUILD_PATH = re.compile(r"/builds/([0-9a-f]{32})")
FINISH_SECONDS = 60
"""Of a build's time, what is kept to upload its zips and record it."""
MAX_RECORD_BYTES = 350_000
"""The largest record a store must keep (DynamoDB's items hold 400 KB)."""
UNEXPECTED = "The build failed unexpectedly; submit it again."
UNRECORDED = "The build finished, but its result could not be recorded; submit it again."
STOPPED = (
    "The build stopped without finishing: its worker ran out of time or memory. Submit it again, "
    "with fewer requirements or architectures if it stops again."
)
NOT_QUEUED = "The build could not be queued; submit it again."


class Status(str, enum.Enum):
    QUEUED = "QUEUED"
    BUILDING = "BUILDING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


UNFINISHED = (Status.QUEUED, Status.BUILDING)


@dataclass(frozen=True)
class LayerFile:
    filename: str
    architecture: str
    size: int
    sha256: str
    key: str


@dataclass(frozen=True)
class BuildRecord:
    build_id: str
    status: Status
    request: BuildRequest
    created_at: int
    expires_at: int
    message: str = ""
    files: tuple[LayerFile, ...] = ()
    pins: dict[str, list[dict[str, str]]] = dataclasses.field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    updated_at: int = 0
    """When the status last changed; `created_at` if not given."""

    def __post_init__(self) -> None:
        if not self.updated_at:
            object.__setattr__(self, "updated_at", self.created_at)

    def to_json(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "status": self.status.value,
            "request": self.request.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BuildRecord:
        return cls(
            build_id=data["build_id"],
            status=Status(data["status"]),
            request=BuildRequest.from_json(data["request"]),
            created_at=int(data["created_at"]),
            expires_at=int(data["expires_at"]),
            message=data["message"],
            files=tuple(LayerFile(**f) for f in data["files"]),
            pins=data["pins"],
            warnings=tuple(data["warnings"]),
            updated_at=int(data.get("updated_at", 0)),
        )


class BuildStore(Protocol):
    def put(self, record: BuildRecord) -> None:
        """Record a new build."""

    def put_if(self, record: BuildRecord, expected: tuple[Status, ...]) -> bool:
        """Replace the stored record only if its status is one of `expected`, atomically; whether
        it did."""

    def get(self, build_id: str) -> BuildRecord | None:
        """The record, expired or not, or None."""


class ArtifactStore(Protocol):
    def upload(self, key: str, path: Path, expires_at: int) -> None:
        """Store the file at `key` until `expires_at`."""

    def download_url(self, key: str, expires_at: int) -> str:
        """A URL that downloads `key` until `expires_at` (a Unix time), and not after."""


class BuildQueue(Protocol):
    def send(self, build_id: str) -> None:
        """Queue the build for a worker."""


@dataclass(frozen=True)
class Settings:
    ttl_seconds: int = 24 * 3600
    """How long records and artifacts are kept after a build is submitted."""
    url_seconds: int = 3600
    """How long a download URL works (never past the build's expiry)."""
    build_seconds: int = 900
    """How long one attempt at a build may take, uploads included (on AWS, the worker's timeout);
    a build still BUILDING a minute after that is failed when read."""
    pex: PexSettings = PexSettings(Path(tempfile.gettempdir(), "layer-builder-pex"))


@dataclass
class LayerService:
    builds: BuildStore
    artifacts: ArtifactStore
    queue: BuildQueue
    settings: Settings = Settings()
    clock: Clock = time.time

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """The API: the HTTP status and JSON body answering `method path`."""
        if path == "/options":
            return 200, {
                "python_versions": list(PYTHON_VERSIONS),
                "architectures": list(ARCHITECTURES),
                "max_requirements": MAX_REQUIREMENTS,
            }
        if path == "/builds":
            if method != "POST":
                return 405, {"error": "use POST /builds to submit a build"}
            return self.submit(body)
        match = _BUILD_PATH.fullmatch(path)
        if match:
            if method != "GET":
                return 405, {"error": "use GET /builds/{build_id} to read a build"}
            return self.status(match[1])
        return 404, {"error": f"no such resource: {path}"}

    def submit(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            request = parse_build_request(body)
        except InvalidBuildRequest as e:
            return 400, {"error": "the build request is invalid", "problems": e.problems}
        now = int(self.clock())
        record = BuildRecord(
            build_id=uuid.uuid4().hex,
            status=Status.QUEUED,
            request=request,
            created_at=now,
            expires_at=now + self.settings.ttl_seconds,
        )
        try:
            self.builds.put(record)
            self.queue.send(record.build_id)
        except Exception:
            logger.exception(f"Cannot record or queue build {record.build_id}")
            failed = self._changed(record, Status.FAILED, message=NOT_QUEUED)
            self._try_put_if(failed, (Status.QUEUED,))
            return 503, {"error": "The service cannot take builds right now; try again later."}
        return 202, {
            "build_id": record.build_id,
            "status": record.status.value,
            "expires_at": record.expires_at,
        }

    def status(self, build_id: str) -> tuple[int, dict[str, Any]]:
        now = int(self.clock())
        record = self.builds.get(build_id)
        if record is not None and self._overdue(record, now):
            stopped = self._changed(record, Status.FAILED, message=STOPPED)
            if self.builds.put_if(stopped, (Status.BUILDING,)):
                record = stopped
            else:  # it finished, or was retried, meanwhile
                record = self.builds.get(build_id)
        if record is None or record.expires_at <= now:
            return 404, {"error": f"no build {build_id}: it never existed, or it expired"}
        url_expires_at = min(now + self.settings.url_seconds, record.expires_at)
        answer: dict[str, Any] = {
            "build_id": record.build_id,
            "status": record.status.value,
            **record.request.to_json(),
            "created_at": record.created_at,
            "expires_at": record.expires_at,
        }
        if record.message:
            answer["message"] = record.message
        if record.status is Status.COMPLETED:
            answer["pins"] = record.pins
            answer["warnings"] = list(record.warnings)
            answer["files"] = [
                {
                    "filename": f.filename,
                    "architecture": f.architecture,
                    "size": f.size,
                    "sha256": f.sha256,
                    "download_url": self.artifacts.download_url(f.key, url_expires_at),
                    "download_url_expires_at": url_expires_at,
                }
                for f in record.files
            ]
        return 200, answer

    def work(
        self, build_id: str, last_attempt: bool = True, seconds_left: float | None = None
    ) -> None:
        """Build a queued build within `seconds_left` (the worker's remaining time, if under
        `build_seconds`). An unexpected error is raised for the queue to retry, the build back to
        QUEUED; on the `last_attempt` the build is marked FAILED first."""
        record = self.builds.get(build_id)
        if record is None or record.status not in UNFINISHED:
            return
        building = self._changed(record, Status.BUILDING)
        if not self.builds.put_if(building, UNFINISHED):
            return
        seconds = min(
            self.settings.build_seconds, math.inf if seconds_left is None else seconds_left
        )
        workdir = Path(tempfile.mkdtemp(prefix=f"layer-{build_id}-"))
        try:
            done = self._build(building, workdir, Deadline.after(seconds - FINISH_SECONDS))
        except BuildFailed as e:
            done = self._changed(building, Status.FAILED, message=str(e))
        except Exception:
            logger.exception(f"Build {build_id} failed unexpectedly")
            if last_attempt:
                self._finish(self._changed(building, Status.FAILED, message=UNEXPECTED))
            else:
                self._try_put_if(self._changed(building, Status.QUEUED), (Status.BUILDING,))
            raise
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        self._finish(done)

    def abandon(self, build_id: str) -> None:
        """Fail a build whose queue message was given up on, unless it finished: its worker died
        (out of time or memory) on every attempt, without recording why."""
        record = self.builds.get(build_id)
        if record is not None and record.status in UNFINISHED:
            self.builds.put_if(self._changed(record, Status.FAILED, message=STOPPED), UNFINISHED)

    def _build(self, record: BuildRecord, workdir: Path, deadline: Deadline) -> BuildRecord:
        """The COMPLETED record of `record`'s build, its zips uploaded."""
        built = build_layers(record.request, workdir, self.settings.pex, deadline)
        files = tuple(
            LayerFile(
                z.path.name,
                z.architecture,
                z.size,
                z.sha256,
                f"builds/{record.build_id}/{z.path.name}",
            )
            for z in built.zips
        )
        done = dataclasses.replace(
            record,
            status=Status.COMPLETED,
            files=files,
            pins=built.pins,
            warnings=tuple(w for z in built.zips for w in z.warnings),
        )
        size = len(json.dumps(done.to_json()).encode())
        if size > MAX_RECORD_BYTES:
            count = sum(len(pins) for pins in built.pins.values())
            raise BuildFailed(
                f"The build's {count} pins are too many to record ({size:,} bytes, at most "
                f"{MAX_RECORD_BYTES:,}): build fewer requirements at once."
            )
        for zip_, file in zip(built.zips, files):
            self.artifacts.upload(file.key, zip_.path, record.expires_at)
        return done

    def _finish(self, done: BuildRecord) -> None:
        """Record the finished build, unless another attempt finished it; if that fails, record it
        FAILED (if that fails too, raise: the build is failed once overdue)."""
        done = dataclasses.replace(done, updated_at=int(self.clock()))
        try:
            self.builds.put_if(done, (Status.BUILDING,))
        except Exception:
            logger.exception(f"Cannot record build {done.build_id} as {done.status.value}")
            failed = dataclasses.replace(
                done, status=Status.FAILED, message=UNRECORDED, files=(), pins={}, warnings=()
            )
            self.builds.put_if(failed, (Status.BUILDING,))

    def _try_put_if(self, record: BuildRecord, expected: tuple[Status, ...]) -> None:
        """`builds.put_if`, only logged if the store fails."""
        try:
            self.builds.put_if(record, expected)
        except Exception:
            logger.exception(f"Cannot record build {record.build_id} as {record.status.value}")

    def _changed(self, record: BuildRecord, status: Status, message: str = "") -> BuildRecord:
        return dataclasses.replace(
            record, status=status, message=message, updated_at=int(self.clock())
        )

    def _overdue(self, record: BuildRecord, now: int) -> bool:
        """Whether `record` is BUILDING past any worker's time: its worker died."""
        limit = self.settings.build_seconds + FINISH_SECONDS
        return record.status is Status.BUILDING and now > record.updated_at + limit
