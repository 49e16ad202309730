"""`lambda-lock` for manifest lambdas: compile each pip lambda's hashed requirements lock from the
`requirements.in` in its `source_dir` with uv, for its runtime's Python and its architecture's
manylinux platform: wheels only, or, where a pin has no wheel there, its sdist (unless
`[lambda-lock].only_binary` refuses it), which `package` builds. npm lambdas install from their
package-lock.json as it is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pants.backend.python.subsystems.repos import PythonRepos
from pants.base.build_root import BuildRoot
from pants.core.util_rules.adhoc_binaries import PythonBuildStandaloneBinary
from pants.engine.console import Console
from pants.engine.fs import CreateDigest, Digest, DigestContents, MergeDigests, PathGlobs
from pants.engine.process import FallibleProcessResult, Process, ProcessCacheScope
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import AllTargets
from pants.option.global_options import GlobalOptions, ca_certs_path_to_file_content
from pants.util.docutil import bin_name
from pants.util.logging import LogLevel

from repro_lambda.core.contract import Architecture
from repro_lambda.core.manifest.hashed_requirements import uv_python_platform
from repro_lambda.core.runtimes import BY_NAME
from repro_lambda.external.rules import write_atomically
from repro_lambda.manifest.rules import LambdaManifestError
from repro_lambda.manifest.target_types import (
    ManifestPythonLambdaTarget,
    ManifestRequirementsLockField,
    ManifestSourceDirField,
)
from repro_lambda.nodejs.target_types import NodeLambdaArtifactTarget
from repro_lambda.subsystems.lambda_lock import LambdaLockSubsystem
from repro_lambda.subsystems.uv import UvBinary
from repro_lambda.target_types import (
    LambdaArchitectureField,
    LambdaLogicalNameField,
    LambdaRuntimeField,
)
from repro_lambda.util_rules.names import logical_name

REQUIREMENTS_IN = "requirements.in"
_OUTPUT = "__lock.txt"
_UV_CACHE = ".cache/uv"


@dataclass(frozen=True)
class ManifestLockRequest:
    lock_path: str
    requirements_in: str
    runtime: str
    architecture: str
    description_of_origin: str

    @property
    def compiles(self) -> str:
        return f"{self.requirements_in} for {self.runtime} {self.architecture}"


@dataclass(frozen=True)
class ManifestLock:
    path: str
    content: bytes


@rule(desc="Compiling a manifest lambda's requirements lock", level=LogLevel.DEBUG)
async def compile_manifest_lock(
    request: ManifestLockRequest,
    uv: UvBinary,
    python: PythonBuildStandaloneBinary,
    repos: PythonRepos,
    global_options: GlobalOptions,
    lambda_lock: LambdaLockSubsystem,
) -> ManifestLock:
    python_version = BY_NAME[request.runtime].python_version
    assert python_version, "manifest pip lambdas run on python runtimes"
    platform = uv_python_platform(request.runtime, Architecture(request.architecture))
    inputs = [await Get(Digest, PathGlobs([request.requirements_in])), uv.digest]
    env = {}
    if global_options.ca_certs_path:
        ca_certs = ca_certs_path_to_file_content(global_options.ca_certs_path)
        inputs.append(await Get(Digest, CreateDigest([ca_certs])))
        env["SSL_CERT_FILE"] = ca_certs.path
    indexes = repos.indexes
    argv = (
        uv.exe,
        "pip",
        "compile",
        request.requirements_in,
        f"--output-file={_OUTPUT}",
        "--generate-hashes",
        f"--python={python.path}",
        "--python-version={}.{}".format(*python_version),
        f"--python-platform={platform}",
        "--no-config",
        "--system-certs",
        f"--cache-dir={_UV_CACHE}",
        f"--custom-compile-command={bin_name()} lambda-lock",
        "--quiet",
        *(
            (f"--index-url={indexes[0]}", *(f"--extra-index-url={i}" for i in indexes[1:]))
            if indexes
            else ("--no-index",)
        ),
        *(f"--find-links={links}" for links in repos.find_links),
    )

    def compile_lock(only_binary: tuple[str, ...]) -> Process:
        return Process(
            (*argv, *(f"--only-binary={name}" for name in only_binary)),
            description=f"Compiling {request.lock_path} for {request.runtime}-{platform}",
            input_digest=input_digest,
            env=env,
            output_files=(_OUTPUT,),
            append_only_caches={"repro_lambda_uv": _UV_CACHE, **python.APPEND_ONLY_CACHES},
            # A lock is re-resolved every time it is asked for.
            cache_scope=ProcessCacheScope.PER_SESSION,
            level=LogLevel.DEBUG,
        )

    input_digest = await Get(Digest, MergeDigests(inputs))
    # wheels only first, so a lock that needs no sdist stays as it was; then sdists where a pin
    # has no wheel for the platform, unless `[lambda-lock].only_binary` refuses them
    result = await Get(FallibleProcessResult, Process, compile_lock((":all:",)))
    only_binary = tuple(":all:" if name == "*" else name for name in lambda_lock.only_binary)
    if result.exit_code != 0 and ":all:" not in only_binary:
        result = await Get(FallibleProcessResult, Process, compile_lock(only_binary))
    if result.exit_code != 0:
        sdists = "" if ":all:" in only_binary else ", then with sdists"
        raise LambdaManifestError(
            f"{request.description_of_origin}: uv could not compile {request.requirements_in}"
            f" into {request.lock_path} for {request.runtime} {request.architecture} (wheels"
            f" only{sdists}, {platform}):\n{result.stderr.decode(errors='replace')}"
        )
    (content,) = await Get(DigestContents, Digest, result.output_digest)
    return ManifestLock(request.lock_path, content.content)


async def lock_manifest_lambdas(
    console: Console, all_targets: AllTargets, build_root: BuildRoot
) -> None:
    """Compile every manifest pip lambda's lock that has a `requirements.in`, rewriting it only
    if it changed; say which lambdas are skipped and why."""
    requests: dict[str, ManifestLockRequest] = {}
    for tgt in all_targets:
        if not isinstance(tgt, (NodeLambdaArtifactTarget, ManifestPythonLambdaTarget)):
            continue
        name = logical_name(tgt.address, tgt[LambdaLogicalNameField].value)
        if isinstance(tgt, NodeLambdaArtifactTarget):
            console.print_stdout(f"skip {name}: npm uses package-lock.json directly")
            continue
        lock = tgt[ManifestRequirementsLockField].value
        if not lock:
            continue
        requirements_in = os.path.join(tgt[ManifestSourceDirField].value, REQUIREMENTS_IN)
        if not Path(build_root.path, requirements_in).is_file():
            console.print_stdout(f"skip {name}: no {requirements_in} to compile {lock} from")
            continue
        request = ManifestLockRequest(
            lock,
            requirements_in,
            tgt[LambdaRuntimeField].value,
            tgt[LambdaArchitectureField].value,
            str(tgt.address),
        )
        other = requests.setdefault(lock, request)
        if other.compiles != request.compiles:
            raise LambdaManifestError(
                f"{other.description_of_origin} and {tgt.address} share the requirements lock"
                f" {lock} but compile it differently ({other.compiles} and {request.compiles}):"
                " give each its own `requirements_lock`"
            )
    compiled = await MultiGet(Get(ManifestLock, ManifestLockRequest, r) for r in requests.values())
    for result in compiled:
        changed = write_atomically(Path(build_root.path, result.path), result.content)
        state = "Wrote" if changed else "Unchanged:"
        console.print_stdout(f"{console.sigil_succeeded()} {state} {result.path}")


def rules():
    return collect_rules()
