"""What differs between a regression pipeline on monthly trips and a classification pipeline on a
table: checks, features, training, evaluation and the metric the champion gate compares.

The assets (ml_assets/assets/) are the same for both and call one of these; everything here
below the Dagster result types is pure pandas/scikit-learn.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from ml_assets import checks
from ml_assets.config import EvaluationSpec, FeatureSpec, ModelSpec, QualitySpec, TargetSpec
from ml_assets.report import shown

if TYPE_CHECKING:  # imported where used: the code location loads without them
    import numpy as np
    import pandas as pd


ACTUAL, PREDICTION = "actual", "prediction"  # columns of the scored rows (predictions) and of a drift reference


def reference_sample(frame: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    """At most `rows` of a model's training rows, seeded: its drift reference, once scored."""
    return frame.sample(n=rows, random_state=seed).reset_index(drop=True) if len(frame) > rows else frame.reset_index(drop=True)


@dataclass
class StepResult:
    value: Any
    metadata: dict[str, Any]
    check_results: list[dg.AssetCheckResult] = field(default_factory=list)


@dataclass
class Trained:
    model: Any
    inputs: pd.DataFrame  # what the model was fitted on (its signature and input example come from it)
    params: dict[str, Any]
    train_metrics: dict[str, float]
    metadata: dict[str, Any]


@dataclass
class Evaluated:
    report: dict[str, Any]  # stored as JSON (full precision) with its Markdown
    markdown: str
    png: bytes
    score: float  # the primary metric of the candidate on the evaluation rows
    scoring_rows: Any  # what `score` needs to score another model (the champion) on the same rows
    logged_metrics: dict[str, float]
    ui_metadata: dict[str, Any]
    check_results: list[dg.AssetCheckResult]


def cleaning_metadata(raw_rows: int, kept_rows: int, dropped: dict[str, int]) -> dict[str, Any]:
    """Rows in and out of cleaning, the share kept and how many each rule dropped (both tasks)."""
    return {
        "rows_in": raw_rows,
        "rows_out": kept_rows,
        "retention_ratio": shown(kept_rows / raw_rows if raw_rows else 0.0),
        **{f"dropped_{rule}": count for rule, count in dropped.items()},
    }


def embedded_png(markdown: str, png: bytes, caption: str) -> str:
    return markdown + f"\n![{caption}](data:image/png;base64,{base64.b64encode(png).decode()})\n"


class DurationModelConfig(dg.Config):
    """Launch-time overrides of the YAML hyperparameters (unset = the pipeline's defs.yaml), and a search."""

    route_baseline: bool | None = Field(default=None, description="Boost the residuals of a linear per-route model.")
    learning_rate: float | None = Field(default=None, gt=0, le=1)
    max_iter: int | None = Field(default=None, ge=1)
    max_leaf_nodes: int | None = Field(default=None, ge=2)
    min_samples_leaf: int | None = Field(default=None, ge=1)
    l2_regularization: float | None = Field(default=None, ge=0)
    # Off by default: on the flights the holdout winner inside one month did not carry over to
    # the next (2013-04 -> 05: tuned RMSE 12.835 vs 12.788 for these defaults, course baseline 12.823).
    tuning_trials: int = Field(default=0, ge=0, description="Random-search trials (trial 0 = the values above).")
    tuning_time_budget_s: float = Field(default=60.0, gt=0, description="Stop searching once this much time is spent.")


class ClassifierConfig(dg.Config):
    """Launch-time overrides of the YAML model settings (unset = the pipeline's defs.yaml)."""

    random_state: int | None = Field(default=None, description="Seed of the estimator and nothing else.")


