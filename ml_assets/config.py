"""The YAML schema of a training pipeline: plain pydantic models (the component renders templates, then validates).

Every field is validated before any asset runs: a bad value fails loading with a message that
names the setting, the value and what is allowed. Environment-specific values (URLs, paths) reach
these models through the YAML's `{{ env(...) }}` templating, never written into YAML.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ml_assets.months import is_month

DATE_PARTS = (
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "dayofweek",
    "dayofyear",
    "minute_of_day",
    "is_weekend",
)


class Spec(BaseModel):
    """A part of the YAML: unknown settings are refused (a typo is an error, not a silent default)."""

    model_config = ConfigDict(extra="forbid")


class PipelineConfigError(ValueError):
    """A pipeline's YAML (or the environment it templates in) holds a value ml_assets cannot use."""


def refuse(setting: str, value: Any, allowed: str) -> None:
    raise PipelineConfigError(f"{setting}={value!r} is not allowed: {allowed}")


class TargetSpec(Spec):
    """What the model predicts."""

    column: str = Field(description="The target column of the source's rows.")
    positive_above: float | None = Field(
        default=None,
        description="Classification: binarize the target as `column > positive_above` (e.g. UCI num > 0).",
    )
    class_names: dict[int | str, str] | list[str] | None = Field(  # keys read as text (_labels_as_text)
        default=None,
        description="Classification: the classes' names in reports. A mapping {label: name} for any labels "
        "({Adelie: Adélie penguin, ...}; every label found needs a name); a list only for labels 0, 1, ..., n-1 "
        "(the position is the label).",
    )

    @field_validator("class_names", mode="before")
    @classmethod
    def _labels_as_text(cls, value: Any) -> Any:
        """YAML reads `{0: healthy, 1: sick}` with numbers as keys; labels are matched as text."""
        if isinstance(value, dict):
            return {str(label): name for label, name in value.items()}
        return value

    min: float | None = Field(
        default=None, description="Regression: rows with a target below this are dropped."
    )
    max: float | None = Field(
        default=None, description="Regression: rows with a target above this are dropped."
    )


