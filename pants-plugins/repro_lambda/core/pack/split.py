"""Splitting artifacts into packing batches that keep their members as others come and go."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable

BATCH_SIZE = 64
"""About the most artifacts one packer process packs."""


def split_into_batches(names: Iterable[str], size: int = BATCH_SIZE) -> list[tuple[str, ...]]:
    """`names` split by a hash of each into a power of two of batches of about `size` at most,
    each sorted: a batch keeps its members when other names come or go, until their count
    crosses a power of two."""
    unique = sorted(set(names))
    count = 1
    while count * size < len(unique):
        count *= 2
    batches: defaultdict[int, list[str]] = defaultdict(list)
    for name in unique:
        digest = hashlib.sha256(name.encode()).digest()
        batches[int.from_bytes(digest[:8], "big") % count].append(name)
    return [tuple(batch) for _, batch in sorted(batches.items())]
