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
    assert sorted(targets) == ["layer-builder-api", "layer-builder-sweeper", "layer-builder-worker"]
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


# The guards that keep the API closed to strangers and its cost bounded.

VARIABLES = Path("deploy/layer-builder/variables.tf")


@pytest.fixture(scope="module")
def variables() -> str:
    return VARIABLES.read_text()


def validation(variables: str, name: str) -> re.Pattern[str]:
    """The regex a variable's validation matches, as Python reads it; the variable has no default,
    so a deployment must choose it."""
    declaration = block(variables, f'variable "{name}"')
    assert not re.search(r"^\s+default\s+=", declaration, re.M), f"{name} has a default"
    (pattern,) = re.findall(r'regex\("((?:[^"\\]|\\.)*)"', declaration)
    return re.compile(pattern.replace("\\\\", "\\"))


def test_every_route_needs_a_token_from_the_chosen_issuer(terraform: str, variables: str) -> None:
    assert terraform.count('resource "aws_apigatewayv2_route"') == 1
    route = block(terraform, 'resource "aws_apigatewayv2_route"')
    assert re.search(r'authorization_type\s+=\s+"JWT"', route)
    assert re.search(r"authorizer_id\s+=\s+aws_apigatewayv2_authorizer\.jwt\.id", route)
    authorizer = block(terraform, 'resource "aws_apigatewayv2_authorizer" "jwt"')
    assert re.search(r'authorizer_type\s+=\s+"JWT"', authorizer)
    assert re.search(r'identity_sources\s+=\s+\["\$request\.header\.Authorization"\]', authorizer)
    assert re.search(r"issuer\s+=\s+var\.jwt_issuer", authorizer)
    assert re.search(r"audience\s+=\s+var\.jwt_audience", authorizer)
    assert "default" not in block(variables, 'variable "jwt_audience"')
    issuer = validation(variables, "jwt_issuer")
    assert issuer.match("https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_Ab12")
    assert not issuer.match("http://issuer.example") and not issuer.match("")


def test_only_the_pages_origin_may_call_from_a_browser(
    terraform: str, variables: str, monkeypatch
) -> None:
    cors = block(block(terraform, 'resource "aws_apigatewayv2_api"'), "cors_configuration")
    assert re.search(r"allow_origins\s+=\s+\[var\.page_origin\]", cors)
    assert re.search(r'allow_headers\s+=\s+\[[^]]*"authorization"', cors)
    assert re.search(r"ALLOWED_ORIGIN\s+=\s+var\.page_origin", block(terraform, "environment = {"))
    assert '"*"' not in terraform + variables
    origin = validation(variables, "page_origin")
    for good in ("https://builder.example.com", "https://me.github.io", "https://localhost:8443"):
        assert origin.match(good), good
    for bad in (
        "*",
        "null",
        "http://builder.example.com",
        "https://builder.example.com/",
        "https://builder.example.com/page",
        "https://Builder.example.com",
        "https://a.example https://b.example",
    ):
        assert not origin.match(bad), bad

    preflight = {"requestContext": {"http": {"method": "OPTIONS", "path": "/builds"}}}
    monkeypatch.delenv("ALLOWED_ORIGIN", raising=False)
    assert aws.api_handler(preflight, None)["headers"] == {}  # no origin but the API's own
    monkeypatch.setenv("ALLOWED_ORIGIN", "https://builder.example.com")
    headers = aws.api_handler(preflight, None)["headers"]
    assert headers["Access-Control-Allow-Origin"] == "https://builder.example.com"
    assert "Authorization" in headers["Access-Control-Allow-Headers"]


def test_the_worker_runs_at_most_worker_concurrency_builds(terraform: str, variables: str) -> None:
    worker = block(terraform, 'resource "aws_lambda_function" "worker"')
    assert re.search(r"reserved_concurrent_executions\s+=\s+var\.worker_concurrency\n", worker)
    pollers = block(
        block(terraform, 'resource "aws_lambda_event_source_mapping"'), "scaling_config"
    )
    assert re.search(r"maximum_concurrency\s+=\s+var\.worker_concurrency\n", pollers)
    declaration = block(variables, 'variable "worker_concurrency"')
    assert re.search(r"default\s+=\s+2\n", declaration)
    assert "var.worker_concurrency >= 2" in declaration  # an SQS event source's least


def test_each_route_is_throttled_and_submissions_most(terraform: str, variables: str) -> None:
    stage = block(terraform, 'resource "aws_apigatewayv2_stage"')
    settings = block(stage, 'dynamic "route_settings"')
    assert re.search(r"for_each\s+=\s+aws_apigatewayv2_route\.routes\n", settings)
    assert re.search(
        r"throttling_rate_limit\s+=\s+var\.route_throttling\[route_settings\.key\]", settings
    )
    assert re.search(
        r"throttling_burst_limit\s+=\s+var\.route_throttling\[route_settings\.key\]", settings
    )
    defaults = block(block(variables, 'variable "route_throttling"'), "default")
    limits = {
        route: (float(rate), int(burst))
        for route, rate, burst in re.findall(
            r'"([A-Z]+ /[^"]*)"\s+=\s+\{\s*rate\s+=\s+([\d.]+),\s*burst\s+=\s+(\d+)\s*\}', defaults
        )
    }
    routes = re.findall(
        r'"((?:GET|POST) /[^"]*)"', block(terraform, 'resource "aws_apigatewayv2_route"')
    )
    assert sorted(limits) == sorted(routes)
    assert limits["POST /builds"] == min(limits.values())


