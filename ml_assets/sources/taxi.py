"""NYC TLC taxi trip records: download a month's parquet and normalize its two schemas.

The TLC files changed physical types at 2023-02 (int64 -> int32 location ids, double ->
int64 codes, string -> large_string) and green/yellow differ in the timestamp prefix
(lpep_/tpep_). Reading by column name and casting explicitly handles all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator
from upath import UPath

from ml_assets.files import release_arrow_memory
from ml_assets.sources import http
from ml_assets.sources.base import DataSource, SourceDataError, SourceSpecBase
from ml_assets.sources.download_cache import (
    cached_fingerprint,
    cached_month_file,
    quarantine,
    source_fingerprint,
)

if TYPE_CHECKING:  # imported where used: the code location loads without them
    import pandas as pd

TIMESTAMP_PREFIX = {"green": "lpep", "yellow": "tpep"}


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


def month_url(url_template: str, color: str, month: str) -> str:
    return url_template.format(color=color, month=month)


def required_columns(color: str) -> list[str]:
    prefix = TIMESTAMP_PREFIX[color]
    return [
        f"{prefix}_pickup_datetime",
        f"{prefix}_dropoff_datetime",
        "PULocationID",
        "DOLocationID",
        "trip_distance",
    ]


def read_taxi_month(path: UPath, color: str, month: str) -> pd.DataFrame:
    """Read one TLC month file into the raw schema (pickup, origin, destination, miles, minutes)."""
    import pyarrow as pa  # imported here: the code location loads without it
    import pyarrow.parquet as pq

    location = str(path)
    try:
        with path.open("rb") as handle:
            parquet = pq.ParquetFile(handle)
            columns = set(parquet.schema_arrow.names)
            missing = [c for c in required_columns(color) if c not in columns]
            if missing:
                raise SourceDataError(
                    month, location, f"missing required column(s) {missing} for {color} taxi data"
                )
            table = parquet.read(columns=required_columns(color))
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceDataError(month, location, f"not a readable parquet file ({exc})") from exc
    if table.num_rows == 0:
        raise SourceDataError(month, location, "the file holds no trips")
    frame = table.to_pandas()
    del table
    release_arrow_memory()
    return normalize_taxi(frame, color, month, location)


def normalize_taxi(frame: pd.DataFrame, color: str, month: str, location: str = "") -> pd.DataFrame:
    import pandas as pd

    prefix = TIMESTAMP_PREFIX[color]
    try:
        pickup = pd.to_datetime(frame[f"{prefix}_pickup_datetime"], cache=False).astype("datetime64[us]")
        dropoff = pd.to_datetime(frame[f"{prefix}_dropoff_datetime"], cache=False).astype("datetime64[us]")
        origin = as_id_strings(frame["PULocationID"])
        destination = as_id_strings(frame["DOLocationID"])
        distance = pd.to_numeric(frame["trip_distance"], errors="raise").astype("float64")
    except (TypeError, ValueError) as exc:
        raise SourceDataError(month, location, f"unexpected column types: {exc}") from exc
    return pd.DataFrame(
        {
            "pickup_datetime": pickup,
            "origin": origin,
            "destination": destination,
            "distance": distance,
            "duration_min": (dropoff - pickup).dt.total_seconds() / 60.0,
            "dropoff_datetime": dropoff,
        }
    )


TLC_URL_TEMPLATE = "https://d37ci6vzurychx.cloudfront.net/trip-data/{color}_tripdata_{month}.parquet"


class TlcTaxiSpec(SourceSpecBase):
    """`kind: tlc_taxi`: NYC TLC taxi trip records, one parquet file per month, downloaded by URL (cached, re-fetched
    when the source's ETag/Last-Modified/size change), as trips: pickup_datetime, origin and destination zone ids,
    distance (miles), duration_min (dropoff - pickup) and dropoff_datetime."""

    kind: Literal["tlc_taxi"] = Field(description="NYC TLC monthly trip records by URL.")
    color: Literal["green", "yellow"] = Field(
        description="The TLC colour: green or yellow (the timestamp columns differ)."
    )
    url_template: str | None = Field(
        default=None,
        description="http(s)://, file://, s3:// URL or a path with {month} (YYYY-MM) and usually {color}; "
        "unset = the TLC's own URL.",
    )
    timeout_s: float = Field(default=60.0, gt=0, description="Network timeout of a request, seconds.")

    @model_validator(mode="after")
    def _template(self) -> TlcTaxiSpec:
        template = self.url_template or TLC_URL_TEMPLATE
        if "{month}" not in template:
            raise ValueError(
                f"source.url_template={template!r} is not allowed: it must contain '{{month}}' (and "
                f"usually '{{color}}')"
            )
        return self

    def monthly_ready(self) -> str | None:
        return None

    def whole_table_ready(self) -> str | None:
        return f"source kind {self.kind!r} delivers one month at a time: declare partitioning.monthly"

    def build(self) -> DataSource:
        return TaxiSource(self.color, self.url_template or TLC_URL_TEMPLATE, self.timeout_s)


@dataclass(frozen=True)
class TaxiSource(DataSource):
    color: str
    url_template: str
    timeout_s: float = 60.0
    time_column = "pickup_datetime"  # a class attribute, not a field

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"TLC {self.color} taxi"

    @property
    def offline(self) -> bool:  # type: ignore[override]
        return not http.is_http(self.url_template)

    def location(self, partition: str | None) -> str:
        return month_url(self.url_template, self.color, partition)

    def fingerprint(self, partition: str | None) -> str | None:
        # a HEAD answers in milliseconds when the source is up; do not let a sensor tick hang
        return source_fingerprint(self.location(partition), min(self.timeout_s, 10.0))

    def loaded_fingerprint(self, partition: str | None, cache_dir: str) -> str | None:
        # the download recorded the version it fetched: no second HEAD request per month
        recorded = cached_fingerprint(UPath(cache_dir) / self.color, self.location(partition))
        return recorded if recorded is not None else self.fingerprint(partition)

    def load(self, partition: str | None, cache_dir: str) -> tuple[pd.DataFrame, str]:
        url = self.location(partition)
        path = cached_month_file(UPath(cache_dir) / self.color, url, partition, self.timeout_s)
        try:
            return read_taxi_month(path, self.color, partition), url
        except SourceDataError as exc:
            moved = quarantine(path)
            raise SourceDataError(
                partition,
                url,
                f"{exc.problem}; the cached copy was moved to {moved} so the next run downloads it afresh",
            ) from exc
