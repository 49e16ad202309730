import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from layer_builder import aws
from layer_builder import service as service_module
from layer_builder.builder import BuiltLayers, BuiltZip, InvalidSettings
from layer_builder.service import NOT_QUEUED, STOPPED, BuildRecord, Status
from layer_builder.testutil import http, many_pins

from fake_s3 import FAKE_AWS_ENV, FakeS3

TABLE, BUCKET = "layer-builds", "layer-artifacts"
PAGE_ORIGIN = "https://builder.example"
SIX = {"requirements": "six==1.16.0", "python_version": "3.12", "architectures": ["arm64"]}


@pytest.fixture(scope="module")
def moto() -> Iterator[FakeS3]:
    with FakeS3() as server:
        yield server


@pytest.fixture
def deployment(moto: FakeS3, monkeypatch, pex_settings) -> Iterator[dict[str, Any]]:
    """The table (TTL on `expires_at`), the queue with its dead-letter queue, and the bucket, as
    deploy/layer-builder creates them, and the functions' environment."""
    moto.reset()
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    session = boto3.session.Session()
    dynamodb, sqs = session.client("dynamodb"), session.client("sqs")
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "build_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "build_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    dlq = sqs.create_queue(QueueName="layer-builds-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]
    redrive = {"deadLetterTargetArn": dlq_arn["QueueArn"], "maxReceiveCount": "3"}
    queue = sqs.create_queue(
        QueueName="layer-builds", Attributes={"RedrivePolicy": json.dumps(redrive)}
    )["QueueUrl"]
    session.client("s3").create_bucket(Bucket=BUCKET)
    env = {"TABLE_NAME": TABLE, "QUEUE_URL": queue, "BUCKET": BUCKET, "MAX_RECEIVES": "3"}
    env["ALLOWED_ORIGIN"] = PAGE_ORIGIN
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if pex_settings.cert:
        monkeypatch.setenv("CA_BUNDLE", pex_settings.cert)
    aws._service.cache_clear()
    aws._worker.cache_clear()
    yield {"sqs": sqs, "dynamodb": dynamodb, "s3": session.client("s3"), "queue": queue}
    aws._service.cache_clear()
    aws._worker.cache_clear()


@dataclass
class LambdaContext:
    seconds_left: float

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds_left * 1000)


