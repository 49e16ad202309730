"""An arm64 interpreter of a runtime's Python version for this x86_64 machine: Debian's packages of
it (pinned by sha256) unpacked into a root that `qemu-aarch64-static -L` runs it in, so a test can
import an arm64 artifact's native code. Needs Debian's `qemu-user-static` (`.ci/run` installs it).
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
import urllib.request
from pathlib import Path
from typing import Any

from repro_lambda.core.install.python_headers import debian_data

QEMU = "qemu-aarch64-static"
DEBIAN = "https://deb.debian.org/debian/pool/main"
# Python 3.11 from bookworm, 3.13 from trixie, with the libraries their interpreter and the
# examples' imports (zlib, expat for xml.sax) load: (path under the pool, sha256).
PACKAGES = {
    "3.11": (
        (
            "p/python3.11/python3.11-minimal_3.11.2-6+deb12u8_arm64.deb",
            "6a07dd571f1a15af2f855d64571766fe44b73a57cc3b5ca79502bc89156a5e12",
        ),
        (
            "p/python3.11/libpython3.11-minimal_3.11.2-6+deb12u8_arm64.deb",
            "c48bac178c0fc43a2bf8ace784c762b5ee83e2b981894a991dc3ccfd3ec7cd4b",
        ),
        (
            "p/python3.11/libpython3.11-stdlib_3.11.2-6+deb12u8_arm64.deb",
            "e79876de55c6c2dca10d044b2fa69ccd863950ea01714220c1982d16008105f9",
        ),
        (
            "g/glibc/libc6_2.36-9+deb12u14_arm64.deb",
            "01f4330719fd4f65580e16ea5a0527f372fca750e8f588d26deaf09f2d3b1cf4",
        ),
        (
            "z/zlib/zlib1g_1.2.13.dfsg-1_arm64.deb",
            "52b8b8a145bbe1956bba82034f77022cbef0c3d0885c9e32d9817a7932fe1913",
        ),
        (
            "e/expat/libexpat1_2.5.0-1+deb12u2_arm64.deb",
            "8dc1976735acf825e3a922d82f171e20feec7394da2b8c616091983e38706275",
        ),
    ),
    "3.13": (
        (
            "p/python3.13/python3.13-minimal_3.13.5-2+deb13u5_arm64.deb",
            "95237a3ad99bf9366308e16f7c79449c9371c4cff9c883772fb7c254652467eb",
        ),
        (
            "p/python3.13/libpython3.13-minimal_3.13.5-2+deb13u5_arm64.deb",
            "3655ef258b19142cf6fe38ef89731d5c630b2cf3309632494a720b28c1cfcd85",
        ),
        (
            "p/python3.13/libpython3.13-stdlib_3.13.5-2+deb13u5_arm64.deb",
            "d1178d24e4d143cc6c577d9dc0f26dd982efccc2e600d25ce86361f168a22be0",
        ),
        (
            "g/glibc/libc6_2.41-12+deb13u5_arm64.deb",
            "0966fc3da1a26cc57647c68b5736f791b6e7eb498173a7993f63b6c89b4ed4f5",
        ),
        (
            "z/zlib/zlib1g_1.3.dfsg+really1.3.1-1+deb13u1_arm64.deb",
            "0e41b3d7ad8ad7fcd36dd4d61ca91a70018478fc4af652e044f4be770784ddff",
        ),
        (
            "e/expat/libexpat1_2.9.0-1~deb13u1_arm64.deb",
            "d9e1c50fcdad079fe16d77f1578adcc763be1bf7f2da7fa8adca7010b0c84c83",
        ),
    ),
}


def arm64_python(version: str, root: Path) -> list[str] | None:
    """The command that runs Python `version` for arm64 under qemu from `root` (unpacked there on
    first use), or None without qemu."""
    qemu = shutil.which(QEMU)
    if qemu is None:
        return None
    if not (root / "usr/bin").is_dir():
        for path, sha256 in PACKAGES[version]:
            with urllib.request.urlopen(f"{DEBIAN}/{path}", timeout=120) as response:
                deb = response.read()
            assert hashlib.sha256(deb).hexdigest() == sha256, f"{path} is not the pinned package"
            # pinned Debian packages, links and all; the filter keeps what they hold inside `root`
            options: dict[str, Any] = {"filter": "tar"}
            with tarfile.open(fileobj=io.BytesIO(debian_data(deb, path))) as data:
                data.extractall(root, **options)
        for merged in ("lib", "bin"):  # trixie's /lib and /bin are links into /usr
            if not (root / merged).exists():
                (root / merged).symlink_to(f"usr/{merged}")
    return [qemu, "-L", str(root), str(root / f"usr/bin/python{version}")]
