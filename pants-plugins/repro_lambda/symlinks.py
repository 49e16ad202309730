"""Leaving symlinks out of a lambda's files with a warning, as the reference design's packer does.

Pants' globs follow symlinks, so they are found on disk, below the lambda's root directory.
"""

from __future__ import annotations

import logging
import os
from typing import Sequence

from pants.base.build_root import BuildRoot
from pants.core.util_rules.source_files import SourceFiles
from pants.engine.addresses import Address
from pants.engine.fs import Digest, DigestSubset, PathGlobs
from pants.engine.rules import Get

logger = logging.getLogger(__name__)


def _symlinked(build_root: BuildRoot, root: str, files: Sequence[str]) -> list[str]:
    """The files that are, or are under, a symlink below `root`."""
    found = []
    for path in files:
        parts = os.path.relpath(path, root or ".").split(os.sep)
        prefixes = (os.path.join(root, *parts[: i + 1]) for i in range(len(parts)))
        if any(os.path.islink(os.path.join(build_root.path, p)) for p in prefixes):
            found.append(path)
    return found


async def without_symlinks(
    address: Address, sources: SourceFiles, root: str, build_root: BuildRoot
) -> Digest:
    """`sources` but the files that are, or are under, a symlink below `root`."""
    links = _symlinked(build_root, root, sources.files)
    if not links:
        return sources.snapshot.digest
    for link in links:
        logger.warning(f"{address}: skipped symlink {link}: only regular files are packed")
    kept = [path for path in sources.files if path not in links]
    return await Get(Digest, DigestSubset(sources.snapshot.digest, PathGlobs(kept)))
