"""Time `./pants publish` of N already-present artifacts against a local S3 server (moto).

Copies this checkout, adds N small `lambda_artifact` targets (distinct through `hash_extra`),
packages them (so packaging is cached), publishes them once, then times further publishes, in
which every artifact is already present. Needs boto3 and moto[server]; run from the repository
root with `PYTHONPATH=tests` (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from e2e.checkout import copy_checkout, run_pants, stop_pantsd
from fake_s3 import FAKE_AWS_ENV, FakeS3

BENCH_DIR = "src/python/bench"
BUCKET = "bench-artifacts"
UMASK = 0o022
TZ = "UTC"


def write_lambdas(checkout: Path, count: int) -> None:
    targets = "\n".join(
        f'lambda_artifact(name="fn{i:03d}", handler="bench.handler.handler", runtime="python3.12", '
        f'hash_extra="{i}")'
        for i in range(count)
    )
    (checkout / BENCH_DIR).mkdir(parents=True)
    (checkout / BENCH_DIR / "BUILD").write_text(f'python_sources(name="lib")\n{targets}\n')
    (checkout / BENCH_DIR / "handler.py").write_text(
        "def handler(event, context):\n    return 42\n"
    )


def timed_publish(checkout: Path, s3: FakeS3, *extra: str) -> tuple[float, str]:
    start = time.perf_counter()
    build = run_pants(
        checkout,
        *extra,
        f"--lambda-publish-store=s3://{BUCKET}",
        f"--lambda-publish-endpoint-url={s3.url}",
        "--lambda-publish-region=us-east-1",
        "publish",
        f"{BENCH_DIR}::",
        umask=UMASK,
        tz=TZ,
        cached=True,
        env=FAKE_AWS_ENV,
    )
    return time.perf_counter() - start, build.output


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=50, help="artifacts to publish")
    parser.add_argument("--repeat", type=int, default=5, help="timed already-present runs")
    args = parser.parse_args()
    buildroot = Path(
        subprocess.check_output(["git", "rev-parse", "--show-toplevel"], text=True).strip()
    )

    with tempfile.TemporaryDirectory(prefix="repro-lambda-bench-") as tmp, FakeS3() as s3:
        checkout = Path(tmp, "repo")
        copy_checkout(buildroot, checkout, umask=UMASK)
        write_lambdas(checkout, args.count)
        s3.create_bucket(BUCKET, "us-east-1")
        try:
            run_pants(checkout, "package", f"{BENCH_DIR}::", umask=UMASK, tz=TZ, cached=True)
            first, output = timed_publish(checkout, s3)
            assert output.count(" uploaded") >= args.count, output
            times = []
            for _ in range(args.repeat):
                seconds, output = timed_publish(checkout, s3)
                assert output.count("already present") >= args.count, output
                times.append(seconds)
            no_pantsd, _ = timed_publish(checkout, s3, "--no-pantsd")
        finally:
            stop_pantsd(checkout)

    print(f"{args.count} artifacts, local moto S3 server, packaging cached:")
    print(f"  first publish (uploads), warm pantsd:      {first:6.2f} s")
    print(
        f"  already present, warm pantsd (best/median): {min(times):6.2f} /"
        f" {statistics.median(times):.2f} s"
    )
    print(f"  already present, without pantsd:            {no_pantsd:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
