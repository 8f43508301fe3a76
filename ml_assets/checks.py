"""Asset checks of the monthly assets: names, specs and the pure functions that evaluate them.

The checks run inside the asset (check_specs + MaterializeResult.check_results), so a
partitioned asset is checked on the partition it just produced, not on every partition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

from ml_assets.features import TARGET, DurationBounds
from ml_assets.months import month_bounds
from ml_assets.report import shown
from ml_assets.sources.schema import schema_problems

if TYPE_CHECKING:  # imported where used: the code location loads without them
    import pandas as pd

RAW_SCHEMA = "raw_schema_valid"
RAW_NOT_EMPTY = "raw_not_empty"
RAW_PICKUPS_IN_MONTH = "raw_pickups_in_month"
RAW_NO_NEGATIVE_DISTANCE = "raw_no_negative_distance"

FEATURES_NO_NULLS = "features_no_nulls"
FEATURES_TARGET_IN_RANGE = "features_target_in_range"
FEATURES_RETENTION = "features_retention_ratio"

EVAL_RMSE_WITHIN_THRESHOLD = "rmse_within_threshold"
EVAL_BEATS_MEAN_PREDICTOR = "beats_mean_predictor"
EVAL_BEATS_COURSE_BASELINE = "beats_course_baseline"

TABLE_SCHEMA = "raw_schema_valid"
TABLE_TWO_CLASSES = "raw_has_two_classes"
FEATURES_ROWS_PER_CLASS = "features_enough_rows_per_class"
CLS_ACCURACY_WITHIN_THRESHOLD = "accuracy_within_threshold"
CLS_BEATS_MAJORITY = "beats_majority_class"
CLS_NOT_WORSE_THAN_SEED = "not_worse_than_seed_script"

FEATURE_DRIFT = "feature_drift"
PREDICTION_DRIFT = "prediction_drift"
TARGET_DRIFT = "target_drift"
DRIFT_CHECKS = [FEATURE_DRIFT, PREDICTION_DRIFT, TARGET_DRIFT]

_DESCRIPTIONS = {
    RAW_SCHEMA: "Required columns are present with the normalized dtypes.",
    RAW_NOT_EMPTY: "The month holds at least one trip.",
    RAW_PICKUPS_IN_MONTH: "Share of pickups outside the partition month is at most the threshold.",
    RAW_NO_NEGATIVE_DISTANCE: "No trip has a negative distance.",
    FEATURES_NO_NULLS: "No model input or target is null.",
    FEATURES_TARGET_IN_RANGE: "Every target lies within the source's duration bounds.",
    FEATURES_RETENTION: "Cleaning kept at least the configured share of raw trips.",
    EVAL_RMSE_WITHIN_THRESHOLD: "Validation RMSE is at most the configured maximum.",
    EVAL_BEATS_MEAN_PREDICTOR: "The model beats predicting the training mean.",
    EVAL_BEATS_COURSE_BASELINE: "The model beats the course baseline (DictVectorizer + LinearRegression).",
    TABLE_TWO_CLASSES: "The target column holds at least two classes.",
    FEATURES_ROWS_PER_CLASS: "Every class has at least as many rows as cross-validation folds.",
    CLS_ACCURACY_WITHIN_THRESHOLD: "Cross-validated accuracy is at least the configured minimum.",
    CLS_BEATS_MAJORITY: "Cross-validated accuracy beats always predicting the majority class.",
    CLS_NOT_WORSE_THAN_SEED: "Cross-validated accuracy is not below the seed script's on the same folds.",
    FEATURE_DRIFT: "No model input drifted from the champion's training data beyond monitoring.drift.max_feature_drift.",
    PREDICTION_DRIFT: "The champion's predictions did not drift from those on its training data beyond max_prediction_drift.",
    TARGET_DRIFT: "The target did not drift from the champion's training data beyond max_target_drift.",
}


def check_specs(
    asset: dg.AssetKey, names: list[str], automation_condition: dg.AutomationCondition | None = None, blocking: bool = True
) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            name, asset=asset, blocking=blocking, description=_DESCRIPTIONS[name], automation_condition=automation_condition
        )
        for name in names
    ]


RAW_CHECKS = [RAW_SCHEMA, RAW_NOT_EMPTY, RAW_PICKUPS_IN_MONTH, RAW_NO_NEGATIVE_DISTANCE]
FEATURE_CHECKS = [FEATURES_NO_NULLS, FEATURES_TARGET_IN_RANGE, FEATURES_RETENTION]
EVALUATION_CHECKS = [EVAL_RMSE_WITHIN_THRESHOLD, EVAL_BEATS_MEAN_PREDICTOR, EVAL_BEATS_COURSE_BASELINE]
TABULAR_RAW_CHECKS = [TABLE_SCHEMA, RAW_NOT_EMPTY, TABLE_TWO_CLASSES]
TABULAR_FEATURE_CHECKS = [FEATURES_NO_NULLS, FEATURES_ROWS_PER_CLASS, FEATURES_RETENTION]
CLASSIFICATION_CHECKS = [CLS_ACCURACY_WITHIN_THRESHOLD, CLS_BEATS_MAJORITY, CLS_NOT_WORSE_THAN_SEED]


def _result(name: str, month: str | None, passed: bool, **metadata) -> dg.AssetCheckResult:
    # check_specs results carry no partition in the UI, so each names the month it checked
    ui = {key: shown(value) if isinstance(value, float) else value for key, value in metadata.items()}
    where = {"month": month} if month else {}
    return dg.AssetCheckResult(check_name=name, passed=bool(passed), metadata={**where, **ui})


def raw_trip_checks(raw: pd.DataFrame, month: str, max_outside_share: float) -> list[dg.AssetCheckResult]:
    problems = schema_problems(raw)
    start, end = month_bounds(month)
    if "pickup_datetime" in raw.columns and len(raw):
        pickups = raw["pickup_datetime"]
        outside = int(((pickups < start) | (pickups >= end)).sum())
    else:
        outside = 0
    share = outside / len(raw) if len(raw) else 0.0
    negative = int((raw["distance"] < 0).sum()) if "distance" in raw.columns else 0
    return [
        _result(RAW_SCHEMA, month, not problems, problems="; ".join(problems) or "none"),
        _result(RAW_NOT_EMPTY, month, len(raw) > 0, rows=len(raw)),
        _result(
            RAW_PICKUPS_IN_MONTH,
            month,
            share <= max_outside_share,
            rows_outside_month=outside,
            share_outside_month=float(share),
            max_share=float(max_outside_share),
        ),
        _result(RAW_NO_NEGATIVE_DISTANCE, month, negative == 0, negative_distance_rows=negative),
    ]


def feature_checks(
    features: pd.DataFrame, month: str, raw_rows: int, bounds: DurationBounds, min_retention: float
) -> list[dg.AssetCheckResult]:
    null_counts = features.isna().sum()
    nulls = {column: int(n) for column, n in null_counts.items() if n}
    target = features[TARGET]
    out_of_range = int((~target.between(bounds.low, bounds.high)).sum())
    retention = len(features) / raw_rows if raw_rows else 0.0
    return [
        _result(FEATURES_NO_NULLS, month, not nulls, null_counts=str(nulls or "none")),
        _result(
            FEATURES_TARGET_IN_RANGE,
            month,
            out_of_range == 0 and len(features) > 0,
            rows_out_of_range=out_of_range,
            bounds_minutes=f"[{bounds.low}, {bounds.high}]",
        ),
        _result(FEATURES_RETENTION, month, retention >= min_retention, retention_ratio=float(retention), min_ratio=float(min_retention)),
    ]


def evaluation_checks(
    month: str, rmse: float, mean_predictor_rmse: float, course_baseline_rmse: float, max_rmse: float
) -> list[dg.AssetCheckResult]:
    return [
        _result(EVAL_RMSE_WITHIN_THRESHOLD, month, rmse <= max_rmse, rmse=float(rmse), max_rmse=float(max_rmse)),
        _result(EVAL_BEATS_MEAN_PREDICTOR, month, rmse < mean_predictor_rmse, rmse=float(rmse), mean_predictor_rmse=float(mean_predictor_rmse)),
        _result(
            EVAL_BEATS_COURSE_BASELINE,
            month,
            rmse < course_baseline_rmse,
            rmse=float(rmse),
            course_baseline_rmse=float(course_baseline_rmse),
        ),
    ]


def tabular_raw_checks(raw: pd.DataFrame, target: str, numeric: list[str], categorical: list[str]) -> list[dg.AssetCheckResult]:
    from ml_assets.tabular_features import tabular_schema_problems

    problems = tabular_schema_problems(raw, target, numeric, categorical)
    classes = int(raw[target].nunique()) if target in raw.columns else 0
    return [
        _result(TABLE_SCHEMA, None, not problems, problems="; ".join(problems) or "none"),
        _result(RAW_NOT_EMPTY, None, len(raw) > 0, rows=len(raw)),
        _result(TABLE_TWO_CLASSES, None, classes >= 2, classes=classes),
    ]


def tabular_feature_checks(
    features: pd.DataFrame, target: str, raw_rows: int, folds: int, min_retention: float
) -> list[dg.AssetCheckResult]:
    nulls = {column: int(n) for column, n in features.isna().sum().items() if n}
    counts = features[target].value_counts()
    smallest = int(counts.min()) if len(counts) else 0
    retention = len(features) / raw_rows if raw_rows else 0.0
    return [
        _result(FEATURES_NO_NULLS, None, not nulls, null_counts=str(nulls or "none")),
        _result(FEATURES_ROWS_PER_CLASS, None, smallest >= folds and len(counts) >= 2, smallest_class_rows=smallest, folds=folds),
        _result(FEATURES_RETENTION, None, retention >= min_retention, retention_ratio=float(retention), min_ratio=float(min_retention)),
    ]


def classification_checks(
    summary: dict, versus_seed: dict | None, min_accuracy: float, fold_count: int
) -> list[dg.AssetCheckResult]:
    accuracy = summary["model"]["accuracy"]["mean"]
    majority = summary["majority_class"]["accuracy"]["mean"]
    results = [
        _result(CLS_ACCURACY_WITHIN_THRESHOLD, None, accuracy >= min_accuracy, cv_accuracy=float(accuracy), min_accuracy=float(min_accuracy)),
        _result(CLS_BEATS_MAJORITY, None, accuracy > majority, cv_accuracy=float(accuracy), majority_class_accuracy=float(majority)),
    ]
    if versus_seed is None:
        results.append(_result(CLS_NOT_WORSE_THAN_SEED, None, True, note="no seed script declared"))
    else:
        seed = summary["seed_script"]["accuracy"]["mean"]
        results.append(
            _result(
                CLS_NOT_WORSE_THAN_SEED, None, accuracy >= seed, cv_accuracy=float(accuracy), seed_script_accuracy=float(seed),
                mean_gain=float(versus_seed["mean"]), folds_won=versus_seed["wins"], folds_lost=versus_seed["losses"], folds=fold_count,
            )
        )
    return results


def drift_checks(month: str, reference: str, drifts: dict[str, list], plot_markdown: str | None = None) -> list[dg.AssetCheckResult]:
    """One result per drift check (non-blocking, WARN): a drifted month is real data, not bad data.
    `drifts` maps a check name to its columns' Drift values, largest first ([] = nothing to compare)."""
    results = []
    for name in DRIFT_CHECKS:
        found = drifts.get(name, [])
        drifted = [d for d in found if d.drifted]
        metadata = {
            "month": month,
            "reference": reference,
            "drifted": ", ".join(f"{d.column} ({d.statistic} {d.value:.3f})" for d in drifted) or "none",
            "largest_drift": shown(found[0].value) if found else 0.0,
            "largest_drift_column": found[0].column if found else "none",
            "threshold": shown(found[0].threshold) if found else 0.0,
            **{f"{d.column}_{d.statistic}": shown(d.value) for d in found},
        }
        if plot_markdown and name == FEATURE_DRIFT:
            metadata["plot"] = dg.MetadataValue.md(plot_markdown)
        results.append(
            dg.AssetCheckResult(check_name=name, passed=not drifted, severity=dg.AssetCheckSeverity.WARN, metadata=metadata)
        )
    return results
