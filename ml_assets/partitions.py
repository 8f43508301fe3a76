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
        first, end = FLIGHTS_FIRST_MONTH, next_month(FLIGHTS_LAST_MONTH)
    else:
        first = settings.taxi_start_month
        end = next_month(settings.taxi_end_month) if settings.taxi_end_month else None
    return dg.MonthlyPartitionsDefinition(start_date=first, end_date=end, fmt=MONTH_FMT)
