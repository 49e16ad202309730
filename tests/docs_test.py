"""docs/publishing.md and the troubleshooting answers: bucket policy, Terraform, workflow, config.

The file is read relative to the working directory: the build root, or the Pants sandbox root
(where `//docs:docs` puts it at the same path).
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

DOC = Path("docs/publishing.md")
# What `pants help lambda-publish` shows and the publisher's errors point to.
TROUBLESHOOTING = Path("pants-plugins/repro_lambda/subsystems/troubleshooting.md")
BUCKET = "dev-my-lambda-artifacts"

# Fenced blocks at the start of a line: ```lang … ```
FENCE = re.compile(r"^```([\w+-]*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@pytest.fixture(scope="module")
def text() -> str:
    assert DOC.is_file(), f"{DOC} not found from {Path.cwd()}"
    return DOC.read_text(encoding="utf-8")


def blocks(text: str, lang: str) -> list[str]:
    return [body for fence_lang, body in FENCE.findall(text) if fence_lang == lang]


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


@pytest.fixture(scope="module")
def policy(text: str) -> dict:
    json_blocks = blocks(text, "json")
    assert len(json_blocks) == 1, "the bucket policy must be the one ```json block"
    document: dict = json.loads(json_blocks[0])
    return document


def statements(policy: dict, effect: str, action: str) -> list[dict]:
    return [
        s for s in policy["Statement"] if s["Effect"] == effect and action in as_list(s["Action"])
    ]


def test_policy_document(policy: dict) -> None:
    assert policy["Version"] == "2012-10-17"
    assert isinstance(policy["Statement"], list)
    sids = [s.get("Sid") for s in policy["Statement"]]
    assert len(sids) == len(set(sids)), "duplicate Sid"


def test_put_denied_without_if_none_match(policy: dict) -> None:
    (deny,) = statements(policy, "Deny", "s3:PutObject")
    assert deny["Principal"] == "*"
    # AWS's condition key for conditional writes, in AWS's spelling; a missing header makes
    # StringNotEquals true, so a put without `If-None-Match: *` is denied.
    assert deny["Condition"] == {"StringNotEquals": {"s3:if-none-match": "*"}}
    assert as_list(deny["Resource"]) == [f"arn:aws:s3:::{BUCKET}/*"]


def test_delete_denied_unconditionally(policy: dict) -> None:
    (deny,) = statements(policy, "Deny", "s3:DeleteObject")
    assert set(as_list(deny["Action"])) == {"s3:DeleteObject", "s3:DeleteObjectVersion"}
    assert "Condition" not in deny
    assert deny["Principal"] == "*"
    assert as_list(deny["Resource"]) == [f"arn:aws:s3:::{BUCKET}/*"]


def test_insecure_transport_denied(policy: dict) -> None:
    (deny,) = statements(policy, "Deny", "s3:*")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert set(as_list(deny["Resource"])) == {f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"}


def test_lambda_service_may_read(policy: dict) -> None:
    (allow,) = statements(policy, "Allow", "s3:GetObject")
    assert allow["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert as_list(allow["Action"]) == ["s3:GetObject"]
    assert as_list(allow["Resource"]) == [f"arn:aws:s3:::{BUCKET}/*"]
    (source_account,) = allow["Condition"]["StringEquals"].values()
    assert list(allow["Condition"]["StringEquals"]) == ["aws:SourceAccount"]
    assert re.fullmatch(r"\d{12}", source_account)


def test_policy_allows_nothing_else(policy: dict) -> None:
    allows = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert len(allows) == 1, "only the Lambda service read is allowed by the bucket policy"


def test_terraform_mirrors_the_policy(text: str, policy: dict) -> None:
    (module,) = [b for b in blocks(text, "hcl") if '"write_once"' in b]
    assert re.findall(r'sid\s*=\s*"(\w+)"', module) == [s["Sid"] for s in policy["Statement"]]
    assert re.search(
        r'test\s*=\s*"StringNotEquals"\s*\n\s*variable\s*=\s*"s3:if-none-match"\s*\n'
        r'\s*values\s*=\s*\["\*"\]',
        module,
    )
    assert re.search(r'actions\s*=\s*\["s3:DeleteObject", "s3:DeleteObjectVersion"\]', module)
    assert 'sse_algorithm = "AES256"' in module
    for setting in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert re.search(rf"{setting}\s*=\s*true", module), setting
    assert "aws_s3_bucket_versioning" not in module.replace(
        "# No aws_s3_bucket_versioning", ""
    ), "versioning stays off"


def test_ci_role(text: str) -> None:
    (bootstrap,) = [b for b in blocks(text, "hcl") if "sts:AssumeRoleWithWebIdentity" in b]
    assert '"token.actions.githubusercontent.com:aud"' in bootstrap
    assert re.search(r'actions\s*=\s*\["s3:PutObject", "s3:GetObject"\]', bootstrap)
    assert re.search(r'actions\s*=\s*\["s3:ListBucket"\]', bootstrap)
    assert '"${local.env}-my-lambda-artifacts-us-east-1"' in bootstrap
    assert "aws.us_east_1" in bootstrap
    # HeadObject is authorised by s3:GetObject; there is no such IAM action to grant.
    assert "s3:HeadObject" not in text


def test_consumer_reads_current_from_the_catalog(text: str) -> None:
    read = re.compile(
        r'(\w+)\s*=\s*jsondecode\(file\("\$\{path\.module\}/builds/catalog\.json"\)\)'
    )
    consumers = [b for b in blocks(text, "hcl") if read.search(b)]
    assert consumers, "no Terraform reads builds/catalog.json"
    for block in consumers:
        match = read.search(block)
        assert match
        name = match.group(1)
        assert "s3_existing_package" in block
        assert re.search(
            rf'key\s*=\s*"lambdas/(\w+)/\$\{{local\.{name}\.lambdas\.\1\.current\}}\.zip"', block
        ), "the key must come from .lambdas.<name>.current"
        assert re.search(rf"bucket\s*=\s*local\.{name}\.lambdas\.\w+\.bucket", block)
        assert "create_package = false" in block
        assert '"terraform-aws-modules/lambda/aws"' in block


def test_consumer_lambda_at_edge(text: str) -> None:
    (edge,) = [b for b in blocks(text, "hcl") if re.search(r"lambda_at_edge\s*=\s*true", b)]
    assert 'region = "us-east-1"' in edge
    assert "providers = { aws = aws.us_east_1 }" in edge
    assert re.search(r'architectures\s*=\s*\["x86_64"\]', edge)
    assert re.search(r'local\.catalog\.lambdas\["edge-auth"\]\.current', edge)
    assert "s3_existing_package" in edge


def test_workflow(text: str) -> None:
    (workflow,) = [b for b in blocks(text, "yaml") if "jobs:" in b]
    assert re.search(r"^permissions:\n(?:  .*\n)*?  id-token: write\b", workflow, re.MULTILINE)
    assert re.search(r"^permissions:\n(?:  .*\n)*?  contents: write\b", workflow, re.MULTILINE)
    assert "uses: aws-actions/configure-aws-credentials@v4" in workflow
    assert re.search(r"role-to-assume: arn:aws:iam::\d{12}:role/", workflow)
    checkout = workflow.index("actions/checkout@")
    package = workflow.index("run: ./pants package ::")
    publish = workflow.index("run: ./pants publish ::")
    commit = workflow.index("git add builds/catalog.json")
    assert checkout < package < publish < commit
    assert "git push" in workflow[commit:]


def test_pin_actions_advice(text: str) -> None:
    assert re.search(r"pin each action to a full commit SHA", text)


def test_catalog_example(text: str) -> None:
    (example,) = blocks(text, "jsonc")
    catalog = json.loads(example)
    assert catalog["schema_version"] == 1
    assert catalog["layers"] == {}
    for name, entry in catalog["lambdas"].items():
        current = entry["current"]
        assert re.fullmatch(r"[0-9a-f]{64}", current)
        assert entry["key"] == f"lambdas/{name}/{current}.zip"
        assert entry["store"] == f"s3://{entry['bucket']}"
        assert base64.b64decode(entry["code_sha256"]) == bytes.fromhex(current)
        assert entry["bucket"].endswith("-us-east-1") == entry["lambda_at_edge"]
        assert isinstance(entry["layers"], list)
        for old in entry["history"]:
            assert old["key"] == f"lambdas/{name}/{old['sha256']}.zip"
            assert old["sha256"] != current


@pytest.mark.parametrize(
    "topic",
    [
        "403 AccessDenied",
        "412 `PreconditionFailed`",
        "409 `ConditionalRequestConflict`",
        "already holds different bytes",
        "aws configure set default.s3.multipart_threshold 300MB",
        "The catalog did not change",
        "A dry run",
    ],
)
def test_troubleshooting_covers(topic: str) -> None:
    assert topic in TROUBLESHOOTING.read_text(encoding="utf-8")
