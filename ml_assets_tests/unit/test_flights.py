import pandas as pd
import pytest

from ml_assets.sources.base import MonthNotAvailableError
from ml_assets.sources.flights import flights_csv_path, normalize_flights, read_flights

TRIP_COLUMNS = {"pickup_datetime", "origin", "destination", "distance", "duration_min"}


@pytest.fixture(scope="module")
def flights() -> pd.DataFrame:
    return read_flights()


def test_reads_the_bundled_csv_without_importing_the_package(flights):
    assert flights_csv_path().name == "flights.csv.zip"
    assert len(flights) == 336_776  # every 2013 departure from JFK, LGA and EWR


def test_normalized_month_has_raw_schema_and_stays_in_month(flights):
    january = normalize_flights(flights, "2013-01")
    assert TRIP_COLUMNS <= set(january.columns)
    assert len(january) == int((flights["month"] == 1).sum())
    assert january["pickup_datetime"].min() >= pd.Timestamp("2013-01-01")
    assert january["pickup_datetime"].max() < pd.Timestamp("2013-02-01")
    assert set(january["origin"].unique()) == {"EWR", "JFK", "LGA"}
    # scheduled departure 5:15 on Jan 1st is the first row of the package's data
    first = january.iloc[0]
    assert first["pickup_datetime"] == pd.Timestamp("2013-01-01 05:15")
    assert first["duration_min"] == 227.0 and first["distance"] == 1400.0


def test_month_outside_2013_is_reported_as_not_available(flights):
    with pytest.raises(MonthNotAvailableError, match="2014-01"):
        normalize_flights(flights, "2014-01")
