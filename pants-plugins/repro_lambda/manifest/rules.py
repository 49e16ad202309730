"""`lambda_manifest`: generate a target per `[[lambda]]` (and per `[[lambda.source]]`), and
`package` for the pip lambdas it generates, with wheels from their hashed requirement locks.
"""

from __future__ import annotations

import json
import os
import posixpath
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Set, Tuple

import toml  # pants: no-infer-dep (a requirement of pantsbuild.pants)
from pants.backend.python.subsystems.repos import PythonRepos
from pants.backend.python.util_rules.pex import CompletePlatforms
from pants.base.build_root import BuildRoot
from pants.base.glob_match_error_behavior import GlobMatchErrorBehavior
from pants.core.goals.package import BuiltPackage, PackageFieldSet
from pants.core.util_rules.source_files import SourceFiles, SourceFilesRequest
from pants.engine.addresses import Address
from pants.engine.fs import (
    EMPTY_DIGEST,
    AddPrefix,
    Digest,
    DigestContents,
    DigestEntries,
    FileContent,
    FileEntry,
    MergeDigests,
    PathGlobs,
    Paths,
    RemovePrefix,
)
from pants.engine.platform import Platform
from pants.engine.process import FallibleProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.engine.target import GeneratedTargets, GenerateTargetsRequest, Target
from pants.engine.unions import UnionMembership, UnionRule
from pants.util.logging import LogLevel

from repro_lambda.core.contract import ZIP_MAX_FIELD_LENGTH, UserError, platform_name
from repro_lambda.core.install.pex_args import (
    LOCK_CREATE,
    VENV_CREATE,
    index_args,
    lock_wheels_args,
    venv_flat_args,
)
from repro_lambda.core.install.sdists import LockedSdist, SdistPin, locked_sdists, refuses
from repro_lambda.core.manifest.globs import to_pants_globs
from repro_lambda.core.manifest.hashed_requirements import (
    check_locked_wheels,
    parse_hashed_requirements,
)
from repro_lambda.core.manifest.parse import ManifestLambda, PackageManager, parse_manifest
from repro_lambda.core.sources.spec import SourceSpec
from repro_lambda.errors import LambdaUserError
from repro_lambda.external.rules import ExternalSources, ExternalSourcesRequest
from repro_lambda.external.target_types import LambdaSourceTarget
from repro_lambda.manifest.target_types import (
    LambdaManifestSourceField,
    LambdaManifestTarget,
    ManifestHandlerField,
    ManifestPythonLambdaTarget,
    ManifestRequirementsLockField,
    ManifestSourceDirField,
    ManifestSourcesField,
)
from repro_lambda.nodejs.target_types import NodeLambdaArtifactTarget
from repro_lambda.subsystems.lambda_lock import LambdaLockSubsystem
from repro_lambda.subsystems.runtimes import RuntimeLifecycle, RuntimeLifecycleRequest
from repro_lambda.util_rules.batches import BatchedLambdaFieldSet, PackInBatch, PreparedLambda
from repro_lambda.util_rules.install import (
    BUILT_WHEELS_MAPPING,
    SITE_PACKAGES,
    LambdaPlatformRequest,
    with_wheels_built,
)
from repro_lambda.util_rules.names import LogicalName, LogicalNameRequest
from repro_lambda.util_rules.pack import FIRST_PARTY, PackedLambda, PackLambdaRequest
from repro_lambda.util_rules.pex import LambdaPexProcess
from repro_lambda.util_rules.sdists import DownloadedSdists, SdistDownload
from repro_lambda.workarounds import without_symlinks


class LambdaManifestError(LambdaUserError):
    """A `lambdas.toml` that cannot be read as the reference design states it (a user error)."""


# Generating targets


class GenerateFromLambdaManifest(GenerateTargetsRequest):
    generate_from = LambdaManifestTarget


def _relative(path: str, base: str) -> str:
    """`path` (relative to the build root) relative to the manifest's directory."""
    return os.path.relpath(path, base or ".")


