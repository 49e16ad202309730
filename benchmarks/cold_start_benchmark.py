"""Time the cold import of a Lambda handler from its unzipped artifact, with and without the
bytecode a `bytecode=...` target ships.

The zip is unzipped twice: as it is, and without its `__pycache__/` files (which is the artifact
the same target packs with `bytecode="none"`). Each round imports the handler's module once from
each, in a new `python -I -S -B` process of the runtime's version (so nothing is cached between
imports, and nothing is written), laid out as Lambda's `/var/task`. Run from the repository root
(see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import zipfile
from pathlib import Path

_IMPORT = (
    "import sys, time; sys.path[:0] = ['.']; start = time.perf_counter(); import {module};"
    " print(time.perf_counter() - start)"
)


def unzip(zip_path: Path, destination: Path, with_bytecode: bool) -> int:
    """Unzip `zip_path` into `destination` (without bytecode, unless asked); return the count of
    `.pyc` files unzipped."""
    with zipfile.ZipFile(zip_path) as archive:
        names = [n for n in archive.namelist() if with_bytecode or "__pycache__/" not in n]
        archive.extractall(destination, names)
    return sum(name.endswith(".pyc") for name in names)


def import_seconds(python: str, task_root: Path, module: str) -> float:
    result = subprocess.run(
        [python, "-I", "-S", "-B", "-c", _IMPORT.format(module=module)],
        cwd=task_root,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zip", type=Path, help="an artifact packed with bytecode")
    parser.add_argument("--module", required=True, help="the handler's module, e.g. stats.handler")
    parser.add_argument("--python", required=True, help="an interpreter of the runtime's version")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        roots = {"with bytecode": Path(tmp, "with"), "source only": Path(tmp, "without")}
        pyc_count = unzip(args.zip, roots["with bytecode"], with_bytecode=True)
        unzip(args.zip, roots["source only"], with_bytecode=False)
        times: dict[str, list[float]] = {label: [] for label in roots}
        for _ in range(args.rounds):
            for label, root in roots.items():
                times[label].append(import_seconds(args.python, root, args.module))
    print(f"{args.zip.name}: {pyc_count} .pyc files, {args.rounds} rounds")
    print("| artifact | median import (ms) | best (ms) |\n|---|---:|---:|")
    for label, samples in times.items():
        print(f"| {label} | {statistics.median(samples) * 1000:.0f} | {min(samples) * 1000:.0f} |")


if __name__ == "__main__":
    main()
