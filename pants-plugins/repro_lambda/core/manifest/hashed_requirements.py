"""Hashed requirement files (`pip-compile` / `uv pip compile --generate-hashes`): read them,
check that a pex lock of their pins uses only wheels whose sha256 they list, and name the platform
uv resolves them for.

Standard library only, Python 3.9.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, FrozenSet, List, Mapping, Optional, Sequence

from repro_lambda.core.contract import Architecture, UserError
from repro_lambda.core.runtimes import BY_NAME

_PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([^\s;]+)\s*(?:;\s*(.+))?")
_HASH = re.compile(r"--hash[=\s]sha256:([0-9a-f]{64})")


# The manylinux levels uv 0.13 can resolve for (`uv pip compile --python-platform`).
_UV_MANYLINUX = ((2, 17), (2, 28), *((2, minor) for minor in range(31, 41)))


def uv_python_platform(runtime: str, architecture: Architecture) -> str:
    """uv's name for the runtime's platform: the newest manylinux level within its glibc."""
    glibc = BY_NAME[runtime].os.glibc
    major, minor = max(level for level in _UV_MANYLINUX if level <= glibc)
    return f"{architecture.machine}-manylinux_{major}_{minor}"


def canonical(name: str) -> str:
    """A project name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class HashedRequirement:
    name: str
    version: str
    marker: Optional[str]
    hashes: FrozenSet[str]

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}" + (f"; {self.marker}" if self.marker else "")


def _logical_lines(text: str) -> List[tuple]:
    """(first line number, joined line) with `\\` continuations joined, comments dropped."""
    lines: List[tuple] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        if pending.strip():
            lines.append((start, pending.strip()))
        pending = ""
    if pending.strip():
        lines.append((start, pending.strip()))
    return lines


def parse_hashed_requirements(text: str, path: str) -> List[HashedRequirement]:
    """Every requirement of the file, each pinned with `==` and at least one sha256; raise
    UserError naming the file and line otherwise."""
    requirements = []
    for number, line in _logical_lines(text):
        where = f"{path}:{number}"
        if line.startswith("-"):
            raise UserError(
                f"{where}: options ({line.split()[0]}) are not allowed: the lock holds pinned,"
                " hashed requirements only; indexes come from `[python-repos]`"
            )
        requirement, *_ = line.split(" --hash", 1)
        match = _PIN.fullmatch(requirement.strip())
        if not match:
            raise UserError(
                f"{where}: {requirement.strip()!r} is not pinned with `==`: regenerate the lock"
                " with hashes (`pants lambda-lock`)"
            )
        hashes = frozenset(_HASH.findall(line))
        if not hashes:
            raise UserError(
                f"{where}: {match.group(1)} has no `--hash=sha256:`: regenerate the lock"
            )
        name, _, version, marker = match.groups()
        requirements.append(HashedRequirement(name, version, marker, hashes))
    return requirements


def check_locked_wheels(
    requirements: Sequence[HashedRequirement], lock: Mapping[str, Any], path: str
) -> None:
    """Raise UserError unless every file of a pex lock (`pex3 lock create` JSON: wheels, and
    sdists) is of a pinned project at its pinned version and has a sha256 the requirement file
    lists."""
    pinned = {canonical(r.name): r for r in requirements}
    for resolve in lock["locked_resolves"]:
        for locked in resolve["locked_requirements"]:
            name, version = canonical(locked["project_name"]), locked["version"]
            requirement = pinned.get(name)
            if requirement is None or requirement.version != version:
                raise UserError(f"{path} does not pin {name}=={version}, which the install needs")
            for artifact in locked["artifacts"]:
                digest = artifact["hash"] if artifact["algorithm"] == "sha256" else None
                if digest not in requirement.hashes:
                    filename = artifact["url"].rsplit("/", 1)[-1]
                    kind = "wheel" if filename.endswith(".whl") else "sdist"
                    raise UserError(
                        f"the {kind} {filename} of {name}=={version} has sha256 {digest}, which"
                        f" {path} does not list: regenerate the lock (`pants lambda-lock`)"
                    )
