"""Monthly partitions: one partition per calendar month, keyed YYYY-MM."""

from __future__ import annotations

import dagster as dg

from ml_assets.config import MonthlyPartitioning
from ml_assets.months import MONTH_FMT, next_month


def monthly_partitions(spec: MonthlyPartitioning) -> dg.MonthlyPartitionsDefinition:
    """The months a source can deliver: a fixed range, or open-ended behind the publication lag."""
    if spec.last_month:
        return dg.MonthlyPartitionsDefinition(
            start_date=spec.first_month, end_date=next_month(spec.last_month), fmt=MONTH_FMT
        )
    # The TLC publishes a month about two months after it ends: with a lag of L months the
    # newest partition is L months back (end_offset 0 would be last month).
    return dg.MonthlyPartitionsDefinition(
        start_date=spec.first_month, end_offset=1 - spec.publication_lag_months, fmt=MONTH_FMT
    )
