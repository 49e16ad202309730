import hashlib
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from layer_builder import aws
from layer_builder.testutil import http

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
    yield {"sqs": sqs, "dynamodb": dynamodb, "s3": session.client("s3"), "queue": queue}
    aws._service.cache_clear()


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


def deliver(deployment: dict[str, Any]) -> dict[str, Any]:
    """Receive the queue's next message and hand it to the worker as Lambda's SQS poller does."""
    received = deployment["sqs"].receive_message(
        QueueUrl=deployment["queue"], AttributeNames=["All"], WaitTimeSeconds=1
    )
    (message,) = received["Messages"]
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message["Attributes"],
        "eventSource": "aws:sqs",
    }
    result = aws.worker_handler({"Records": [record]}, None)
    sqs, queue, receipt = deployment["sqs"], deployment["queue"], message["ReceiptHandle"]
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
        assert api("GET", f"/builds/{queued['build_id']}")[1]["status"] == "BUILDING"
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
