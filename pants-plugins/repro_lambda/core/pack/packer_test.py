"""End-to-end tests of the packer CLI: determinism, outputs, warnings and user errors."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repro_lambda.core.pack import limits
from repro_lambda.core.pack.packer import main

PLUGINS_DIR = Path(__file__).resolve().parents[3]
COMMON_ARGS = [
    "--logical-name",
    "orders",
    "--runtime",
    "python3.11",
    "--architecture",
    "x86_64",
    "--handler",
    "app.h",
]


def write(path: Path, content: bytes = b"x", mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    path.chmod(mode)


def make_project(base: Path) -> tuple[Path, Path]:
    sources, site = base / "sources", base / "site-packages"
    write(sources / "app.py", b"def h(event, context):\n    return 1\n")
    write(sources / "scripts/run.sh", b"#!/bin/sh\n", mode=0o755)
    write(site / "dep/__init__.py", b"VALUE = 1\n" * 50)
    write(site / "dep-1.0.dist-info/METADATA", b"Name: dep\n")
    write(site / "dep-1.0.dist-info/RECORD", b"dep/__init__.py,sha256=...\n")
    return sources, site


def run_main(
    base: Path, *extra: str, roots: tuple[Path, Path] | None = None
) -> tuple[int, bytes, dict[str, object]]:
    sources, site = roots or make_project(base)
    args = [
        "--output",
        str(base / "out/fn.zip"),
        "--metadata",
        str(base / "out/fn.json"),
        *COMMON_ARGS,
    ]
    code = main([*args, "--sources", str(sources), "--site-packages", str(site), *extra])
    if code:
        return code, b"", {}
    return code, (base / "out/fn.zip").read_bytes(), json.loads((base / "out/fn.json").read_text())


def test_writes_zip_and_matching_metadata(tmp_path: Path) -> None:
    code, zip_bytes, metadata = run_main(tmp_path)
    assert code == 0
    archive = zipfile.ZipFile(io.BytesIO(zip_bytes))
    assert archive.testzip() is None
    assert archive.namelist() == [
        "app.py",
        "dep-1.0.dist-info/METADATA",
        "dep/__init__.py",
        "scripts/run.sh",
    ]
    assert archive.getinfo("scripts/run.sh").external_attr >> 16 == 0o100755
    assert archive.comment == b""
    digest = hashlib.sha256(zip_bytes)
    assert metadata == {
        "logical_name": "orders",
        "sha256": digest.hexdigest(),
        "code_sha256": base64.b64encode(digest.digest()).decode(),
        "size": len(zip_bytes),
        "uncompressed_size": sum(info.file_size for info in archive.infolist()),
        "runtime": "python3.11",
        "architecture": "x86_64",
        "handler": "app.h",
        "entry_count": 4,
        "s3_key": f"lambdas/orders/{digest.hexdigest()}.zip",
        "layers": [],
    }


HASH_BASED_PYC = b"\xcb\r\r\n\x01\x00\x00\x00" + bytes(8)


def test_bytecode_of_packed_modules_is_kept(tmp_path: Path) -> None:
    """Only the runtime's (3.11) bytecode of modules in the zip is packed."""
    bytecode = tmp_path / "bytecode"
    for name in (
        "__pycache__/app.cpython-311.pyc",
        "dep/__pycache__/__init__.cpython-311.pyc",
        "dep/__pycache__/gone.cpython-311.pyc",
    ):
        write(bytecode / name, HASH_BASED_PYC)
    code, zip_bytes, _ = run_main(tmp_path, "--bytecode", str(bytecode))
    assert code == 0
    assert zipfile.ZipFile(io.BytesIO(zip_bytes)).namelist() == [
        "__pycache__/app.cpython-311.pyc",
        "app.py",
        "dep-1.0.dist-info/METADATA",
        "dep/__init__.py",
        "dep/__pycache__/__init__.cpython-311.pyc",
        "scripts/run.sh",
    ]


@pytest.mark.parametrize(
    "name, content, problem",
    [
        ("__pycache__/app.cpython-312.pyc", HASH_BASED_PYC, "is not bytecode of Python 3.11"),
        ("app.pyc", HASH_BASED_PYC, "is not bytecode of Python 3.11"),
        ("__pycache__/app.cpython-311.pyc", bytes(16), "is not hash-based bytecode"),
    ],
)
def test_bytecode_that_is_not_the_runtimes_hash_based_bytecode_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes, problem: str
) -> None:
    write(tmp_path / "bytecode" / name, content)
    code, _, _ = run_main(tmp_path, "--bytecode", str(tmp_path / "bytecode"))
    assert code == 2
    assert_one_error_line(capsys, f"{name!r} {problem}")


def test_metadata_records_the_layer_zips_the_function_is_built_against(tmp_path: Path) -> None:
    sha = {name: hashlib.sha256(name.encode()).hexdigest() for name in ("b", "a")}
    layers = [
        ("--layer-artifact", name, sha[name], f"layers/{name}/{sha[name]}.zip") for name in sha
    ]
    plain = run_main(tmp_path / "plain")
    code, zip_bytes, metadata = run_main(
        tmp_path / "layered", *(a for layer in layers for a in layer)
    )
    assert (code, zip_bytes) == (0, plain[1])
    assert metadata["layers"] == [
        {"logical_name": name, "sha256": sha[name], "s3_key": f"layers/{name}/{sha[name]}.zip"}
        for name in ("a", "b")
    ]


def test_bad_layer_artifact_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(tmp_path, "--layer-artifact", "science", "abc", "layers/x.zip")[0] == 2
    assert_one_error_line(capsys, "invalid layer artifact science=abc=layers/x.zip")


def test_layer_without_handler_under_a_site_packages_prefix(tmp_path: Path) -> None:
    """A layer: no handler or first-party sources; wheels in python/lib/pythonX.Y/site-packages."""
    _, site = make_project(tmp_path)
    args = ["--output", str(tmp_path / "out/l.zip"), "--metadata", str(tmp_path / "out/l.json")]
    args += [
        "--logical-name",
        "sci-python3.11-x86_64",
        "--runtime",
        "python3.11",
        "--architecture",
        "x86_64",
    ]
    args += ["--key-prefix", "layers", "--site-packages", str(site)]
    assert main([*args, "--site-packages-prefix", "python/lib/python3.11/site-packages/"]) == 0
    names = zipfile.ZipFile(tmp_path / "out/l.zip").namelist()
    assert names == [
        "python/lib/python3.11/site-packages/dep-1.0.dist-info/METADATA",
        "python/lib/python3.11/site-packages/dep/__init__.py",
    ]
    metadata = json.loads((tmp_path / "out/l.json").read_text())
    assert metadata["handler"] is None
    assert metadata["s3_key"].startswith("layers/sci-python3.11-x86_64/")


def test_hash_extra_is_the_comment_and_changes_the_hash(tmp_path: Path) -> None:
    roots = make_project(tmp_path)
    _, _, plain_metadata = run_main(tmp_path, roots=roots)
    _, extra, extra_metadata = run_main(tmp_path, "--hash-extra", "salt-ü", roots=roots)
    assert zipfile.ZipFile(io.BytesIO(extra)).comment == "salt-ü".encode()
    assert extra_metadata["sha256"] == hashlib.sha256(extra).hexdigest() != plain_metadata["sha256"]


def test_key_prefix_option(tmp_path: Path) -> None:
    _, _, metadata = run_main(tmp_path, "--key-prefix", "layers")
    assert metadata["s3_key"] == f"layers/orders/{metadata['sha256']}.zip"


def test_root_order_does_not_matter(tmp_path: Path) -> None:
    write(tmp_path / "a/app.py", b"def h(event, context):\n    return 1\n")
    write(tmp_path / "b/two.py")
    outputs = []
    for first, second in (("a", "b"), ("b", "a")):
        args = [
            "--output",
            str(tmp_path / "o.zip"),
            "--metadata",
            str(tmp_path / "o.json"),
            *COMMON_ARGS,
        ]
        assert (
            main([*args, "--sources", str(tmp_path / first), "--sources", str(tmp_path / second)])
            == 0
        )
        outputs.append((tmp_path / "o.zip").read_bytes())
    assert outputs[0] == outputs[1]


