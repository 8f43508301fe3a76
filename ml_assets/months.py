"""Month arithmetic on YYYY-MM keys (pure pandas: the data functions need it without Dagster)."""

from __future__ import annotations

import pandas as pd

MONTH_FMT = "%Y-%m"


def month_bounds(month: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) timestamps of a YYYY-MM month."""
    start = pd.Timestamp(f"{month}-01")
    return start, start + pd.offsets.MonthBegin(1)


def next_month(month: str) -> str:
    return (pd.Timestamp(f"{month}-01") + pd.offsets.MonthBegin(1)).strftime(MONTH_FMT)


def months_between(first: str, last: str) -> list[str]:
    """Every YYYY-MM key from `first` to `last`, both included."""
    return pd.period_range(first, last, freq="M").strftime(MONTH_FMT).tolist()