class DerivedColumn(Spec):
    """A model input computed from the delivered columns inside the served Pipeline (so serving computes it too)."""

    name: str = Field(
        description="The new column's name; list it under features.numeric or features.categorical."
    )
    join: list[str] | None = Field(
        default=None, description="Columns joined with '_' into one category (e.g. a route)."
    )
    part_of: str | None = Field(
        default=None, description="A timestamp column to take a part of (with `part`)."
    )
    part: str | None = Field(
        default=None,
        description="year, month, day, hour, minute, dayofweek, dayofyear, minute_of_day or is_weekend.",
    )
    minutes_between: list[str] | None = Field(
        default=None, description="[start, end] timestamp columns: end - start in minutes."
    )
    bin_of: str | None = Field(
        default=None,
        description="A numeric column cut into bins of `width` (a category, e.g. compass sectors).",
    )
    width: float | None = Field(
        default=None, description="The bin width for `bin_of` (e.g. 30 for 30-degree sectors)."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> DerivedColumn:
        given = [k for k in ("join", "part_of", "minutes_between", "bin_of") if getattr(self, k)]
        if len(given) != 1:
            refuse(
                f"features.derived[{self.name}]",
                given or None,
                "exactly one of join, part_of (with part), minutes_between or bin_of (with width)",
            )
        if self.bin_of is not None and not (self.width and self.width > 0):
            refuse(f"features.derived[{self.name}].width", self.width, "a bin width above 0")
        if self.join is not None and len(self.join) < 2:
            refuse(f"features.derived[{self.name}].join", self.join, "two or more columns")
        if self.part_of is not None and self.part not in DATE_PARTS:
            refuse(f"features.derived[{self.name}].part", self.part, f"one of {list(DATE_PARTS)}")
        if self.minutes_between is not None and len(self.minutes_between) != 2:
            refuse(
                f"features.derived[{self.name}].minutes_between",
                self.minutes_between,
                "[start column, end column]",
            )
        return self

    def as_tuple(self) -> tuple:
        if self.join:
            return (self.name, "join", tuple(self.join), None)
        if self.part_of:
            return (self.name, "date_part", (self.part_of,), self.part)
        if self.bin_of:
            return (self.name, "bin", (self.bin_of,), self.width)
        return (self.name, "minutes_between", tuple(self.minutes_between or ()), None)


WINDOW_UNITS = {"min": 60, "h": 3600, "d": 86400}


def window_seconds(window: str) -> int | None:
    """'90min', '6h', '7d' -> seconds; None when it is not such a window."""
    import re

    match = re.fullmatch(r"\s*(\d+)\s*(min|h|d)\s*", str(window))
    return int(match.group(1)) * WINDOW_UNITS[match.group(2)] if match and int(match.group(1)) > 0 else None


class AsOfAggregate(Spec):
    """One point-in-time input: a statistic of `of` over the rows of the same `by` group that became available
    within `window` before this row's as-of time (never at or after it)."""

    name: str = Field(description="The new input's name; list it under features.numeric.")
    of: str = Field(
        description="The column aggregated, e.g. the target of rows already finished (air time of landed flights)."
    )
    by: list[str] = Field(
        default_factory=list,
        description="Group columns (delivered or derived, e.g. [route]); empty: all rows.",
    )
    window: str = Field(description="How far back: minutes, hours or days, e.g. 90min, 6h, 7d.")
    stat: Literal["mean", "median", "count", "rate", "ratio"] = Field(
        default="mean",
        description="mean, median or count of `of` in the window; rate: the window's mean of `of / to` "
        "(e.g. recent minutes "
        "per mile on this sector); ratio: that rate times this row's `to` (times this flight's miles).",
    )
    to: str | None = Field(
        default=None, description="The reference column of stat: rate or ratio (e.g. distance)."
    )

    @model_validator(mode="after")
    def _valid(self) -> AsOfAggregate:
        where = f"features.as_of.aggregates[{self.name}]"
        if window_seconds(self.window) is None:
            refuse(
                f"{where}.window", self.window, "a positive whole number of min, h or d, e.g. 90min, 6h, 7d"
            )
        if (self.stat in ("rate", "ratio")) != (self.to is not None):
            refuse(f"{where}.to", self.to, "a reference column with stat: rate or ratio, and only then")
        return self

    def as_tuple(self) -> tuple:
        return (self.name, self.of, tuple(self.by), window_seconds(self.window), self.stat, self.to)


class AsOfSpec(Spec):
    """Point-in-time inputs: what was already known when each row's prediction is made (see docs/configuration.md)."""

    time: str = Field(
        description="Each row's as-of timestamp: when its prediction is made (e.g. the scheduled departure)."
    )
    available_at: str = Field(
        description="When a row's values became known to later rows (e.g. the gate arrival): a row counts "
        "for another only if "
        "this is strictly before the other's `time`. Never a model input."
    )
    aggregates: list[AsOfAggregate] = Field(
        description="The inputs, each a statistic over a window of earlier rows."
    )
    history_days: float | None = Field(
        default=None,
        description="Monthly pipelines: how many days before the month the raw step also keeps (from the "
        "previous month's "
        "delivery) so the month's first rows have history; unset: the longest window.",
    )

    @model_validator(mode="after")
    def _valid(self) -> AsOfSpec:
        names = [a.name for a in self.aggregates]
        if not names or len(set(names)) != len(names):
            refuse("features.as_of.aggregates[].name", names, "one or more distinct names")
        if self.history_days is not None and self.history_days < 0:
            refuse("features.as_of.history_days", self.history_days, "0 or more days")
        return self

    def names(self) -> list[str]:
        return [a.name for a in self.aggregates]

    def history_seconds(self) -> int:
        if self.history_days is not None:
            return int(self.history_days * 86400)
        return max(window_seconds(a.window) or 0 for a in self.aggregates)

    def as_tuple(self) -> tuple:
        return (self.time, self.available_at, tuple(a.as_tuple() for a in self.aggregates))


class RangeSpec(Spec):
    min: float | None = Field(default=None, description="Rows below this are dropped.")
    max: float | None = Field(default=None, description="Rows above this are dropped.")


class FeatureSpec(Spec):
    """The model's inputs, all computed inside the one scikit-learn Pipeline that is trained and served."""

    numeric: list[str] = Field(
        default_factory=list,
        description="Numeric inputs (median-imputed). Neither list given: every non-target column, by dtype.",
    )
    categorical: list[str] = Field(
        default_factory=list, description="Categorical inputs (text or codes), encoded by `encoding`."
    )
    derived: list[DerivedColumn] = Field(
        default_factory=list, description="Inputs computed from other columns (route, date parts)."
    )
    as_of: AsOfSpec | None = Field(
        default=None,
        description="Point-in-time inputs computed from earlier rows (recent air times of landed flights); "
        "list their names "
        "under numeric. Computed in the features step, the same code for training, evaluation and predictions.",
    )
    encoding: Literal["auto", "onehot", "ordinal", "target", "native", "none"] = Field(
        default="auto",
        description="How categories become numbers: onehot (unseen ones ignored), ordinal, target (cross-fitted target "
        "encoding, for high cardinality), native (codes the estimator splits on as categories: "
        "hist_gradient_boosting; up to 255 categories per input, the rarer sharing one) or none (the estimator "
        "takes them). auto: native for hist_gradient_boosting, onehot for the others.",
    )
    scale_numeric: bool = Field(
        default=True,
        description="StandardScaler after the imputer (linear models want it; trees do not care).",
    )
    drop_missing: bool | list[str] = Field(
        default=False,
        description="Drop rows with a missing input: true (any input), a list of columns, or false (the "
        "imputers fill gaps).",
    )
    filters: dict[str, RangeSpec] = Field(
        default_factory=dict,
        description="Rows with a value outside [min, max] are dropped, e.g. {distance: {min: 0}}.",
    )

    def derived_names(self) -> set[str]:
        return {d.name for d in self.derived}

    def as_of_names(self) -> list[str]:
        return self.as_of.names() if self.as_of else []


class SearchRange(Spec):
    """A numeric hyperparameter drawn from [low, high], evenly or on a log scale (for C, alpha, learning rates)."""

    low: float = Field(description="Smallest value.")
    high: float = Field(description="Largest value.")
    log: bool = Field(default=False, description="Draw on a log scale (low must be above 0).")
    integer: bool = Field(default=False, description="Whole numbers (max_depth, n_estimators).")

    @model_validator(mode="after")
    def _valid(self) -> SearchRange:
        if not self.low < self.high or (self.log and self.low <= 0):
            refuse(
                "estimator.search.space[...]",
                {"low": self.low, "high": self.high, "log": self.log},
                "low < high, and low > 0 with log: true",
            )
        return self


class SearchSpec(Spec):
    """Hyperparameters chosen by a random search inside each training set: in an evaluation's cross-validation every
    outer fold searches on its own training part (nested CV), so the reported figure never saw the folds that chose."""

    space: dict[str, Any] = Field(
        description="Each hyperparameter: a range {low, high, log, integer} or a list of values to pick from."
    )
    iterations: int = Field(default=10, description="Candidates drawn (scikit-learn's RandomizedSearchCV).")
    folds: int = Field(default=3, description="Inner cross-validation folds that score each candidate.")

    @model_validator(mode="after")
    def _valid(self) -> SearchSpec:
        if not self.space:
            refuse("estimator.search.space", self.space, "one or more hyperparameters")
        for name, value in self.space.items():
            if isinstance(value, dict):
                self.space[name] = SearchRange.model_validate(value)
            elif not (isinstance(value, (list, SearchRange)) and value):
                refuse(
                    f"estimator.search.space.{name}",
                    value,
                    "a range {low, high, log, integer} or a non-empty list of values",
                )
        if self.iterations < 1:
            refuse("estimator.search.iterations", self.iterations, "1 or more candidates")
        if self.folds < 2:
            refuse("estimator.search.folds", self.folds, "2 or more inner folds")
        return self


class EstimatorSpec(Spec):
    """An estimator by catalog name (see ml_assets/learning/catalog.py) or import path, with hyperparameters."""

    kind: str = Field(
        description="A named estimator (linear_regression, ridge, lasso, elastic_net, logistic_regression, "
        "random_forest, "
        "extra_trees, gradient_boosting, hist_gradient_boosting, k_neighbors, dummy, linear_then_boosted_trees) or an "
        "import path such as sklearn.svm.SVC."
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Constructor arguments, checked against the estimator's signature at load.",
    )
    random_state: int = Field(default=42, description="Seed passed to estimators that take one.")
    search: SearchSpec | None = Field(
        default=None,
        description="Hyperparameters to choose by a random search on the training rows (nested CV in the evaluation).",
    )


class BaselineSpec(Spec):
    """A reference predictor, fitted and scored on the same rows as the model (the seed script, the course baseline)."""

    key: str = Field(
        description="Identifier used in metric names and its check (beats_<key> / not_worse_than_<key>)."
    )
    name: str = Field(description="What the report calls it, e.g. 'Airflow iris DAG'.")
    estimator: EstimatorSpec = Field(description="Its estimator, declared like the model's.")
    columns: list[str] | None = Field(
        default=None,
        description="Its inputs, a subset of the model's (declared or derived); unset: all of them.",
    )
    encoding: Literal["auto", "onehot", "ordinal", "target", "native", "none"] = Field(
        default="onehot",
        description="How its categorical columns are encoded (as features.encoding); none: every column is read as "
        "a number, in order.",
    )
    scale_numeric: bool = Field(default=False, description="StandardScaler on its numeric inputs.")
    check: Literal["beats", "not_worse", "none"] = Field(
        default="none",
        description="A blocking check on the model: beats (strictly better), not_worse (at least as good) "
        "or none (reported only).",
    )

    @model_validator(mode="after")
    def _key(self) -> BaselineSpec:
        if not self.key.isidentifier():
            refuse(
                "baselines[].key", self.key, "letters, digits and underscores (it names a check and metrics)"
            )
        return self

    @property
    def check_name(self) -> str | None:
        return {"beats": f"beats_{self.key}", "not_worse": f"not_worse_than_{self.key}"}.get(self.check)


# cross-validation repetitions of a small table when `evaluation.cv_repeats` is unset, and the rows cross-validated
# in one repetition by default (repeats x rows stay within it when cv_repeats is unset)
AUTO_CV_REPEATS_MAX = 10
DEFAULT_CV_MAX_ROWS = 100_000


class EvaluationSpec(Spec):
    """Unpartitioned pipelines: repeated (stratified, for classification) K-fold cross-validation of the model and
    every baseline on the same folds, plus a held-out split scored by the registered model. Monthly pipelines
    train on month M-1 and are scored on month M instead."""

    cv_folds: int = Field(default=5, ge=2, description="Folds per repetition.")
    cv_repeats: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Repetitions with reshuffled folds (mean ± sd over folds x repeats). Unset: as many as keep the rows "
            "cross-validated over every repetition within cv_max_rows (or its default), at most "
            f"{AUTO_CV_REPEATS_MAX}: a table of up to a tenth of cv_max_rows rows is cross-validated 10 times, one of "
            "more than half of it once; the report states the number."
        ),
    )
    cv_jobs: int | None = Field(
        default=None,
        description=(
            "Processes that fit the folds (joblib; -1: one per CPU; unset: the step's parallel_fits, "
            "ML_ASSETS_PARALLEL_FITS). The scores do not depend on it."
        ),
    )
    cv_max_rows: int | None = Field(
        default=DEFAULT_CV_MAX_ROWS,
        ge=20,
        description=(
            "Largest number of rows in one cross-validation: a bigger table is cross-validated on a seeded sample of "
            "this many rows (stratified for classification, each class kept at cv_folds rows or all it has), which the "
            "report states; the held-out split and the registered model use every row. null: every row."
        ),
    )
    holdout_share: float = Field(
        default=0.2, gt=0, lt=1, description="Share of rows held out from the registered model's training."
    )
    random_state: int = Field(default=42, description="Seed of the folds and the held-out split.")

    @model_validator(mode="after")
    def _jobs(self) -> EvaluationSpec:
        if self.cv_jobs == 0:
            refuse(
                "evaluation.cv_jobs", self.cv_jobs, "a number of processes (1, 2, ...) or -1 for one per CPU"
            )
        return self

    def repeats_for(self, rows: int) -> int:
        """How many times a table of `rows` rows is cross-validated: `cv_repeats` if set, else as many times (1 to
        AUTO_CV_REPEATS_MAX) as keep rows x repeats within `cv_max_rows` (its default when it is null)."""
        if self.cv_repeats is not None:
            return self.cv_repeats
        budget = DEFAULT_CV_MAX_ROWS if self.cv_max_rows is None else self.cv_max_rows
        return max(1, min(AUTO_CV_REPEATS_MAX, budget // max(rows, 1)))


class QualitySpec(Spec):
    """Thresholds of the blocking asset checks (each check exists only when its threshold is set)."""

    # bounds checked below: pydantic's field constraints reject an explicit `null`
    max_rmse: float | None = Field(
        default=None, description="Regression: largest RMSE on the evaluation rows (> 0)."
    )
    min_accuracy: float | None = Field(
        default=None, description="Classification: smallest accuracy on the evaluation rows (0 to 1)."
    )
    max_outside_month_share: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="Monthly with a time column: largest share of rows stamped outside their month.",
    )
    min_retention_ratio: float = Field(
        default=0.8, ge=0, le=1, description="Share of raw rows that must survive cleaning."
    )
    min_rows: int = Field(
        default=20,
        ge=2,
        description="Fewest cleaned rows a table or month needs to train and be evaluated on (a blocking check).",
    )

    @model_validator(mode="after")
    def _bounds(self) -> QualitySpec:
        if self.max_rmse is not None and self.max_rmse <= 0:
            refuse("quality.max_rmse", self.max_rmse, "a positive number")
        if self.min_accuracy is not None and not 0 <= self.min_accuracy <= 1:
            refuse("quality.min_accuracy", self.min_accuracy, "a share between 0 and 1")
        return self


class MonthlyPartitioning(Spec):
    """One partition per calendar month (YYYY-MM)."""

    first_month: str = Field(description="First month, YYYY-MM.")
    last_month: str | None = Field(
        default=None, description="Last month, YYYY-MM; unset = open-ended (publication lag)."
    )
    publication_lag_months: int = Field(
        default=2, ge=1, description="Open-ended: newest month = this many months back."
    )
    months_per_run: int | None = Field(
        default=None,
        ge=1,
        description="A backfill runs this many months per run (bounds its memory); unset = the whole range in one run.",
    )
    training_window: int | Literal["backtest"] = Field(
        default=1,
        description="The model of month M is trained on the rows of the N months up to M (fewer where the "
        "pipeline starts "
        "later); 1 = the month alone, the course's protocol. `backtest`: on the window of "
        "monitoring.backtest_windows that "
        "the walk-forward backtest scored best on the months before M (never on M).",
    )
    window_evidence_months: int = Field(
        default=3,
        ge=1,
        description="With training_window: backtest, how many of the latest months before M the candidate windows are "
        "compared on (fewer where fewer exist).",
    )

    @model_validator(mode="after")
    def _months(self) -> MonthlyPartitioning:
        for name in ("first_month", "last_month"):
            value = getattr(self, name)
            if value is not None and not is_month(value):
                refuse(f"partitioning.monthly.{name}", value, "a month written YYYY-MM")
        if self.last_month and self.last_month < self.first_month:
            refuse(
                "partitioning.monthly.last_month",
                self.last_month,
                f"not before first_month {self.first_month}",
            )
        if self.training_window != "backtest" and self.training_window < 1:
            refuse(
                "partitioning.monthly.training_window",
                self.training_window,
                "a number of months (1, 2, ...) or backtest",
            )
        return self


class PartitioningSpec(Spec):
    """How the pipeline is partitioned: by calendar month, or not at all (one table)."""

    monthly: MonthlyPartitioning | None = Field(
        default=None, description="Monthly partitions; unset = unpartitioned."
    )


class MlflowSpec(Spec):
    """Where the pipeline's runs and models go in MLflow."""

    experiment: str | None = Field(default=None, description="Default ml_assets/<pipeline name>.")
    registered_model: str | None = Field(default=None, description="Default <pipeline name>_<task>.")


class ChampionSpec(Spec):
    """The promotion gate that moves the MLflow `champion` alias."""

    min_improvement: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="Share by which a new version must beat the champion's primary metric.",
    )


