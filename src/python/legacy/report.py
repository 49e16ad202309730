"""Imported by no lambda: dependency inference keeps it out of every artifact."""

from __future__ import annotations


def old_report() -> str:
    return "unused"