def test_symlink_warning_goes_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sources, site = make_project(tmp_path)
    (sources / "link.py").symlink_to(sources / "app.py")
    assert run_main(tmp_path, roots=(sources, site))[0] == 0
    assert capsys.readouterr().err.startswith("warning: skipped symlink 'link.py'")


def test_large_zip_warns_about_direct_upload(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "DIRECT_UPLOAD_LIMIT", 10)
    assert run_main(tmp_path)[0] == 0
    assert "direct upload limit; publish via S3" in capsys.readouterr().err


def test_case_collision_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sources, site = make_project(tmp_path)
    write(sources / "App.py")
    assert run_main(tmp_path, roots=(sources, site))[0] == 0
    assert capsys.readouterr().err == (
        "warning: archive paths 'App.py', 'app.py' are one name on case-insensitive or"
        " Unicode-normalising file systems: rename all but one\n"
    )


def assert_one_error_line(capsys: pytest.CaptureFixture[str], *fragments: str) -> None:
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("error: ")
    for fragment in fragments:
        assert fragment in captured.err


def test_duplicate_path_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources, site = make_project(tmp_path)
    write(site / "app.py")
    assert run_main(tmp_path, roots=(sources, site))[0] == 2
    assert_one_error_line(capsys, "'app.py' is provided by both", str(sources), str(site))


def test_too_large_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "LAMBDA_UNZIPPED_LIMIT", 100)
    assert run_main(tmp_path)[0] == 2
    assert_one_error_line(capsys, "over the AWS Lambda limit of 100 bytes", "layers")
    assert not (tmp_path / "out/fn.zip").exists()


def test_bad_path_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sources, site = make_project(tmp_path)
    write(sources / "windows\\style.py")
    assert run_main(tmp_path, roots=(sources, site))[0] == 2
    assert_one_error_line(capsys, "backslashes are not allowed")


def test_module_that_does_not_compile_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources, site = make_project(tmp_path)
    write(sources / "broken.py", b"def f(:\n")
    assert run_main(tmp_path, roots=(sources, site))[0] == 2
    assert_one_error_line(capsys, "broken.py:1: ", "the runtime's): fix the module")


def test_control_character_in_a_file_name_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources, site = make_project(tmp_path)
    write(sources / "new\nline.py")
    assert run_main(tmp_path, roots=(sources, site))[0] == 2
    assert capsys.readouterr().err == (
        "error: invalid archive path 'new\\nline.py': control character U+000A is not allowed\n"
    )


def test_bad_arguments_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--output", str(tmp_path / "o.zip")]) == 2
    assert_one_error_line(capsys, "required")


def test_empty_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    args = [
        "--output",
        str(tmp_path / "o.zip"),
        "--metadata",
        str(tmp_path / "o.json"),
        *COMMON_ARGS,
    ]
    assert main([*args, "--sources", str(tmp_path / "empty")]) == 2
    assert_one_error_line(capsys, "no files to pack")


