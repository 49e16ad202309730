"""Requirements that publish only an sdist, through `lambda-lock` and `package`: the lock pins each
sdist with its size, `package` builds it for the runtime and installs the wheel, the same bytes in
another repository; `[lambda-lock].only_binary` refuses it in both goals."""

from __future__ import annotations

import json
import tarfile
import zipfile
from io import BytesIO
from pathlib import Path

import pytest
from pants.engine.addresses import Address
from pants.engine.internals.scheduler import ExecutionError
from pants.testutil.rule_runner import RuleRunner

from repro_lambda.core.install.sdists import BUILT_WHEELS
from repro_lambda.goals.package import LambdaArtifactFieldSet
from repro_lambda.testutil import (
    ENV_INHERIT,
    LAMBDAS_LOCK,
    PLATFORM_LOCK,
    lambda_options,
    make_rule_runner,
    pants_lockfile,
    run_lambda_lock,
)
from repro_lambda.util_rules.platform_lock import LambdaLockError

# feedparser publishes a wheel; its dependency sgmllib3k, like docopt, only an sdist.
FILES = {
    LAMBDAS_LOCK: pants_lockfile({"docopt": "0.6.2", "feedparser": "6.0.11", "sgmllib3k": "1.0.0"}),
    "3rdparty/python/BUILD": (
        'python_requirement(name="docopt", requirements=["docopt==0.6.2"])\n'
        'python_requirement(name="feedparser", requirements=["feedparser==6.0.11"])\n'
    ),
    "src/python/feeds/BUILD": (
        'python_sources(name="lib")\n'
        'lambda_artifact(name="feeds", handler="feeds.handler.lambda_handler",'
        ' runtime="python3.13", architecture=parametrize("x86_64", "arm64"))\n'
    ),
    "src/python/feeds/handler.py": (
        "import docopt\nimport feedparser\n\n\ndef lambda_handler(event, context):\n"
        '    return feedparser.parse(event["xml"]).feed.title\n'
    ),
}
SDISTS = {
    "docopt==0.6.2": ("49b3a825280bd66b3aa83585ef59c4a8c82f2c8a522dbe754a8bc8d08c85c491", 25901),
    "sgmllib3k==1.0.0": ("7868fb1c8bfa764c1ac563d3cf369c381d1325d36124933a726f29fcdaa812e9", 5750),
}


def feeds(architecture: str) -> Address:
    return Address(
        "src/python/feeds", target_name="feeds", parameters={"architecture": architecture}
    )


def package_zip(rule_runner: RuleRunner, address: Address) -> bytes:
    from pants.core.goals.package import BuiltPackage
    from pants.engine.fs import DigestContents

    field_set = LambdaArtifactFieldSet.create(rule_runner.get_target(address))
    built = rule_runner.request(BuiltPackage, [field_set])
    contents = rule_runner.request(DigestContents, [built.digest])
    (zip_bytes,) = [c.content for c in contents if c.path.endswith(".zip")]
    return zip_bytes


@pytest.fixture(scope="module")
def locked() -> RuleRunner:
    rule_runner = make_rule_runner()
    rule_runner.write_files(FILES)
    run_lambda_lock(rule_runner)
    return rule_runner


def test_the_lock_pins_each_sdist_with_its_size_for_the_platforms_that_install_it(
    locked: RuleRunner,
) -> None:
    lock = json.loads(locked.read_file(PLATFORM_LOCK))
    metadata = lock["repro_lambda"]
    assert {s["pin"]: (s["sha256"], s["size"]) for s in metadata["sdists"]} == SDISTS
    for sdist in metadata["sdists"]:
        assert sdist["url"].endswith(".tar.gz")
        assert sorted(sdist["platforms"]) == sorted(metadata["platforms"])
    assert BUILT_WHEELS not in locked.read_file(PLATFORM_LOCK)


def test_package_builds_the_sdists_and_installs_their_wheels_the_same_in_another_repository(
    locked: RuleRunner,
) -> None:
    zips = {arch: package_zip(locked, feeds(arch)) for arch in ("x86_64", "arm64")}
    for data in zips.values():
        with zipfile.ZipFile(BytesIO(data)) as archive:
            names = set(archive.namelist())
        assert {"docopt.py", "sgmllib.py", "feedparser/__init__.py"} <= names
        assert "docopt-0.6.2.dist-info/METADATA" in names
    with zipfile.ZipFile(BytesIO(zips["x86_64"])) as x86, zipfile.ZipFile(
        BytesIO(zips["arm64"])
    ) as arm:
        assert x86.read("docopt.py") == arm.read("docopt.py")
    other = make_rule_runner()
    other.write_files({**FILES, PLATFORM_LOCK: locked.read_file(PLATFORM_LOCK)})
    assert package_zip(other, feeds("arm64")) == zips["arm64"]