def _where(path: str, item: ManifestLambda) -> str:
    return f"{path}: [[lambda]] #{item.index} ({item.logical_name})"


_PATH_FIELDS = ("source_dir", "requirements_lock", "package_json")


def _check_paths_inside(
    tables: List[Dict[str, Any]], lambdas: List[ManifestLambda], path: str
) -> None:
    """Refuse a path that leaves the repository (absolute, or `..` above its root): Pants reads
    only the files under its build root. `tables` are the manifest's `[[lambda]]` tables as
    written (the parsed `source_dir` has lost its leading `/`)."""
    for item in lambdas:
        for field in _PATH_FIELDS:
            value = tables[item.index - 1].get(field)
            if value and (
                posixpath.isabs(value) or posixpath.normpath(value).split("/")[0] == ".."
            ):
                raise LambdaManifestError(
                    f"{_where(path, item)}: `{field}` = {value!r} is outside the repository."
                    f" Paths in {path} are relative to the repository's root and stay under it,"
                    " where Pants reads files: move the files into the repository and give their"
                    " path from its root."
                )


async def _check_source_dirs(lambdas: List[ManifestLambda], path: str) -> None:
    """Refuse a `source_dir` that is no directory of the repository, before its globs find
    nothing to pack."""
    found = await MultiGet(Get(Paths, PathGlobs([item.source_dir])) for item in lambdas)
    for item, paths in zip(lambdas, found):
        if not paths.dirs:
            raise LambdaManifestError(
                f"{_where(path, item)}: `source_dir` = {item.source_dir!r} does not exist (it is"
                " relative to the repository's root): correct the path, create the directory"
                " with the lambda's code, or remove this [[lambda]]."
            )


def _check_hash_extra(item: ManifestLambda, path: str) -> None:
    """The zip comment is `hash_extra` with the builder's fingerprint: it must fit a zip."""
    size = len(item.key_extra.encode("utf-8"))
    if size > ZIP_MAX_FIELD_LENGTH:
        allowed = ZIP_MAX_FIELD_LENGTH - (size - len(item.hash_extra.encode("utf-8")))
        raise LambdaManifestError(
            f"{_where(path, item)}: `hash_extra` is too long: with the builder's fingerprint it"
            f" makes a zip comment of {size:,} bytes, over a zip comment's limit of"
            f" {ZIP_MAX_FIELD_LENGTH:,}. Shorten it to at most {allowed:,} bytes (UTF-8)."
        )


def _source_fields(spec: SourceSpec, upstream: Dict[str, Address]) -> Dict[str, Any]:
    fields: Dict[str, Any] = {
        "type": str(spec.type),
        "extract": str(spec.extract),
        "dest": spec.dest,
        "executable": spec.executable,
    }
    for name in ("url", "repo", "tag", "asset", "version", "member"):
        if getattr(spec, name) is not None:
            fields[name] = getattr(spec, name)
    if spec.version_from:
        fields["version_from"] = {
            "source": upstream[spec.version_from.source].spec,
            "file": spec.version_from.file,
            "key": spec.version_from.key,
        }
    return fields