class TripRegression:
    """Trip duration in minutes, trained on month M-1 and evaluated on month M (the course protocol)."""

    task = "regression"
    primary_metric, higher_is_better = "rmse", False
    raw_check_names = checks.RAW_CHECKS
    feature_check_names = checks.FEATURE_CHECKS
    evaluation_check_names = checks.EVALUATION_CHECKS
    config_cls = DurationModelConfig

    def __init__(self, name: str, target: TargetSpec, features: FeatureSpec, model: ModelSpec, quality: QualitySpec):
        from ml_assets.features import DurationBounds

        self.name, self.model_spec, self.quality = name, model, quality
        self.day_of_week = features.day_of_week
        self.bounds = DurationBounds(target.min if target.min is not None else 0.0, target.max if target.max is not None else float("inf"))

    def refusals(self, raw: pd.DataFrame) -> list[str]:
        """Problems that make the data unusable: refused before it replaces a good copy."""
        from ml_assets.sources.schema import schema_problems

        return schema_problems(raw)

    def raw(self, raw: pd.DataFrame, partition: str) -> StepResult:
        pickups = raw["pickup_datetime"]
        return StepResult(
            raw,
            {"first_pickup": str(pickups.min()), "last_pickup": str(pickups.max())},
            checks.raw_trip_checks(raw, partition, self.quality.max_outside_month_share),
        )

    def features(self, raw: pd.DataFrame, partition: str) -> StepResult:
        from ml_assets.features import build_trip_features

        features, dropped = build_trip_features(raw, partition, self.bounds, self.day_of_week)
        return StepResult(
            features,
            {
                **cleaning_metadata(len(raw), len(features), dropped),
                "feature_columns": ", ".join(c for c in features.columns if c != "duration_min"),
            },
            checks.feature_checks(features, partition, len(raw), self.bounds, self.quality.min_retention_ratio),
        )

    def params(self, config: DurationModelConfig):
        from ml_assets.estimators import ModelParams

        values = {**asdict(ModelParams()), **self.model_spec.params, "random_state": self.model_spec.random_state}
        overrides = {k: v for k, v in config.model_dump().items() if k in values and v is not None}
        return ModelParams(**{**values, **overrides})

    def train(self, features: pd.DataFrame, config: DurationModelConfig, on_trial: Callable | None = None) -> Trained:
        from ml_assets.features import TARGET, feature_columns
        from ml_assets.training import model_inputs, regression_metrics, train_duration_model, tune_hyperparameters

        params, trials = self.params(config), []
        if config.tuning_trials > 0:
            params, trials = tune_hyperparameters(features, params, config.tuning_trials, config.tuning_time_budget_s, on_trial)
        model = train_duration_model(features, params)
        inputs = model_inputs(features)
        fitted = regression_metrics(features[TARGET].to_numpy(), model.predict(inputs))
        categorical, numeric = feature_columns(features)
        metadata = {
            "train_rows": len(features),
            "train_rmse": shown(fitted["rmse"]),
            "categorical_features": ", ".join(categorical),
            "numeric_features": ", ".join(numeric),
            "tuning": dg.MetadataValue.md(
                "| trial | holdout RMSE | seconds |\n|---:|---:|---:|\n"
                + "\n".join(f"| {t.number} | {t.rmse:.3f} | {t.seconds:.1f} |" for t in trials)
            )
            if trials
            else "off",
        }
        logged = {**asdict(params), "features": ",".join(categorical + numeric), "tuning_trials_run": len(trials)}
        return Trained(model, inputs, logged, fitted, metadata)

    def fit(self, features: pd.DataFrame, config: DurationModelConfig):
        """The fitted model alone (no tuning, no training metrics): what a backtest retrains."""
        from ml_assets.training import train_duration_model

        return train_duration_model(features, self.params(config))

    def score(self, model, rows: pd.DataFrame) -> float:
        from ml_assets.features import TARGET
        from ml_assets.training import model_inputs, regression_metrics

        return regression_metrics(rows[TARGET].to_numpy(), model.predict(model_inputs(rows)))["rmse"]

    def scored(self, model, features: pd.DataFrame) -> pd.DataFrame:
        """The model's inputs with its prediction and (trips are scored after the fact) the actual duration."""
        from ml_assets.features import TARGET
        from ml_assets.training import model_inputs

        inputs = model_inputs(features)
        return inputs.assign(**{ACTUAL: features[TARGET].to_numpy(), PREDICTION: model.predict(inputs)})

    def limitations(self, trained_on: str | None) -> list[str]:
        low, high = self.bounds.low, self.bounds.high
        return [
            f"Learned from one month ({trained_on}); the drift checks of `predictions` compare every later month with it, "
            "and `backtest_report` shows how fast such a model decays.",
            f"Trips shorter than {low:g} or longer than {high:g} minutes were dropped in training: it was never taught them.",
            "Origins, destinations and routes it never saw are encoded as unknown: their predictions fall back on distance and time of day.",
        ]

    def scored_metrics(self, scored: pd.DataFrame) -> dict[str, float]:
        from ml_assets.training import regression_metrics

        return {**regression_metrics(scored[ACTUAL].to_numpy(), scored[PREDICTION].to_numpy()), "mean_prediction": float(scored[PREDICTION].mean())}

    def evaluate(
        self, model, features_by_month: dict[str, pd.DataFrame], partition: str, train_rmse: float | None,
        model_version: str | None, champion: tuple[str | None, float | None],
    ) -> Evaluated:
        from ml_assets.features import TARGET
        from ml_assets.plots import prediction_plot_png
        from ml_assets.report import render_report
        from ml_assets.training import evaluate_duration_model

        train_month, valid_month = sorted(features_by_month)
        train, valid = features_by_month[train_month], features_by_month[valid_month]
        evaluation, predicted = evaluate_duration_model(model, train, valid, train_month, valid_month, train_rmse)
        champion_version, champion_rmse = champion
        check_results = checks.evaluation_checks(
            valid_month, evaluation.rmse, evaluation.mean_predictor_rmse, evaluation.course_baseline_rmse, self.quality.max_rmse
        )
        png = prediction_plot_png(valid[TARGET].to_numpy(), predicted, f"{self.name}: trained {train_month}, validated {valid_month}")
        markdown = render_report(evaluation, self.name, model_version, champion_version, champion_rmse)
        report = {
            **evaluation.as_dict(),
            "pipeline": self.name,
            "task": self.task,
            "partition": partition,
            "primary_metric": self.primary_metric,
            "score": evaluation.rmse,
            "baselines": {"course_baseline": evaluation.course_baseline_rmse, "mean_predictor": evaluation.mean_predictor_rmse},
            "model_version": model_version,
            "champion_version": champion_version,
            "champion_rmse": champion_rmse,
            "checks": {r.check_name: r.passed for r in check_results},
        }
        return Evaluated(
            report=report,
            markdown=markdown,
            png=png,
            score=evaluation.rmse,
            scoring_rows=valid,
            logged_metrics={
                "val_rmse": evaluation.rmse,
                "val_mae": evaluation.mae,
                "val_r2": evaluation.r2,
                "val_course_baseline_rmse": evaluation.course_baseline_rmse,
                "val_mean_predictor_rmse": evaluation.mean_predictor_rmse,
            },
            ui_metadata={
                "rmse": shown(evaluation.rmse),
                "mae": shown(evaluation.mae),
                "r2": shown(evaluation.r2),
                "course_baseline_rmse": shown(evaluation.course_baseline_rmse),
                "mean_predictor_rmse": shown(evaluation.mean_predictor_rmse),
                "champion_rmse": shown(champion_rmse) if champion_rmse is not None else "no champion yet",
                "train_month": train_month,
                "valid_rows": evaluation.valid_rows,
            },
            check_results=check_results,
        )


