"""The pinned downloads of a cross build, defined once: the Zig wheel of each host platform and the
Python headers of each runtime × architecture (the defaults of `[lambda-zig]` and
`[lambda-sdist-build].python_headers`, and what the layer builder service uses), and the Zig
target of a runtime × architecture. Standard library only, Python 3.9 syntax.
"""

from __future__ import annotations

from typing import Dict, Tuple

from repro_lambda.core.contract import Architecture
from repro_lambda.core.runtimes import BY_NAME

PYPI_FILES = "https://files.pythonhosted.org/packages"
ZIG_VERSION = "0.17.1"
ZIG_WHEELS: Dict[str, Tuple[str, str, int]] = {
    # Pants' name of the host platform: the wheel's path under PYPI_FILES without `.whl`, its
    # sha256 and size
    "linux_x86_64": (
        "59/e3/2a34676370a11c36b7cd04ffb2439c1089c0530cf4b01408c77cf7f8d9c3/ziglang-0.17.1-py3-none"
        "-manylinux_2_12_x86_64.manylinux2010_x86_64.musllinux_1_1_x86_64",
        "ea6cc5d87b033cf0aedfbc8f9549a908cae6c50ac31f1698188fa48a74524b54",
        101083562,
    ),
    "linux_arm64": (
        "91/72/bb7c4f098ba3e535fa2ebefd9f26327ba63fb0672562959255cb5dd37aff/ziglang-0.17.1-py3-none"
        "-manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64",
        "b7c5f02fccd40f89b999ee16a1f5ddced56e6182370f8affe494bcf8a28cf07e",
        98063064,
    ),
    "macos_x86_64": (
        "17/f6/f4dfc8cf0e510980fda251a8edf99823b9446f5d7a2a6a24801e55e09c28/ziglang-0.17.1-py3-none"
        "-macosx_13_0_x86_64",
        "4e0b4b9c02b8d0d220e9948010f860b62ff11d96abb39762eca5fa2ef3f7bc97",
        104485232,
    ),
    "macos_arm64": (
        "ea/e1/4a9a97324fcf2d292c14a2e0121ea0df86c01d0c307ea24fa35aebaccd15/ziglang-0.17.1-py3-none"
        "-macosx_13_0_arm64",
        "09953b6af7f64168b915180a42774f520f92d86ef6331b28e33915c7e1f0bb23",
        100390379,
    ),
}
_DEBIAN = "https://deb.debian.org/debian/pool/main/p"
PYTHON_HEADERS: Tuple[str, ...] = (
    # runtime|architecture|url|sha256|size: Debian's packages of Python 3.11 (bookworm) and 3.13
    # (trixie)
    f"python3.11|x86_64|{_DEBIAN}/python3.11/libpython3.11-dev_3.11.2-6+deb12u8_amd64.deb"
    "|01a8eddeb8505bb6e2c01209cda66b41fb5ebeaa64e69d0e25f7131915f1cd32|4737920",
    f"python3.11|arm64|{_DEBIAN}/python3.11/libpython3.11-dev_3.11.2-6+deb12u8_arm64.deb"
    "|454a191a37dd86674c309691904be69d499f060e643c1f8efc8b82078967cd48|4394264",
    f"python3.13|x86_64|{_DEBIAN}/python3.13/libpython3.13-dev_3.13.5-2+deb13u5_amd64.deb"
    "|4bd7b17ffbeb367ce1fef8b6ff02536a25f29fc07372d1bdd3ed1e1faa5b9409|5285588",
    f"python3.13|arm64|{_DEBIAN}/python3.13/libpython3.13-dev_3.13.5-2+deb13u5_arm64.deb"
    "|cd8e73644d319576d8cf02ab63ccd6b1fb8eb12637b5f59114b520a9b3d4741e|4932808",
)


def zig_target(runtime: str, architecture: Architecture) -> str:
    """What Zig compiles a runtime × architecture's extensions for: `aarch64-linux-gnu.2.26`."""
    glibc = ".".join(map(str, BY_NAME[runtime].os.glibc))
    return f"{architecture.machine}-linux-gnu.{glibc}"
