"""Sizes for progress lines (Docker's HumanSize: decimal units, 3 significant digits)."""

from __future__ import annotations


def human_size(n: float) -> str:
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000.0
        i += 1
    return f"{n:.4g}{units[i]}"