def run_module(
    cwd: Path, env_overrides: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PLUGINS_DIR), **env_overrides}
    command = [sys.executable, "-m", "repro_lambda.core.pack.packer", *COMMON_ARGS, *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def test_module_cli_ignores_cwd_tz_and_locale(tmp_path: Path) -> None:
    project = tmp_path / "project"
    make_project(project)
    relative = [
        "--sources",
        "sources",
        "--site-packages",
        "site-packages",
        "--output",
        "o.zip",
        "--metadata",
        "o.json",
    ]
    absolute = [
        *("--sources", str(project / "sources"), "--site-packages", str(project / "site-packages")),
        *("--output", str(tmp_path / "second.zip"), "--metadata", str(tmp_path / "second.json")),
    ]
    first = run_module(project, {"TZ": "UTC", "LC_ALL": "C"}, *relative)
    second = run_module(tmp_path, {"TZ": "Pacific/Chatham", "LC_ALL": "C.UTF-8"}, *absolute)
    assert (first.returncode, first.stderr, second.returncode, second.stderr) == (0, "", 0, "")
    assert (project / "o.zip").read_bytes() == (tmp_path / "second.zip").read_bytes()
    assert (project / "o.json").read_bytes() == (tmp_path / "second.json").read_bytes()


def test_module_cli_user_error_has_no_traceback(tmp_path: Path) -> None:
    result = run_module(
        tmp_path, {}, "--output", "o.zip", "--metadata", "o.json", "--sources", "missing"
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: input directory 'missing' does not exist")
    assert result.stderr.count("\n") == 1


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


FileSpec = tuple[int, bytes, bool]
"""Root index, content and executable flag of one generated file."""

file_names = st.text(alphabet="abz_é", min_size=1, max_size=5).map(lambda name: f"f_{name}.txt")
file_paths = st.tuples(st.sampled_from(["", "pkg/", "pkg/sub/", "ü/"]), file_names).map("".join)
file_specs = st.tuples(st.integers(0, 1), st.binary(max_size=200), st.booleans())
HANDLER_FILE: FileSpec = (0, b"def h(event, context):\n    return 1\n", False)
trees = st.dictionaries(file_paths, file_specs, max_size=8).map(
    lambda tree: {**tree, "app.py": HANDLER_FILE}
)
Variant = tuple[int, int, bool, bool, tuple[int, int] | None]
"""Umask, mtime, reversed creation order, reversed root order and explicit (plain, executable)
modes.
"""

variants = st.tuples(
    st.sampled_from([0o002, 0o022, 0o027, 0o077]),  # umask: never masks the owner's x bit
    st.integers(0, 2**31),  # mtime
    st.booleans(),  # reverse creation order
    st.booleans(),  # reverse root order
    st.sampled_from(
        [None, (0o604, 0o701), (0o666, 0o711), (0o4640, 0o2750)]
    ),  # explicit chmod (plain, executable)
)


def materialise(base: Path, tree: dict[str, FileSpec], variant: Variant) -> bytes:
    mask, mtime, reverse_files, reverse_roots, chmod = variant
    roots = [base / "root0", base / "root1"]
    with umask(mask):
        for root in roots:
            root.mkdir()
        for path, (root_index, content, executable) in sorted(tree.items(), reverse=reverse_files):
            target = roots[root_index] / path
            target.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(target, os.O_WRONLY | os.O_CREAT, 0o777 if executable else 0o666)
            os.write(descriptor, content)
            os.close(descriptor)
            if chmod is not None:
                target.chmod(chmod[executable])
            os.utime(target, (mtime, mtime))
    ordered_roots = roots[::-1] if reverse_roots else roots
    args = ["--output", str(base / "o.zip"), "--metadata", str(base / "o.json"), *COMMON_ARGS]
    assert main([*args, *(f"--sources={root}" for root in ordered_roots)]) == 0
    return (base / "o.zip").read_bytes() + (base / "o.json").read_bytes()


@settings(max_examples=40, deadline=None)
@given(tree=trees, first=variants, second=variants)
def test_output_depends_only_on_contents_paths_and_x_bit(
    tree: dict[str, FileSpec], first: Variant, second: Variant
) -> None:
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        assert materialise(Path(one), tree, first) == materialise(Path(two), tree, second)


def test_handler_function_must_be_defined(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources, site = make_project(tmp_path)
    args = ["--output", str(tmp_path / "o.zip"), "--metadata", str(tmp_path / "o.json")]
    args += ["--logical-name", "orders", "--runtime", "python3.11", "--architecture", "x86_64"]
    assert main([*args, "--handler", "app.missing", "--sources", str(sources)]) == 2
    assert "`missing` is not defined" in capsys.readouterr().err
    assert main([*args, "--handler", "nowhere.h", "--sources", str(sources)]) == 2
    assert "`nowhere` (nowhere.py) is not among the packed sources" in capsys.readouterr().err
    # The handler must be first-party code: a third-party module does not count.
    assert (
        main(
            [
                *args,
                "--handler",
                "dep.VALUE",
                "--site-packages",
                str(site),
                "--sources",
                str(sources),
            ]
        )
        == 2
    )


SCIENCE_LAYER = "science-python3.13-arm64"


def make_project_with_numpy(base: Path, numpy_version: str = "2.2.6") -> tuple[Path, Path]:
    """A function whose site-packages holds numpy (provided by a layer) and pydantic (not)."""
    sources, site = make_project(base)
    numpy_files = ["numpy/__init__.py", "numpy/linalg/linalg.py", "numpy.libs/libopenblas.so"]
    for path in numpy_files:
        write(site / path)
    write(site / "numpy/not_in_record.txt")
    dist_info = f"numpy-{numpy_version}.dist-info"
    write(site / f"{dist_info}/METADATA", f"Name: numpy\nVersion: {numpy_version}\n".encode())
    write(site / f"{dist_info}/licenses/LICENSE.txt")
    # The RECORD also lists a console script outside site-packages and a path back into the sources.
    record = [
        *numpy_files,
        f"{dist_info}/METADATA",
        f"{dist_info}/RECORD",
        "../../../bin/f2py",
        "../sources/app.py",
    ]
    write(
        site / f"{dist_info}/RECORD", "".join(f"{path},sha256=abc,1\n" for path in record).encode()
    )
    write(site / "pydantic/__init__.py")
    write(site / "pydantic-2.11.0.dist-info/METADATA", b"Name: pydantic\nVersion: 2.11.0\n")
    write(site / "pydantic-2.11.0.dist-info/RECORD", b"pydantic/__init__.py,,\n")
    return sources, site


def test_leaves_out_what_a_layer_provides(tmp_path: Path) -> None:
    roots = make_project_with_numpy(tmp_path)
    code, zip_bytes, metadata = run_main(
        tmp_path, "--layer-dist", SCIENCE_LAYER, "numpy", "2.2.6", roots=roots
    )
    assert code == 0
    names = zipfile.ZipFile(io.BytesIO(zip_bytes)).namelist()
    assert names == [
        "app.py",
        "dep-1.0.dist-info/METADATA",
        "dep/__init__.py",
        "numpy/not_in_record.txt",
        "pydantic-2.11.0.dist-info/METADATA",
        "pydantic/__init__.py",
        "scripts/run.sh",
    ]
    assert metadata["entry_count"] == len(names)
    assert (roots[1] / "numpy/__init__.py").exists() and (roots[0] / "app.py").exists()


def test_without_layer_dists_everything_is_packed(tmp_path: Path) -> None:
    _, zip_bytes, _ = run_main(tmp_path, roots=make_project_with_numpy(tmp_path))
    names = zipfile.ZipFile(io.BytesIO(zip_bytes)).namelist()
    assert {
        "numpy/__init__.py",
        "numpy-2.2.6.dist-info/METADATA",
        "numpy.libs/libopenblas.so",
    } <= set(names)


def test_layer_dist_names_are_canonicalised(tmp_path: Path) -> None:
    sources, site = make_project(tmp_path)
    write(site / "typing_extensions.py")
    write(site / "typing_extensions-4.12.2.dist-info/RECORD", b"typing_extensions.py,,\n")
    code, zip_bytes, _ = run_main(
        tmp_path, "--layer-dist", "base", "Typing.Extensions", "4.12.2", roots=(sources, site)
    )
    assert code == 0
    assert not any("typing" in name for name in zipfile.ZipFile(io.BytesIO(zip_bytes)).namelist())


def test_layer_dist_version_conflict_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    roots = make_project_with_numpy(tmp_path, numpy_version="2.3.0")
    assert run_main(tmp_path, "--layer-dist", SCIENCE_LAYER, "numpy", "2.2.6", roots=roots)[0] == 2
    assert_one_error_line(
        capsys,
        (
            f"the function's numpy 2.3.0 conflicts with numpy 2.2.6 in layer {SCIENCE_LAYER}: use"
            " one version"
        ),
    )
    assert not (tmp_path / "out/fn.zip").exists()


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        (["--layer-dist", "numpy==2.2.6"], "--layer-dist: expected 3 arguments"),
        (["--layers-unzipped-size", "many"], "--layers-unzipped-size: invalid int value"),
        (["--layers-unzipped-size=-1"], "the layers' unzipped size must not be negative"),
    ],
)
def test_bad_layer_options_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str], fragment: str
) -> None:
    assert run_main(tmp_path, *option)[0] == 2
    assert_one_error_line(capsys, fragment)


