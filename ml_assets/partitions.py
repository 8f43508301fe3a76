"""Monthly partitions: one partition per calendar month of trips, keyed YYYY-MM."""

from __future__ import annotations

import dagster as dg

from ml_assets.months import MONTH_FMT, next_month
from ml_assets.settings import Settings

FLIGHTS_FIRST_MONTH = "2013-01"
FLIGHTS_LAST_MONTH = "2013-12"


def monthly_partitions(settings: Settings) -> dg.MonthlyPartitionsDefinition:
    """The months the configured source can deliver."""
    if settings.source == "nyc_flights":
        return dg.MonthlyPartitionsDefinition(
            start_date=FLIGHTS_FIRST_MONTH, end_date=next_month(FLIGHTS_LAST_MONTH), fmt=MONTH_FMT
        )
    if settings.taxi_end_month:
        return dg.MonthlyPartitionsDefinition(
            start_date=settings.taxi_start_month, end_date=next_month(settings.taxi_end_month), fmt=MONTH_FMT
        )
    # The TLC publishes a month about two months after it ends: with a lag of L months the
    # newest partition is L months back (end_offset 0 would be last month).
    return dg.MonthlyPartitionsDefinition(
        start_date=settings.taxi_start_month, end_offset=1 - settings.publication_lag_months, fmt=MONTH_FMT
    )
