"""The bytecode the packer keeps: hash-based `.pyc` files of the modules it packs."""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Sequence
from pathlib import Path

from repro_lambda.core.contract import UserError
from repro_lambda.core.pack.tree import TreeFile

_HASH_BASED = 0b01
"""The flag of a hash-based `.pyc` in its header's second word (PEP 552)."""


def select_bytecode(
    files: Sequence[TreeFile], bytecode_roots: Collection[Path], version: tuple[int, int]
) -> list[TreeFile]:
    """`files` without those of `bytecode_roots` but for each `dir/__pycache__/name.cpython-XY.pyc`
    (the runtime's version) whose module `dir/name.py` is packed; raise UserError for any other
    file there, or bytecode that is not hash-based."""
    suffix = f".cpython-{version[0]}{version[1]}.pyc"
    packed = {file.archive_path for file in files if file.root not in bytecode_roots}
    kept = []
    for file in files:
        if file.root not in bytecode_roots:
            kept.append(file)
            continue
        cache_dir, name = posixpath.split(file.archive_path)
        module, _, rest = name.partition(".")
        if posixpath.basename(cache_dir) != "__pycache__" or "." + rest != suffix:
            raise UserError(
                f"{file.archive_path!r} is not bytecode of Python {version[0]}.{version[1]}"
            )
        with open(file.source, "rb") as stream:
            header = stream.read(8)
        if len(header) < 8 or not int.from_bytes(header[4:8], "little") & _HASH_BASED:
            raise UserError(f"{file.archive_path!r} is not hash-based bytecode")
        if posixpath.join(posixpath.dirname(cache_dir), module + ".py") in packed:
            kept.append(file)
    return kept
