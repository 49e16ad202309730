"""Record the sha256 of every zip `./pants package ::` makes here in `tests/e2e/golden-keys.json`.

`reproducibility_test.py` compares a cold build of the checkout with that file, so a change that
re-keys an example fails until the file is updated on purpose. Update it from the repository's
root, then commit it (and say in CHANGELOG.md what re-keys and why):

    PYTHONPATH=tests python3 -m e2e.update_golden_keys

It packages a clean copy of the checkout (no stale `dist/`), with Pants' local cache.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from e2e.checkout import Build, PantsFailed, copy_checkout, run_pants, sha256_of

GOLDEN_KEYS_FILE = "tests/e2e/golden-keys.json"
"""Where the keys are recorded, relative to the checkout."""
UPDATE_COMMAND = "PYTHONPATH=tests python3 -m e2e.update_golden_keys"
_UMASK = 0o022
_TZ = "UTC"
# The ./pants launcher's fallback for `[GLOBAL].ca_certs_path`, which `run_pants` does not pass on.
_LAUNCHER_ENV_VARS = ("SSL_CERT_FILE",)


def artifact_keys(build: Build) -> dict[str, str]:
    """The sha256 of every zip the build made, by dist-relative path."""
    return {name: sha256_of(path) for name, path in build.zips().items()}


def read_golden_keys(checkout: Path) -> dict[str, str]:
    keys: dict[str, str] = json.loads((checkout / GOLDEN_KEYS_FILE).read_text())
    return keys


def key_changes(golden: dict[str, str], actual: dict[str, str]) -> list[str]:
    """One line per artifact whose key differs from the golden one, is new or is gone."""
    return [
        f"  {name}: {golden.get(name, 'not recorded')} -> {actual.get(name, 'not built')}"
        for name in sorted(golden.keys() | actual.keys())
        if golden.get(name) != actual.get(name)
    ]


def main() -> int:
    buildroot = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory(
        prefix="repro-lambda-golden-", ignore_cleanup_errors=True
    ) as tmp:
        checkout = Path(tmp, "repo")
        copy_checkout(buildroot, checkout, umask=_UMASK)
        try:
            build = run_pants(
                checkout,
                "--no-pantsd",
                "package",
                "::",
                umask=_UMASK,
                tz=_TZ,
                cached=True,
                env={name: os.environ[name] for name in _LAUNCHER_ENV_VARS if name in os.environ},
            )
        except PantsFailed as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        actual = artifact_keys(build)
    golden_file = buildroot / GOLDEN_KEYS_FILE
    golden = read_golden_keys(buildroot) if golden_file.exists() else {}
    golden_file.write_text(json.dumps(actual, indent=2, sort_keys=True) + "\n")
    changes = key_changes(golden, actual)
    print(f"{GOLDEN_KEYS_FILE}: {len(changes)} of {len(actual)} keys changed", *changes, sep="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
