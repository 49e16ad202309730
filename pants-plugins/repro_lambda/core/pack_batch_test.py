"""The batch packer: each member packed exactly as alone, errors kept to their member."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro_lambda.core.pack import main as pack_main
from repro_lambda.core.pack_batch import main
from repro_lambda.core.pack_test import COMMON_ARGS, make_project


def member_argv(base: Path, name: str, sources: Path, site: Path) -> list[str]:
    return [
        f"--output={base / name}.zip",
        f"--metadata={base / name}.json",
        *COMMON_ARGS,
        f"--sources={sources}",
        f"--site-packages={site}",
    ]


def test_members_pack_as_alone_and_an_error_stays_with_its_member(tmp_path: Path) -> None:
    sources, site = make_project(tmp_path / "project")
    broken = tmp_path / "broken"
    (broken / "app.py").parent.mkdir(parents=True)
    (broken / "app.py").write_text("def other(event, context):\n    return 1\n")
    members = [
        {"argv": member_argv(tmp_path / "batch", "a", sources, site), "messages": "m/0"},
        {"argv": member_argv(tmp_path / "batch", "b", broken, site), "messages": "m/1"},
        {"argv": member_argv(tmp_path / "batch", "c", sources, site), "messages": "m/2"},
    ]
    batch_file = tmp_path / "batch.json"
    batch_file.write_text(json.dumps(members))
    assert pack_main(member_argv(tmp_path / "alone", "a", sources, site)) == 0

    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        assert main([str(batch_file)]) == 0
    alone = (tmp_path / "alone/a.zip").read_bytes()
    assert (tmp_path / "batch/a.zip").read_bytes() == alone
    assert (tmp_path / "batch/c.zip").read_bytes() == alone
    assert not (tmp_path / "batch/b.zip").exists()
    assert (tmp_path / "m/0").read_text() == (tmp_path / "m/2").read_text() == ""
    (error,) = (tmp_path / "m/1").read_text().splitlines()
    assert error.startswith("error: ") and "app.h" in error


def test_an_unreadable_batch_file_is_one_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "batch.json").write_text("{not json")
    assert main([str(tmp_path / "batch.json")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ")