def _lambda_targets(
    request: GenerateFromLambdaManifest,
    item: ManifestLambda,
    path: str,
    globs: Tuple[str, ...],
    union_membership: UnionMembership,
) -> List[Target]:
    generator = request.generator
    base = generator.address.spec_path
    where = _where(path, item)
    sources = {
        s.name: generator.address.create_generated(f"{item.logical_name}.{s.name}")
        for s in item.sources
    }
    for spec in item.sources:
        if spec.version_from and spec.version_from.source not in sources:
            raise LambdaManifestError(
                f"{where}: source {spec.name!r} reads its version from"
                f" {spec.version_from.source!r}, which is not a [[lambda.source]] of this lambda"
            )
    targets: List[Target] = [
        LambdaSourceTarget(
            {**request.template, **_source_fields(spec, sources)},
            sources[spec.name],
            union_membership,
        )
        for spec in item.sources
    ]
    common: Dict[str, Any] = {
        **request.template,
        "sources": globs,
        "handler": item.handler,
        "runtime": item.runtime,
        "architecture": str(item.arch),
        "logical_name": item.logical_name,
        "hash_extra": item.key_extra,
        "lambda_at_edge": item.lambda_at_edge,
        "external_sources": [address.spec for address in sources.values()],
    }
    address = generator.address.create_generated(item.logical_name)
    if item.package_manager is PackageManager.NPM:
        assert item.package_json is not None
        lockfile = os.path.join(os.path.dirname(item.package_json), "package-lock.json")
        if item.requirements_lock and os.path.normpath(item.requirements_lock) != lockfile:
            raise LambdaManifestError(
                f"{where}: `requirements_lock` must be the package-lock.json beside"
                f" `package_json` ({lockfile}), which `npm ci` installs from"
            )
        fields = {
            **common,
            "package_json": _relative(item.package_json, base),
            "skip_symlinks": True,
        }
        target_type: type[Target] = NodeLambdaArtifactTarget
    else:
        fields = {
            **common,
            "source_dir": item.source_dir,
            **({"requirements_lock": item.lock_path} if item.lock_path else {}),
        }
        target_type = ManifestPythonLambdaTarget
    targets.append(target_type(fields, address, union_membership, residence_dir=item.source_dir))
    return targets


async def _matching_includes(base: str, all_globs: Iterable[Tuple[str, ...]]) -> Set[str]:
    """The include globs that match a file: an include pattern that matches nothing in one
    lambda (`**/*.js` in a Python one) is no mistake in a manifest, and Pants would warn."""
    includes = sorted({glob for globs in all_globs for glob in globs if not glob.startswith("!")})
    found = await MultiGet(Get(Paths, PathGlobs([os.path.join(base, g)])) for g in includes)
    return {glob for glob, paths in zip(includes, found) if paths.files}


def _used(globs: Tuple[str, ...], matching: Set[str]) -> Tuple[str, ...]:
    """`globs` without the includes that match nothing, unless none matches (Pants says so)."""
    used = tuple(glob for glob in globs if glob.startswith("!") or glob in matching)
    return used if any(not glob.startswith("!") for glob in used) else globs


@rule(desc="Reading a lambda manifest", level=LogLevel.DEBUG)
async def generate_manifest_targets(
    request: GenerateFromLambdaManifest, union_membership: UnionMembership
) -> GeneratedTargets:
    generator = request.generator
    path = generator[LambdaManifestSourceField].file_path
    (content,) = await Get(DigestContents, PathGlobs([path]))
    try:
        data = toml.loads(content.content.decode("utf-8"))
    except (toml.TomlDecodeError, UnicodeDecodeError) as error:
        raise LambdaManifestError(f"{path} is not valid TOML: {error}") from None
    try:
        lambdas = parse_manifest(data, path)
    except UserError as error:
        raise LambdaManifestError(str(error)) from None
    _check_paths_inside(data.get("lambda") or [], lambdas, path)
    for item in lambdas:
        _check_hash_extra(item, path)
    await _check_source_dirs(lambdas, path)
    base = generator.address.spec_path
    globs = {
        item.logical_name: to_pants_globs(
            _relative(item.source_dir, base),
            item.builder.include_patterns,
            item.builder.exclude_patterns,
        )
        for item in lambdas
    }
    matching = await _matching_includes(base, globs.values())
    targets = [
        target
        for item in lambdas
        for target in _lambda_targets(
            request, item, path, _used(globs[item.logical_name], matching), union_membership
        )
    ]
    addresses = [target.address for target in targets]
    clashes = sorted({str(a) for a in addresses if addresses.count(a) > 1})
    if clashes:
        raise LambdaManifestError(
            f"{path}: {clashes[0]} would be both a lambda and a source (`<logical_name>.<source"
            " name>`): rename one of them"
        )
    return GeneratedTargets(generator, targets)


# Installing a hashed requirements lock


@dataclass(frozen=True)
class HashedInstallRequest:
    address: Address
    lock_path: str
    runtime: str
    architecture: str


