"""Tests for collecting and merging the input directories."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from repro_lambda.core.contract import UserError
from repro_lambda.core.pack.tree import InputRoot, collect_tree, load_entries


def write(path: Path, content: bytes = b"x", mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    path.chmod(mode)


def archive_paths(*roots: InputRoot) -> list[str]:
    return [file.archive_path for file in collect_tree(roots).files]


def test_merges_roots_at_archive_root_sorted_by_utf8(tmp_path: Path) -> None:
    write(tmp_path / "src/app/handler.py")
    write(tmp_path / "src/Ü.py")
    write(tmp_path / "site/requests/__init__.py")
    write(tmp_path / "site/six.py")
    roots = (
        InputRoot(tmp_path / "src", third_party=False),
        InputRoot(tmp_path / "site", third_party=True),
    )
    assert archive_paths(*roots) == ["app/handler.py", "requests/__init__.py", "six.py", "Ü.py"]


@pytest.mark.parametrize(
    ("mode", "executable"),
    [
        (0o644, False),
        (0o600, False),
        (0o666, False),
        (0o4644, False),
        (0o755, True),
        (0o700, True),
        (0o610, True),
        (0o601, True),
    ],
)
def test_executable_means_any_x_bit(tmp_path: Path, mode: int, executable: bool) -> None:
    write(tmp_path / "root/tool", mode=mode)
    (file,) = collect_tree([InputRoot(tmp_path / "root", third_party=False)]).files
    assert file.executable is executable


def test_a_listing_of_executables_overrides_the_file_modes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(Path("root/big.json"), mode=0o555)  # as a sandbox may show a shared large file
    write(Path("root/bin/run"), mode=0o644)
    tree = collect_tree([InputRoot(Path("root"), third_party=False)], {"root/bin/run"})
    assert [(f.archive_path, f.executable) for f in tree.files] == [
        ("big.json", False),
        ("bin/run", True),
    ]


def test_skips_pycache_and_pyc(tmp_path: Path) -> None:
    write(tmp_path / "root/pkg/__pycache__/mod.cpython-311.pyc")
    write(tmp_path / "root/pkg/__pycache__/notes.txt")
    write(tmp_path / "root/pkg/legacy.pyc")
    write(tmp_path / "root/pkg/mod.py")
    assert archive_paths(InputRoot(tmp_path / "root", third_party=False)) == ["pkg/mod.py"]


def test_skips_symlinks_with_warning_and_never_follows_them(tmp_path: Path) -> None:
    write(tmp_path / "outside/secret.txt")
    write(tmp_path / "root/real.py")
    (tmp_path / "root/file_link.py").symlink_to(tmp_path / "root/real.py")
    (tmp_path / "root/dir_link").symlink_to(tmp_path / "outside", target_is_directory=True)
    (tmp_path / "root/dangling").symlink_to(tmp_path / "missing")
    tree = collect_tree([InputRoot(tmp_path / "root", third_party=False)])
    assert [file.archive_path for file in tree.files] == ["real.py"]
    assert len(tree.warnings) == 3
    assert all("skipped symlink" in warning for warning in tree.warnings)
    assert any("'dir_link'" in warning for warning in tree.warnings)


def test_skips_special_files_with_warning(tmp_path: Path) -> None:
    write(tmp_path / "root/a.py")
    os.mkfifo(tmp_path / "root/pipe")
    tree = collect_tree([InputRoot(tmp_path / "root", third_party=False)])
    assert [file.archive_path for file in tree.files] == ["a.py"]
    assert tree.warnings == (
        f"skipped special file 'pipe' in {str(tmp_path / 'root')!r} (not a regular file)",
    )


def make_installed_tree(root: Path) -> None:
    for name in (
        "METADATA",
        "WHEEL",
        "RECORD",
        "INSTALLER",
        "REQUESTED",
        "direct_url.json",
        "licenses/LICENSE",
    ):
        write(root / "foo-1.0.dist-info" / name)
    write(root / "foo/__init__.py")
    write(root / "foo/bin/data.txt")
    write(root / "foo/nested-1.0.dist-info/RECORD")
    write(root / "bin/foo-cli", b"#!/host/python\n", mode=0o755)


def test_normalises_installer_files_in_third_party_roots(tmp_path: Path) -> None:
    make_installed_tree(tmp_path / "site")
    assert archive_paths(InputRoot(tmp_path / "site", third_party=True)) == [
        "foo-1.0.dist-info/METADATA",
        "foo-1.0.dist-info/WHEEL",
        "foo-1.0.dist-info/licenses/LICENSE",
        "foo/__init__.py",
        "foo/bin/data.txt",
        "foo/nested-1.0.dist-info/RECORD",
    ]


def test_keeps_installer_like_files_in_first_party_roots(tmp_path: Path) -> None:
    make_installed_tree(tmp_path / "src")
    paths = archive_paths(InputRoot(tmp_path / "src", third_party=False))
    assert "foo-1.0.dist-info/RECORD" in paths
    assert "bin/foo-cli" in paths


def test_same_path_from_two_roots_is_an_error_naming_both(tmp_path: Path) -> None:
    write(tmp_path / "src/common/util.py")
    write(tmp_path / "site/common/util.py")
    roots = [
        InputRoot(tmp_path / "src", third_party=False),
        InputRoot(tmp_path / "site", third_party=True),
    ]
    with pytest.raises(UserError, match=re.escape("'common/util.py' is provided by both")) as error:
        collect_tree(roots)
    assert str(tmp_path / "src") in str(error.value)
    assert str(tmp_path / "site") in str(error.value)


def test_file_in_one_root_and_directory_in_another_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "src/common")
    write(tmp_path / "site/common/util.py")
    roots = [
        InputRoot(tmp_path / "src", third_party=False),
        InputRoot(tmp_path / "site", third_party=True),
    ]
    with pytest.raises(UserError, match=r"'common' is a file in .* but a directory in"):
        collect_tree(roots)


def test_missing_root_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        collect_tree([InputRoot(tmp_path / "missing", third_party=False)])


def test_non_utf8_file_name_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    with open(os.fsencode(tmp_path / "root") + b"/bad\xff.py", "wb"):
        pass
    with pytest.raises(UserError, match="not valid UTF-8"):
        collect_tree([InputRoot(tmp_path / "root", third_party=False)])


def test_load_entries_reads_contents_and_modes(tmp_path: Path) -> None:
    write(tmp_path / "root/run.sh", b"#!/bin/sh\n", mode=0o750)
    write(tmp_path / "root/data.txt", b"data")
    entries = load_entries(collect_tree([InputRoot(tmp_path / "root", third_party=False)]).files)
    assert [(entry.path, entry.data, entry.executable) for entry in entries] == [
        ("data.txt", b"data", False),
        ("run.sh", b"#!/bin/sh\n", True),
    ]
