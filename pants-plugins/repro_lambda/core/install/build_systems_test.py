"""An sdist's build system, read from sdists written here, and whether the plugin's pinned build
environment provides it."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest

from repro_lambda.core.contract import UserError
from repro_lambda.core.install import build_systems
from repro_lambda.core.install.build_systems import (
    LEGACY_BACKEND,
    BuildSystem,
    pinned_versions,
    provided,
    read_build_system,
)

SHIPPED = pinned_versions(
    ("setuptools==80.9.0", "wheel==0.45.1", 'tomli==2.2.1; python_version < "3.11"')
)


def sdist(files: dict[str, bytes], name: str = "x-1.0.tar.gz") -> bytes:
    buffer = io.BytesIO()
    if name.endswith(".zip"):
        with zipfile.ZipFile(buffer, "w") as archive:
            for path, data in files.items():
                archive.writestr(path, data)
        return buffer.getvalue()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


HATCH = b'[build-system]\nrequires = ["hatchling>=1.18"]\nbuild-backend = "hatchling.build"\n'


@pytest.mark.parametrize("name", ["x-1.0.tar.gz", "x-1.0.zip"])
def test_the_top_level_pyproject_names_the_build_system(name: str) -> None:
    data = sdist({"x-1.0/pyproject.toml": HATCH, "x-1.0/sub/pyproject.toml": b"[oops"}, name)
    assert read_build_system(data, name) == BuildSystem("hatchling.build", ("hatchling>=1.18",))


def test_without_a_pyproject_or_backend_the_pep_517_defaults_apply() -> None:
    assert read_build_system(sdist({"x-1.0/setup.py": b""}), "x-1.0.tar.gz") == BuildSystem(
        LEGACY_BACKEND, ("setuptools",)
    )
    only_requires = b'[build-system]\nrequires = ["setuptools>=40", "cython"]\n'
    system = read_build_system(sdist({"x-1.0/pyproject.toml": only_requires}), "x-1.0.tar.gz")
    assert system == BuildSystem(LEGACY_BACKEND, ("setuptools>=40", "cython"))


def test_a_broken_pyproject_is_an_error_naming_the_sdist() -> None:
    with pytest.raises(UserError, match="x-1.0.tar.gz: its pyproject.toml is not valid TOML"):
        read_build_system(sdist({"x-1.0/pyproject.toml": b"[build-system"}), "x-1.0.tar.gz")
    with pytest.raises(UserError, match="`build-system.requires` is not a list of strings"):
        read_build_system(
            sdist({"x-1.0/pyproject.toml": b'[build-system]\nrequires = "setuptools"\n'}),
            "x-1.0.tar.gz",
        )


def test_a_pyproject_too_large_to_read_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_systems, "MAX_PYPROJECT_BYTES", len(HATCH) - 1)
    with pytest.raises(UserError, match="x-1.0.tar.gz: its pyproject.toml is larger than 1 MiB"):
        read_build_system(sdist({"x-1.0/pyproject.toml": HATCH}), "x-1.0.tar.gz")


def test_the_environment_adds_wheel_for_setuptools_and_tomli_for_old_pythons() -> None:
    assert BuildSystem(LEGACY_BACKEND, ("setuptools>=61",)).environment() == (
        "setuptools>=61",
        'tomli; python_version < "3.11"',
        "wheel",
    )
    assert BuildSystem("hatchling.build", ("hatchling",)).environment() == (
        "hatchling",
        'tomli; python_version < "3.11"',
    )


@pytest.mark.parametrize(
    ("requires", "python", "expected"),
    [
        (("setuptools",), (3, 13), True),
        (("setuptools>=40.8", "wheel"), (3, 9), True),
        (("Setuptools>=61", 'tomli>=1; python_version < "3.11"'), (3, 13), True),
        (("setuptools<70",), (3, 13), False),
        (("hatchling",), (3, 13), False),
        (("setuptools", "cython>=3"), (3, 12), False),
        (('hatchling; python_version < "3.0"', "setuptools"), (3, 12), True),
        (("not a requirement !",), (3, 12), False),
    ],
)
def test_the_pinned_environment_provides_what_its_versions_meet(
    requires: tuple[str, ...], python: tuple[int, int], expected: bool
) -> None:
    assert provided(requires, SHIPPED, python) is expected


def test_an_unpinned_requirement_meets_only_unversioned_requires() -> None:
    unpinned = pinned_versions(("setuptools>=60",))
    assert unpinned == {"setuptools": None}
    assert provided(("setuptools",), unpinned, (3, 12))
    assert not provided(("setuptools>=61",), unpinned, (3, 12))
