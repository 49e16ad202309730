import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from layer_builder.build_request import BuildRequest
from layer_builder.builder import BuildFailed, build_layers

ELF_MACHINES = {"x86_64": 62, "arm64": 183}  # e_machine: EM_X86_64, EM_AARCH64


def test_one_zip_per_package_and_architecture(tmp_path: Path, pex_settings) -> None:
    request = BuildRequest(("six==1.16.0", "MarkupSafe==3.0.2"), "3.13", ("x86_64", "arm64"), False)
    built = build_layers(request, tmp_path / "a", pex_settings)

    names = [z.path.name for z in built.zips]
    assert names == [
        "six-python3.13-x86_64.zip",
        "markupsafe-python3.13-x86_64.zip",
        "six-python3.13-arm64.zip",
        "markupsafe-python3.13-arm64.zip",
    ]
    for z in built.zips:
        data = z.path.read_bytes()
        assert (z.size, z.sha256) == (len(data), hashlib.sha256(data).hexdigest())
        with zipfile.ZipFile(z.path) as archive:
            paths = archive.namelist()
            assert all(p.startswith("python/lib/python3.13/site-packages/") for p in paths)
            extensions = [p for p in paths if p.endswith(".so")]
            for extension in extensions:
                elf = archive.read(extension)
                assert int.from_bytes(elf[18:20], "little") == ELF_MACHINES[z.architecture]
        assert bool(extensions) == z.path.name.startswith("markupsafe")

    # The pins: each platform's wheels, with the sha256 pex checked them against.
    wheels = {p: {pin["wheel"]: pin for pin in pins} for p, pins in built.pins.items()}
    assert sorted(wheels) == ["python3.13-arm64", "python3.13-x86_64"]
    arm = [w for w in wheels["python3.13-arm64"] if w.startswith("MarkupSafe-3.0.2-cp313-cp313")]
    assert arm and "aarch64" in arm[0]
    assert wheels["python3.13-x86_64"]["six-1.16.0-py2.py3-none-any.whl"]["sha256"] == (
        "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254"
    )

    # Another build of the same request, elsewhere, gives the same bytes.
    again = build_layers(request, tmp_path / "b", pex_settings)
    assert [z.sha256 for z in again.zips] == [z.sha256 for z in built.zips]


def test_a_combined_zip_holds_every_package(tmp_path: Path, pex_settings) -> None:
    request = BuildRequest(("six==1.16.0", "idna==3.7"), "3.12", ("arm64",), True)
    (built,) = build_layers(request, tmp_path, pex_settings).zips
    assert built.path.name == "combined-python3.12-arm64.zip"
    with zipfile.ZipFile(built.path) as archive:
        tops = {p.split("/")[4] for p in archive.namelist()}
    assert {"six.py", "idna", "six-1.16.0.dist-info", "idna-3.7.dist-info"} <= tops
    metadata = json.loads((built.path.with_suffix(".json")).read_text())
    assert metadata["sha256"] == built.sha256


def test_a_requirement_without_a_wheel_fails_naming_it_and_the_platform(
    tmp_path: Path, pex_settings
) -> None:
    # PyYAML 5.4.1 publishes no wheel for CPython 3.13, only an sdist, which is never built.
    request = BuildRequest(("six==1.16.0", "PyYAML==5.4.1"), "3.13", ("x86_64",), True)
    with pytest.raises(BuildFailed) as failure:
        build_layers(request, tmp_path, pex_settings)
    message = str(failure.value)
    assert message.startswith("`PyYAML==5.4.1` has no wheel for python3.13 x86_64")
    assert "glibc 2.34" in message


def test_an_unreachable_index_is_not_a_missing_wheel(tmp_path: Path, pex_settings) -> None:
    import dataclasses

    offline = dataclasses.replace(pex_settings, index_url="https://127.0.0.1:9/simple/")
    request = BuildRequest(("six==1.16.0",), "3.13", ("x86_64",), True)
    with pytest.raises(
        BuildFailed, match=r"^Cannot reach the package index https://127\.0\.0\.1:9"
    ):
        build_layers(request, tmp_path, offline)
