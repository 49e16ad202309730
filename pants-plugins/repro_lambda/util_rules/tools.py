"""The plugin's Python tools (packer, publisher): their lock installed flat, run isolated.

Finding the interpreter and installing run the plugin's own pex (see `pex.py`), so neither the
host's pip configuration nor Pants' `[pex-cli]` version can change or break them, and nothing is
kept outside Pants' caches. The tool runs from an immutable input `__tool/` (`site-packages/`, and
`src/`: the core modules its module imports) on an interpreter of the tool's constraints from
`[python-bootstrap]` (linked by its version, see `host_tools`), with nothing of the environment on
`sys.path`.
"""

from __future__ import annotations

import ast
import importlib.resources
import json
import os
from dataclasses import dataclass
from typing import Any, Iterator, Protocol

from pants.backend.python.subsystems.python_tool_base import PythonToolRequirementsBase
from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.backend.python.util_rules.pex import CompletePlatforms
from pants.backend.python.util_rules.pex_requirements import (
    EntireLockfile,
    LoadedLockfile,
    LoadedLockfileRequest,
    Lockfile,
    Resolve,
)
from pants.core.subsystems.python_bootstrap import PythonBootstrap
from pants.engine.fs import AddPrefix, CreateDigest, Digest, FileContent, MergeDigests
from pants.engine.process import FallibleProcessResult, Process, ProcessCacheScope, ProcessResult
from pants.engine.rules import Get
from pants.option.errors import OptionsError
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from repro_lambda.core.install.pex_args import VENV_CREATE, complete_platform_args, venv_flat_args
from repro_lambda.core.runtimes import BY_NAME
from repro_lambda.util_rules.host_tools import HostBinary, HostBinaryRequest
from repro_lambda.util_rules.pex import LambdaPexProcess
from repro_lambda.workarounds import WAIT_FOR_REMOTE_CACHE_MILLIS

TOOL_DIR = "__tool"
# No environment variable, user or site directory, and no `.pth` file of the host interpreter: a
# host's `.pth` files run code at every start-up (seen here: one that imports certifi).
_ISOLATED = ("-I", "-S")
TOOL_SITE_PACKAGES = "site-packages"
_SRC = "src"
_RUN_MODULE = (
    f"import os, runpy, sys; sys.path[:0] = [os.path.abspath(os.path.join({TOOL_DIR!r}, p)) for p"
    f" in ({_SRC!r}, {TOOL_SITE_PACKAGES!r})]; sys.argv[0] = {{module!r}};"
    " runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"
)


@dataclass(frozen=True)
class LambdaTool:
    """A tool's files, mounted at `__tool/`, and the interpreter that runs its `module`."""

    digest: Digest
    python: HostBinary
    module: str

    def argv(self, *args: str) -> tuple[str, ...]:
        return (self.python.path, *_ISOLATED, "-c", _RUN_MODULE.format(module=self.module), *args)

    @property
    def immutable_input_digests(self) -> FrozenDict[str, Digest]:
        return FrozenDict({TOOL_DIR: self.digest})

    def process(self, args: tuple[str, ...], description: str, **kwargs: Any) -> Process:
        """A process that runs the tool with `args`."""
        return Process(
            self.argv(*args),
            description=description,
            immutable_input_digests=self.immutable_input_digests,
            append_only_caches=self.python.caches,
            remote_cache_speculation_delay_millis=WAIT_FOR_REMOTE_CACHE_MILLIS,
            level=LogLevel.DEBUG,
            **kwargs,
        )


class Tree(Protocol):
    """A directory of the plugin's package: a Traversable or a Path."""

    def joinpath(self, child: str) -> Tree:
        ...

    def read_bytes(self) -> bytes:
        ...

    def is_file(self) -> bool:
        ...


_CORE = "repro_lambda.core"


def core_modules(module: str, package: Tree) -> dict[str, bytes]:
    """The core modules `module` imports, directly or not, and itself, with the `__init__.py` of
    their packages, by path (`repro_lambda/core/pack/tree.py`), read from the directory `package`
    of `repro_lambda`."""
    files: dict[str, bytes] = {}
    pending = [module]
    while pending:
        name = pending.pop()
        parts = name.split(".")
        for depth in range(1, len(parts)):
            init = "/".join((*parts[:depth], "__init__.py"))
            files.setdefault(init, _node(package, init).read_bytes())
        path = "/".join(parts) + ".py"
        if path not in files:
            files[path] = _node(package, path).read_bytes()
            pending.extend(_core_imports(files[path], package))
    return files


def _node(package: Tree, path: str) -> Tree:
    """The file at `path` (`repro_lambda/...`) in `package`, the `repro_lambda` directory."""
    node = package
    for part in path.split("/")[1:]:
        node = node.joinpath(part)
    return node


def _core_imports(source: bytes, package: Tree) -> Iterator[str]:
    """The core modules a module's source imports (`from repro_lambda.core.x import y`, or `from
    repro_lambda.core.pack import tree`)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith(f"{_CORE}."))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(_CORE):
            module = node.module or ""
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                is_module = _node(package, submodule.replace(".", "/") + ".py").is_file()
                yield submodule if is_module else module


def core_sources(module: str) -> list[FileContent]:
    """What a tool process running `module` needs of the core, as it ships in the plugin
    distribution: only the modules it imports, so an edit elsewhere in the core (the publisher's,
    say) leaves the other tools' processes cached."""
    package = importlib.resources.files("repro_lambda")
    files = core_modules(module, package)
    return [FileContent(path, content) for path, content in sorted(files.items())]


