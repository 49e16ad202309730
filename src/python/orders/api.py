"""Prices an order posted through API Gateway."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from orders.models import Order
from shared.responses import json_response


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        order = Order.model_validate(json.loads(event.get("body") or "{}"))
    except (ValidationError, ValueError) as e:
        return json_response({"error": str(e)}, status=400)
    return json_response({"sku": order.sku, "total_cents": order.total_cents})
