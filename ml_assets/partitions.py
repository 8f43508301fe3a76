"""Monthly partitions: one partition per calendar month of trips, keyed YYYY-MM."""

from __future__ import annotations

import pandas as pd
import dagster as dg

from ml_assets.settings import Settings

MONTH_FMT = "%Y-%m"
FLIGHTS_FIRST_MONTH = "2013-01"
FLIGHTS_LAST_MONTH = "2013-12"


def month_bounds(month: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) timestamps of a YYYY-MM month."""
    start = pd.Timestamp(f"{month}-01")
    return start, start + pd.offsets.MonthBegin(1)


def next_month(month: str) -> str:
    return (pd.Timestamp(f"{month}-01") + pd.offsets.MonthBegin(1)).strftime(MONTH_FMT)


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
