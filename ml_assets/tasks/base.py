"""What every task kind shares: declared inputs, row cleaning, the served Pipeline, and the two evaluation protocols.

- Monthly pipelines: the model trained on month M-1 is scored on month M beside baselines fitted on M-1 (the course
  protocol; it is how the model will be used: trained on the past, applied to the next month).
- Unpartitioned pipelines: repeated K-fold cross-validation of the model and every baseline on the same folds
  (mean ± sd, paired differences), plus a held-out split scored by the registered model.

A task kind (tasks/<kind>/) supplies what differs: how the target is read, its metrics, the trivial baseline,
its checks and the report's task-specific parts. Everything here below the Dagster result types is pure
pandas/scikit-learn, imported lazily so the code location loads fast.
"""

from __future__ import annotations

import base64
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from ml_assets.config import BaselineSpec, EstimatorSpec, EvaluationSpec, FeatureSpec, QualitySpec, TargetSpec
from ml_assets.learning import Fitted
from ml_assets.tasks import checks
from ml_assets.tasks.checks import CheckOutcome
from ml_assets.tasks.protocols import EvaluationProtocols
from ml_assets.tasks.results import CANDIDATE, Diagnostics, Evaluated, StepResult, Trained  # noqa: F401 (re-exported)
from ml_assets.ui_values import for_ui

if TYPE_CHECKING:  # imported where used: the code location loads without them
    import numpy as np
    import pandas as pd

# columns of the scored rows (predictions) and of a drift reference
ACTUAL, PREDICTION = "actual", "prediction"


# raw_data's column marking the rows before the month kept only as as-of history (features.as_of)
HISTORY_MARK = "as_of_history"


