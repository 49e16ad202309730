"""Command-line entry point: pack input directories into a deterministic Lambda zip and its
metadata.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repro_lambda.core.compile_check import check_compiles
from repro_lambda.core.contract import (
    ERROR_PREFIX,
    USER_ERROR_EXIT_CODE,
    WARNING_PREFIX,
    Architecture,
    Section,
    ToolArgumentParser,
    UserError,
)
from repro_lambda.core.handler import check_handler, check_node_handler
from repro_lambda.core.import_check import check_imports, layer_paths
from repro_lambda.core.layer_dists import (
    LayerDist,
    excluded_archive_paths,
    parse_layer_artifact,
    parse_layer_dist,
)
from repro_lambda.core.limits import check_unzipped_size, direct_upload_warning
from repro_lambda.core.metadata import build_metadata, render_metadata, validate_key_parts
from repro_lambda.core.native import check_external_binaries, check_native_binaries
from repro_lambda.core.pyc import select_bytecode
from repro_lambda.core.runtimes import BY_NAME
from repro_lambda.core.tree import InputRoot, collect_tree, load_entries
from repro_lambda.core.zip_writer import CompressionMemo, build_zip, name_collision_warnings


@dataclass(frozen=True)
class PackRequest:
    """Everything that determines one packed artifact and where to write it."""

    output: Path
    metadata: Path
    logical_name: str
    runtime: str
    architecture: str
    handler: str | None
    sources: tuple[Path, ...] = ()
    site_packages: tuple[Path, ...] = ()
    site_packages_prefix: str = ""
    hash_extra: str = ""
    key_prefix: str = Section.LAMBDAS.value
    layer_dists: tuple[LayerDist, ...] = ()
    layer_artifacts: tuple[dict[str, str], ...] = ()
    layers_unzipped_size: int = 0
    runtime_provides: tuple[str, ...] = ()
    layer_zips: tuple[Path, ...] = ()
    bytecode: tuple[Path, ...] = ()
    external: tuple[Path, ...] = ()
    executables: frozenset[str] | None = None


@dataclass(frozen=True)
class PackResult:
    """The metadata written next to the zip and the warnings to show the user."""

    metadata: dict[str, Any]
    warnings: tuple[str, ...]


def pack(request: PackRequest, memo: CompressionMemo | None = None) -> PackResult:
    """Build the zip and metadata files for `request`; raise UserError on a user error."""
    validate_key_parts(request.logical_name, request.key_prefix)
    roots = [InputRoot(path, third_party=False) for path in request.sources]
    roots += [
        InputRoot(path, third_party=True, archive_prefix=request.site_packages_prefix)
        for path in request.site_packages
    ]
    roots += [InputRoot(path, third_party=False, bytecode=True) for path in request.bytecode]
    roots += [InputRoot(path, third_party=False) for path in request.external]
    excluded = {
        root.path: excluded_archive_paths(root.path, root.archive_prefix, request.layer_dists)
        for root in roots
        if root.third_party
    }
    tree = collect_tree(roots, request.executables)
    files = [file for file in tree.files if file.archive_path not in excluded.get(file.root, ())]
    if not tree.files:
        raise UserError("no files to pack: the input directories are empty")
    if not files:
        raise UserError("no files to pack: the layers provide every file of the input directories")
    version = BY_NAME[request.runtime].python_version
    if request.bytecode and version:
        files = select_bytecode(files, request.bytecode, version)
    first_party = {f.archive_path: f.source for f in files if f.root in request.sources}
    external = {f.archive_path: f.source for f in files if f.root in request.external}
    check_external_binaries(external, request.architecture)
    if version is None:
        compile_warnings = []
        if request.handler is not None:
            check_node_handler(request.handler, first_party)
        check_native_binaries({f.archive_path: f.source for f in files}, request.architecture)
    else:
        compiled = check_compiles(first_party, version)
        compile_warnings = compiled.warnings
        if request.handler is not None:
            check_handler(request.handler, first_party)
            # what the function's layers provide is left out of `files`, but it is there in Lambda
            third_party = [
                f.archive_path
                for f in tree.files
                if f.root not in request.sources and f.root not in request.bytecode
            ]
            third_party += _layer_paths(request.layer_zips, version)
            check_imports(
                compiled.trees, first_party, third_party, version, request.runtime_provides
            )
    check_unzipped_size(sum(file.size for file in files), request.layers_unzipped_size)
    entries = load_entries(files)
    zip_bytes = build_zip(entries, comment=request.hash_extra.encode("utf-8"), memo=memo)
    metadata = build_metadata(
        zip_bytes,
        logical_name=request.logical_name,
        runtime=request.runtime,
        architecture=request.architecture,
        handler=request.handler,
        entry_count=len(entries),
        uncompressed_size=sum(len(entry.data) for entry in entries),
        key_prefix=request.key_prefix,
        layers=None if request.handler is None else request.layer_artifacts,
    )
    _write_file(request.output, zip_bytes)
    _write_file(request.metadata, render_metadata(metadata).encode("ascii"))
    upload_warning = direct_upload_warning(len(zip_bytes))
    warnings = [
        *tree.warnings,
        *compile_warnings,
        *name_collision_warnings(entry.path for entry in entries),
        *([upload_warning] if upload_warning else []),
    ]
    return PackResult(metadata=metadata, warnings=tuple(warnings))


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
    code, messages = run(argv)
    for message in messages:
        print(message, file=sys.stderr)
    return code


def run(argv: Sequence[str] | None, memo: CompressionMemo | None = None) -> tuple[int, list[str]]:
    """Pack as the command line `argv` says: the exit code, and the `error:` or `warning:` lines
    to report."""
    try:
        result = pack(_parse_request(argv), memo)
    except (UserError, OSError) as error:
        return USER_ERROR_EXIT_CODE, [f"{ERROR_PREFIX}{error}"]
    return 0, [f"{WARNING_PREFIX}{warning}" for warning in result.warnings]


def _parse_request(argv: Sequence[str] | None) -> PackRequest:
    parser = ToolArgumentParser(prog="python -m repro_lambda.core.pack", description=__doc__)
    parser.add_argument("--output", type=Path, required=True, help="zip file to write")
    parser.add_argument("--metadata", type=Path, required=True, help="JSON metadata file to write")
    parser.add_argument("--logical-name", required=True, help="name of the function or layer")
    parser.add_argument(
        "--runtime", required=True, choices=BY_NAME, help="Lambda runtime, e.g. python3.11"
    )
    parser.add_argument(
        "--architecture",
        required=True,
        choices=[architecture.value for architecture in Architecture],
    )
    parser.add_argument("--handler", help="Lambda handler, e.g. app.handler (none for a layer)")
    parser.add_argument(
        "--hash-extra", default="", help="text stored as the zip comment, changing its hash"
    )
    parser.add_argument(
        "--key-prefix", default=Section.LAMBDAS.value, help="S3 key prefix (default: %(default)s)"
    )
    parser.add_argument(
        "--sources", type=Path, action="append", default=[], help="first-party root"
    )
    parser.add_argument(
        "--site-packages", type=Path, action="append", default=[], help="third-party root"
    )
    parser.add_argument(
        "--site-packages-prefix", default="", help="archive directory of the third-party roots"
    )
    parser.add_argument(
        "--layer-dist",
        action="append",
        default=[],
        metavar="LAYER:NAME==VERSION",
        help="a distribution a layer of the function provides, left out of the zip",
    )
    parser.add_argument(
        "--layer-artifact",
        action="append",
        default=[],
        metavar="NAME=SHA256=KEY",
        help="a layer zip the function is built against, recorded in its metadata",
    )
    parser.add_argument(
        "--layers-unzipped-size",
        type=int,
        default=0,
        help="unzipped bytes of the function's layers",
    )
    parser.add_argument(
        "--layer-zip",
        type=Path,
        action="append",
        default=[],
        help="a layer zip of the function, whose modules its imports may use",
    )
    parser.add_argument(
        "--bytecode",
        type=Path,
        action="append",
        default=[],
        help="a root of hash-based bytecode of the packed modules, in `__pycache__/` directories",
    )
    parser.add_argument(
        "--external",
        type=Path,
        action="append",
        default=[],
        help="a root of staged external sources, each file at its archive path",
    )
    parser.add_argument(
        "--executables",
        type=Path,
        help="a file naming the input files that are executable, one path a line (default: the"
        " files with an x bit)",
    )
    parser.add_argument(
        "--runtime-provides",
        action="append",
        default=[],
        metavar="MODULE",
        help="a top-level module the function imports from the runtime, such as boto3",
    )
    args = parser.parse_args(argv)
    if args.layers_unzipped_size < 0:
        parser.error("--layers-unzipped-size must not be negative")
    return PackRequest(
        output=args.output,
        metadata=args.metadata,
        logical_name=args.logical_name,
        runtime=args.runtime,
        architecture=args.architecture,
        handler=args.handler,
        sources=tuple(args.sources),
        site_packages=tuple(args.site_packages),
        site_packages_prefix=args.site_packages_prefix.strip("/"),
        hash_extra=args.hash_extra,
        key_prefix=args.key_prefix,
        layer_dists=tuple(parse_layer_dist(value) for value in args.layer_dist),
        layer_artifacts=tuple(parse_layer_artifact(value) for value in args.layer_artifact),
        layers_unzipped_size=args.layers_unzipped_size,
        runtime_provides=tuple(args.runtime_provides),
        layer_zips=tuple(args.layer_zip),
        bytecode=tuple(args.bytecode),
        external=tuple(args.external),
        executables=(
            frozenset(args.executables.read_text(encoding="utf-8").splitlines())
            if args.executables
            else None
        ),
    )


def _write_file(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


if __name__ == "__main__":
    sys.exit(main())
