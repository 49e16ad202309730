"""End-to-end tests of the publisher CLI: plans in, tables, catalogs and exit codes out."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fake_s3 import BUCKET, FakeS3, FaultProxy, refusing_url
from repro_lambda.core.contract import PackSpec
from repro_lambda.core.pack.metadata import build_metadata
from repro_lambda.core.publish import file_store, stores
from repro_lambda.core.publish.publisher import main

PLUGINS_DIR = Path(__file__).resolve().parents[3]
CATALOG = "builds/catalog.json"
LATENCY = 0.05
"""Seconds the proxy delays each request by in the concurrency test, as a network would."""
FOOTER = re.compile(r"\d+ (uploaded|would publish)|Updated ")
"""The summary and catalog lines after the table (logical names in these tests never start with a
digit).
"""


def make_artifact(
    base: Path, name: str, content: bytes, store: str, *, section: str = "lambdas", **extra: Any
) -> dict[str, Any]:
    """Write a zip and its metadata under `base`; return the plan's entry for them."""
    zip_path, metadata_path = base / "dist" / f"{name}.zip", base / "dist" / f"{name}.json"
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    zip_path.write_bytes(content)
    spec = PackSpec(name, "python3.12", "arm64", handler="app.handler", key_prefix=section)
    metadata = build_metadata(content, spec=spec, entry_count=1, uncompressed_size=len(content))
    metadata_path.write_text(metadata.render(), encoding="ascii")
    entry = {
        "zip": str(zip_path),
        "metadata": str(metadata_path),
        "store": store,
        "region": "eu-west-1",
    }
    return {**entry, "lambda_at_edge": False, "section": section, **extra}


