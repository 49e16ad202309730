"""Percentiles of a posted series: pydantic validates the request, numpy (from a layer) computes."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from shared.responses import json_response


class Series(BaseModel):
    values: list[float]


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        series = Series.model_validate(json.loads(event.get("body") or "{}"))
    except (ValidationError, ValueError) as e:
        return json_response({"error": str(e)}, status=400)
    p50, p90 = np.percentile(np.asarray(series.values), [50, 90]).tolist()
    return json_response({"p50": p50, "p90": p90})
