"""`pants publish` planning: which targets publish together, the plan, skipping, and secrets."""

from __future__ import annotations

import json
from textwrap import dedent

import pytest
from pants.core.goals.package import (
    BuiltPackage,
    BuiltPackageArtifact,
    EnvironmentAwarePackageRequest,
)
from pants.core.goals.publish import PublishPackages, PublishProcesses
from pants.engine.addresses import Address
from pants.engine.fs import EMPTY_DIGEST, Digest, DigestContents, DigestSubset, PathGlobs
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import MockGet, RuleRunner, run_rule_with_mocks

from repro_lambda.goals.package import LambdaArtifactFieldSet
from repro_lambda.goals.publish import (
    InvalidLambdaStore,
    LambdaPublishFieldSet,
    PublishBatch,
    PublishLambdaRequest,
    _PublishProcessRequest,
    publish_lambda,
)
from repro_lambda.target_types import LambdaArtifactTarget
from repro_lambda.testutil import (
    ENV_INHERIT,
    LAMBDAS_LOCK,
    REPO_ROOT,
    lambda_options,
    make_rule_runner,
)

BUILD = dedent(
    """\
    python_sources(name="lib")
    lambda_artifact(name="api", handler="shop.api.handler", runtime="python3.12")
    lambda_artifact(
        name="edge", handler="shop.edge.handler", runtime="python3.12", lambda_at_edge=True
    )
    lambda_artifact(name="old", handler="shop.api.handler", runtime="python3.12", skip_publish=True)
    """
)
API, EDGE, OLD = (Address("src/python/shop", target_name=name) for name in ("api", "edge", "old"))


@pytest.fixture
def rule_runner() -> RuleRunner:
    rule_runner = make_rule_runner(
        QueryRule(PublishBatch, []),
        QueryRule(PublishProcesses, [PublishLambdaRequest]),
        QueryRule(Digest, [DigestSubset]),
    )
    rule_runner.write_files(
        {
            LAMBDAS_LOCK: (REPO_ROOT / LAMBDAS_LOCK).read_text(),
            "src/python/shop/BUILD": BUILD,
            "src/python/shop/api.py": "def handler(event, context):\n    return 'api'\n",
            "src/python/shop/edge.py": "def handler(event, context):\n    return 'edge'\n",
        }
    )
    return rule_runner


def _set_cli(
    rule_runner: RuleRunner, *args: str, pwd: str | None = None, env: dict | None = None
) -> None:
    environment = {**({"PWD": pwd} if pwd else {}), **(env or {})}
    rule_runner.set_options(
        [*lambda_options(), "publish", *args], env=environment, env_inherit=ENV_INHERIT
    )


def _publish(rule_runner: RuleRunner, address: Address) -> PublishProcesses:
    target = rule_runner.get_target(address)
    package = rule_runner.request(BuiltPackage, [LambdaArtifactFieldSet.create(target)])
    request = PublishLambdaRequest(LambdaPublishFieldSet.create(target), (package,))
    return rule_runner.request(PublishProcesses, [request])


def _plan(rule_runner: RuleRunner, processes: PublishProcesses) -> dict:
    (publish,) = processes
    assert publish.process is not None
    digest = rule_runner.request(
        Digest, [DigestSubset(publish.process.process.input_digest, PathGlobs(["**/plan.json"]))]
    )
    (plan,) = rule_runner.request(DigestContents, [digest])
    fields: dict = json.loads(plan.content)
    return fields


def test_batch_follows_the_command_line(rule_runner: RuleRunner) -> None:
    _set_cli(rule_runner, "src/python/shop::", pwd=rule_runner.build_root)
    batch = rule_runner.request(PublishBatch, [])
    assert [publish.address for _, publish in batch.field_sets] == [API, EDGE, OLD]

    _set_cli(rule_runner, "shop:edge", pwd=f"{rule_runner.build_root}/src/python")
    batch = rule_runner.request(PublishBatch, [])
    assert [publish.address for _, publish in batch.field_sets] == [EDGE]


@pytest.mark.parametrize("pwd", [None, "/"])
def test_no_batch_without_a_working_directory_in_the_build_root(
    rule_runner: RuleRunner, pwd
) -> None:
    _set_cli(rule_runner, "src/python/shop::", pwd=pwd)
    assert rule_runner.request(PublishBatch, []).field_sets == ()


