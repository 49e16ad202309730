"""Summary statistics of a list of numbers, computed with numpy."""

from __future__ import annotations

from typing import Any

import numpy as np


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, float]:
    values = np.asarray(event["values"], dtype=float)
    return {"mean": float(values.mean()), "std": float(values.std()), "max": float(values.max())}