def sqs_record(message: dict[str, Any]) -> dict[str, Any]:
    """A received SQS message as Lambda's SQS poller passes it to a handler."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message["Attributes"],
        "eventSource": "aws:sqs",
    }


def api(method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    """Call the API handler with an API Gateway HTTP API (payload 2.0) event."""
    event = {
        "version": "2.0",
        "rawPath": path,
        "requestContext": {"http": {"method": method, "path": path}},
        "isBase64Encoded": False,
        **({"body": json.dumps(body)} if body is not None else {}),
    }
    response = aws.api_handler(event, None)
    assert response["headers"]["Access-Control-Allow-Origin"] == PAGE_ORIGIN
    return response["statusCode"], json.loads(response["body"] or "null")


def deliver(
    deployment: dict[str, Any],
    handler: Callable[[dict[str, Any], Any], dict[str, Any]] = aws.worker_handler,
    queue_name: str = "layer-builds",
    seconds_left: float = 900,
) -> dict[str, Any]:
    """Receive the queue's next message and hand it to the worker (or `handler`) as Lambda's SQS
    poller does, with `seconds_left` for the invocation."""
    sqs = deployment["sqs"]
    queue = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    received = sqs.receive_message(QueueUrl=queue, AttributeNames=["All"], WaitTimeSeconds=1)
    (message,) = received["Messages"]
    result = handler({"Records": [sqs_record(message)]}, LambdaContext(seconds_left))
    receipt = message["ReceiptHandle"]
    if result["batchItemFailures"]:  # back on the queue, as when its visibility timeout ends
        sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=receipt, VisibilityTimeout=0)
    else:
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=receipt)
    return result


def test_build_on_aws(deployment) -> None:
    status, queued = api("POST", "/builds", SIX)
    assert status == 202 and queued["status"] == "QUEUED"
    assert api("GET", f"/builds/{queued['build_id']}")[1]["status"] == "QUEUED"

    assert deliver(deployment) == {"batchItemFailures": []}
    status, build = api("GET", f"/builds/{queued['build_id']}")
    assert build["status"] == "COMPLETED", build
    (layer,) = build["files"]
    assert layer["filename"] == "combined-python3.12-arm64.zip"
    assert "X-Amz-Expires=3600" in layer["download_url"]
    status, data = http("GET", layer["download_url"])
    assert status == 200 and hashlib.sha256(data).hexdigest() == layer["sha256"]

    item = deployment["dynamodb"].get_item(
        TableName=TABLE, Key={"build_id": {"S": queued["build_id"]}}
    )["Item"]
    assert item["expires_at"] == {"N": str(queued["expires_at"])}  # the TTL attribute
    keys = [o["Key"] for o in deployment["s3"].list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == [f"builds/{queued['build_id']}/combined-python3.12-arm64.zip"]


def test_a_bad_request_queues_nothing(deployment) -> None:
    status, answer = api("POST", "/builds", {**SIX, "requirements": "https://evil.example/x.whl"})
    assert status == 400 and "not a plain requirement" in answer["problems"][0]
    attributes = deployment["sqs"].get_queue_attributes(
        QueueUrl=deployment["queue"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert api("OPTIONS", "/builds")[0] == 204


def test_a_requirement_without_a_wheel_fails_the_build(deployment) -> None:
    _, queued = api("POST", "/builds", {**SIX, "requirements": "PyYAML==5.4.1"})
    assert deliver(deployment) == {"batchItemFailures": []}
    build = api("GET", f"/builds/{queued['build_id']}")[1]
    assert build["status"] == "FAILED"
    assert "`PyYAML==5.4.1` has no wheel for python3.12 arm64" in build["message"]


def test_an_unexpected_error_is_retried_then_fails_the_build(deployment) -> None:
    _, queued = api("POST", "/builds", SIX)
    deployment["s3"].delete_bucket(Bucket=BUCKET)  # every upload fails
    for attempt in (1, 2):
        assert len(deliver(deployment)["batchItemFailures"]) == 1
        assert api("GET", f"/builds/{queued['build_id']}")[1]["status"] == "QUEUED"  # for a retry
    assert len(deliver(deployment)["batchItemFailures"]) == 1
    build = api("GET", f"/builds/{queued['build_id']}")[1]
    assert build == {
        **build,
        "status": "FAILED",
        "message": "The build failed unexpectedly; submit it again.",
    }

    # The queue's redrive policy moves the message to the dead-letter queue.
    sqs = deployment["sqs"]
    assert "Messages" not in sqs.receive_message(QueueUrl=deployment["queue"], WaitTimeSeconds=1)
    dlq = sqs.get_queue_url(QueueName="layer-builds-dlq")["QueueUrl"]
    (dead,) = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1)["Messages"]
    assert json.loads(dead["Body"]) == {"build_id": queued["build_id"]}


def stand_in_builds(monkeypatch, pins: dict | None = None) -> list[tuple]:
    """Builds of one small zip with `pins`, without pex; each call's settings and deadline."""
    calls: list[tuple] = []

    def build_layers(request, workdir, settings, deadline=None) -> BuiltLayers:
        calls.append((settings, deadline))
        path = workdir / "combined-python3.12-arm64.zip"
        path.write_bytes(b"PK\x05\x06" + bytes(18))
        return BuiltLayers((BuiltZip(path, "arm64", 22, "0" * 64, ()),), pins or {})

    monkeypatch.setattr(service_module, "build_layers", build_layers)
    return calls


def test_a_finished_build_is_never_overwritten(deployment) -> None:
    # SQS delivers a message at least once: a late or repeated worker must not undo a result.
    store = aws._service().builds
    _, queued = api("POST", "/builds", SIX)
    record = store.get(queued["build_id"])
    assert record is not None
    with pytest.raises(Exception, match="ConditionalCheckFailed"):
        store.put(record)  # a build is created once
    building = dataclasses.replace(record, status=Status.BUILDING)
    assert store.put_if(building, (Status.QUEUED, Status.BUILDING))
    completed = dataclasses.replace(
        record, status=Status.COMPLETED, updated_at=record.created_at + 9
    )
    assert store.put_if(completed, (Status.BUILDING,))
    for late in (Status.BUILDING, Status.FAILED):
        assert not store.put_if(
            dataclasses.replace(record, status=late), (Status.QUEUED, Status.BUILDING)
        )
    assert store.get(record.build_id) == completed
    item = deployment["dynamodb"].get_item(
        TableName=TABLE, Key={"build_id": {"S": record.build_id}}
    )
    assert item["Item"]["status"] == {"S": "COMPLETED"}