def test_first_target_publishes_the_batch_in_one_process(rule_runner: RuleRunner) -> None:
    _set_cli(
        rule_runner,
        "src/python/shop::",
        "--lambda-publish-store=s3://artifacts/team",
        "--lambda-publish-region=eu-west-1",
        pwd=rule_runner.build_root,
        env={"AWS_SECRET_ACCESS_KEY": "s3cr3t", "UNRELATED_SECRET": "x"},
    )
    leader = _publish(rule_runner, API)
    (publish,) = leader
    assert publish.names == ("src.python.shop/api.zip", "src.python.shop/edge.zip")
    assert publish.description == "s3://artifacts-us-east-1/team and s3://artifacts/team"
    plan = _plan(rule_runner, leader)
    assert [
        (a["zip"], a["metadata"], a["store"], a["region"], a["lambda_at_edge"])
        for a in plan["artifacts"]
    ] == [
        (
            "src.python.shop/api.zip",
            "src.python.shop/api.json",
            "s3://artifacts/team",
            "eu-west-1",
            False,
        ),
        (
            "src.python.shop/edge.zip",
            "src.python.shop/edge.json",
            "s3://artifacts-us-east-1/team",
            "us-east-1",
            True,
        ),
    ]
    assert (plan["catalog"], plan["dry_run"], plan["buildroot"]) == (
        "builds/catalog.json",
        False,
        rule_runner.build_root,
    )
    # The AWS secret reaches the process, but not its repr (which Pants logs), nor other variables.
    assert publish.process
    env = publish.process.process.env
    assert env["AWS_SECRET_ACCESS_KEY"] == "s3cr3t" and "UNRELATED_SECRET" not in env
    assert "s3cr3t" not in repr(publish.process)

    assert list(_publish(rule_runner, EDGE)) == []
    (skipped,) = _publish(rule_runner, OLD)
    assert skipped.process is None
    assert skipped.description == "(by `skip_publish` on src/python/shop:old)"


def test_target_outside_the_batch_publishes_alone(rule_runner: RuleRunner) -> None:
    _set_cli(rule_runner, "--lambda-publish-dry-run", "src/python/shop::")  # No PWD: no batch.
    processes = _publish(rule_runner, EDGE)
    plan = _plan(rule_runner, processes)
    assert [a["zip"] for a in plan["artifacts"]] == ["src.python.shop/edge.zip"]
    assert plan["dry_run"] is True
    assert plan["artifacts"][0]["store"] == "file://dist/lambda-store-us-east-1"
    assert processes[0].description == "file://dist/lambda-store-us-east-1 (dry run)"


def test_invalid_store(rule_runner: RuleRunner) -> None:
    _set_cli(rule_runner, "--lambda-publish-store=artifacts-bucket", "src/python/shop:api")
    with pytest.raises(ExecutionError) as exc_info:
        _publish(rule_runner, API)
    (error,) = exc_info.value.wrapped_exceptions
    assert isinstance(error, InvalidLambdaStore)
    assert "`[lambda-publish].store` must be `s3://bucket[/prefix]` or `file://path`" in str(error)


def _field_sets(
    name: str, **fields: object
) -> tuple[LambdaArtifactFieldSet, LambdaPublishFieldSet]:
    target = LambdaArtifactTarget(
        {"handler": f"shop.{name}.handler", "runtime": "python3.12", **fields},
        Address("src/python/shop", target_name=name),
    )
    return LambdaArtifactFieldSet.create(target), LambdaPublishFieldSet.create(target)


def _built(name: str) -> BuiltPackage:
    return BuiltPackage(EMPTY_DIGEST, (BuiltPackageArtifact(f"src.python.shop/{name}.zip"),))


def _publish_with_mocks(
    publish: LambdaPublishFieldSet, batch: PublishBatch
) -> tuple[PublishProcesses, list[_PublishProcessRequest]]:
    """`publish_lambda` for `publish`, packages and processes mocked; also the process requests."""
    requested: list[_PublishProcessRequest] = []

    def publish_process(request: _PublishProcessRequest) -> PublishPackages:
        requested.append(request)
        names = (a.relpath or "" for package in request.packages for a in package.artifacts)
        return PublishPackages(tuple(names))

    processes = run_rule_with_mocks(
        publish_lambda,
        rule_args=[PublishLambdaRequest(publish, (_built(publish.address.target_name),)), batch],
        mock_gets=[
            MockGet(
                BuiltPackage,
                (EnvironmentAwarePackageRequest,),
                lambda request: _built(request.field_set.address.target_name),
            ),
            MockGet(PublishPackages, (_PublishProcessRequest,), publish_process),
        ],
    )
    return processes, requested


OLD_SETS, API_SETS, EDGE_SETS = (
    _field_sets("old", skip_publish=True),
    _field_sets("api"),
    _field_sets("edge", lambda_at_edge=True),
)
MOCK_BATCH = PublishBatch((OLD_SETS, API_SETS, EDGE_SETS))


def test_mocked_leader_publishes_the_batch_but_its_skipped_targets() -> None:
    (publish,), (request,) = _publish_with_mocks(API_SETS[1], MOCK_BATCH)
    assert publish.names == ("src.python.shop/api.zip", "src.python.shop/edge.zip")
    assert request.field_sets == (API_SETS[1], EDGE_SETS[1])


def test_mocked_follower_leaves_publishing_to_the_leader() -> None:
    assert _publish_with_mocks(EDGE_SETS[1], MOCK_BATCH) == (PublishProcesses(), [])


def test_mocked_skipped_target_publishes_nothing() -> None:
    (skipped,), requested = _publish_with_mocks(OLD_SETS[1], MOCK_BATCH)
    assert (skipped.names, skipped.process, requested) == (("src.python.shop/old.zip",), None, [])
    assert skipped.description == "(by `skip_publish` on src/python/shop:old)"


def test_mocked_target_outside_the_batch_publishes_alone() -> None:
    (publish,), (request,) = _publish_with_mocks(EDGE_SETS[1], PublishBatch(()))
    assert publish.names == ("src.python.shop/edge.zip",)
    assert request.field_sets == (EDGE_SETS[1],)
