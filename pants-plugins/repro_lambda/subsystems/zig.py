"""`[lambda-zig]`: the pinned Zig toolchain that cross-compiles sdists' C extensions.

Zig's `cc` targets any machine and glibc version from any host (`aarch64-linux-gnu.2.26`), so an
extension builds for a Lambda runtime without Docker, emulation or the host's compiler. It comes in
the platform's `ziglang` wheel from PyPI, checked against its sha256 by Pants; the build unpacks it
once per machine into a named cache.
"""

from __future__ import annotations

from pants.core.util_rules.external_tool import TemplatedExternalTool
from pants.util.strutil import help_text

from repro_lambda.core.install.cross_pins import PYPI_FILES, ZIG_VERSION, ZIG_WHEELS


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

    default_version = ZIG_VERSION
    default_url_template = PYPI_FILES + "/{platform}.whl"
    default_url_platform_mapping = {platform: path for platform, (path, _, _) in ZIG_WHEELS.items()}
    default_known_versions = [
        f"{ZIG_VERSION}|{platform}|{sha256}|{size}"
        for platform, (_, sha256, size) in ZIG_WHEELS.items()
    ]
