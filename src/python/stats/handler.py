"""Summary statistics of a posted list of numbers: pydantic validates it, numpy computes."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel


class Values(BaseModel):
    values: list[float]


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, float]:
    values = np.asarray(Values.model_validate(event).values, dtype=float)
    return {"mean": float(values.mean()), "std": float(values.std()), "max": float(values.max())}