def test_only_binary_refuses_the_sdists_in_both_goals(locked: RuleRunner, tmp_path: Path) -> None:
    refused = make_rule_runner()
    refused.write_files({**FILES, PLATFORM_LOCK: locked.read_file(PLATFORM_LOCK)})
    refused.set_options(
        [*lambda_options(), "--lambda-lock-only-binary=['Docopt']"], env_inherit=ENV_INHERIT
    )
    with pytest.raises(ExecutionError) as package_error:
        package_zip(refused, feeds("x86_64"))
    (error,) = package_error.value.wrapped_exceptions
    assert isinstance(error, LambdaLockError)
    assert (
        f"needs the Lambda platform lock {PLATFORM_LOCK}, which pins the sdists of"
        " `docopt==0.6.2`, which `[lambda-lock].only_binary` refuses" in str(error)
    )
    with pytest.raises(ExecutionError) as lock_error:
        run_lambda_lock(refused, "--lambda-lock-only-binary=['*']")
    (error,) = lock_error.value.wrapped_exceptions
    assert isinstance(error, LambdaLockError)
    message = str(error)
    assert message.startswith("The `lambdas` resolve pins `")
    assert "which has no wheel for python3.13-" in message
    assert "and `[lambda-lock].only_binary` refuses its sdist." in message


def test_an_sdist_with_a_c_extension_is_locked_and_packaged_cross_compiled() -> None:
    """crcmod publishes only an sdist with a C extension: each architecture's artifact holds the
    extension compiled for it, and the x86_64 one's smoke import (on this x86_64 host) imports
    the extension with Python 3.13."""
    rule_runner = make_rule_runner()
    rule_runner.write_files(
        {
            LAMBDAS_LOCK: pants_lockfile({"crcmod": "1.7"}),
            "3rdparty/python/BUILD": (
                'python_requirement(name="crcmod", requirements=["crcmod==1.7"])'
            ),
            "src/python/checks/BUILD": (
                'python_sources(name="lib")\n'
                'lambda_artifact(name="checks", handler="checks.handler.lambda_handler",'
                ' runtime="python3.13", architecture=parametrize("x86_64", "arm64"),'
                " smoke_import=True)\n"
            ),
            "src/python/checks/handler.py": (
                "import crcmod._crcfunext\nimport crcmod.predefined\n\n\n"
                "def lambda_handler(event, context):\n"
                "    return crcmod.predefined.mkCrcFun('crc-32')(event['data'].encode())\n"
            ),
        }
    )
    run_lambda_lock(rule_runner)
    for architecture, machine in (("x86_64", "x86_64"), ("arm64", "aarch64")):
        address = Address(
            "src/python/checks", target_name="checks", parameters={"architecture": architecture}
        )
        with zipfile.ZipFile(BytesIO(package_zip(rule_runner, address))) as archive:
            names = set(archive.namelist())
        assert f"crcmod/_crcfunext.cpython-313-{machine}-linux-gnu.so" in names


PROBE_PYPROJECT = b"""\
[build-system]
requires = ["flit_core>=3.2,<4"]
build-backend = "flit_core.buildapi"

[project]
name = "repro_lambda_flit_probe"
version = "1.0"
description = "Says hello"
"""