def reference_sample(frame: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    """At most `rows` of a model's training rows, seeded: its drift reference, once scored."""
    return (
        frame.sample(n=rows, random_state=seed).reset_index(drop=True)
        if len(frame) > rows
        else frame.reset_index(drop=True)
    )


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds, for messages (3750.0, not np.float64(3750.0))."""
    return value.item() if hasattr(value, "item") else value


def cleaning_metadata(raw_rows: int, kept_rows: int, dropped: dict[str, int]) -> dict[str, Any]:
    """Rows in and out of cleaning, the share kept and how many each rule dropped."""
    return {
        "rows_in": raw_rows,
        "rows_out": kept_rows,
        "retention_ratio": for_ui(kept_rows / raw_rows if raw_rows else 0.0),
        **{f"dropped_{rule}": count for rule, count in dropped.items()},
    }


def embedded_png(markdown: str, png: bytes, caption: str) -> str:
    return markdown + f"\n![{caption}](data:image/png;base64,{base64.b64encode(png).decode()})\n"


class Task(EvaluationProtocols):
    """The interface the assets call, and the behaviour every task kind shares (the evaluation protocols come
    from tasks/protocols.py)."""

    kind: ClassVar[str]
    primary_metric: ClassVar[str]
    higher_is_better: ClassVar[bool]
    metric_names: ClassVar[tuple[str, ...]]
    lower_is_better: ClassVar[frozenset[str]]
    trivial_key: ClassVar[str]  # the always-present baseline (mean predictor, majority class)
    trivial_name: ClassVar[str]
    threshold_setting: ClassVar[str]  # quality.<setting>; a kind without one has no threshold check
    catalog: ClassVar[str] = (
        ""  # which column of learning/catalog.py names its estimators (default: its kind)
    )

    @classmethod
    def estimator_task(cls) -> str:
        return cls.catalog or cls.kind

    def __init__(
        self,
        name: str,
        target: TargetSpec,
        features: FeatureSpec,
        estimator: EstimatorSpec,
        baselines: list[BaselineSpec],
        quality: QualitySpec,
        evaluation: EvaluationSpec,
        monthly: bool,
        time_column: str | None,
    ):
        self.name, self.target, self.feature_spec, self.estimator = name, target, features, estimator
        self.baselines, self.quality, self.evaluation = list(baselines), quality, evaluation
        self.monthly, self.time_column = monthly, time_column
        self.target_column = target.column

    def declared(self) -> dict[str, Any]:
        """Everything declared that a score depends on (a cached score's key): not the quality thresholds."""
        return {
            "kind": self.kind,
            "target": self.target.model_dump(mode="json"),
            "features": self.feature_spec.model_dump(mode="json"),
            "estimator": self.estimator.model_dump(mode="json"),
            "baselines": [b.model_dump(mode="json") for b in self.baselines],
            # how many processes: not a score
            "evaluation": self.evaluation.model_dump(mode="json", exclude={"cv_jobs"}),
            "monthly": self.monthly,
        }

    # ---- load-time rules of the kind (called by config.check_pipeline) ------------------------------------------
    @classmethod
    def check_spec(cls, spec) -> None:
        """Settings of the YAML this kind refuses; raise PipelineConfigError naming the setting."""

    # ---- checks -----------------------------------------------------------------------------------------------
    @property
    def threshold(self) -> float | None:
        return getattr(self.quality, self.threshold_setting, None)

    @property
    def threshold_check(self) -> str:
        return f"{self.primary_metric}_within_threshold"

    @property
    def raw_check_names(self) -> list[str]:
        names = [checks.RAW_SCHEMA, checks.RAW_NOT_EMPTY]
        if self.monthly and self.time_column:
            names.append(checks.RAW_ROWS_IN_MONTH)
        return names + self.extra_raw_checks()

    @property
    def feature_check_names(self) -> list[str]:
        return [
            checks.FEATURES_NO_NULLS,
            checks.FEATURES_RETENTION,
            checks.FEATURES_ENOUGH_ROWS,
        ] + self.extra_feature_checks()

    @property
    def evaluation_check_names(self) -> list[str]:
        names = [self.threshold_check] if self.threshold is not None else []
        names.append(f"beats_{self.trivial_key}")
        # the re-computation of every reported figure from what was stored (tasks/recompute.py), run after
        # the report is stored
        return names + [b.check_name for b in self.baselines if b.check_name] + [checks.FIGURES_RECOMPUTED]

    def check_descriptions(self) -> dict[str, str]:
        where = "on the next month" if self.monthly else "in cross-validation"
        descriptions = {
            self.threshold_check: f"The model's {self.primary_metric} {where} is within "
            f"quality.{self.threshold_setting}.",
            f"beats_{self.trivial_key}": f"The model beats the {self.trivial_name} {where}.",
        }
        for b in self.baselines:
            verb = "beats" if b.check == "beats" else "is not worse than"
            descriptions[b.check_name or ""] = f"The model {verb} the declared baseline {b.name} {where}."
        return descriptions

    def extra_raw_checks(self) -> list[str]:
        return []

    def extra_feature_checks(self) -> list[str]:
        return []

    # ---- target (the kind's own) -----------------------------------------------------------------------------
    def target_problems(self, values: pd.Series) -> list[str]:
        return []

    def prepare_target(self, values: pd.Series) -> pd.Series:
        return values

    # ---- inputs ------------------------------------------------------------------------------------------------
    def inputs(self, frame: pd.DataFrame) -> tuple[list[str], list[str]]:
        """(categorical, numeric) inputs: as declared, or every non-target column by dtype (timestamps left out)."""
        import pandas as pd

        spec = self.feature_spec
        if spec.numeric or spec.categorical:
            return list(spec.categorical), list(spec.numeric)
        categorical, numeric = [], []
        for column in frame.columns:
            if column in (self.target_column, self.time_column) or pd.api.types.is_datetime64_any_dtype(
                frame[column]
            ):
                continue
            (
                numeric
                if pd.api.types.is_numeric_dtype(frame[column])
                and not pd.api.types.is_bool_dtype(frame[column])
                else categorical
            ).append(column)
        return categorical, numeric

    def derived(self) -> tuple[tuple, ...]:
        """The derived model inputs (a derived target is computed in `clean`, never an input)."""
        return tuple(d.as_tuple() for d in self.feature_spec.derived if d.name != self.target_column)

    def derived_target(self) -> tuple | None:
        """The target's derivation, when target.column names a derived column (e.g. minutes between two timestamps)."""
        return next((d.as_tuple() for d in self.feature_spec.derived if d.name == self.target_column), None)

    def with_derived_target(self, raw: pd.DataFrame) -> pd.DataFrame:
        from ml_assets.learning.inputs import derive

        found = self.derived_target()
        return raw if found is None else raw.assign(**{self.target_column: derive(raw, *found)})

    def source_columns(self, frame: pd.DataFrame) -> list[str]:
        """The delivered columns the inputs are computed from (as-of inputs are computed in the features step)."""
        from ml_assets.learning.inputs import DeclaredInputs

        categorical, numeric = self.inputs(frame)
        as_of = set(self.feature_spec.as_of_names())
        return DeclaredInputs(
            categorical, [c for c in numeric if c not in as_of], self.derived()
        ).source_columns()

    def as_of_source_columns(self) -> list[str]:
        """The delivered columns the as-of inputs are computed from."""
        as_of = self.feature_spec.as_of
        if as_of is None:
            return []
        derived = {d.name: d.as_tuple() for d in self.feature_spec.derived}
        needed = [as_of.time, as_of.available_at]
        for aggregate in as_of.aggregates:
            groups = [c for g in aggregate.by for c in (derived[g][2] if g in derived else [g])]
            needed += [aggregate.of, *([aggregate.to] if aggregate.to else []), *groups]
        return list(dict.fromkeys(needed))

    @staticmethod
    def own_rows(raw: pd.DataFrame) -> pd.DataFrame:
        """The month's own rows, without those kept only as as-of history."""
        if HISTORY_MARK not in raw.columns:
            return raw
        return (
            raw[~raw[HISTORY_MARK].to_numpy(dtype=bool)].drop(columns=[HISTORY_MARK]).reset_index(drop=True)
        )

    def with_as_of(self, raw: pd.DataFrame) -> pd.DataFrame:
        """The rows with their as-of inputs, each from the rows (history included) available before its time."""
        from ml_assets.learning.as_of import as_of_aggregates

        as_of = self.feature_spec.as_of
        if as_of is None:
            return raw
        time, available_at, aggregates = as_of.as_tuple()
        derived = tuple(d.as_tuple() for d in self.feature_spec.derived)
        return raw.assign(**as_of_aggregates(raw, time, available_at, aggregates, derived))

    # ---- the raw table ---------------------------------------------------------------------------------------
    def refusals(self, raw: pd.DataFrame) -> list[str]:
        """Problems that make the delivered rows unusable: refused before they replace a good copy."""
        import pandas as pd

        if raw.empty:
            return ["the source delivered no rows"]
        columns = list(map(str, raw.columns))
        derived_target = self.derived_target()
        if derived_target is not None:
            missing = [c for c in derived_target[2] if c not in raw.columns]
            if missing:
                return [
                    f"target.column {self.target_column!r} is derived from {missing}, which are not among "
                    f"the delivered columns {columns}"
                ]
            raw = self.with_derived_target(raw)
        elif self.target_column not in raw.columns:
            return [f"target.column {self.target_column!r} is not among the delivered columns {columns}"]
        missing = [c for c in self.source_columns(raw) if c not in raw.columns]
        if missing:
            return [f"the declared feature column(s) {missing} are not among the delivered columns {columns}"]
        missing = [c for c in self.as_of_source_columns() if c not in raw.columns]
        if missing:
            return [
                f"features.as_of needs the column(s) {missing}, which are not among the delivered columns {columns}"
            ]
        from ml_assets.learning.estimators import columns_named_by

        categorical, numeric = self.inputs(raw)
        if self.feature_spec.encoding == "none":
            for column in categorical:
                values = raw[column].dropna() if column in raw.columns else raw.iloc[:0, 0]
                text = values[pd.to_numeric(values, errors="coerce").isna()]
                if len(text):
                    return [
                        "features.encoding=none passes the categorical inputs to the estimator as they "
                        f"are, and {column!r} "
                        f"holds text (e.g. {plain(text.iloc[0])!r}): choose onehot, ordinal or target"
                    ]
        for param, named in columns_named_by(
            self.estimator.kind, self.estimator_task(), dict(self.estimator.params)
        ).items():
            side = categorical if param.endswith("categorical") else numeric
            if any(c not in side for c in named):
                return [
                    f"estimator.params.{param}={named} names columns that are not its kind of model input: the "
                    f"{'categorical' if side is categorical else 'numeric'} inputs are {side}"
                ]
        problems = []
        derived = {d.name: d for d in self.feature_spec.derived}
        for column in numeric:
            if column in raw.columns and column not in derived:
                values = raw[column]
                parsed = pd.to_numeric(values, errors="coerce")
                bad = values[parsed.isna() & values.notna()]
                if len(bad):
                    problems.append(
                        f"features.numeric column {column!r} holds text (e.g. {plain(bad.iloc[0])!r} in "
                        f"{len(bad)} rows): "
                        "list it under features.categorical, or add the value to source.na_values"
                    )
        as_of = self.feature_spec.as_of
        timestamps = [
            (f"features.derived[{d.name}]", c)
            for d in self.feature_spec.derived
            for c in ([d.part_of] if d.part_of else (d.minutes_between or []))
        ]
        timestamps += [("features.as_of", c) for c in ((as_of.time, as_of.available_at) if as_of else ())]
        for setting, column in timestamps:
            try:
                with warnings.catch_warnings():  # text that is no timestamp makes pandas warn before it fails
                    warnings.simplefilter("ignore", UserWarning)
                    pd.to_datetime(raw[column].head(1000))
            except (ValueError, TypeError):
                problems.append(
                    f"{setting} needs timestamps in {column!r}, which holds e.g. {plain(raw[column].iloc[0])!r}"
                )
        return problems + self.target_problems(raw[self.target_column])

    def raw(self, raw: pd.DataFrame, partition: str | None) -> StepResult:
        problems = self.refusals(raw)
        results = [
            checks.outcome(
                checks.RAW_SCHEMA, partition, not problems, problems="; ".join(problems) or "none"
            ),
            checks.outcome(checks.RAW_NOT_EMPTY, partition, len(raw) > 0, rows=len(raw)),
        ]
        metadata: dict[str, Any] = {}
        if self.monthly and self.time_column:
            outside = self.outside_month(raw, partition)
            share = float(outside.mean()) if len(raw) else 0.0
            metadata.update(
                {
                    "first_time": str(raw[self.time_column].min()),
                    "last_time": str(raw[self.time_column].max()),
                }
            )
            results.append(
                checks.outcome(
                    checks.RAW_ROWS_IN_MONTH,
                    partition,
                    share <= self.quality.max_outside_month_share,
                    rows_outside_month=int(outside.sum()),
                    share_outside_month=share,
                    max_share=float(self.quality.max_outside_month_share),
                )
            )
        extra, more = self.raw_extras(self.with_derived_target(raw), partition)
        return StepResult(raw, {**metadata, **more}, results + extra)

    def raw_extras(self, raw: pd.DataFrame, partition: str | None) -> tuple[list[CheckOutcome], dict]:
        return [], {}

    def outside_month(self, frame: pd.DataFrame, partition: str | None):
        import pandas as pd

        from ml_assets.months import month_bounds

        start, end = month_bounds(partition)
        stamps = pd.to_datetime(frame[self.time_column])
        if getattr(stamps.dt, "tz", None) is not None:
            stamps = stamps.dt.tz_localize(None)
        return ~((stamps >= start) & (stamps < end)).to_numpy()

    # ---- features: the cleaned rows -------------------------------------------------------------------------
    def clean(self, raw: pd.DataFrame, partition: str | None) -> tuple[pd.DataFrame, dict[str, int]]:
        """Rows kept for training and evaluation, and how many each rule dropped (in the order applied)."""
        spec = self.feature_spec
        # before any row is dropped: every delivered row is history
        raw = self.with_as_of(self.with_derived_target(raw))
        raw = self.own_rows(raw)
        keep = [
            c
            for c in raw.columns
            if c in {*self.source_columns(raw), *spec.as_of_names(), self.target_column, self.time_column}
        ]
        frame = raw[keep]
        rules: dict[str, Callable[[pd.DataFrame], Any]] = {
            "missing_target": lambda f: f[self.target_column].notna().to_numpy()
        }
        if self.monthly and self.time_column and self.time_column in frame.columns:
            rules["outside_month"] = lambda f: ~self.outside_month(f, partition)
        if spec.drop_missing:
            columns = self.source_columns(raw) if spec.drop_missing is True else list(spec.drop_missing)
            rules["missing_values"] = lambda f: f[columns].notna().all(axis=1).to_numpy()
        for column, bounds in spec.filters.items():
            rules[f"{column}_out_of_range"] = lambda f, c=column, b=bounds: self._within(f[c], b.min, b.max)
        rules.update(self.row_rules())
        dropped: dict[str, int] = {}
        for rule, keep_mask in rules.items():
            mask = keep_mask(frame)
            dropped[rule] = int((~mask).sum())
            frame = frame[mask]
        frame = frame.reset_index(drop=True)
        frame[self.target_column] = self.prepare_target(frame[self.target_column])
        return frame, dropped

    @staticmethod
    def _within(values, low: float | None, high: float | None):
        import numpy as np
        import pandas as pd

        numbers = pd.to_numeric(values, errors="coerce")
        mask = np.ones(len(values), dtype=bool)
        if low is not None:
            mask &= (numbers >= low).to_numpy()
        if high is not None:
            mask &= (numbers <= high).to_numpy()
        return mask

    def row_rules(self) -> dict[str, Callable]:
        return {}

    def features(self, raw: pd.DataFrame, partition: str | None) -> StepResult:
        frame, dropped = self.clean(raw, partition)
        categorical, numeric = self.inputs(frame)
        must_be_whole = [self.target_column] + (
            (
                self.source_columns(frame)
                if self.feature_spec.drop_missing is True
                else list(self.feature_spec.drop_missing)
            )
            if self.feature_spec.drop_missing
            else []
        )
        nulls = {c: int(n) for c, n in frame[must_be_whole].isna().sum().items() if n}
        raw = self.own_rows(raw)
        retention = len(frame) / len(raw) if len(raw) else 0.0
        results = [
            checks.outcome(checks.FEATURES_NO_NULLS, partition, not nulls, null_counts=str(nulls or "none")),
            checks.outcome(
                checks.FEATURES_RETENTION,
                partition,
                retention >= self.quality.min_retention_ratio,
                retention_ratio=float(retention),
                min_ratio=float(self.quality.min_retention_ratio),
            ),
            checks.outcome(
                checks.FEATURES_ENOUGH_ROWS,
                partition,
                len(frame) >= self.quality.min_rows,
                rows=len(frame),
                min_rows=self.quality.min_rows,
            ),
        ]
        extra, more = self.feature_extras(frame, partition)
        gaps = {c: int(n) for c, n in frame.drop(columns=[self.target_column]).isna().sum().items() if n}
        return StepResult(
            frame,
            {
                **cleaning_metadata(len(raw), len(frame), dropped),
                "categorical_features": ", ".join(categorical) or "none",
                "numeric_features": ", ".join(numeric) or "none",
                "missing_values_left_to_imputers": str(gaps or "none"),
                **more,
            },
            results + extra,
        )

    def feature_extras(self, frame: pd.DataFrame, partition: str | None) -> tuple[list[CheckOutcome], dict]:
        return [], {}

    # ---- models --------------------------------------------------------------------------------------------------
    def xy(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        return frame.drop(columns=[self.target_column]), frame[self.target_column].to_numpy()

    def build_model(self, frame: pd.DataFrame, random_state: int | None = None):
        from ml_assets.learning.estimators import build_model

        categorical, numeric = self.inputs(frame)
        spec = self.estimator
        seed = spec.random_state if random_state is None else random_state
        model = build_model(
            self.estimator_task(),
            spec.kind,
            dict(spec.params),
            seed,
            categorical,
            numeric,
            self.derived(),
            self.feature_spec.encoding,
            self.feature_spec.scale_numeric,
        )
        if spec.search is None:
            return model
        from ml_assets.learning.search import searched

        return searched(model, spec.search, self.estimator_task(), self.primary_metric, seed)

    def encoding_used(self, frame: pd.DataFrame) -> str | None:
        """How the model's categorical inputs are encoded, in words (None without categorical inputs)."""
        from ml_assets.learning.estimators import takes_sparse_input
        from ml_assets.learning.inputs import encoding_description

        if not self.inputs(frame)[0]:
            return None
        encoding = self.feature_spec.encoding
        return encoding_description(
            encoding,
            encoding == "onehot" and not takes_sparse_input(self.estimator.kind, self.estimator_task()),
        )

    def build_baseline(self, baseline: BaselineSpec, frame: pd.DataFrame):
        from ml_assets.learning.estimators import build_model

        categorical, numeric = self.inputs(frame)
        columns = baseline.columns or [*categorical, *numeric]
        derived = tuple(d for d in self.derived() if d[0] in columns)
        # every column read as a number, in the order given (the seed scripts' X.to_numpy())
        if baseline.encoding == "none":
            if not baseline.columns:
                columns = [c for c in frame.columns if c in set(columns)]
            base_categorical, base_numeric = [], columns
        else:
            base_categorical = [c for c in columns if c in categorical]
            base_numeric = [c for c in columns if c in numeric]
        return build_model(
            self.estimator_task(),
            baseline.estimator.kind,
            dict(baseline.estimator.params),
            baseline.estimator.random_state,
            base_categorical,
            base_numeric,
            derived,
            baseline.encoding,
            baseline.scale_numeric,
        )

    def trivial_model(self):
        raise NotImplementedError

    def predictors(self, frame: pd.DataFrame, random_state: int | None = None) -> dict[str, Any]:
        """Unfitted: the model, the trivial baseline and every declared baseline, by key."""
        out = {CANDIDATE: self.build_model(frame, random_state), self.trivial_key: self.trivial_model()}
        out.update({b.key: self.build_baseline(b, frame) for b in self.baselines})
        return out

    def predictor_names(self) -> dict[str, str]:
        return {
            CANDIDATE: f"model ({self.estimator.kind})",
            self.trivial_key: self.trivial_name,
            **{b.key: b.name for b in self.baselines},
        }

    def split(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The registered model's training rows and its held-out rows (unpartitioned pipelines)."""
        import numpy as np
        from sklearn.model_selection import train_test_split

        positions = np.arange(len(y))
        return train_test_split(
            positions,
            test_size=self.evaluation.holdout_share,
            random_state=self.evaluation.random_state,
            stratify=self.stratify(y),
        )

    def stratify(self, y):
        return None

    def training_rows(self, features: pd.DataFrame) -> pd.DataFrame:
        if self.monthly:
            return features
        _, y = self.xy(features)
        train, _ = self.split(y)
        return features.iloc[train]

    def train(
        self,
        features: pd.DataFrame,
        random_state: int | None = None,
        prefit: Fitted | None = None,
        metric_rows: int | None = None,
    ) -> Trained:
        """The model fitted on `features` with its training metrics, parameters and metadata. `prefit` is what `fit`
        returned for the same rows and seed (the walk-forward fit of the same window is the same model). The training
        metrics are measured on at most `metric_rows` of the training rows, the seeded sample `reference_sample`
        draws (the drift reference), rather than predicting every training row again only to measure them."""
        if features.empty:
            raise ValueError("cannot train on no rows of features")
        rows = self.training_rows(features)
        X, y = self.xy(rows)
        categorical, numeric = self.inputs(rows)
        model, picked = prefit or self.fit(features, random_state)
        measured = reference_sample(rows, metric_rows) if metric_rows and len(rows) > metric_rows else rows
        X_measured, y_measured = (X, y) if measured is rows else self.xy(measured)
        classes = self.classes_for(model, y)
        fitted = self.metrics(y_measured, self.predict_output(model, X_measured, classes), classes)
        params = {
            "estimator": self.estimator.kind,
            **self.estimator.params,
            **picked,
            "random_state": random_state if random_state is not None else self.estimator.random_state,
            "features": ",".join([*categorical, *numeric]),
        }
        if picked:
            params["search"] = (
                f"{self.estimator.search.iterations} random candidates x {self.estimator.search.folds} folds"
            )
        metadata = {
            "train_rows": len(rows),
            **({} if self.monthly else {"held_out_rows": len(features) - len(rows)}),
            f"train_{self.primary_metric}": for_ui(fitted[self.primary_metric]),
            **({"train_metric_rows": len(measured)} if measured is not rows else {}),
            "categorical_features": ", ".join(categorical) or "none",
            **({"categorical_encoding": self.encoding_used(rows)} if categorical else {}),
            "numeric_features": ", ".join(numeric) or "none",
            **(
                {
                    "searched_hyperparameters": ", ".join(
                        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in picked.items()
                    )
                }
                if picked
                else {}
            ),
        }
        return Trained(model, X.head(5), len(X), params, fitted, metadata)

    def fit(self, features: pd.DataFrame, random_state: int | None = None) -> Fitted:
        """The fitted model and the hyperparameters its search chose (none without a search), on the rows `train`
        uses, without training metrics: what a backtest retrains."""
        from ml_assets.learning.search import chosen

        rows = self.training_rows(features)
        X, y = self.xy(rows)
        return Fitted(*chosen(self.build_model(rows, random_state).fit(X, y)))

    def classes_of(self, y) -> Any:
        return None

    def classes_for(self, model, *ys) -> Any:
        """The classes a model's output is scored over: every class the model knows and every label in `ys`."""
        return None

    def predict_output(self, model, X: pd.DataFrame, classes) -> np.ndarray:
        return model.predict(X)

    def metrics(self, y_true, output, classes) -> dict[str, float]:
        raise NotImplementedError

    def primary_from_predictions(self, y_true, predicted) -> float:
        """The primary metric by its plain formula from predictions (tasks/recompute.py checks every report with it)."""
        raise NotImplementedError

    def evaluation_rows(self, features: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """The rows a report scores on: the whole month, or the held-out split."""
        X, y = self.xy(features)
        if self.monthly:
            return X, y
        _, test = self.split(y)
        return X.iloc[test], y[test]

    def primary_metric_of(self, model, rows) -> float:
        """The primary metric of `model` on `rows`: (X, y), or a features frame."""
        X, y = self.xy(rows) if hasattr(rows, "columns") else rows
        classes = self.classes_for(model, y)
        return self.metrics(y, self.predict_output(model, X, classes), classes)[self.primary_metric]

    def transformed_inputs(self, model, X: pd.DataFrame) -> pd.DataFrame:
        """The model's inputs after DeclaredInputs (derived columns made): what drift is measured on."""
        return (
            model.named_steps["inputs"].transform(X)
            if hasattr(model, "named_steps") and "inputs" in model.named_steps
            else X
        )

    def predicted_rows(self, model, features: pd.DataFrame) -> pd.DataFrame:
        X, y = self.xy(features)
        return (
            self.transformed_inputs(model, X)
            .assign(**{ACTUAL: y, PREDICTION: model.predict(X)})
            .reset_index(drop=True)
        )

    def metrics_of_predicted(self, scored: pd.DataFrame) -> dict[str, float]:
        raise NotImplementedError

    def limitations(self, trained_on: str | None) -> list[str]:
        if self.monthly:
            return [
                f"Learned from {trained_on if ' ' in str(trained_on) else f'one month ({trained_on})'}; "
                "the drift checks of "
                "`predictions` compare every later month with it, "
                "and `backtest_report` shows how fast such a model decays.",
                "Categories it never saw (new routes, zones, labels) are encoded as unknown: their "
                "predictions fall back on the other inputs.",
            ]
        return [
            f"Learned from {1 - self.evaluation.holdout_share:.0%} of one table; the held-out rest and "
            "cross-validation on "
            "the same table measure it, not a different population or a later time.",
            "The cross-validated standard deviation in the evaluation report is the honest error bar.",
        ]

    # ---- the report's task-specific parts --------------------------------------------------------------------
    def metrics_table(self, rows: list[tuple[str, dict[str, float]]]) -> str:
        header = (
            "| predictor | " + " | ".join(self.metric_names) + " |\n|---|" + "---:|" * len(self.metric_names)
        )
        lines = [
            f"| {name} | "
            + " | ".join(f"{m[k]:.3f}" if k in m and m[k] == m[k] else "" for k in self.metric_names)
            + " |"
            for name, m in rows
        ]
        return "\n".join([header, *lines])

    def comparison_sentence(self, scores: dict[str, float]) -> str:
        metric, model = self.primary_metric, scores[CANDIDATE]
        parts = []
        for key, value in scores.items():
            if key == CANDIDATE or not value:
                continue
            change = 100.0 * (model / value - 1.0)
            good = (change >= 0) == self.higher_is_better
            parts.append(
                f"{abs(change):.1f}% {'better' if good else 'WORSE'} than the {self.predictor_names()[key]}"
            )
        return f"The model's {metric} is " + "; ".join(parts) + " on the same rows." if parts else ""

    def rows_note(self, y) -> str:
        return ""

    def labels(self, classes) -> list[str]:
        return []

    def holdout_extras(self, y_true, output, classes) -> dict:
        return {}

    def extra_markdown(self, y_true, output, classes, rows: str) -> str:
        return ""

    def diagnostics(self, model, X, y, output, month: str) -> Diagnostics:
        """What a data scientist looks at after the headline figure (the kind adds its own)."""
        return Diagnostics()

    def plot_png(
        self,
        y_true,
        output,
        classes,
        per_fold: dict[str, list[float]] | None,
        title: str,
        bars: list | None = None,
    ) -> bytes:
        raise NotImplementedError
