"""Third-party wheels of a Lambda's closure, installed flat for its runtime × architecture."""

from __future__ import annotations

from dataclasses import dataclass

from pants.engine.addresses import Address
from pants.engine.fs import EMPTY_DIGEST, Digest, MergeDigests
from pants.engine.process import FallibleProcessResult
from pants.engine.rules import Get, collect_rules, rule
from pants.util.logging import LogLevel

from repro_lambda.lock_rules import (
    LambdaInstallInputs,
    LambdaLockError,
    PlatformLock,
    PlatformLockRequest,
    check_platform_lock,
)
from repro_lambda.pex_cli import LambdaPexProcess

SITE_PACKAGES = "site-packages"


@dataclass(frozen=True)
class LambdaRequirementsRequest:
    address: Address
    inputs: LambdaInstallInputs


@dataclass(frozen=True)
class LambdaRequirements:
    """The wheels, installed under `site-packages/` with no scripts and no byte code."""

    digest: Digest


@rule(desc="Installing a Lambda's wheels", level=LogLevel.DEBUG)
async def install_lambda_requirements(request: LambdaRequirementsRequest) -> LambdaRequirements:
    inputs = request.inputs
    if not inputs.requirements:
        return LambdaRequirements(EMPTY_DIGEST)
    lock = await Get(PlatformLock, PlatformLockRequest(inputs.resolve))
    check_platform_lock(lock, inputs, request.address)
    input_digest = await Get(Digest, MergeDigests([lock.digest, inputs.platforms.digest]))
    result = await Get(
        FallibleProcessResult,
        LambdaPexProcess(
            subcommand=("venv", "create"),
            args=(
                f"--dest-dir={SITE_PACKAGES}",
                "--layout=flat",
                f"--lock={lock.path}",
                "--no-build",
                *inputs.platforms.generate_pex_arg_list(),
                *inputs.requirements,
            ),
            input_digest=input_digest,
            output_directories=(SITE_PACKAGES,),
            description=f"Installing wheels of {request.address} for {inputs.platform_name}",
        ),
    )
    if result.exit_code != 0:
        raise LambdaLockError(
            f"Installing the wheels of {request.address} for {inputs.platform_name} from "
            f"{lock.path} failed:\n{result.stderr.decode(errors='replace')}"
        )
    return LambdaRequirements(result.output_digest)


def rules():
    return collect_rules()
