"""Time `./pants package` of many small lambdas: cold, a warm no-op against Pants' own floor, and
the rebuild after an edit of a module half of them import.

For each count, copies this checkout and adds that many `lambda_artifact` targets to one package
(python3.13, arm64; every second one imports a shared module, every third one pydantic; with
--manifest, as many entries of a `lambdas.toml` there, every second one taking the shared module and
none pydantic), then, with pantsd, the local cache in a new store and the named caches as a
developer has them: packages them once (cold: no process cached, downloads cached), packages again
(a no-op), lists them (Pants' floor for the same targets), infers their transitive dependencies with
Pants' `dependencies --transitive` (what packaging them must walk too), packages as many of Pants'
own `archive` targets (a no-op: what the `package` goal itself costs), each warm figure the median
of --repeat runs, and packages after appending a line to the shared module. Nothing is committed:
the copy is temporary. Run from the repository root with `PYTHONPATH=tests` (see
docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from e2e.checkout import Build, copy_checkout, run_pants, stop_pantsd

PACKAGE = "src/python/scale"
ARCHIVES = "src/scale_archives"
UMASK = 0o022
TZ = "UTC"
_KEY_RE = re.compile(r"Key: (\S+)")


def write_lambdas(checkout: Path, count: int, manifest: bool) -> None:
    """`count` lambdas in PACKAGE, each with a module of its own: `lambda_artifact` targets, or
    with `manifest` entries of a `lambdas.toml` (which take no third-party requirements here)."""
    package = checkout / PACKAGE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "shared.py").write_text("GREETING = 'hello'\n")
    targets = []
    for i in range(count):
        name = f"fn{i:03d}"
        shares = i % 2 == 0
        imports = [("import shared" if manifest else "from scale import shared")] if shares else []
        imports += ["import pydantic"] if i % 3 == 0 and not manifest else []
        body = "\n".join([*imports, "", "def handler(event, context):", "    return 42", ""])
        (package / f"{name}.py").write_text(body)
        if manifest:
            files = [f"{name}.py", *(["shared.py"] if shares else [])]
            targets.append(
                f'[[lambda]]\nlogical_name = "{name}"\nsource_dir = "{PACKAGE}"\n'
                f'runtime = "python3.13"\narch = "arm64"\nhandler = "{name}.handler"\n'
                f"include_patterns = {json.dumps(files)}\n"
            )
        else:
            targets.append(
                f'lambda_artifact(name="{name}", handler="scale.{name}.handler",'
                ' runtime="python3.13", architecture="arm64")'
            )
    if manifest:
        (package / "lambdas.toml").write_text("\n".join(targets))
        (package / "BUILD").write_text('lambda_manifest(name="lambdas")\n')
    else:
        (package / "BUILD").write_text('python_sources(name="lib")\n' + "\n".join(targets) + "\n")


def write_archives(checkout: Path, count: int) -> None:
    """`count` of Pants' own `archive` targets, each zipping one file."""
    archives = checkout / ARCHIVES
    archives.mkdir(parents=True)
    (archives / "payload.txt").write_text("hello\n")
    targets = [f'archive(name="ar{i:03d}", format="zip", files=[":payload"])' for i in range(count)]
    (archives / "BUILD").write_text(
        'files(name="payload", sources=["payload.txt"])\n' + "\n".join(targets) + "\n"
    )


def timed(run: Callable[[], Build]) -> tuple[float, Build]:
    start = time.perf_counter()
    build = run()
    return time.perf_counter() - start, build


def measure(buildroot: Path, count: int, repeat: int, manifest: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="repro-lambda-bench-") as tmp:
        checkout = Path(tmp, "repo")
        copy_checkout(buildroot, checkout, umask=UMASK)
        write_lambdas(checkout, count, manifest)
        write_archives(checkout, count)

        # a store of its own: no process of an earlier run is cached
        env = {"PANTS_LOCAL_STORE_DIR": str(Path(tmp, "lmdb_store"))}

        def pants(*args: str) -> Callable[[], Build]:
            return lambda: run_pants(checkout, *args, umask=UMASK, tz=TZ, cached=True, env=env)

        try:
            pants("list", f"{PACKAGE}::")()  # starts pantsd
            cold, built = timed(pants("package", f"{PACKAGE}::"))
            no_op = statistics.median(
                timed(pants("package", f"{PACKAGE}::"))[0] for _ in range(repeat)
            )
            floor = statistics.median(
                timed(pants("list", f"{PACKAGE}::"))[0] for _ in range(repeat)
            )
            inference = statistics.median(
                timed(pants("dependencies", "--transitive", f"{PACKAGE}::"))[0]
                for _ in range(repeat)
            )
            pants("package", f"{ARCHIVES}::")()
            archives = statistics.median(
                timed(pants("package", f"{ARCHIVES}::"))[0] for _ in range(repeat)
            )
            with (checkout / PACKAGE / "shared.py").open("a") as shared:
                shared.write("EDITED = True\n")
            edit, rebuilt = timed(pants("package", f"{PACKAGE}::"))
        finally:
            stop_pantsd(checkout)
    before, after = _KEY_RE.findall(built.output), _KEY_RE.findall(rebuilt.output)
    assert len(before) == len(after) == count, (len(before), len(after))
    rekeyed = sum(a != b for a, b in zip(sorted(before), sorted(after)))
    return {
        "cold": cold,
        "no_op": no_op,
        "floor": floor,
        "inference": inference,
        "archives": archives,
        "edit": edit,
        "rekeyed": rekeyed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("counts", nargs="*", type=int, default=[50, 500])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each warm figure")
    parser.add_argument(
        "--manifest", action="store_true", help="declare the lambdas in a `lambdas.toml` instead"
    )
    args = parser.parse_args()
    buildroot = Path(
        subprocess.check_output(["git", "rev-parse", "--show-toplevel"], text=True).strip()
    )
    results = {
        count: measure(buildroot, count, args.repeat, args.manifest) for count in args.counts
    }
    print("| figure | " + " | ".join(f"{count} lambdas" for count in results) + " |")
    print("|---|" + "---:|" * len(results))
    rows = [
        ("cold `package`", lambda r: f"{r['cold']:.1f} s"),
        ("warm no-op `package` (median)", lambda r: f"{r['no_op']:.2f} s"),
        ("Pants' floor (`list`, median)", lambda r: f"{r['floor']:.2f} s"),
        ("no-op over floor", lambda r: f"{r['no_op'] / r['floor']:.2f}x"),
        (
            "Pants' own `dependencies --transitive` of them (median)",
            lambda r: f"{r['inference']:.2f} s ({r['inference'] / r['floor']:.2f}x)",
        ),
        (
            "Pants' own `package` of as many `archive` targets (no-op, median)",
            lambda r: f"{r['archives']:.2f} s",
        ),
        (
            "edit the shared module: rebuild",
            lambda r: f"{r['edit']:.1f} s ({r['rekeyed']:.0f} re-keyed)",
        ),
    ]
    for label, cell in rows:
        print(f"| {label} | " + " | ".join(cell(r) for r in results.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