def test_an_sdist_with_another_backend_gets_its_own_locked_build_environment(
    tmp_path: Path,
) -> None:
    """An sdist built by flit_core, which `[lambda-sdist-build]` does not have: `lambda-lock` locks
    its `build-system.requires` from PyPI, pinned by sha256, and `package` builds it there."""
    links = tmp_path / "links"
    links.mkdir()
    with tarfile.open(links / "repro_lambda_flit_probe-1.0.tar.gz", "w:gz") as archive:
        for name, data in (
            ("pyproject.toml", PROBE_PYPROJECT),
            (
                "repro_lambda_flit_probe.py",
                b'"""Says hello."""\n\n\ndef hello():\n    return "hello"\n',
            ),
            ("PKG-INFO", b"Metadata-Version: 2.1\nName: repro_lambda_flit_probe\nVersion: 1.0\n"),
        ):
            info = tarfile.TarInfo(f"repro_lambda_flit_probe-1.0/{name}")
            info.size = len(data)
            archive.addfile(info, BytesIO(data))
    rule_runner = make_rule_runner()
    rule_runner.write_files(
        {
            LAMBDAS_LOCK: pants_lockfile({"repro-lambda-flit-probe": "1.0"}),
            "3rdparty/python/BUILD": (
                'python_requirement(name="g", requirements=["repro-lambda-flit-probe==1.0"])'
            ),
            "src/python/hello/BUILD": (
                'python_sources(name="lib")\n'
                'lambda_artifact(name="hello", handler="hello.handler.lambda_handler",'
                ' runtime="python3.13", architecture="arm64")\n'
            ),
            "src/python/hello/handler.py": (
                "import repro_lambda_flit_probe as probe\n\n\n"
                "def lambda_handler(event, context):\n    return probe.hello()\n"
            ),
        }
    )
    run_lambda_lock(rule_runner, f"--python-repos-find-links=['{links.as_uri()}']")
    metadata = json.loads(rule_runner.read_file(PLATFORM_LOCK))["repro_lambda"]
    (sdist,) = metadata["sdists"]
    requires = ["flit_core>=3.2,<4", 'tomli; python_version < "3.11"']
    assert sdist["build_requires"] == requires
    (environment,) = metadata["build_environments"]
    assert environment["requires"] == requires
    for resolve in environment["lock"]["locked_resolves"]:
        (flit,) = resolve["locked_requirements"]
        assert flit["project_name"] == "flit-core"
        (artifact,) = flit["artifacts"]
        assert artifact["url"].endswith(".whl") and len(artifact["hash"]) == 64
    address = Address("src/python/hello", target_name="hello")
    with zipfile.ZipFile(BytesIO(package_zip(rule_runner, address))) as archive:
        names = set(archive.namelist())
    assert {"repro_lambda_flit_probe.py", "repro_lambda_flit_probe-1.0.dist-info/METADATA"} <= names
    # a lock whose build environment was removed by hand is refused, not built elsewhere
    lock = json.loads(rule_runner.read_file(PLATFORM_LOCK))
    del lock["repro_lambda"]["build_environments"]
    rule_runner.write_files({PLATFORM_LOCK: json.dumps(lock)})
    with pytest.raises(ExecutionError) as error:
        package_zip(rule_runner, address)
    (wrapped,) = error.value.wrapped_exceptions
    assert isinstance(wrapped, LambdaLockError)
    assert f"The Lambda platform lock {PLATFORM_LOCK} is not as" in str(wrapped)


def test_an_sdist_that_needs_a_system_library_fails_lambda_lock_naming_it() -> None:
    """psycopg2 publishes only an sdist, and even its metadata needs libpq's `pg_config`:
    `lambda-lock` fails naming the pin, what it lacks and the fix; with `only_binary = ["*"]`, as
    for any requirement without a wheel."""
    rule_runner = make_rule_runner()
    rule_runner.write_files(
        {
            LAMBDAS_LOCK: pants_lockfile({"psycopg2": "2.9.13"}),
            "3rdparty/python/BUILD": 'python_requirement(name="pg", requirements=["psycopg2"])',
            "src/python/db/BUILD": (
                'python_sources(name="lib")\n'
                'lambda_artifact(name="db", handler="db.handler.lambda_handler",'
                ' runtime="python3.13", architecture="x86_64")\n'
            ),
            "src/python/db/handler.py": (
                "import psycopg2\n\n\ndef lambda_handler(event, context):\n"
                "    return psycopg2.__version__\n"
            ),
        }
    )
    for option, why in (
        (
            "--lambda-lock-only-binary=[]",
            "and locking its sdist failed: it needs the program"
            " pg_config (of libpq), which a sandboxed build does not have (use a distribution of"
            " it that publishes wheels if there is one (such as psycopg2-binary)",
        ),
        ("--lambda-lock-only-binary=['*']", "and `[lambda-lock].only_binary` refuses its sdist."),
    ):
        with pytest.raises(ExecutionError) as error:
            run_lambda_lock(rule_runner, option)
        (wrapped,) = error.value.wrapped_exceptions
        assert isinstance(wrapped, LambdaLockError)
        message = " ".join(str(wrapped).split())
        assert message.startswith("The `lambdas` resolve pins `psycopg2==2.9.13`"), message
        assert why in message, message
