"""`[lambda-zig]`: the pinned Zig toolchain that cross-compiles sdists' C extensions.

Zig's `cc` targets any machine and glibc version from any host (`aarch64-linux-gnu.2.26`), so an
extension builds for a Lambda runtime without Docker, emulation or the host's compiler. It comes in
the platform's `ziglang` wheel from PyPI, checked against its sha256 by Pants; the build unpacks it
once per machine into a named cache.
"""

from __future__ import annotations

from pants.core.util_rules.external_tool import TemplatedExternalTool
from pants.util.strutil import help_text

_FILES = "https://files.pythonhosted.org/packages"


class LambdaZig(TemplatedExternalTool):
    options_scope = "lambda-zig"
    name = "zig"
    help = help_text(
        """
        The Zig toolchain that compiles the C and C++ extensions of sdists for a Lambda runtime's
        machine and glibc: the platform's `ziglang` wheel from PyPI, pinned by sha256. To use a
        mirror, point `url_template` and `url_platform_mapping` at its copies of the wheels.
        """
    )

    default_version = "0.17.1"
    default_url_template = _FILES + "/{platform}.whl"
    default_url_platform_mapping = {
        "linux_x86_64": "59/e3/2a34676370a11c36b7cd04ffb2439c1089c0530cf4b01408c77cf7f8d9c3/"
        "ziglang-0.17.1-py3-none-manylinux_2_12_x86_64.manylinux2010_x86_64.musllinux_1_1_x86_64",
        "linux_arm64": "91/72/bb7c4f098ba3e535fa2ebefd9f26327ba63fb0672562959255cb5dd37aff/"
        "ziglang-0.17.1-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64"
        ".musllinux_1_1_aarch64",
        "macos_x86_64": "17/f6/f4dfc8cf0e510980fda251a8edf99823b9446f5d7a2a6a24801e55e09c28/"
        "ziglang-0.17.1-py3-none-macosx_13_0_x86_64",
        "macos_arm64": "ea/e1/4a9a97324fcf2d292c14a2e0121ea0df86c01d0c307ea24fa35aebaccd15/"
        "ziglang-0.17.1-py3-none-macosx_13_0_arm64",
    }
    default_known_versions = [
        "0.17.1|linux_x86_64|ea6cc5d87b033cf0aedfbc8f9549a908cae6c50ac31f1698188fa48a74524b54"
        "|101083562",
        "0.17.1|linux_arm64|b7c5f02fccd40f89b999ee16a1f5ddced56e6182370f8affe494bcf8a28cf07e"
        "|98063064",
        "0.17.1|macos_x86_64|4e0b4b9c02b8d0d220e9948010f860b62ff11d96abb39762eca5fa2ef3f7bc97"
        "|104485232",
        "0.17.1|macos_arm64|09953b6af7f64168b915180a42774f520f92d86ef6331b28e33915c7e1f0bb23"
        "|100390379",
    ]
