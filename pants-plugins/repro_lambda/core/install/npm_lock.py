"""Checks that a `package-lock.json` installs only integrity-pinned packages of one registry.

`npm ci` installs whatever the lockfile says, from wherever it says: a plain-http URL, a git
repository, a tarball or directory anywhere on disk. None of those is in the install's cache key
and some carry no hash. Only registry packages with an `integrity` are allowed, so that the
lockfile alone decides what is installed.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from repro_lambda.core.contract import UserError

_SRI = re.compile(r"sha(256|384|512)-([A-Za-z0-9+/]+={0,2})")
_VERSION = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
_SHOWN = 5


def check_npm_lock(lock: Mapping[str, Any], registry: str, lockfile: str) -> None:
    """Raise UserError unless every package `npm ci --omit=dev` may install from `lock` comes
    from `registry` over https (or, with no `resolved`, by version from it) with an integrity
    hash."""
    packages = lock.get("packages")
    version = lock.get("lockfileVersion", 1)
    if not isinstance(version, int) or version < 2 or not isinstance(packages, Mapping):
        raise UserError(
            f"{lockfile} is a lockfileVersion 1 file, which npm 7 and later replace: regenerate it"
            " with `npm install --package-lock-only`"
        )
    prefix = registry if registry.endswith("/") else f"{registry}/"
    if not prefix.startswith("https://"):
        raise UserError(f"the npm registry {registry!r} is not an https URL")
    problems = [
        f"{path.rpartition('node_modules/')[2]} ({path}) {problem}"
        for path, entry in sorted(packages.items())
        if path and isinstance(entry, Mapping) and not entry.get("dev")
        for problem in [_problem(path, entry, packages, prefix)]
        if problem
    ]
    if problems:
        more = f"; and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
        raise UserError(
            f"{lockfile} installs packages from outside the registry {prefix} or without an"
            f" integrity hash: {'; '.join(problems[:_SHOWN])}{more}. Depend on registry releases"
            " (`npm install <name>@<version>`) and regenerate the lockfile, or set"
            " `[nodejs-lambda].registry` to the registry they come from"
        )


def _problem(
    path: str, entry: Mapping[str, Any], packages: Mapping[str, Any], registry: str
) -> str | None:
    if entry.get("link"):
        return "is a link to a directory (`file:` or `link:`)"
    if entry.get("inBundle"):
        if _bundler(path, packages) is None:
            return "is marked `inBundle`, but no package above it bundles dependencies"
        return None  # Inside its bundler's tarball, which is checked.
    resolved = entry.get("resolved")
    if resolved is None:
        version = entry.get("version")
        if not isinstance(version, str) or not _VERSION.match(version):
            return f"has no `resolved` URL and version {version!r} is not a registry version"
    elif not isinstance(resolved, str) or not resolved.startswith(registry):
        return f"is resolved from {resolved!r}"
    integrity = entry.get("integrity")
    if not isinstance(integrity, str) or not _well_formed(integrity.split()):
        return "has no sha256, sha384 or sha512 `integrity`"
    return None


def _parent(path: str) -> str:
    """`node_modules/a` for `node_modules/a/node_modules/@s/b`; `""` (the project) at the top."""
    return path[: path.rindex("node_modules/")].rstrip("/")


def _bundler(path: str, packages: Mapping[str, Any]) -> str | None:
    """The package whose tarball holds the `inBundle` entry at `path`: the nearest package above
    it that is not `inBundle` itself, if that is an installed package (not the project, whose
    "bundle" is whatever the lockfile says) that declares `bundleDependencies`."""
    parent = _parent(path)
    entry = packages.get(parent)
    while parent and isinstance(entry, Mapping) and entry.get("inBundle"):
        parent = _parent(parent)
        entry = packages.get(parent)
    if not parent or not isinstance(entry, Mapping) or entry.get("link"):
        return None
    bundled = entry.get("bundleDependencies", entry.get("bundledDependencies"))
    return parent if bundled is True or (isinstance(bundled, list) and bundled) else None


_DIGEST_BYTES = {"256": 32, "384": 48, "512": 64}


def _well_formed(hashes: list[str]) -> bool:
    """At least one hash, each `sha256-`, `sha384-` or `sha512-` and a base64 digest of that
    algorithm's length."""
    for value in hashes:
        match = _SRI.fullmatch(value)
        if not match:
            return False
        try:
            digest = base64.b64decode(match[2], validate=True)
        except binascii.Error:
            return False
        if len(digest) != _DIGEST_BYTES[match[1]]:
            return False
    return bool(hashes)
