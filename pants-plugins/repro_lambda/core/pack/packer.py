"""Pack one job (`PackJob`): input directories into a deterministic Lambda zip and its metadata.

Its command line is for debugging: the plugin runs `pack_batch` with a JSON batch of jobs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from repro_lambda.core.contract import (
    ERROR_PREFIX,
    USER_ERROR_EXIT_CODE,
    WARNING_PREFIX,
    Architecture,
    ArtifactMetadata,
    LayerArtifact,
    LayerDist,
    PackJob,
    PackSpec,
    Section,
    ToolArgumentParser,
    UserError,
    report_user_error,
)
from repro_lambda.core.pack.compile_check import check_compiles
from repro_lambda.core.pack.handler import check_handler, check_node_handler
from repro_lambda.core.pack.import_check import check_imports, layer_paths
from repro_lambda.core.pack.layer_dists import excluded_archive_paths
from repro_lambda.core.pack.limits import check_unzipped_size, direct_upload_warning
from repro_lambda.core.pack.metadata import build_metadata, validate_key_parts
from repro_lambda.core.pack.native import check_external_binaries, check_native_binaries
from repro_lambda.core.pack.pyc import select_bytecode
from repro_lambda.core.pack.tree import InputRoot, collect_tree, load_entries
from repro_lambda.core.pack.zip_writer import CompressionMemo, build_zip, name_collision_warnings
from repro_lambda.core.runtimes import BY_NAME


@dataclass(frozen=True)
class PackResult:
    """The metadata written next to the zip and the warnings to show the user."""

    metadata: ArtifactMetadata
    warnings: tuple[str, ...]


def pack(job: PackJob, memo: CompressionMemo | None = None) -> PackResult:
    """Build the zip and metadata files of `job`; raise UserError on a user error."""
    spec = job.spec
    _check_spec(spec)
    sources = _paths(job.sources)
    bytecode = _paths(job.bytecode)
    external = _paths(job.external)
    roots = [InputRoot(path, third_party=False) for path in sources]
    roots += [
        InputRoot(path, third_party=True, archive_prefix=spec.site_packages_prefix.strip("/"))
        for path in _paths(job.site_packages)
    ]
    roots += [InputRoot(path, third_party=False, bytecode=True) for path in bytecode]
    roots += [InputRoot(path, third_party=False) for path in external]
    excluded = {
        root.path: excluded_archive_paths(root.path, root.archive_prefix, spec.layer_dists)
        for root in roots
        if root.third_party
    }
    tree = collect_tree(roots, _executables(job.executables))
    files = [file for file in tree.files if file.archive_path not in excluded.get(file.root, ())]
    if not tree.files:
        raise UserError("no files to pack: the input directories are empty")
    if not files:
        raise UserError("no files to pack: the layers provide every file of the input directories")
    version = BY_NAME[spec.runtime].python_version
    if bytecode and version:
        files = select_bytecode(files, bytecode, version)
    first_party = {f.archive_path: f.source for f in files if f.root in sources}
    check_external_binaries(
        {f.archive_path: f.source for f in files if f.root in external}, spec.architecture
    )
    if version is None:
        compile_warnings = []
        if spec.handler is not None:
            check_node_handler(spec.handler, first_party)
        check_native_binaries({f.archive_path: f.source for f in files}, spec.architecture)
    else:
        compiled = check_compiles(first_party, version)
        compile_warnings = compiled.warnings
        if spec.handler is not None:
            check_handler(spec.handler, first_party)
            # what the function's layers provide is left out of `files`, but it is there in Lambda
            third_party = [
                f.archive_path
                for f in tree.files
                if f.root not in sources and f.root not in bytecode
            ]
            third_party += _layer_paths(_paths(job.layer_zips), version)
            check_imports(compiled.trees, first_party, third_party, version, spec.runtime_provides)
    check_unzipped_size(sum(file.size for file in files), spec.layers_unzipped_size)
    entries = load_entries(files)
    zip_bytes = build_zip(entries, comment=spec.hash_extra.encode("utf-8"), memo=memo)
    metadata = build_metadata(
        zip_bytes,
        spec=spec,
        entry_count=len(entries),
        uncompressed_size=sum(len(entry.data) for entry in entries),
    )
    _write_file(Path(job.output), zip_bytes)
    _write_file(Path(job.metadata), metadata.render().encode("ascii"))
    upload_warning = direct_upload_warning(len(zip_bytes))
    warnings = [
        *tree.warnings,
        *compile_warnings,
        *name_collision_warnings(entry.path for entry in entries),
        *([upload_warning] if upload_warning else []),
    ]
    return PackResult(metadata=metadata, warnings=tuple(warnings))


def _check_spec(spec: PackSpec) -> None:
    """Raise UserError unless the spec names a runtime and architecture we build for, and its
    names, keys and sizes are well formed."""
    if spec.runtime not in BY_NAME:
        raise UserError(f"unknown runtime {spec.runtime!r}: use one of {', '.join(BY_NAME)}")
    architectures = [architecture.value for architecture in Architecture]
    if spec.architecture not in architectures:
        raise UserError(
            f"unknown architecture {spec.architecture!r}: use one of {', '.join(architectures)}"
        )
    if spec.layers_unzipped_size < 0:
        raise UserError("the layers' unzipped size must not be negative")
    validate_key_parts(spec.logical_name, spec.key_prefix)
    for layer in spec.layer_artifacts:
        layer.check()


def _paths(roots: Sequence[str]) -> tuple[Path, ...]:
    return tuple(Path(root) for root in roots)


def _executables(path: str | None) -> frozenset[str] | None:
    if path is None:
        return None
    return frozenset(Path(path).read_text(encoding="utf-8").splitlines())


def _layer_paths(layer_zips: Sequence[Path], version: tuple[int, int]) -> list[str]:
    """The importable paths of the function's layers."""
    import zipfile  # slow to import, and only functions with layers need it

    paths: list[str] = []
    for layer_zip in layer_zips:
        with zipfile.ZipFile(layer_zip) as archive:
            paths += layer_paths(archive.namelist(), version)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Run the packer CLI; return 0 on success and 2 after printing one `error:` line."""
    try:
        job = _parse_job(argv)
    except UserError as error:
        return report_user_error(error)
    code, messages = run(job)
    for message in messages:
        print(message, file=sys.stderr)
    return code


def run(job: PackJob, memo: CompressionMemo | None = None) -> tuple[int, list[str]]:
    """Pack `job`: the exit code, and the `error:` or `warning:` lines to report."""
    try:
        result = pack(job, memo)
    except (UserError, OSError) as error:
        return USER_ERROR_EXIT_CODE, [f"{ERROR_PREFIX}{error}"]
    return 0, [f"{WARNING_PREFIX}{warning}" for warning in result.warnings]


def _parse_job(argv: Sequence[str] | None) -> PackJob:
    parser = ToolArgumentParser(prog="python -m repro_lambda.core.pack.packer", description=__doc__)
    parser.add_argument("--output", required=True, help="zip file to write")
    parser.add_argument("--metadata", required=True, help="JSON metadata file to write")
    parser.add_argument("--logical-name", required=True, help="name of the function or layer")
    parser.add_argument("--runtime", required=True, help="Lambda runtime, e.g. python3.11")
    parser.add_argument("--architecture", required=True, help="x86_64 or arm64")
    parser.add_argument("--handler", help="Lambda handler, e.g. app.handler (none for a layer)")
    parser.add_argument("--hash-extra", default="", help="text stored as the zip comment")
    parser.add_argument("--key-prefix", default=Section.LAMBDAS.value, help="S3 key prefix")
    parser.add_argument("--site-packages-prefix", default="", help="archive directory of installs")
    parser.add_argument(
        "--layer-dist",
        nargs=3,
        action="append",
        default=[],
        metavar=("LAYER", "NAME", "VERSION"),
        help="a distribution a layer of the function provides, left out of the zip",
    )
    parser.add_argument(
        "--layer-artifact",
        nargs=3,
        action="append",
        default=[],
        metavar=("NAME", "SHA256", "KEY"),
        help="a layer zip the function is built against, recorded in its metadata",
    )
    parser.add_argument("--layers-unzipped-size", type=int, default=0)
    parser.add_argument("--runtime-provides", action="append", default=[], metavar="MODULE")
    for root in ("sources", "site-packages", "bytecode", "external", "layer-zip"):
        parser.add_argument(f"--{root}", action="append", default=[], help="an input root")
    parser.add_argument("--executables", help="a file naming the executable input files")
    args = parser.parse_args(argv)
    spec = PackSpec(
        logical_name=args.logical_name,
        runtime=args.runtime,
        architecture=args.architecture,
        handler=args.handler,
        hash_extra=args.hash_extra,
        key_prefix=args.key_prefix,
        site_packages_prefix=args.site_packages_prefix,
        layer_dists=tuple(LayerDist(*values) for values in args.layer_dist),
        layer_artifacts=tuple(LayerArtifact(*values) for values in args.layer_artifact),
        layers_unzipped_size=args.layers_unzipped_size,
        runtime_provides=tuple(args.runtime_provides),
    )
    return PackJob(
        spec=spec,
        output=args.output,
        metadata=args.metadata,
        sources=tuple(args.sources),
        site_packages=tuple(args.site_packages),
        bytecode=tuple(args.bytecode),
        external=tuple(args.external),
        layer_zips=tuple(args.layer_zip),
        executables=args.executables,
    )


def _write_file(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


if __name__ == "__main__":
    sys.exit(main())
