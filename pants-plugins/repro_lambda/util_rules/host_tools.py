"""Host binaries (interpreters, `node`, npm's CLI) reach cached processes by identity, not path.

A process that runs `~/.pyenv/versions/3.11.7/bin/python3.11` has that path in its cache
key, so a machine with the same Python elsewhere never shares its result through a remote cache.
So each host binary is linked into a named cache, under a directory named by what its results
depend on (`python-manylinux_2_36_x86_64-cp-3.11.7-cp311`, `node-v22.11.0`), by a process run
once per pantsd and never cached; processes run the link by its sandbox-relative path, so their
keys name the version only. Pants does the same for its own Python outside local environments.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from dataclasses import dataclass

from pants.core.util_rules.adhoc_binaries import PythonBuildStandaloneBinary
from pants.engine.process import Process, ProcessCacheScope, ProcessResult
from pants.engine.rules import Get, collect_rules, rule
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

_CACHE = "repro_lambda_host_tools"
_DIR = ".cache/repro_lambda_host_tools"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")
# Replaces the link atomically: another pantsd may be linking the same identity.
_LINK = (
    "import os, sys; target, link = sys.argv[1:]; "
    "os.makedirs(os.path.dirname(link), exist_ok=True); "
    "tmp = f'{link}.{os.getpid()}'; os.symlink(target, tmp); os.replace(tmp, link)"
)


@dataclass(frozen=True)
class HostBinaryRequest:
    """Link the binary at the absolute `path` under `identity` (what its results depend on)."""

    path: str
    identity: str


@dataclass(frozen=True)
class HostBinary:
    """A host binary at `path`, relative to the sandbox of a process that has `caches`."""

    path: str
    caches: FrozenDict[str, str] = FrozenDict()

    @property
    def directory(self) -> str:
        """The directory of the link, for a `PATH` entry (`{chroot}/...`)."""
        return "{chroot}/" + os.path.dirname(self.path)


@rule(desc="Linking a host binary by its version", level=LogLevel.DEBUG)
async def link_host_binary(
    request: HostBinaryRequest, python: PythonBuildStandaloneBinary
) -> HostBinary:
    link = f"{_DIR}/{_UNSAFE.sub('_', request.identity)}/{os.path.basename(request.path)}"
    await Get(
        ProcessResult,
        Process(
            (python.path, "-I", "-c", _LINK, request.path, link),
            description=f"Linking {request.path} as {request.identity}",
            append_only_caches={_CACHE: _DIR, **python.APPEND_ONLY_CACHES},
            cache_scope=ProcessCacheScope.PER_RESTART_SUCCESSFUL,
            level=LogLevel.DEBUG,
        ),
    )
    return HostBinary(link, FrozenDict({_CACHE: _DIR}))


@dataclass(frozen=True)
class ScriptsPython:
    """The Python that runs the plugin's pex and unpacks its tools: Pants' own, linked by version
    where it is a host path."""

    binary: HostBinary

    @property
    def caches(self) -> FrozenDict[str, str]:
        return FrozenDict({**PythonBuildStandaloneBinary.APPEND_ONLY_CACHES, **self.binary.caches})


@rule(desc="Finding the Python for the plugin's scripts", level=LogLevel.DEBUG)
async def scripts_python(python: PythonBuildStandaloneBinary) -> ScriptsPython:
    if not os.path.isabs(python.path):  # already sandbox-relative (not a local environment)
        return ScriptsPython(HostBinary(python.path))
    # Pants' interpreter, `sys.executable`, may be a venv's link: run the interpreter it links to.
    version = f"{sys.implementation.name}-{platform.python_version()}-{platform.machine()}"
    binary = await Get(
        HostBinary, HostBinaryRequest(os.path.realpath(python.path), f"python-{version}")
    )
    return ScriptsPython(binary)


def rules():
    return collect_rules()
