"""Checks that every first-party Python module of an artifact compiles for its runtime's Python."""

from __future__ import annotations

import ast
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from repro_lambda.core.contract import UserError
from repro_lambda.core.runtime_scripts.runtime_compile import does_not_compile, where_and_why

NEW_SYNTAX = {
    (3, 12): "type parameters and f-strings with nested quotes",
    (3, 14): "template strings and `except` without parentheses",
}
"""Syntax each Python version added, which an older packer cannot parse."""


class CompiledModules(NamedTuple):
    """The parsed modules (archive path -> tree), and warnings for files only a newer Python than
    the packer's can judge."""

    trees: dict[str, ast.Module]
    warnings: list[str]


def check_compiles(sources: Mapping[str, Path], version: tuple[int, int]) -> CompiledModules:
    """Raise UserError unless every `.py` file of `sources` (archive path -> file) compiles for
    Python `version`."""
    here = sys.version_info[:2]
    unknown = [NEW_SYNTAX[v] for v in sorted(NEW_SYNTAX) if here < v <= version]
    compiled = CompiledModules({}, [])
    for path, file in sorted(sources.items()):
        if not path.endswith(".py"):
            continue
        try:
            tree = ast.parse(file.read_bytes(), path, feature_version=min(version, here))
            compile(tree, path, "exec", dont_inherit=True)
            compiled.trees[path] = tree
        except (SyntaxError, ValueError) as error:  # ValueError: null bytes, before Python 3.12
            if unknown:
                where, why = where_and_why(path, error)
                compiled.warnings.append(
                    f"{where} does not compile on the packer's Python {here[0]}.{here[1]}, which"
                    f" cannot check Python {version[0]}.{version[1]}'s {', '.join(unknown)}:"
                    f" {why}"
                )
                continue
            raise UserError(does_not_compile(path, error, f"{version[0]}.{version[1]}")) from None
    return compiled