def _pex_failure(address: Address, what: str, stderr: bytes) -> LambdaManifestError:
    return LambdaManifestError(f"{what} for {address} failed:\n{stderr.decode(errors='replace')}")


async def _lock_pins(
    pins: tuple[str, ...],
    platforms: CompletePlatforms,
    repos: tuple[str, ...],
    only_binary: tuple[str, ...],
    what: str,
) -> FallibleProcessResult:
    return await Get(
        FallibleProcessResult,
        LambdaPexProcess(
            subcommand=LOCK_CREATE,
            args=lock_wheels_args(
                "lock.json",
                platforms,
                pins,
                repos=repos,
                intransitive=True,
                only_binary=only_binary,
            ),
            input_digest=platforms.digest,
            output_files=("lock.json",),
            description=f"Locking {what}",
        ),
    )


async def _with_sdists_built(
    request: HashedInstallRequest,
    lock_file: FileContent,
    lock: Digest,
    sdists: list[LockedSdist],
    platforms: CompletePlatforms,
    repos: tuple[str, ...],
    host: Platform,
) -> Digest:
    """The lock with its sdists pinned to the wheels built from them (`with_wheels_built`), each
    sdist downloaded by pex first for its size, which the lock does not record."""
    download = await Get(
        DownloadedSdists,
        SdistDownload(
            lock,
            lock_file.path,
            tuple(s.pin for s in sdists),
            platforms,
            repos,
            platform_name(request.runtime, request.architecture),
        ),
    )
    sizes = {
        entry.path: entry.file_digest.serialized_bytes_length
        for entry in await Get(DigestEntries, Digest, download.digest)
        if isinstance(entry, FileEntry)
    }
    return await with_wheels_built(
        lock_file.content,
        lock_file.path,
        tuple(SdistPin(s.pin, s.url, s.sha256, sizes[s.filename], ()) for s in sdists),
        (None,) * len(sdists),
        request.runtime,
        request.architecture,
        platforms,
        host,
    )


@rule(desc="Installing a manifest lambda's hashed requirements", level=LogLevel.DEBUG)
async def install_hashed_requirements(
    request: HashedInstallRequest,
    repos: PythonRepos,
    lambda_lock: LambdaLockSubsystem,
    host: Platform,
) -> Digest:
    """Lock the file's pins for the platform (nothing else; wheels, or an sdist where a pin has
    no wheel for it and `[lambda-lock].only_binary` allows), check every locked file's sha256
    against the file, build the sdists' wheels, and install exactly that lock: pex verifies each
    download against it."""
    address, path = request.address, request.lock_path
    contents = await Get(
        DigestContents,
        PathGlobs([path], glob_match_error_behavior=GlobMatchErrorBehavior.ignore),
    )
    if not contents:
        raise LambdaManifestError(
            f"{address}: its `requirements_lock` {path} does not exist: create it with"
            " `pants lambda-lock` (or `uv pip compile --generate-hashes`)"
        )
    try:
        requirements = parse_hashed_requirements(contents[0].content.decode("utf-8"), path)
    except (UserError, UnicodeDecodeError) as error:
        raise LambdaManifestError(f"{address}: {error}") from None
    if not requirements:
        return EMPTY_DIGEST
    platforms = await Get(
        CompletePlatforms, LambdaPlatformRequest(request.runtime, request.architecture)
    )
    platform = platform_name(request.runtime, request.architecture)
    repos_args = index_args(repos.indexes, repos.find_links)
    pins = tuple(requirement.pin for requirement in requirements)
    # wheels only first; where a pin has none for the platform, its sdist, unless refused
    locked = await _lock_pins(pins, platforms, repos_args, ("*",), f"{path} for {platform}")
    if locked.exit_code != 0 and not refuses(lambda_lock.only_binary, "*"):
        only_binary = lambda_lock.only_binary
        locked = await _lock_pins(
            pins, platforms, repos_args, only_binary, f"{path} for {platform}"
        )
    if locked.exit_code != 0:
        raise _pex_failure(address, f"Locking {path} for {platform}", locked.stderr)
    (lock_file,) = await Get(DigestContents, Digest, locked.output_digest)
    lock = json.loads(lock_file.content)
    try:
        check_locked_wheels(requirements, lock, path)
    except UserError as error:
        raise LambdaManifestError(f"{address}: {error}") from None
    lock_digest, options = locked.output_digest, repos_args
    sdists = locked_sdists(lock)
    if sdists:
        lock_digest = await _with_sdists_built(
            request, lock_file, locked.output_digest, sdists, platforms, repos_args, host
        )
        options = (*repos_args, BUILT_WHEELS_MAPPING)
    input_digest = await Get(Digest, MergeDigests([lock_digest, platforms.digest]))
    installed = await Get(
        FallibleProcessResult,
        LambdaPexProcess(
            subcommand=VENV_CREATE,
            args=venv_flat_args(
                SITE_PACKAGES, "lock.json", complete_platforms=platforms, options=options
            ),
            input_digest=input_digest,
            output_directories=(SITE_PACKAGES,),
            description=f"Installing {path} for {platform}",
        ),
    )
    if installed.exit_code != 0:
        raise _pex_failure(address, f"Installing {path} for {platform}", installed.stderr)
    return installed.output_digest


