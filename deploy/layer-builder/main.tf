# The layer builder on AWS (docs/layer-builder.md): API Gateway (HTTP API) -> the API function;
# SQS (with a dead-letter queue) -> the worker function, which builds in the Lambda itself (no EC2,
# no Docker); builds in DynamoDB with TTL; zips in a private S3 bucket that expires them, downloaded
# through presigned URLs; a sweeper function fails the builds whose messages reach the dead-letter
# queue. The functions are `lambda_artifact` targets of src/python/layer_builder, published by
# `pants publish` into the catalog read here.

terraform {
  required_version = ">= 1.5.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

provider "aws" {
  region = var.aws_region
}

locals {
  catalog  = jsondecode(file(var.catalog_path))
  api      = local.catalog.lambdas["layer-builder-api"]
  worker   = local.catalog.lambdas["layer-builder-worker"]
  sweeper  = local.catalog.lambdas["layer-builder-sweeper"]
  ttl_days = ceil(var.artifact_ttl_hours / 24)
  # The sweeper's timeout; the dead-letter queue hides a message it reads for six times as long.
  sweeper_timeout_seconds = 30
  environment = {
    TABLE_NAME   = aws_dynamodb_table.builds.name
    QUEUE_URL    = aws_sqs_queue.builds.url
    BUCKET       = aws_s3_bucket.artifacts.bucket
    TTL_HOURS    = tostring(var.artifact_ttl_hours)
    URL_MINUTES  = tostring(var.download_url_minutes)
    INDEX_URL    = var.index_url
    MAX_RECEIVES = tostring(var.max_receives)
    # A build still BUILDING after the worker's timeout (and a minute) has lost its worker.
    BUILD_SECONDS = tostring(var.worker_timeout_seconds)
    # API Gateway answers CORS itself (cors_configuration below); the handler says the same.
    ALLOWED_ORIGIN = var.page_origin
  }
  # The worker's only: where it reads the index's credentials (none for a public index).
  index_credentials = {
    for name, arn in { INDEX_CREDENTIALS_SECRET_ARN = var.index_credentials_secret_arn } :
    name => arn if arn != null
  }
}

# Zips: private, encrypted, deleted by a lifecycle rule after the TTL.

resource "aws_s3_bucket" "artifacts" {
  bucket_prefix = "${var.name}-artifacts-"
  force_destroy = true # only expiring build output lives here
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket                  = aws_s3_bucket.artifacts.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    id     = "expire-builds"
    status = "Enabled"
    filter {
      prefix = "builds/"
    }
    expiration {
      days = local.ttl_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

# Builds: one item per build, deleted by DynamoDB's TTL on `expires_at` (the service also treats an
# expired item as gone, since TTL deletes lazily).

resource "aws_dynamodb_table" "builds" {
  name         = "${var.name}-builds"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "build_id"

  attribute {
    name = "build_id"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  server_side_encryption {
    enabled = true
  }
}

# The queue, and its dead-letter queue for builds that failed `max_receives` times.

resource "aws_sqs_queue" "dead_letters" {
  name                       = "${var.name}-builds-dlq"
  message_retention_seconds  = 14 * 24 * 3600
  sqs_managed_sse_enabled    = true
  visibility_timeout_seconds = 6 * local.sweeper_timeout_seconds
}

resource "aws_sqs_queue" "builds" {
  name = "${var.name}-builds"
  # AWS's advice for a Lambda event source: at least six times the function's timeout.
  visibility_timeout_seconds = 6 * var.worker_timeout_seconds
  message_retention_seconds  = var.artifact_ttl_hours * 3600
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letters.arn
    maxReceiveCount     = var.max_receives
  })
}

# Least privilege: the API writes and reads builds, queues them and signs downloads; the worker
# reads and writes builds, consumes the queue and uploads zips.

data "aws_iam_policy_document" "assume_lambda" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_cloudwatch_log_group" "api" {
  name              = "/aws/lambda/${var.name}-api"
  retention_in_days = 14
}

resource "aws_cloudwatch_log_group" "worker" {
  name              = "/aws/lambda/${var.name}-worker"
  retention_in_days = 14
}

resource "aws_cloudwatch_log_group" "sweeper" {
  name              = "/aws/lambda/${var.name}-sweeper"
  retention_in_days = 14
}

data "aws_iam_policy_document" "api" {
  statement {
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem"]
    resources = [aws_dynamodb_table.builds.arn]
  }
  statement {
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.builds.arn]
  }
  statement {
    # A presigned URL works with its signer's permissions: the API may only read build zips.
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.artifacts.arn}/builds/*"]
  }
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.api.arn}:*"]
  }
}

data "aws_iam_policy_document" "worker" {
  statement {
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem"]
    resources = [aws_dynamodb_table.builds.arn]
  }
  statement {
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
    ]
    resources = [aws_sqs_queue.builds.arn]
  }
  statement {
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.artifacts.arn}/builds/*"]
  }
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.worker.arn}:*"]
  }
  dynamic "statement" {
    # The index's credentials: that one secret (encrypted with the account's aws/secretsmanager
    # key; a customer managed key also needs kms:Decrypt), if there is one.
    for_each = var.index_credentials_secret_arn == null ? [] : [var.index_credentials_secret_arn]
    content {
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }
}

# The sweeper reads and fails builds, and consumes the dead-letter queue.
data "aws_iam_policy_document" "sweeper" {
  statement {
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem"]
    resources = [aws_dynamodb_table.builds.arn]
  }
  statement {
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
    ]
    resources = [aws_sqs_queue.dead_letters.arn]
  }
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.sweeper.arn}:*"]
  }
}

resource "aws_iam_role" "api" {
  name               = "${var.name}-api"
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
}

resource "aws_iam_role_policy" "api" {
  role   = aws_iam_role.api.id
  policy = data.aws_iam_policy_document.api.json
}

resource "aws_iam_role" "worker" {
  name               = "${var.name}-worker"
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
}

resource "aws_iam_role_policy" "worker" {
  role   = aws_iam_role.worker.id
  policy = data.aws_iam_policy_document.worker.json
}

resource "aws_iam_role" "sweeper" {
  name               = "${var.name}-sweeper"
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
}

resource "aws_iam_role_policy" "sweeper" {
  role   = aws_iam_role.sweeper.id
  policy = data.aws_iam_policy_document.sweeper.json
}

# The functions, from the artifacts `pants publish` recorded in the catalog.

resource "aws_lambda_function" "api" {
  function_name    = "${var.name}-api"
  role             = aws_iam_role.api.arn
  s3_bucket        = local.api.bucket
  s3_key           = local.api.key
  source_code_hash = local.api.code_sha256
  handler          = local.api.handler
  runtime          = local.api.runtime
  architectures    = [local.api.architecture]
  memory_size      = 256
  timeout          = 10
  environment {
    variables = local.environment
  }
  depends_on = [aws_cloudwatch_log_group.api]
}

resource "aws_lambda_function" "worker" {
  function_name    = "${var.name}-worker"
  role             = aws_iam_role.worker.arn
  s3_bucket        = local.worker.bucket
  s3_key           = local.worker.key
  source_code_hash = local.worker.code_sha256
  handler          = local.worker.handler
  runtime          = local.worker.runtime
  architectures    = [local.worker.architecture]
  memory_size      = var.worker_memory_mb
  timeout          = var.worker_timeout_seconds
  # At most this many builds at once, whatever is queued: it bounds the cost and leaves the rest
  # of the account's concurrency to other functions.
  reserved_concurrent_executions = var.worker_concurrency
  ephemeral_storage {
    size = 4096 # pex's cache, the installs and the zips, in /tmp
  }
  environment {
    variables = merge(local.environment, local.index_credentials)
  }
  depends_on = [aws_cloudwatch_log_group.worker]
}

resource "aws_lambda_event_source_mapping" "builds" {
  event_source_arn        = aws_sqs_queue.builds.arn
  function_name           = aws_lambda_function.worker.arn
  batch_size              = 1
  function_response_types = ["ReportBatchItemFailures"]
  # No more pollers than the worker's reserved concurrency: a throttled message would count as a
  # receive, and go to the dead-letter queue untried.
  scaling_config {
    maximum_concurrency = var.worker_concurrency
  }
}

# A worker that runs out of time or memory never records why: once its message has been received
# `max_receives` times it lands in the dead-letter queue, and the sweeper fails its build.
resource "aws_lambda_function" "sweeper" {
  function_name    = "${var.name}-sweeper"
  role             = aws_iam_role.sweeper.arn
  s3_bucket        = local.sweeper.bucket
  s3_key           = local.sweeper.key
  source_code_hash = local.sweeper.code_sha256
  handler          = local.sweeper.handler
  runtime          = local.sweeper.runtime
  architectures    = [local.sweeper.architecture]
  memory_size      = 256
  timeout          = local.sweeper_timeout_seconds
  environment {
    variables = local.environment
  }
  depends_on = [aws_cloudwatch_log_group.sweeper]
}

resource "aws_lambda_event_source_mapping" "dead_letters" {
  event_source_arn        = aws_sqs_queue.dead_letters.arn
  function_name           = aws_lambda_function.sweeper.arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]
}

# The HTTP API: POST /builds, GET /builds/{build_id} and GET /options, each behind the JWT
# authorizer and throttled on its own, with CORS for the page's origin only.

resource "aws_apigatewayv2_api" "http" {
  name          = var.name
  protocol_type = "HTTP"
  cors_configuration {
    allow_origins = [var.page_origin]
    allow_methods = ["GET", "POST", "OPTIONS"]
    allow_headers = ["authorization", "content-type"]
    max_age       = 3600
  }
}

# A caller sends `Authorization: Bearer <JWT>` from `jwt_issuer` (Cognito or any OIDC issuer),
# with `jwt_audience` in its `aud` (or, for an access token, `client_id`); API Gateway checks its
# signature, expiry, issuer and audience before the API function runs.
resource "aws_apigatewayv2_authorizer" "jwt" {
  api_id           = aws_apigatewayv2_api.http.id
  name             = "${var.name}-jwt"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]
  jwt_configuration {
    issuer   = var.jwt_issuer
    audience = var.jwt_audience
  }
}

resource "aws_apigatewayv2_integration" "api" {
  api_id                 = aws_apigatewayv2_api.http.id
  integration_type       = "AWS_PROXY"
  integration_uri        = aws_lambda_function.api.invoke_arn
  payload_format_version = "2.0"
}

resource "aws_apigatewayv2_route" "routes" {
  for_each  = toset(["POST /builds", "GET /builds/{build_id}", "GET /options"])
  api_id    = aws_apigatewayv2_api.http.id
  route_key = each.value
  target    = "integrations/${aws_apigatewayv2_integration.api.id}"

  authorization_type = "JWT"
  authorizer_id      = aws_apigatewayv2_authorizer.jwt.id
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.http.id
  name        = "$default"
  auto_deploy = true
  # A route without limits of its own would get the lowest.
  default_route_settings {
    throttling_burst_limit = min([for limit in values(var.route_throttling) : limit.burst]...)
    throttling_rate_limit  = min([for limit in values(var.route_throttling) : limit.rate]...)
  }
  # Each route its own limits, for all callers together (HTTP APIs have no per-client usage plans:
  # docs/layer-builder.md says how to limit each client).
  dynamic "route_settings" {
    for_each = aws_apigatewayv2_route.routes
    content {
      route_key              = route_settings.key
      throttling_burst_limit = var.route_throttling[route_settings.key].burst
      throttling_rate_limit  = var.route_throttling[route_settings.key].rate
    }
  }
}

resource "aws_lambda_permission" "api_gateway" {
  statement_id  = "AllowHttpApi"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.api.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.http.execution_arn}/*/*"
}

# Cost: an e-mail when the month's spending is forecast to pass the budget, and when it has.

resource "aws_budgets_budget" "monthly" {
  name         = "${var.name}-monthly"
  budget_type  = "COST"
  limit_amount = tostring(var.monthly_budget_usd)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"

  notification {
    comparison_operator        = "GREATER_THAN"
    threshold                  = 100
    threshold_type             = "PERCENTAGE"
    notification_type          = "FORECASTED"
    subscriber_email_addresses = [var.budget_email]
  }

  notification {
    comparison_operator        = "GREATER_THAN"
    threshold                  = 100
    threshold_type             = "PERCENTAGE"
    notification_type          = "ACTUAL"
    subscriber_email_addresses = [var.budget_email]
  }
}
