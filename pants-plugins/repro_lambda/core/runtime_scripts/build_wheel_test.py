"""The wheel builder: real sdists from PyPI built with a pinned setuptools, the same bytes from any
directory, umask and time zone, and an sdist that attacks the extraction refused."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
from pathlib import Path

import pytest

from repro_lambda.core.runtime_scripts.build_wheel import NEEDS_COMPILER, BuildError, extract

SCRIPT = Path(__file__).with_name("build_wheel.py")
# url, sha256
SETUPTOOLS = (
    "https://files.pythonhosted.org/packages/a3/dc/17031897dae0efacfea57dfd3a82fdd2a2aeb58e0ff71b77"
    "b87e44edc772/setuptools-80.9.0-py3-none-any.whl",
    "062d34222ad13e0cc312a4c02d73f059e86a4acbfbdea8f8f76b28c99f306922",
)
SDISTS = {
    "docopt": (
        "https://files.pythonhosted.org/packages/a2/55/8f8cab2afd404cf578136ef2cc5dfb50baa1761b68c9"
        "da1fb1e4eed343c9/docopt-0.6.2.tar.gz",
        "49b3a825280bd66b3aa83585ef59c4a8c82f2c8a522dbe754a8bc8d08c85c491",
    ),
    # a C extension with a pure-Python fallback that its setup.py takes when the compile fails
    "crcmod": (
        "https://files.pythonhosted.org/packages/6b/b0/e595ce2a2527e169c3bcd6c33d2473c1918e0b7f6826"
        "a043ca1245dd4e5b/crcmod-1.7.tar.gz",
        "dc7051a0db5f2bd48665a990d3ec1cc305a466a77358ca4492826f41f283601e",
    ),
    "sgmllib3k": (
        "https://files.pythonhosted.org/packages/9e/bd/3704a8c3e0942d711c1299ebf7b9091930adae6675d7"
        "c8f476a7ce48653c/sgmllib3k-1.0.0.tar.gz",
        "7868fb1c8bfa764c1ac563d3cf369c381d1325d36124933a726f29fcdaa812e9",
    ),
}


def download(url: str, sha256: str, directory: Path) -> Path:
    path = directory / url.rsplit("/", 1)[1]
    if not path.exists():
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
        assert hashlib.sha256(data).hexdigest() == sha256, f"{url} is not the pinned file"
        path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def build_env(downloads: Path) -> Path:
    """The pinned setuptools, installed flat (a wheel unzipped is its flat install)."""
    env = downloads / "build-env"
    with zipfile.ZipFile(download(*SETUPTOOLS, downloads)) as wheel:
        wheel.extractall(env)
    return env


def run(
    build_env: Path, sdist: Path, out: Path, *, umask: int = 0o022, tz: str = "UTC"
) -> subprocess.CompletedProcess[str]:
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {"PATH": "", "TZ": tz, "LC_ALL": "C.UTF-8"}
    command = [sys.executable, "-I", "-S", "-B", str(SCRIPT), "--build-env", str(build_env)]
    command += ["--sdist", str(sdist), "--out", str(out)]
    return subprocess.run(
        command,
        cwd=out.parent,
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.umask(umask),
    )


def build(build_env: Path, sdist: Path, out: Path, *, umask: int, tz: str) -> Path:
    result = run(build_env, sdist, out, umask=umask, tz=tz)
    assert result.returncode == 0, result.stderr
    return out / result.stdout.strip()


@pytest.mark.parametrize("name", ["docopt", "sgmllib3k"])
def test_a_pure_sdist_builds_the_same_wheel_anywhere(
    name: str, tmp_path: Path, downloads: Path, build_env: Path
) -> None:
    sdist = download(*SDISTS[name], downloads)
    first = build(build_env, sdist, tmp_path / "a/out", umask=0o022, tz="UTC")
    second = build(build_env, sdist, tmp_path / "b/deeper/out", umask=0o077, tz="Asia/Kolkata")
    assert first.name == second.name and first.name.startswith(f"{name}-")
    assert first.name.endswith("-none-any.whl")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as wheel:
        modes = {info.filename: info.external_attr >> 16 & 0o777 for info in wheel.infolist()}
    # the second build's umask 077 did not reach the wheel: everything stays readable by all
    assert all(mode & 0o444 == 0o444 for mode in modes.values()), modes


def test_a_build_that_wants_a_compiler_says_so_even_when_it_would_fall_back(
    tmp_path: Path, downloads: Path, build_env: Path
) -> None:
    # crcmod builds pure Python when its extension does not compile: without a cross toolchain
    # the builder compiles nothing, and says it needs a compiler (a success, cached like a wheel)
    # rather than hand back that slower fallback
    result = run(build_env, download(*SDISTS["crcmod"], downloads), tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == NEEDS_COMPILER


def test_a_backend_the_build_environment_lacks_is_one_error(
    tmp_path: Path, downloads: Path
) -> None:
    sdist = download(*SDISTS["docopt"], downloads)
    (tmp_path / "empty").mkdir()
    command = [
        sys.executable,
        "-I",
        "-S",
        "-B",
        str(SCRIPT),
        "--build-env",
        str(tmp_path / "empty"),
    ]
    command += ["--sdist", str(sdist), "--out", str(tmp_path / "out")]
    result = subprocess.run(command, capture_output=True, text=True, env={"PATH": ""})
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line == (
        "error: its build needs setuptools, which the build environment lacks: add it to"
        " `[lambda-sdist-build].requirements` and regenerate that lockfile"
    )


def pyproject_sdist(path: Path, build_system: str) -> Path:
    """An sdist with a `pyproject.toml` of this `[build-system]` and one module."""
    files = {
        "pyproject.toml": f"[build-system]\n{build_system}\n"
        '[project]\nname = "demo"\nversion = "1.0"\n',
        "demo.py": "ANSWER = 42\n",
    }
    with tarfile.open(path, "w:gz") as archive:
        for name, text in files.items():
            info = tarfile.TarInfo(f"demo-1.0/{name}")
            info.size = len(text.encode())
            archive.addfile(info, io.BytesIO(text.encode()))
    return path


def test_the_backend_the_sdist_names_builds_it(tmp_path: Path, build_env: Path) -> None:
    sdist = pyproject_sdist(
        tmp_path / "demo-1.0.tar.gz",
        'requires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"',
    )
    wheel = build(build_env, sdist, tmp_path / "out", umask=0o022, tz="UTC")
    assert wheel.name == "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("demo.py") == b"ANSWER = 42\n"


def test_a_backend_requirement_the_build_environment_lacks_is_one_error(
    tmp_path: Path, build_env: Path
) -> None:
    sdist = pyproject_sdist(
        tmp_path / "demo-1.0.tar.gz",
        'requires = ["hatchling>=1.18"]\nbuild-backend = "hatchling.build"',
    )
    command = [sys.executable, "-I", "-S", "-B", str(SCRIPT), "--build-env", str(build_env)]
    command += ["--sdist", str(sdist), "--out", str(tmp_path / "out")]
    result = subprocess.run(command, capture_output=True, text=True, env={"PATH": ""})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: its build needs hatchling>=1.18, which the build environment lacks: add it to"
        " `[lambda-sdist-build].requirements` and regenerate that lockfile"
    ]


def tarball(path: Path, members: list[tarfile.TarInfo], data: bytes = b"x") -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for member in members:
            archive.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


def member(
    name: str, kind: bytes = tarfile.REGTYPE, size: int = 1, link: str = ""
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, size if kind == tarfile.REGTYPE else 0, link
    return info


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([member("pkg-1/setup.py"), member("../evil.py")], "unsafe entry '../evil.py'"),
        ([member("/etc/evil")], "unsafe entry '/etc/evil'"),
        ([member("pkg-1/x", tarfile.SYMTYPE, link="/etc/passwd")], "link or special file"),
        ([member("pkg-1/x", tarfile.LNKTYPE, link="pkg-1/y")], "link or special file"),
        ([member("pkg-1/fifo", tarfile.FIFOTYPE)], "link or special file"),
        ([member("a-1/setup.py"), member("b-1/setup.py")], "no single top-level directory"),
    ],
)
def test_an_sdist_that_attacks_the_extraction_is_refused(
    tmp_path: Path, members: list[tarfile.TarInfo], message: str
) -> None:
    sdist = tarball(tmp_path / "pkg-1.tar.gz", members)
    (tmp_path / "out").mkdir()
    with pytest.raises(BuildError, match=message):
        extract(str(sdist), str(tmp_path / "out"))
    assert not (tmp_path / "evil.py").exists()


def test_an_sdist_that_unpacks_too_large_is_refused(tmp_path: Path) -> None:
    sdist = tarball(tmp_path / "pkg-1.tar.gz", [member("pkg-1/big", size=4)], data=b"xxxx")
    (tmp_path / "out").mkdir()
    with pytest.raises(BuildError, match="unpacks to more than"):
        extract(str(sdist), str(tmp_path / "out"), budget=3)
