"""Files written whole and flushed to disk before they take a name, so readers never see half."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged_file(path: Path, data: bytes, mode: int) -> Iterator[str]:
    """Yield a temporary file beside `path` holding `data` (fsynced, with `mode`).

    The caller gives it its name (by link or rename); whatever is left is removed on exit.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        yield temporary
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)
