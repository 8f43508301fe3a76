"""How figures are shown in Dagster metadata (files keep full precision)."""

from __future__ import annotations

UI_DECIMALS = 4


def shown(value: float) -> float:
    """A metric as the Dagster UI shows it in metadata; files keep full precision."""
    return round(float(value), UI_DECIMALS)


