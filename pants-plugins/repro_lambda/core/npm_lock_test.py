"""The npm lockfile policy: registry packages over https with an integrity hash, nothing else."""

from __future__ import annotations

import re
from typing import Any

import pytest

from repro_lambda.core.contract import UserError
from repro_lambda.core.npm_lock import check_npm_lock

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
    without_resolved = {"version": "1.0.0-beta.1", "integrity": f"{INTEGRITY} sha256-AAAA"}
    check_npm_lock(
        lock(
            **{
                "node_modules/ms": MS,
                "node_modules/a/node_modules/@scope/b": {**MS, "resolved": f"{REGISTRY}@scope/b"},
                "node_modules/c": without_resolved,
                "node_modules/c/node_modules/bundled": {"inBundle": True},
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