async def _tool_lockfile(tool: PythonToolRequirementsBase) -> tuple[Lockfile, tuple[str, ...]]:
    """The lockfile to install `tool` from and its requirements: the built-in lock, or the
    `install_from_resolve` resolve's."""
    requirements = tool.pex_requirements()
    if isinstance(requirements, EntireLockfile):
        return requirements.lockfile, tuple(requirements.complete_req_strings or ())
    if not isinstance(requirements.from_superset, Resolve):
        raise OptionsError(
            f"The `[{tool.options_scope}]` tool installs only from a lockfile: leave its "
            "`lockfile` at the default, or set `install_from_resolve`."
        )
    lockfile = await Get(Lockfile, Resolve, requirements.from_superset)
    return lockfile, tuple(str(r) for r in requirements.req_strings_or_addrs)


def runtime_constraints(runtime: str) -> InterpreterConstraints:
    """An interpreter of exactly the runtime's Python version."""
    version = BY_NAME[runtime].python_version
    assert version is not None
    return InterpreterConstraints([f"CPython=={version[0]}.{version[1]}.*"])


async def find_python(
    constraints: InterpreterConstraints, bootstrap: PythonBootstrap
) -> HostBinary | None:
    """The first interpreter on `[python-bootstrap].search_path` that meets `constraints`, linked
    by its platform (implementation, version, ABI and glibc level).

    One process for every caller that asks for the same constraints: nothing of the caller is in
    it, not even in its description."""
    result = await Get(
        FallibleProcessResult,
        LambdaPexProcess(
            subcommand=("interpreter", "inspect"),
            args=(
                "--verbose",
                f"--python-path={os.pathsep.join(bootstrap.interpreter_search_paths)}",
                *constraints.generate_pex_arg_list(),
            ),
            description=f"Finding a Python interpreter matching {constraints}",
            cache_scope=ProcessCacheScope.PER_RESTART_SUCCESSFUL,
            resolves=False,
        ),
    )
    found = result.stdout.decode().splitlines()
    if result.exit_code != 0 or not found:
        return None
    interpreter = json.loads(found[0])
    # A venv's interpreter runs as its base: the processes see none of the venv's packages.
    path = interpreter.get("base_interpreter", interpreter["path"])
    return await Get(HostBinary, HostBinaryRequest(path, f"python-{interpreter['platform']}"))


def no_python_message(constraints: InterpreterConstraints, bootstrap: PythonBootstrap) -> str:
    """Why `find_python` found nothing, and what to do."""
    paths = ", ".join(bootstrap.interpreter_search_paths)
    return (
        f"a Python interpreter matching {' or '.join(str(c) for c in constraints)}, and there is"
        f" none on `[python-bootstrap].search_path` ({paths}): install one (e.g. with pyenv) or"
        " add its directory to that option."
    )


async def _tool_python(tool: PythonToolRequirementsBase, bootstrap: PythonBootstrap) -> HostBinary:
    constraints = tool.interpreter_constraints
    python = await find_python(constraints, bootstrap)
    if python is None:
        raise OptionsError(
            f"The `[{tool.options_scope}]` tool needs {no_python_message(constraints, bootstrap)}"
        )
    return python


async def install_tool(
    tool: PythonToolRequirementsBase, python: HostBinary, platforms: CompletePlatforms | None = None
) -> Digest:
    """`tool`'s lock installed flat for `python`, in `site-packages/`; for the complete platform
    of `python` if given (pex runs pip with its own interpreter then, as for a Lambda install,
    so a Python newer than its pip still gets the tool)."""
    lockfile, requirements = await _tool_lockfile(tool)
    loaded = await Get(LoadedLockfile, LoadedLockfileRequest(lockfile))
    return await install_locked(
        loaded.lockfile_digest,
        loaded.lockfile_path,
        requirements,
        python,
        platforms,
        f"Installing the `{tool.options_scope}` tool",
    )


async def install_locked(
    lock: Digest,
    lock_path: str,
    requirements: tuple[str, ...],
    python: HostBinary,
    platforms: CompletePlatforms | None,
    description: str,
) -> Digest:
    """`requirements` from the pex lock at `lock_path` in `lock`, installed flat as `install_tool`
    installs a tool."""
    target: tuple[str, ...] = (f"--python={python.path}",)
    input_digest = lock
    if platforms is not None:
        target = complete_platform_args(platforms)
        input_digest = await Get(Digest, MergeDigests([lock, platforms.digest]))
    installed = await Get(
        ProcessResult,
        LambdaPexProcess(
            subcommand=VENV_CREATE,
            args=venv_flat_args(TOOL_SITE_PACKAGES, lock_path, requirements, options=target),
            description=description,
            input_digest=input_digest,
            output_directories=(TOOL_SITE_PACKAGES,),
            append_only_caches=python.caches,
        ),
    )
    return installed.output_digest


async def build_lambda_tool(
    tool: PythonToolRequirementsBase, module: str, bootstrap: PythonBootstrap
) -> LambdaTool:
    """Install `tool`'s lock for a local interpreter of its constraints, next to the core modules
    that `module` imports."""
    python = await _tool_python(tool, bootstrap)
    sources = await Get(Digest, CreateDigest(core_sources(module)))
    installed = await install_tool(tool, python)
    prefixed_sources = await Get(Digest, AddPrefix(sources, _SRC))
    digest = await Get(Digest, MergeDigests([installed, prefixed_sources]))
    return LambdaTool(digest, python, module)
