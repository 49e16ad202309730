"""Greets the caller: pure Python, a shared library module and a packaged resource."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from shared.responses import json_response


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    template = files("greeter.templates").joinpath("greeting.txt").read_text().strip()
    name = event.get("name", "world")
    return json_response({"message": template.format(name=name)})
