"""Building an sdist's wheel with the real builder, the pinned setuptools and a real sdist from
PyPI: the same bytes in two repositories, and a failing build reported as one error naming it."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from pants.engine.fs import DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner

from repro_lambda.testutil import make_rule_runner
from repro_lambda.util_rules.sdists import BuiltWheel, SdistBuildError, SdistBuildRequest

DOCOPT = SdistBuildRequest(
    "docopt==0.6.2",
    "https://files.pythonhosted.org/packages/a2/55/8f8cab2afd404cf578136ef2cc5dfb50baa1761b68c9da1f"
    "b1e4eed343c9/docopt-0.6.2.tar.gz",
    "49b3a825280bd66b3aa83585ef59c4a8c82f2c8a522dbe754a8bc8d08c85c491",
    25901,
    "python3.11",
)


def rule_runner() -> RuleRunner:
    return make_rule_runner(QueryRule(BuiltWheel, [SdistBuildRequest]))


def wheel_bytes(runner: RuleRunner, built: BuiltWheel) -> bytes:
    (content,) = runner.request(DigestContents, [built.digest])
    assert content.path == built.filename
    return content.content


def test_an_sdist_builds_the_same_wheel_in_two_repositories() -> None:
    first, second = rule_runner(), rule_runner()
    built = first.request(BuiltWheel, [DOCOPT])
    assert built.filename == "docopt-0.6.2-py2.py3-none-any.whl"
    data = wheel_bytes(first, built)
    assert data == wheel_bytes(second, second.request(BuiltWheel, [DOCOPT]))
    with zipfile.ZipFile(io.BytesIO(data)) as wheel:
        assert "docopt.py" in wheel.namelist()


def test_a_download_that_is_not_the_pinned_sdist_is_refused(tmp_path: Path) -> None:
    sdist = tmp_path / "docopt-0.6.2.tar.gz"
    sdist.write_bytes(b"not the sdist the lock pins, but as long" + bytes(25901 - 40))
    request = SdistBuildRequest(
        "docopt==0.6.2", sdist.as_uri(), DOCOPT.sha256, DOCOPT.size, "python3.11"
    )
    with pytest.raises(ExecutionError, match="[Dd]igest|[Ff]ingerprint|sha256|hash"):
        rule_runner().request(BuiltWheel, [request])


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
    request = SdistBuildRequest(
        "broken==1.0", sdist.as_uri(), hashlib.sha256(data).hexdigest(), len(data), "python3.11"
    )
    with pytest.raises(ExecutionError) as error:
        rule_runner().request(BuiltWheel, [request])
    (wrapped,) = error.value.wrapped_exceptions
    assert isinstance(wrapped, SdistBuildError)
    message = str(wrapped)
    assert message.startswith("Cannot build `broken==1.0` from its sdist (broken-1.0.tar.gz) for")
    assert "no compiler for this platform" in message
    assert "Traceback" not in message.splitlines()[0]
