"""deploy/layer-builder agrees with the code it deploys: the functions' catalog names, the
environment the handlers read, the routes the API answers and who may do what."""

import re
from pathlib import Path

import pytest
from layer_builder import aws
from layer_builder.service import LayerService

TERRAFORM = Path("deploy/layer-builder/main.tf")


@pytest.fixture(scope="module")
def terraform() -> str:
    return TERRAFORM.read_text()


def block(text: str, header: str) -> str:
    """The body of the first block whose header starts with `header`, braces balanced."""
    start = text.index("{", text.index(header))
    depth = 0
    for end in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        if depth == 0:
            return text[start + 1 : end]
    raise AssertionError(f"unbalanced block {header}")


def test_the_functions_come_from_the_targets_catalog_entries(terraform: str) -> None:
    build_file = Path("src/python/layer_builder/BUILD").read_text()
    targets = dict(re.findall(r'logical_name="([^"]+)",\s+handler="([^"]+)"', build_file))
    assert sorted(targets) == ["layer-builder-api", "layer-builder-worker"]
    assert sorted(re.findall(r'local\.catalog\.lambdas\["([^"]+)"\]', terraform)) == sorted(targets)
    for handler in targets.values():
        module, function = handler.rsplit(".", 1)
        assert module == aws.__name__ and callable(getattr(aws, function))


def test_the_functions_get_every_variable_the_handlers_read(terraform: str) -> None:
    source = Path(aws.__file__).read_text()
    read = set(re.findall(r'(?:env|environ)(?:\.get\(|\[)"([A-Z_]+)"', source))
    required = set(re.findall(r'env\["([A-Z_]+)"\]', source))
    given = set(re.findall(r"^\s+([A-Z_]+)\s+=", block(terraform, "environment = {"), re.M))
    assert required <= given <= read, (required, given, read)
    assert re.search(r"MAX_RECEIVES\s+=\s+tostring\(var\.max_receives\)", terraform)
    assert re.search(r"maxReceiveCount\s+=\s+var\.max_receives", terraform)


class _Nothing:
    def get(self, build_id):
        return None


def test_every_route_is_answered_by_the_api(terraform: str) -> None:
    routes = re.findall(
        r'"((?:GET|POST) /[^"]*)"', block(terraform, 'resource "aws_apigatewayv2_route"')
    )
    assert sorted(routes) == ["GET /builds/{build_id}", "GET /options", "POST /builds"]
    service = LayerService(_Nothing(), None, None)  # type: ignore[arg-type]
    for route in routes:
        method, path = route.split(" ")
        status, _ = service.handle(method, path.replace("{build_id}", "0" * 32), b"{}")
        assert status in (200, 400, 404) and not (status == 404 and path == "/options")


def actions(policy: str) -> set[str]:
    return set(re.findall(r'"((?:s3|sqs|dynamodb|logs):\w+)"', policy))


def test_least_privilege(terraform: str) -> None:
    api = block(terraform, 'data "aws_iam_policy_document" "api"')
    worker = block(terraform, 'data "aws_iam_policy_document" "worker"')
    assert actions(api) == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "sqs:SendMessage",
        "s3:GetObject",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    assert actions(worker) == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "s3:PutObject",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    assert '"*"' not in api + worker
    assert "${aws_s3_bucket.artifacts.arn}/builds/*" in api and worker.count("builds/*") == 1
