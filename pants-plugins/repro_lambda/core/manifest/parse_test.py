from __future__ import annotations

import tomllib

import pytest

from repro_lambda.core.contract import Architecture, UserError
from repro_lambda.core.manifest.parse import (
    DEFAULT_EXCLUDE,
    DEFAULT_INCLUDE,
    ManifestLambda,
    PackageManager,
    parse_manifest,
)

DIGEST = "a" * 64
OTHER = "b" * 64
PATH = "lambdas.toml"

REFERENCE = f"""
[[lambda]]
logical_name = "app"
source_dir = "src/app"
requirements_lock = "src/app/requirements.${{arch}}.lock"
runtime = "python3.13"
arch = "arm64"
handler = "app.lambda_handler"
region = "eu-west-1"
package_manager = "pip"
lambda_at_edge = false
hash_extra = ""

[[lambda.source]]
name = "vendor"
type = "github_release"
repo = "owner/vendor-tool"
tag = "vendor-v{{version}}"
asset = "vendor-{{version}}.tar.gz"
sha256 = "{DIGEST}"
extract = "tar.gz"
member = "vendor-{{version}}"
dest = "vendor"
version = "1.4.0"

[[lambda.source]]
name = "terraform"
type = "https"
url = "https://releases.hashicorp.com/terraform/{{version}}/terraform_{{version}}_linux_arm64.zip"
sha256 = "{DIGEST}"
extract = "zip"
member = "terraform"
dest = "bin/terraform"
executable = true
version = "1.9.0"
[lambda.source.version_from]
source = "vendor"
file = ".tool-versions"
key = "terraform"

[[lambda]]
logical_name = "worker"
source_dir = "src/worker"
requirements_lock = "src/worker/requirements.${{arch}}.lock"
runtime = "python3.13"
arch = "x86_64"
handler = "worker.handler"
base_image_python = "public.ecr.aws/lambda/python:3.13@sha256:{OTHER}"
include_patterns = ["worker/**/*.py", "worker/**/*.json"]
exclude_patterns = ["**/tests/**"]

[[lambda]]
logical_name = "edge"
source_dir = "src/edge"
requirements_lock = "src/edge/package-lock.json"
package_json = "src/edge/package.json"
runtime = "nodejs22.x"
arch = "x86_64"
handler = "index.handler"
region = "us-east-1"
package_manager = "npm"
lambda_at_edge = true

[builder]
base_image_python = "public.ecr.aws/lambda/python:3.13@sha256:{DIGEST}"
base_image_nodejs = "public.ecr.aws/lambda/nodejs:22@sha256:{DIGEST}"
include_patterns = ["**/*.py", "**/*.json"]
exclude_patterns = [".venv/**", "__pycache__/**", "*.pyc", ".git/**", ".env*"]
"""


def parse(text: str) -> list[ManifestLambda]:
    return parse_manifest(tomllib.loads(text), PATH)


def test_the_reference_manifest_reads_as_it_states() -> None:
    app, worker, edge = parse(REFERENCE)
    assert (app.logical_name, app.arch, app.package_manager) == ("app", Architecture.ARM64, "pip")
    assert app.lock_path == "src/app/requirements.arm64.lock"
    assert app.builder.include_patterns == ("**/*.py", "**/*.json")
    vendor, terraform = app.sources
    assert vendor.version == "1.4.0" and terraform.version_from is not None
    assert terraform.version is None  # the reference's lock wrote it; ours resolves it
    # an override replaces the default, lists are not merged; an unset field inherits
    assert worker.builder.include_patterns == ("worker/**/*.py", "worker/**/*.json")
    assert worker.builder.exclude_patterns == ("**/tests/**",)
    assert (worker.builder.base_image_python or "").endswith(OTHER)
    assert worker.builder.base_image_nodejs == app.builder.base_image_nodejs
    assert edge.package_manager is PackageManager.NPM and edge.lambda_at_edge
    assert edge.lock_path == "src/edge/package-lock.json"


def test_the_builder_folds_into_the_key_of_its_lambda_only() -> None:
    before = {item.logical_name: item.key_extra for item in parse(REFERENCE)}
    changed = REFERENCE.replace('exclude_patterns = ["**/tests/**"]', "exclude_patterns = []")
    after = {item.logical_name: item.key_extra for item in parse(changed)}
    assert after["worker"] != before["worker"]
    assert after["app"] == before["app"] and after["edge"] == before["edge"]
    # the node lambda's key follows the nodejs image, not the python one
    python_image = REFERENCE.replace(
        f"python:3.13@sha256:{DIGEST}", f"python:3.13@sha256:{'c' * 64}"
    )
    after = {item.logical_name: item.key_extra for item in parse(python_image)}
    assert after["edge"] == before["edge"] and after["app"] != before["app"]