def metadata_of(artifact: dict[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = json.loads(Path(artifact["metadata"]).read_text())
    return metadata


def write_plan(base: Path, artifacts: list[dict[str, Any]], **settings: Any) -> Path:
    plan = {
        "buildroot": str(base),
        "dry_run": False,
        "catalog": CATALOG,
        "catalog_history": 10,
        "endpoint_url": None,
        "max_attempts": 6,
        "artifacts": artifacts,
        **settings,
    }
    path = base / "plan.json"
    path.write_text(json.dumps(plan), encoding="utf-8")
    return path


def publish(
    plan: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, list[list[str]], list[str]]:
    """Run the CLI: its exit code, table rows split into NAME, KEY and STATUS, and the lines after
    the table.
    """
    code = main(["--plan", str(plan)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "KEY", "STATUS"]
    table = [line.split(maxsplit=2) for line in lines[1:] if not FOOTER.match(line)]
    footer = [line for line in lines[1:] if FOOTER.match(line)]
    return code, table, footer


def snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def catalog_of(base: Path) -> dict[str, Any]:
    catalog: dict[str, Any] = json.loads((base / CATALOG).read_text())
    return catalog


def test_plain_http_endpoint_on_another_machine_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    artifact = make_artifact(tmp_path, "orders", b"orders v1", "file://dist/lambda-store")
    plan = write_plan(tmp_path, [artifact], endpoint_url="http://minio.internal:9000")
    assert main(["--plan", str(plan)]) == 0
    assert capsys.readouterr().err == (
        "warning: endpoint_url http://minio.internal:9000 is plain http to another machine:"
        " artifacts and signed requests cross the network unencrypted; use https\n"
    )


def test_file_store_publish_then_republish(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    artifacts = [
        make_artifact(tmp_path, "orders", b"orders v1", "file://dist/lambda-store"),
        make_artifact(tmp_path, "billing", b"billing v1", "file://dist/lambda-store"),
        make_artifact(tmp_path, "deps", b"deps v1", "file://dist/lambda-store", section="layers"),
    ]
    plan = write_plan(tmp_path, artifacts)
    code, table, footer = publish(plan, capsys)
    keys = {
        name: metadata_of(artifact)["s3_key"]
        for name, artifact in zip(("orders", "billing", "deps"), artifacts)
    }
    assert code == 0
    assert table == [
        ["billing", f"file://dist/lambda-store/{keys['billing']}", "uploaded"],
        ["deps", f"file://dist/lambda-store/{keys['deps']}", "uploaded"],
        ["orders", f"file://dist/lambda-store/{keys['orders']}", "uploaded"],
    ]
    assert footer == ["3 uploaded, 0 already present, 0 failed", f"Updated {CATALOG}"]
    for name, key in keys.items():
        assert (tmp_path / "dist/lambda-store" / key).read_bytes() == f"{name} v1".encode()

    orders = metadata_of(artifacts[0])
    catalog = catalog_of(tmp_path)
    assert sorted(catalog) == ["lambdas", "layers", "schema_version"]
    assert sorted(catalog["lambdas"]) == ["billing", "orders"] and sorted(catalog["layers"]) == [
        "deps"
    ]
    assert catalog["lambdas"]["orders"] == {
        "current": orders["sha256"],
        "store": "file://dist/lambda-store",
        "bucket": None,
        "key": orders["s3_key"],
        "code_sha256": orders["code_sha256"],
        "size": orders["size"],
        "runtime": "python3.12",
        "architecture": "arm64",
        "handler": "app.handler",
        "lambda_at_edge": False,
        "layers": [],
        "history": [],
    }

    before = snapshot(tmp_path / CATALOG)
    code, table, footer = publish(plan, capsys)
    assert (code, [row[2] for row in table]) == (0, ["already present"] * 3)
    assert [row[:2] for row in table] == [
        ["billing", f"file://dist/lambda-store/{keys['billing']}"],
        ["deps", f"file://dist/lambda-store/{keys['deps']}"],
        ["orders", f"file://dist/lambda-store/{keys['orders']}"],
    ]
    assert footer == ["0 uploaded, 3 already present, 0 failed"]
    assert snapshot(tmp_path / CATALOG) == before


def test_paths_are_relative_to_cwd_and_store_to_buildroot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    buildroot, workdir = tmp_path / "repo", tmp_path / "work"
    artifact = make_artifact(workdir, "orders", b"orders", "file://store")
    artifact |= {"zip": "dist/orders.zip", "metadata": "dist/orders.json"}
    plan = write_plan(workdir, [artifact], buildroot=str(buildroot))
    monkeypatch.chdir(workdir)
    code, table, _ = publish(plan, capsys)
    assert (code, table) == (
        0,
        [["orders", f"file://store/{metadata_of(artifact)['s3_key']}", "uploaded"]],
    )
    assert (buildroot / "store" / metadata_of(artifact)["s3_key"]).read_bytes() == b"orders"
    assert not (workdir / "store").exists()
    assert catalog_of(buildroot)["lambdas"]["orders"]["store"] == "file://store"


def test_s3_publish_then_republish_puts_nothing(
    tmp_path: Path, s3: FakeS3, capsys: pytest.CaptureFixture[str]
) -> None:
    artifacts = [
        make_artifact(tmp_path, f"fn{i}", f"function {i}".encode(), f"s3://{BUCKET}/team/")
        for i in range(3)
    ]
    with FaultProxy(s3.url) as proxy:
        plan = write_plan(tmp_path, artifacts, endpoint_url=proxy.url)
        code, table, footer = publish(plan, capsys)
        assert code == 0 and footer == [
            "3 uploaded, 0 already present, 0 failed",
            f"Updated {CATALOG}",
        ]
        first_puts = len(proxy.successful("PUT"))
        code, table, footer = publish(plan, capsys)
        assert code == 0 and footer == ["0 uploaded, 3 already present, 0 failed"]
        assert (first_puts, len(proxy.successful("PUT"))) == (
            3,
            3,
        ), "the second publish stores nothing"
        assert not [request for request in proxy.requests if request.method in ("DELETE", "POST")]
    metadata = metadata_of(artifacts[0])
    assert table[0] == ["fn0", f"s3://{BUCKET}/team/{metadata['s3_key']}", "already present"]
    entry = catalog_of(tmp_path)["lambdas"]["fn0"]
    assert entry["store"] == f"s3://{BUCKET}/team"
    assert (entry["bucket"], entry["key"]) == (BUCKET, f"team/{metadata['s3_key']}")
    assert s3.objects(BUCKET) == {
        f"team/{metadata_of(artifact)['s3_key']}": Path(artifact["zip"]).read_bytes()
        for artifact in artifacts
    }


def test_flaky_store_publishes_everything_exactly_once(
    tmp_path: Path, s3: FakeS3, capsys: pytest.CaptureFixture[str]
) -> None:
    artifacts = [
        make_artifact(tmp_path, f"fn{i}", os.urandom(2000), f"s3://{BUCKET}") for i in range(6)
    ]
    # Faults are drawn in arrival order and there are at least 6 requests: this seed's first 6 draws
    # hold a dropped response, so some PUT is stored by the server and only its retry's 412 tells
    # the publisher.
    with FaultProxy(s3.url, failure_rate=0.3, seed=1) as proxy:
        plan = write_plan(tmp_path, artifacts, endpoint_url=proxy.url, max_attempts=12)
        code, table, footer = publish(plan, capsys)
        assert "drop" in proxy.faults() and len(proxy.faults()) >= 3
        stored_puts = [request.path for request in proxy.successful("PUT")]
    assert code == 0, table
    assert [row[0] for row in table] == [f"fn{i}" for i in range(6)]
    assert {row[2] for row in table} <= {"uploaded", "already present"}
    assert footer[0].endswith(" already present, 0 failed")
    assert sorted(stored_puts) == sorted(
        f"/{BUCKET}/{metadata_of(artifact)['s3_key']}" for artifact in artifacts
    )
    assert s3.objects(BUCKET) == {
        metadata_of(artifact)["s3_key"]: Path(artifact["zip"]).read_bytes()
        for artifact in artifacts
    }
    catalog = catalog_of(tmp_path)
    assert {name: entry["current"] for name, entry in catalog["lambdas"].items()} == {
        f"fn{i}": metadata_of(artifact)["sha256"] for i, artifact in enumerate(artifacts)
    }


def test_store_that_stays_down_fails_every_row_and_keeps_the_catalog(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "builds").mkdir()
    (tmp_path / CATALOG).write_text('{"schema_version": 1, "lambdas": {}}')
    before = snapshot(tmp_path / CATALOG)
    artifacts = [
        make_artifact(tmp_path, f"fn{i}", f"function {i}".encode(), f"s3://{BUCKET}")
        for i in range(3)
    ]
    with refusing_url() as url:
        plan = write_plan(tmp_path, artifacts, endpoint_url=url, max_attempts=2)
        code, table, footer = publish(plan, capsys)
    assert code == 1
    assert [row[0] for row in table] == ["fn0", "fn1", "fn2"]
    for row in table:
        assert (
            row[2].startswith(f"failed: PutObject s3://{BUCKET}/lambdas/")
            and "after 2 attempts" in row[2]
        )
    assert footer == ["0 uploaded, 0 already present, 3 failed"]
    assert snapshot(tmp_path / CATALOG) == before


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_planted_object_fails_its_row_only(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    store = "file://store" if kind == "file" else f"s3://{BUCKET}"
    endpoint = request.getfixturevalue("s3").url if kind == "s3" else None
    names = ("alpha", "beta", "gamma")
    old = [make_artifact(tmp_path / "v1", name, f"{name} v1".encode(), store) for name in names]
    assert publish(write_plan(tmp_path, old, endpoint_url=endpoint), capsys)[0] == 0
    new = [make_artifact(tmp_path / "v2", name, f"{name} v2".encode(), store) for name in names]
    planted_key = metadata_of(new[1])["s3_key"]
    if kind == "file":
        (tmp_path / "store" / planted_key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "store" / planted_key).write_bytes(b"planted")
    else:
        request.getfixturevalue("s3").client().put_object(
            Bucket=BUCKET, Key=planted_key, Body=b"planted"
        )

    code, table, footer = publish(write_plan(tmp_path, new, endpoint_url=endpoint), capsys)
    assert code == 1
    assert [row[0] for row in table] == list(names)
    assert [row[2] for row in table if row[0] != "beta"] == ["uploaded", "uploaded"]
    assert table[1][2].startswith(f"failed: {store}/{planted_key} already holds different bytes")
    assert "keys are never overwritten" in table[1][2]
    assert footer == ["2 uploaded, 0 already present, 1 failed", f"Updated {CATALOG}"]
    lambdas = catalog_of(tmp_path)["lambdas"]
    assert lambdas["beta"]["current"] == metadata_of(old[1])["sha256"]
    assert lambdas["beta"]["history"] == []
    for index in (0, 2):
        assert lambdas[names[index]]["current"] == metadata_of(new[index])["sha256"]
        assert [item["sha256"] for item in lambdas[names[index]]["history"]] == [
            metadata_of(old[index])["sha256"]
        ]
    if kind == "file":
        assert (tmp_path / "store" / planted_key).read_bytes() == b"planted"
    else:
        assert request.getfixturevalue("s3").objects(BUCKET)[planted_key] == b"planted"


def test_access_denied_row_names_bucket_and_what_to_check(
    tmp_path: Path, s3: FakeS3, capsys: pytest.CaptureFixture[str]
) -> None:
    artifact = make_artifact(tmp_path, "orders", b"orders", f"s3://{BUCKET}")
    with FaultProxy(s3.url, deny_puts=True) as proxy:
        code, table, footer = publish(
            write_plan(tmp_path, [artifact], endpoint_url=proxy.url), capsys
        )
    assert code == 1
    location = f"s3://{BUCKET}/{metadata_of(artifact)['s3_key']}"
    assert [row[:2] for row in table] == [["orders", location]], "one row, its reason on one line"
    status = table[0][2]
    assert status.startswith("failed: 403 AccessDenied: ")
    assert location in status
    assert f"arn:aws:s3:::{BUCKET}/*" in status and "s3:PutObject" in status
    assert footer == ["0 uploaded, 0 already present, 1 failed"]
    assert not (tmp_path / CATALOG).exists()


def test_corrupt_zip_fails_its_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = make_artifact(tmp_path, "good", b"good", "file://store")
    bad = make_artifact(tmp_path, "bad", b"bad", "file://store")
    Path(bad["zip"]).write_bytes(b"bad, but changed after packing")
    code, table, _ = publish(write_plan(tmp_path, [good, bad]), capsys)
    assert code == 1
    assert table[0][2].startswith(f"failed: {bad['zip']} does not match its metadata")
    assert table[0][2].endswith("the build output is corrupt, rebuild it")
    assert table[1][2] == "uploaded"
    assert not (tmp_path / "store" / metadata_of(bad)["s3_key"]).exists()


def test_unexpected_error_is_an_internal_error_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(self: file_store.FileStore, key: str, data: bytes) -> stores.Outcome:
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(file_store.FileStore, "put_if_absent", explode)
    artifact = make_artifact(tmp_path, "orders", b"orders", "file://store")
    code, table, _ = publish(write_plan(tmp_path, [artifact]), capsys)
    reason = "internal error: RuntimeError: disk on fire second line"
    assert (code, table) == (
        1,
        [["orders", f"file://store/{metadata_of(artifact)['s3_key']}", f"failed: {reason}"]],
    )


def test_dry_run_touches_nothing(
    tmp_path: Path, s3: FakeS3, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "builds").mkdir()
    (tmp_path / CATALOG).write_text('{"schema_version": 1}')
    before = snapshot(tmp_path / CATALOG)
    artifacts = [
        make_artifact(tmp_path, "orders", b"orders", "file://store"),
        make_artifact(tmp_path, "billing", b"billing", f"s3://{BUCKET}/p"),
    ]
    with FaultProxy(s3.url) as proxy:
        plan = write_plan(tmp_path, artifacts, endpoint_url=proxy.url, dry_run=True)
        code, table, footer = publish(plan, capsys)
        assert proxy.requests == []
    assert code == 0
    assert table == [
        [
            "billing",
            f"s3://{BUCKET}/p/{metadata_of(artifacts[1])['s3_key']}",
            "would publish (dry run)",
        ],
        [
            "orders",
            f"file://store/{metadata_of(artifacts[0])['s3_key']}",
            "would publish (dry run)",
        ],
    ]
    assert footer == ["2 would publish (dry run)"]
    assert not (tmp_path / "store").exists()
    assert snapshot(tmp_path / CATALOG) == before
    assert s3.objects(BUCKET) == {}


@pytest.mark.parametrize(
    ("catalog", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"schema_version": 2, "lambdas": {}}', "unsupported schema_version 2"),
        ('{"schema_version": 1, "lambdas": []}', "'lambdas' is not an object"),
        (
            '{"schema_version": 1, "lambdas": {"x": {"current": 1}}}',
            "lambdas.x has no string 'current'",
        ),
        ("[]", "not a JSON object"),
    ],
)
def test_invalid_catalog_exits_2_before_publishing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], catalog: str, message: str
) -> None:
    (tmp_path / "builds").mkdir()
    (tmp_path / CATALOG).write_text(catalog)
    before = snapshot(tmp_path / CATALOG)
    plan = write_plan(tmp_path, [make_artifact(tmp_path, "orders", b"orders", "file://store")])
    assert main(["--plan", str(plan)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert (
        captured.err.startswith("error: ") and message in captured.err and CATALOG in captured.err
    )
    assert snapshot(tmp_path / CATALOG) == before
    assert not (tmp_path / "store").exists()


Mutation = Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], object]
"""Breaks a minimal plan: it changes the plan, its one artifact's entry or that artifact's metadata.
"""

BAD_PLANS: list[tuple[Mutation, str]] = [
    (
        lambda plan, artifact, metadata: plan.update(buildroot="relative/root"),
        "buildroot 'relative/root' is not an",
    ),
    (
        lambda plan, artifact, metadata: plan.update(max_attempts=0),
        "max_attempts must be at least 1",
    ),
    (
        lambda plan, artifact, metadata: plan.update(dry_run="yes"),
        "'dry_run' must be true or false, not \"yes\"",
    ),
    (
        lambda plan, artifact, metadata: plan.update(artifacts={}),
        "'artifacts' must be a list, not {}",
    ),
    (
        lambda plan, artifact, metadata: plan["artifacts"].append(artifact),
        "more than one artifact has the zip",
    ),
    (
        lambda plan, artifact, metadata: artifact.pop("metadata"),
        "plan artifact #1 has no 'metadata'",
    ),
    (
        lambda plan, artifact, metadata: artifact.update(metadata="missing.json"),
        "cannot read metadata missing.json",
    ),
    (
        lambda plan, artifact, metadata: artifact.update(store="ftp://host/dir"),
        "unsupported store URL 'ftp://host",
    ),
    (
        lambda plan, artifact, metadata: artifact.update(section="functions"),
        "'functions' is not one of lambdas, lay",
    ),
    (
        lambda plan, artifact, metadata: metadata.update(sha256="0" * 64),
        "code_sha256 is not the base64 of the digest",
    ),
    (
        lambda plan, artifact, metadata: metadata.update(s3_key="lambdas/orders/x.zip"),
        "does not end in",
    ),
    (
        lambda plan, artifact, metadata: metadata.update(s3_key="../orders/x.zip"),
        "must be '/'-separated segments",
    ),
    (
        lambda plan, artifact, metadata: metadata.update(size="12"),
        "'size' must be an integer, not \"12\"",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "message"), BAD_PLANS, ids=[message for _, message in BAD_PLANS]
)
def test_bad_plan_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mutate: Mutation, message: str
) -> None:
    artifact = make_artifact(tmp_path, "orders", b"orders", "file://store")
    metadata_path, metadata = Path(artifact["metadata"]), metadata_of(artifact)
    plan = {"buildroot": str(tmp_path), "artifacts": [artifact]}
    mutate(plan, artifact, metadata)
    metadata_path.write_text(json.dumps(metadata))
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    assert main(["--plan", str(tmp_path / "plan.json")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("error: ") and message in captured.err
    assert not (tmp_path / "store").exists()


def test_minimal_plan_uses_defaults(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    artifact = make_artifact(tmp_path, "orders", b"orders", "file://store")
    minimal = {name: artifact[name] for name in ("zip", "metadata", "store")}
    plan = {"buildroot": str(tmp_path), "artifacts": [minimal]}
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    assert main(["--plan", str(tmp_path / "plan.json")]) == 0
    assert capsys.readouterr().out.endswith(
        "1 uploaded, 0 already present, 0 failed\n"
    ), "no catalog by default"
    assert not (tmp_path / "builds").exists()


def test_unusable_aws_configuration_exits_2_before_publishing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "missing")
    artifacts = [
        make_artifact(tmp_path, "orders", b"orders", "file://store"),
        make_artifact(tmp_path, "billing", b"billing", f"s3://{BUCKET}"),
    ]
    assert main(["--plan", str(write_plan(tmp_path, artifacts))]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert (
        captured.err
        == f"error: cannot set up an S3 client for s3://{BUCKET}: The config profile (missing)"
        " could not be found\n"
    )
    assert not (tmp_path / "store").exists()


def test_missing_plan_and_bad_arguments_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--plan", str(tmp_path / "missing.json")]) == 2
    assert capsys.readouterr().err.startswith(
        f"error: cannot read plan {tmp_path / 'missing.json'}"
    )
    assert main([]) == 2
    assert capsys.readouterr().err == "error: the following arguments are required: --plan\n"


def test_already_present_artifacts_are_checked_concurrently(
    tmp_path: Path, s3: FakeS3, capsys: pytest.CaptureFixture[str]
) -> None:
    artifacts = [
        make_artifact(tmp_path, f"fn{i:02}", f"function {i}".encode(), f"s3://{BUCKET}")
        for i in range(50)
    ]
    # Each artifact takes a PUT (412) and a HEAD: one at a time, that is at least 100 * LATENCY
    # seconds.
    with FaultProxy(s3.url, latency=LATENCY) as proxy:
        plan = write_plan(tmp_path, artifacts, endpoint_url=proxy.url)
        assert publish(plan, capsys)[0] == 0
        started = time.monotonic()
        code, _, footer = publish(plan, capsys)
        elapsed = time.monotonic() - started
        assert proxy.max_in_flight > 1
    assert (code, footer) == (0, ["0 uploaded, 50 already present, 0 failed"])
    assert elapsed < 100 * LATENCY * 0.8, f"50 already-present artifacts took {elapsed:.2f} s"


def test_concurrent_publishers_keep_each_others_catalog_entries(s3: FakeS3, tmp_path: Path) -> None:
    """Two publisher processes share a catalog; their uploads overlap (each request takes 1 s),
    so each reads the catalog before the other writes it."""
    artifacts = [
        make_artifact(tmp_path, name, f"{name} v1".encode(), f"s3://{BUCKET}")
        for name in ("orders", "billing")
    ]
    env = {**os.environ, "PYTHONPATH": str(PLUGINS_DIR)}
    with FaultProxy(s3.url, latency=1.0) as proxy:
        plans = [
            write_plan(tmp_path, [artifact], endpoint_url=proxy.url).rename(
                tmp_path / f"plan-{index}.json"
            )
            for index, artifact in enumerate(artifacts)
        ]
        publishers = [
            subprocess.Popen(
                [sys.executable, "-m", "repro_lambda.core.publish.publisher", "--plan", str(plan)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for plan in plans
        ]
        outputs = [publisher.communicate(timeout=120)[0].decode() for publisher in publishers]
        assert proxy.max_in_flight == 2
    assert [publisher.returncode for publisher in publishers] == [0, 0], outputs
    assert sorted(catalog_of(tmp_path)["lambdas"]) == ["billing", "orders"]


def run_without_boto3(cwd: Path, plan: Path) -> subprocess.CompletedProcess[str]:
    """`python -m repro_lambda.core.publish.publisher` in a Python where importing boto3 or
    botocore fails."""
    code = (
        "import runpy, sys; sys.modules['boto3'] = sys.modules['botocore'] = None; "
        f"sys.argv = ['publish', '--plan', {str(plan)!r}]; "
        "runpy.run_module('repro_lambda.core.publish.publisher', run_name='__main__')"
    )
    env = {**os.environ, "PYTHONPATH": str(PLUGINS_DIR)}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def test_file_stores_need_no_boto3(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, [make_artifact(tmp_path, "orders", b"orders", "file://store")])
    result = run_without_boto3(tmp_path, plan)
    assert (result.returncode, result.stderr) == (0, "")
    assert "1 uploaded, 0 already present, 0 failed" in result.stdout

    s3_plan = write_plan(tmp_path, [make_artifact(tmp_path, "orders", b"orders", f"s3://{BUCKET}")])
    result = run_without_boto3(tmp_path, s3_plan)
    assert (result.returncode, result.stdout) == (2, "")
    assert (
        result.stderr
        == f"error: publishing to s3://{BUCKET} needs boto3, which is not installed here\n"
    )
