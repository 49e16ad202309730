"""Building an sdist's wheel with the real builder, the pinned setuptools and a real sdist from
PyPI: the same bytes in two repositories, and a failing build reported as one error naming it."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from pants.backend.python.util_rules.pex import CompletePlatforms
from pants.engine.fs import DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner

from repro_lambda.testutil import make_rule_runner
from repro_lambda.util_rules.install import LambdaPlatformRequest
from repro_lambda.util_rules.sdists import BuiltWheel, SdistBuildError, SdistBuildRequest

DOCOPT_URL = (
    "https://files.pythonhosted.org/packages/a2/55/8f8cab2afd404cf578136ef2cc5dfb50baa1761b68c9da1f"
    "b1e4eed343c9/docopt-0.6.2.tar.gz"
)
DOCOPT_SHA256 = "49b3a825280bd66b3aa83585ef59c4a8c82f2c8a522dbe754a8bc8d08c85c491"


def rule_runner() -> RuleRunner:
    return make_rule_runner(
        QueryRule(BuiltWheel, [SdistBuildRequest]),
        QueryRule(CompletePlatforms, [LambdaPlatformRequest]),
    )


def request(
    runner: RuleRunner, requirement: str, url: str, sha256: str, size: int
) -> SdistBuildRequest:
    """Build for python3.11, on x86_64 (the complete platform of the build environment)."""
    platform = runner.request(CompletePlatforms, [LambdaPlatformRequest("python3.11", "x86_64")])
    return SdistBuildRequest(requirement, url, sha256, size, "python3.11", platform)


def docopt(runner: RuleRunner) -> SdistBuildRequest:
    return request(runner, "docopt==0.6.2", DOCOPT_URL, DOCOPT_SHA256, 25901)


def wheel_bytes(runner: RuleRunner, built: BuiltWheel) -> bytes:
    (content,) = runner.request(DigestContents, [built.digest])
    assert content.path == built.filename
    return content.content


def test_an_sdist_builds_the_same_wheel_in_two_repositories() -> None:
    first, second = rule_runner(), rule_runner()
    built = first.request(BuiltWheel, [docopt(first)])
    assert built.filename == "docopt-0.6.2-py2.py3-none-any.whl"
    data = wheel_bytes(first, built)
    assert data == wheel_bytes(second, second.request(BuiltWheel, [docopt(second)]))
    with zipfile.ZipFile(io.BytesIO(data)) as wheel:
        assert "docopt.py" in wheel.namelist()


def test_a_download_that_is_not_the_pinned_sdist_is_refused(tmp_path: Path) -> None:
    sdist = tmp_path / "docopt-0.6.2.tar.gz"
    sdist.write_bytes(b"not the sdist the lock pins, but as long" + bytes(25901 - 40))
    runner = rule_runner()
    wrong = request(runner, "docopt==0.6.2", sdist.as_uri(), DOCOPT_SHA256, 25901)
    with pytest.raises(ExecutionError, match="[Dd]igest|[Ff]ingerprint|sha256|hash"):
        runner.request(BuiltWheel, [wrong])


def test_a_failing_build_is_one_error_naming_the_requirement_and_its_last_lines(
    tmp_path: Path,
) -> None:
    sdist = tmp_path / "broken-1.0.tar.gz"
    setup = b"raise RuntimeError('no compiler for this platform')\n"
    with tarfile.open(sdist, "w:gz") as archive:
        info = tarfile.TarInfo("broken-1.0/setup.py")
        info.size = len(setup)
        archive.addfile(info, io.BytesIO(setup))
    data = sdist.read_bytes()
    runner = rule_runner()
    broken = request(
        runner, "broken==1.0", sdist.as_uri(), hashlib.sha256(data).hexdigest(), len(data)
    )
    with pytest.raises(ExecutionError) as error:
        runner.request(BuiltWheel, [broken])
    (wrapped,) = error.value.wrapped_exceptions
    assert isinstance(wrapped, SdistBuildError)
    message = str(wrapped)
    assert message.startswith("Cannot build `broken==1.0` from its sdist (broken-1.0.tar.gz) for")
    assert "no compiler for this platform" in message
    assert "Traceback" not in message.splitlines()[0]


def test_an_sdist_that_needs_a_system_library_names_it_and_the_fix() -> None:
    """psycopg2 needs libpq: the build has no `pg_config`, and says so, with what to do."""
    runner = rule_runner()
    psycopg2 = request(
        runner,
        "psycopg2==2.9.13",
        "https://files.pythonhosted.org/packages/91/81/"
        "6ea19b8b28feb9405c8c87a307776614d6e404bdb98467d1ce10a39d2c1d/psycopg2-2.9.13.tar.gz",
        "d36784fc2dae69523ba4b79c7d1d1b4d6e83e87836874f111262f4db940b16a6",
        378068,
    )
    with pytest.raises(ExecutionError) as error:
        runner.request(BuiltWheel, [psycopg2])
    (wrapped,) = error.value.wrapped_exceptions
    assert isinstance(wrapped, SdistBuildError)
    assert str(wrapped).startswith(
        "Cannot build `psycopg2==2.9.13` from its sdist (psycopg2-2.9.13.tar.gz) for python3.11:"
        " it needs the program pg_config (of libpq), which a sandboxed build does not have. Use a"
        " distribution of it that publishes wheels if there is one (such as psycopg2-binary),"
    )
