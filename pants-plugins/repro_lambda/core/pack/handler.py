"""Checks that the packed first-party sources hold the Lambda handler: Python `module.function`,
Node `file.export`.
"""

from __future__ import annotations

import ast
import posixpath
import re
from collections.abc import Collection, Mapping
from pathlib import Path

from repro_lambda.core.contract import UserError

NODE_EXTENSIONS = (".js", ".mjs", ".cjs")
"""Extensions Lambda's Node.js runtime tries for the handler's module file, in order."""


def check_handler(handler: str, first_party: Mapping[str, Path]) -> None:
    """Raise UserError unless `first_party` (archive path -> file) defines `handler`."""
    module, _, function = handler.rpartition(".")
    module_path = module.replace(".", "/")
    candidates = (f"{module_path}.py", f"{module_path}/__init__.py")
    found = next((path for path in candidates if path in first_party), None)
    if found is None:
        raise UserError(
            f"the handler module `{module}` ({candidates[0]}) is not among the packed sources"
        )
    source = first_party[found].read_text(encoding="utf-8", errors="replace")
    if function not in top_level_names(source):
        raise UserError(
            f"the handler function `{function}` is not defined at the top level of {found}; "
            f"fix the `handler` field (`{handler}`) or define `{function}(event, context)` there"
        )
    binding = _not_callable_binding(source, function)
    if binding is not None:
        kind, line = binding
        raise UserError(
            f"{found}:{line}: the handler `{function}` is {kind}, not a function: define"
            f" `def {function}(event, context)` there, or fix the `handler` field (`{handler}`)"
        )


def check_node_handler(handler: str, first_party: Collection[str]) -> None:
    """Raise UserError unless `first_party` (archive paths) holds the module file of the Node.js
    `handler`.

    As in Lambda's runtime, the module is the handler up to the first dot of its last path segment.
    """
    directory, slash, name = handler.rpartition("/")
    module, dot, function = name.partition(".")
    if not (module and dot and function) or ".." in handler:
        raise UserError(
            f"the handler `{handler}` is not of the form `<file path without extension>.<exported"
            " function>` with no `..`"
        )
    module_path = posixpath.normpath(f"{directory}{slash}{module}")
    candidates = [module_path + extension for extension in NODE_EXTENSIONS]
    if "node_modules" in module_path.split("/") or not any(
        candidate in first_party for candidate in candidates
    ):
        raise UserError(
            f"the handler module of `{handler}` is not among the packed sources: "
            f"expected one of {', '.join(candidates)} outside node_modules/"
        )


_NOT_CALLABLE = {
    ast.Constant: "a constant",
    ast.JoinedStr: "a string",
    ast.List: "a list",
    ast.ListComp: "a list",
    ast.Tuple: "a tuple",
    ast.Dict: "a dict",
    ast.DictComp: "a dict",
    ast.Set: "a set",
    ast.SetComp: "a set",
}


def _not_callable_binding(source: str, name: str) -> tuple[str, int] | None:
    """What the last top-level binding of `name` certainly is if not callable, and its line."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return None
    last: tuple[str, int] | None = None
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            last = None
        elif isinstance(node, ast.ClassDef) and node.name == name:
            last = ("a class", node.lineno)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                kind = _NOT_CALLABLE.get(type(node.value))
                last = (kind, node.lineno) if kind else None
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((a.asname or a.name).split(".")[0] == name for a in node.names):
                last = None
    return last


def top_level_names(source: str) -> set[str]:
    """Names bound at a module's top level: functions, classes, assignments and imports."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # syntax newer than the packer's Python: fall back to a scan
        definitions = re.findall(r"^(?:async\s+def|def|class)\s+(\w+)", source, re.M)
        return set(definitions) | set(re.findall(r"^(\w+)\s*[:=]", source, re.M))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names
