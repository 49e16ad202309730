"""What a failed `pex3 lock create` for Lambda platforms could not find: the requirement with no
wheel, and the platforms it has none for; else what pip said, without pex's command line. Standard
library only, Python 3.9 syntax: the plugin and the layer builder service read pex's errors with it.
"""

from __future__ import annotations

import re
from typing import Dict, List, NamedTuple, Optional

# pex names the platform it failed for, or the directory of pip's resolver report does (its first
# tag).
_FAILED_PLATFORM_RE = re.compile(
    r"complete platform (\S+?):?\s*$|\bresolver_report\.[^/\s]+/([^/\s]+)/pip-report\.json", re.M
)
# pip writes a requirement with several specifiers as "numpy<2.3 and >=2.2" in a conflict (a
# pinned constraint the platform has no wheel of): "The user requested" lines name one each.
_UNSATISFIED_RE = re.compile(
    r"(?:Dependency on|requirement) (\S+) not satisfied"
    r"|satisfies the requirement (\S+)"
    r"|Cannot install (\S+) because"
    r"|The user requested (?!\(constraint\))([^;\n]+?)\s*$",
    re.M,
)
_PROJECT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_PIP_LINE = "pip: "
_TAIL_LINES = 10


class MissingWheel(NamedTuple):
    requirement: str
    platforms: str
    """The platforms' names, comma-separated, or "a Lambda platform" if pex named none."""

    @property
    def project(self) -> str:
        """The requirement's project name, as written."""
        match = _PROJECT_RE.match(self.requirement)
        return match.group() if match else self.requirement


def _first_groups(pattern: re.Pattern, text: str) -> List[str]:
    return [next(g for g in m.groups() if g) for m in pattern.finditer(text)]


def _specifiers(requirement: str) -> str:
    """pip's "numpy<2.3 and >=2.2" (or "a, b and c") as a requirement string."""
    return re.sub(r",\s+|\s+and\s+", ",", requirement)


def missing_wheel(stderr: str, platform_names: Dict[str, str]) -> Optional[MissingWheel]:
    """The first requirement pex says it cannot satisfy, and where; `platform_names` maps each
    complete platform's first compatible tag (`cp313-cp313-manylinux_2_34_aarch64`) to its name."""
    requirements = _first_groups(_UNSATISFIED_RE, stderr)
    if not requirements:
        return None
    tags = _first_groups(_FAILED_PLATFORM_RE, stderr)
    where = ", ".join(sorted({platform_names.get(t, t) for t in tags})) or "a Lambda platform"
    return MissingWheel(_specifiers(requirements[0]), where)


def pip_said(stderr: str) -> str:
    """pip's own lines of pex's error (not pex's command line, its sandbox paths and warnings),
    or the error's last lines if pip said nothing."""
    lines = [
        line[len(_PIP_LINE) :].rstrip()
        for line in stderr.splitlines()
        if line.startswith(_PIP_LINE) and "Warning" not in line and "warnings.warn(" not in line
    ]
    lines = [line for line in lines if line.strip()] or stderr.strip().splitlines()[-_TAIL_LINES:]
    return "\n".join(lines)
