"""What the interpreter of the runtime's Python version does: it compiles every first-party module
(where the host has one), and, when a target asks, compiles the bytecode the zip ships and
imports the handler from the packed zip and its layers (on a host of the function's
architecture)."""

from __future__ import annotations

import logging
import pkgutil
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from pants.backend.python.target_types import PythonSourceField
from pants.backend.python.util_rules.python_sources import (
    PythonSourceFilesRequest,
    StrippedPythonSourceFiles,
)
from pants.core.subsystems.python_bootstrap import PythonBootstrap
from pants.engine.addresses import Address
from pants.engine.fs import AddPrefix, CreateDigest, Digest, FileContent, MergeDigests, Snapshot
from pants.engine.platform import Platform
from pants.engine.process import FallibleProcessResult, Process
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import AllTargets, Target
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from repro_lambda.core.contract import ERROR_PREFIX, Architecture, tool_messages
from repro_lambda.util_rules.host_tools import HostBinary
from repro_lambda.util_rules.pack import BYTECODE, LambdaPackagingError, PackedLambda
from repro_lambda.util_rules.tools import find_python, no_python_message, runtime_constraints
from repro_lambda.workarounds import WAIT_FOR_REMOTE_CACHE_MILLIS

logger = logging.getLogger(__name__)

_HOST_ARCHITECTURES = {
    Platform.linux_x86_64: Architecture.X86_64,
    Platform.linux_arm64: Architecture.ARM64,
}
_TIMEOUT_SECONDS = 120
"""Longer than any cold start may take (Lambda's init phase is limited to 10 s)."""
_ISOLATED = ("-I", "-S", "-B")
_COMPILE_ERRORS = 2
"""`runtime_compile.py`'s exit code when a module does not compile."""
_LAMBDA_ENV = FrozenDict({"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"})


async def _script_result(
    python: HostBinary,
    script: str,
    argv: tuple[str, ...],
    input_digest: Digest,
    description: str,
    flags: tuple[str, ...] = _ISOLATED,
    env: FrozenDict[str, str] = _LAMBDA_ENV,
    output_directories: tuple[str, ...] = (),
) -> FallibleProcessResult:
    """Run the core's stdlib-only `script` with `python <flags>`."""
    content = pkgutil.get_data("repro_lambda.core.runtime_scripts", script)
    assert content is not None
    script_digest = await Get(Digest, CreateDigest([FileContent(f"__{script}", content)]))
    digest = await Get(Digest, MergeDigests([script_digest, input_digest]))
    return await Get(
        FallibleProcessResult,
        Process(
            (python.path, *flags, f"__{script}", *argv),
            input_digest=digest,
            env=env,
            append_only_caches=python.caches,
            output_directories=output_directories,
            remote_cache_speculation_delay_millis=WAIT_FOR_REMOTE_CACHE_MILLIS,
            timeout_seconds=_TIMEOUT_SECONDS,
            description=description,
            level=LogLevel.DEBUG,
        ),
    )


def _errors(result: FallibleProcessResult) -> list[str]:
    """The `error: ` lines of a failed script, or the end of what it printed."""
    stderr = result.stderr.decode(errors="replace")
    return tool_messages(stderr, ERROR_PREFIX) or [stderr.strip()[-2000:]]


async def _run_script(
    address: Address,
    python: HostBinary,
    script: str,
    argv: tuple[str, ...],
    input_digest: Digest,
    description: str,
    failed: str = "",
    **kwargs: Any,
) -> Digest:
    """Run the core's stdlib-only `script` (see `_script_result`); its `error: ` lines, after
    `failed`, fail the packaging of `address`. Return its output."""
    result = await _script_result(python, script, argv, input_digest, description, **kwargs)
    if result.exit_code != 0:
        reasons = _errors(result)
        raise LambdaPackagingError(f"Cannot package {address}: {failed}{'; '.join(reasons)}")
    return result.output_digest


@dataclass(frozen=True)
class RuntimeCompileRequest:
    """Compile the first-party modules of `address`'s `closure` (`sources`: their files, stripped
    of source roots)."""

    address: Address
    runtime: str
    closure: tuple[Target, ...]
    sources: Snapshot


@dataclass(frozen=True)
class RuntimeCompiled:
    """Whether the runtime's interpreter compiled them (else only the packer's parser checks)."""

    ran: bool


@dataclass(frozen=True)
class PythonSourcesByDirectory:
    """The repository's Python source targets, by the directory of their BUILD file."""

    targets: FrozenDict[str, tuple[Target, ...]]


@rule(desc="Finding the repository's Python sources", level=LogLevel.DEBUG)
async def python_sources_by_directory(targets: AllTargets) -> PythonSourcesByDirectory:
    by_directory: defaultdict[str, list[Target]] = defaultdict(list)
    for target in targets:
        if target.has_field(PythonSourceField):
            by_directory[target.address.spec_path].append(target)
    return PythonSourcesByDirectory(
        FrozenDict((d, tuple(targets)) for d, targets in by_directory.items())
    )


@dataclass(frozen=True)
class _DirectoryCompileRequest:
    directory: str
    runtime: str


@dataclass(frozen=True)
class _DirectoryCompiled:
    ran: bool
    errors: tuple[str, ...]  # `path:line: why` per module that does not compile (stripped path)


