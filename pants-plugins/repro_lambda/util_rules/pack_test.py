"""Packing with the real packer: a batch packs each member as it would be alone, in one process,
with one copy of a shared install, and keeps errors and warnings to their member."""

from __future__ import annotations

import io
import logging
import zipfile

import pytest
from pants.engine.addresses import Address
from pants.engine.fs import EMPTY_DIGEST, CreateDigest, Digest, DigestContents, FileContent
from pants.testutil.rule_runner import QueryRule, RuleRunner

from repro_lambda.core.contract import PackSpec
from repro_lambda.testutil import make_rule_runner
from repro_lambda.util_rules.pack import (
    FIRST_PARTY,
    LambdaPackagingError,
    PackedBatch,
    PackedLambda,
    PackLambdaBatch,
    PackLambdaRequest,
)

HANDLER = b"import dep\n\n\ndef handler(event, context):\n    return dep.VALUE\n"


@pytest.fixture
def rule_runner() -> RuleRunner:
    return make_rule_runner(
        QueryRule(PackedBatch, [PackLambdaBatch]),
        QueryRule(PackedLambda, [PackLambdaRequest]),
        QueryRule(Digest, [CreateDigest]),
    )


def digest(rule_runner: RuleRunner, files: dict[str, bytes], executable: bool = False) -> Digest:
    return rule_runner.request(
        Digest, [CreateDigest(FileContent(p, c, executable) for p, c in files.items())]
    )


def request(
    rule_runner: RuleRunner, name: str, sources: dict[str, bytes], install: Digest = EMPTY_DIGEST
) -> PackLambdaRequest:
    return PackLambdaRequest(
        Address("src/python/app", target_name=name),
        zip_path=f"src.python.app/{name}.zip",
        spec=PackSpec(name, "python3.12", "arm64", handler="app.handler"),
        payload=digest(rule_runner, {f"{FIRST_PARTY}/{p}": c for p, c in sources.items()}),
        has_sources=True,
        site_packages=install,
    )


def zip_of(rule_runner: RuleRunner, packed: PackedLambda) -> zipfile.ZipFile:
    contents = rule_runner.request(DigestContents, [packed.digest])
    by_path = {content.path: content.content for content in contents}
    assert set(by_path) == {packed.zip_path, packed.zip_path.replace(".zip", ".json")}
    return zipfile.ZipFile(io.BytesIO(by_path[packed.zip_path]))


def test_a_batch_packs_each_member_as_alone_and_keeps_errors_to_their_member(
    rule_runner: RuleRunner,
) -> None:
    install = digest(
        rule_runner,
        {"site-packages/dep/__init__.py": b"VALUE = 1\n", "site-packages/dep/run.sh": b"#!/bin/sh"},
        executable=True,
    )
    first = request(rule_runner, "first", {"app.py": HANDLER}, install)
    broken = request(rule_runner, "broken", {"app.py": b"def other(event, context): pass\n"})
    second = request(rule_runner, "second", {"app.py": HANDLER + b"# second\n"}, install)

    batch = rule_runner.request(PackedBatch, [PackLambdaBatch((first, broken, second))])

    assert [member.request for member in batch.members] == [first, broken, second]
    packed_first = batch.member(first).packed()
    assert packed_first == rule_runner.request(PackedLambda, [first])
    assert batch.member(second).packed() == rule_runner.request(PackedLambda, [second])
    with pytest.raises(LambdaPackagingError, match=r"^Cannot package src/python/app:broken: .*"):
        batch.member(broken).packed()
    with zip_of(rule_runner, packed_first) as archive:
        assert archive.namelist() == ["app.py", "dep/__init__.py", "dep/run.sh"]
        # the packer learns the executable files from the install's digest, not the sandbox
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        assert modes == {"app.py": 0o100644, "dep/__init__.py": 0o100755, "dep/run.sh": 0o100755}
    assert packed_first.metadata.logical_name == "first"


def test_warnings_are_logged_for_their_member(
    rule_runner: RuleRunner, caplog: pytest.LogCaptureFixture
) -> None:
    source = b"def handler(event, context):\n    return 1\n"
    quiet = request(rule_runner, "quiet", {"app.py": source})
    noisy = request(rule_runner, "noisy", {"app.py": source, "App.py": b""})
    batch = rule_runner.request(PackedBatch, [PackLambdaBatch((quiet, noisy))])
    with caplog.at_level(logging.WARNING):
        batch.member(quiet).packed()
        batch.member(noisy).packed()
    (message,) = [record.getMessage() for record in caplog.records]
    assert message.startswith("src/python/app:noisy: archive paths 'App.py', 'app.py'")
