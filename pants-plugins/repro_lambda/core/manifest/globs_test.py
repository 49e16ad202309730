from __future__ import annotations

import pytest

from repro_lambda.core.manifest.globs import to_pants_globs


@pytest.mark.parametrize(
    "pattern, glob",
    [
        ("**/*.py", "src/app/**/*.py"),
        ("*.pyc", "src/app/**/*.pyc"),
        (".env*", "src/app/**/.env*"),
        ("LICENSE*", "src/app/**/LICENSE*"),
        (".venv/**", "src/app/.venv/**"),
        ("worker/**/*.py", "src/app/worker/**/*.py"),
        ("/handler.py", "src/app/handler.py"),
        ("build/", "src/app/**/build/**"),
        ("**/tests/**", "src/app/**/tests/**"),
    ],
)
def test_patterns_become_globs_under_the_source_dir(pattern: str, glob: str) -> None:
    assert to_pants_globs("src/app/", [pattern], []) == (glob,)


def test_excludes_are_negated() -> None:
    assert to_pants_globs("src/app", ["**/*.py"], ["*.pyc", ".git/**"]) == (
        "src/app/**/*.py",
        "!src/app/**/*.pyc",
        "!src/app/.git/**",
    )
