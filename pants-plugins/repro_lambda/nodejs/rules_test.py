"""`package` of `nodejs_lambda_artifact`: sources, `npm ci` (real npm) and its errors."""

from __future__ import annotations

import io
import json
import re
import zipfile
from textwrap import dedent
from typing import Any

import pytest
from pants.core.goals.package import BuiltPackage
from pants.engine.addresses import Address
from pants.engine.fs import DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner

from repro_lambda.core.runtimes import NODEJS_RUNTIMES
from repro_lambda.nodejs.rules import NodeLambdaError, NodeLambdaFieldSet
from repro_lambda.testutil import make_rule_runner

ADDRESS = Address("src/nodejs/fn", target_name="fn")
MS = {
    "version": "2.1.3",
    "integrity": (
        "sha512-6FlzubTLZG3J2a/NVCAleEhjzq5oxgHyaCU9yYXvcLsvoVaHJq/s5xXI6/XXP6tz7R9xAOtHnSO/tXtF3WRTlA=="  # noqa: E501
    ),
}
IS_NUMBER = {
    "version": "7.0.0",
    "integrity": (
        "sha512-41Cifkg6e8TylSpdtTpeLVMqvSBEVzTttHvERD741+pnZ8ANv0004MRL43QKPDlK9cGvNp6NZWZUBlbGXYxxng=="  # noqa: E501
    ),
    "dev": True,
}
PACKAGE = {
    "name": "fn",
    "version": "1.0.0",
    "dependencies": {"ms": "2.1.3"},
    "devDependencies": {"is-number": "7.0.0"},
}
LOCK: dict[str, Any] = {
    "name": "fn",
    "version": "1.0.0",
    "lockfileVersion": 3,
    "requires": True,
    "packages": {
        "": {k: PACKAGE[k] for k in ("name", "version", "dependencies", "devDependencies")},
        "node_modules/ms": MS,
        "node_modules/is-number": IS_NUMBER,
    },
}
FILES = {
    "src/nodejs/fn/BUILD": (
        'nodejs_lambda_artifact(name="fn", handler="index.handler", runtime="nodejs20.x",'
        ' architecture="arm64")\n'
    ),
    "src/nodejs/fn/index.js": (
        'const ms = require("ms");\nexports.handler = async () => ms(60000);\n'
    ),
    "src/nodejs/fn/lib/util.mjs": "export const one = 1;\n",
    "src/nodejs/fn/test/index.test.js": 'require("is-number");\n',
    "src/nodejs/fn/index.spec.js": "",
    "src/nodejs/fn/README.md": "not packed\n",
}


@pytest.fixture
def rule_runner() -> RuleRunner:
    return make_rule_runner(QueryRule(BuiltPackage, [NodeLambdaFieldSet]))


def write(rule_runner: RuleRunner, package: dict = PACKAGE, lock: dict | None = LOCK) -> None:
    files = {**FILES, "src/nodejs/fn/package.json": json.dumps(package)}
    if lock is not None:
        files["src/nodejs/fn/package-lock.json"] = json.dumps(lock)
    rule_runner.write_files(files)


def package(rule_runner: RuleRunner) -> list[str]:
    field_set = NodeLambdaFieldSet.create(rule_runner.get_target(ADDRESS))
    built = rule_runner.request(BuiltPackage, [field_set])
    contents = {fc.path: fc.content for fc in rule_runner.request(DigestContents, [built.digest])}
    (zip_path,) = (path for path in contents if path.endswith(".zip"))
    return zipfile.ZipFile(io.BytesIO(contents[zip_path])).namelist()


def package_error(rule_runner: RuleRunner) -> str:
    with pytest.raises(ExecutionError) as exc_info:
        package(rule_runner)
    (error,) = exc_info.value.wrapped_exceptions
    assert isinstance(error, NodeLambdaError)
    return str(error)


