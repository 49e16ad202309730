"""The order model, validated by pydantic (native pydantic-core wheels)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Order(BaseModel):
    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)
    unit_price_cents: int = Field(ge=0)

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents
