"""`[lambda-pex]`: the pinned pex that runs every install of the plugin, apart from the host's
pip configuration.

Pants 2.17 runs pex 2.1.137 by default, which cannot install locked wheels for a Python other than
its own from an empty cache (pex issue #2395, fixed in 2.3.1). The plugin runs its own pex instead,
downloaded from PyPI and checked against its sha256 by Pants, so every Pants repository gets the
same installs whatever its `[pex-cli]` says. Each process reads no pip configuration of the host
(`PIP_CONFIG_FILE` is the null device, and pex runs pip `--isolated`, so no `PIP_*` variable either)
and keeps pex's state in a named cache: indexes and mirrors come only from `[python-repos]`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pants.backend.python.subsystems.setup import PythonSetup
from pants.core.util_rules import adhoc_binaries, external_tool, subprocess_environment
from pants.core.util_rules.external_tool import (
    DownloadedExternalTool,
    ExternalToolRequest,
    TemplatedExternalTool,
)
from pants.core.util_rules.subprocess_environment import SubprocessEnvironmentVars
from pants.engine.fs import EMPTY_DIGEST, CreateDigest, Digest, Directory, MergeDigests
from pants.engine.platform import Platform
from pants.engine.process import Process, ProcessCacheScope, ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.option.global_options import GlobalOptions, ca_certs_path_to_file_content
from pants.util.frozendict import FrozenDict
from pants.util.logging import LogLevel
from pants.util.strutil import help_text

from repro_lambda import host_tools
from repro_lambda.core.pex_args import pex3_argv, resolve_args
from repro_lambda.host_tools import ScriptsPython
from repro_lambda.remote_cache import WAIT_FOR_REMOTE_CACHE_MILLIS

_PEX_DIR = "__lambda_pex"
_TMP_DIR = ".tmp"
_PEX_ROOT = ".cache/repro_lambda_pex_root"
_PEX_ROOT_CACHE = "repro_lambda_pex_root"
# Extracts the pex wheel; `pex3_argv` puts it first on `sys.path` and calls `pex3`.
_UNPACK = f"import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall({_PEX_DIR!r})"


class LambdaPexCli(TemplatedExternalTool):
    options_scope = "lambda-pex"
    name = "pex"
    help = help_text(
        """
        The pex that installs wheels for Lambda platforms, writes Lambda platform locks and sets up
        the plugin's packer and publisher: the pure-Python wheel from PyPI, pinned by sha256.

        Its processes ignore every pip configuration file and `PIP_*` variable of the host; set
        indexes and find-links with `[python-repos]`. `url_template` is the URL of that one
        wheel: point it at a mirror if PyPI's file host is not reachable, and to use another pex
        (2.3.1 or newer) set `version`, `known_versions` and the URL of its wheel from PyPI's
        simple index.
        """
    )

    default_version = "2.105.2"
    default_url_template = (
        "https://files.pythonhosted.org/packages/43/8c/"
        "7e073f41b8c0935e4fa8471902a2917b6c14a85e19ead116cd18c7c6d0fe/"
        "pex-2.105.2-py2.py35.py36.py37.py38.py39.py310.py311-none-any.whl"
    )
    # 2.3.1 fixed installing locked wheels for a foreign Python from an empty cache (pex #2395).
    version_constraints = ">=2.3.1,<3"
    default_known_versions = [
        f"2.105.2|{platform}|5a4d73fbeab30ddf70e360971cb19b9fa80b2a29cfe83e786215fcdd5ef1af9d"
        "|4130984"
        for platform in ("linux_x86_64", "linux_arm64", "macos_x86_64", "macos_arm64")
    ]


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
