"""The Lambda runtimes we build for, and their lifecycle: the one table every other module reads.

Dates are AWS's (the "Supported runtimes" and "Deprecated runtimes" tables of the Lambda
developer guide). Standard library only, Python 3.9 syntax: the plugin, the platform generator
and the core import it.
"""

from __future__ import annotations

import datetime
from typing import NamedTuple, Optional, Tuple


class OperatingSystem(NamedTuple):
    name: str
    glibc: Tuple[int, int]
    """The glibc version, which is the manylinux ceiling of the runtime's wheels."""


AL2 = OperatingSystem("Amazon Linux 2", (2, 26))
AL2023 = OperatingSystem("Amazon Linux 2023", (2, 34))


class Runtime(NamedTuple):
    """A Lambda runtime identifier, its OS and when AWS deprecates it, then blocks creating and
    then updating functions on it."""

    name: str
    os: OperatingSystem
    deprecated: datetime.date
    block_create: datetime.date
    block_update: datetime.date

    @property
    def python_version(self) -> Optional[Tuple[int, int]]:
        """`python3.12` -> (3, 12); None for other languages."""
        if not self.name.startswith("python"):
            return None
        major, minor = self.name[len("python") :].split(".")
        return int(major), int(minor)

    def lifecycle(self) -> str:
        return (
            f"deprecated {self.deprecated}, function creation blocked from {self.block_create},"
            f" updates from {self.block_update}"
        )


_date = datetime.date
RUNTIMES: Tuple[Runtime, ...] = (
    Runtime("python3.9", AL2, _date(2025, 12, 15), _date(2027, 2, 1), _date(2027, 3, 3)),
    Runtime("python3.10", AL2, _date(2026, 10, 31), _date(2027, 2, 1), _date(2027, 3, 3)),
    Runtime("python3.11", AL2, _date(2027, 6, 30), _date(2027, 7, 31), _date(2027, 8, 31)),
    Runtime("python3.12", AL2023, _date(2028, 10, 31), _date(2028, 11, 30), _date(2029, 1, 10)),
    Runtime("python3.13", AL2023, _date(2029, 6, 30), _date(2029, 7, 31), _date(2029, 8, 31)),
    Runtime("python3.14", AL2023, _date(2029, 6, 30), _date(2029, 7, 31), _date(2029, 8, 31)),
    Runtime("nodejs20.x", AL2023, _date(2026, 4, 30), _date(2027, 2, 1), _date(2027, 3, 3)),
    Runtime("nodejs22.x", AL2023, _date(2027, 4, 30), _date(2027, 6, 1), _date(2027, 7, 1)),
    Runtime("nodejs24.x", AL2023, _date(2028, 4, 30), _date(2028, 6, 1), _date(2028, 7, 1)),
)
BY_NAME = {runtime.name: runtime for runtime in RUNTIMES}
PYTHON_RUNTIMES = tuple(r.name for r in RUNTIMES if r.python_version)
NODEJS_RUNTIMES = tuple(r.name for r in RUNTIMES if r.name.startswith("nodejs"))


def today() -> datetime.date:
    """The date lifecycles are judged on (tests replace it)."""
    return datetime.date.today()


def newest(names: Tuple[str, ...]) -> str:
    """The runtime of `names` that AWS supports longest (the last listed, of equals)."""
    return max(reversed(names), key=lambda name: BY_NAME[name].block_update)


def lifecycle_problem(name: str, on: datetime.date) -> Tuple[bool, str]:
    """Whether `name` is blocked `on` that date (AWS no longer lets functions on it be updated),
    and why, if it is deprecated; else (False, "")."""
    runtime = BY_NAME[name]
    if on < runtime.deprecated:
        return False, ""
    blocked = on >= runtime.block_update
    state = "no longer accepts updates of functions on" if blocked else "has deprecated"
    family = PYTHON_RUNTIMES if runtime.python_version else NODEJS_RUNTIMES
    return blocked, f"AWS Lambda {state} {name} ({runtime.lifecycle()}): move to {newest(family)}"


def describe(names: Tuple[str, ...]) -> str:
    """Each runtime with its OS and lifecycle, for help texts."""
    return "; ".join(
        f"`{name}` on {BY_NAME[name].os.name}: {BY_NAME[name].lifecycle()}" for name in names
    )
