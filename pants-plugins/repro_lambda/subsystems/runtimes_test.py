"""`[lambda-runtimes]`: deprecated runtimes warn, blocked ones fail unless allowed (pinned days)."""

from __future__ import annotations

import datetime
import logging

import pytest
from pants.engine.addresses import Address
from pants.testutil.option_util import create_subsystem
from pants.testutil.rule_runner import run_rule_with_mocks

from repro_lambda.core import runtimes
from repro_lambda.subsystems.runtimes import (
    BlockedRuntime,
    LambdaRuntimes,
    RuntimeLifecycle,
    RuntimeLifecycleRequest,
    check_runtime_lifecycle,
)

ADDRESS = Address("src/python/orders", target_name="orders")


def check(
    monkeypatch: pytest.MonkeyPatch, runtime: str, today: str, allow_blocked: tuple[str, ...] = ()
) -> RuntimeLifecycle:
    monkeypatch.setattr(runtimes, "today", lambda: datetime.date.fromisoformat(today))
    subsystem = create_subsystem(LambdaRuntimes, allow_blocked=list(allow_blocked))
    lifecycle: RuntimeLifecycle = run_rule_with_mocks(
        check_runtime_lifecycle, rule_args=[RuntimeLifecycleRequest(ADDRESS, runtime), subsystem]
    )
    return lifecycle


def test_supported(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    assert check(monkeypatch, "python3.10", "2026-10-30") == RuntimeLifecycle(deprecated=False)
    assert not caplog.records


def test_deprecated_warns(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert check(monkeypatch, "python3.10", "2026-12-03") == RuntimeLifecycle(deprecated=True)
    assert [record.getMessage() for record in caplog.records] == [
        "src/python/orders:orders: AWS Lambda has deprecated python3.10 (deprecated 2026-10-31,"
        " function creation blocked from 2027-02-01, updates from 2027-03-03): move to"
        " python3.14."
    ]


def test_allow_blocked_names_runtimes(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(
        BlockedRuntime, match=r"^`\[lambda-runtimes\]\.allow_blocked` names python3\.8,"
    ):
        check(monkeypatch, "python3.12", "2026-12-03", allow_blocked=("python3.8",))


def test_blocked_fails_unless_allowed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(BlockedRuntime) as error:
        check(monkeypatch, "nodejs20.x", "2027-03-03", allow_blocked=("python3.9",))
    assert str(error.value) == (
        "Cannot package src/python/orders:orders: AWS Lambda no longer accepts updates of"
        " functions on nodejs20.x (deprecated 2026-04-30, function creation blocked from"
        " 2027-02-01, updates from 2027-03-03): move to nodejs24.x, or add nodejs20.x to"
        " `[lambda-runtimes].allow_blocked` to rebuild it on purpose."
    )
    with caplog.at_level(logging.WARNING):
        allowed = check(monkeypatch, "nodejs20.x", "2027-03-03", allow_blocked=("nodejs20.x",))
    assert allowed == RuntimeLifecycle(deprecated=True)
    assert "AWS Lambda no longer accepts updates of functions on nodejs20.x" in caplog.text
