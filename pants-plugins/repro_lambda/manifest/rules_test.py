"""`lambda_manifest`: a reference-design `lambdas.toml` as targets, packaged like BUILD-declared
ones."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from textwrap import dedent

import pytest
from pants.core.goals.package import BuiltPackage, PackageFieldSet
from pants.engine.addresses import Address
from pants.engine.fs import DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.engine.target import AllTargets
from pants.testutil.rule_runner import RuleRunner

from repro_lambda.external.target_types import (
    LambdaExternalSourcesField,
    LambdaSourceMemberField,
    LambdaSourceVersionField,
    LambdaSourceVersionFromField,
)
from repro_lambda.manifest.rules import LambdaManifestError, ManifestPythonLambdaFieldSet
from repro_lambda.manifest.target_types import ManifestSourcesField
from repro_lambda.nodejs.rules import NodeLambdaFieldSet
from repro_lambda.nodejs.target_types import NodeLambdaSourcesField
from repro_lambda.target_types import LambdaAtEdgeField
from repro_lambda.testutil import ENV_INHERIT, lambda_options, make_rule_runner, run_lambda_lock
from repro_lambda.util_rules.batches import LambdaBatches

DIGEST = "a" * 64
DOCOPT_SDIST_SHA256 = "49b3a825280bd66b3aa83585ef59c4a8c82f2c8a522dbe754a8bc8d08c85c491"
MANIFEST = dedent(
    f"""\
    [[lambda]]
    logical_name = "app"
    source_dir = "src/app"
    runtime = "python3.13"
    arch = "arm64"
    handler = "app.lambda_handler"
    region = "eu-west-1"
    package_manager = "pip"
    lambda_at_edge = false
    hash_extra = ""

    [[lambda]]
    logical_name = "worker"
    source_dir = "src/worker"
    runtime = "python3.13"
    arch = "arm64"
    handler = "worker.handler.handler"
    include_patterns = ["worker/**/*.py"]
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
    include_patterns = ["**/*.py", "**/*.json", "**/*.js"]
    exclude_patterns = [".venv/**", "__pycache__/**", "*.pyc", ".git/**", ".env*"]
    """
)
PACKAGE_JSON = {"name": "edge", "version": "1.0.0"}
LOCKFILE = {
    "name": "edge",
    "version": "1.0.0",
    "lockfileVersion": 3,
    "requires": True,
    "packages": {"": {"name": "edge", "version": "1.0.0"}},
}
FILES = {
    "BUILD": 'lambda_manifest(name="lambdas")\n',
    "lambdas.toml": MANIFEST,
    "src/app/app.py": (
        "import helpers\n\n\ndef lambda_handler(event, context):\n    return helpers.ONE\n"
    ),
    "src/app/helpers.py": "ONE = 1\n",
    "src/app/conf/settings.json": "{}",
    "src/app/README.md": "not packed",
    "src/app/.env.json": "{}",
    "src/app/.venv/lib/site.py": "",
    "src/worker/worker/handler.py": "def handler(event, context):\n    return 2\n",
    "src/worker/worker/tests/test_handler.py": "",
    "src/worker/other.py": "",
    "src/edge/index.js": "exports.handler = async () => 1;\n",
    "src/edge/package.json": json.dumps(PACKAGE_JSON),
    "src/edge/package-lock.json": json.dumps(LOCKFILE),
}
APP = Address("", target_name="lambdas", generated_name="app")
WORKER = Address("", target_name="lambdas", generated_name="worker")
EDGE = Address("", target_name="lambdas", generated_name="edge")


@pytest.fixture
def rule_runner() -> RuleRunner:
    rule_runner = make_rule_runner(
        QueryRule(BuiltPackage, [ManifestPythonLambdaFieldSet]),
        QueryRule(BuiltPackage, [NodeLambdaFieldSet]),
        QueryRule(AllTargets, []),
        QueryRule(LambdaBatches, []),
    )
    rule_runner.write_files(FILES)
    return rule_runner


def package(rule_runner: RuleRunner, address: Address) -> tuple[zipfile.ZipFile, dict]:
    target = rule_runner.get_target(address)
    field_set: PackageFieldSet = (
        NodeLambdaFieldSet.create(target)
        if NodeLambdaFieldSet.is_applicable(target)
        else ManifestPythonLambdaFieldSet.create(target)
    )
    built = rule_runner.request(BuiltPackage, [field_set])
    contents = {fc.path: fc.content for fc in rule_runner.request(DigestContents, [built.digest])}
    (zip_path,) = [path for path in contents if path.endswith(".zip")]
    metadata = json.loads(contents[zip_path.removesuffix(".zip") + ".json"])
    return zipfile.ZipFile(io.BytesIO(contents[zip_path])), metadata


def test_one_target_per_lambda_addressed_by_logical_name(rule_runner: RuleRunner) -> None:
    targets = {t.address: t for t in rule_runner.request(AllTargets, [])}
    assert {APP, WORKER, EDGE} <= set(targets)
    assert targets[EDGE].alias == "nodejs_lambda_artifact"
    assert targets[APP].alias == "manifest_python_lambda"


def test_files_are_the_manifests_patterns_under_source_dir(rule_runner: RuleRunner) -> None:
    archive, metadata = package(rule_runner, APP)
    assert sorted(archive.namelist()) == ["app.py", "conf/settings.json", "helpers.py"]
    assert metadata["logical_name"] == "app" and metadata["architecture"] == "arm64"
    assert metadata["s3_key"].startswith("lambdas/app/")
    # an override replaces the default patterns, it is not merged with them
    archive, _ = package(rule_runner, WORKER)
    assert archive.namelist() == ["worker/handler.py"]


def test_patterns_that_match_nothing_are_left_out(rule_runner: RuleRunner) -> None:
    """So that Pants does not warn of a `**/*.js` that matches nothing in a Python lambda."""
    targets = {t.address: t for t in rule_runner.request(AllTargets, [])}
    assert [g for g in targets[APP][ManifestSourcesField].globs if not g.startswith("!")] == [
        "src/app/**/*.py",
        "src/app/**/*.json",
    ]
    assert [g for g in targets[EDGE][NodeLambdaSourcesField].globs if not g.startswith("!")] == [
        "src/edge/**/*.json",
        "src/edge/**/*.js",
    ]


def test_an_override_rekeys_its_lambda_and_no_other(rule_runner: RuleRunner) -> None:
    before = {a: package(rule_runner, a)[1]["s3_key"] for a in (APP, WORKER)}
    changed = MANIFEST.replace('exclude_patterns = ["**/tests/**"]', 'exclude_patterns = ["x"]')
    rule_runner.write_files({"lambdas.toml": changed})
    after = {a: package(rule_runner, a)[1]["s3_key"] for a in (APP, WORKER)}
    assert after[APP] == before[APP]
    assert after[WORKER] != before[WORKER]
    # the builder's image digest too
    rule_runner.write_files({"lambdas.toml": MANIFEST.replace(DIGEST, "b" * 64)})
    assert package(rule_runner, APP)[1]["s3_key"] != before[APP]


def test_an_npm_edge_lambda_is_a_nodejs_artifact(rule_runner: RuleRunner) -> None:
    target = rule_runner.get_target(EDGE)
    assert target[LambdaAtEdgeField].value is True
    archive, metadata = package(rule_runner, EDGE)
    assert "index.js" in archive.namelist() and metadata["runtime"] == "nodejs22.x"


@pytest.mark.parametrize(
    "manifest, message",
    [
        ("[[lambda]\n", r"lambdas.toml is not valid TOML"),
        (
            MANIFEST.replace('hash_extra = ""', "memory = 1"),
            r"\[\[lambda\]\] #1 \(app\): unknown key 'memory'",
        ),
        (
            MANIFEST.replace(f"python:3.13@sha256:{DIGEST}", "python:3.13"),
            r"\[builder\]: `base_image_python` = 'public.ecr.aws/lambda/python:3.13' is not pinned",
        ),
        (
            MANIFEST.replace('region = "us-east-1"', 'region = "eu-west-1"'),
            r"#3 \(edge\): `lambda_at_edge` deploys from us-east-1",
        ),
    ],
)
def test_bad_manifests_are_explained(rule_runner: RuleRunner, manifest: str, message: str) -> None:
    rule_runner.write_files({"lambdas.toml": manifest})
    with pytest.raises(ExecutionError, match=message):
        rule_runner.get_target(APP)


def manifest_error(rule_runner: RuleRunner, old: str, new: str) -> str:
    """The error of the manifest with `old` replaced by `new`, as `pants` prints it."""
    rule_runner.write_files({"lambdas.toml": MANIFEST.replace(old, new)})
    with pytest.raises(ExecutionError) as exc_info:
        rule_runner.get_target(APP)
    (error,) = exc_info.value.wrapped_exceptions
    assert isinstance(error, LambdaManifestError)
    return str(error)


def test_a_source_dir_that_does_not_exist_is_named(rule_runner: RuleRunner) -> None:
    """Not "no files to pack" when the lambda is packaged."""
    message = manifest_error(rule_runner, 'source_dir = "src/worker"', 'source_dir = "src/wroker"')
    assert message == (
        "lambdas.toml: [[lambda]] #2 (worker): `source_dir` = 'src/wroker' does not exist (it is"
        " relative to the repository's root): correct the path, create the directory with the"
        " lambda's code, or remove this [[lambda]]."
    )


@pytest.mark.parametrize(
    "old, new, where",
    [
        ('source_dir = "src/worker"', 'source_dir = "../elsewhere"', "#2 (worker): `source_dir`"),
        ('source_dir = "src/worker"', 'source_dir = "src/../.."', "#2 (worker): `source_dir`"),
        ('source_dir = "src/worker"', 'source_dir = "/srv/worker"', "#2 (worker): `source_dir`"),
        (
            'package_json = "src/edge/package.json"',
            'package_json = "../edge/package.json"',
            "#3 (edge): `package_json`",
        ),
    ],
)
def test_a_path_outside_the_repository_is_refused(
    rule_runner: RuleRunner, old: str, new: str, where: str
) -> None:
    """Not Pants' "Globs may not traverse outside of the buildroot"; nor is an absolute path taken
    as one under the repository's root."""
    message = manifest_error(rule_runner, old, new)
    value = new.split(" = ")[1].strip('"')
    assert message == (
        f"lambdas.toml: [[lambda]] {where} = {value!r} is outside the repository. Paths in"
        " lambdas.toml are relative to the repository's root and stay under it, where Pants reads"
        " files: move the files into the repository and give their path from its root."
    )


