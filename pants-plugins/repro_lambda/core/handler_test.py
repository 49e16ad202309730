"""Tests of the handler check."""

from __future__ import annotations

from pathlib import Path

import pytest

from repro_lambda.core.errors import PackError
from repro_lambda.core.handler import check_handler, top_level_names


def test_top_level_names() -> None:
    source = "import os.path\nfrom x import y as handler\nasync def a(): pass\nclass B: pass\nc: int = 1\nd = e = 2\nif True:\n    hidden = 1\n"
    assert top_level_names(source) == {"os", "handler", "a", "B", "c", "d", "e"}


def test_names_from_syntax_this_python_cannot_parse() -> None:
    assert {"handler", "VALUE"} <= top_level_names("def handler[T](x: T) -> T: ...\nVALUE = 1\nmatch := (")


@pytest.mark.parametrize("layout", ["pkg/mod.py", "pkg/mod/__init__.py"])
def test_module_or_package(tmp_path: Path, layout: str) -> None:
    (tmp_path / "f.py").write_text("def lambda_handler(event, context):\n    return 1\n")
    check_handler("pkg.mod.lambda_handler", {layout: tmp_path / "f.py"})
    with pytest.raises(PackError, match="`other` is not defined at the top level of " + layout):
        check_handler("pkg.mod.other", {layout: tmp_path / "f.py"})