def test_defaults_without_a_builder_table() -> None:
    (item,) = parse(
        '[[lambda]]\nlogical_name="a"\nsource_dir="src/a"\nruntime="python3.12"\nhandler="a.h"\n'
    )
    assert item.arch is Architecture.X86_64 and item.package_manager is PackageManager.PIP
    assert item.builder.include_patterns == DEFAULT_INCLUDE
    assert item.builder.exclude_patterns == DEFAULT_EXCLUDE
    assert item.key_extra.startswith("builder=")


MINIMAL = '[[lambda]]\nlogical_name="a"\nsource_dir="src/a"\nruntime="python3.12"\nhandler="a.h"\n'


@pytest.mark.parametrize(
    "text, message",
    [
        ("colour = 1\n", r"lambdas.toml: unknown key 'colour' in the manifest"),
        (
            MINIMAL + "memory = 128\n",
            r"\[\[lambda\]\] #1 \(a\): unknown key 'memory' in a \[\[lambda\]\]",
        ),
        (
            '[[lambda]]\nlogical_name="a"\n',
            r"#1 \(a\): missing required fields source_dir, runtime, handler",
        ),
        (MINIMAL + MINIMAL, r"#2 \(a\): `logical_name` 'a' is also \[\[lambda\]\] #1's"),
        (MINIMAL + 'arch="sparc"\n', r"#1 \(a\): `arch` 'sparc' is not one of x86_64, arm64"),
        (MINIMAL.replace("python3.12", "python3.99"), r"unknown `runtime` 'python3.99'"),
        (MINIMAL + 'package_manager="npm"\n', r"does not go with `package_manager` 'npm'"),
        (
            MINIMAL.replace("python3.12", "nodejs22.x") + 'package_manager="npm"\n',
            r"an npm lambda needs `package_json`",
        ),
        (
            MINIMAL + 'lambda_at_edge=true\narch="arm64"\nregion="us-east-1"\n',
            r'set `arch = "x86_64"`',
        ),
        (MINIMAL + 'lambda_at_edge=true\nregion="eu-west-1"\n', r'set `region = "us-east-1"`'),
        (
            MINIMAL + 'base_image_python="public.ecr.aws/lambda/python:3.13"\n',
            r"#1 \(a\): `base_image_python` = 'public.ecr.aws/lambda/python:3.13' is not pinned",
        ),
        (
            MINIMAL + '[builder]\nbase_image_nodejs="node:22"\n',
            r"lambdas.toml: \[builder\]: `base_image_nodejs` = 'node:22' is not pinned",
        ),
        (MINIMAL + 'include_patterns="**/*.py"\n', r"`include_patterns` must be a list of strings"),
        (
            MINIMAL
            + 'requirements_lock="r.lock"\n'
            + MINIMAL.replace('"a"', '"b"', 1)
            + 'arch="arm64"\n',
            r"#1 \(a\): `requirements_lock` 'r.lock' has no \$\{arch\}, but the manifest builds"
            r" for arm64 and x86_64",
        ),
        (
            MINIMAL + '[[lambda.source]]\nname="s"\ntype="ftp"\n',
            r"source 's': `type` 'ftp' is not one of https, github_release",
        ),
        (
            MINIMAL
            + '[[lambda.source]]\nname="s"\ntype="https"\nurl="http://x"\nversion="1"\ndest="d"\n',
            r"source 's': .*must start with https://",
        ),
        (
            MINIMAL
            + '[[lambda.source]]\nname="s"\ntype="https"\nurl="https://x"\nversion="1"\ndest="d"\n'
            + '[[lambda.source]]\nname="s"\ntype="https"\nurl="https://y"\nversion="1"\ndest="e"\n',
            r"two \[\[lambda.source\]\] are named 's'",
        ),
        (
            MINIMAL + '[[lambda.source]]\nname="s"\nmirror="x"\n',
            r"unknown key 'mirror' in \[\[lambda.source\]\]",
        ),
        ("lambda = 1\n", r"`lambda` must be an array of tables"),
    ],
)
def test_bad_manifests_name_the_file_the_lambda_and_the_fix(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse(text)


def test_a_single_architecture_repo_may_use_one_lock() -> None:
    (item,) = parse(MINIMAL + 'requirements_lock="src/a/requirements.lock"\n')
    assert item.lock_path == "src/a/requirements.lock"
