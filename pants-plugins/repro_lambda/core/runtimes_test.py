"""The runtime table and its lifecycle, judged on pinned dates."""

from __future__ import annotations

import datetime

import pytest

from repro_lambda.core.pack.stdlib import stdlib_modules
from repro_lambda.core.runtimes import (
    BY_NAME,
    NODEJS_RUNTIMES,
    PYTHON_RUNTIMES,
    RUNTIMES,
    lifecycle_problem,
    newest,
)

DAY = datetime.timedelta(days=1)


def test_the_runtimes_of_today() -> None:
    assert PYTHON_RUNTIMES == tuple(f"python3.{minor}" for minor in range(9, 15))
    assert NODEJS_RUNTIMES == ("nodejs20.x", "nodejs22.x", "nodejs24.x")
    assert newest(PYTHON_RUNTIMES) == "python3.14"
    assert newest(NODEJS_RUNTIMES) == "nodejs24.x"


@pytest.mark.parametrize("runtime", RUNTIMES, ids=[runtime.name for runtime in RUNTIMES])
def test_each_lifecycle_is_in_order(runtime) -> None:
    assert runtime.deprecated <= runtime.block_create <= runtime.block_update


@pytest.mark.parametrize("name", PYTHON_RUNTIMES)
def test_each_python_runtime_has_its_standard_library(name: str) -> None:
    version = BY_NAME[name].python_version
    assert version is not None and "json" in stdlib_modules(version)


def test_supported_until_deprecated() -> None:
    python310 = BY_NAME["python3.10"]
    assert lifecycle_problem("python3.10", python310.deprecated - DAY) == (False, "")


def test_deprecated_warns_with_the_dates_until_updates_are_blocked() -> None:
    problem = (
        False,
        "AWS Lambda has deprecated python3.10 (deprecated 2026-10-31, function creation blocked"
        " from 2027-02-01, updates from 2027-03-03): move to python3.14",
    )
    assert lifecycle_problem("python3.10", datetime.date(2026, 10, 31)) == problem
    assert lifecycle_problem("python3.10", datetime.date(2027, 3, 2)) == problem


def test_blocked_once_updates_are() -> None:
    assert lifecycle_problem("nodejs20.x", datetime.date(2027, 3, 3)) == (
        True,
        "AWS Lambda no longer accepts updates of functions on nodejs20.x (deprecated 2026-04-30,"
        " function creation blocked from 2027-02-01, updates from 2027-03-03): move to nodejs24.x",
    )
