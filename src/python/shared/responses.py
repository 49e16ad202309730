"""API Gateway proxy responses, shared by the example lambdas."""

from __future__ import annotations

import json
from typing import Any


def json_response(body: Any, status: int = 200) -> dict[str, Any]:
    """An API Gateway proxy integration response with a JSON body."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, sort_keys=True),
    }
