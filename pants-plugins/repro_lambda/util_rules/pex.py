"""Running `pex3` with the plugin's pex (`[lambda-pex]`, `subsystems/pex.py`), apart from the host's
pip configuration: `LambdaPexProcess`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pants.backend.python.subsystems.setup import PythonSetup
from pants.core.util_rules import adhoc_binaries, external_tool, subprocess_environment
from pants.core.util_rules.external_tool import DownloadedExternalTool, ExternalToolRequest
from pants.core.util_rules.subprocess_environment import SubprocessEnvironmentVars
from pants.engine.fs import EMPTY_DIGEST, CreateDigest, Digest, Directory, MergeDigests
from pants.engine.platform import Platform
from pants.engine.process import Process, ProcessCacheScope, ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.option.global_options import GlobalOptions, ca_certs_path_to_file_content
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel

from repro_lambda.core.install.pex_args import pex3_argv, resolve_args
from repro_lambda.subsystems.pex import LambdaPexCli
from repro_lambda.util_rules import host_tools
from repro_lambda.util_rules.host_tools import ScriptsPython
from repro_lambda.workarounds import WAIT_FOR_REMOTE_CACHE_MILLIS

_PEX_DIR = "__lambda_pex"
_TMP_DIR = ".tmp"
_PEX_ROOT = ".cache/repro_lambda_pex_root"
_PEX_ROOT_CACHE = "repro_lambda_pex_root"
# Extracts the pex wheel; `pex3_argv` puts it first on `sys.path` and calls `pex3`.
_UNPACK = f"import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall({_PEX_DIR!r})"


@dataclass(frozen=True)
class LambdaPex:
    """The pex wheel, unpacked under `__lambda_pex/`."""

    digest: Digest


@rule(desc="Unpacking the plugin's pex", level=LogLevel.DEBUG)
async def unpack_lambda_pex(
    pex_cli: LambdaPexCli, platform: Platform, python: ScriptsPython
) -> LambdaPex:
    wheel = await Get(DownloadedExternalTool, ExternalToolRequest, pex_cli.get_request(platform))
    result = await Get(
        ProcessResult,
        Process(
            (python.binary.path, "-I", "-c", _UNPACK, wheel.exe),
            description=f"Unpacking pex {pex_cli.version}",
            input_digest=wheel.digest,
            output_directories=(_PEX_DIR,),
            append_only_caches=python.caches,
            remote_cache_speculation_delay_millis=WAIT_FOR_REMOTE_CACHE_MILLIS,
            level=LogLevel.DEBUG,
        ),
    )
    return LambdaPex(result.output_digest)


@dataclass(frozen=True)
class LambdaPexProcess:
    """A `pex3` subcommand run with the plugin's pex.

    One that `resolves` (`venv create`, `lock create`) also gets the pip version (Pants'
    `[python].pip_version`, by default the core's `PIP_VERSION`) and CA bundle.
    """

    subcommand: tuple[str, ...]
    args: tuple[str, ...]
    description: str
    input_digest: Digest = EMPTY_DIGEST
    output_files: tuple[str, ...] = ()
    output_directories: tuple[str, ...] = ()
    cache_scope: ProcessCacheScope = ProcessCacheScope.SUCCESSFUL
    resolves: bool = True
    append_only_caches: FrozenDict[str, str] = FrozenDict()


@rule
async def setup_lambda_pex_process(
    request: LambdaPexProcess,
    pex: LambdaPex,
    python: ScriptsPython,
    python_setup: PythonSetup,
    subprocess_env: SubprocessEnvironmentVars,
    global_options: GlobalOptions,
) -> Process:
    extra_inputs = [CreateDigest([Directory(_TMP_DIR)])]
    resolve: tuple[str, ...] = ()
    if request.resolves:
        cert = None
        if global_options.ca_certs_path:
            ca_certs = ca_certs_path_to_file_content(global_options.ca_certs_path)
            extra_inputs.append(CreateDigest([ca_certs]))
            cert = ca_certs.path
        resolve = resolve_args(python_setup.pip_version.value, cert)
    extra_digests = await MultiGet(Get(Digest, CreateDigest, c) for c in extra_inputs)
    input_digest = await Get(
        Digest, MergeDigests([pex.digest, request.input_digest, *extra_digests])
    )
    return Process(
        pex3_argv(
            python.binary.path,
            _PEX_DIR,
            request.subcommand,
            request.args,
            tmpdir=_TMP_DIR,
            resolve=resolve,
        ),
        description=request.description,
        input_digest=input_digest,
        env={
            **subprocess_env.vars,
            "PEX_ROOT": _PEX_ROOT,
            "PEX_IGNORE_RCFILES": "true",
            # pip reads no configuration file at all, site-wide ones included, with this.
            "PIP_CONFIG_FILE": os.devnull,
        },
        append_only_caches={
            _PEX_ROOT_CACHE: _PEX_ROOT,
            **python.caches,
            **request.append_only_caches,
        },
        output_files=request.output_files,
        output_directories=request.output_directories,
        cache_scope=request.cache_scope,
        remote_cache_speculation_delay_millis=WAIT_FOR_REMOTE_CACHE_MILLIS,
        level=LogLevel.DEBUG,
    )


def rules():
    return (
        *collect_rules(),
        *host_tools.rules(),
        *adhoc_binaries.rules(),
        *external_tool.rules(),
        *subprocess_environment.rules(),
    )