def test_size_limit_covers_the_layers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    roots = make_project(tmp_path)
    _, _, metadata = run_main(tmp_path, roots=roots)
    function_bytes = metadata["uncompressed_size"]
    assert isinstance(function_bytes, int)
    monkeypatch.setattr(limits, "LAMBDA_UNZIPPED_LIMIT", function_bytes + 100)
    assert run_main(tmp_path, "--layers-unzipped-size", "100", roots=roots)[0] == 0
    (tmp_path / "out/fn.zip").unlink()
    assert run_main(tmp_path, "--layers-unzipped-size", "101", roots=roots)[0] == 2
    total = function_bytes + 101
    assert_one_error_line(
        capsys,
        f"function is {function_bytes:,} bytes uncompressed and its layers 101: {total:,} together",
        f"over the AWS Lambda limit of {function_bytes + 100:,} bytes",
    )
    assert not (tmp_path / "out/fn.zip").exists()


def elf_shared_object(machine: int) -> bytes:
    """The start of a 64-bit little-endian Linux ELF shared object for `machine` (62 x86-64, 183
    AArch64).
    """
    return (
        b"\x7fELF\x02\x01\x01\x00"
        + bytes(8)
        + (3).to_bytes(2, "little")
        + machine.to_bytes(2, "little")
        + bytes(44)
    )


