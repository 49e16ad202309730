"""The batch packer: each member packed exactly as alone, errors kept to their member."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro_lambda.core.contract import BatchMember, PackBatch, PackJob, PackSpec, to_json
from repro_lambda.core.pack.batch import main
from repro_lambda.core.pack.packer import main as pack_main
from repro_lambda.core.pack.packer_test import COMMON_ARGS, make_project

SPEC = PackSpec(logical_name="orders", runtime="python3.11", architecture="x86_64", handler="app.h")


def member(base: Path, name: str, sources: Path, site: Path, messages: str) -> BatchMember:
    job = PackJob(
        SPEC,
        output=f"{base / name}.zip",
        metadata=f"{base / name}.json",
        sources=(str(sources),),
        site_packages=(str(site),),
    )
    return BatchMember(job, messages)


def test_members_pack_as_alone_and_an_error_stays_with_its_member(tmp_path: Path) -> None:
    sources, site = make_project(tmp_path / "project")
    broken = tmp_path / "broken"
    (broken / "app.py").parent.mkdir(parents=True)
    (broken / "app.py").write_text("def other(event, context):\n    return 1\n")
    members = (
        member(tmp_path / "batch", "a", sources, site, "m/0"),
        member(tmp_path / "batch", "b", broken, site, "m/1"),
        member(tmp_path / "batch", "c", sources, site, "m/2"),
    )
    batch_file = tmp_path / "batch.json"
    batch_file.write_text(to_json(PackBatch(members)))
    out = tmp_path / "alone"
    args = ["--output", f"{out}/a.zip", "--metadata", f"{out}/a.json", *COMMON_ARGS]
    assert pack_main([*args, "--sources", str(sources), "--site-packages", str(site)]) == 0

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


def test_a_batch_file_of_another_shape_is_one_error_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = json.loads(to_json(PackBatch((member(tmp_path, "a", tmp_path, tmp_path, "m/0"),))))
    batch["members"][0]["job"]["spec"]["layers_unzipped_size"] = "many"
    (tmp_path / "batch.json").write_text(json.dumps(batch))
    assert main([str(tmp_path / "batch.json")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "'layers_unzipped_size' must be an integer, not \"many\"" in line