@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
@pytest.mark.parametrize("runtime", NODEJS_RUNTIMES)
def test_sources_and_production_dependencies(
    rule_runner: RuleRunner, runtime: str, architecture: str
) -> None:
    write(rule_runner)
    build = FILES["src/nodejs/fn/BUILD"].replace('runtime="nodejs20.x"', f'runtime="{runtime}"')
    build = build.replace('architecture="arm64"', f'architecture="{architecture}"')
    rule_runner.write_files({"src/nodejs/fn/BUILD": build})
    assert package(rule_runner) == [
        "index.js",
        "lib/util.mjs",
        "node_modules/ms/index.js",
        "node_modules/ms/license.md",
        "node_modules/ms/package.json",
        "node_modules/ms/readme.md",
        "package-lock.json",
        "package.json",
    ]


def test_missing_lockfile(rule_runner: RuleRunner) -> None:
    write(rule_runner, lock=None)
    assert (
        package_error(rule_runner)
        == "src/nodejs/fn:fn: there is no package-lock.json beside src/nodejs/fn/package.json, and "
        "dependencies are only installed from a lockfile: run `npm install --package-lock-only` "
        "in src/nodejs/fn (with the npm you build with) and commit src/nodejs/fn/package-lock.json."
    )


def test_lockfile_out_of_sync(rule_runner: RuleRunner) -> None:
    write(rule_runner, package={**PACKAGE, "dependencies": {"ms": "2.1.3", "is-odd": "3.0.1"}})
    message = package_error(rule_runner)
    assert message.startswith(
        "src/nodejs/fn:fn: src/nodejs/fn/package-lock.json is out of sync with package.json: run "
        "`npm install --package-lock-only` in src/nodejs/fn"
    )
    assert "is-odd" in message


def test_lockfile_from_outside_the_registry_is_refused_before_npm_runs(
    rule_runner: RuleRunner,
) -> None:
    git_ms = {**MS, "resolved": "git+https://github.com/vercel/ms.git#1304f150"}
    write(rule_runner, lock={**LOCK, "packages": {**LOCK["packages"], "node_modules/ms": git_ms}})
    assert package_error(rule_runner) == (
        "src/nodejs/fn:fn: src/nodejs/fn/package-lock.json installs packages from outside the"
        " registry https://registry.npmjs.org/ or without an integrity hash: ms (node_modules/ms)"
        " is resolved from 'git+https://github.com/vercel/ms.git#1304f150'. Depend on registry"
        " releases (`npm install <name>@<version>`) and regenerate the lockfile, or set"
        " `[nodejs-lambda].registry` to the registry they come from."
    )


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (
            {"version": "2.1.3", "resolved": "http://evil.example/ms.tgz", "inBundle": True},
            "is marked `inBundle`, but no package above it bundles dependencies",
        ),
        ({**MS, "integrity": ""}, "has no sha256, sha384 or sha512 `integrity`"),
    ],
)
def test_lockfile_policy_bypasses_are_refused_before_npm_runs(
    rule_runner: RuleRunner, entry: dict, problem: str
) -> None:
    write(rule_runner, lock={**LOCK, "packages": {**LOCK["packages"], "node_modules/ms": entry}})
    assert f"ms (node_modules/ms) {problem}." in package_error(rule_runner)


def test_workspaces_are_refused(rule_runner: RuleRunner) -> None:
    write(rule_runner, package={**PACKAGE, "workspaces": ["packages/*"]})
    assert (
        package_error(rule_runner)
        == "src/nodejs/fn:fn: src/nodejs/fn/package.json declares npm workspaces, which are not "
        "supported: give the lambda a package.json and package-lock.json of its own."
    )


def test_missing_handler_module(rule_runner: RuleRunner) -> None:
    write(rule_runner)
    rule_runner.write_files(
        {
            "src/nodejs/fn/BUILD": dedent(
                """\
            nodejs_lambda_artifact(name="fn", handler="main.handler", runtime="nodejs22.x")
            """
            )
        }
    )
    with pytest.raises(ExecutionError, match=re.escape("main.js, main.mjs, main.cjs")):
        package(rule_runner)