def test_hash_extra_must_leave_room_for_the_builders_fingerprint(rule_runner: RuleRunner) -> None:
    """The zip comment is `hash_extra`, a newline and `builder=<sha256>`: 73 bytes more."""
    message = manifest_error(rule_runner, 'hash_extra = ""', f'hash_extra = "{"x" * 65_463}"')
    assert message == (
        "lambdas.toml: [[lambda]] #1 (app): `hash_extra` is too long: with the builder's"
        " fingerprint it makes a zip comment of 65,536 bytes, over a zip comment's limit of"
        " 65,535. Shorten it to at most 65,462 bytes (UTF-8)."
    )
    rule_runner.write_files(
        {"lambdas.toml": MANIFEST.replace('hash_extra = ""', f'hash_extra = "{"x" * 65_462}"')}
    )
    rule_runner.get_target(APP)


SOURCES = dedent(
    """\
    [[lambda.source]]
    name = "vendor"
    type = "github_release"
    repo = "owner/vendor-tool"
    tag = "vendor-v{version}"
    asset = "vendor-{version}.tar.gz"
    sha256 = "<written by the reference's lock>"
    extract = "tar.gz"
    member = "vendor-{version}"
    dest = "vendor"
    version = "1.4.0"

    [[lambda.source]]
    name = "terraform"
    type = "https"
    url = "https://releases.example.com/terraform/{version}/terraform_{version}_linux_arm64.zip"
    extract = "zip"
    member = "terraform"
    dest = "bin/terraform"
    executable = true
    version = "1.9.0"
    [lambda.source.version_from]
    source = "vendor"
    file = ".tool-versions"
    key = "terraform"
    """
)