def make_node_project(base: Path) -> Path:
    """What `npm ci` leaves for an arm64 function: its own files and node_modules/ with an AArch64
    addon.
    """
    sources = base / "__sources"
    write(sources / "index.mjs", b"export const handler = async () => 1;\n")
    write(sources / "package.json", b'{"name": "fn", "type": "module"}\n')
    write(sources / "node_modules/sharp/lib/index.js", b"module.exports = {};\n")
    write(sources / "node_modules/sharp/build/Release/sharp.node", elf_shared_object(183))
    return sources


def run_node(base: Path, sources: Path, *extra: str, runtime: str = "nodejs22.x") -> int:
    args = [
        "--output",
        str(base / "out/fn.zip"),
        "--metadata",
        str(base / "out/fn.json"),
        "--logical-name",
        "fn",
    ]
    args += ["--runtime", runtime, "--architecture", "arm64", "--sources", str(sources)]
    return main([*args, *(extra or ("--handler", "index.handler"))])


@pytest.mark.parametrize("runtime", ["nodejs20.x", "nodejs22.x", "nodejs24.x"])
def test_node_function(tmp_path: Path, runtime: str) -> None:
    assert run_node(tmp_path, make_node_project(tmp_path), runtime=runtime) == 0
    assert zipfile.ZipFile(tmp_path / "out/fn.zip").namelist() == [
        "index.mjs",
        "node_modules/sharp/build/Release/sharp.node",
        "node_modules/sharp/lib/index.js",
        "package.json",
    ]
    metadata = json.loads((tmp_path / "out/fn.json").read_text())
    assert (metadata["runtime"], metadata["handler"]) == (runtime, "index.handler")


