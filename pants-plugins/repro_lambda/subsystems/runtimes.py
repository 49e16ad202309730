"""`[lambda-runtimes]`: what packaging does with a runtime AWS has deprecated or blocked."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pants.engine.addresses import Address
from pants.engine.rules import collect_rules, rule
from pants.option.option_types import StrListOption
from pants.option.subsystem import Subsystem
from pants.util.strutil import softwrap

from repro_lambda.core import runtimes
from repro_lambda.core.runtimes import BY_NAME, describe, lifecycle_problem
from repro_lambda.errors import LambdaUserError

logger = logging.getLogger(__name__)


class LambdaRuntimes(Subsystem):
    options_scope = "lambda-runtimes"
    help = softwrap(
        f"""
        The lifecycle of the Lambda runtimes, by AWS's dates: packaging for a deprecated runtime
        warns; once AWS blocks updating functions on it, packaging fails unless the runtime is
        in `allow_blocked`.

        {describe(tuple(BY_NAME))}.
        """
    )

    allow_blocked = StrListOption(
        default=[],
        help=softwrap(
            """
            Runtimes to package for even after AWS has blocked updating functions on them, to
            rebuild an old artifact on purpose, e.g. `["python3.9"]`.
            """
        ),
    )


class BlockedRuntime(LambdaUserError):
    """AWS no longer accepts functions on the runtime."""


@dataclass(frozen=True)
class RuntimeLifecycleRequest:
    address: Address
    runtime: str


@dataclass(frozen=True)
class RuntimeLifecycle:
    """The runtime may be packaged for (with a warning when deprecated)."""

    deprecated: bool


@rule
async def check_runtime_lifecycle(
    request: RuntimeLifecycleRequest, subsystem: LambdaRuntimes
) -> RuntimeLifecycle:
    unknown = sorted(set(subsystem.allow_blocked) - set(BY_NAME))
    if unknown:
        raise BlockedRuntime(
            f"`[{subsystem.options_scope}].allow_blocked` names {', '.join(unknown)}, which is no"
            f" Lambda runtime: use the names of `runtime` fields ({', '.join(BY_NAME)})."
        )
    blocked, why = lifecycle_problem(request.runtime, runtimes.today())
    if blocked and request.runtime not in subsystem.allow_blocked:
        raise BlockedRuntime(
            f"Cannot package {request.address}: {why}, or add {request.runtime} to"
            f" `[{subsystem.options_scope}].allow_blocked` to rebuild it on purpose."
        )
    if why:
        logger.warning(f"{request.address}: {why}.")
    return RuntimeLifecycle(deprecated=bool(why))


def rules():
    return collect_rules()
