"""The plugin's test fixtures; what they build on is in `testutil`."""

from __future__ import annotations

import datetime

import pytest
from pants.testutil.rule_runner import RuleRunner

from repro_lambda.core import runtimes
from repro_lambda.testutil import (
    LAMBDAS_LOCK,
    REPO_ROOT,
    make_rule_runner,
    numpy_lambda_files,
    run_lambda_lock,
)


@pytest.fixture(autouse=True)
def pinned_today(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runtime lifecycles are judged on the day these tests were written, whenever they run."""
    monkeypatch.setattr(runtimes, "today", lambda: datetime.date(2026, 12, 3))


@pytest.fixture
def rule_runner() -> RuleRunner:
    return make_rule_runner()


@pytest.fixture(scope="session")
def numpy_rule_runner() -> RuleRunner:
    """A numpy lambda for both architectures, with the repository's `lambdas` lockfile and the
    platform lock `lambda-lock` makes from it (resolving against PyPI)."""
    rule_runner = make_rule_runner()
    rule_runner.write_files(
        {
            LAMBDAS_LOCK: (REPO_ROOT / LAMBDAS_LOCK).read_text(),
            **numpy_lambda_files(
                "numpy>=2.2,<2.3", '"python3.12"', 'parametrize("x86_64", "arm64")'
            ),
        }
    )
    run_lambda_lock(rule_runner)
    return rule_runner
