from __future__ import annotations

import ast
import re
import textwrap

import pytest

from repro_lambda.core.contract import UserError
from repro_lambda.core.pack.import_check import Import, check_imports, find_imports, layer_paths

PY = (3, 12)


def imports(source: str, path: str = "app/handler.py") -> list[Import]:
    return list(find_imports(path, ast.parse(textwrap.dedent(source))))


def check(
    modules: dict[str, str],
    third_party: tuple[str, ...] = (),
    version: tuple[int, int] = PY,
    runtime_provides: tuple[str, ...] = (),
) -> None:
    trees = {path: ast.parse(textwrap.dedent(source)) for path, source in modules.items()}
    check_imports(trees, list(modules), third_party, version, runtime_provides)


def failures(message: str) -> list[str]:
    listed = re.match(r"imports that cannot succeed on Python 3\.\d+: (.*)\. Nothing in", message)
    assert listed, message
    return listed.group(1).split("; ")


def test_finds_absolute_relative_and_nested_imports() -> None:
    found = imports(
        """
        import os, json as j
        from . import models
        from .util import x
        from ..lib.z import y
        def f():
            import yaml
        class C:
            import requests.adapters
        """,
        path="pkg/app/handler.py",
    )
    assert [(i.module, i.line) for i in found] == [
        ("os", 2),
        ("json", 2),
        ("pkg.app", 3),
        ("pkg.app.util", 4),
        ("pkg.lib.z", 5),
        ("yaml", 7),
        ("requests.adapters", 9),
    ]
    assert not any(i.weak for i in found)


def test_relative_imports_of_a_package_start_at_the_package() -> None:
    assert [i.module for i in imports("from . import a\nfrom .b import c", "pkg/__init__.py")] == [
        "pkg",
        "pkg.b",
    ]


@pytest.mark.parametrize(
    ("source", "path"),
    [("from . import x", "handler.py"), ("from ..x import y", "app/handler.py")],
)
def test_relative_import_beyond_the_top_level(source: str, path: str) -> None:
    assert [i.module for i in imports(source, path)] == [None]


@pytest.mark.parametrize(
    "source",
    [
        "try:\n    import ujson\nexcept ImportError:\n    pass",
        "try:\n    import ujson\nexcept (ValueError, ModuleNotFoundError):\n    pass",
        "try:\n    import ujson\nexcept:\n    pass",
        "try:\n    import ujson\nexcept builtins.Exception:\n    pass",
        "if TYPE_CHECKING:\n    import ujson",
        "if typing.TYPE_CHECKING:\n    import ujson",
        "if sys.version_info < (3, 11):\n    import ujson\nelse:\n    import ujson",
        "if sys.platform == 'win32':\n    import ujson",
        "try:\n    for x in y:\n        import ujson\nexcept ImportError:\n    pass",
    ],
)
def test_guarded_imports_are_weak(source: str) -> None:
    assert {(i.module, i.weak) for i in imports(source)} == {("ujson", True)}


@pytest.mark.parametrize(
    "source",
    [
        "try:\n    import ujson\nexcept ValueError:\n    pass",
        "try:\n    pass\nexcept ImportError:\n    import ujson",
        "try:\n    pass\nfinally:\n    import ujson",
        "if DEBUG:\n    import ujson",
        "match x:\n    case 1:\n        import ujson",
        "with x:\n    import ujson",
    ],
)
def test_other_imports_are_strong(source: str) -> None:
    assert {(i.module, i.weak) for i in imports(source)} == {("ujson", False)}


def test_what_resolves() -> None:
    check(
        {
            "app/__init__.py": "",
            "app/handler.py": (
                "import json, tomllib\nimport boto3\nimport yaml.loader\nimport six\n"
                "import _cffi_backend\nfrom app import models\nfrom . import models\n"
                "from .models import M\nimport app.models\nimport google.protobuf\n"
            ),
            "app/models.py": "M = 1\n",
            "google/api/annotations.py": "",
        },
        third_party=(
            "yaml/__init__.py",
            "yaml/loader.py",
            "six.py",
            "_cffi_backend.cpython-312-x86_64-linux-gnu.so",
            "google/protobuf/__init__.py",
        ),
        runtime_provides=("boto3",),
    )


def test_unresolvable_imports_are_one_error_with_file_line_and_fix() -> None:
    with pytest.raises(UserError) as error:
        check(
            {
                "app/__init__.py": "",
                "app/handler.py": (
                    "import requests\nimport app.missing\nfrom ..up import x\nimport boto3\n"
                    "import tomllib\nimport yaml_dist_info\n"
                ),
            },
            third_party=("yaml_dist_info-1.0.dist-info/RECORD", "__pycache__/x.pyc"),
            version=(3, 10),
        )
    assert str(error.value) == (
        "imports that cannot succeed on Python 3.10: app/handler.py:1 `requests`;"
        " app/handler.py:2 `app.missing` (no such module);"
        " app/handler.py:3 (a relative import beyond the top-level package);"
        " app/handler.py:4 `boto3`; app/handler.py:5 `tomllib`; app/handler.py:6 `yaml_dist_info`."
        " Nothing in the artifact, its layers or the runtime provides them: add a"
        " `python_requirement` for each to the lambda's resolve (and to its `dependencies` where"
        " Pants cannot infer it), fix the module name, or guard an optional import with"
        " `try`/`except ImportError`"
    )


def test_the_standard_library_is_the_runtimes() -> None:
    check({"h.py": "import distutils\n"}, version=(3, 11))
    with pytest.raises(UserError) as error:
        check({"h.py": "import distutils\n"}, version=(3, 12))
    assert failures(str(error.value)) == ["h.py:1 `distutils`"]


def test_weak_imports_are_not_checked() -> None:
    check({"h.py": "try:\n    import ujson\nexcept ImportError:\n    ujson = None\n"})


def test_layer_paths_are_relative_to_lambdas_layer_directories() -> None:
    names = [
        "python/lib/python3.12/site-packages/numpy/__init__.py",
        "python/lib/python3.11/site-packages/old/__init__.py",
        "python/six.py",
        "bin/tool",
    ]
    assert layer_paths(names, (3, 12)) == [
        "numpy/__init__.py",
        "lib/python3.11/site-packages/old/__init__.py",
        "six.py",
    ]
