"""The manifest's include and exclude patterns, relative to `source_dir`, as Pants globs.

The reference's patterns read like `.gitignore`: a pattern without a `/` matches a file's name
at any depth (`*.pyc`, `.env*`, `LICENSE*`); one with a `/`, a leading one too, is anchored at
`source_dir` (`.venv/**`, `worker/**/*.py`); a trailing `/` means a directory's contents; `**`
matches any number of directories (`**/*.py` takes `app.py` too) and `*` stays within one name,
as in Pants' globs. Standard library only, Python 3.9.
"""

from __future__ import annotations

from typing import Iterable, Tuple


def _glob(source_dir: str, pattern: str) -> str:
    anchored = "/" in pattern.rstrip("/")
    body = pattern.strip("/") + ("/**" if pattern.endswith("/") else "")
    return f"{source_dir}/{body if anchored or body.startswith('**') else '**/' + body}"


def to_pants_globs(
    source_dir: str, include: Iterable[str], exclude: Iterable[str]
) -> Tuple[str, ...]:
    """The `sources` globs (relative to the build root) that select what `include` and
    `exclude` select under `source_dir`."""
    root = source_dir.strip("/")
    return (
        *(_glob(root, pattern) for pattern in include),
        *(f"!{_glob(root, pattern)}" for pattern in exclude),
    )
