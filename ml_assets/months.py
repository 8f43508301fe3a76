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


def is_month(value: str) -> bool:
    """Whether `value` is a real month written YYYY-MM."""
    if not isinstance(value, str) or len(value) != 7 or value[4] != "-":
        return False
    try:
        pd.Period(value, freq="M")
    except ValueError:
        return False
    return value[:4].isdigit() and value[5:].isdigit() and 1 <= int(value[5:]) <= 12