# Packaging pip lambdas


@dataclass(frozen=True)
class ManifestPythonLambdaFieldSet(PackageFieldSet, BatchedLambdaFieldSet):
    required_fields = (ManifestHandlerField, ManifestSourceDirField)

    sources: ManifestSourcesField
    source_dir: ManifestSourceDirField
    handler: ManifestHandlerField
    requirements_lock: ManifestRequirementsLockField


@rule(desc="Prepare a manifest lambda", level=LogLevel.DEBUG)
async def prepare_manifest_python_lambda(
    field_set: ManifestPythonLambdaFieldSet, build_root: BuildRoot
) -> PreparedLambda:
    address = field_set.address
    name = await Get(LogicalName, LogicalNameRequest(address, field_set.logical_name))
    await Get(RuntimeLifecycle, RuntimeLifecycleRequest(address, field_set.runtime.value))
    sources = await Get(SourceFiles, SourceFilesRequest([field_set.sources]))
    source_dir = field_set.source_dir.value
    kept = await without_symlinks(address, sources, source_dir, build_root)
    stripped = await Get(Digest, RemovePrefix(kept, source_dir))
    prefixed = await Get(Digest, AddPrefix(stripped, FIRST_PARTY))
    external = await Get(
        ExternalSources, ExternalSourcesRequest(address, field_set.external_sources)
    )
    site_packages = EMPTY_DIGEST
    if field_set.requirements_lock.value:
        site_packages = await Get(
            Digest,
            HashedInstallRequest(
                address,
                field_set.requirements_lock.value,
                field_set.runtime.value,
                field_set.architecture.value,
            ),
        )
    payload = await Get(Digest, MergeDigests([prefixed, external.digest]))
    request = PackLambdaRequest(
        address,
        zip_path=field_set.output_path.value_or_default(file_ending="zip"),
        spec=field_set.pack_spec(name.value, field_set.handler.value),
        payload=payload,
        has_sources=True,
        site_packages=site_packages,
        external_roots=external.roots,
    )
    return PreparedLambda(request)


@rule(desc="Package a manifest lambda", level=LogLevel.DEBUG)
async def package_manifest_python_lambda(field_set: ManifestPythonLambdaFieldSet) -> BuiltPackage:
    prepared = await Get(PreparedLambda, ManifestPythonLambdaFieldSet, field_set)
    packed = await Get(PackedLambda, PackInBatch(field_set, prepared))
    return BuiltPackage(packed.digest, (packed.artifact(),))


def rules():
    return (
        *collect_rules(),
        UnionRule(GenerateTargetsRequest, GenerateFromLambdaManifest),
        UnionRule(PackageFieldSet, ManifestPythonLambdaFieldSet),
        UnionRule(BatchedLambdaFieldSet, ManifestPythonLambdaFieldSet),
    )
