variable "aws_region" {
  type    = string
  default = "eu-central-1"
}

variable "name" {
  description = "Prefix of every resource's name."
  type        = string
  default     = "layer-builder"
}

variable "catalog_path" {
  description = "The catalog `pants publish` wrote, with the `layer-builder-api`, `layer-builder-worker` and `layer-builder-sweeper` artifacts."
  type        = string
  default     = "../../builds/catalog.json"
}

variable "artifact_ttl_hours" {
  description = "How long builds and their zips are kept (S3 expires objects in whole days, rounded up)."
  type        = number
  default     = 24
}

variable "download_url_minutes" {
  description = "How long a presigned download URL works."
  type        = number
  default     = 60
}

variable "page_origin" {
  description = "The one origin allowed to call the API from a browser: where the page is served, as `https://host[:port]`."
  type        = string
  validation {
    condition     = can(regex("^https://[a-z0-9-]+([.][a-z0-9-]+)*(:[0-9]{1,5})?$", var.page_origin))
    error_message = "page_origin must be the page's https origin, in lower case and without a path, such as https://builder.example.com."
  }
}

variable "jwt_issuer" {
  description = "The issuer of the JWTs the API accepts (its `iss`), such as https://cognito-idp.<region>.amazonaws.com/<user pool id>."
  type        = string
  validation {
    condition     = can(regex("^https://[^/ ]+", var.jwt_issuer))
    error_message = "jwt_issuer must be an https URL, the `iss` of the tokens."
  }
}

variable "jwt_audience" {
  description = "The audiences the API accepts: a token's `aud` (or an access token's `client_id`) must be one of them."
  type        = list(string)
  validation {
    condition     = length(var.jwt_audience) > 0
    error_message = "jwt_audience must name at least one audience (such as the Cognito app client's id)."
  }
}

variable "route_throttling" {
  description = "Requests per second (`rate`) and `burst` of each route, for all callers together."
  type        = map(object({ rate = number, burst = number }))
  default = {
    "POST /builds"           = { rate = 1, burst = 5 }
    "GET /builds/{build_id}" = { rate = 10, burst = 20 }
    "GET /options"           = { rate = 5, burst = 10 }
  }
  validation {
    condition     = alltrue([for limit in values(var.route_throttling) : limit.rate > 0 && limit.burst >= 1])
    error_message = "Each route's rate must be above 0 and its burst at least 1."
  }
}

variable "worker_concurrency" {
  description = "Builds at once: the worker's reserved concurrency and the queue's maximum pollers (at least 2)."
  type        = number
  default     = 2
  validation {
    condition     = var.worker_concurrency >= 2 && var.worker_concurrency <= 1000 && floor(var.worker_concurrency) == var.worker_concurrency
    error_message = "worker_concurrency must be a whole number from 2 (the least an SQS event source allows) to 1000."
  }
}

variable "monthly_budget_usd" {
  description = "The account's monthly cost budget: an e-mail goes to budget_email when it is forecast to be passed, and when it is."
  type        = number
  default     = 50
  validation {
    condition     = var.monthly_budget_usd > 0
    error_message = "monthly_budget_usd must be above 0."
  }
}

variable "budget_email" {
  description = "Who gets the budget's e-mails."
  type        = string
  validation {
    condition     = can(regex("^[^@ ]+@[^@ ]+$", var.budget_email))
    error_message = "budget_email must be an e-mail address."
  }
}

variable "index_url" {
  description = "The package index the worker builds from, without credentials (see index_credentials_secret_arn)."
  type        = string
  default     = "https://pypi.org/simple/"
  validation {
    # Credentials in the URL would be in the functions' environment and Terraform's state.
    condition     = can(regex("^https?://[^/@]+(/|$)", var.index_url))
    error_message = "index_url must be an http(s) URL without credentials: put them in a netrc file in a Secrets Manager secret, and give its ARN as index_credentials_secret_arn."
  }
}

variable "index_credentials_secret_arn" {
  description = "The ARN of a Secrets Manager secret whose value is a netrc file with the index's credentials (`machine <host> login <user> password <token>`); only the worker may read it. None for a public index."
  type        = string
  default     = null
  validation {
    condition     = var.index_credentials_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:", var.index_credentials_secret_arn))
    error_message = "index_credentials_secret_arn must be the ARN of a Secrets Manager secret."
  }
}

variable "worker_memory_mb" {
  description = "The worker's memory; Lambda gives CPU in proportion (1,769 MB is one vCPU)."
  type        = number
  default     = 3008
}

variable "worker_timeout_seconds" {
  description = "The worker's timeout: a build has this long, less a minute to upload and record it."
  type        = number
  default     = 900
}

variable "max_receives" {
  description = "Attempts per build before its message goes to the dead-letter queue and the build is FAILED."
  type        = number
  default     = 3
}