class DriftSpec(Spec):
    """Thresholds of the drift checks on `predictions`: effect sizes in [0, 1] between a month and the
    champion's training data (KS statistic for numbers, total variation distance for categories)."""

    max_feature_drift: float = Field(default=0.2, gt=0, le=1, description="Largest drift of any model input.")
    max_prediction_drift: float = Field(
        default=0.1, gt=0, le=1, description="Largest drift of the champion's predictions."
    )
    max_target_drift: float = Field(
        default=0.1, gt=0, le=1, description="Largest drift of the target (once it is known)."
    )
    ignore_features: list[str] = Field(
        default_factory=list,
        description="Model inputs left out of the feature drift check (as-of inputs always are: they "
        "follow the target, which "
        "the target drift check judges).",
    )
    reference_rows: int = Field(
        default=20_000, ge=100, description="Training rows logged with each model as its drift reference."
    )


class MonitoringSpec(Spec):
    """Batch scoring with the champion, drift checks, drift-triggered retraining and the backtest."""

    drift: DriftSpec = Field(
        default_factory=DriftSpec, description="Thresholds of the drift checks on `predictions`."
    )
    retrain: Literal["every_month", "on_drift"] = Field(
        default="every_month",
        description="every_month: automation trains a model on each new month (the course protocol); "
        "on_drift: only when the month's drift alarm is raised (drift beyond a threshold, or no champion yet).",
    )
    backtest_windows: list[int] = Field(
        default_factory=lambda: [1, 3, 6],
        description="Monthly: the backtest retrains on the last k months for each k.",
    )

    @model_validator(mode="after")
    def _windows(self) -> MonitoringSpec:
        if not self.backtest_windows or any(k < 1 for k in self.backtest_windows):
            refuse(
                "monitoring.backtest_windows",
                self.backtest_windows,
                "one or more window lengths of at least 1 month",
            )
        return self


