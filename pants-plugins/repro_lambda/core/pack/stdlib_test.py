from __future__ import annotations

import subprocess

import pytest

from repro_lambda.core.pack.stdlib import stdlib_modules
from repro_lambda.core.testutil import find_python


@pytest.mark.parametrize("minor", [10, 11, 12, 13, 14])
def test_table_is_the_interpreters_own_list(minor: int) -> None:
    python = find_python(f"3.{minor}")
    if python is None:
        pytest.skip(f"no Python 3.{minor} on PATH or in pyenv")
    listed = subprocess.run(
        [python, "-I", "-c", "import sys; print(*sys.stdlib_module_names)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert stdlib_modules((3, minor)) == set(listed)


def test_removals_and_additions_follow_the_versions() -> None:
    assert {"distutils", "imp"} <= stdlib_modules((3, 11)) - stdlib_modules((3, 12))
    assert "cgi" in stdlib_modules((3, 12)) and "cgi" not in stdlib_modules((3, 13))
    assert "tomllib" in stdlib_modules((3, 11)) - stdlib_modules((3, 10))
    assert "annotationlib" in stdlib_modules((3, 14)) - stdlib_modules((3, 13))
    assert "parser" in stdlib_modules((3, 9)) - stdlib_modules((3, 10))


@pytest.mark.parametrize("version", [(3, 8), (3, 15), (2, 7)])
def test_versions_outside_the_table_are_refused(version: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="no standard-library table for Python"):
        stdlib_modules(version)
