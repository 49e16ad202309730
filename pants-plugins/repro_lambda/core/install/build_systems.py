"""The build system an sdist declares (PEP 517 and 518: its backend and the requirements of its
build), and whether the plugin's pinned build environment provides it or the sdist needs a build
environment of its own, locked by `lambda-lock`. Used by the plugin only (Python 3.9, with the
`packaging` and `toml` that Pants ships).
"""

from __future__ import annotations

import importlib
import io
import tarfile
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Optional, Tuple

from packaging.utils import canonicalize_name  # pants: no-infer-dep

from repro_lambda.core.contract import UserError

with warnings.catch_warnings():  # the pyparsing beside Pants 2.17's packaging deprecates its API
    warnings.simplefilter("ignore", DeprecationWarning)
    from packaging.requirements import InvalidRequirement, Requirement  # pants: no-infer-dep


def _toml() -> Any:
    """`tomllib`, or on Python < 3.11 (as Pants runs) the `toml` Pants reads `pants.toml` with;
    both raise a ValueError on bad TOML."""
    try:
        return importlib.import_module("tomllib")
    except ImportError:
        return importlib.import_module("toml")


LEGACY_BACKEND = "setuptools.build_meta:__legacy__"
MAX_PYPROJECT_BYTES = 1024 * 1024


@dataclass(frozen=True)
class BuildSystem:
    """An sdist's backend and the requirements of its build environment."""

    backend: str
    requires: Tuple[str, ...]

    def environment(self) -> Tuple[str, ...]:
        """What its build environment installs: its requirements, `wheel` for a setuptools
        backend (older ones ask for it while building), and `tomli` where the builder reads
        `pyproject.toml` on a Python without `tomllib`; sorted, each once."""
        names = {_name(requirement) for requirement in self.requires}
        extra = ["wheel"] if self.backend.startswith("setuptools") and "wheel" not in names else []
        extra += [] if "tomli" in names else ['tomli; python_version < "3.11"']
        return tuple(sorted({*self.requires, *extra}))


def read_build_system(sdist: bytes, filename: str) -> BuildSystem:
    """The build system of an sdist (`.tar.gz` or `.zip`), from its top-level `pyproject.toml`;
    PEP 517's and 518's defaults where it declares none."""
    text = _pyproject(sdist, filename)
    if text is None:
        return BuildSystem(LEGACY_BACKEND, ("setuptools",))
    try:
        table = _toml().loads(text).get("build-system", {})
    except ValueError as error:
        raise UserError(f"{filename}: its pyproject.toml is not valid TOML: {error}") from None
    requires = table.get("requires", ["setuptools"])
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise UserError(f"{filename}: its `build-system.requires` is not a list of strings")
    return BuildSystem(str(table.get("build-backend", LEGACY_BACKEND)), tuple(requires))


def _pyproject(sdist: bytes, filename: str) -> Optional[str]:
    """The top-level `pyproject.toml` of the sdist, if it has one (at most 1 MiB)."""

    def read(name: str, size: int, data: Callable[[], bytes]) -> Optional[str]:
        parts = PurePosixPath(name).parts
        if len(parts) != 2 or parts[1] != "pyproject.toml":
            return None
        if size > MAX_PYPROJECT_BYTES:
            raise UserError(f"{filename}: its pyproject.toml is larger than 1 MiB")
        return data().decode()

    if filename.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(sdist)) as archive:
            for info in archive.infolist():
                text = read(info.filename, info.file_size, lambda: archive.read(info))
                if text is not None:
                    return text
        return None
    with tarfile.open(fileobj=io.BytesIO(sdist)) as tar:
        for member in tar:
            file = tar.extractfile(member) if member.isfile() else None
            if file is not None:
                text = read(member.name, member.size, file.read)
                if text is not None:
                    return text
    return None


def _name(requirement: str) -> str:
    try:
        return canonicalize_name(Requirement(requirement).name)
    except InvalidRequirement:
        return requirement


def provided(
    requires: Tuple[str, ...], installed: Mapping[str, Optional[str]], python: Tuple[int, int]
) -> bool:
    """Whether a build environment with `installed` (name -> pinned version, or None if not
    pinned) meets every requirement that applies to Python `python`."""
    environment = {"python_version": f"{python[0]}.{python[1]}"}
    for text in requires:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            return False
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        name = canonicalize_name(requirement.name)
        if name not in installed:
            return False
        version = installed[name]
        if requirement.specifier and (version is None or version not in requirement.specifier):
            return False
    return True


def pinned_versions(requirements: Tuple[str, ...]) -> dict[str, Optional[str]]:
    """The name and `==` version of each requirement of a build environment (None if unpinned)."""
    versions: dict[str, Optional[str]] = {}
    for text in requirements:
        requirement = Requirement(text)
        pins = [s.version for s in requirement.specifier if s.operator == "=="]
        versions[canonicalize_name(requirement.name)] = pins[0] if len(pins) == 1 else None
    return versions
