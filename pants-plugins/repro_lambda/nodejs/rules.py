"""`pants package` for `nodejs_lambda_artifact`: sources + `npm ci` for the Lambda architecture."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from pants.base.build_root import BuildRoot
from pants.core.goals.package import BuiltPackage, PackageFieldSet
from pants.core.util_rules.environments import EnvironmentField
from pants.core.util_rules.source_files import SourceFiles, SourceFilesRequest
from pants.engine.addresses import Address
from pants.engine.fs import (
    AddPrefix,
    CreateDigest,
    Digest,
    DigestContents,
    DigestSubset,
    MergeDigests,
    PathGlobs,
    RemovePrefix,
)
from pants.engine.process import FallibleProcessResult, Process
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.unions import UnionRule
from pants.option.global_options import GlobalOptions, ca_certs_path_to_file_content
from pants.util.logging import LogLevel

from repro_lambda.core.contract import Architecture, PackSpec, UserError
from repro_lambda.core.install.npm_lock import check_npm_lock
from repro_lambda.errors import LambdaUserError
from repro_lambda.external.rules import ExternalSources, ExternalSourcesRequest
from repro_lambda.external.target_types import LambdaExternalSourcesField
from repro_lambda.nodejs.target_types import (
    NodeLambdaHandlerField,
    NodeLambdaPackageJsonField,
    NodeLambdaRuntimeField,
    NodeLambdaSkipSymlinksField,
    NodeLambdaSourcesField,
)
from repro_lambda.subsystems.nodejs import NodeJs, NodeJsLambda
from repro_lambda.subsystems.runtimes import RuntimeLifecycle, RuntimeLifecycleRequest
from repro_lambda.target_types import (
    LambdaArchitectureField,
    LambdaHashExtraField,
    LambdaLogicalNameField,
    LambdaOutputPathField,
)
from repro_lambda.util_rules.names import LogicalName, LogicalNameRequest
from repro_lambda.util_rules.pack import FIRST_PARTY, PackedLambda, PackLambdaRequest
from repro_lambda.workarounds import WAIT_FOR_REMOTE_CACHE_MILLIS, without_symlinks

_NPM_CACHE = ".cache/npm"
_LOCKFILE = "package-lock.json"
# npm's links to package binaries, and its record of the install: neither is run on Lambda.
_NOT_PACKED = ("!**/node_modules/.bin/**", "!node_modules/.package-lock.json")


class NodeLambdaError(LambdaUserError):
    """A Node.js lambda's package.json, lockfile or install is not usable (a user error)."""


@dataclass(frozen=True)
class NodeLambdaFieldSet(PackageFieldSet):
    required_fields = (NodeLambdaHandlerField, NodeLambdaRuntimeField)

    sources: NodeLambdaSourcesField
    handler: NodeLambdaHandlerField
    runtime: NodeLambdaRuntimeField
    architecture: LambdaArchitectureField
    logical_name: LambdaLogicalNameField
    package_json: NodeLambdaPackageJsonField
    skip_symlinks: NodeLambdaSkipSymlinksField
    hash_extra: LambdaHashExtraField
    external_sources: LambdaExternalSourcesField
    output_path: LambdaOutputPathField
    environment: EnvironmentField


@dataclass(frozen=True)
class NodeModulesRequest:
    address: Address
    package_files: Digest  # package.json and package-lock.json, at the root
    package_dir: str
    architecture: str


@dataclass(frozen=True)
class NodeModules:
    """The production dependencies, under `node_modules/`."""

    digest: Digest


def _regenerate_hint(package_dir: str) -> str:
    return (
        f"run `npm install --package-lock-only` in {package_dir or '.'} (with the npm you build "
        f"with) and commit {os.path.join(package_dir, _LOCKFILE)}"
    )


@rule(desc="Installing a Node.js Lambda's dependencies", level=LogLevel.DEBUG)
async def npm_ci(
    request: NodeModulesRequest,
    nodejs: NodeJs,
    subsystem: NodeJsLambda,
    global_options: GlobalOptions,
) -> NodeModules:
    cpu = Architecture(request.architecture).npm_cpu
    input_digest, ca_env = request.package_files, {}
    if global_options.ca_certs_path:
        ca_certs = ca_certs_path_to_file_content(global_options.ca_certs_path)
        ca_digest = await Get(Digest, CreateDigest([ca_certs]))
        input_digest = await Get(Digest, MergeDigests([input_digest, ca_digest]))
        ca_env = {"npm_config_cafile": ca_certs.path}
    result = await Get(
        FallibleProcessResult,
        Process(
            nodejs.npm_argv(
                "ci",
                "--omit=dev",
                "--ignore-scripts",
                "--os=linux",
                f"--cpu={cpu}",
                "--no-audit",
                "--no-fund",
                f"--cache={_NPM_CACHE}",
            ),
            description=f"npm ci for {request.address} (linux-{cpu}, {nodejs.versions})",
            input_digest=input_digest,
            # The lockfile and Pants' options decide what is installed and from where: no npmrc
            # of the host (user or global) applies.
            env={
                "PATH": nodejs.node.directory,
                "HOME": ".",
                "npm_config_userconfig": ".no-user-npmrc",
                "npm_config_globalconfig": ".no-global-npmrc",
                "npm_config_registry": subsystem.registry,
                "npm_config_update_notifier": "false",
                **ca_env,
            },
            append_only_caches={"repro_lambda_npm": _NPM_CACHE, **nodejs.node.caches},
            output_directories=("node_modules",),
            remote_cache_speculation_delay_millis=WAIT_FOR_REMOTE_CACHE_MILLIS,
            level=LogLevel.DEBUG,
        ),
    )
    if result.exit_code != 0:
        stderr = result.stderr.decode(errors="replace")
        if "in sync" in stderr or "Missing:" in stderr or "Invalid:" in stderr:
            raise NodeLambdaError(
                f"{request.address}: {os.path.join(request.package_dir, _LOCKFILE)} is out of sync "
                f"with package.json: {_regenerate_hint(request.package_dir)}.\n{stderr.strip()}"
            )
        raise NodeLambdaError(f"`npm ci` for {request.address} failed:\n{stderr.strip()}")
    kept = await Get(
        Digest, DigestSubset(result.output_digest, PathGlobs(["node_modules/**", *_NOT_PACKED]))
    )
    return NodeModules(kept)