class AutomationSpec(Spec):
    """The source sensor, declarative automation and the ingest retry policy."""

    # The intervals may be templated from the environment ("{{ env(...) }}"), and pydantic applies
    # field constraints before Dagster renders templates, so their bounds are checked below.
    sensor_interval_s: int = Field(
        default=60, description="How often the source sensor looks for new data (>= 1 s)."
    )
    sensor_lookback_months: int = Field(
        default=12, description="Monthly: months the sensor watches; 0 = all."
    )
    automation_interval_s: int = Field(
        default=30, description="How often automation conditions are evaluated (>= 1 s)."
    )
    ingest_retries: int = Field(default=3, ge=0, description="RetryPolicy of raw_data for network faults.")
    ingest_retry_delay_s: float = Field(
        default=2.0, ge=0, description="First retry delay of raw_data, seconds (exponential backoff, jitter)."
    )

    @model_validator(mode="after")
    def _intervals(self) -> AutomationSpec:
        for name in ("sensor_interval_s", "automation_interval_s"):
            if getattr(self, name) < 1:
                refuse(f"automation.{name}", getattr(self, name), "at least 1 second")
        if self.sensor_lookback_months < 0:
            refuse(
                "automation.sensor_lookback_months", self.sensor_lookback_months, "0 (every month) or more"
            )
        return self
