#!/usr/bin/env python3
"""Generate pex "complete platform" JSON files for the AWS Lambda Python runtimes.

Plain Python 3.9+, standard library only (no Pants, no `packaging` import), so that
the output is a pure function of the tables below and never of the host's glibc.

The tag lists reproduce what `packaging.tags.sys_tags()` yields for CPython on Linux
(`cpython_tags()` followed by `compatible_tags()`), with the manylinux platform list
computed here from a fixed glibc ceiling instead of `packaging.tags._manylinux`
inspecting the running host:

  manylinux_2_{N}_{arch} for N = ceiling .. 5 (x86_64) or 17 (aarch64), with the
  legacy aliases manylinux2014 (2.17), manylinux2010 (2.12, x86_64 only) and
  manylinux1 (2.5, x86_64 only) right after their manylinux_2_N equivalents,
  then the bare linux_{arch} tag. No musllinux tags (the runtimes are glibc).

Usage, from `pants-plugins/`:
  python -m repro_lambda.platforms.generate            # (re)write the JSON files here
  python -m repro_lambda.platforms.generate --check    # exit 1 if any committed file differs
  python -m repro_lambda.platforms.generate --out DIR  # write somewhere else
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List, Optional, Tuple

from repro_lambda.core.contract import platform_name
from repro_lambda.core.runtimes import BY_NAME, PYTHON_RUNTIMES

# --------------------------------------------------------------------------------------
# Runtime facts
# --------------------------------------------------------------------------------------

# The runtimes, their OS and its glibc (the wheels' manylinux ceiling) come from the one runtime
# table, `repro_lambda.core.runtimes` (standard library only, like this script).
# Lambda architecture name (as used in file names) -> machine / wheel platform arch.
ARCHITECTURES: Dict[str, str] = {"x86_64": "x86_64", "arm64": "aarch64"}

# Base images, pinned by digest where one could be found (offline; public.ecr.aws was
# not reachable when these were generated, so no digest below has been re-resolved).
# A runtime without a digest has None: see README.md. Never invent a digest here.
IMAGE_REPO = "public.ecr.aws/lambda/python"
IMAGE_DIGESTS: Dict[str, Tuple[Optional[str], str]] = {
    "python3.9": (None, "no digest with an identifiable source found offline"),
    "python3.10": (None, "no digest with an identifiable source found offline"),
    "python3.11": (None, "no digest with an identifiable source found offline"),
    "python3.12": (
        "sha256:92c88c1adc374b073b07b12bd4045497af7da68230d47c2b330423115c5850dc",
        (
            "github.com/gkwa/itsfergus Dockerfile (Renovate-pinned multi-arch index digest); "
            "not re-resolved"
        ),
    ),
    "python3.13": (
        "sha256:9c074a1eb11b6c44050ea8f86fbd7a20f8c623ea34dd69c35798bdfd98de4041",
        (
            "github.com/gkwa/itsfergus Dockerfile @ f94ad22eaac9ce9465c23dff1a3c6e38218b3cd8 "
            "(Renovate-pinned multi-arch index digest); not re-resolved"
        ),
    ),
    "python3.14": (None, "no digest with an identifiable source found offline"),
}

# PEP 508 marker environments, verbatim from the complete platform files Pants ships in
# src/python/pants/backend/awslambda/python/complete_platform_<X.Y>-<arch>.json (github
# pantsbuild/pants), which its build-support/bin/generate_faas_complete_platforms.py
# produced by running `pex3 interpreter inspect --markers --tags` inside
# public.ecr.aws/lambda/python:<X.Y> under `docker run --platform linux/{amd64,arm64}`.
# platform_release / platform_version are the *docker host's* kernel (uname) at the time,
# not Lambda's; they are kept verbatim. The pantsbuild/pants commit of each file is noted.
_LINUXKIT_JAN = ("6.6.12-linuxkit", "#1 SMP Fri Jan 19 08:53:17 UTC 2024")
_LINUXKIT_MAY = ("6.6.31-linuxkit", "#1 SMP Thu May 23 08:36:57 UTC 2024")
_UBUNTU_AWS = ("5.15.0-1052-aws", "#57~20.04.1-Ubuntu SMP Mon Jan 15 17:04:56 UTC 2024")
_AMZN2_X86_64 = ("5.10.247-277.989.amzn2.x86_64", "#1 SMP Sun Jan 4 17:19:21 UTC 2026")
_AMZN2_AARCH64 = ("5.10.247-277.989.amzn2.aarch64", "#1 SMP Sun Jan 4 17:20:01 UTC 2026")

# (runtime, arch) -> (python_full_version, (platform_release, platform_version), source)
MARKER_SOURCES: Dict[Tuple[str, str], Tuple[str, Tuple[str, str], str]] = {
    ("python3.9", "x86_64"): ("3.9.19", _LINUXKIT_JAN, "62c70e64a090085a6d1b9baa3bb280e092b86bf8"),
    ("python3.9", "arm64"): ("3.9.19", _LINUXKIT_MAY, "cec24ad9004bdffa6bf8c1c242de1380ef8631fb"),
    ("python3.10", "x86_64"): ("3.10.14", _UBUNTU_AWS, "56caa5015596d445f432d888bbc76a7d7e088469"),
    ("python3.10", "arm64"): ("3.10.14", _LINUXKIT_MAY, "cec24ad9004bdffa6bf8c1c242de1380ef8631fb"),
    ("python3.11", "x86_64"): ("3.11.9", _LINUXKIT_JAN, "e691d12bfe9572d1d0bd1ec21b055907ccec4c7e"),
    ("python3.11", "arm64"): ("3.11.9", _UBUNTU_AWS, "40a6c0b8029d36d14d60d4285787583f62383fc7"),
    ("python3.12", "x86_64"): ("3.12.3", _LINUXKIT_JAN, "c9442a289832d1384a2c42a63cecc8bc9254a340"),
    ("python3.12", "arm64"): ("3.12.3", _LINUXKIT_MAY, "cec24ad9004bdffa6bf8c1c242de1380ef8631fb"),
    ("python3.13", "x86_64"): ("3.13.0", _LINUXKIT_JAN, "54027313bd3f66e76183e88d5594f110b9661f0c"),
    ("python3.13", "arm64"): ("3.13.0", _LINUXKIT_JAN, "629c71144630254f0291107865450f4bd9a15068"),
    ("python3.14", "x86_64"): ("3.14.0", _AMZN2_X86_64, "a296351dc8b2efb8a937e13e1940e9b59f877c17"),
    ("python3.14", "arm64"): ("3.14.0", _AMZN2_AARCH64, "6dd751e561e5fc512b576ae5dcddef315293aa6b"),
}

# --------------------------------------------------------------------------------------
# Tag generation (mirrors packaging.tags / packaging._manylinux, host-independent)
# --------------------------------------------------------------------------------------

# Oldest glibc minor that packaging considers per arch (2.5 on x86/i686, else 2.17).
_MIN_GLIBC_MINOR = {"x86_64": 5, "i686": 5}
_DEFAULT_MIN_GLIBC_MINOR = 17

# packaging._manylinux._LEGACY_MANYLINUX_MAP plus the arches each legacy tag defines.
_LEGACY_MANYLINUX = {
    (2, 17): (
        "manylinux2014",
        {"x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x"},
    ),
    (2, 12): ("manylinux2010", {"x86_64", "i686"}),
    (2, 5): ("manylinux1", {"x86_64", "i686"}),
}


def manylinux_platforms(arch: str, glibc: Tuple[int, int]) -> List[str]:
    """manylinux platform tags, newest first, for a glibc ceiling (e.g. (2, 26))."""
    major, ceiling = glibc
    if major != 2:
        raise ValueError(f"unsupported glibc major version: {glibc}")
    floor = _MIN_GLIBC_MINOR.get(arch, _DEFAULT_MIN_GLIBC_MINOR)
    if ceiling < floor:
        raise ValueError(f"glibc {glibc} is older than the oldest manylinux for {arch}")
    platforms = []
    for minor in range(ceiling, floor - 1, -1):
        platforms.append(f"manylinux_2_{minor}_{arch}")
        legacy = _LEGACY_MANYLINUX.get((2, minor))
        if legacy and arch in legacy[1]:
            platforms.append(f"{legacy[0]}_{arch}")
    return platforms


def linux_platforms(arch: str, glibc: Tuple[int, int]) -> List[str]:
    """What packaging.tags._linux_platforms() yields on a glibc host: manylinux, linux."""
    return manylinux_platforms(arch, glibc) + [f"linux_{arch}"]


def _nodot(major: int, minor: int) -> str:
    return f"{major}{minor}"


def cpython_tags(version: Tuple[int, int], platforms: List[str]) -> List[str]:
    """packaging.tags.cpython_tags() for a non-debug, non-free-threaded CPython 3.8+."""
    major, minor = version
    interp = f"cp{_nodot(major, minor)}"
    tags = [f"{interp}-{interp}-{p}" for p in platforms]
    tags += [f"{interp}-abi3-{p}" for p in platforms]  # abi3 applies to CPython >= 3.2
    tags += [f"{interp}-none-{p}" for p in platforms]
    for older in range(minor - 1, 1, -1):
        tags += [f"cp{_nodot(major, older)}-abi3-{p}" for p in platforms]
    return tags


def _py_interpreter_range(version: Tuple[int, int]) -> List[str]:
    major, minor = version
    out = [f"py{_nodot(major, minor)}", f"py{major}"]
    out += [f"py{_nodot(major, m)}" for m in range(minor - 1, -1, -1)]
    return out


def compatible_tags(version: Tuple[int, int], interpreter: str, platforms: List[str]) -> List[str]:
    """packaging.tags.compatible_tags()."""
    pys = _py_interpreter_range(version)
    tags = [f"{py}-none-{p}" for py in pys for p in platforms]
    tags.append(f"{interpreter}-none-any")
    tags += [f"{py}-none-any" for py in pys]
    return tags


def sys_tags(version: Tuple[int, int], arch: str, glibc: Tuple[int, int]) -> List[str]:
    platforms = linux_platforms(arch, glibc)
    interp = f"cp{_nodot(*version)}"
    return cpython_tags(version, platforms) + compatible_tags(version, interp, platforms)


# --------------------------------------------------------------------------------------
# Complete platforms
# --------------------------------------------------------------------------------------


def _version(runtime: str) -> Tuple[int, int]:
    version = BY_NAME[runtime].python_version
    assert version is not None
    return version


def marker_environment(runtime: str, arch: str) -> Dict[str, str]:
    full_version, (release, kernel_version), _source = MARKER_SOURCES[(runtime, arch)]
    major, minor = _version(runtime)
    if not full_version.startswith(f"{major}.{minor}."):
        raise ValueError(f"{runtime}: python_full_version {full_version} does not match")
    return {
        "implementation_name": "cpython",
        "implementation_version": full_version,
        "os_name": "posix",
        "platform_machine": ARCHITECTURES[arch],
        "platform_python_implementation": "CPython",
        "platform_release": release,
        "platform_system": "Linux",
        "platform_version": kernel_version,
        "python_full_version": full_version,
        "python_version": f"{major}.{minor}",
        "sys_platform": "linux",
    }


def complete_platform(runtime: str, arch: str) -> Dict[str, object]:
    tags = sys_tags(_version(runtime), ARCHITECTURES[arch], BY_NAME[runtime].os.glibc)
    return {
        "compatible_tags": tags,
        "marker_environment": marker_environment(runtime, arch),
        "path": f"/var/lang/bin/{runtime}",
    }


def file_name(runtime: str, arch: str) -> str:
    return f"{platform_name(runtime, arch)}.json"


def render(data: object) -> str:
    return json.dumps(data, sort_keys=True, indent=2) + "\n"


def images() -> Dict[str, Dict[str, str]]:
    out: Dict[str, Dict[str, str]] = {}
    for runtime in PYTHON_RUNTIMES:
        digest, source = IMAGE_DIGESTS[runtime]
        tag = runtime[len("python") :]
        image = f"{IMAGE_REPO}:{tag}" + (f"@{digest}" if digest else "")
        os_ = BY_NAME[runtime].os
        out[runtime] = {
            "digest_source": source,
            "glibc": "{}.{}".format(*os_.glibc),
            "image": image,
            "os": os_.name,
        }
    return out


def generate_files() -> Dict[str, str]:
    """File name -> exact file contents, for all complete platforms plus images.json."""
    files = {}
    for runtime in PYTHON_RUNTIMES:
        for arch in ARCHITECTURES:
            files[file_name(runtime, arch)] = render(complete_platform(runtime, arch))
    files["images.json"] = render(images())
    return files


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    stale = []
    for name, content in sorted(generate_files().items()):
        path = os.path.join(args.out, name)
        if args.check:
            try:
                with open(path, encoding="utf-8", newline="") as fp:
                    current = fp.read()
            except FileNotFoundError:
                current = None
            if current != content:
                stale.append(name)
        else:
            with open(path, "w", encoding="utf-8", newline="\n") as fp:
                fp.write(content)
            print(f"wrote {path}")
    if stale:
        print("out of date (run generate.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
