"""`POST /builds`: the request body, checked before anything is queued.

Only plain requirement specifiers are accepted (a name, extras, versions and an environment
marker): no URLs, VCS or local paths, no archive file names (pip would install such a file from its
working directory), no `-e`, `-r`, `--index-url` or other pip options, no line continuations, and no
marker that is not a real PEP 508 marker. Every problem is reported, each naming its line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from repro_lambda.core.contract import Architecture
from repro_lambda.core.runtimes import PYTHON_RUNTIMES, lifecycle_problem, today

MAX_BODY_BYTES = 64 * 1024
MAX_REQUIREMENTS_BYTES = 16 * 1024
MAX_REQUIREMENTS = 100
MAX_LINES = 1000
PYTHON_VERSIONS = tuple(name.removeprefix("python") for name in PYTHON_RUNTIMES)
ARCHITECTURES = tuple(a.value for a in Architecture)
_FIELDS = ("requirements", "python_version", "architectures", "single_file")
# What a specifier line may hold: letters, digits, the operators of versions and markers, quotes
# and spaces. No `-` can start it, and no `/`, `:`, `@` or `\` appear (URLs, paths, continuations).
_SPECIFIER_CHARS = re.compile(r"[A-Za-z0-9._\-\[\],<>=!~*+;() \"']+")
# The endings by which pip takes a requirement for a local archive file (its ARCHIVE_EXTENSIONS).
ARCHIVE_SUFFIXES = (
    ".whl",
    ".zip",
    ".tar",
    ".tar.gz",
    ".tgz",
    ".tar.bz2",
    ".tbz",
    ".tar.xz",
    ".txz",
    ".tlz",
    ".tar.lz",
    ".tar.lzma",
)


class InvalidBuildRequest(Exception):
    """The request cannot be built; `problems` are shown to the person who sent it."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class BuildRequest:
    requirements: tuple[str, ...]
    """One normalised specifier per requirement, in the order given."""
    python_version: str
    architectures: tuple[str, ...]
    single_file: bool

    @property
    def runtime(self) -> str:
        return f"python{self.python_version}"

    def to_json(self) -> dict:
        return {
            "requirements": list(self.requirements),
            "python_version": self.python_version,
            "architectures": list(self.architectures),
            "single_file": self.single_file,
        }

    @classmethod
    def from_json(cls, data: dict) -> BuildRequest:
        return cls(
            tuple(data["requirements"]),
            data["python_version"],
            tuple(data["architectures"]),
            data["single_file"],
        )


def parse_build_request(body: bytes) -> BuildRequest:
    """The build `body` asks for; raise InvalidBuildRequest naming every problem."""
    if len(body) > MAX_BODY_BYTES:
        raise InvalidBuildRequest([f"the request body is over {MAX_BODY_BYTES} bytes"])
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidBuildRequest([f"the request body is not JSON: {e}"])
    if not isinstance(data, dict):
        raise InvalidBuildRequest(["the request body must be a JSON object"])
    problems = [
        f"unknown field `{key}`: the fields are {', '.join(_FIELDS)}"
        for key in sorted(data)
        if key not in _FIELDS
    ]
    requirements = _requirements(data.get("requirements"), problems)
    python_version = _python_version(data.get("python_version"), problems)
    architectures = _architectures(data.get("architectures"), problems)
    single_file = data.get("single_file", True)
    if not isinstance(single_file, bool):
        problems.append("`single_file` must be true (one zip) or false (one zip per package)")
    if problems:
        raise InvalidBuildRequest(problems)
    return BuildRequest(requirements, python_version, architectures, single_file)


def _requirements(value: object, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, str) or not value.strip():
        problems.append("`requirements` must be the text of a requirements.txt")
        return ()
    if len(value.encode()) > MAX_REQUIREMENTS_BYTES:
        problems.append(f"`requirements` is over {MAX_REQUIREMENTS_BYTES} bytes")
        return ()
    if len(value.splitlines()) > MAX_LINES:
        problems.append(f"`requirements` is over {MAX_LINES} lines")
        return ()
    specifiers: list[str] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(value.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        requirement = _requirement(line, number, problems)
        if requirement is None:
            continue
        name = canonicalize_name(requirement.name)
        if name in seen:
            problems.append(f"line {number}: `{name}` is already required on line {seen[name]}")
            continue
        seen[name] = number
        specifiers.append(str(requirement))
    if len(specifiers) > MAX_REQUIREMENTS:
        problems.append(
            f"`requirements` has {len(specifiers)} requirements; at most "
            f"{MAX_REQUIREMENTS} are built at once"
        )
    elif not specifiers and not problems:
        problems.append("`requirements` names no requirement")
    return tuple(specifiers)


def _requirement(line: str, number: int, problems: list[str]) -> Requirement | None:
    if line.startswith("-"):
        problems.append(
            f"line {number}: pip options such as `{line.split()[0]}` are not accepted; give "
            "only requirement specifiers (the service chooses the index and records the hashes)"
        )
        return None
    if not _SPECIFIER_CHARS.fullmatch(line):
        problems.append(
            f"line {number}: `{line}` is not a plain requirement specifier (URLs, VCS and local "
            "paths, `@` references and line continuations are not accepted)"
        )
        return None
    try:
        requirement = Requirement(line)
    except InvalidRequirement as e:
        problems.append(f"line {number}: `{line}` is not a valid requirement: {e}")
        return None
    if requirement.url:
        problems.append(f"line {number}: `{line}` names a URL; give a version instead")
        return None
    if requirement.name.lower().endswith(ARCHIVE_SUFFIXES):
        problems.append(
            f"line {number}: `{requirement.name}` is the name of an archive file, which pip would "
            "install from its working directory; give the project's name and version instead"
        )
        return None
    return requirement


def _python_version(value: object, problems: list[str]) -> str:
    if value not in PYTHON_VERSIONS:
        problems.append(
            f"`python_version` must be one of {', '.join(PYTHON_VERSIONS)}, not {value!r}"
        )
        return ""
    assert isinstance(value, str)
    blocked, why = lifecycle_problem(f"python{value}", today())
    if blocked:
        problems.append(f"`python_version` {value}: {why}")
    return value


def _architectures(value: object, problems: list[str]) -> tuple[str, ...]:
    if (
        not isinstance(value, list)
        or not value
        or any(a not in ARCHITECTURES for a in value)
        or len(set(value)) != len(value)
    ):
        problems.append(
            "`architectures` must be a list of distinct architectures of "
            + ", ".join(ARCHITECTURES)
        )
        return ()
    return tuple(a for a in ARCHITECTURES if a in value)
