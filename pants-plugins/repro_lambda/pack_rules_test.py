"""`pack_lambda` with the packer process mocked: its command line, its errors and its warnings."""

from __future__ import annotations

import json
import logging

import pytest
from pants.engine.addresses import Address
from pants.engine.fs import (
    EMPTY_DIGEST,
    EMPTY_FILE_DIGEST,
    CreateDigest,
    Digest,
    DigestContents,
    DigestEntries,
    DigestSubset,
    FileContent,
    FileEntry,
    MergeDigests,
)
from pants.engine.platform import Platform
from pants.engine.process import (
    FallibleProcessResult,
    Process,
    ProcessExecutionEnvironment,
    ProcessResultMetadata,
)
from pants.testutil.rule_runner import MockGet, run_rule_with_mocks

from repro_lambda.host_tools import HostBinary
from repro_lambda.pack_rules import (
    SOURCES,
    LambdaPackagingError,
    PackedLambda,
    PackLambdaRequest,
    pack_lambda,
)
from repro_lambda.subsystems.packer import PackerTool
from repro_lambda.tool_rules import LambdaTool

PACKER = PackerTool(LambdaTool(EMPTY_DIGEST, HostBinary("python3"), "repro_lambda.core.pack"))
REQUEST = PackLambdaRequest(
    Address("src/python/app", target_name="fn"),
    zip_path="src.python.app/fn.zip",
    logical_name="fn",
    runtime="python3.12",
    architecture="arm64",
    payload=EMPTY_DIGEST,
    has_sources=True,
    has_site_packages=False,
    handler="app.handler.lambda_handler",
    layer_dists=("science-python3.12-arm64:numpy==2.2.6",),
)
METADATA = {"s3_key": "lambdas/fn/0123.zip", "entry_count": 2, "size": 300}


def _pack(exit_code: int = 0, stderr: str = "") -> tuple[PackedLambda, Process]:
    """Run `pack_lambda` on REQUEST with a packer that exits so; also the process it ran."""
    processes = []

    def run(process: Process) -> FallibleProcessResult:
        processes.append(process)
        environment = ProcessExecutionEnvironment(
            environment_name=None,
            platform=Platform.create_for_localhost().value,
            docker_image=None,
            remote_execution=False,
            remote_execution_extra_platform_properties=[],
        )
        return FallibleProcessResult(
            stdout=b"",
            stdout_digest=EMPTY_FILE_DIGEST,
            stderr=stderr.encode(),
            stderr_digest=EMPTY_FILE_DIGEST,
            exit_code=exit_code,
            output_digest=EMPTY_DIGEST,
            metadata=ProcessResultMetadata(None, environment, "ran", 0),
        )

    def read_metadata(subset: DigestSubset) -> DigestContents:
        assert subset.globs.globs == ("src.python.app/fn.json",)
        return DigestContents(
            [FileContent("src.python.app/fn.json", json.dumps(METADATA).encode())]
        )

    def list_executables(created: CreateDigest) -> Digest:
        (listing,) = created
        assert isinstance(listing, FileContent)
        executables.append(listing.content.decode())
        return EMPTY_DIGEST

    executables: list[str] = []
    payload_entries = DigestEntries(
        [
            FileEntry("site-packages/tool/run.sh", EMPTY_FILE_DIGEST, is_executable=True),
            FileEntry("site-packages/tool/big.pyc", EMPTY_FILE_DIGEST),
        ]
    )
    packed = run_rule_with_mocks(
        pack_lambda,
        rule_args=[REQUEST, PACKER],
        mock_gets=[
            MockGet(DigestEntries, (Digest,), lambda _: payload_entries),
            MockGet(Digest, (CreateDigest,), list_executables),
            MockGet(Digest, (MergeDigests,), lambda _: EMPTY_DIGEST),
            MockGet(FallibleProcessResult, (Process,), run),
            MockGet(DigestContents, (DigestSubset,), read_metadata),
        ],
    )
    (process,) = processes
    # the packer learns the executable files from the payload's digest, not the sandbox
    assert executables == ["site-packages/tool/run.sh\n"]
    return packed, process


def test_packer_command_line_holds_only_the_options_that_apply() -> None:
    packed, process = _pack()
    assert process.argv == PACKER.tool.argv(
        "--output=src.python.app/fn.zip",
        "--metadata=src.python.app/fn.json",
        "--logical-name=fn",
        "--runtime=python3.12",
        "--architecture=arm64",
        "--key-prefix=lambdas",
        "--handler=app.handler.lambda_handler",
        f"--sources={SOURCES}",
        "--layer-dist=science-python3.12-arm64:numpy==2.2.6",
        "--executables=__executables",
    )
    assert process.output_files == ("src.python.app/fn.zip", "src.python.app/fn.json")
    assert (packed.zip_path, dict(packed.metadata)) == ("src.python.app/fn.zip", METADATA)


def test_packer_errors_become_one_error_naming_the_target() -> None:
    stderr = "error: the handler is missing\nerror: too big\n"
    with pytest.raises(
        LambdaPackagingError,
        match="^Cannot package src/python/app:fn: the handler is missing; too big$",
    ):
        _pack(exit_code=2, stderr=stderr)


def test_packer_failure_without_an_error_line_shows_its_stderr() -> None:
    with pytest.raises(LambdaPackagingError, match="^Cannot package src/python/app:fn: Killed$"):
        _pack(exit_code=-9, stderr="\nKilled\n")


def test_packer_warnings_are_logged_for_the_target(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        _pack(stderr="warning: zip is over the direct upload limit\n")
    assert [record.getMessage() for record in caplog.records] == [
        "src/python/app:fn: zip is over the direct upload limit"
    ]
