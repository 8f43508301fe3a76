"""How figures and text are shown in Dagster metadata (files keep full precision); pure Python."""

from __future__ import annotations

UI_DECIMALS = 4


def shown(value: float) -> float:
    """A metric as the Dagster UI shows it in metadata; files keep full precision."""
    return round(float(value), UI_DECIMALS)


class Markdown(str):
    """Text the UI renders as Markdown (a report, a table, an embedded plot): the wiring shows it as such."""