def test_node_handler_module_must_be_first_party(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources = make_node_project(tmp_path)
    assert run_node(tmp_path, sources, "--handler", "src/app.main") == 2
    assert_one_error_line(
        capsys, "handler module of `src/app.main`", "src/app.js, src/app.mjs, src/app.cjs"
    )
    assert run_node(tmp_path, sources, "--handler", "node_modules/sharp/lib/index.handler") == 2
    assert_one_error_line(
        capsys, "expected one of node_modules/sharp/lib/index.js", "outside node_modules/"
    )
    assert not (tmp_path / "out/fn.zip").exists()


def test_node_addon_for_another_architecture_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources = make_node_project(tmp_path)
    write(sources / "node_modules/a/node_modules/@scope/pkg/bin.node", elf_shared_object(62))
    assert run_node(tmp_path, sources) == 2
    assert_one_error_line(
        capsys,
        (
            "node_modules/a/node_modules/@scope/pkg/bin.node (package @scope/pkg) is built for"
            " x86-64, but the function runs on arm64: use a version of @scope/pkg that ships"
            " linux-arm64 binaries"
        ),
    )
    assert not (tmp_path / "out/fn.zip").exists()


def test_python_runtime_ignores_node_addons(tmp_path: Path) -> None:
    sources, site = make_project(tmp_path)
    write(sources / "tools/darwin.node", b"\xcf\xfa\xed\xfe" + bytes(28))
    write(site / "dep/native.node", elf_shared_object(62))
    code, zip_bytes, _ = run_main(tmp_path, roots=(sources, site))
    assert code == 0
    assert {"tools/darwin.node", "dep/native.node"} <= set(
        zipfile.ZipFile(io.BytesIO(zip_bytes)).namelist()
    )


def test_imports_the_artifact_cannot_satisfy_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources, site = make_project(tmp_path)
    write(
        sources / "app.py", b"import dep, json\nimport requests\ndef h(event, context):\n    pass\n"
    )
    assert run_main(tmp_path, roots=(sources, site))[0] == 2
    assert_one_error_line(
        capsys,
        "error: imports that cannot succeed on Python 3.11: app.py:2 `requests`. Nothing",
    )


def test_imports_from_the_layers_and_the_runtime_resolve(tmp_path: Path) -> None:
    sources, site = make_project_with_numpy(tmp_path)
    write(sources / "app.py", b"import numpy.linalg, boto3\ndef h(event, context):\n    pass\n")
    layer = ("--layer-dist", SCIENCE_LAYER, "numpy", "2.2.6")
    assert run_main(tmp_path, *layer, roots=(sources, site))[0] == 2
    code, zip_bytes, _ = run_main(
        tmp_path, *layer, "--runtime-provides", "boto3", roots=(sources, site)
    )
    assert code == 0
    assert "numpy/__init__.py" not in zipfile.ZipFile(io.BytesIO(zip_bytes)).namelist()


def test_imports_may_use_what_only_a_layer_zip_provides(tmp_path: Path) -> None:
    sources, site = make_project(tmp_path)
    write(sources / "app.py", b"import pandas\ndef h(event, context):\n    pass\n")
    layer_zip = tmp_path / "layer.zip"
    with zipfile.ZipFile(layer_zip, "w") as archive:
        archive.writestr("python/lib/python3.11/site-packages/pandas/__init__.py", "")
    assert run_main(tmp_path, roots=(sources, site))[0] == 2
    assert run_main(tmp_path, "--layer-zip", str(layer_zip), roots=(sources, site))[0] == 0


def test_external_sources_land_at_their_archive_paths_and_clash_with_own_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    external = tmp_path / "__external/terraform"
    write(external / "bin/terraform", b"#!/bin/sh\n", mode=0o755)
    code, zip_bytes, _ = run_main(tmp_path, "--external", str(external))
    assert code == 0
    archive = zipfile.ZipFile(io.BytesIO(zip_bytes))
    assert archive.getinfo("bin/terraform").external_attr >> 16 == 0o100755
    write(external / "scripts/run.sh", b"other")
    assert run_main(tmp_path, "--external", str(external))[0] == 2
    assert_one_error_line(capsys, "'scripts/run.sh' is provided by both", "__external/terraform")


def test_an_external_binary_for_another_architecture_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    external = tmp_path / "__external/tool"
    aarch64_executable = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00\xb7\x00" + bytes(40)
    write(external / "bin/tool", aarch64_executable, mode=0o755)
    assert run_main(tmp_path, "--external", str(external))[0] == 2
    assert_one_error_line(capsys, "bin/tool is built for AArch64", "runs on x86_64")