def _check_package_files(
    address: Address, package_dir: str, contents: dict[str, bytes], registry: str
) -> None:
    package_json = os.path.join(package_dir, "package.json")
    lockfile = os.path.join(package_dir, _LOCKFILE)
    if package_json not in contents:
        raise NodeLambdaError(f"{address}: {package_json} does not exist (see `package_json`).")
    if lockfile not in contents:
        raise NodeLambdaError(
            f"{address}: there is no {_LOCKFILE} beside {package_json}, and dependencies are "
            f"only installed from a lockfile: {_regenerate_hint(package_dir)}."
        )
    parsed = {}
    for path in (package_json, lockfile):
        try:
            parsed[path] = json.loads(contents[path])
        except ValueError as e:
            raise NodeLambdaError(f"{address}: {path} is not valid JSON: {e}")
    try:
        check_npm_lock(parsed[lockfile], registry, lockfile)
    except UserError as e:
        raise NodeLambdaError(f"{address}: {e}.")
    package = parsed[package_json]
    if "workspaces" in package:
        raise NodeLambdaError(
            f"{address}: {package_json} declares npm workspaces, which are not supported: give "
            "the lambda a package.json and package-lock.json of its own."
        )


@rule(desc="Package a Node.js Lambda", level=LogLevel.DEBUG)
async def package_nodejs_lambda(
    field_set: NodeLambdaFieldSet, subsystem: NodeJsLambda, build_root: BuildRoot
) -> BuiltPackage:
    address = field_set.address
    name = await Get(LogicalName, LogicalNameRequest(address, field_set.logical_name))
    await Get(RuntimeLifecycle, RuntimeLifecycleRequest(address, field_set.runtime.value))
    package_dir = os.path.normpath(
        os.path.join(address.spec_path, os.path.dirname(field_set.package_json.value))
    )
    package_dir = "" if package_dir == "." else package_dir
    package_paths = [os.path.join(package_dir, name) for name in ("package.json", _LOCKFILE)]
    package_digest = await Get(Digest, PathGlobs(package_paths))
    contents = await Get(DigestContents, Digest, package_digest)
    _check_package_files(
        address, package_dir, {fc.path: fc.content for fc in contents}, subsystem.registry
    )
    sources = await Get(SourceFiles, SourceFilesRequest([field_set.sources]))
    outside = [f for f in sources.files if not f.startswith(os.path.join(package_dir, ""))]
    if outside:
        raise NodeLambdaError(
            f"{address}: `sources` must be under {package_dir}, the directory of package.json, "
            f"but include {', '.join(sorted(outside)[:3])}."
        )
    package_files, stripped = package_digest, sources.snapshot.digest
    if field_set.skip_symlinks.value:
        stripped = await without_symlinks(address, sources, package_dir, build_root)
    if package_dir:
        package_files, stripped = await MultiGet(
            Get(Digest, RemovePrefix(package_digest, package_dir)),
            Get(Digest, RemovePrefix(stripped, package_dir)),
        )
    node_modules, external = await MultiGet(
        Get(
            NodeModules,
            NodeModulesRequest(address, package_files, package_dir, field_set.architecture.value),
        ),
        Get(ExternalSources, ExternalSourcesRequest(address, field_set.external_sources)),
    )
    merged = await Get(Digest, MergeDigests([stripped, node_modules.digest]))
    prefixed = await Get(Digest, AddPrefix(merged, FIRST_PARTY))
    payload = await Get(Digest, MergeDigests([prefixed, external.digest]))
    packed = await Get(
        PackedLambda,
        PackLambdaRequest(
            address,
            zip_path=field_set.output_path.value_or_default(file_ending="zip"),
            spec=PackSpec(
                name.value,
                field_set.runtime.value,
                field_set.architecture.value,
                handler=field_set.handler.value,
                hash_extra=field_set.hash_extra.value or "",
            ),
            payload=payload,
            has_sources=True,
            external_roots=external.roots,
        ),
    )
    return BuiltPackage(packed.digest, (packed.artifact(),))


def rules():
    return (*collect_rules(), UnionRule(PackageFieldSet, NodeLambdaFieldSet))