@rule(desc="Compiling a directory's modules with a runtime's Python", level=LogLevel.DEBUG)
async def compile_directory(
    request: _DirectoryCompileRequest,
    bootstrap: PythonBootstrap,
    by_directory: PythonSourcesByDirectory,
) -> _DirectoryCompiled:
    """Every Python module of the directory, compiled in one process that every lambda using one
    of them shares: an edit to a module many lambdas import compiles it once, not once each."""
    python = await find_python(runtime_constraints(request.runtime), bootstrap)
    if python is None:
        return _DirectoryCompiled(ran=False, errors=())
    sources = await Get(
        StrippedPythonSourceFiles,
        PythonSourceFilesRequest(by_directory.targets[request.directory]),
    )
    prefixed = await Get(
        Digest, AddPrefix(sources.stripped_source_files.snapshot.digest, "__sources")
    )
    result = await _script_result(
        python,
        "runtime_compile.py",
        ("__sources",),
        prefixed,
        f"Compiling the modules of {request.directory or '//'} with {request.runtime}",
    )
    if result.exit_code not in (0, _COMPILE_ERRORS):
        raise LambdaPackagingError(
            f"Compiling the modules of {request.directory} with {request.runtime} failed: "
            + "; ".join(_errors(result))
        )
    return _DirectoryCompiled(ran=True, errors=tuple(_errors(result) if result.exit_code else ()))


@rule(desc="Compiling a Lambda's modules with its runtime's Python", level=LogLevel.DEBUG)
async def runtime_compile(request: RuntimeCompileRequest) -> RuntimeCompiled:
    directories = sorted(
        {t.address.spec_path for t in request.closure if t.has_field(PythonSourceField)}
    )
    compiled = await MultiGet(
        Get(_DirectoryCompiled, _DirectoryCompileRequest(d, request.runtime)) for d in directories
    )
    modules = set(request.sources.files)
    errors = [e for c in compiled for e in c.errors if e.split(":", 1)[0] in modules]
    if errors:
        raise LambdaPackagingError(f"Cannot package {request.address}: {'; '.join(errors)}")
    return RuntimeCompiled(ran=all(c.ran for c in compiled))


@dataclass(frozen=True)
class BytecodeRequest:
    """Compile the modules of `roots` in `payload` to bytecode (`invalidation`: a PEP 552 mode)."""

    address: Address
    runtime: str
    invalidation: str
    payload: Digest
    roots: tuple[str, ...]


@dataclass(frozen=True)
class CompiledBytecode:
    """The `.pyc` files, under `BYTECODE/` at their archive paths."""

    digest: Digest


@rule(desc="Compiling a Lambda's bytecode with its runtime's Python", level=LogLevel.DEBUG)
async def compile_bytecode(
    request: BytecodeRequest, bootstrap: PythonBootstrap
) -> CompiledBytecode:
    constraints = runtime_constraints(request.runtime)
    python = await find_python(constraints, bootstrap)
    if python is None:
        raise LambdaPackagingError(
            f'Cannot package {request.address}: its `bytecode="{request.invalidation}"` is'
            f" compiled by {request.runtime}'s own Python, which needs"
            f' {no_python_message(constraints, bootstrap)} Or set `bytecode="none"`.'
        )
    digest = await _run_script(
        request.address,
        python,
        "bytecode.py",
        (f"--invalidation={request.invalidation}", f"--out={BYTECODE}", *request.roots),
        request.payload,
        f"Compiling the bytecode of {request.address} with {request.runtime}",
        flags=("-s", "-S", "-B"),  # not -I, which would ignore PYTHONHASHSEED
        env=FrozenDict({"PYTHONHASHSEED": "0"}),
        output_directories=(BYTECODE,),
    )
    return CompiledBytecode(digest)


@dataclass(frozen=True)
class SmokeImportRequest:
    address: Address
    runtime: str
    architecture: str
    handler: str
    function: PackedLambda
    layers: tuple[PackedLambda, ...]


@dataclass(frozen=True)
class SmokeImported:
    """Whether the import ran (it is skipped where the host cannot run it)."""

    ran: bool


@rule(desc="Importing a Lambda handler from its zip", level=LogLevel.DEBUG)
async def smoke_import(
    request: SmokeImportRequest, bootstrap: PythonBootstrap, platform: Platform
) -> SmokeImported:
    skipping = f"{request.address}: skipping the smoke import"
    if _HOST_ARCHITECTURES.get(platform) != request.architecture:
        logger.info(
            f"{skipping}: the host is {platform.value}, the function {request.architecture}"
        )
        return SmokeImported(ran=False)
    constraints = runtime_constraints(request.runtime)
    python = await find_python(constraints, bootstrap)
    if python is None:
        logger.warning(f"{skipping}, which needs {no_python_message(constraints, bootstrap)}")
        return SmokeImported(ran=False)
    zips = (request.function, *request.layers)
    digest = await Get(Digest, MergeDigests(z.digest for z in zips))
    await _run_script(
        request.address,
        python,
        "smoke.py",
        (
            f"--handler={request.handler}",
            f"--function={request.function.zip_path}",
            *(f"--layer={layer.zip_path}" for layer in request.layers),
            f"--max-unzipped-bytes={sum(z.metadata.uncompressed_size for z in zips)}",
        ),
        digest,
        f"Importing {request.handler} from {request.function.zip_path}",
        failed="the smoke import failed: ",
    )
    return SmokeImported(ran=True)


def rules():
    return collect_rules()
