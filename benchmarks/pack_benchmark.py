"""Benchmark the deterministic Lambda packer against stdlib zipfile (and, later, external commands).

Usage: PYTHONPATH=pants-plugins python benchmarks/pack_benchmark.py [TREE_DIR] [--repeat N]
           [--external-name NAME --external-output ZIP --external-command CMD...]

Without TREE_DIR it installs numpy, pandas, pydantic and boto3 with `pip install --target` into a
temporary directory. Every contender packs the same files (as our tree collection selects them) and
is reported as MB/s of uncompressed input and output bytes. An external contender, such as Pants'
`python_awslambda`, is a shell command that the caller supplies together with the zip path it
produces.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from repro_lambda.core.pack.tree import InputRoot, collect_tree, load_entries
from repro_lambda.core.pack.zip_writer import COMPRESSION_LEVEL, ZipEntry, build_zip

DEFAULT_PACKAGES = ("numpy", "pandas", "pydantic", "boto3")


@dataclass(frozen=True)
class Measurement:
    """One contender's best wall time and output size for a given uncompressed input size."""

    name: str
    seconds: float
    output_bytes: int
    input_bytes: int

    def report(self) -> str:
        throughput = self.input_bytes / self.seconds / 1e6
        ratio = self.output_bytes / self.input_bytes
        return (
            f"{self.name:<40} {throughput:8.1f} MB/s  {self.output_bytes:>12,} bytes "
            f" ({ratio:.4f} of input)"
        )


def install_tree(target: Path, packages: Sequence[str]) -> None:
    """Install `packages` flat into `target`, as a Lambda site-packages root."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--target",
        str(target),
        *packages,
    ]
    subprocess.run(command, check=True)


def best_of(repeat: int, build: Callable[[], int]) -> tuple[float, int]:
    """Run `build` `repeat` times; return the fastest time and the output size it returned."""
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        size = build()
        timings.append(time.perf_counter() - start)
    return min(timings), size


def stdlib_zip_size(entries: Sequence[ZipEntry]) -> int:
    """Zip `entries` (already sorted) with stdlib zipfile at ZIP_DEFLATED, compresslevel=6."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for entry in entries:
            info = zipfile.ZipInfo(entry.path, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o100755 if entry.executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entry.data, compresslevel=6)
    return buffer.tell()


def measure_command(
    name: str, command: str, output_zip: Path, input_bytes: int, repeat: int
) -> Measurement:
    """Hook for an external contender (e.g. `pants package` of a python_awslambda) producing
    `output_zip`.
    """

    def run() -> int:
        subprocess.run(command, shell=True, check=True)
        return output_zip.stat().st_size

    seconds, size = best_of(repeat, run)
    return Measurement(name, seconds, size, input_bytes)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("tree", nargs="?", type=Path, help="site-packages-like directory to pack")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per contender; the fastest counts"
    )
    parser.add_argument("--external-name", default="pants python_awslambda")
    parser.add_argument(
        "--external-command", help="shell command building the external contender's zip"
    )
    parser.add_argument("--external-output", type=Path, help="zip written by --external-command")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as scratch:
        tree_dir = args.tree
        if tree_dir is None:
            tree_dir = Path(scratch) / "site-packages"
            print(f"installing {' '.join(DEFAULT_PACKAGES)} into {tree_dir} ...", flush=True)
            install_tree(tree_dir, DEFAULT_PACKAGES)
        tree = collect_tree([InputRoot(tree_dir, third_party=True)])
        entries = load_entries(tree.files)
        input_bytes = sum(len(entry.data) for entry in entries)
        print(
            f"{len(entries):,} files, {input_bytes:,} bytes uncompressed; libdeflate level"
            f" {COMPRESSION_LEVEL}"
        )

        read_seconds, _ = best_of(args.repeat, lambda: len(load_entries(tree.files)))
        ours_seconds, ours_size = best_of(args.repeat, lambda: len(build_zip(entries)))
        stdlib_seconds, stdlib_size = best_of(args.repeat, lambda: stdlib_zip_size(entries))
        measurements = [
            Measurement("repro_lambda (in memory)", ours_seconds, ours_size, input_bytes),
            Measurement(
                "repro_lambda (with file reads)",
                ours_seconds + read_seconds,
                ours_size,
                input_bytes,
            ),
            Measurement(
                "stdlib zipfile deflate L6 (in memory)", stdlib_seconds, stdlib_size, input_bytes
            ),
        ]
        if args.external_command and args.external_output:
            measurements.append(
                measure_command(
                    args.external_name,
                    args.external_command,
                    args.external_output,
                    input_bytes,
                    args.repeat,
                )
            )
        for measurement in measurements:
            print(measurement.report())
        if not args.external_command:
            print(
                f"{args.external_name:<40} not measured: pass --external-command and"
                " --external-output"
            )
        print(
            f"speed-up vs stdlib: {stdlib_seconds / ours_seconds:.2f}x; size vs stdlib:"
            f" {ours_size / stdlib_size:.4f}"
        )


if __name__ == "__main__":
    main()