def test_a_budget_mails_when_the_month_costs_too_much(terraform: str, variables: str) -> None:
    budget = block(terraform, 'resource "aws_budgets_budget"')
    assert re.search(r'budget_type\s+=\s+"COST"', budget)
    assert re.search(r'time_unit\s+=\s+"MONTHLY"', budget)
    assert re.search(r"limit_amount\s+=\s+tostring\(var\.monthly_budget_usd\)", budget)
    kinds = re.findall(r'notification_type\s+=\s+"(\w+)"', budget)
    assert sorted(kinds) == ["ACTUAL", "FORECASTED"]
    assert budget.count("subscriber_email_addresses = [var.budget_email]") == 2
    email = validation(variables, "budget_email")
    assert email.match("ops@example.com") and not email.match("ops")


# The guards that make every build end, and keep the index's credentials to the worker.


def test_a_build_is_overdue_after_the_workers_own_timeout(terraform: str) -> None:
    environment = block(terraform, "environment = {")
    assert re.search(r"BUILD_SECONDS\s+=\s+tostring\(var\.worker_timeout_seconds\)", environment)
    worker = block(terraform, 'resource "aws_lambda_function" "worker"')
    assert re.search(r"\btimeout\s+=\s+var\.worker_timeout_seconds", worker)


def test_the_sweeper_consumes_the_dead_letter_queue_only(terraform: str) -> None:
    build_file = Path("src/python/layer_builder/BUILD").read_text()
    targets = dict(re.findall(r'logical_name="([^"]+)",\s+handler="([^"]+)"', build_file))
    assert targets["layer-builder-sweeper"] == f"{aws.__name__}.{aws.sweeper_handler.__name__}"
    assert re.search(r'sweeper\s+=\s+local\.catalog\.lambdas\["layer-builder-sweeper"\]', terraform)
    sweeper = block(terraform, 'resource "aws_lambda_function" "sweeper"')
    assert re.search(r"role\s+=\s+aws_iam_role\.sweeper\.arn", sweeper)
    assert re.search(r"handler\s+=\s+local\.sweeper\.handler", sweeper)
    assert re.search(r"\btimeout\s+=\s+local\.sweeper_timeout_seconds", sweeper)
    mapping = block(terraform, 'resource "aws_lambda_event_source_mapping" "dead_letters"')
    assert re.search(r"event_source_arn\s+=\s+aws_sqs_queue\.dead_letters\.arn", mapping)
    assert re.search(r"function_name\s+=\s+aws_lambda_function\.sweeper\.arn", mapping)
    assert '"ReportBatchItemFailures"' in mapping
    # Lambda refuses a queue that hides a message for less time than the function may take.
    dead_letters = block(terraform, 'resource "aws_sqs_queue" "dead_letters"')
    assert re.search(
        r"visibility_timeout_seconds\s+=\s+6 \* local\.sweeper_timeout_seconds", dead_letters
    )

    policy = block(terraform, 'data "aws_iam_policy_document" "sweeper"')
    assert actions(policy) == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    assert "aws_sqs_queue.dead_letters.arn" in policy and "aws_sqs_queue.builds" not in policy
    assert "${aws_cloudwatch_log_group.sweeper.arn}:*" in policy and '"*"' not in policy
    role_policy = block(terraform, 'resource "aws_iam_role_policy" "sweeper"')
    assert re.search(r"policy\s+=\s+data\.aws_iam_policy_document\.sweeper\.json", role_policy)


def test_only_the_worker_may_read_the_index_credentials(terraform: str, variables: str) -> None:
    worker = block(terraform, 'data "aws_iam_policy_document" "worker"')
    secret = block(worker, 'dynamic "statement"')
    assert re.search(
        r"for_each\s+=\s+var\.index_credentials_secret_arn == null \? \[\] : "
        r"\[var\.index_credentials_secret_arn\]",
        secret,
    )
    assert re.findall(r'"(secretsmanager:\w+)"', secret) == ["secretsmanager:GetSecretValue"]
    assert re.search(r"resources\s+=\s+\[statement\.value\]", secret)
    assert terraform.count("secretsmanager:") == 1  # nothing else reads secrets
    # The secret's ARN, not its value, goes to the worker alone, under the name the handler reads.
    credentials = block(terraform, "index_credentials = {")
    assert re.search(
        r"INDEX_CREDENTIALS_SECRET_ARN\s+=\s+var\.index_credentials_secret_arn", credentials
    )
    assert '"INDEX_CREDENTIALS_SECRET_ARN"' in Path(aws.__file__).read_text()
    assert terraform.count("local.index_credentials") == 1
    assert "merge(local.environment, local.index_credentials)" in block(
        terraform, 'resource "aws_lambda_function" "worker"'
    )
    arn = block(variables, 'variable "index_credentials_secret_arn"')
    assert re.search(r"default\s+=\s+null", arn)

    # The index URL itself carries none: they would be in the environment and Terraform's state.
    (pattern,) = re.findall(r'regex\("((?:[^"\\]|\\.)*)"', block(variables, 'variable "index_url"'))
    index_url = re.compile(pattern.replace("\\\\", "\\"))
    for good in (
        "https://pypi.org/simple/",
        "http://127.0.0.1:8080/simple",
        "https://pypi.example",
    ):
        assert index_url.match(good), good
    for bad in (
        "https://user:token@pypi.example/simple/",
        "https://token@pypi.example/",
        "ftp://x/",
    ):
        assert not index_url.match(bad), bad
