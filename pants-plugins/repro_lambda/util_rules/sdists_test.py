"""Building an sdist's wheel with the real builder, the pinned setuptools and a real sdist from
PyPI: the same bytes in two repositories, and a failing build reported as one error naming it. A C
extension is cross-compiled with the pinned Zig against Debian's headers of the runtime's Python,
for x86_64 and arm64, and the x86_64 one is imported and run."""

from __future__ import annotations

import glob
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
from pants.backend.python.util_rules.pex import CompletePlatforms
from pants.engine.fs import DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner

from repro_lambda.core.contract import Architecture
from repro_lambda.core.install.extension_audit import read_elf
from repro_lambda.core.pack.native import ELF_MACHINES
from repro_lambda.testutil import make_rule_runner
from repro_lambda.util_rules.install import LambdaPlatformRequest
from repro_lambda.util_rules.sdists import BuiltWheel, SdistBuildError, SdistBuildRequest

DOCOPT_URL = (
    "https://files.pythonhosted.org/packages/a2/55/8f8cab2afd404cf578136ef2cc5dfb50baa1761b68c9da1f"
    "b1e4eed343c9/docopt-0.6.2.tar.gz"
)
DOCOPT_SHA256 = "49b3a825280bd66b3aa83585ef59c4a8c82f2c8a522dbe754a8bc8d08c85c491"
CRCMOD = (
    "crcmod==1.7",
    "https://files.pythonhosted.org/packages/6b/b0/"
    "e595ce2a2527e169c3bcd6c33d2473c1918e0b7f6826a043ca1245dd4e5b/crcmod-1.7.tar.gz",
    "dc7051a0db5f2bd48665a990d3ec1cc305a466a77358ca4492826f41f283601e",
    89670,
)


def rule_runner() -> RuleRunner:
    return make_rule_runner(
        QueryRule(BuiltWheel, [SdistBuildRequest]),
        QueryRule(CompletePlatforms, [LambdaPlatformRequest]),
    )


def request(
    runner: RuleRunner,
    requirement: str,
    url: str,
    sha256: str,
    size: int,
    runtime: str = "python3.11",
    architecture: Architecture = Architecture.X86_64,
) -> SdistBuildRequest:
    """Build for `runtime` × `architecture`, on x86_64 (the build environment's platform)."""
    platform = runner.request(CompletePlatforms, [LambdaPlatformRequest(runtime, "x86_64")])
    return SdistBuildRequest(requirement, url, sha256, size, runtime, architecture, platform)


def docopt(runner: RuleRunner) -> SdistBuildRequest:
    return request(runner, "docopt==0.6.2", DOCOPT_URL, DOCOPT_SHA256, 25901)


def build_error(runner: RuleRunner, request: SdistBuildRequest) -> SdistBuildError:
    """The one error building `request` fails with."""
    with pytest.raises(ExecutionError) as error:
        runner.request(BuiltWheel, [request])
    (wrapped,) = error.value.wrapped_exceptions
    assert isinstance(wrapped, SdistBuildError)
    return wrapped


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
    wrapped = build_error(runner, broken)
    message = str(wrapped)
    assert message.startswith("Cannot build broken==1.0 from its sdist (broken-1.0.tar.gz) for")
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
    wrapped = build_error(runner, psycopg2)
    assert str(wrapped).startswith(
        "Cannot build psycopg2==2.9.13 from its sdist (psycopg2-2.9.13.tar.gz) for"
        " python3.11-x86_64:"
        " it needs the program pg_config (of libpq), which a sandboxed build does not have. Use a"
        " distribution of it that publishes wheels if there is one (such as psycopg2-binary),"
    )


def extension(wheel: bytes) -> tuple[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".so")]
        return name, archive.read(name)


@pytest.mark.parametrize(
    ("runtime", "architecture", "wheel", "so"),
    [
        (
            "python3.11",
            Architecture.X86_64,
            "crcmod-1.7-cp311-cp311-linux_x86_64.whl",
            "crcmod/_crcfunext.cpython-311-x86_64-linux-gnu.so",
        ),
        (
            "python3.13",
            Architecture.ARM64,
            "crcmod-1.7-cp313-cp313-linux_aarch64.whl",
            "crcmod/_crcfunext.cpython-313-aarch64-linux-gnu.so",
        ),
    ],
)
def test_a_c_extension_is_cross_compiled_the_same_in_two_repositories(
    runtime: str, architecture: Architecture, wheel: str, so: str
) -> None:
    first, second = rule_runner(), rule_runner()
    built = first.request(BuiltWheel, [request(first, *CRCMOD, runtime, architecture)])
    assert built.filename == wheel
    data = wheel_bytes(first, built)
    name, binary = extension(data)
    assert name == so
    assert read_elf(binary).machine == ELF_MACHINES[architecture]
    again = second.request(BuiltWheel, [request(second, *CRCMOD, runtime, architecture)])
    assert wheel_bytes(second, again) == data


def test_the_cross_compiled_extension_runs(tmp_path: Path) -> None:
    runner = rule_runner()
    built = runner.request(BuiltWheel, [request(runner, *CRCMOD)])
    with zipfile.ZipFile(io.BytesIO(wheel_bytes(runner, built))) as archive:
        archive.extractall(tmp_path)
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    (python, *_) = filter(
        None, [shutil.which("python3.11"), *glob.glob(f"{pyenv}/versions/3.11*/bin/python3.11")]
    )
    code = (
        "import sys; sys.path.insert(0, ''); import crcmod.predefined as p;"
        " print(sys.modules['crcmod.crcmod']._usingExtension,"
        " hex(p.mkCrcFun('crc-32')(b'123456789')))"
    )
    result = subprocess.run(
        [python, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["True", "0xcbf43926"]


def test_extensions_for_a_runtime_without_pinned_headers_name_the_option() -> None:
    runner = rule_runner()
    crcmod = request(runner, *CRCMOD, "python3.12", Architecture.ARM64)
    wrapped = build_error(runner, crcmod)
    assert str(wrapped).startswith(
        "`crcmod==1.7` compiles extensions from its sdist, and no Python headers are pinned for"
        " python3.12-arm64: add the pinned archive of libpython3.12-dev for aarch64 to"
        " `[lambda-sdist-build].python_headers`"
    )
