import pandas as pd
import pytest
from upath import UPath

from ml_assets.features import TARGET, DurationBounds, build_trip_features, clean_trips, feature_columns
from ml_assets.sources.flights import normalize_flights, read_flights
from ml_assets.sources.taxi import read_taxi_month

TAXI_BOUNDS = DurationBounds(1, 60)


@pytest.fixture(scope="module")
def raw_2021_01(tlc_dir):
    return read_taxi_month(UPath(tlc_dir / "green_tripdata_2021-01.parquet"), "green", "2021-01")


def test_cleaning_counts_each_rule_on_real_taxi_month(raw_2021_01):
    kept, dropped = clean_trips(raw_2021_01, "2021-01", TAXI_BOUNDS)
    duration = raw_2021_01[TARGET]
    in_month = raw_2021_01["pickup_datetime"].between("2021-01-01", "2021-02-01", inclusive="left")
    assert dropped["pickup_outside_month"] == 3  # PROVENANCE.md: 3 rows outside the file's month
    assert dropped["missing_values"] == 0 and dropped["negative_distance"] == 0
    assert dropped["duration_out_of_range"] == int((in_month & ~duration.between(1, 60)).sum())
    assert len(kept) + sum(dropped.values()) == len(raw_2021_01)
    assert kept[TARGET].between(1, 60).all()


def test_features_have_route_time_and_no_nulls(raw_2021_01):
    features, _ = build_trip_features(raw_2021_01, "2021-01", TAXI_BOUNDS)
    row = features.iloc[0]
    assert row["route"] == f"{row['origin']}_{row['destination']}"
    assert row["pickup_hour"] == row["pickup_datetime"].hour
    assert row["pickup_dow"] == row["pickup_datetime"].dayofweek
    categorical, numeric = feature_columns(features)
    assert categorical == ["origin", "destination", "route"]
    assert set(numeric) == {"distance", "pickup_hour", "pickup_dow", "pickup_minute_of_day"}
    assert not features[categorical + numeric + [TARGET]].isna().any().any()


def test_flights_drop_cancelled_flights_and_leave_out_weekday():
    raw = normalize_flights(read_flights(), "2013-01")
    features, dropped = build_trip_features(raw, "2013-01", DurationBounds(1, 720), day_of_week=False)
    assert dropped["missing_values"] == int(raw[TARGET].isna().sum()) > 0
    assert "pickup_dow" not in features.columns
    assert "carrier" in feature_columns(features)[0]


def test_missing_required_column_raises_key_error_naming_it(raw_2021_01):
    with pytest.raises(KeyError, match="distance"):
        clean_trips(raw_2021_01.drop(columns=["distance"]), "2021-01", TAXI_BOUNDS)


def test_rules_apply_on_boundaries():
    raw = pd.DataFrame(
        {
            "pickup_datetime": pd.to_datetime(["2021-01-01 00:00", "2021-01-31 23:59", "2021-02-01 00:00", "2021-01-05 00:00"]),
            "origin": pd.array(["1", "2", "3", "4"], dtype="string"),
            "destination": pd.array(["1", "2", "3", "4"], dtype="string"),
            "distance": [1.0, -0.5, 2.0, 3.0],
            TARGET: [1.0, 10.0, 10.0, 60.5],
        }
    )
    kept, dropped = clean_trips(raw, "2021-01", TAXI_BOUNDS)
    assert dropped == {"missing_values": 0, "pickup_outside_month": 1, "negative_distance": 1, "duration_out_of_range": 1}
    assert kept["origin"].tolist() == ["1"]
