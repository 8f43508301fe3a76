"""The flights' as-of inputs on real months: what a departure board knows when the flight leaves the gate."""

import numpy as np
import pandas as pd
import pytest

from ml_assets.sources.flights import normalize_flights, read_flights

pytestmark = pytest.mark.slow


def test_no_flight_landing_after_a_departure_changes_that_departures_inputs(flights):
    """On March 2013 as delivered: for 20 departures, every flight that lands at or after its scheduled departure
    gets another air time, then is deleted; the departure's as-of inputs do not move."""
    task = flights.plan.task
    raw = normalize_flights(read_flights(), "2013-03")
    names = task.feature_spec.as_of_names()
    before = task.with_as_of(raw)[names]
    assert before["route_air_24h"].notna().mean() > 0.9, (
        "most departures should have recent arrivals on their route"
    )
    rng = np.random.default_rng(0)
    for i in rng.choice(len(raw), 20, replace=False):
        later = (raw["arrived_at"] >= raw["pickup_datetime"][i]) | raw["arrived_at"].isna()
        later[i] = True
        changed = raw.copy()
        changed.loc[later, "duration_min"] = changed.loc[later, "duration_min"] * 3 + 17
        kept = raw[~later | (raw.index == i)]
        for variant in (changed, kept):
            pd.testing.assert_series_equal(
                task.with_as_of(variant)[names].loc[i], before.loc[i], check_names=False
            )


def test_a_months_first_departures_look_back_into_the_month_before(flights, instance):
    """raw_data keeps the last week of the previous month as history (marked, not the month's rows): the month's
    first departures have recent arrivals, and the features hold only the month's own rows."""
    assert flights.materialize(
        instance, months=("2013-02", "2013-03"), assets=["raw_data", "features"]
    ).success
    raw = pd.read_parquet(flights.warehouse("raw_data") / "2013-03.parquet")
    history = raw[raw["as_of_history"]]
    assert len(history) > 5000 and history["pickup_datetime"].max() < pd.Timestamp("2013-03-01")
    assert history["pickup_datetime"].min() >= pd.Timestamp("2013-02-22")
    features = pd.read_parquet(flights.warehouse("features") / "2013-03.parquet")
    assert features["pickup_datetime"].min() >= pd.Timestamp("2013-03-01") and "as_of_history" not in features
    first_morning = features[features["pickup_datetime"] < pd.Timestamp("2013-03-01 12:00")]
    assert first_morning["route_air_7d"].notna().mean() > 0.9
    # the month before need not be materialized: February's history comes from January's delivery
    february = pd.read_parquet(flights.warehouse("raw_data") / "2013-02.parquet")
    assert february["as_of_history"].sum() > 5000
    # the pipeline's first month has no month before it: no history rows
    assert flights.materialize(instance, "2013-01", assets=["raw_data"]).success
    assert "as_of_history" not in pd.read_parquet(flights.warehouse("raw_data") / "2013-01.parquet")
