"""`[lambda-pex]`: the pinned pex that runs every install of the plugin, apart from the host's
pip configuration.

Pants 2.17 runs pex 2.1.137 by default, which cannot install locked wheels for a Python other than
its own from an empty cache (pex issue #2395, fixed in 2.3.1). The plugin runs its own pex instead,
downloaded from PyPI and checked against its sha256 by Pants, so every Pants repository gets the
same installs whatever its `[pex-cli]` says. Each process reads no pip configuration of the host
(`PIP_CONFIG_FILE` is the null device, and pex runs pip `--isolated`, so no `PIP_*` variable either)
and keeps pex's state in a named cache: indexes and mirrors come only from `[python-repos]`.
"""

from __future__ import annotations

from pants.core.util_rules.external_tool import TemplatedExternalTool
from pants.util.strutil import help_text


class LambdaPexCli(TemplatedExternalTool):
    options_scope = "lambda-pex"
    name = "pex"
    help = help_text(
        """
        The pex that installs wheels for Lambda platforms, writes Lambda platform locks and sets up
        the plugin's packer and publisher: the pure-Python wheel from PyPI, pinned by sha256.

        Its processes ignore every pip configuration file and `PIP_*` variable of the host; set
        indexes and find-links with `[python-repos]`. `url_template` is the URL of that one
        wheel: point it at a mirror if PyPI's file host is not reachable, and to use another pex
        (2.3.1 or newer) set `version`, `known_versions` and the URL of its wheel from PyPI's
        simple index.
        """
    )

    default_version = "2.105.2"
    default_url_template = (
        "https://files.pythonhosted.org/packages/43/8c/"
        "7e073f41b8c0935e4fa8471902a2917b6c14a85e19ead116cd18c7c6d0fe/"
        "pex-2.105.2-py2.py35.py36.py37.py38.py39.py310.py311-none-any.whl"
    )
    # 2.3.1 fixed installing locked wheels for a foreign Python from an empty cache (pex #2395).
    version_constraints = ">=2.3.1,<3"
    default_known_versions = [
        f"2.105.2|{platform}|5a4d73fbeab30ddf70e360971cb19b9fa80b2a29cfe83e786215fcdd5ef1af9d"
        "|4130984"
        for platform in ("linux_x86_64", "linux_arm64", "macos_x86_64", "macos_arm64")
    ]
