"""The sdists of a Lambda platform lock: which locked artifacts are sdists, for which platforms, and
the lock an install reads once their wheels are built. Standard library only, Python 3.9 syntax.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

BUILT_WHEELS = "REPRO_LAMBDA_BUILT_WHEELS"
"""The pex path mapping of the directory where an install finds the wheels built from sdists."""


@dataclass(frozen=True)
class LockedSdist:
    """An sdist a platform lock pins, with the first wheel tag of each platform that installs it."""

    project: str
    version: str
    url: str
    sha256: str
    platform_tags: Tuple[str, ...]

    @property
    def pin(self) -> str:
        return f"{self.project}=={self.version}"

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class SdistPin:
    """What `lambda-lock` records of a locked sdist: the download, pinned (pex records no size), and
    the complete platforms (by sha256) that install it."""

    pin: str
    url: str
    sha256: str
    size: int
    platforms: Tuple[str, ...]
    build_requires: Tuple[str, ...] = ()
    """What its own build environment installs; empty where `[lambda-sdist-build]` provides
    its build system."""


@dataclass(frozen=True)
class BuildEnvironment:
    """The build environment of the sdists whose build system `[lambda-sdist-build]` does not
    provide: its requirements, and their pex lock (JSON) for the runtimes' complete platforms on
    both architectures, where builds run."""

    requires: Tuple[str, ...]
    lock: str


def unfit_wheel_message(pin: str, wheel: str, platform: str) -> str:
    """Why a wheel built from an sdist whose tags do not fit the platform is refused."""
    return (
        f"Building `{pin}` from its sdist gave {wheel}, which does not install on {platform}: its"
        " tags name another platform. Pin a version that publishes a wheel for"
        f" {platform}, or build one and host it on your index."
    )


def refuses(only_binary: Iterable[str], project: str) -> bool:
    """Whether `[lambda-lock].only_binary` (project names, or `*`) refuses the project's sdist."""
    names = {re.sub(r"[-_.]+", "-", name).lower() for name in only_binary}
    return "*" in names or re.sub(r"[-_.]+", "-", project).lower() in names


def _is_wheel(url: str) -> bool:
    return url.rsplit("/", 1)[-1].endswith(".whl")


def locked_sdists(lock: Mapping[str, Any]) -> List[LockedSdist]:
    """Every requirement that `lock` (a strict pex lock: one artifact each) pins to an sdist."""
    found: Dict[Tuple[str, str, str, str], List[str]] = {}
    for resolve in lock["locked_resolves"]:
        tag = "-".join(resolve["platform_tag"])
        for requirement in resolve["locked_requirements"]:
            for artifact in requirement["artifacts"]:
                if not _is_wheel(artifact["url"]):
                    key = (
                        requirement["project_name"],
                        requirement["version"],
                        artifact["url"],
                        artifact["hash"],
                    )
                    found.setdefault(key, []).append(tag)
    return [LockedSdist(*key, tuple(sorted(tags))) for key, tags in sorted(found.items())]


def with_built_wheels(
    lock: Mapping[str, Any], platform_tag: str, built: Mapping[str, Tuple[str, str]]
) -> Dict[str, Any]:
    """`lock` with each sdist of the `platform_tag` resolve that `built` maps (by pin) to a wheel
    (file name, sha256) pinned to that wheel under the `BUILT_WHEELS` path mapping instead."""
    derived = copy.deepcopy(dict(lock))
    for resolve in derived["locked_resolves"]:
        if "-".join(resolve["platform_tag"]) == platform_tag:
            resolve["locked_requirements"] = [
                _pinned_to(requirement, built) for requirement in resolve["locked_requirements"]
            ]
    return derived


def _pinned_to(requirement: Dict[str, Any], built: Mapping[str, Tuple[str, str]]) -> Dict[str, Any]:
    wheel = built.get(f"{requirement['project_name']}=={requirement['version']}")
    if wheel is None:
        return requirement
    filename, sha256 = wheel
    url = f"file://${{{BUILT_WHEELS}}}/{filename}"
    return {**requirement, "artifacts": [{"algorithm": "sha256", "hash": sha256, "url": url}]}


def wheel_tags(filename: str) -> List[str]:
    """The tags a wheel's file name claims, its compressed tag sets expanded."""
    python, abi, platform = filename[: -len(".whl")].split("-")[-3:]
    return [
        "-".join(tag)
        for tag in itertools.product(python.split("."), abi.split("."), platform.split("."))
    ]


def wheel_fits(filename: str, compatible_tags: Iterable[str]) -> bool:
    """Whether a platform with these compatible tags (a complete platform's) installs the wheel."""
    return not set(wheel_tags(filename)).isdisjoint(compatible_tags)


# What a failed build says it lacks: a header or a library (GCC's and Zig's words), or a program
# (the build has no PATH; its compiler is the builder itself, a `python`, and is not one).
_MISSING = (
    (re.compile(r"fatal error: ([\w/.+-]+\.h): No such file"), "the header"),
    (re.compile(r"fatal error: '([\w/.+-]+\.h)' file not found"), "the header"),
    (re.compile(r"cannot find -l([\w.+-]+)"), "the library lib"),
    (re.compile(r'unable to find dynamic system library "([\w.+-]+)"'), "the library lib"),
    (re.compile(r"([\w.+-]+) executable not found|unable to execute '([\w.+-]+)'"), "the program"),
    (re.compile(r"error: command '(?:[^'/]*/)*(?!python)([\w.+-]+)' failed"), "the program"),
)
_CONFIG_PROGRAMS = {
    "pg_config": "libpq",
    "mysql_config": "libmysqlclient",
    "xml2-config": "libxml2",
}


def missing_from_build(output: str) -> str | None:
    """What a failed sdist build's output says it needs and the sandbox lacks (`the program
    pg_config (of libpq)`), or None if it names nothing."""
    for pattern, kind in _MISSING:
        match = pattern.search(output)
        if match:
            name = next(group for group in match.groups() if group)
            library = _CONFIG_PROGRAMS.get(name)
            return f"{kind}{'' if kind.endswith('lib') else ' '}{name}" + (
                f" (of {library})" if library else ""
            )
    return None


SYSTEM_LIBRARY_FIX = (
    "a distribution of it that publishes wheels if there is one (such as psycopg2-binary), the"
    " library and a wheel built against it in a layer, or a wheel you build and host on your index"
)
"""What to do about an sdist that needs a system library or a compiler."""
