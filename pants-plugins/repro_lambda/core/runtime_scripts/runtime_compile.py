"""Compiles first-party modules with the runtime's own Python, which knows its grammar exactly.

Run isolated (`python -I -S -B runtime_compile.py ROOT`) by the interpreter of the runtime's
version where the host has one: every `.py` file under ROOT (paths relative to it are archive
paths) must compile. Standard library only, Python 3.9 syntax. On failure it prints an `error: `
line per file and exits 2.
"""

from __future__ import annotations

import os
import sys

ERROR_PREFIX = "error: "
"""The same as the packer's (`repro_lambda.core.contract`), which the plugin parses."""


def where_and_why(path: str, error: Exception) -> tuple[str, str]:
    """`path:line` and the message of the SyntaxError (or ValueError) compiling `path` raised."""
    line = getattr(error, "lineno", None)
    return f"{path}:{line}" if line else path, getattr(error, "msg", str(error))


def does_not_compile(path: str, error: Exception, python: str) -> str:
    """The error for module `path` (an archive path) that Python `python` cannot compile."""
    where, why = where_and_why(path, error)
    return (
        f"{where}: {why} (Python {python}, the runtime's): fix the module, or drop it from the"
        " handler's dependencies"
    )


def compile_errors(root: str) -> list[str]:
    """What does not compile under `root`, in archive path order."""
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    paths = sorted(
        os.path.relpath(os.path.join(directory, name), root).replace(os.sep, "/")
        for directory, _, names in os.walk(root)
        for name in names
        if name.endswith(".py")
    )
    errors = []
    for path in paths:
        with open(os.path.join(root, path), "rb") as file:
            source = file.read()
        try:
            compile(source, path, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as error:  # ValueError: null bytes, before Python 3.12
            errors.append(does_not_compile(path, error, python))
    return errors


def main(argv: list[str]) -> int:
    (root,) = argv
    errors = compile_errors(root)
    for error in errors:
        print(f"{ERROR_PREFIX}{error}", file=sys.stderr)
    return 2 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
