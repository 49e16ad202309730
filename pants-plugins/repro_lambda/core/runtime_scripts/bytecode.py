"""Compiles a Lambda's modules to hash-based bytecode with the runtime's own Python.

Run by the interpreter of the runtime's exact `X.Y`, without hash randomization (`PYTHONHASHSEED=0
python -s -S -B bytecode.py --invalidation unchecked-hash --out OUT ROOT...`): each `.py` file
under a ROOT, at archive path `dir/name.py`, gets `OUT/dir/__pycache__/name.<cache tag>.pyc`,
whose bytes depend only on the source, its archive path and the Python version. A module that
this Python cannot compile (a third-party file for another version) gets none and is imported from
source. Standard library only, Python 3.9 syntax. On failure it prints one `error: ` line and
exits 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import py_compile
import sys

ERROR_PREFIX = "error: "
"""The same as the packer's (`repro_lambda.core.contract`), which the plugin parses."""

INVALIDATION_MODES = {
    "unchecked-hash": py_compile.PycInvalidationMode.UNCHECKED_HASH,
    "checked-hash": py_compile.PycInvalidationMode.CHECKED_HASH,
}


def compile_roots(roots: list[str], out: str, invalidation: str) -> None:
    """Write the bytecode of every module under `roots` into `out`."""
    mode = INVALIDATION_MODES[invalidation]
    for root in roots:
        paths = sorted(
            os.path.relpath(os.path.join(directory, name), root).replace(os.sep, "/")
            for directory, _, names in os.walk(root)
            for name in names
            if name.endswith(".py")
        )
        for path in paths:
            try:
                py_compile.compile(
                    os.path.join(root, path),
                    cfile=os.path.join(out, importlib.util.cache_from_source(path)),
                    dfile=path,
                    doraise=True,
                    invalidation_mode=mode,
                )
            except py_compile.PyCompileError:
                continue


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invalidation", choices=sorted(INVALIDATION_MODES), required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("roots", nargs="+")
    args = parser.parse_args(argv)
    if sys.flags.hash_randomization:
        # sets and frozensets in constants are marshalled in hash order before Python 3.11
        print(f"{ERROR_PREFIX}bytecode must be compiled with PYTHONHASHSEED=0", file=sys.stderr)
        return 2
    compile_roots(args.roots, args.out, args.invalidation)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
