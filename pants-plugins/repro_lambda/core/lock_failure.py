"""What a failed `pex3 lock create` for Lambda platforms could not find: the requirement with no
wheel, and the platforms it has none for. Standard library only, Python 3.9 syntax: the plugin and
the layer builder service read pex's errors with it.
"""

from __future__ import annotations

import re
from typing import Dict, List, NamedTuple, Optional

# pex names the platform it failed for, or the directory of pip's resolver report does (its first
# tag).
_FAILED_PLATFORM_RE = re.compile(
    r"complete platform (\S+?):?\s*$|\bresolver_report\.[^/\s]+/([^/\s]+)/pip-report\.json", re.M
)
_UNSATISFIED_RE = re.compile(
    r"(?:Dependency on|requirement) (\S+) not satisfied"
    r"|satisfies the requirement (\S+)"
    r"|Cannot install (\S+) because"
)


class MissingWheel(NamedTuple):
    requirement: str
    platforms: str
    """The platforms' names, comma-separated, or "a Lambda platform" if pex named none."""


def _first_groups(pattern: re.Pattern, text: str) -> List[str]:
    return [next(g for g in m.groups() if g) for m in pattern.finditer(text)]


def missing_wheel(stderr: str, platform_names: Dict[str, str]) -> Optional[MissingWheel]:
    """The first requirement pex says it cannot satisfy, and where; `platform_names` maps each
    complete platform's first compatible tag (`cp313-cp313-manylinux_2_34_aarch64`) to its name."""
    requirements = _first_groups(_UNSATISFIED_RE, stderr)
    if not requirements:
        return None
    tags = _first_groups(_FAILED_PLATFORM_RE, stderr)
    where = ", ".join(sorted({platform_names.get(t, t) for t in tags})) or "a Lambda platform"
    return MissingWheel(requirements[0], where)
