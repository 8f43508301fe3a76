"""Point-in-time (as-of) inputs: what was already known when each row's prediction is made.

A flight's air time depends on the winds aloft that day, which no static column carries; the air
times of flights that have already landed carry them. For each row, an aggregate looks only at
rows of the same group whose `available_at` (their gate arrival) is strictly before this row's
`time` (its scheduled departure) and within the window:

    route_air_24h   = mean air time of this route's flights that landed in the 24 h before it leaves
    sector_pace_3h  = mean minutes per mile of flights to this compass sector that landed in the last
                      3 h, times this flight's miles (stat: ratio)

A row never sees itself or anything that became known at or after its own time, so changing or
deleting such rows never changes its inputs (`ml_assets_tests/unit/test_as_of.py` proves it).
Sums and counts come from cumulative sums over rows sorted by (group, available_at), looked up
with two binary searches per row: O(n log n), 27,000 flights x 12 aggregates in about 0.1 s.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ml_assets.learning.inputs import derive

# (name, of, by, window_s, stat, to): config.AsOfAggregate.as_tuple()
Aggregate = tuple[str, str, tuple[str, ...], int, str, "str | None"]
# seconds of a group's time line (year 2286): a group's keys never reach the next group's
_GROUP_STRIDE = 10**10


def _seconds(values: pd.Series, round_up: bool) -> np.ndarray:
    """Whole seconds since the epoch (NaT -> -1). Availability is rounded up and as-of times down, so a row whose
    availability and as-of time fall in the same second is never counted: rounding can only exclude, never leak."""
    stamps = pd.to_datetime(values)
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    nanos = stamps.astype("datetime64[ns]").to_numpy().astype("int64")
    seconds = -(-nanos // 10**9) if round_up else nanos // 10**9
    return np.where(stamps.isna().to_numpy(), -1, seconds)


def _group_codes(
    rows: pd.DataFrame, history: pd.DataFrame, by: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    if not by:
        return np.zeros(len(rows), dtype="int64"), np.zeros(len(history), dtype="int64")
    both = pd.concat([rows[list(by)], history[list(by)]], ignore_index=True)
    codes = both.groupby(list(by), sort=False, dropna=False).ngroup().to_numpy().astype("int64")
    return codes[: len(rows)], codes[len(rows) :]


def as_of_aggregates(
    rows: pd.DataFrame,
    time: str,
    available_at: str,
    aggregates: Sequence[Aggregate],
    derived: Sequence[tuple] = (),
    history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The aggregates for each of `rows`, from the rows of `history` (default: `rows` itself) that became available
    before the row's `time`. Group columns may be derived (`derived` holds DeclaredInputs tuples, e.g. a route)."""
    history = rows if history is None else history

    def with_groups(frame: pd.DataFrame) -> pd.DataFrame:
        needed = {c for a in aggregates for c in a[2]} - set(frame.columns)
        made = {d[0]: derive(frame, *d) for d in derived if d[0] in needed}
        return frame.assign(**made) if made else frame

    rows, history = with_groups(rows), with_groups(history)
    query_s = _seconds(rows[time], round_up=False)
    avail_s = _seconds(history[available_at], round_up=True)
    out = {}
    for name, of, by, window_s, stat, to in aggregates:
        row_groups, event_groups = _group_codes(rows, history, by)
        values = pd.to_numeric(history[of], errors="coerce").to_numpy("float64")
        if stat in ("ratio", "rate"):
            with np.errstate(divide="ignore", invalid="ignore"):
                values = values / pd.to_numeric(history[to], errors="coerce").to_numpy("float64")
        usable = np.isfinite(values) & (avail_s >= 0)
        keys = event_groups[usable] * _GROUP_STRIDE + avail_s[usable]
        order = np.argsort(keys, kind="stable")
        keys, values = keys[order], values[usable][order]
        # strictly before the as-of time
        ends = np.searchsorted(keys, row_groups * _GROUP_STRIDE + query_s, side="left")
        starts = np.searchsorted(keys, row_groups * _GROUP_STRIDE + query_s - window_s, side="left")
        starts = np.minimum(starts, ends)
        counts = (ends - starts).astype("float64")
        counts[query_s < 0] = 0  # a row without an as-of time sees nothing
        if stat == "count":
            result = counts
        elif stat == "median":
            result = np.array(
                [
                    np.median(values[s:e]) if n else np.nan
                    for s, e, n in zip(starts, ends, counts, strict=True)
                ]
            )
        else:
            sums = np.concatenate([[0.0], np.cumsum(values)])
            with np.errstate(divide="ignore", invalid="ignore"):
                result = np.where(counts > 0, (sums[ends] - sums[starts]) / np.maximum(counts, 1), np.nan)
            if stat == "ratio":
                result = result * pd.to_numeric(rows[to], errors="coerce").to_numpy("float64")
        out[name] = result
    return pd.DataFrame(out, index=rows.index)
