"""The normalized raw-trip schema every source delivers, and the errors sources raise."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: the code location loads without them
    import pandas as pd


# column -> predicate on its dtype, and the dtype name shown in error messages
RAW_COLUMNS: dict[str, str] = {
    "pickup_datetime": "datetime64",
    "origin": "string",
    "destination": "string",
    "distance": "float64",
    "duration_min": "float64",
}


class SourceDataError(Exception):
    """A month's source data is unusable: names the month, the file and the problem."""

    def __init__(self, month: str, location: str, problem: str):
        self.month, self.location, self.problem = month, location, problem
        where = f"month {month}: " if month and month != "-" else ""
        super().__init__(f"{where}{location}: {problem}")


class MonthNotAvailableError(SourceDataError):
    """The source does not (yet) publish this month."""


class SourceUnavailableError(Exception):
    """A transient fault reaching the source (network, 5xx, short read): worth retrying."""


def _dtype_matches(series: pd.Series, expected: str) -> bool:
    import pandas as pd

    if expected == "datetime64":
        return pd.api.types.is_datetime64_any_dtype(series) and getattr(series.dt, "tz", None) is None
    if expected == "string":
        return isinstance(series.dtype, pd.StringDtype)
    return str(series.dtype) == expected


def schema_problems(frame: pd.DataFrame) -> list[str]:
    """Missing columns and wrong dtypes of a raw-trips frame, as readable sentences."""
    problems = []
    for column, expected in RAW_COLUMNS.items():
        if column not in frame.columns:
            problems.append(f"missing column {column!r}")
        elif not _dtype_matches(frame[column], expected):
            problems.append(f"column {column!r} has dtype {frame[column].dtype}, expected {expected}")
    return problems


def as_id_strings(values: pd.Series) -> pd.Series:
    """Location ids arrive as int32, int64 or float64 (nulls) depending on year; make them strings."""
    import numpy as np
    import pandas as pd

    numeric = pd.to_numeric(values, errors="raise")
    if (numeric.dropna() % 1 != 0).any():
        raise ValueError(f"location ids must be whole numbers, got e.g. {numeric[numeric % 1 != 0].iloc[0]}")
    # format the few hundred distinct ids, not every row; a missing id maps to the trailing None
    codes, uniques = pd.factorize(numeric)
    labels = np.array([str(int(u)) for u in uniques] + [None], dtype=object)
    return pd.Series(labels[codes], index=values.index, dtype="string")
