"""Point-in-time inputs (ml_assets/learning/as_of.py): a row sees only rows available before its own time."""

import numpy as np
import pandas as pd
import pytest

from ml_assets.config import AsOfSpec, PipelineConfigError
from ml_assets.learning.as_of import as_of_aggregates

AGGREGATES = (
    ("route_mean_2h", "minutes", ("route",), 7200, "mean", None),
    ("route_count_2h", "minutes", ("route",), 7200, "count", None),
    ("route_median_1d", "minutes", ("route",), 86400, "median", None),
    ("all_rate_3h", "minutes", (), 10800, "rate", "miles"),
    ("sector_ratio_3h", "minutes", ("sector",), 10800, "ratio", "miles"),
)
DERIVED = (("sector", "bin", ("bearing",), 90.0),)


def _flights(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Departures over two days on four routes, each landing 30-300 minutes after it leaves."""
    rng = np.random.default_rng(seed)
    leaves = pd.Timestamp("2013-03-01") + pd.to_timedelta(
        np.sort(rng.integers(0, 2 * 24 * 60, rows)), unit="min"
    )
    minutes = rng.integers(30, 300, rows).astype(float)
    return pd.DataFrame(
        {
            "leaves": leaves,
            "lands": leaves + pd.to_timedelta(minutes, unit="min"),
            "route": rng.choice(["JFK_LAX", "JFK_BOS", "LGA_ORD", "EWR_MIA"], rows),
            "bearing": rng.uniform(0, 360, rows),
            "miles": rng.uniform(100, 2500, rows),
            "minutes": minutes,
        }
    )


def _compute(frame: pd.DataFrame) -> pd.DataFrame:
    return as_of_aggregates(frame, "leaves", "lands", AGGREGATES, DERIVED)


def test_the_aggregates_equal_a_brute_force_count_of_what_was_known():
    frame = _flights(120)
    got = _compute(frame)
    for i in range(len(frame)):
        t = frame["leaves"][i]
        same = frame["route"] == frame["route"][i]
        known = (frame["lands"] < t) & same
        in_2h = known & (frame["lands"] >= t - pd.Timedelta(hours=2))
        assert got["route_count_2h"][i] == in_2h.sum()
        expected = frame["minutes"][in_2h].mean() if in_2h.any() else np.nan
        np.testing.assert_allclose(got["route_mean_2h"][i], expected, equal_nan=True)
        in_1d = known & (frame["lands"] >= t - pd.Timedelta(days=1))
        np.testing.assert_allclose(
            got["route_median_1d"][i],
            frame["minutes"][in_1d].median() if in_1d.any() else np.nan,
            equal_nan=True,
        )
        in_3h = (frame["lands"] < t) & (frame["lands"] >= t - pd.Timedelta(hours=3))
        rate = (frame["minutes"] / frame["miles"])[in_3h].mean() if in_3h.any() else np.nan
        np.testing.assert_allclose(got["all_rate_3h"][i], rate, equal_nan=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_changing_or_deleting_rows_known_only_later_never_changes_a_rows_inputs(seed):
    """The leakage test: for each of many rows, every row that becomes available at or after its as-of time is
    changed (values, groups, distances) or deleted, and the row's inputs stay exactly what they were."""
    frame = _flights(400, seed)
    before = _compute(frame)
    rng = np.random.default_rng(seed + 100)
    for i in rng.choice(len(frame), 40, replace=False):
        later = (frame["lands"] >= frame["leaves"][i]).to_numpy()
        later[i] = True  # the row itself is not known before it leaves either
        changed = frame.copy()
        changed.loc[later & (changed.index != i), "minutes"] *= rng.uniform(
            0.2, 5.0, (later & (changed.index != i)).sum()
        )
        changed.loc[later & (changed.index != i), "route"] = "JFK_LAX"
        changed.loc[i, "minutes"] = 9999.0  # its own target too
        deleted = frame[~later | (frame.index == i)]
        for variant in (changed, deleted):
            after = _compute(variant).loc[i]
            pd.testing.assert_series_equal(after, before.loc[i], check_names=False)


def test_the_test_above_would_catch_a_window_that_peeks_one_minute_ahead():
    """The leakage test can fail: a row landing exactly at another's departure is not yet known."""
    frame = pd.DataFrame(
        {
            "leaves": pd.to_datetime(["2013-03-01 10:00", "2013-03-01 12:00", "2013-03-01 12:30"]),
            "lands": pd.to_datetime(["2013-03-01 12:00", "2013-03-01 14:00", "2013-03-01 14:30"]),
            "route": ["A", "A", "A"],
            "bearing": [10.0, 10.0, 10.0],
            "miles": [100.0, 100.0, 100.0],
            "minutes": [120.0, 120.0, 120.0],
        }
    )
    got = _compute(frame)
    assert got["route_count_2h"].tolist() == [0, 0, 1]  # landed 12:00 is not known at 12:00, known at 12:30
    peeking = frame.assign(lands=frame["lands"] - pd.Timedelta(minutes=1))
    assert _compute(peeking)["route_count_2h"].tolist() == [0, 1, 1]


def test_rows_without_an_as_of_time_or_availability_see_and_give_nothing():
    frame = _flights(20)
    frame.loc[3, "leaves"] = pd.NaT
    frame.loc[5, "lands"] = pd.NaT
    got = _compute(frame)
    assert got["route_count_2h"][3] == 0 and np.isnan(got["route_mean_2h"][3])
    without_5 = _compute(frame.drop(index=5))
    pd.testing.assert_frame_equal(got.drop(index=5), without_5)


@pytest.mark.parametrize(
    ("aggregate", "message"),
    [
        (
            {"name": "x", "of": "m", "window": "2 weeks"},
            "window='2 weeks' is not allowed: a positive whole number of min, h or d",
        ),
        ({"name": "x", "of": "m", "window": "0h"}, "window='0h' is not allowed"),
        (
            {"name": "x", "of": "m", "window": "3h", "stat": "ratio"},
            "to=None is not allowed: a reference column with stat: rate or ratio",
        ),
        ({"name": "x", "of": "m", "window": "3h", "to": "miles"}, "to='miles' is not allowed"),
    ],
)
def test_a_bad_aggregate_names_the_setting_and_what_is_allowed(aggregate, message):
    with pytest.raises(
        (PipelineConfigError, ValueError), match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        AsOfSpec.model_validate({"time": "leaves", "available_at": "lands", "aggregates": [aggregate]})