def test_a_record_too_large_for_dynamodb_fails_the_build_saying_why(
    deployment, monkeypatch
) -> None:
    pins = many_pins(1600, "cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64")
    stand_in_builds(monkeypatch, {"python3.12-arm64": pins, "python3.12-x86_64": pins})
    _, queued = api("POST", "/builds", SIX)
    assert deliver(deployment) == {"batchItemFailures": []}
    build = api("GET", f"/builds/{queued['build_id']}")[1]
    assert build["status"] == "FAILED", build
    assert build["message"].startswith("The build's 3200 pins are too many to record")


def test_a_build_that_cannot_be_queued_fails_and_answers_503(deployment, monkeypatch) -> None:
    monkeypatch.setenv("QUEUE_URL", f"{deployment['queue']}-deleted")
    aws._service.cache_clear()
    status, answer = api("POST", "/builds", SIX)
    assert status == 503 and "try again" in answer["error"]
    (item,) = deployment["dynamodb"].scan(TableName=TABLE)["Items"]
    assert item["status"] == {"S": "FAILED"}
    assert BuildRecord.from_json(json.loads(item["record"]["S"])).message == NOT_QUEUED


def test_the_sweeper_fails_a_build_whose_worker_died_every_time(deployment, monkeypatch) -> None:
    def killed(*args, **kwargs):
        raise SystemExit("Lambda ended the invocation: out of time or memory")

    monkeypatch.setattr(service_module, "build_layers", killed)
    _, queued = api("POST", "/builds", SIX)
    sqs, queue = deployment["sqs"], deployment["queue"]
    for attempt in (1, 2, 3):
        received = sqs.receive_message(QueueUrl=queue, AttributeNames=["All"], WaitTimeSeconds=1)
        (message,) = received["Messages"]
        with pytest.raises(SystemExit):  # the handler never answers
            aws.worker_handler({"Records": [sqs_record(message)]}, LambdaContext(900))
        sqs.change_message_visibility(  # as when its visibility timeout ends
            QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    assert api("GET", f"/builds/{queued['build_id']}")[1]["status"] == "BUILDING"
    assert "Messages" not in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)

    assert deliver(deployment, aws.sweeper_handler, "layer-builds-dlq") == {"batchItemFailures": []}
    build = api("GET", f"/builds/{queued['build_id']}")[1]
    assert (build["status"], build["message"]) == ("FAILED", STOPPED)


def test_the_worker_builds_within_its_remaining_time(deployment, monkeypatch) -> None:
    calls = stand_in_builds(monkeypatch)
    api("POST", "/builds", SIX)
    deliver(deployment, seconds_left=300)
    ((_, deadline),) = calls
    assert deadline.seconds == 240  # a minute kept to upload and record


def test_the_worker_takes_the_index_credentials_from_secrets_manager(
    deployment, monkeypatch
) -> None:
    netrc = "machine pypi.example login builder password s3cret-index-token\n"
    secrets = boto3.session.Session().client("secretsmanager")
    arn = secrets.create_secret(Name="layer-builder-index", SecretString=netrc)["ARN"]
    monkeypatch.setenv("INDEX_CREDENTIALS_SECRET_ARN", arn)
    calls = stand_in_builds(monkeypatch)
    api("POST", "/builds", SIX)
    assert deliver(deployment) == {"batchItemFailures": []}
    ((settings, _),) = calls
    assert settings.netrc.read_text() == netrc
    assert settings.netrc.stat().st_mode & 0o777 == 0o600
    assert aws._service().settings.pex.netrc is None  # the API never reads the secret

    monkeypatch.setenv("INDEX_URL", "https://builder:s3cret-index-token@pypi.example/simple/")
    aws._service.cache_clear()
    with pytest.raises(InvalidSettings, match="netrc") as refused:
        aws._service()
    assert "s3cret" not in str(refused.value)
