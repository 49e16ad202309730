"""The Lambda platform lock of a resolve: where it lives, reading it, and checking it is current.

Pants 2.17's lockfiles are universal locks made by pex 2.1.137 (its default), which knows no
Python newer than 3.12 and so records no cp313 wheel. `pants lambda-lock` derives, next to each
resolve's lockfile, a strict pex lock with one wheel per requirement per Lambda platform in use,
pinned to the versions of the resolve's lockfile, and `pants package` installs from it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from hashlib import sha256
from typing import TYPE_CHECKING

from pants.backend.python.subsystems.setup import PythonSetup
from pants.engine.addresses import Address
from pants.engine.fs import Digest, DigestContents, PathGlobs
from pants.engine.rules import Get, collect_rules, rule
from pants.util.docutil import bin_name
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel
from pants.util.strutil import softwrap

from repro_lambda.core.contract import UserError, read_fields
from repro_lambda.core.install.sdists import BuildEnvironment, SdistPin, refuses
from repro_lambda.errors import LambdaUserError

if TYPE_CHECKING:
    from repro_lambda.util_rules.install import LambdaInstallInputs

METADATA_KEY = "repro_lambda"
LOCK_COMMAND = f"{bin_name()} lambda-lock"


class LambdaLockError(LambdaUserError):
    """A platform lock is missing, stale, or cannot be created."""


def platform_lock_path(resolve_lockfile: str) -> str:
    """`3rdparty/python/lambdas.lock` -> `3rdparty/python/lambdas.lambda-platforms.lock`."""
    return re.sub(r"\.lock$", "", resolve_lockfile) + ".lambda-platforms.lock"


@dataclass(frozen=True)
class PlatformLock:
    """A resolve's platform lock as committed, with the facts it must agree with."""

    path: str
    digest: Digest
    metadata: FrozenDict | None  # None when the file does not exist
    resolve_lockfile_sha256: str
    sdists: tuple[SdistPin, ...] = ()
    build_environments: tuple[BuildEnvironment, ...] = ()

    def sdists_for(self, platform_sha256: str) -> tuple[SdistPin, ...]:
        """The sdists the platform (its complete platform's sha256) installs."""
        return tuple(s for s in self.sdists if platform_sha256 in s.platforms)

    def build_environment(self, sdist: SdistPin) -> BuildEnvironment | None:
        """The sdist's own build environment; None where `[lambda-sdist-build]` builds it."""
        if not sdist.build_requires:
            return None
        for environment in self.build_environments:
            if environment.requires == sdist.build_requires:
                return environment
        raise LambdaLockError(_NOT_AS_WRITTEN.format(path=self.path))


@dataclass(frozen=True)
class PlatformLockRequest:
    resolve: str


async def resolve_lockfile(resolve: str, python_setup: PythonSetup) -> tuple[str, bytes]:
    path = python_setup.resolves[resolve]
    contents = await Get(DigestContents, PathGlobs([path]))
    if not contents:
        raise LambdaLockError(
            f"The `{resolve}` resolve's lockfile {path} does not exist: run "
            f"`{bin_name()} generate-lockfiles --resolve={resolve}`, then `{LOCK_COMMAND}`."
        )
    return path, contents[0].content


@rule(desc="Reading a Lambda platform lock", level=LogLevel.DEBUG)
async def read_platform_lock(
    request: PlatformLockRequest, python_setup: PythonSetup
) -> PlatformLock:
    resolve_path, resolve_content = await resolve_lockfile(request.resolve, python_setup)
    path = platform_lock_path(resolve_path)
    digest = await Get(Digest, PathGlobs([path]))
    contents = await Get(DigestContents, Digest, digest)
    if not contents:
        return PlatformLock(path, digest, None, sha256(resolve_content).hexdigest())
    metadata, sdists, environments = _lock_metadata(path, contents[0].content)
    return PlatformLock(
        path=path,
        digest=digest,
        metadata=FrozenDict.deep_freeze(metadata),
        resolve_lockfile_sha256=sha256(resolve_content).hexdigest(),
        sdists=sdists,
        build_environments=environments,
    )


_NOT_AS_WRITTEN = (
    f"The Lambda platform lock {{path}} is not as `{LOCK_COMMAND}` writes it (it is not JSON, or"
    f" its `{METADATA_KEY}` section is missing or changed by hand): run `{LOCK_COMMAND}` to"
    " write it again, and commit it."
)


def _lock_metadata(
    path: str, content: bytes
) -> tuple[dict, tuple[SdistPin, ...], tuple[BuildEnvironment, ...]]:
    """The `repro_lambda` section `lambda-lock` writes into a platform lock, checked, with the
    sdists and build environments it records (none in a lock of wheels only)."""
    try:
        metadata: dict = json.loads(content)[METADATA_KEY]
        fields = ("resolve_lockfile_sha256", str), ("platforms", dict), ("requirements", list)
        if all(isinstance(metadata[name], kind) for name, kind in fields):
            sdists = tuple(
                read_fields(SdistPin, entry, f"{path}: sdist {i}")
                for i, entry in enumerate(metadata.get("sdists", []))
            )
            environments = tuple(
                BuildEnvironment(
                    tuple(str(r) for r in entry["requires"]),
                    json.dumps(entry["lock"], sort_keys=True),
                )
                for entry in metadata.get("build_environments", [])
            )
            return metadata, sdists, environments
    except (ValueError, LookupError, TypeError, UserError):
        pass
    raise LambdaLockError(_NOT_AS_WRITTEN.format(path=path))


def check_platform_lock(
    lock: PlatformLock, inputs: LambdaInstallInputs, address: Address, only_binary: Iterable[str]
) -> None:
    """Raise LambdaLockError unless `lock` covers `inputs`, matches its resolve's lockfile, and
    pins no sdist `[lambda-lock].only_binary` now refuses."""
    metadata = lock.metadata
    if metadata is None:
        problem = "does not exist"
    elif metadata["resolve_lockfile_sha256"] != lock.resolve_lockfile_sha256:
        problem = f"was made from another version of the `{inputs.resolve}` resolve's lockfile"
    elif inputs.platform_sha256 not in metadata["platforms"]:
        problem = f"has no wheels for {inputs.platform_name}"
    else:
        missing = sorted(set(inputs.requirements) - set(metadata["requirements"]))
        sdists = lock.sdists_for(inputs.platform_sha256)
        refused = [s.pin for s in sdists if refuses(only_binary, s.pin.split("==")[0])]
        if missing:
            problem = "does not lock " + ", ".join(f"`{r}`" for r in missing)
        elif refused:
            problem = (
                "pins the sdists of "
                + ", ".join(f"`{pin}`" for pin in refused)
                + ", which `[lambda-lock].only_binary` refuses"
            )
        else:
            return
    raise LambdaLockError(
        softwrap(
            f"""
            {address} needs the Lambda platform lock {lock.path}, which {problem}.
            Run `{LOCK_COMMAND}` and commit the file.
            """
        )
    )


def rules():
    return collect_rules()
