"""Tests of the handler check."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from repro_lambda.core.contract import UserError
from repro_lambda.core.pack.handler import check_handler, check_node_handler, top_level_names


def test_top_level_names() -> None:
    source = (
        "import os.path\nfrom x import y as handler\nasync def a(): pass\nclass B: pass\nc: int ="
        " 1\nd = e = 2\nif True:\n    hidden = 1\n"
    )
    assert top_level_names(source) == {"os", "handler", "a", "B", "c", "d", "e"}


def test_names_from_syntax_this_python_cannot_parse() -> None:
    assert {"handler", "VALUE"} <= top_level_names(
        "def handler[T](x: T) -> T: ...\nVALUE = 1\nmatch := ("
    )


@pytest.mark.parametrize("layout", ["pkg/mod.py", "pkg/mod/__init__.py"])
def test_module_or_package(tmp_path: Path, layout: str) -> None:
    (tmp_path / "f.py").write_text("def lambda_handler(event, context):\n    return 1\n")
    check_handler("pkg.mod.lambda_handler", {layout: tmp_path / "f.py"})
    with pytest.raises(UserError, match="`other` is not defined at the top level of " + layout):
        check_handler("pkg.mod.other", {layout: tmp_path / "f.py"})


@pytest.mark.parametrize(
    ("handler", "module_file"),
    [
        ("index.handler", "index.js"),
        ("index.handler", "index.mjs"),
        ("index.handler", "index.cjs"),
        ("src/app.main", "src/app.mjs"),
        ("./src/app.main", "src/app.js"),
        (
            "lib.v2/app.handlers.main",
            "lib.v2/app.js",
        ),  # the module ends at the last segment's first dot
    ],
)
def test_node_handler_module_file(handler: str, module_file: str) -> None:
    check_node_handler(handler, {module_file, "package.json"})


def test_node_handler_missing_names_the_candidates() -> None:
    message = (
        "the handler module of `src/app.main` is not among the packed sources: "
        "expected one of src/app.js, src/app.mjs, src/app.cjs outside node_modules/"
    )
    with pytest.raises(UserError, match=f"^{re.escape(message)}$"):
        check_node_handler("src/app.main", {"src/app.ts", "app.js"})


def test_node_handler_in_node_modules_does_not_count() -> None:
    with pytest.raises(UserError, match="expected one of node_modules/lib/index.js"):
        check_node_handler("node_modules/lib/index.handler", {"node_modules/lib/index.js"})


@pytest.mark.parametrize("handler", ["index", "index.", ".handler", "src/", "../index.handler"])
def test_malformed_node_handler(handler: str) -> None:
    with pytest.raises(
        UserError, match="is not of the form `<file path without extension>.<exported function>`"
    ):
        check_node_handler(handler, {"index.js"})


@pytest.mark.parametrize(
    ("source", "kind", "line"),
    [
        ("handler = 5\n", "a constant", 1),
        ("def handler(event, context):\n    pass\n\nhandler = {}\n", "a dict", 4),
        ("class handler:\n    pass\n", "a class", 1),
    ],
)
def test_handler_that_is_not_a_function(tmp_path: Path, source: str, kind: str, line: int) -> None:
    (tmp_path / "app.py").write_text(source)
    message = (
        f"app.py:{line}: the handler `handler` is {kind}, not a function: define"
        " `def handler(event, context)` there, or fix the `handler` field (`app.handler`)"
    )
    with pytest.raises(UserError, match=f"^{re.escape(message)}$"):
        check_handler("app.handler", {"app.py": tmp_path / "app.py"})


@pytest.mark.parametrize(
    "source",
    [
        "handler = 5\n\ndef handler(event, context):\n    pass\n",
        "from mangum import Mangum\n\nhandler = Mangum(app)\n",
        "from lib import handler\n",
    ],
)
def test_handler_bound_to_what_may_be_a_function(tmp_path: Path, source: str) -> None:
    (tmp_path / "app.py").write_text(source)
    check_handler("app.handler", {"app.py": tmp_path / "app.py"})
