"""The layer builder's API and worker over any build store, artifact store and queue: the embedded
service (`layer_builder.local`) and the AWS Lambda handlers (`layer_builder.aws`) differ only in
those three.

`POST /builds` checks the request, records the build as QUEUED and queues it; the worker marks it
BUILDING, builds its zips, uploads them and marks it COMPLETED or FAILED; `GET /builds/{id}` reads
the record and signs an expiring download URL per file. Records and artifacts expire after the
service's TTL.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
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
from layer_builder.builder import BuildFailed, PexSettings, build_layers

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
_BUILD_PATH = re.compile(r"/builds/([0-9a-f]{32})")


class Status(str, enum.Enum):
    QUEUED = "QUEUED"
    BUILDING = "BUILDING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


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
        )


class BuildStore(Protocol):
    def put(self, record: BuildRecord) -> None:
        """Create or replace the record."""

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
        self.builds.put(record)
        self.queue.send(record.build_id)
        return 202, {
            "build_id": record.build_id,
            "status": record.status.value,
            "expires_at": record.expires_at,
        }

    def status(self, build_id: str) -> tuple[int, dict[str, Any]]:
        now = int(self.clock())
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

    def work(self, build_id: str, last_attempt: bool = True) -> None:
        """Build a queued build. An unexpected error is raised for the queue to retry; on the
        `last_attempt` the build is marked FAILED first."""
        record = self.builds.get(build_id)
        if record is None or record.status in (Status.COMPLETED, Status.FAILED):
            return
        self.builds.put(dataclasses.replace(record, status=Status.BUILDING))
        workdir = Path(tempfile.mkdtemp(prefix=f"layer-{build_id}-"))
        try:
            built = build_layers(record.request, workdir, self.settings.pex)
            files = []
            for zip_ in built.zips:
                key = f"builds/{build_id}/{zip_.path.name}"
                self.artifacts.upload(key, zip_.path, record.expires_at)
                files.append(
                    LayerFile(zip_.path.name, zip_.architecture, zip_.size, zip_.sha256, key)
                )
            done = dataclasses.replace(
                record,
                status=Status.COMPLETED,
                files=tuple(files),
                pins=built.pins,
                warnings=tuple(w for z in built.zips for w in z.warnings),
            )
        except BuildFailed as e:
            done = dataclasses.replace(record, status=Status.FAILED, message=str(e))
        except Exception:
            logger.exception(f"Build {build_id} failed unexpectedly")
            if last_attempt:
                message = "The build failed unexpectedly; submit it again."
                self.builds.put(dataclasses.replace(record, status=Status.FAILED, message=message))
            raise
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        self.builds.put(done)