def test_lambda_sources_become_lambda_source_targets(rule_runner: RuleRunner) -> None:
    first, rest = MANIFEST.split("\n[[lambda]]\n", 1)
    rule_runner.write_files({"lambdas.toml": f"{first}\n{SOURCES}\n[[lambda]]\n{rest}"})
    vendor = Address("", target_name="lambdas", generated_name="app.vendor")
    terraform = rule_runner.get_target(
        Address("", target_name="lambdas", generated_name="app.terraform")
    )
    assert terraform.alias == "lambda_source"
    assert dict(terraform[LambdaSourceVersionFromField].value or {}) == {
        "source": vendor.spec,
        "file": ".tool-versions",
        "key": "terraform",
    }
    assert (
        terraform[LambdaSourceVersionField].value is None
    )  # what the reference's lock wrote; ours resolves it
    assert rule_runner.get_target(vendor)[LambdaSourceMemberField].value == "vendor-{version}"
    app = rule_runner.get_target(APP)
    assert set(app[LambdaExternalSourcesField].value or ()) == {vendor.spec, terraform.address.spec}


SIX_WHEEL_SHA256 = "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254"


def with_lock(rule_runner: RuleRunner, sha256: str) -> None:
    manifest = MANIFEST.replace(
        'handler = "app.lambda_handler"',
        'handler = "app.lambda_handler"\nrequirements_lock = "src/app/requirements.${arch}.lock"',
    )
    rule_runner.write_files(
        {
            "lambdas.toml": manifest,
            "src/app/requirements.arm64.lock": f"six==1.16.0 \\\n    --hash=sha256:{sha256}\n",
            "src/app/helpers.py": "import six\n\nONE = 1\n",
        }
    )