class TabularClassification:
    """A class label from one table: repeated stratified CV against baselines, plus a held-out split."""

    task = "classification"
    primary_metric, higher_is_better = "accuracy", True
    raw_check_names = checks.TABULAR_RAW_CHECKS
    feature_check_names = checks.TABULAR_FEATURE_CHECKS
    evaluation_check_names = checks.CLASSIFICATION_CHECKS
    config_cls = ClassifierConfig

    def __init__(
        self, name: str, target: TargetSpec, features: FeatureSpec, model: ModelSpec, quality: QualitySpec,
        evaluation: EvaluationSpec,
    ):
        self.name, self.target, self.feature_spec, self.model_spec = name, target, features, model
        self.quality, self.evaluation = quality, evaluation

    def columns(self, frame: pd.DataFrame) -> tuple[list[str], list[str]]:
        from ml_assets.classification import feature_lists

        return feature_lists(frame, self.target.column, self.feature_spec.numeric, self.feature_spec.categorical)

    def refusals(self, raw: pd.DataFrame) -> list[str]:
        """Problems that make the table unusable: refused before it replaces a good copy."""
        from ml_assets.tabular_features import tabular_schema_problems

        numeric, categorical = self.columns(raw)
        return tabular_schema_problems(raw, self.target.column, numeric, categorical) if len(raw) else ["the table holds no rows"]

    def raw(self, raw: pd.DataFrame, partition: str | None) -> StepResult:
        numeric, categorical = self.columns(raw)
        return StepResult(
            raw,
            {"classes": raw[self.target.column].nunique() if self.target.column in raw else 0},
            checks.tabular_raw_checks(raw, self.target.column, numeric, categorical),
        )

    def features(self, raw: pd.DataFrame, partition: str | None) -> StepResult:
        from ml_assets.tabular_features import build_tabular_features

        numeric, categorical = self.columns(raw)
        features, dropped = build_tabular_features(
            raw, self.target.column, numeric, categorical, self.target.positive_above, self.feature_spec.drop_missing
        )
        counts = features[self.target.column].value_counts().sort_index()
        return StepResult(
            features,
            {
                **cleaning_metadata(len(raw), len(features), dropped),
                "class_counts": ", ".join(f"{k}: {v}" for k, v in counts.items()),
                "numeric_features": ", ".join(numeric),
                "categorical_features": ", ".join(categorical) or "none",
            },
            checks.tabular_feature_checks(
                features, self.target.column, len(raw), self.evaluation.cv_folds, self.quality.min_retention_ratio
            ),
        )

    def xy(self, features: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, list[str], list[str]]:
        numeric, categorical = self.columns(features)
        inputs = set(numeric) | set(categorical)
        # the file's column order: the seed script's forest depends on it (the model selects by name)
        X = features[[c for c in features.columns if c in inputs]]
        return X, features[self.target.column].to_numpy(), numeric, categorical

    def build_model(self, numeric: list[str], categorical: list[str], random_state: int | None = None):
        from ml_assets.classification import build_classifier

        seed = self.model_spec.random_state if random_state is None else random_state
        return build_classifier(self.model_spec.kind, dict(self.model_spec.params), numeric, categorical, seed)

    def holdout(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from ml_assets.classification import holdout_indices

        return holdout_indices(y, self.evaluation.holdout_share, self.evaluation.random_state)

    def seed_script(self):
        from ml_assets.classification import SeedScript

        spec = self.evaluation.seed_script
        return SeedScript(spec.n_estimators, spec.scale_features, spec.random_state) if spec else None

    def train(self, features: pd.DataFrame, config: ClassifierConfig, on_trial: Callable | None = None) -> Trained:
        import numpy as np

        from ml_assets.classification import classification_metrics

        X, y, numeric, categorical = self.xy(features)
        train, _ = self.holdout(y)
        model = self.build_model(numeric, categorical, config.random_state).fit(X.iloc[train], y[train])
        fitted = classification_metrics(y[train], model.predict_proba(X.iloc[train]), np.unique(y))
        return Trained(
            model,
            X.iloc[train],
            {"estimator": self.model_spec.kind, **self.model_spec.params, "random_state": config.random_state or self.model_spec.random_state},
            fitted,
            {
                "train_rows": len(train),
                "held_out_rows": len(y) - len(train),
                "train_accuracy": shown(fitted["accuracy"]),
                "numeric_features": ", ".join(numeric),
                "categorical_features": ", ".join(categorical) or "none",
            },
        )

    def fit(self, features: pd.DataFrame, config: ClassifierConfig):
        """The fitted model alone (no training metrics), on the same rows `train` uses."""
        X, y, numeric, categorical = self.xy(features)
        train, _ = self.holdout(y)
        return self.build_model(numeric, categorical, config.random_state).fit(X.iloc[train], y[train])

    def score(self, model, rows: tuple[pd.DataFrame, np.ndarray]) -> float:
        X, y = rows
        return float((model.predict(X) == y).mean())

    def scored(self, model, features: pd.DataFrame) -> pd.DataFrame:
        """The model's inputs with its predicted class, that class's probability, and the actual class."""
        X, y, _, _ = self.xy(features)
        probabilities = model.predict_proba(X)
        return X.assign(**{ACTUAL: y, PREDICTION: model.classes_[probabilities.argmax(axis=1)], "probability": probabilities.max(axis=1)})

    def limitations(self, trained_on: str | None) -> list[str]:
        return [
            f"Learned from {1 - self.evaluation.holdout_share:.0%} of one table; the held-out rest and cross-validation on "
            "the same table measure it, not a different population or a later time.",
            "Small data: the cross-validated standard deviation in the evaluation report is the honest error bar.",
        ]

    def scored_metrics(self, scored: pd.DataFrame) -> dict[str, float]:
        return {"accuracy": float((scored[ACTUAL] == scored[PREDICTION]).mean()), "mean_probability": float(scored["probability"].mean())}

    def evaluate(
        self, model, features: pd.DataFrame, partition: str | None, train_rmse: float | None,
        model_version: str | None, champion: tuple[str | None, float | None],
    ) -> Evaluated:
        from ml_assets.classification import cross_validate, evaluate_holdout
        from ml_assets.plots import classification_plot_png
        from ml_assets.report import render_classification_report

        X, y, numeric, categorical = self.xy(features)
        spec, seed = self.evaluation, self.seed_script()
        cv = cross_validate(
            self.build_model(numeric, categorical), X, y, spec.cv_folds, spec.cv_repeats, spec.random_state, seed, spec.cv_jobs
        )
        train, test = self.holdout(y)
        holdout, _ = evaluate_holdout(model, X, y, train, test, seed)
        summary = cv.summary()
        versus_seed = cv.paired_difference("model", "seed_script") if seed else None
        champion_version, champion_accuracy = champion
        check_results = checks.classification_checks(
            summary, versus_seed, self.quality.min_accuracy, cv.folds * cv.repeats
        )
        names = self.target.class_names or []
        labels = [names[c] if isinstance(c, int) and 0 <= c < len(names) else str(c) for c in holdout.classes]
        png = classification_plot_png(
            holdout.confusion, labels, {n: s["accuracy"] for n, s in cv.scores.items()}, f"{self.name}: {len(y)} rows"
        )
        seed_name = spec.seed_script.name if spec.seed_script else None
        markdown = render_classification_report(
            self.name, len(y), labels, cv.folds, cv.repeats, summary, versus_seed, seed_name, holdout,
            self.model_spec.kind, model_version, champion_version, champion_accuracy,
        )
        report = {
            "pipeline": self.name,
            "task": self.task,
            "partition": partition,
            "rows": len(y),
            "classes": labels,
            "cv": {"folds": cv.folds, "repeats": cv.repeats, "summary": summary, "model_vs_seed_script": versus_seed},
            "holdout": {"rows": holdout.rows, "metrics": holdout.metrics, "confusion_matrix": holdout.confusion},
            "primary_metric": self.primary_metric,
            "score": holdout.metrics["model"]["accuracy"],
            "seed_script": seed_name,
            "model_version": model_version,
            "champion_version": champion_version,
            "champion_accuracy": champion_accuracy,
            "checks": {r.check_name: r.passed for r in check_results},
        }
        model_cv = summary["model"]
        ui = {
            "cv_accuracy_mean": shown(model_cv["accuracy"]["mean"]),
            "cv_accuracy_sd": shown(model_cv["accuracy"]["sd"]),
            "cv_macro_f1_mean": shown(model_cv["macro_f1"]["mean"]),
            "cv_roc_auc_mean": shown(model_cv["roc_auc"]["mean"]),
            "cv_log_loss_mean": shown(model_cv["log_loss"]["mean"]),
            "majority_class_cv_accuracy": shown(summary["majority_class"]["accuracy"]["mean"]),
            "holdout_accuracy": shown(holdout.metrics["model"]["accuracy"]),
            "holdout_rows": holdout.rows,
            "champion_accuracy": shown(champion_accuracy) if champion_accuracy is not None else "no champion yet",
        }
        if seed:
            ui["seed_script_cv_accuracy"] = shown(summary["seed_script"]["accuracy"]["mean"])
            ui["accuracy_gain_over_seed"] = shown(versus_seed["mean"])
        logged = {f"cv_{m}_mean": v["mean"] for m, v in model_cv.items()}
        logged |= {f"cv_{m}_sd": v["sd"] for m, v in model_cv.items()}
        logged |= {f"holdout_{m}": v for m, v in holdout.metrics["model"].items()}
        logged |= {f"{name}_cv_accuracy_mean": s["accuracy"]["mean"] for name, s in summary.items() if name != "model"}
        return Evaluated(
            report=report,
            markdown=markdown,
            png=png,
            score=holdout.metrics["model"]["accuracy"],
            scoring_rows=(X.iloc[test], y[test]),
            logged_metrics=logged,
            ui_metadata=ui,
            check_results=check_results,
        )


def scoring_rows(task, features: pd.DataFrame):
    """The rows a report scores on, as `task.score` takes them: the whole month, or the held-out split."""
    if isinstance(task, TabularClassification):
        X, y, _, _ = task.xy(features)
        _, test = task.holdout(y)
        return X.iloc[test], y[test]
    return features
