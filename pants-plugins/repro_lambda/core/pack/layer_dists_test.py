"""Tests for leaving out the distributions that a function's layers provide."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from repro_lambda.core.contract import LayerDist, UserError
from repro_lambda.core.pack.layer_dists import canonical_name, excluded_archive_paths

LAYER = "science-python3.13-arm64"


def write(path: Path, content: str = "x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")


def install(site: Path, dist_info: str, files: list[str], record: list[str] | None = None) -> None:
    """Install `files` and a dist-info whose RECORD lists them, or `record` when given."""
    for file in files:
        write(site / file)
    write(site / dist_info / "METADATA", "Metadata-Version: 2.1\n")
    write(
        site / dist_info / "RECORD", "".join(f"{path},sha256=abc,1\n" for path in record or files)
    )


def numpy(version: str = "2.2.6") -> LayerDist:
    return LayerDist(LAYER, "numpy", version)


@pytest.mark.parametrize(
    "name", ["typing_extensions", "typing-extensions", "Typing.Extensions", "typing_-.extensions"]
)
def test_canonical_name(name: str) -> None:
    assert canonical_name(name) == "typing-extensions"


def test_excludes_record_files_and_dist_info_but_not_other_files(tmp_path: Path) -> None:
    install(
        tmp_path,
        "numpy-2.2.6.dist-info",
        ["numpy/__init__.py", "numpy/core/multiarray.py", "numpy.libs/lib.so"],
    )
    write(tmp_path / "numpy-2.2.6.dist-info/licenses/LICENSE.txt")
    write(tmp_path / "numpy/not_in_record.py")
    install(tmp_path, "pydantic-2.11.0.dist-info", ["pydantic/__init__.py"])
    assert excluded_archive_paths(tmp_path, "", [numpy()]) == {
        "numpy/__init__.py",
        "numpy/core/multiarray.py",
        "numpy.libs/lib.so",
        "numpy-2.2.6.dist-info/METADATA",
        "numpy-2.2.6.dist-info/RECORD",
        "numpy-2.2.6.dist-info/licenses/LICENSE.txt",
    }


def test_archive_prefix(tmp_path: Path) -> None:
    install(tmp_path, "numpy-2.2.6.dist-info", ["numpy/__init__.py"])
    prefix = "python/lib/python3.13/site-packages"
    assert excluded_archive_paths(tmp_path, prefix, [numpy()]) == {
        f"{prefix}/numpy/__init__.py",
        f"{prefix}/numpy-2.2.6.dist-info/METADATA",
        f"{prefix}/numpy-2.2.6.dist-info/RECORD",
    }


def test_record_paths_escaping_the_root_are_ignored(tmp_path: Path) -> None:
    site = tmp_path / "site"
    record = [
        "numpy/./__init__.py",
        "../../../bin/f2py",
        "/etc/passwd",
        "numpy/../../site/numpy/x.py",
        "..",
        "",
    ]
    install(site, "numpy-2.2.6.dist-info", ["numpy/__init__.py"], record=record)
    assert excluded_archive_paths(site, "python", [numpy()]) == {
        "python/numpy/__init__.py",
        "python/numpy-2.2.6.dist-info/METADATA",
        "python/numpy-2.2.6.dist-info/RECORD",
    }


def test_names_are_compared_canonicalised(tmp_path: Path) -> None:
    install(tmp_path, "typing_extensions-4.12.2.dist-info", ["typing_extensions.py"])
    layer_dist = LayerDist(LAYER, "Typing-Extensions", "4.12.2")
    assert "typing_extensions.py" in excluded_archive_paths(tmp_path, "", [layer_dist])


def test_name_and_version_from_metadata_when_the_directory_has_no_version(tmp_path: Path) -> None:
    write(tmp_path / "numpy/__init__.py")
    write(
        tmp_path / "numpy.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: numpy\nVersion: 2.2.6\n\nNumPy.\n",
    )
    write(tmp_path / "numpy.dist-info/RECORD", "numpy/__init__.py,,\n")
    assert "numpy/__init__.py" in excluded_archive_paths(tmp_path, "", [numpy()])


def test_distributions_the_layers_do_not_provide_stay(tmp_path: Path) -> None:
    install(tmp_path, "pydantic-2.11.0.dist-info", ["pydantic/__init__.py"])
    assert excluded_archive_paths(tmp_path, "", [numpy()]) == frozenset()
    assert excluded_archive_paths(tmp_path, "", []) == frozenset()


def test_version_conflict_names_both_versions_and_the_layer(tmp_path: Path) -> None:
    install(tmp_path, "numpy-2.3.0.dist-info", ["numpy/__init__.py"])
    message = (
        f"the function's numpy 2.3.0 conflicts with numpy 2.2.6 in layer {LAYER}: use one version"
        " in both lockfiles"
    )
    with pytest.raises(UserError, match=f"^{re.escape(message)}$"):
        excluded_archive_paths(tmp_path, "", [numpy()])


def test_provided_distribution_without_record_cannot_be_left_out(tmp_path: Path) -> None:
    write(tmp_path / "numpy/__init__.py")
    write(tmp_path / "numpy-2.2.6.dist-info/METADATA")
    with pytest.raises(
        UserError,
        match=f"cannot leave numpy 2.2.6 out of the function for layer {LAYER}: .*no RECORD",
    ):
        excluded_archive_paths(tmp_path, "", [numpy()])


def test_undecodable_record_is_a_pack_error(tmp_path: Path) -> None:
    install(tmp_path, "numpy-2.2.6.dist-info", ["numpy/__init__.py"])
    (tmp_path / "numpy-2.2.6.dist-info/RECORD").write_bytes(b"numpy/\xff.py,,\n")
    with pytest.raises(UserError, match="cannot read .*RECORD"):
        excluded_archive_paths(tmp_path, "", [numpy()])


def test_symlinked_record_is_not_read(tmp_path: Path) -> None:
    write(tmp_path / "outside/RECORD", "numpy/__init__.py,,\n")
    write(tmp_path / "site/numpy-2.2.6.dist-info/METADATA")
    (tmp_path / "site/numpy-2.2.6.dist-info/RECORD").symlink_to(tmp_path / "outside/RECORD")
    with pytest.raises(UserError, match="no RECORD"):
        excluded_archive_paths(tmp_path / "site", "", [numpy()])


def test_layers_providing_different_versions_conflict(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="layers a and b provide numpy 1.0 and NumPy 2.0"):
        excluded_archive_paths(
            tmp_path, "", [LayerDist("a", "numpy", "1.0"), LayerDist("b", "NumPy", "2.0")]
        )
    same = [LayerDist("a", "numpy", "1.0"), LayerDist("b", "numpy", "1.0")]
    assert excluded_archive_paths(tmp_path, "", same) == frozenset()


def test_missing_root_is_left_to_the_tree(tmp_path: Path) -> None:
    assert excluded_archive_paths(tmp_path / "missing", "", [numpy()]) == frozenset()