def test_wheels_come_from_the_hashed_lock_of_the_architecture(rule_runner: RuleRunner) -> None:
    with_lock(rule_runner, SIX_WHEEL_SHA256)
    archive, _ = package(rule_runner, APP)
    names = archive.namelist()
    assert "six.py" in names and "six-1.16.0.dist-info/METADATA" in names
    # the lock file is not a source of the lambda: the patterns take *.py and *.json only
    assert "requirements.arm64.lock" not in names


def test_a_wheel_whose_hash_the_lock_does_not_list_is_refused(rule_runner: RuleRunner) -> None:
    with_lock(rule_runner, "0" * 64)
    with pytest.raises(
        ExecutionError,
        match=rf"six-1.16.0-py2.py3-none-any.whl of six==1.16.0 has sha256 {SIX_WHEEL_SHA256},"
        r" which src/app/requirements.arm64.lock does not list",
    ):
        package(rule_runner, APP)


def test_a_manifests_lambdas_pack_together_as_alone_and_fail_alone(
    rule_runner: RuleRunner,
) -> None:
    """The pip lambdas of one manifest are packed in one process: each zip is what it is alone,
    and a lambda that cannot be prepared fails only its own package."""
    start = MANIFEST.index('logical_name = "worker"')
    worker = MANIFEST[start : MANIFEST.index("[[lambda]]", start)]
    builder = MANIFEST[MANIFEST.index("[builder]") :]
    rule_runner.write_files({"lambdas.toml": f"[[lambda]]\n{worker}{builder}"})
    assert rule_runner.request(LambdaBatches, []).by_address[WORKER] == (
        ManifestPythonLambdaFieldSet.create(rule_runner.get_target(WORKER)),
    )
    alone = package(rule_runner, WORKER)[1]
    with_lock(rule_runner, "0" * 64)
    batch = rule_runner.request(LambdaBatches, []).by_address[WORKER]
    assert {field_set.address for field_set in batch} == {APP, WORKER}
    assert package(rule_runner, WORKER)[1] == alone  # its metadata has the zip's sha256
    with pytest.raises(ExecutionError, match="does not list") as exc_info:
        package(rule_runner, APP)
    assert "worker" not in str(exc_info.value.wrapped_exceptions[0])


def test_a_missing_lock_says_how_to_make_it(rule_runner: RuleRunner) -> None:
    with_lock(rule_runner, SIX_WHEEL_SHA256)
    rule_runner.write_files({"src/app/requirements.arm64.lock": ""})
    Path(rule_runner.build_root, "src/app/requirements.arm64.lock").unlink()
    with pytest.raises(
        ExecutionError, match=r"requirements.arm64.lock does not exist.*lambda-lock"
    ):
        package(rule_runner, APP)


def test_symlinks_are_skipped_with_a_warning(
    rule_runner: RuleRunner, caplog: pytest.LogCaptureFixture
) -> None:
    Path(rule_runner.build_root, "src/app/linked.py").symlink_to("helpers.py")
    archive, _ = package(rule_runner, APP)
    assert "linked.py" not in archive.namelist()
    assert "//:lambdas#app: skipped symlink src/app/linked.py" in caplog.text


