"""Values as the Dagster UI shows them: figures rounded (files keep full precision) and Markdown; pure Python."""

from __future__ import annotations

UI_DECIMALS = 4


def for_ui(value: float) -> float:
    """A metric as the Dagster UI shows it in metadata; files keep full precision."""
    return round(float(value), UI_DECIMALS)


class Markdown(str):
    """Text the UI renders as Markdown (a report, a table, an embedded plot): the wiring shows it as such."""
