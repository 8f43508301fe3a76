"""The one place where the environment picks sources, paths and thresholds.

Every knob is an environment variable with a default that works offline from a fresh
clone, so `dagster dev`, the CLI and CI all read the same settings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

REPO_ROOT = Path(__file__).resolve().parents[1]

SOURCES = ("nyc_flights", "nyc_taxi")
TAXI_COLORS = ("green", "yellow")
TLC_URL_TEMPLATE = "https://d37ci6vzurychx.cloudfront.net/trip-data/{color}_tripdata_{month}.parquet"


# in_process: a month is a chain of five steps, so one process per run beats a process per step
# (each of those pays ~4 s of imports); multiprocess isolates steps at that cost.
EXECUTORS = ("in_process", "multiprocess")
DEFAULT_MAX_RMSE = {"nyc_flights": 15.0, "nyc_taxi": 10.0}


def _number(env: Mapping[str, str], name: str, kind: type, default):
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not a valid {kind.__name__}") from exc


class SettingsError(ValueError):
    """An environment variable holds a value ml_assets cannot use."""


@dataclass(frozen=True)
class Settings:
    source: str = "nyc_flights"
    taxi_color: str = "green"
    taxi_url_template: str = TLC_URL_TEMPLATE
    taxi_start_month: str = "2021-01"
    taxi_end_month: str | None = None
    data_dir: str = field(default_factory=lambda: str(REPO_ROOT / "data"))
    max_rmse_override: float | None = None
    download_retries: int = 3
    download_retry_delay_s: float = 2.0
    mlflow_tracking_uri_from_env: bool = False
    mlflow_tracking_uri_value: str | None = None
    registered_model_name_override: str | None = None
    mlflow_ui_url: str = "http://127.0.0.1:5000"
    champion_min_improvement: float = 0.0
    publication_lag_months: int = 2
    sensor_lookback_months: int = 12
    sensor_interval_s: int = 60
    automation_interval_s: int = 30
    alert_webhook_from_env: bool = False
    dagster_ui_url: str = "http://127.0.0.1:3000"
    executor: str = "in_process"

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise SettingsError(f"ML_ASSETS_EXECUTOR={self.executor!r} is not an executor; use one of {EXECUTORS}")
        if self.source not in SOURCES:
            raise SettingsError(
                f"ML_ASSETS_SOURCE={self.source!r} is not a known source; use one of {SOURCES}"
            )
        if self.taxi_color not in TAXI_COLORS:
            raise SettingsError(
                f"ML_ASSETS_TAXI_COLOR={self.taxi_color!r} is not a TLC colour; use one of {TAXI_COLORS}"
            )
        if self.publication_lag_months < 1:
            raise SettingsError(
                f"ML_ASSETS_PUBLICATION_LAG_MONTHS={self.publication_lag_months} must be at least 1 "
                "(the current month is never complete)"
            )
        if "{month}" not in self.taxi_url_template:
            raise SettingsError(
                "ML_ASSETS_TAXI_URL_TEMPLATE must contain '{month}' (and usually '{color}'): "
                f"got {self.taxi_url_template!r}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            source=env.get("ML_ASSETS_SOURCE", defaults.source),
            taxi_color=env.get("ML_ASSETS_TAXI_COLOR", defaults.taxi_color),
            taxi_url_template=env.get("ML_ASSETS_TAXI_URL_TEMPLATE", defaults.taxi_url_template),
            taxi_start_month=env.get("ML_ASSETS_TAXI_START_MONTH", defaults.taxi_start_month),
            taxi_end_month=env.get("ML_ASSETS_TAXI_END_MONTH") or None,
            data_dir=env.get("ML_ASSETS_DATA_DIR", defaults.data_dir),
            max_rmse_override=_number(env, "ML_ASSETS_MAX_RMSE", float, None),
            download_retries=_number(env, "ML_ASSETS_DOWNLOAD_RETRIES", int, defaults.download_retries),
            download_retry_delay_s=_number(
                env, "ML_ASSETS_DOWNLOAD_RETRY_DELAY_S", float, defaults.download_retry_delay_s
            ),
            mlflow_tracking_uri_from_env=bool(env.get("MLFLOW_TRACKING_URI")),
            registered_model_name_override=env.get("ML_ASSETS_REGISTERED_MODEL") or None,
            mlflow_ui_url=env.get("ML_ASSETS_MLFLOW_UI_URL", defaults.mlflow_ui_url),
            champion_min_improvement=_number(
                env, "ML_ASSETS_CHAMPION_MIN_IMPROVEMENT", float, defaults.champion_min_improvement
            ),
            publication_lag_months=_number(env, "ML_ASSETS_PUBLICATION_LAG_MONTHS", int, defaults.publication_lag_months),
            sensor_lookback_months=_number(env, "ML_ASSETS_SENSOR_LOOKBACK_MONTHS", int, defaults.sensor_lookback_months),
            sensor_interval_s=_number(env, "ML_ASSETS_SENSOR_INTERVAL_S", int, defaults.sensor_interval_s),
            automation_interval_s=_number(env, "ML_ASSETS_AUTOMATION_INTERVAL_S", int, defaults.automation_interval_s),
            alert_webhook_from_env=bool(env.get("ML_ASSETS_ALERT_WEBHOOK_URL")),
            dagster_ui_url=env.get("ML_ASSETS_DAGSTER_UI_URL", defaults.dagster_ui_url),
            executor=env.get("ML_ASSETS_EXECUTOR", defaults.executor),
        )

    @property
    def mlflow_dir(self) -> str:
        return f"{self.data_dir.rstrip('/')}/mlflow"

    @property
    def default_mlflow_tracking_uri(self) -> str:
        """The embedded store: SQLite under data/mlflow/, no server needed."""
        return self.mlflow_tracking_uri_value or f"sqlite:///{self.mlflow_dir}/mlflow.db"

    @property
    def mlflow_artifact_location(self) -> str:
        return f"{self.mlflow_dir}/artifacts"

    @property
    def mlflow_experiment(self) -> str:
        return f"ml_assets/{self.dataset}"

    @property
    def registered_model_name(self) -> str:
        return self.registered_model_name_override or f"{self.dataset}_trip_duration"

    @property
    def max_rmse(self) -> float:
        """Largest acceptable validation RMSE in minutes (taxi trips are far shorter than flights)."""
        if self.max_rmse_override is not None:
            return self.max_rmse_override
        return DEFAULT_MAX_RMSE[self.source]

    @property
    def dataset(self) -> str:
        """Name of the dataset, used to keep each source's outputs apart under data/."""
        return "nyc_flights" if self.source == "nyc_flights" else f"nyc_taxi_{self.taxi_color}"

    @property
    def warehouse_dir(self) -> str:
        return f"{self.data_dir.rstrip('/')}/warehouse/{self.dataset}"

    @property
    def cache_dir(self) -> str:
        return f"{self.data_dir.rstrip('/')}/source_cache"

    @property
    def reports_dir(self) -> str:
        return f"{self.data_dir.rstrip('/')}/reports/{self.dataset}"
