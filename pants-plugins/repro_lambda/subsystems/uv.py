"""`[lambda-uv]`: the pinned uv that regenerates manifest lambdas' hashed requirement locks.

uv is the reference design's lock tool (`uv pip compile --generate-hashes`). Its binary comes in
the platform's wheel from PyPI, checked against its sha256 by Pants, and is unpacked by the
bootstrap Python. Each run reads no uv configuration file (`--no-config`) and no `UV_*` variable of
the host (Pants' processes get a clean environment); indexes come from `[python-repos]`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.core.util_rules.external_tool import (
    DownloadedExternalTool,
    ExternalToolRequest,
    TemplatedExternalTool,
)
from pants.engine.fs import Digest
from pants.engine.platform import Platform
from pants.engine.process import Process, ProcessResult
from pants.engine.rules import Get, collect_rules, rule
from pants.util.logging import LogLevel
from pants.util.strutil import help_text

from repro_lambda.util_rules.host_tools import ScriptsPython
from repro_lambda.workarounds import WAIT_FOR_REMOTE_CACHE_MILLIS

_UV_DIR = "__lambda_uv"
_UNPACK = (
    "import os, sys, zipfile; os.makedirs({dir!r}); out = os.path.join({dir!r}, 'uv');"
    " open(out, 'wb').write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2])); os.chmod(out, 0o755)"
).format(dir=_UV_DIR)
_FILES = "https://files.pythonhosted.org/packages"


class LambdaUv(TemplatedExternalTool):
    options_scope = "lambda-uv"
    name = "uv"
    help = help_text(
        """
        The uv that `lambda-lock` runs to regenerate the hashed requirement locks of
        `lambda_manifest` pip lambdas (`uv pip compile --generate-hashes`): the platform's wheel
        from PyPI, pinned by sha256. Set indexes with `[python-repos]`; to use a mirror, point
        `url_template` and `url_platform_mapping` at its copies of the wheels.
        """
    )

    default_version = "0.13.9"
    default_url_template = _FILES + "/{platform}.whl"
    default_url_platform_mapping = {
        "linux_x86_64": "3d/aa/26d64642d808de4a652579ef950d7cd2d37f080a8babf9c67c6b75fc4c3f/"
        "uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64",
        "linux_arm64": "57/15/94b6cd62ac3ff6550288328e8035288875197cbc183f51554b266a69877b/"
        "uv-0.13.9-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64",
        "macos_x86_64": "1e/db/08e9ef4879bd667e6d7b4705e594e5bd3e4585f10fc63cb16b9fa2fac63e/"
        "uv-0.13.9-py3-none-macosx_10_12_x86_64",
        "macos_arm64": "f3/a7/a8d7b074798c7fb3b26b37584b8fe2e29df2ccdc24ce7902caab2a53edbf/"
        "uv-0.13.9-py3-none-macosx_11_0_arm64",
    }
    # `--system-certs` and the manylinux_2_34 and _2_40 platforms.
    version_constraints = ">=0.9,<1"
    default_known_versions = [
        "0.13.9|linux_x86_64|d7f459fe4fd247d830351c75686d3996ace3c6f3f728eb0e85a30b7ada0cef19"
        "|17606939",
        "0.13.9|linux_arm64|5435c5ce14a56431208ca0996416d310f1598e8c2c8ba707688985a16bb82dbe"
        "|18026789",
        "0.13.9|macos_x86_64|c16ed11e013557536b3e60065f1b912f6407bd6518e041b961e23ef9e6b4fbf5"
        "|17529974",
        "0.13.9|macos_arm64|66c512266d633bef48384a1f53003f41f2a8e7b36fe6e7fbfd3e0fd52d96fa63"
        "|14660755",
    ]


@dataclass(frozen=True)
class UvBinary:
    """The uv executable, at `exe` in `digest`."""

    digest: Digest
    exe: str = f"{_UV_DIR}/uv"


@rule(desc="Unpacking uv", level=LogLevel.DEBUG)
async def unpack_uv(uv: LambdaUv, platform: Platform, python: ScriptsPython) -> UvBinary:
    wheel = await Get(DownloadedExternalTool, ExternalToolRequest, uv.get_request(platform))
    result = await Get(
        ProcessResult,
        Process(
            (
                python.binary.path,
                "-I",
                "-c",
                _UNPACK,
                wheel.exe,
                f"uv-{uv.version}.data/scripts/uv",
            ),
            description=f"Unpacking uv {uv.version}",
            input_digest=wheel.digest,
            output_directories=(_UV_DIR,),
            append_only_caches=python.caches,
            remote_cache_speculation_delay_millis=WAIT_FOR_REMOTE_CACHE_MILLIS,
            level=LogLevel.DEBUG,
        ),
    )
    return UvBinary(result.output_digest)


def rules():
    return collect_rules()
