"""The opt-in smoke import: the handler imported from the packed zip and its layers by an isolated
interpreter of the runtime's Python version, on a host of the function's architecture."""

from __future__ import annotations

import logging
import pkgutil
from dataclasses import dataclass

from pants.backend.python.util_rules.interpreter_constraints import InterpreterConstraints
from pants.core.subsystems.python_bootstrap import PythonBootstrap
from pants.engine.addresses import Address
from pants.engine.fs import CreateDigest, Digest, FileContent, MergeDigests
from pants.engine.platform import Platform
from pants.engine.process import FallibleProcessResult, Process
from pants.engine.rules import Get, collect_rules, rule
from pants.util.logging import LogLevel

from repro_lambda.core.contract import ERROR_PREFIX, Architecture, tool_messages
from repro_lambda.pack_rules import LambdaPackagingError, PackedLambda
from repro_lambda.tool_rules import find_python, no_python_message

logger = logging.getLogger(__name__)

_SCRIPT = "__smoke.py"
_HOST_ARCHITECTURES = {
    Platform.linux_x86_64: Architecture.X86_64,
    Platform.linux_arm64: Architecture.ARM64,
}
_TIMEOUT_SECONDS = 120
"""Longer than any cold start may take (Lambda's init phase is limited to 10 s)."""


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
    version = request.runtime.removeprefix("python")
    constraints = InterpreterConstraints([f"CPython=={version}.*"])
    python = await find_python(constraints, bootstrap, f"the smoke import of {request.address}")
    if python is None:
        logger.warning(f"{skipping}, which needs {no_python_message(constraints, bootstrap)}")
        return SmokeImported(ran=False)
    script = pkgutil.get_data("repro_lambda.core", "smoke.py")
    assert script is not None
    zips = (request.function, *request.layers)
    script_digest = await Get(Digest, CreateDigest([FileContent(_SCRIPT, script)]))
    digest = await Get(Digest, MergeDigests([script_digest, *(z.digest for z in zips)]))
    result = await Get(
        FallibleProcessResult,
        Process(
            (
                python,
                "-I",
                "-S",
                "-B",
                _SCRIPT,
                f"--handler={request.handler}",
                f"--function={request.function.zip_path}",
                *(f"--layer={layer.zip_path}" for layer in request.layers),
                f"--max-unzipped-bytes={sum(z.metadata['uncompressed_size'] for z in zips)}",
            ),
            input_digest=digest,
            env={"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"},
            timeout_seconds=_TIMEOUT_SECONDS,
            description=f"Importing {request.handler} from {request.function.zip_path}",
            level=LogLevel.DEBUG,
        ),
    )
    if result.exit_code != 0:
        stderr = result.stderr.decode(errors="replace")
        reasons = tool_messages(stderr, ERROR_PREFIX) or [stderr.strip()[-2000:]]
        raise LambdaPackagingError(
            f"Cannot package {request.address}: the smoke import failed: {'; '.join(reasons)}"
        )
    return SmokeImported(ran=True)


def rules():
    return collect_rules()
