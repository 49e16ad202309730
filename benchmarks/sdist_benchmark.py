"""What building sdists costs `./pants package`: a lambda whose requirements publish only sdists
(crcmod, a C extension cross-compiled with Zig; docopt, pure Python) against one whose requirements
publish wheels (PyYAML, a C extension; six), each for python3.13 on x86_64 and arm64.

Copies this checkout, adds both lambdas in a resolve of their own, locks it (`generate-lockfiles`,
`lambda-lock`), then packages each lambda with pantsd and a local store and named caches of its
own (cold: nothing cached, everything downloaded, Zig unpacked), again (a warm no-op, the median of
--repeat runs), and once more with a new store but the named caches kept (a developer's machine
where Zig is already unpacked and its compile cache warm, but no process is cached). Nothing is
committed: the copy is temporary. Run from the repository root:

    PYTHONPATH=tests python3 benchmarks/sdist_benchmark.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from e2e.checkout import Build, copy_checkout, run_pants, stop_pantsd

UMASK = 0o022
TZ = "UTC"
PACKAGE = "src/python/sdistbench"
LAMBDAS = {
    "sdists": ("crcmod==1.7", "docopt==0.6.2"),
    "wheels": ("PyYAML==6.0.2", "six==1.17.0"),
}
IMPORTS = {
    "sdists": "import crcmod._crcfunext\nimport docopt\n",
    "wheels": "import six\nimport yaml\n",
}


def add_lambdas(checkout: Path) -> None:
    """The `bench` resolve with both lambdas' requirements, and the two lambdas."""
    config = checkout / "pants.toml"
    text = config.read_text()
    text = text.replace(
        "[python.resolves]\n", '[python.resolves]\nbench = "3rdparty/python/bench.lock"\n'
    )
    text = text.replace(
        "[python.resolves_to_interpreter_constraints]\n",
        '[python.resolves_to_interpreter_constraints]\nbench = ["CPython>=3.10,<3.14"]\n',
    )
    config.write_text(text)
    requirements = [r for pins in LAMBDAS.values() for r in pins]
    (checkout / "3rdparty/python/bench-requirements.txt").write_text("\n".join(requirements) + "\n")
    with (checkout / "3rdparty/python/BUILD").open("a") as build:
        build.write(
            '\npython_requirements(name="bench", source="bench-requirements.txt",'
            ' resolve="bench")\n'
        )
    package = checkout / PACKAGE
    package.mkdir(parents=True)
    targets = ['python_sources(name="lib", resolve="bench")']
    for name, imports in IMPORTS.items():
        (package / f"{name}.py").write_text(
            f"{imports}\n\ndef handler(event, context):\n    return 42\n"
        )
        targets.append(
            f'lambda_artifact(name="{name}", handler="sdistbench.{name}.handler",'
            ' resolve="bench", runtime="python3.13",'
            ' architecture=parametrize("x86_64", "arm64"))'
        )
    (package / "BUILD").write_text("\n".join(targets) + "\n")


def timed(run: Callable[[], Build]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def measure(buildroot: Path, repeat: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="repro-lambda-sdist-bench-") as tmp:
        checkout = Path(tmp, "repo")
        copy_checkout(buildroot, checkout, umask=UMASK)
        add_lambdas(checkout)
        # the ./pants launcher's fallback for `[GLOBAL].ca_certs_path`, which locking needs
        certs = {k: os.environ[k] for k in ("SSL_CERT_FILE",) if k in os.environ}
        run_pants(checkout, "generate-lockfiles", "--resolve=bench", umask=UMASK, tz=TZ, env=certs)
        run_pants(checkout, "lambda-lock", umask=UMASK, tz=TZ, env=certs)
        results: dict[str, dict[str, float]] = {}
        try:
            for name in LAMBDAS:
                caches = {**certs, "PANTS_NAMED_CACHES_DIR": str(Path(tmp, f"named-{name}"))}

                def package(store: str) -> Callable[[], Build]:
                    env = {**caches, "PANTS_LOCAL_STORE_DIR": str(Path(tmp, store))}
                    target = f"{PACKAGE}:{name}"
                    return lambda: run_pants(
                        checkout, "package", target, umask=UMASK, tz=TZ, cached=True, env=env
                    )

                cold = timed(package(f"store-{name}"))
                no_op = statistics.median(timed(package(f"store-{name}")) for _ in range(repeat))
                stop_pantsd(checkout)  # a new store needs a new pantsd
                warm_caches = timed(package(f"store-{name}-again"))
                stop_pantsd(checkout)
                results[name] = {"cold": cold, "no_op": no_op, "warm_caches": warm_caches}
        finally:
            stop_pantsd(checkout)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of the warm no-op")
    args = parser.parse_args()
    buildroot = Path(
        subprocess.check_output(["git", "rev-parse", "--show-toplevel"], text=True).strip()
    )
    results = measure(buildroot, args.repeat)
    sdists, wheels = results["sdists"], results["wheels"]
    print("| `package` of one lambda, python3.13, x86_64 and arm64 | sdists | wheels | ratio |")
    print("|---|---:|---:|---:|")
    for label, key in (
        ("cold (empty store and named caches)", "cold"),
        ("warm no-op (median)", "no_op"),
        ("new store, named caches kept", "warm_caches"),
    ):
        ratio = sdists[key] / wheels[key]
        print(f"| {label} | {sdists[key]:.1f} s | {wheels[key]:.1f} s | {ratio:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
