"""The npm lockfile policy: registry packages over https with an integrity hash, nothing else."""

from __future__ import annotations

import re
from typing import Any

import pytest

from repro_lambda.core.contract import UserError
from repro_lambda.core.install.npm_lock import check_npm_lock

REGISTRY = "https://registry.npmjs.org/"
INTEGRITY = "sha512-" + "A" * 86 + "=="
MS: dict[str, Any] = {
    "version": "2.1.3",
    "resolved": f"{REGISTRY}ms/-/ms-2.1.3.tgz",
    "integrity": INTEGRITY,
}


def lock(**packages: Any) -> dict[str, Any]:
    return {"lockfileVersion": 3, "packages": {"": {"name": "fn"}, **packages}}


def refusal(entry: dict) -> str:
    with pytest.raises(UserError) as error:
        check_npm_lock(lock(**{"node_modules/pkg": entry}), REGISTRY, "fn/package-lock.json")
    return str(error.value)


def test_registry_packages_with_integrity_pass() -> None:
    sha256 = "sha256-" + "B" * 43 + "="
    without_resolved = {"version": "1.0.0-beta.1", "integrity": f"{INTEGRITY} {sha256}"}
    bundler = {**MS, "bundleDependencies": ["bundled"]}
    check_npm_lock(
        lock(
            **{
                "node_modules/ms": MS,
                "node_modules/a/node_modules/@scope/b": {**MS, "resolved": f"{REGISTRY}@scope/b"},
                "node_modules/c": without_resolved,
                "node_modules/d": bundler,
                "node_modules/d/node_modules/bundled": {"inBundle": True},
                # a dependency of a bundled package, hoisted inside the same tarball
                "node_modules/d/node_modules/hoisted": {"inBundle": True},
                "node_modules/d/node_modules/bundled/node_modules/x": {"inBundle": True},
                "node_modules/dev-only": {"resolved": "git+ssh://git@host/dev.git", "dev": True},
            }
        ),
        REGISTRY.rstrip("/"),
        "package-lock.json",
    )


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({**MS, "resolved": "http://registry.npmjs.org/ms.tgz"}, "is resolved from {resolved!r}"),
        (
            {**MS, "resolved": "git+ssh://git@github.com/vercel/ms.git"},
            "is resolved from {resolved!r}",
        ),
        ({**MS, "resolved": "file:../vendor/ms-2.1.3.tgz"}, "is resolved from {resolved!r}"),
        ({**MS, "resolved": "https://evil.example/ms.tgz"}, "is resolved from {resolved!r}"),
        ({"resolved": "../outside", "link": True}, "is a link to a directory (`file:` or `link:`)"),
        ({**MS, "integrity": None}, "has no sha256, sha384 or sha512 `integrity`"),
        ({**MS, "integrity": "sha1-abc="}, "has no sha256, sha384 or sha512 `integrity`"),
        ({**MS, "integrity": ""}, "has no sha256, sha384 or sha512 `integrity`"),
        ({**MS, "integrity": " "}, "has no sha256, sha384 or sha512 `integrity`"),
        ({**MS, "integrity": "sha512-AAAA"}, "has no sha256, sha384 or sha512 `integrity`"),
        ({**MS, "integrity": "sha512-" + "!" * 88}, "has no sha256, sha384 or sha512 `integrity`"),
        (
            {**MS, "integrity": f"{INTEGRITY} sha256-x"},
            "has no sha256, sha384 or sha512 `integrity`",
        ),
        (
            # the project is not a tarball: npm ci fetches a top-level `inBundle` from `resolved`
            {"inBundle": True, "resolved": "http://evil.example/pkg.tgz", "version": "1.0.0"},
            "is marked `inBundle`, but no package above it bundles dependencies",
        ),
        (
            {"version": "github:vercel/ms", "integrity": INTEGRITY},
            "has no `resolved` URL and version 'github:vercel/ms' is not a registry version",
        ),
    ],
)
def test_refuses_what_is_not_a_pinned_registry_package(entry: dict, problem: str) -> None:
    assert refusal(entry) == (
        "fn/package-lock.json installs packages from outside the registry"
        " https://registry.npmjs.org/ or without an integrity hash: pkg (node_modules/pkg)"
        f" {problem.format(resolved=entry.get('resolved'))}."
        " Depend on registry releases (`npm install <name>@<version>`) and regenerate the"
        " lockfile, or set `[nodejs-lambda].registry` to the registry they come from"
    )


def test_names_the_first_offenders_and_counts_the_rest() -> None:
    bad = {f"node_modules/p{i}": {**MS, "integrity": None} for i in range(7)}
    with pytest.raises(UserError, match=r"p4 \(node_modules/p4\) [^;]*; and 2 more\. Depend"):
        check_npm_lock(lock(**bad), REGISTRY, "package-lock.json")


def test_lockfile_version_1_and_plain_http_registry_are_refused() -> None:
    with pytest.raises(UserError, match="^package-lock.json is a lockfileVersion 1 file"):
        check_npm_lock({"lockfileVersion": 1, "dependencies": {}}, REGISTRY, "package-lock.json")
    with pytest.raises(UserError, match=re.escape("'http://localhost:4873' is not an https URL")):
        check_npm_lock(lock(), "http://localhost:4873", "package-lock.json")


def test_in_bundle_needs_a_package_above_it_that_bundles() -> None:
    nested: dict[str, Any] = {
        "node_modules/a": MS,
        "node_modules/a/node_modules/pkg": {"inBundle": True},
    }
    in_bundle_chain: dict[str, Any] = {
        "node_modules/a": {**MS, "inBundle": True},
        "node_modules/a/node_modules/pkg": {"inBundle": True},
    }
    linked: dict[str, Any] = {
        "node_modules/a": {"resolved": "../a", "link": True, "bundleDependencies": True},
        "node_modules/a/node_modules/pkg": {"inBundle": True},
    }
    for packages in (nested, in_bundle_chain, linked):
        with pytest.raises(UserError, match=r"pkg \(node_modules/a/node_modules/pkg\) is marked"):
            check_npm_lock(lock(**packages), REGISTRY, "package-lock.json")
    bundles_all = {**nested, "node_modules/a": {**MS, "bundleDependencies": True}}
    check_npm_lock(lock(**bundles_all), REGISTRY, "package-lock.json")
