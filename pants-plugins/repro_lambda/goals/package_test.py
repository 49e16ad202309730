"""`package` of `lambda_artifact`: closure, determinism, metadata, wheels and lock errors."""

from __future__ import annotations

import base64
import glob
import hashlib
import io
import json
import os
import platform
import re
import shutil
import struct
import zipfile
from pathlib import Path
from textwrap import dedent

import pytest
from pants.core.goals.package import BuiltPackage
from pants.engine.addresses import Address
from pants.engine.fs import DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.testutil.rule_runner import RuleRunner
from pants.util.resources import read_resource

from repro_lambda.goals.package import LambdaArtifactFieldSet
from repro_lambda.goals.package_layer import LambdaLayerFieldSet
from repro_lambda.testutil import (
    LAMBDAS_LOCK,
    PLATFORM_LOCK,
    make_rule_runner,
    pants_lockfile,
    run_lambda_lock,
)
from repro_lambda.util_rules.platform_lock import LambdaLockError

ELF_MACHINE = {"x86_64": 62, "arm64": 183}
ELF_TRIPLET = {"x86_64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}

APP_FILES = {
    "src/python/app/BUILD": dedent(
        """\
        python_sources(overrides={"handler.py": {"dependencies": [":greeting"]}})
        resource(name="greeting", source="greeting.txt")
        lambda_artifact(name="fn", handler="app.handler.lambda_handler", runtime="python3.12")
        """
    ),
    "src/python/app/__init__.py": "",
    "src/python/app/handler.py": dedent(
        """\
        from lib.helper import greet


        def lambda_handler(event, context):
            return greet(event["name"])
        """
    ),
    "src/python/app/greeting.txt": "Hello, {}!\n",
    "src/python/app/unused.py": "import lib.other\n",
    "src/python/lib/BUILD": "python_sources()\n",
    "src/python/lib/__init__.py": '"""Helpers shared by the lambdas."""\n',
    "src/python/lib/helper.py": "def greet(name):\n    return f'Hello, {name}!'\n",
    "src/python/lib/other.py": "VALUE = 1\n",
}


def package(rule_runner: RuleRunner, address: Address) -> tuple[BuiltPackage, dict[str, bytes]]:
    """Package `address`; return the package and its files by dist-relative path."""
    field_set = LambdaArtifactFieldSet.create(rule_runner.get_target(address))
    built = rule_runner.request(BuiltPackage, [field_set])
    contents = rule_runner.request(DigestContents, [built.digest])
    return built, {fc.path: fc.content for fc in contents}


def open_zip(content: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(content))


def test_closure_is_exactly_the_inferred_sources(rule_runner: RuleRunner) -> None:
    """The zip holds the handler's import closure and resources, source roots stripped, sorted."""
    rule_runner.write_files(APP_FILES)
    built, files = package(rule_runner, Address("src/python/app", target_name="fn"))
    assert built.artifacts[0].relpath == "src.python.app/fn.zip"
    assert set(files) == {"src.python.app/fn.zip", "src.python.app/fn.json"}
    with open_zip(files["src.python.app/fn.zip"]) as zf:
        assert zf.namelist() == [
            "app/__init__.py",
            "app/greeting.txt",
            "app/handler.py",
            "lib/__init__.py",
            "lib/helper.py",
        ]
        assert {info.date_time for info in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert zf.read("app/greeting.txt") == b"Hello, {}!\n"


def test_metadata_describes_the_zip(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(APP_FILES)
    built, files = package(rule_runner, Address("src/python/app", target_name="fn"))
    zip_bytes = files["src.python.app/fn.zip"]
    metadata = json.loads(files["src.python.app/fn.json"])
    digest = hashlib.sha256(zip_bytes)
    assert metadata["sha256"] == digest.hexdigest()
    assert metadata["code_sha256"] == base64.b64encode(digest.digest()).decode()
    assert metadata["s3_key"] == f"lambdas/{metadata['logical_name']}/{digest.hexdigest()}.zip"
    assert metadata["logical_name"] == "fn"
    assert metadata["size"] == len(zip_bytes)
    assert (metadata["runtime"], metadata["architecture"], metadata["handler"]) == (
        "python3.12",
        "x86_64",
        "app.handler.lambda_handler",
    )
    assert metadata["entry_count"] == 5
    assert f"    Key: {metadata['s3_key']}" in built.artifacts[0].extra_log_lines


def test_hash_extra_changes_the_key_and_nothing_else(rule_runner: RuleRunner) -> None:
    """`hash_extra` is the zip comment; identical inputs give identical bytes."""
    rule_runner.write_files(
        {
            **APP_FILES,
            "src/python/app/BUILD": dedent(
                """\
                python_sources(overrides={"handler.py": {"dependencies": [":greeting"]}})
                resource(name="greeting", source="greeting.txt")
                lambda_artifact(
                    name="plain", handler="app.handler.lambda_handler", runtime="python3.12"
                )
                lambda_artifact(
                    name="twin", handler="app.handler.lambda_handler", runtime="python3.12"
                )
                lambda_artifact(
                    name="salted",
                    handler="app.handler.lambda_handler",
                    runtime="python3.12",
                    hash_extra="rotated secret 2024-06",
                )
                """
            ),
        }
    )

    def zip_and_metadata(name: str) -> tuple[bytes, dict]:
        _, files = package(rule_runner, Address("src/python/app", target_name=name))
        return files[f"src.python.app/{name}.zip"], json.loads(files[f"src.python.app/{name}.json"])

    plain_zip, plain = zip_and_metadata("plain")
    twin_zip, twin = zip_and_metadata("twin")
    salted_zip, salted = zip_and_metadata("salted")

    assert twin_zip == plain_zip
    assert twin["sha256"] == plain["sha256"]
    assert salted["sha256"] != plain["sha256"]
    assert salted["s3_key"] == f"lambdas/salted/{hashlib.sha256(salted_zip).hexdigest()}.zip"
    with open_zip(plain_zip) as plain_zf, open_zip(salted_zip) as salted_zf:
        assert plain_zf.comment == b""
        assert salted_zf.comment == b"rotated secret 2024-06"
        assert salted_zf.namelist() == plain_zf.namelist()
        assert all(salted_zf.read(name) == plain_zf.read(name) for name in plain_zf.namelist())


@pytest.mark.parametrize(
    "handler, missing",
    [
        # No package of that name: Pants finds no owner for the module.
        ("nowhere.api.lambda_handler", "nowhere.api"),
        # In an existing package, whose `__init__.py` Pants would otherwise take as the owner.
        ("app.missing.lambda_handler", "app.missing"),
        # The module exists but does not define the function: the packer finds that.
        ("app.handler.no_such_function", "no_such_function"),
    ],
)
def test_handler_not_found(rule_runner: RuleRunner, handler: str, missing: str) -> None:
    rule_runner.write_files(
        {
            **APP_FILES,
            "src/python/app/BUILD": dedent(
                f"""\
                python_sources(name="lib")
                lambda_artifact(name="fn", handler="{handler}", runtime="python3.12")
                """
            ),
        }
    )
    with pytest.raises(ExecutionError) as exc_info:
        package(rule_runner, Address("src/python/app", target_name="fn"))
    message = str(exc_info.value.wrapped_exceptions[0])
    assert "src/python/app:fn" in message
    assert f"`{missing}`" in message


def test_lambdas_of_a_directory_pack_together_as_alone_and_fail_alone(
    rule_runner: RuleRunner,
) -> None:
    """A BUILD directory's lambdas are packed in one process: each zip is what it is alone, and
    a lambda that cannot be prepared or packed fails only its own package."""
    rule_runner.write_files(APP_FILES)
    alone = package(rule_runner, Address("src/python/app", target_name="fn"))[1]
    rule_runner.write_files(
        {
            "src/python/app/BUILD": APP_FILES["src/python/app/BUILD"]
            + dedent(
                """\
                lambda_artifact(
                    name="other",
                    handler="app.handler.lambda_handler",
                    runtime="python3.12",
                    hash_extra="other",
                )
                lambda_artifact(name="no_module", handler="app.nowhere.h", runtime="python3.12")
                lambda_artifact(name="no_function", handler="app.handler.h", runtime="python3.12")
                """
            )
        }
    )
    together = package(rule_runner, Address("src/python/app", target_name="fn"))[1]
    assert together == alone
    _, other = package(rule_runner, Address("src/python/app", target_name="other"))
    assert other["src.python.app/other.zip"] != alone["src.python.app/fn.zip"]
    for name, missing in (("no_module", "app.nowhere"), ("no_function", "h")):
        with pytest.raises(ExecutionError) as exc_info:
            package(rule_runner, Address("src/python/app", target_name=name))
        message = str(exc_info.value.wrapped_exceptions[0])
        assert f"src/python/app:{name}" in message and f"`{missing}`" in message
        assert "app:fn" not in message


def test_complete_platforms_override_must_be_one_file(rule_runner: RuleRunner) -> None:
    rule_runner.write_files(
        {
            **APP_FILES,
            "src/python/app/a.json": "{}",
            "src/python/app/b.json": "{}",
            "src/python/app/BUILD": dedent(
                """\
                python_sources(name="lib")
                file(name="a", source="a.json")
                file(name="b", source="b.json")
                lambda_artifact(
                    name="fn",
                    handler="app.handler.lambda_handler",
                    runtime="python3.12",
                    complete_platforms=[":a", ":b"],
                )
                """
            ),
        }
    )
    with pytest.raises(ExecutionError) as exc_info:
        package(rule_runner, Address("src/python/app", target_name="fn"))
    message = str(exc_info.value.wrapped_exceptions[0])
    assert "The `complete_platforms` field in target src/python/app:fn" in message
    assert "exactly one" in message


@pytest.mark.parametrize(
    "metadata_overrides, problem",
    [
        (None, "which does not exist"),
        (
            {"resolve_lockfile_sha256": "0" * 64},
            "which was made from another version of the `lambdas` resolve's lockfile",
        ),
        ({"platforms": {}}, "which has no wheels for python3.12-x86_64"),
        ({"requirements": ["pydantic<3,>=2.11"]}, "which does not lock `numpy<2.3,>=2.2`"),
    ],
)
def test_stale_platform_lock(
    rule_runner: RuleRunner, metadata_overrides: dict | None, problem: str
) -> None:
    """A missing or stale platform lock fails with the reason and the command that fixes it."""
    resolve_lockfile = pants_lockfile({"numpy": "2.2.6"})
    files = {
        LAMBDAS_LOCK: resolve_lockfile,
        "3rdparty/python/BUILD": (
            'python_requirement(name="numpy", requirements=["numpy>=2.2,<2.3"])\n'
        ),
        "src/python/stats/BUILD": dedent(
            """\
            python_sources(name="lib")
            lambda_artifact(
                name="stats", handler="stats.handler.lambda_handler", runtime="python3.12"
            )
            """
        ),
        "src/python/stats/handler.py": (
            "import numpy\n\ndef lambda_handler(event, context):\n    pass\n"
        ),
    }
    if metadata_overrides is not None:
        platform = read_resource("repro_lambda.platforms", "python3.12-x86_64.json")
        assert platform is not None
        up_to_date = {
            "resolve_lockfile_sha256": hashlib.sha256(resolve_lockfile.encode()).hexdigest(),
            "platforms": {hashlib.sha256(platform).hexdigest(): "python3.12-x86_64"},
            "requirements": ["numpy<2.3,>=2.2"],
        }
        metadata = {**up_to_date, **metadata_overrides}
        files[PLATFORM_LOCK] = json.dumps({"locked_resolves": [], "repro_lambda": metadata})
    rule_runner.write_files(files)
    with pytest.raises(ExecutionError) as exc_info:
        package(rule_runner, Address("src/python/stats", target_name="stats"))
    (error,) = exc_info.value.wrapped_exceptions
    assert isinstance(error, LambdaLockError)
    assert str(error).startswith(
        f"src/python/stats:stats needs the Lambda platform lock {PLATFORM_LOCK}, {problem}. Run `"
    )
    assert str(error).endswith(" lambda-lock` and commit the file.")


@pytest.mark.parametrize(
    "content",
    [
        '{"locked_resolves": [], "repro_lambda": {"platforms": ',
        '{"locked_resolves": []}',
        '{"repro_lambda": {"resolve_lockfile_sha256": 1, "platforms": {}, "requirements": []}}',
        # an sdist whose size is not a number
        '{"repro_lambda": {"resolve_lockfile_sha256": "a", "platforms": {}, "requirements": [],'
        ' "sdists": [{"pin": "x==1", "url": "https://h/x-1.tar.gz", "sha256": "b", "size": "9",'
        ' "platforms": []}]}}',
    ],
)
def test_hand_edited_platform_lock(rule_runner: RuleRunner, content: str) -> None:
    rule_runner.write_files(
        {
            LAMBDAS_LOCK: pants_lockfile({"numpy": "2.2.6"}),
            PLATFORM_LOCK: content,
            "3rdparty/python/BUILD": 'python_requirement(name="numpy", requirements=["numpy"])\n',
            "src/python/app/BUILD": (
                "python_sources()\n"
                'lambda_artifact(name="fn", handler="app.handler.h", runtime="python3.12")\n'
            ),
            "src/python/app/handler.py": "import numpy\n\ndef h(event, context):\n    pass\n",
        }
    )
    with pytest.raises(ExecutionError) as exc_info:
        package(rule_runner, Address("src/python/app", target_name="fn"))
    (error,) = exc_info.value.wrapped_exceptions
    assert isinstance(error, LambdaLockError)
    lock_command = r"`\S+ lambda-lock`"
    assert re.fullmatch(
        f"The Lambda platform lock {re.escape(PLATFORM_LOCK)} is not as {lock_command} writes it"
        r" \(it is not JSON, or its `repro_lambda` section is missing or changed by hand\): run"
        f" {lock_command} to write it again, and commit it.",
        str(error),
    )


@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
def test_native_wheels_match_the_architecture(
    numpy_rule_runner: RuleRunner, architecture: str
) -> None:
    """numpy's extension modules are ELF objects for the target's architecture and Python."""
    address = Address(
        "src/python/stats", target_name="stats", parameters={"architecture": architecture}
    )
    _, files = package(numpy_rule_runner, address)
    (zip_path,) = (path for path in files if path.endswith(".zip"))
    with open_zip(files[zip_path]) as zf:
        names = zf.namelist()
        elf_headers = {name: zf.read(name)[:20] for name in names if name.endswith(".so")}
    assert "stats/handler.py" in names
    assert "numpy/__init__.py" in names
    assert f"numpy/_core/_multiarray_umath.cpython-312-{ELF_TRIPLET[architecture]}.so" in names
    assert {header[:4] for header in elf_headers.values()} == {b"\x7fELF"}
    machines = {
        name: struct.unpack_from("<H", header, 18)[0] for name, header in elf_headers.items()
    }
    assert set(machines.values()) == {ELF_MACHINE[architecture]}, machines


def _app_with_handler(rule_runner: RuleRunner, handler_source: str, **fields: object) -> Address:
    """`APP_FILES` with `handler_source` as `app/handler.py` and `fields` on the lambda (on
    python3.12 unless they say otherwise)."""
    fields = {"runtime": "python3.12", **fields}
    extra = "".join(f", {name}={value!r}" for name, value in fields.items())
    rule_runner.write_files(
        {
            **APP_FILES,
            "src/python/app/BUILD": (
                "python_sources()\n" f'lambda_artifact(name="fn", handler="app.handler.h"{extra})\n'
            ),
            "src/python/app/handler.py": handler_source,
        }
    )
    return Address("src/python/app", target_name="fn")


def test_unresolvable_imports_fail_with_file_and_line(rule_runner: RuleRunner) -> None:
    """Nothing provides `requests`, `app.missing` or boto3 (the runtime's copy is not relied on)."""
    address = _app_with_handler(
        rule_runner,
        dedent(
            """\
            import json
            import requests
            import app.missing
            import boto3
            from lib.helper import greet


            def h(event, context):
                return greet(json.dumps(event))
            """
        ),
    )
    with pytest.raises(ExecutionError) as exc_info:
        package(rule_runner, address)
    message = str(exc_info.value.wrapped_exceptions[0])
    assert "src/python/app:fn" in message
    assert "imports that cannot succeed on Python 3.12" in message
    assert "app/handler.py:2 `requests`" in message
    assert "app/handler.py:3 `app.missing` (no such module)" in message
    assert "app/handler.py:4 `boto3`" in message
    assert "`json`" not in message and "lib.helper" not in message
    assert "add a `python_requirement`" in message


def test_guarded_and_runtime_provided_imports_package(rule_runner: RuleRunner) -> None:
    """An import guarded by `except ImportError` is optional; `runtime_boto3` provides boto3."""
    address = _app_with_handler(
        rule_runner,
        dedent(
            """\
            import boto3
            import botocore.config

            try:
                import ujson as json
            except ImportError:
                import json


            def h(event, context):
                return json.dumps(event)
            """
        ),
        runtime_boto3=True,
    )
    _, files = package(rule_runner, address)
    with open_zip(files["src.python.app/fn.zip"]) as zf:
        assert "app/handler.py" in zf.namelist()
        assert not any(name.startswith(("boto3/", "botocore/")) for name in zf.namelist())


def _needs_python(version: str) -> None:
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    if not (shutil.which(f"python{version}") or glob.glob(f"{pyenv_root}/versions/{version}.*")):
        pytest.skip(f"no Python {version} on PATH or in pyenv, where Pants looks")


def test_modules_compile_with_the_runtimes_own_python(rule_runner: RuleRunner) -> None:
    """Python 3.11 cannot compile an f-string that nests its own quotes, which 3.12 parses at
    any feature version."""
    _needs_python("3.11")
    source = 'NAME = {"a": 1}\nGREETING = f"{NAME["a"]}"\n\ndef h(event, context):\n    pass\n'
    address = _app_with_handler(rule_runner, source, runtime="python3.11")
    with pytest.raises(ExecutionError) as exc_info:
        package(rule_runner, address)
    (error,) = exc_info.value.wrapped_exceptions
    assert re.fullmatch(
        r"Cannot package src/python/app:fn: app/handler.py:2: f-string: .+ \(Python 3.11, the"
        r" runtime's\): fix the module, or drop it from the handler's dependencies",
        str(error),
    )


def test_only_the_lambdas_own_modules_must_compile(rule_runner: RuleRunner) -> None:
    """The runtime's Python compiles the whole directory once for all its lambdas, but a module
    the lambda does not use may be for another runtime."""
    _needs_python("3.11")
    address = _app_with_handler(
        rule_runner, "def h(event, context):\n    pass\n", runtime="python3.11"
    )
    rule_runner.write_files({"src/python/app/newer.py": 'NAME = {"a": 1}\nX = f"{NAME["a"]}"\n'})
    _, files = package(rule_runner, address)
    with open_zip(files["src.python.app/fn.zip"]) as zf:
        assert "app/handler.py" in zf.namelist() and "app/newer.py" not in zf.namelist()


def test_smoke_import_runs_the_modules_import_time_code(rule_runner: RuleRunner) -> None:
    """An import-time failure fails `package`, with the exception and where it was raised."""
    _needs_python("3.12")
    failing = "import os\n\nTABLE = os.environ['TABLE']\n\ndef h(event, context):\n    pass\n"
    address = _app_with_handler(rule_runner, failing, smoke_import=True)
    with pytest.raises(ExecutionError) as exc_info:
        package(rule_runner, address)
    message = str(exc_info.value.wrapped_exceptions[0])
    assert message.startswith("Cannot package src/python/app:fn: the smoke import failed: ")
    assert "importing `app.handler` on Python 3.12." in message
    assert "raised KeyError: 'TABLE' (at app/handler.py:3)" in message

    _app_with_handler(rule_runner, failing.replace("TABLE = ", "# "), smoke_import=True)
    _, files = package(rule_runner, address)
    assert "src.python.app/fn.zip" in files


def test_bytecode_is_compiled_by_the_runtimes_python_and_the_same_in_any_build_root() -> None:
    _needs_python("3.12")
    sha256s = set()
    for _ in range(2):
        rule_runner = make_rule_runner()
        address = _app_with_handler(
            rule_runner,
            "from lib.helper import greet\n\ndef h(event, context):\n    return greet('a')\n",
            bytecode="checked-hash",
        )
        built, files = package(rule_runner, address)
        with open_zip(files["src.python.app/fn.zip"]) as zf:
            assert zf.namelist() == [
                "app/__init__.py",
                "app/__pycache__/__init__.cpython-312.pyc",
                "app/__pycache__/handler.cpython-312.pyc",
                "app/handler.py",
                "lib/__init__.py",
                "lib/__pycache__/__init__.cpython-312.pyc",
                "lib/__pycache__/helper.cpython-312.pyc",
                "lib/helper.py",
            ]
            assert zf.read("app/__pycache__/handler.cpython-312.pyc")[4:8] == b"\x03\0\0\0"
        sha256s.add(json.loads(files["src.python.app/fn.json"])["sha256"])
    assert len(sha256s) == 1


def test_bytecode_needs_the_runtimes_python(rule_runner: RuleRunner) -> None:
    if shutil.which("python3.14"):
        pytest.skip("this host has Python 3.14")
    address = _app_with_handler(
        rule_runner,
        "def h(event, context):\n    pass\n",
        runtime="python3.14",
        bytecode="unchecked-hash",
    )
    with pytest.raises(ExecutionError) as exc_info:
        package(rule_runner, address)
    message = str(exc_info.value.wrapped_exceptions[0])
    assert message.startswith(
        'Cannot package src/python/app:fn: its `bytecode="unchecked-hash"` is compiled by'
        " python3.14's own Python, which needs a Python interpreter matching CPython==3.14.*"
    )
    assert message.endswith('Or set `bytecode="none"`.')


def test_smoke_import_is_skipped_for_another_architecture(rule_runner: RuleRunner) -> None:
    other = {"x86_64": "arm64", "aarch64": "x86_64"}[platform.machine()]
    failing = "raise RuntimeError('imported')\n\ndef h(event, context):\n    pass\n"
    address = _app_with_handler(rule_runner, failing, smoke_import=True, architecture=other)
    _, files = package(rule_runner, address)
    assert "src.python.app/fn.zip" in files


MANYLINUX = re.compile(r"manylinux_(\d+)_(\d+)_|manylinux2014_")


@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
def test_python314_functions_and_layers_install_cp314_wheels_within_al2023(
    architecture: str,
) -> None:
    """numpy and pydantic-core ship cp314 wheels, cryptography abi3 ones; each is for the
    architecture, and no newer than Amazon Linux 2023's glibc 2.34."""
    rule_runner = make_rule_runner()
    requirements = ["numpy", "pydantic-core", "cryptography"]
    rule_runner.write_files(
        {
            LAMBDAS_LOCK: pants_lockfile(
                {"numpy": "2.5.5", "pydantic-core": "2.50.5", "cryptography": "50.0.2"}
            ),
            "3rdparty/python/BUILD": "".join(
                f'python_requirement(name="{name}", requirements=["{name}"])\n'
                for name in requirements
            ),
            "src/python/app/BUILD": dedent(
                f"""\
                python_sources(dependencies={[f"3rdparty/python:{n}" for n in requirements]!r})
                lambda_artifact(
                    name="fn",
                    handler="app.handler.h",
                    runtime="python3.14",
                    architecture="{architecture}",
                )
                lambda_layer(
                    name="crypto",
                    dependencies=["3rdparty/python:cryptography"],
                    runtimes=["python3.14"],
                    architectures=["{architecture}"],
                )
                """
            ),
            "src/python/app/__init__.py": "",
            "src/python/app/handler.py": dedent(
                """\
                import cryptography.hazmat.bindings._rust
                import numpy
                import pydantic_core


                def h(event, context):
                    return numpy.__version__
                """
            ),
        }
    )
    run_lambda_lock(rule_runner)
    lock = (Path(rule_runner.build_root) / PLATFORM_LOCK).read_text()
    wheels = set(re.findall(r"[\w.+-]+linux[\w.+-]*\.whl", lock))
    assert {wheel.split("-")[0] for wheel in wheels} >= {"numpy", "pydantic_core", "cryptography"}
    for wheel in wheels:
        ceilings = [(2, int(minor)) if minor else (2, 17) for _, minor in MANYLINUX.findall(wheel)]
        assert ceilings and min(ceilings) <= (2, 34), wheel
    _, files = package(rule_runner, Address("src/python/app", target_name="fn"))
    with open_zip(files["src.python.app/fn.zip"]) as zf:
        names = zf.namelist()
        headers = {name: zf.read(name)[:20] for name in names if ".so" in name.rsplit("/", 1)[-1]}
    triplet = ELF_TRIPLET[architecture]
    assert f"numpy/_core/_multiarray_umath.cpython-314-{triplet}.so" in names
    assert any(n.startswith("pydantic_core/_pydantic_core.cpython-314-") for n in names)
    assert "cryptography/hazmat/bindings/_rust.abi3.so" in names
    machines = {name: struct.unpack_from("<H", header, 18)[0] for name, header in headers.items()}
    assert set(machines.values()) == {ELF_MACHINE[architecture]}, machines

    layer = rule_runner.get_target(Address("src/python/app", target_name="crypto"))
    built = rule_runner.request(BuiltPackage, [LambdaLayerFieldSet.create(layer)])
    contents = rule_runner.request(DigestContents, [built.digest])
    (layer_zip,) = (fc.content for fc in contents if fc.path.endswith(".zip"))
    rust = "python/lib/python3.14/site-packages/cryptography/hazmat/bindings/_rust.abi3.so"
    with open_zip(layer_zip) as zf:
        assert struct.unpack_from("<H", zf.read(rust)[:20], 18)[0] == ELF_MACHINE[architecture]
