"""Imports a Lambda function's handler from its unzipped zip and layers, as a cold start does.

Run by the runtime's Python, isolated (`python -I -S -B smoke.py --handler app.handler --function
fn.zip --layer layer.zip --max-unzipped-bytes N`): the zip is unzipped as `/var/task` and the layers
as `/opt`, and `sys.path` is Lambda's. Standard library only, Python 3.9 syntax. On failure it
prints one `error: ` line and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import stat
import sys
import traceback
import zipfile
from collections.abc import Sequence
from pathlib import PurePosixPath

ERROR_PREFIX = "error: "
"""The same as the packer's (`repro_lambda.core.contract`), which the plugin parses."""

ROOT = "__smoke"


class SmokeError(Exception):
    """The handler cannot be imported."""


def extract(zip_path: str, destination: str, budget: int) -> int:
    """Unzip `zip_path` into `destination`, refusing unsafe names, links and more than `budget`
    bytes; return the budget left."""
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            path = PurePosixPath(info.filename)
            if path.is_absolute() or ".." in path.parts or "\\" in info.filename:
                raise SmokeError(f"{zip_path} has an unsafe entry {info.filename!r}")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise SmokeError(f"{zip_path} has a link {info.filename!r}")
            budget -= info.file_size  # reading stops at the declared size, and checks the CRC
            if budget < 0:
                raise SmokeError(f"{zip_path} unzips to more than its metadata's size")
            archive.extract(info, destination)
    return budget


def smoke_import(handler: str, function: str, layers: Sequence[str], max_bytes: int) -> None:
    """Unzip `function` and `layers` under ROOT and import `handler` from them."""
    task, opt = (os.path.abspath(os.path.join(ROOT, name)) for name in ("task", "opt"))
    budget = extract(function, task, max_bytes)
    for layer in layers:
        budget = extract(layer, opt, budget)
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    site_packages = os.path.join(opt, "python", "lib", f"python{python}", "site-packages")
    sys.path[:0] = [task, site_packages, os.path.join(opt, "python")]
    os.environ["LAMBDA_TASK_ROOT"] = task
    os.chdir(task)
    on = f"on Python {python}.{sys.version_info[2]}"
    module_name, _, function_name = handler.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except BaseException as error:  # SystemExit and KeyboardInterrupt at import fail a cold start
        raise SmokeError(
            f"importing `{module_name}` {on} raised {type(error).__name__}:"
            f" {' '.join(str(error).split())}{_where(error, (task, opt))}"
        ) from None
    if not callable(getattr(module, function_name, None)):
        raise SmokeError(f"`{module_name}` has no function `{function_name}` once imported {on}")


def _where(error: BaseException, roots: Sequence[str]) -> str:
    """` (at lib/config.py:3)`: the innermost place in the artifact or its layers that raised."""
    places = [(frame.filename, frame.lineno) for frame in traceback.extract_tb(error.__traceback__)]
    if isinstance(error, SyntaxError) and error.filename:
        places.append((error.filename, error.lineno))
    for filename, line in reversed(places):
        for root in roots:
            if filename.startswith(root + os.sep):
                return f" (at {os.path.relpath(filename, root)}:{line})"
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smoke.py", description=__doc__)
    parser.add_argument("--handler", required=True, help="e.g. app.handler")
    parser.add_argument("--function", required=True, help="the function's zip")
    parser.add_argument("--layer", action="append", default=[], help="a layer zip, in order")
    parser.add_argument("--max-unzipped-bytes", type=int, required=True)
    args = parser.parse_args(argv)
    try:
        smoke_import(args.handler, args.function, args.layer, args.max_unzipped_bytes)
    except (SmokeError, OSError, zipfile.BadZipFile) as error:
        print(f"{ERROR_PREFIX}{error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
