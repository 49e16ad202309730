from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
from fake_releases import tar_gz, zip_of

from repro_lambda.core.contract import UserError
from repro_lambda.core.sources.safe_extract import Limits, stage
from repro_lambda.core.sources.spec import Extract


def staged(out: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(out).as_posix(): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


def write(tmp_path: Path, data: bytes, name: str = "download") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_member_directory_maps_the_versioned_top_directory_to_dest(tmp_path: Path) -> None:
    archive = tar_gz(
        {
            "vendor-1.4.0/.tool-versions": b"terraform 1.9.0\n",
            "vendor-1.4.0/bin/run": b"#!/bin/sh\n",
            "README": b"outside the member",
        },
        modes={"vendor-1.4.0/bin/run": 0o775},
    )
    out = tmp_path / "out"
    count = stage(write(tmp_path, archive), Extract.TAR_GZ, "vendor", out, member="vendor-1.4.0")
    assert count == 2
    assert staged(out) == {
        "vendor/.tool-versions": (b"terraform 1.9.0\n", 0o644),
        "vendor/bin/run": (b"#!/bin/sh\n", 0o755),
    }


def test_a_zip_member_file_lands_at_dest_executable(tmp_path: Path) -> None:
    archive = zip_of({"terraform": b"\x7fELF...", "LICENSE": b"MPL"}, modes={"terraform": 0o600})
    out = tmp_path / "out"
    stage(
        write(tmp_path, archive),
        Extract.ZIP,
        "bin/terraform",
        out,
        member="terraform",
        executable=True,
    )
    assert staged(out) == {"bin/terraform": (b"\x7fELF...", 0o755)}


def test_without_member_the_whole_archive_lands_under_dest(tmp_path: Path) -> None:
    out = tmp_path / "out"
    stage(write(tmp_path, zip_of({"a/b.txt": b"b", "c.txt": b"c"})), Extract.ZIP, "data", out)
    assert staged(out) == {"data/a/b.txt": (b"b", 0o644), "data/c.txt": (b"c", 0o644)}


def test_extract_none_places_the_download_itself(tmp_path: Path) -> None:
    out = tmp_path / "out"
    stage(write(tmp_path, b"binary"), Extract.NONE, "bin/tool", out, executable=True)
    assert staged(out) == {"bin/tool": (b"binary", 0o755)}


def test_a_missing_member_lists_the_top_of_the_archive(tmp_path: Path) -> None:
    archive = tar_gz({"vendor-1.5.0/x": b"x"})
    with pytest.raises(UserError, match=r"no member 'vendor-1.4.0' \(at its top: vendor-1.5.0\)"):
        stage(write(tmp_path, archive), Extract.TAR_GZ, "v", tmp_path / "o", member="vendor-1.4.0")


def tar_with(info: tarfile.TarInfo, data: bytes = b"") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        archive.addfile(info, io.BytesIO(data) if data else None)
    return out.getvalue()


def tar_entry(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, **attrs) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


@pytest.mark.parametrize(
    "info, message",
    [
        (tar_entry("../evil", size=1), "points outside it"),
        (tar_entry("a/../../evil", size=1), "points outside it"),
        (tar_entry("/etc/passwd", size=1), "absolute path '/etc/passwd'"),
        (tar_entry("link", tarfile.SYMTYPE, linkname="/etc/passwd"), "the symlink 'link'"),
        (tar_entry("hard", tarfile.LNKTYPE, linkname="a"), "the hard link 'hard'"),
        (tar_entry("dev", tarfile.CHRTYPE, devmajor=1, devminor=3), "the device 'dev'"),
        (tar_entry("blk", tarfile.BLKTYPE), "the device 'blk'"),
        (tar_entry("fifo", tarfile.FIFOTYPE), "the FIFO 'fifo'"),
    ],
)
def test_hostile_tar_entries_are_refused(
    tmp_path: Path, info: tarfile.TarInfo, message: str
) -> None:
    data = b"x" * info.size
    out = tmp_path / "out"
    with pytest.raises(UserError, match=message):
        stage(write(tmp_path, tar_with(info, data)), Extract.TAR_GZ, "d", out)
    assert not (tmp_path / "evil").exists() and not list(out.rglob("*"))


def zip_with(name: str, mode: int, data: bytes = b"x") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        info = zipfile.ZipInfo(name)
        info.external_attr = mode << 16
        archive.writestr(info, data)
    return out.getvalue()


@pytest.mark.parametrize(
    "name, mode, message",
    [
        ("../evil", 0o100644, "points outside it"),
        ("/abs", 0o100644, "absolute path"),
        ("C:/windows", 0o100644, "absolute path"),
        ("a\\..\\evil", 0o100644, "absolute path"),
        ("link", 0o120777, "the symlink 'link'"),
        ("fifo", 0o010644, "the special file 'fifo'"),
    ],
)
def test_hostile_zip_entries_are_refused(
    tmp_path: Path, name: str, mode: int, message: str
) -> None:
    with pytest.raises(UserError, match=message):
        stage(
            write(tmp_path, zip_with(name, mode, b"/etc/passwd")), Extract.ZIP, "d", tmp_path / "o"
        )


def test_a_decompression_bomb_fails_at_the_bound(tmp_path: Path) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for index in range(3):
            archive.writestr(f"zeros{index}", b"\0" * 4_000_000)
    bomb = write(tmp_path, out.getvalue())
    assert bomb.stat().st_size < 100_000
    with pytest.raises(UserError, match="more than 10,000,000 bytes"):
        stage(bomb, Extract.ZIP, "d", tmp_path / "o", limits=Limits(extracted_bytes=10_000_000))
    # the bound is checked before each entry is written, so the third never reaches the disk
    assert len(list((tmp_path / "o").rglob("zeros*"))) == 2


def test_too_many_entries_fail_fast(tmp_path: Path) -> None:
    archive = tar_gz({f"f{index}": b"" for index in range(30)})
    with pytest.raises(UserError, match="more than 20 entries"):
        stage(
            write(tmp_path, archive), Extract.TAR_GZ, "d", tmp_path / "o", limits=Limits(entries=20)
        )


def test_the_default_bounds_are_the_documented_ones() -> None:
    assert Limits() == Limits(extracted_bytes=2 * 1024**3, entries=50_000)


def test_a_duplicate_or_corrupt_archive_is_a_user_error(tmp_path: Path) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for _ in range(2):
            archive.addfile(tar_entry("same", size=1), io.BytesIO(b"x"))
    with pytest.raises(UserError, match="holds 'same' twice"):
        stage(write(tmp_path, out.getvalue()), Extract.TAR_GZ, "d", tmp_path / "o")
    with pytest.raises(UserError, match="not a valid zip archive"):
        stage(write(tmp_path, b"not a zip", "bad"), Extract.ZIP, "d", tmp_path / "o2")
