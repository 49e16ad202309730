"""The layer builder on AWS: the API, worker and sweeper Lambda handlers, with builds in DynamoDB
(TTL on `expires_at`), the queue in SQS (with a dead-letter queue, which the sweeper consumes) and
zips in S3 (a lifecycle rule expires them) behind presigned URLs. `deploy/layer-builder/` is the
Terraform.

Configuration, from the functions' environment: `TABLE_NAME`, `QUEUE_URL`, `BUCKET`, `TTL_HOURS`
(24), `URL_MINUTES` (60), `BUILD_SECONDS` (the worker's timeout, 900), `INDEX_URL` (PyPI, without
credentials), `INDEX_CREDENTIALS_SECRET_ARN` (the worker's only: a Secrets Manager secret holding a
netrc file for the index), `MAX_RECEIVES` (the queue's `maxReceiveCount`: the
attempt that marks a build FAILED), `CA_BUNDLE` (for an index behind a TLS-intercepting proxy) and
`ALLOWED_ORIGIN` (the page's origin, the only one CORS lets read the answers; unset, none).
`AWS_ENDPOINT_URL` points every client at another endpoint (the tests' moto server).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from layer_builder.builder import PYPI, PexSettings
from layer_builder.service import BuildRecord, Clock, LayerService, Settings, Status

logger = logging.getLogger(__name__)


class DynamoBuildStore:
    """One item per build: its key, TTL, status (for conditional writes), and the record's JSON."""

    def __init__(self, table) -> None:
        self.table = table

    def put(self, record: BuildRecord) -> None:
        self.table.put_item(
            Item=self._item(record), ConditionExpression="attribute_not_exists(build_id)"
        )

    def put_if(self, record: BuildRecord, expected: tuple[Status, ...]) -> bool:
        values = {f":status{i}": status.value for i, status in enumerate(expected)}
        try:
            self.table.put_item(
                Item=self._item(record),
                ConditionExpression=f"#status IN ({', '.join(values)})",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values,
            )
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def get(self, build_id: str) -> BuildRecord | None:
        item = self.table.get_item(Key={"build_id": build_id}, ConsistentRead=True).get("Item")
        return None if item is None else BuildRecord.from_json(json.loads(item["record"]))

    @staticmethod
    def _item(record: BuildRecord) -> dict[str, Any]:
        return {
            "build_id": record.build_id,
            "expires_at": record.expires_at,
            "status": record.status.value,
            "updated_at": record.updated_at,
            "record": json.dumps(record.to_json()),
        }


class S3ArtifactStore:
    def __init__(self, s3, bucket: str, clock: Clock) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.clock = clock

    def upload(self, key: str, path: Path, expires_at: int) -> None:
        # The bucket's lifecycle rule deletes `builds/` objects after the TTL, rounded up to days.
        with path.open("rb") as body:
            self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType="application/zip"
            )

    def download_url(self, key: str, expires_at: int) -> str:
        url: str = self.s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=max(1, expires_at - int(self.clock())),
        )
        return url


class SqsQueue:
    def __init__(self, sqs, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url

    def send(self, build_id: str) -> None:
        self.sqs.send_message(
            QueueUrl=self.queue_url, MessageBody=json.dumps({"build_id": build_id})
        )


@cache
def _service() -> LayerService:
    env = os.environ
    session = boto3.session.Session()
    settings = Settings(
        ttl_seconds=int(float(env.get("TTL_HOURS", "24")) * 3600),
        url_seconds=int(float(env.get("URL_MINUTES", "60")) * 60),
        build_seconds=int(env.get("BUILD_SECONDS", "900")),
        pex=PexSettings(
            Path(tempfile.gettempdir(), "pex"), env.get("INDEX_URL", PYPI), env.get("CA_BUNDLE")
        ),
    )
    return LayerService(
        DynamoBuildStore(session.resource("dynamodb").Table(env["TABLE_NAME"])),
        S3ArtifactStore(
            session.client("s3", config=Config(signature_version="s3v4")), env["BUCKET"], time.time
        ),
        SqsQueue(session.client("sqs"), env["QUEUE_URL"]),
        settings,
    )


@cache
def _worker() -> LayerService:
    """The service, with the index's credentials if the worker is given a secret for them."""
    service = _service()
    arn = os.environ.get("INDEX_CREDENTIALS_SECRET_ARN")
    if not arn:
        return service
    secret = boto3.session.Session().client("secretsmanager").get_secret_value(SecretId=arn)
    path = Path(tempfile.mkdtemp(prefix="index-credentials-"), "netrc")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret["SecretString"])
    pex = dataclasses.replace(service.settings.pex, netrc=path)
    return dataclasses.replace(service, settings=dataclasses.replace(service.settings, pex=pex))


def api_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway HTTP API (payload 2.0): `POST /builds` and `GET /builds/{id}`."""
    http = event["requestContext"]["http"]
    origin = os.environ.get("ALLOWED_ORIGIN")
    cors = (
        {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": "Authorization, Content-Type",
        }
        if origin
        else {}
    )
    if http["method"] == "OPTIONS":
        return {"statusCode": 204, "headers": cors, "body": ""}
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    status, answer = _service().handle(http["method"], http["path"], raw)
    return {
        "statusCode": status,
        "headers": {**cors, "Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(answer),
    }


def worker_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS: build each queued build within the invocation's remaining time. A failed message is
    retried, then goes to the dead-letter queue; on its last attempt its build is marked FAILED."""
    max_receives = int(os.environ.get("MAX_RECEIVES", "3"))
    failures = []
    for message in event["Records"]:
        build_id = json.loads(message["body"])["build_id"]
        attempt = int(message["attributes"]["ApproximateReceiveCount"])
        try:
            _worker().work(
                build_id,
                last_attempt=attempt >= max_receives,
                seconds_left=context.get_remaining_time_in_millis() / 1000,
            )
        except Exception:
            failures.append({"itemIdentifier": message["messageId"]})
    return {"batchItemFailures": failures}


def sweeper_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS, the dead-letter queue: fail each build whose message landed there unfinished (a worker
    that ran out of time or memory never ran its own error handling)."""
    failures = []
    for message in event["Records"]:
        build_id = json.loads(message["body"])["build_id"]
        logger.error(f"Build {build_id} reached the dead-letter queue")
        try:
            _service().abandon(build_id)
        except Exception:
            logger.exception(f"Cannot fail build {build_id}")
            failures.append({"itemIdentifier": message["messageId"]})
    return {"batchItemFailures": failures}
