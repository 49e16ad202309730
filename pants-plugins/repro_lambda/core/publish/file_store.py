"""A local directory as a store: each key a read-only file created once with an atomic link."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from repro_lambda.core.contract import StoreUrl
from repro_lambda.core.publish.durable import staged_file
from repro_lambda.core.publish.stores import Outcome, PublishError, integrity_error

PUBLISHED_MODE = 0o444


class FileStore:
    """A local directory: each key is a read-only file created once with an atomic link, never
    replaced.
    """

    def __init__(self, url: StoreUrl) -> None:
        assert url.directory is not None
        self.url = url
        self._directory = url.directory

    def put_if_absent(self, key: str, data: bytes) -> Outcome:
        path = self._directory / self.url.object_key(key)
        location = self.url.location(key)
        try:
            with staged_file(path, data, PUBLISHED_MODE) as temporary:
                try:
                    os.link(temporary, path)
                except FileExistsError:
                    existing = hashlib.sha256(path.read_bytes()).hexdigest()
                    expected = hashlib.sha256(data).hexdigest()
                    if existing != expected:
                        raise integrity_error(location, f"sha256 {existing}", expected) from None
                    return Outcome.ALREADY_PRESENT
            _fsync_directory(path.parent)
            return Outcome.UPLOADED
        except OSError as error:
            raise PublishError(f"cannot write {location}: {error}") from error


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
