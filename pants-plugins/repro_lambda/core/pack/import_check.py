"""Checks that every import of a Python function's first-party modules can succeed in Lambda:
from the artifact, its layers or the runtime.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import NamedTuple, cast

from repro_lambda.core.contract import UserError
from repro_lambda.core.pack.stdlib import stdlib_modules

OPTIONAL_IMPORT_ERRORS = frozenset(
    {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}
)
"""Exceptions whose handler makes the imports of a `try` body optional (a bare `except` too)."""

CONDITION_NAMES = frozenset({"TYPE_CHECKING", "version_info", "platform"})
"""Names whose mention in an `if` test makes the imports under it conditional."""

_NOT_MODULES = (".dist-info", ".data", ".egg-info", ".libs")

_TRY = ("Try", "TryStar")
"""`try` statements (`TryStar` is `try`/`except*`, Python 3.11+)."""


class Import(NamedTuple):
    """One module a file imports: absolute, or `None` for a relative import that goes beyond the
    top-level package."""

    module: str | None
    path: str
    line: int
    weak: bool


def find_imports(path: str, tree: ast.Module) -> Iterator[Import]:
    """The modules that `tree`, the module at archive path `path`, imports."""
    # where relative imports start from, in `a/b.py` as in `a/__init__.py`
    package = path.split("/")[:-1]
    for node, weak in _walk(tree.body, weak=False):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, path, node.lineno, weak)
        elif isinstance(node, ast.ImportFrom):
            module = node.module
            if node.level:
                up = node.level - 1
                if up >= len(package):
                    yield Import(None, path, node.lineno, weak)
                    continue
                module = ".".join([*package[: len(package) - up], *([module] if module else [])])
            if module:
                yield Import(module, path, node.lineno, weak)


def check_imports(
    trees: Mapping[str, ast.Module],
    first_party: Collection[str],
    third_party: Collection[str],
    version: tuple[int, int],
    runtime_provides: Collection[str] = (),
) -> None:
    """Raise UserError unless every import of `trees` (archive path -> module) that is not weak
    resolves to a first-party module (`first_party`: archive paths), a top-level module of
    `third_party` (archive paths, of the artifact and its layers), the standard library of Python
    `version` or a top-level module of `runtime_provides`."""
    provided = stdlib_modules(version) | set(runtime_provides) | _top_levels(third_party)
    first_party_modules = _modules(first_party)
    failures = []
    for path, tree in sorted(trees.items()):
        for found in find_imports(path, tree):
            if found.weak:
                continue
            where = f"{found.path}:{found.line}"
            if found.module is None:
                failures.append(f"{where} (a relative import beyond the top-level package)")
                continue
            top = found.module.split(".")[0]
            if top in first_party_modules:
                # a namespace package may span first- and third-party files
                if found.module not in first_party_modules and top not in provided:
                    failures.append(f"{where} `{found.module}` (no such module)")
            elif top not in provided:
                failures.append(f"{where} `{found.module}`")
    if failures:
        python = f"{version[0]}.{version[1]}"
        raise UserError(
            f"imports that cannot succeed on Python {python}: {'; '.join(failures)}. Nothing in"
            " the artifact, its layers or the runtime provides them: add a `python_requirement`"
            " for each to the lambda's resolve (and to its `dependencies` where Pants cannot infer"
            " it), fix the module name, or guard an optional import with `try`/`except"
            " ImportError`"
        )


def layer_paths(names: Iterable[str], version: tuple[int, int]) -> list[str]:
    """The paths importable from a layer zip's `names`, relative to the directories of Lambda's
    `sys.path` that hold layers: `python/lib/pythonX.Y/site-packages/` and `python/`."""
    site_packages = f"python/lib/python{version[0]}.{version[1]}/site-packages/"
    return [
        name.removeprefix(site_packages if name.startswith(site_packages) else "python/")
        for name in names
        if name.startswith("python/")
    ]


def _walk(body: list[ast.stmt], weak: bool) -> Iterator[tuple[ast.stmt, bool]]:
    """Every statement under `body`, with whether an optional-import guard encloses it."""
    for node in body:
        yield node, weak
        if type(node).__name__ in _TRY:
            try_node = cast(ast.Try, node)
            yield from _walk(try_node.body, weak or any(map(_is_optional, try_node.handlers)))
            for handler in try_node.handlers:
                yield from _walk(handler.body, weak)
            yield from _walk(try_node.orelse + try_node.finalbody, weak)
        elif isinstance(node, ast.If):
            yield from _walk(node.body + node.orelse, weak or _is_condition(node.test))
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    yield from _walk([child], weak)
                elif isinstance(getattr(child, "body", None), list):  # a `match` case
                    yield from _walk(child.body, weak)  # type: ignore[attr-defined]


def _is_condition(test: ast.expr) -> bool:
    return any(_name(node) in CONDITION_NAMES for node in ast.walk(test))


def _is_optional(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(_name(node) in OPTIONAL_IMPORT_ERRORS for node in types)


def _name(node: ast.AST) -> str | None:
    """`x` of `x` and of `a.x`."""
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None


def _modules(paths: Collection[str]) -> set[str]:
    """The dotted modules and packages (directories count, as namespace packages) of `paths`."""
    modules = set()
    for path in paths:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            modules.add(".".join(parts[:depth]))
        if path.endswith(".py"):
            name = ".".join(parts).removesuffix(".py")
            modules.add(name.removesuffix(".__init__"))
    return modules


def _top_levels(paths: Collection[str]) -> set[str]:
    """The top-level module names that `paths` (archive paths) install: `six.py`, `yaml/`,
    `_cffi_backend.cpython-312-x86_64-linux-gnu.so`."""
    tops = set()
    for path in paths:
        first, slash, _ = path.partition("/")
        if slash:
            if not first.endswith(_NOT_MODULES) and first != "__pycache__":
                tops.add(first)
        elif first.endswith((".py", ".so", ".pyc")):
            tops.add(first.split(".")[0])
    return tops
