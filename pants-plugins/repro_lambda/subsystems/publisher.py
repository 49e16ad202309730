"""`[lambda-publish]`: where `pants publish` puts artifacts, and the boto3 tool that does it."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from pants.backend.python.subsystems.python_tool_base import (
    LockfileRules,
    PythonToolRequirementsBase,
)
from pants.core.subsystems.python_bootstrap import PythonBootstrap
from pants.engine.rules import collect_rules, rule
from pants.option.option_types import BoolOption, IntOption, StrOption
from pants.util.docutil import bin_name
from pants.util.logging import LogLevel
from pants.util.strutil import softwrap

from repro_lambda.util_rules.tools import LambdaTool, build_lambda_tool

DEFAULT_STORE = "file://dist/lambda-store"
EDGE_SUFFIX = "-us-east-1"

# What boto3's credential chain and HTTP stack read. Passed only to the (uncached) publish run.
AWS_ENV_VARS = (
    # boto3's credential chain: keys, profiles and their files (SSO's cache is under HOME), web
    # identity (GitHub OIDC, EKS IRSA), container credentials (ECS, EKS Pod Identity), IMDS.
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
    "AWS_METADATA_SERVICE_TIMEOUT",
    "AWS_METADATA_SERVICE_NUM_ATTEMPTS",
    "AWS_STS_REGIONAL_ENDPOINTS",
    # Where requests go, and how.
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HOME",
    "PATH",
)


def _unwrapped(markdown: str) -> str:
    """`markdown` with each paragraph and list item on one line, for Pants to wrap."""
    lines: list[str] = []
    for line in markdown.splitlines():
        if lines and lines[-1] and line.strip() and not line.startswith("- "):
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    return "\n".join(lines)


class LambdaPublisher(PythonToolRequirementsBase):
    options_scope = "lambda-publish"
    help = (
        softwrap(
            f"""
        Where `{bin_name()} publish` puts the zips of `lambda_artifact`, `nodejs_lambda_artifact`
        and `lambda_layer` targets: write-once stores keyed by content hash, and a catalog for
        Terraform.

        Each zip is uploaded once to `<store>/lambdas/<name>/<sha256>.zip` (a layer's under
        `layers/`) with `If-None-Match: *` and its SHA-256 checksum; a key that already exists is
        verified, never overwritten. AWS credentials come from boto3's standard chain
        (`AWS_PROFILE`, the `AWS_*` key variables, GitHub OIDC web identity), read only when
        publishing.
        """
        )
        + "\n\nTroubleshooting\n\n"
        + _unwrapped(resources.read_text(__package__, "troubleshooting.md"))
    )

    default_version = "boto3==1.44.5"
    register_interpreter_constraints = True
    default_interpreter_constraints = ["CPython>=3.11,<3.13"]
    default_lockfile_resource = ("repro_lambda.subsystems", "publisher.lock")
    lockfile_rules_type = LockfileRules.SIMPLE

    store = StrOption(
        default=DEFAULT_STORE,
        help=softwrap(
            """
            The store for artifacts: `s3://bucket` or `s3://bucket/prefix`, or `file://path` for
            a local directory with the same write-once rules (relative paths are relative to the
            build root). The default is a local store under `dist/`.
            """
        ),
    )
    edge_store = StrOption(
        default=None,
        help=softwrap(
            f"""
            The store for `lambda_at_edge=True` artifacts, which Lambda@Edge reads from
            us-east-1. Defaults to the `store` bucket (or directory) with `{EDGE_SUFFIX}` appended.
            """
        ),
    )
    region = StrOption(
        default=None,
        help="The store's AWS region. Defaults to boto3's (`AWS_REGION`, the profile's region).",
    )
    endpoint_url = StrOption(
        default=None,
        advanced=True,
        help="The S3 endpoint URL, for S3-compatible servers (MinIO, moto). Empty means AWS.",
    )
    catalog = StrOption(
        default="builds/catalog.json",
        help=softwrap(
            """
            The catalog file, relative to the build root: per logical name, the `current` key
            and its history, for Terraform's `s3_existing_package`. Commit it. Empty disables it.
            """
        ),
    )
    catalog_history = IntOption(
        default=10,
        advanced=True,
        help="How many previous keys the catalog keeps per name, newest first.",
    )
    max_attempts = IntOption(
        default=10,
        advanced=True,
        help=softwrap(
            """
            Attempts per request when S3 answers 409 ConditionalRequestConflict, 5xx or
            throttling, or the connection fails. Retries back off exponentially as in AWS'
            standard retry mode (1, 2, 4 … seconds with jitter, at most 20 s each, longer when S3
            sends `Retry-After`): the default rides out about a minute of throttling.
            """
        ),
    )
    dry_run = BoolOption(
        default=False,
        help="Print what would be published, without contacting the store or writing the catalog.",
    )

    def edge_store_url(self) -> str:
        """The edge store, derived from `store` unless set."""
        if self.edge_store:
            return self.edge_store
        scheme, _, rest = self.store.partition("://")
        if scheme == "file":
            return f"{self.store.rstrip('/')}{EDGE_SUFFIX}"
        bucket, slash, prefix = rest.partition("/")
        return f"{scheme}://{bucket}{EDGE_SUFFIX}{slash}{prefix}"


@dataclass(frozen=True)
class PublisherTool:
    tool: LambdaTool


@rule(desc="Setting up the Lambda publisher", level=LogLevel.DEBUG)
async def setup_publisher(publisher: LambdaPublisher, bootstrap: PythonBootstrap) -> PublisherTool:
    return PublisherTool(
        await build_lambda_tool(publisher, "repro_lambda.core.publish.publisher", bootstrap)
    )


def rules():
    return collect_rules()