def test_npm_lambdas_skip_symlinks_too(
    rule_runner: RuleRunner, caplog: pytest.LogCaptureFixture
) -> None:
    Path(rule_runner.build_root, "src/edge/linked.js").symlink_to("index.js")
    archive, _ = package(rule_runner, EDGE)
    assert "index.js" in archive.namelist() and "linked.js" not in archive.namelist()
    assert "//:lambdas#edge: skipped symlink src/edge/linked.js" in caplog.text


def test_lambda_lock_compiles_the_lock_that_package_installs(rule_runner: RuleRunner) -> None:
    with_lock(rule_runner, "0" * 64)
    rule_runner.write_files({"src/app/requirements.in": "six==1.16.0\n"})
    stdout = run_lambda_lock(rule_runner)
    assert "skip edge: npm uses package-lock.json directly" in stdout
    assert "Wrote src/app/requirements.arm64.lock" in stdout
    lock = Path(rule_runner.build_root, "src/app/requirements.arm64.lock").read_text()
    assert f"--hash=sha256:{SIX_WHEEL_SHA256}" in lock and "lambda-lock" in lock
    archive, _ = package(rule_runner, APP)
    assert "six.py" in archive.namelist()
    assert "Unchanged: src/app/requirements.arm64.lock" in run_lambda_lock(rule_runner)


def test_a_pin_without_a_wheel_is_locked_as_its_sdist_and_built(rule_runner: RuleRunner) -> None:
    """docopt publishes only an sdist: `lambda-lock` records its hash, `package` builds its wheel
    for the runtime and installs it; `[lambda-lock].only_binary` refuses it in both goals."""
    with_lock(rule_runner, SIX_WHEEL_SHA256)
    rule_runner.write_files({"src/app/requirements.in": "docopt==0.6.2\nsix==1.16.0\n"})
    run_lambda_lock(rule_runner)
    lock = Path(rule_runner.build_root, "src/app/requirements.arm64.lock").read_text()
    assert f"--hash=sha256:{DOCOPT_SDIST_SHA256}" in lock
    archive, _ = package(rule_runner, APP)
    assert {"docopt.py", "docopt-0.6.2.dist-info/METADATA"} <= set(archive.namelist())
    with pytest.raises(
        ExecutionError, match=r"wheels only(.|\n)*docopt==0.6.2 has no usable wheels"
    ):
        run_lambda_lock(rule_runner, "--lambda-lock-only-binary=['*']")
    rule_runner.set_options(
        [*lambda_options(), "--lambda-lock-only-binary=['docopt']"], env_inherit=ENV_INHERIT
    )
    with pytest.raises(ExecutionError, match=r"//:lambdas#app(.|\n)*docopt"):
        package(rule_runner, APP)


def test_lambda_lock_names_the_requirement_without_a_wheel(rule_runner: RuleRunner) -> None:
    """numpy 2.3.0 has only manylinux_2_28 wheels: too new for python3.11's glibc 2.26, and
    `[lambda-lock].only_binary` refuses its sdist."""
    with_lock(rule_runner, SIX_WHEEL_SHA256)
    manifest = Path(rule_runner.build_root, "lambdas.toml").read_text()
    rule_runner.write_files(
        {
            "lambdas.toml": manifest.replace('"python3.13"', '"python3.11"', 1),
            "src/app/requirements.in": "numpy==2.3.0\n",
        }
    )
    with pytest.raises(
        ExecutionError,
        match=r"//:lambdas#app: uv could not compile src/app/requirements.in into"
        r" src/app/requirements.arm64.lock for python3.11 arm64(.|\n)*numpy",
    ):
        run_lambda_lock(rule_runner, "--lambda-lock-only-binary=['numpy']")


def test_lambda_lock_skips_a_lambda_without_requirements_in(rule_runner: RuleRunner) -> None:
    with_lock(rule_runner, SIX_WHEEL_SHA256)
    stdout = run_lambda_lock(rule_runner)
    assert (
        "skip app: no src/app/requirements.in to compile src/app/requirements.arm64.lock from"
        in stdout
    )
