"""First-party modules compile for the runtime's Python: its syntax and the compiler's checks."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from repro_lambda.core.contract import UserError
from repro_lambda.core.pack import compile_check
from repro_lambda.core.pack.compile_check import check_compiles
from repro_lambda.core.testutil import write_files

HERE = sys.version_info[:2]


def sources(tmp_path: Path, files: dict[str, str]) -> dict[str, Path]:
    return write_files(tmp_path, {name: content.encode() for name, content in files.items()})


def test_valid_modules_pass_and_other_files_are_not_read(tmp_path: Path) -> None:
    files = {"app/handler.py": "def handler(event, context):\n    return 1\n", "data.json": "{"}
    compiled = check_compiles(sources(tmp_path, files), HERE)
    assert compiled.warnings == []
    assert list(compiled.trees) == ["app/handler.py"]
    assert compiled.trees["app/handler.py"].body[0].name == "handler"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("source", "line", "message"),
    [
        ("def handler(event, context)\n    pass\n", 1, "expected ':'"),
        ("x = 1\nreturn x\n", 2, "'return' outside function"),
        ("def f(a, a):\n    pass\n", 1, "duplicate argument 'a' in function definition"),
    ],
)
def test_what_does_not_compile_names_the_file_and_line(
    tmp_path: Path, source: str, line: int, message: str
) -> None:
    expected = (
        f"app/handler.py:{line}: {message} (Python 3.9, the runtime's): fix the module, or drop it"
        " from the handler's dependencies"
    )
    with pytest.raises(UserError, match=f"^{re.escape(expected)}$"):
        check_compiles(sources(tmp_path, {"app/handler.py": source}), (3, 9))


def test_syntax_newer_than_the_runtime_is_refused(tmp_path: Path) -> None:
    match_statement = "match x:\n    case 1:\n        pass\n"
    files = sources(tmp_path, {"app/new.py": match_statement})
    assert check_compiles(files, (3, 10)).warnings == []
    only_in_3_10 = r"^app/new.py:\d+: Pattern matching is only supported in Python 3.10 and greater"
    with pytest.raises(UserError, match=only_in_3_10):
        check_compiles(files, (3, 9))


def test_a_runtime_newer_than_the_packer_gets_a_warning_only_where_it_added_syntax(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = sources(tmp_path, {"app/generic.py": "def first[T](items: list[T]) -> T: ...\n"})
    monkeypatch.setattr(compile_check.sys, "version_info", (3, 11, 0))
    (warning,) = check_compiles(files, (3, 12)).warnings
    assert warning.startswith(
        "app/generic.py:1 does not compile on the packer's Python 3.11, which cannot check Python"
        " 3.12's type parameters and f-strings with nested quotes: "
    )
    monkeypatch.setattr(compile_check, "NEW_SYNTAX", {})
    with pytest.raises(UserError, match="^app/generic.py:1: "):
        check_compiles(files, (3, 12))


def test_null_bytes_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_bytes(b"x = 1\x00\n")
    with pytest.raises(UserError, match=r"^bad.py(:1)?: .*null bytes"):
        check_compiles({"bad.py": tmp_path / "bad.py"}, (3, 9))
