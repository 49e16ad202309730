"""Checks for the committed AWS Lambda pex complete platform files (plain pytest)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from repro_lambda.platforms import generate

HERE = Path(__file__).resolve().parent

RUNTIMES = ["python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14"]
ARCHES = {"x86_64": "x86_64", "arm64": "aarch64"}
CEILING = {
    "python3.9": (2, 26),
    "python3.10": (2, 26),
    "python3.11": (2, 26),
    "python3.12": (2, 34),
    "python3.13": (2, 34),
    "python3.14": (2, 34),
}
LEGACY_GLIBC = {"manylinux2014": (2, 17), "manylinux2010": (2, 12), "manylinux1": (2, 5)}
PLATFORMS = [(rt, arch) for rt in RUNTIMES for arch in ARCHES]

_PLATFORM_RE = re.compile(
    r"^(?:manylinux_(?P<major>\d+)_(?P<minor>\d+)|(?P<legacy>manylinux(?:2014|2010|1))|linux)"
    r"_(?P<arch>x86_64|aarch64)$"
)


def _load(rt: str, arch: str) -> dict:
    platform: dict = json.loads((HERE / f"{rt}-{arch}.json").read_text(encoding="utf-8"))
    return platform


def _glibc(platform_tag: str):
    m = _PLATFORM_RE.match(platform_tag)
    assert m, f"unexpected platform tag {platform_tag!r}"
    if m.group("legacy"):
        return LEGACY_GLIBC[m.group("legacy")], m.group("arch")
    if m.group("major"):
        return (int(m.group("major")), int(m.group("minor"))), m.group("arch")
    return None, m.group("arch")  # plain linux_<arch>


def test_all_platform_files_exist():
    expected = {f"{rt}-{arch}.json" for rt, arch in PLATFORMS}
    present = {p.name for p in HERE.glob("python3.*-*.json")}
    assert expected == present


@pytest.mark.parametrize("rt,arch", PLATFORMS)
def test_glibc_ceiling_and_arch(rt: str, arch: str):
    data = _load(rt, arch)
    tags = data["compatible_tags"]
    machine = ARCHES[arch]
    ceiling = CEILING[rt]
    nodot = rt[len("python") :].replace(".", "")
    assert len(tags) == len(set(tags))
    assert tags[0] == f"cp{nodot}-cp{nodot}-manylinux_{ceiling[0]}_{ceiling[1]}_{machine}"
    assert tags[-1] == "py30-none-any"
    assert f"cp{nodot}-cp{nodot}-manylinux_{ceiling[0]}_{ceiling[1]}_{machine}" in tags
    assert f"py3-none-manylinux_{ceiling[0]}_{ceiling[1]}_{machine}" in tags
    seen = set()
    for tag in tags:
        interpreter, abi, platform_tag = tag.split("-")
        assert "musllinux" not in platform_tag
        if platform_tag == "any":
            continue
        glibc, tag_arch = _glibc(platform_tag)
        assert tag_arch == machine, tag
        if glibc is not None:
            assert glibc <= ceiling, tag
            seen.add(glibc)
    floor = 5 if machine == "x86_64" else 17
    assert seen == {(2, n) for n in range(floor, ceiling[1] + 1)}
    has_2010 = any("manylinux2010" in t for t in tags)
    has_1 = any("manylinux1_" in t for t in tags)
    assert has_2010 == has_1 == (machine == "x86_64")
    assert any("manylinux2014" in t for t in tags)


@pytest.mark.parametrize("rt,arch", PLATFORMS)
def test_marker_environment(rt: str, arch: str):
    env = _load(rt, arch)["marker_environment"]
    version = rt[len("python") :]
    assert env["python_version"] == version
    assert env["python_full_version"].startswith(version + ".")
    assert env["implementation_version"] == env["python_full_version"]
    assert env["platform_machine"] == ARCHES[arch]
    assert env["sys_platform"] == "linux"
    assert env["platform_system"] == "Linux"
    assert env["implementation_name"] == "cpython"
    assert env["platform_python_implementation"] == "CPython"
    assert env["os_name"] == "posix"


def test_images_json():
    images = json.loads((HERE / "images.json").read_text(encoding="utf-8"))
    assert sorted(images) == sorted(RUNTIMES)
    for rt, info in images.items():
        assert info["glibc"] == "{}.{}".format(*CEILING[rt])
        assert info["os"] == ("Amazon Linux 2" if CEILING[rt] == (2, 26) else "Amazon Linux 2023")
        assert re.match(
            r"^public\.ecr\.aws/lambda/python:"
            + re.escape(rt[len("python") :])
            + r"(@sha256:[0-9a-f]{64})?$",
            info["image"],
        ), info["image"]


def test_generator_reproduces_committed_files_byte_for_byte():
    generated = generate.generate_files()
    assert set(generated) == {f"{rt}-{arch}.json" for rt, arch in PLATFORMS} | {"images.json"}
    for name, content in generated.items():
        committed = (HERE / name).read_bytes()
        assert committed == content.encode("utf-8"), f"{name} is stale: rerun generate.py"


@pytest.mark.parametrize("rt,arch", PLATFORMS)
def test_tag_order_matches_packaging(rt: str, arch: str):
    """Cross-check the generator's tag order against packaging.tags' public API."""
    tags_mod = pytest.importorskip("packaging.tags")
    machine = ARCHES[arch]
    platforms = generate.linux_platforms(machine, CEILING[rt])
    major, minor = (int(x) for x in rt[len("python") :].split("."))
    interp = f"cp{major}{minor}"
    expected = [str(t) for t in tags_mod.cpython_tags((major, minor), [interp], platforms)]
    expected += [str(t) for t in tags_mod.compatible_tags((major, minor), interp, platforms)]
    assert _load(rt, arch)["compatible_tags"] == expected
