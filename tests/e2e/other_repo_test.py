"""The plugin as a distribution, in someone else's repository.

The wheel `./pants package ::` builds is installed with `[GLOBAL].plugins` into a minimal monorepo
outside this checkout (its own pants.toml, requirements, lockfile and BUILD files), where
`lambda-lock`, `package ::` and `publish ::` run; its artifacts are byte-identical to this
repository's for the same inputs.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import pytest

from e2e.checkout import Build, run_pants, sha256_of

UMASK = 0o022
TZ = "UTC"
PLUGIN = "repro-lambda-pants"

# This checkout's files the other repository takes, at other paths: its launcher, and the same
# lambda code, BUILD files, lockfile and package.json as this repository's examples.
_COPIED = {
    "pants": "pants",
    "3rdparty/pants/requirements.txt": "3rdparty/pants/requirements.txt",
    "3rdparty/python/lambdas.lock": "third_party/lambdas.lock",
    "src/python/orders/BUILD": "functions/orders/BUILD",
    "src/python/orders/__init__.py": "functions/orders/__init__.py",
    "src/python/orders/api.py": "functions/orders/api.py",
    "src/python/orders/models.py": "functions/orders/models.py",
    "src/python/shared/BUILD": "functions/shared/BUILD",
    "src/python/shared/__init__.py": "functions/shared/__init__.py",
    "src/python/shared/responses.py": "functions/shared/responses.py",
    "src/nodejs/api/index.js": "node/api/index.js",
    "src/nodejs/api/lib/platform.js": "node/api/lib/platform.js",
    "src/nodejs/api/package.json": "node/api/package.json",
    "src/nodejs/api/package-lock.json": "node/api/package-lock.json",
}

# The other repository's artifact -> this repository's artifact with the same inputs.
_SAME_AS = {
    "functions.orders/orders.zip": "src.python.orders/orders.zip",
    "layers/science-python3.13-arm64.zip": "src.python.layers/science-python3.13-arm64.zip",
    "node.api/api.zip": "src.nodejs.api/api@architecture=arm64.zip",
}


def _pants_toml(buildroot: Path, wheels: Path) -> str:
    """The other repository's configuration: the plugin from a find-links directory, and the
    `[pex-cli]` of this checkout (Pants' default download site is out of reach here)."""
    pex_cli = (buildroot / "pants.toml").read_text().split("[pex-cli]\n", 1)[1].split("\n[", 1)[0]
    return (
        dedent(
            f"""\
        [GLOBAL]
        pants_version = "2.17.1"
        backend_packages = ["pants.backend.python"]
        plugins = ["{PLUGIN}==0.1.0"]

        [anonymous-telemetry]
        enabled = false

        [python-repos]
        find_links = ["file://{wheels}"]

        [subprocess-environment]
        env_vars.add = ["PIP_CONFIG_FILE=/dev/null"]

        [source]
        root_patterns = ["/functions"]

        [python]
        interpreter_constraints = ["CPython>=3.11,<3.13"]
        enable_resolves = true
        default_resolve = "lambdas"

        [python.resolves]
        lambdas = "third_party/lambdas.lock"

        [python.resolves_to_interpreter_constraints]
        lambdas = ["CPython>=3.10,<3.14"]

        [python-bootstrap]
        search_path = ["<PYENV>", "<PATH>"]

        [python-infer]
        use_rust_parser = true

        [pex-cli]
        """
        )
        + pex_cli.strip()
        + "\n"
    )


_BUILD_FILES = {
    "third_party/BUILD": 'python_requirements(name="reqs", source="requirements.txt")\n',
    "third_party/requirements.txt": "numpy>=2.2,<2.3\npydantic>=2.11,<3\n",
    "layers/BUILD": dedent(
        """\
        lambda_layer(
            name="science",
            dependencies=["third_party:reqs#numpy"],
            runtimes=["python3.13"],
            architectures=["arm64"],
        )
        """
    ),
    "node/api/BUILD": dedent(
        """\
        nodejs_lambda_artifact(
            name="api",
            handler="index.handler",
            runtime="nodejs22.x",
            architecture="arm64",
        )
        """
    ),
}


@pytest.fixture(scope="module")
def other_repo(buildroot: Path, first_build: Build) -> Iterator[Path]:
    """A minimal monorepo with the plugin's wheel in a find-links directory beside it."""
    (wheel,) = first_build.dist.glob("repro_lambda_pants-*.whl")
    with tempfile.TemporaryDirectory(
        prefix="repro-lambda-user-", ignore_cleanup_errors=True
    ) as tmp:
        wheels, repo = Path(tmp, "wheels"), Path(tmp, "monorepo")
        wheels.mkdir()
        shutil.copy(wheel, wheels)
        for source, dest in _COPIED.items():
            (repo / dest).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(buildroot / source, repo / dest)
        for path, content in {**_BUILD_FILES, "pants.toml": _pants_toml(buildroot, wheels)}.items():
            (repo / path).parent.mkdir(parents=True, exist_ok=True)
            (repo / path).write_text(content)
        yield repo


def test_wheel_holds_the_plugin_and_its_data_only(first_build: Build) -> None:
    (wheel,) = first_build.dist.glob("repro_lambda_pants-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(
            next(n for n in names if n.endswith(".dist-info/METADATA"))
        ).decode()
        entry_points = archive.read(
            next(n for n in names if n.endswith("entry_points.txt"))
        ).decode()
    assert {
        "repro_lambda/register.py",
        "repro_lambda/core/pack/packer.py",
        "repro_lambda/core/publish/publisher.py",
        "repro_lambda/platforms/python3.13-arm64.json",
        "repro_lambda/subsystems/packer.lock",
        "repro_lambda/subsystems/publisher.lock",
    } <= names
    assert not [n for n in names if n.endswith(("_test.py", "conftest.py", "generate.py"))]
    assert "Requires-Dist: pantsbuild.pants (<2.18,>=2.17.0a0)" in metadata.splitlines()
    assert "[pantsbuild.plugin]" in entry_points
    assert "rules = repro_lambda.register:rules" in entry_points
    assert "target_types = repro_lambda.register:target_types" in entry_points
    assert list(first_build.dist.glob("repro-lambda-pants-*.tar.gz"))


def test_lock_package_and_publish_in_another_repo(other_repo: Path, first_build: Build) -> None:
    lock = run_pants(other_repo, "lambda-lock", "::", umask=UMASK, tz=TZ)
    assert "Wrote third_party/lambdas.lambda-platforms.lock" in lock.output
    package = run_pants(other_repo, "package", "::", umask=UMASK, tz=TZ)
    zips = package.zips()
    assert zips.keys() == _SAME_AS.keys()
    for name, ours in _SAME_AS.items():
        assert sha256_of(zips[name]) == sha256_of(first_build.dist / ours), name
    keys = {json.loads(path.with_suffix(".json").read_text())["s3_key"] for path in zips.values()}

    run_pants(other_repo, "publish", "::", umask=UMASK, tz=TZ)
    catalog = json.loads((other_repo / "builds/catalog.json").read_text())
    assert {
        e["key"] for section in ("lambdas", "layers") for e in catalog[section].values()
    } == keys
    for key in keys:
        assert (other_repo / "dist/lambda-store" / key).is_file()
