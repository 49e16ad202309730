"""`./pants publish ::` against a real S3 API (moto on 127.0.0.1), with faults, and the file store.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e.checkout import Build, copy_checkout, run_pants, stop_pantsd
from fake_s3 import FAKE_AWS_ENV, FakeS3, FaultProxy, refusing_url

UMASK = 0o022
TZ = "UTC"
REGION = "eu-west-1"


@dataclass(frozen=True)
class Artifact:
    """What `./pants package ::` wrote for one lambda: its metadata and zip bytes."""

    metadata: dict
    data: bytes

    @property
    def name(self) -> str:
        return self.metadata["logical_name"]

    @property
    def key(self) -> str:
        return self.metadata["s3_key"]

    @property
    def section(self) -> str:
        """Where the catalog records it: `layers` for a layer (no handler), else `lambdas`."""
        return "layers" if self.metadata["handler"] is None else "lambdas"


@dataclass(frozen=True)
class Site:
    checkout: Path
    s3: FakeS3
    artifacts: tuple[Artifact, ...]

    def publish(self, *options: str, endpoint: str, catalog: str, check: bool = False) -> Build:
        return run_pants(
            self.checkout,
            f"--lambda-publish-endpoint-url={endpoint}",
            f"--lambda-publish-region={REGION}",
            f"--lambda-publish-catalog={catalog}",
            *options,
            "publish",
            "::",
            umask=UMASK,
            tz=TZ,
            cached=True,
            env=FAKE_AWS_ENV,
            check=check,
        )

    def catalog(self, path: str) -> dict:
        return json.loads((self.checkout / path).read_text())


@pytest.fixture(scope="module")
def site(buildroot: Path) -> Iterator[Site]:
    """A checkout copy whose example lambdas are packaged (and cached), and an empty S3 server."""
    with tempfile.TemporaryDirectory(prefix="repro-lambda-e2e-", ignore_cleanup_errors=True) as tmp:
        checkout = Path(tmp, "repo")
        copy_checkout(buildroot, checkout, umask=UMASK)
        try:
            run_pants(checkout, "package", "::", umask=UMASK, tz=TZ, cached=True)
            artifacts = tuple(
                Artifact(json.loads(path.read_text()), path.with_suffix(".zip").read_bytes())
                for path in sorted((checkout / "dist").glob("src.*/*.json"))
            )
            assert {a.section for a in artifacts} == {"lambdas", "layers"}
            with FakeS3() as s3:
                yield Site(checkout, s3, artifacts)
        finally:
            stop_pantsd(checkout)


def status_of(build: Build, url: str) -> str:
    """The status column of the table row for `url`."""
    (row,) = [line for line in build.output.splitlines() if url in line.split()]
    return row.split(url, 1)[1].strip()


def assert_published(
    site: Site, catalog: dict, bucket: str, artifacts: tuple[Artifact, ...]
) -> None:
    for artifact in artifacts:
        entry = catalog[artifact.section][artifact.name]
        assert (entry["current"], entry["bucket"], entry["key"]) == (
            artifact.metadata["sha256"],
            bucket,
            artifact.key,
        )
        assert (entry["code_sha256"], entry["size"], entry["handler"]) == (
            artifact.metadata["code_sha256"],
            artifact.metadata["size"],
            artifact.metadata["handler"],
        )


def test_publish_uploads_once_then_finds_everything_present(site: Site) -> None:
    site.s3.create_bucket("first", REGION)
    with FaultProxy(site.s3.url) as proxy:
        first = site.publish(
            "--lambda-publish-store=s3://first", endpoint=proxy.url, catalog="builds/first.json"
        )
        assert first.returncode == 0, first.output
        for artifact in site.artifacts:
            assert status_of(first, f"s3://first/{artifact.key}") == "uploaded"
        assert site.s3.objects("first") == {a.key: a.data for a in site.artifacts}
        assert_published(site, site.catalog("builds/first.json"), "first", site.artifacts)
        catalog_bytes = (site.checkout / "builds/first.json").read_bytes()
        puts_after_first = len(proxy.successful("PUT"))
        assert puts_after_first == len(site.artifacts)

        second = site.publish(
            "--lambda-publish-store=s3://first", endpoint=proxy.url, catalog="builds/first.json"
        )
        assert second.returncode == 0, second.output
        for artifact in site.artifacts:
            assert status_of(second, f"s3://first/{artifact.key}") == "already present"
        assert len(proxy.successful("PUT")) == puts_after_first
        assert (site.checkout / "builds/first.json").read_bytes() == catalog_bytes


def test_planted_object_fails_its_artifact_and_keeps_its_catalog_entry(site: Site) -> None:
    site.s3.create_bucket("before", REGION)
    site.s3.create_bucket("planted", REGION)
    planted, *others = site.artifacts
    site.s3.client(REGION).put_object(Bucket="planted", Key=planted.key, Body=b"not the artifact")
    assert (
        site.publish(
            "--lambda-publish-store=s3://before", endpoint=site.s3.url, catalog="builds/p.json"
        ).returncode
        == 0
    )
    before = site.catalog("builds/p.json")

    build = site.publish(
        "--lambda-publish-store=s3://planted", endpoint=site.s3.url, catalog="builds/p.json"
    )

    assert build.returncode != 0
    assert status_of(build, f"s3://planted/{planted.key}").startswith("failed:")
    after = site.catalog("builds/p.json")
    assert after[planted.section][planted.name] == before[planted.section][planted.name]
    assert_published(site, after, "planted", tuple(others))
    assert site.s3.objects("planted")[planted.key] == b"not the artifact"


def test_publish_survives_a_faulty_network(site: Site) -> None:
    site.s3.create_bucket("faults", REGION)
    with FaultProxy(site.s3.url, failure_rate=0.3, seed=7) as proxy:
        build = site.publish(
            "--lambda-publish-store=s3://faults",
            "--lambda-publish-max-attempts=12",
            endpoint=proxy.url,
            catalog="builds/faults.json",
        )
        assert proxy.faults(), "the proxy injected no fault"
    assert build.returncode == 0, build.output
    assert site.s3.objects("faults") == {a.key: a.data for a in site.artifacts}
    assert_published(site, site.catalog("builds/faults.json"), "faults", site.artifacts)


def test_store_down_leaves_the_catalog_byte_identical(site: Site) -> None:
    local = site.publish(endpoint=site.s3.url, catalog="builds/down.json")  # the default file store
    assert local.returncode == 0, local.output
    catalog_path = site.checkout / "builds/down.json"
    before = catalog_path.read_bytes()
    with refusing_url() as down:
        build = site.publish(
            "--lambda-publish-store=s3://down",
            "--lambda-publish-max-attempts=2",
            endpoint=down,
            catalog="builds/down.json",
        )
    assert build.returncode != 0
    for artifact in site.artifacts:
        assert status_of(build, f"s3://down/{artifact.key}").startswith("failed:")
    assert catalog_path.read_bytes() == before


def test_default_file_store_and_dry_run(site: Site) -> None:
    dry = site.publish("--lambda-publish-dry-run", endpoint=site.s3.url, catalog="builds/dry.json")
    assert dry.returncode == 0, dry.output
    assert not (site.checkout / "builds/dry.json").exists()

    build = site.publish(endpoint=site.s3.url, catalog="builds/file.json")
    assert build.returncode == 0, build.output
    store = site.checkout / "dist/lambda-store"
    for artifact in site.artifacts:
        assert (store / artifact.key).read_bytes() == artifact.data
    catalog = site.catalog("builds/file.json")
    for artifact in site.artifacts:
        entry = catalog[artifact.section][artifact.name]
        assert (entry["store"], entry["bucket"], entry["current"]) == (
            "file://dist/lambda-store",
            None,
            artifact.metadata["sha256"],
        )


def test_credentials_stay_out_of_logs(site: Site) -> None:
    """The AWS secret reaches the publish process, but neither Pants' debug output nor its log."""
    secret = "do-not-log-7f3c1e9a"
    site.s3.create_bucket("secret", REGION)
    build = run_pants(
        site.checkout,
        "--no-pantsd",  # so that the engine's debug lines reach this output
        "-ldebug",
        f"--lambda-publish-endpoint-url={site.s3.url}",
        f"--lambda-publish-region={REGION}",
        "--lambda-publish-store=s3://secret",
        "--lambda-publish-catalog=builds/secret.json",
        "publish",
        "::",
        umask=UMASK,
        tz=TZ,
        cached=True,
        env={**FAKE_AWS_ENV, "AWS_SECRET_ACCESS_KEY": secret},
    )
    assert "Execute InteractiveProcess(" in build.output  # Pants logged the process it ran
    assert secret not in build.output
    for log in site.checkout.glob(".pants.d/**/*.log"):
        assert secret not in log.read_text(errors="replace"), log
    assert set(site.s3.objects("secret")) == {a.key for a in site.artifacts}
