"""`./pants publish ::` against a real S3 API (moto on 127.0.0.1), with faults, and the file store.
"""

from __future__ import annotations

import json
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e.checkout import Build, copy_checkout, run_pants, stop_pantsd
from fake_s3 import FAKE_AWS_ENV, FakeS3, FaultProxy, refusing_url

UMASK = 0o022
TZ = "UTC"
REGION = "eu-west-1"
# Lambda@Edge artifacts go to the store's `-us-east-1` twin (bucket or directory).
EDGE_REGION = "us-east-1"
EDGE_SUFFIX = f"-{EDGE_REGION}"


@dataclass(frozen=True)
class Artifact:
    """What `./pants package ::` wrote for one lambda: its metadata and zip bytes."""

    metadata: dict
    data: bytes
    edge: bool

    @property
    def name(self) -> str:
        name: str = self.metadata["logical_name"]
        return name

    @property
    def key(self) -> str:
        key: str = self.metadata["s3_key"]
        return key

    @property
    def section(self) -> str:
        """Where the catalog records it: `layers` for a layer (no handler), else `lambdas`."""
        return "layers" if self.metadata["handler"] is None else "lambdas"

    def bucket(self, bucket: str) -> str:
        """The bucket that a publish to `bucket` puts this artifact in."""
        return bucket + EDGE_SUFFIX if self.edge else bucket

    def url(self, bucket: str) -> str:
        return f"s3://{self.bucket(bucket)}/{self.key}"


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
        catalog: dict = json.loads((self.checkout / path).read_text())
        return catalog

    def create_buckets(self, bucket: str) -> None:
        """`bucket` and its edge twin."""
        self.s3.create_bucket(bucket, REGION)
        self.s3.create_bucket(bucket + EDGE_SUFFIX, EDGE_REGION)

    def stored(self, bucket: str) -> dict[tuple[str, str], bytes]:
        """Every object of `bucket` and its edge twin, by bucket and key."""
        return {
            (name, key): data
            for name in (bucket, bucket + EDGE_SUFFIX)
            for key, data in self.s3.objects(name).items()
        }

    def expected(self, bucket: str) -> dict[tuple[str, str], bytes]:
        return {(a.bucket(bucket), a.key): a.data for a in self.artifacts}


def edge_lambdas(checkout: Path) -> set[str]:
    """The logical names of the root lambdas.toml's Lambda@Edge functions."""
    manifest = tomllib.loads((checkout / "lambdas.toml").read_text())
    return {item["logical_name"] for item in manifest["lambda"] if item.get("lambda_at_edge")}


@pytest.fixture(scope="module")
def site(buildroot: Path) -> Iterator[Site]:
    """A checkout copy whose example lambdas are packaged (and cached), and an empty S3 server."""
    with tempfile.TemporaryDirectory(prefix="repro-lambda-e2e-", ignore_cleanup_errors=True) as tmp:
        checkout = Path(tmp, "repo")
        copy_checkout(buildroot, checkout, umask=UMASK)
        try:
            run_pants(checkout, "package", "::", umask=UMASK, tz=TZ, cached=True)
            edge = edge_lambdas(checkout)
            artifacts = tuple(
                Artifact(
                    metadata,
                    path.with_suffix(".zip").read_bytes(),
                    metadata["logical_name"] in edge,
                )
                for path in sorted((checkout / "dist").glob("**/*.json"))
                if path.with_suffix(".zip").exists()
                for metadata in [json.loads(path.read_text())]
            )
            assert {a.section for a in artifacts} == {"lambdas", "layers"}
            assert {a.edge for a in artifacts} == {True, False}
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
        assert (entry["current"], entry["bucket"], entry["key"], entry["lambda_at_edge"]) == (
            artifact.metadata["sha256"],
            artifact.bucket(bucket),
            artifact.key,
            artifact.edge,
        )
        assert (entry["code_sha256"], entry["size"], entry["handler"]) == (
            artifact.metadata["code_sha256"],
            artifact.metadata["size"],
            artifact.metadata["handler"],
        )


def test_publish_uploads_once_then_finds_everything_present(site: Site) -> None:
    site.create_buckets("first")
    with FaultProxy(site.s3.url) as proxy:
        first = site.publish(
            "--lambda-publish-store=s3://first", endpoint=proxy.url, catalog="builds/first.json"
        )
        assert first.returncode == 0, first.output
        for artifact in site.artifacts:
            assert status_of(first, artifact.url("first")) == "uploaded"
        assert site.stored("first") == site.expected("first")
        assert_published(site, site.catalog("builds/first.json"), "first", site.artifacts)
        catalog_bytes = (site.checkout / "builds/first.json").read_bytes()
        puts_after_first = len(proxy.successful("PUT"))
        assert puts_after_first == len(site.artifacts)

        second = site.publish(
            "--lambda-publish-store=s3://first", endpoint=proxy.url, catalog="builds/first.json"
        )
        assert second.returncode == 0, second.output
        for artifact in site.artifacts:
            assert status_of(second, artifact.url("first")) == "already present"
        assert len(proxy.successful("PUT")) == puts_after_first
        assert (site.checkout / "builds/first.json").read_bytes() == catalog_bytes


def test_planted_object_fails_its_artifact_and_keeps_its_catalog_entry(site: Site) -> None:
    site.create_buckets("before")
    site.create_buckets("planted")
    planted = next(a for a in site.artifacts if not a.edge)
    others = tuple(a for a in site.artifacts if a is not planted)
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
    assert status_of(build, planted.url("planted")).startswith("failed:")
    after = site.catalog("builds/p.json")
    assert after[planted.section][planted.name] == before[planted.section][planted.name]
    assert_published(site, after, "planted", others)
    assert site.s3.objects("planted")[planted.key] == b"not the artifact"


def test_publish_survives_a_faulty_network(site: Site) -> None:
    site.create_buckets("faults")
    with FaultProxy(site.s3.url, failure_rate=0.3, seed=7) as proxy:
        build = site.publish(
            "--lambda-publish-store=s3://faults",
            "--lambda-publish-max-attempts=12",
            endpoint=proxy.url,
            catalog="builds/faults.json",
        )
        assert proxy.faults(), "the proxy injected no fault"
    assert build.returncode == 0, build.output
    assert site.stored("faults") == site.expected("faults")
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
        assert status_of(build, artifact.url("down")).startswith("failed:")
    assert catalog_path.read_bytes() == before


def test_default_file_store_and_dry_run(site: Site) -> None:
    dry = site.publish("--lambda-publish-dry-run", endpoint=site.s3.url, catalog="builds/dry.json")
    assert dry.returncode == 0, dry.output
    assert not (site.checkout / "builds/dry.json").exists()

    build = site.publish(endpoint=site.s3.url, catalog="builds/file.json")
    assert build.returncode == 0, build.output
    catalog = site.catalog("builds/file.json")
    for artifact in site.artifacts:
        store = artifact.bucket("dist/lambda-store")
        assert (site.checkout / store / artifact.key).read_bytes() == artifact.data
        entry = catalog[artifact.section][artifact.name]
        assert (entry["store"], entry["bucket"], entry["current"]) == (
            f"file://{store}",
            None,
            artifact.metadata["sha256"],
        )


def test_credentials_stay_out_of_logs(site: Site) -> None:
    """The AWS secret reaches the publish process, but neither Pants' debug output nor its log."""
    secret = "do-not-log-7f3c1e9a"
    site.create_buckets("secret")
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
    assert site.stored("secret").keys() == site.expected("secret").keys()
