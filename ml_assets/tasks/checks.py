"""The quality gates a task judges: their names, what each asserts, and the plain outcomes a step returns.

Pure Python: the wiring (orchestration/checks.py) declares each name as a blocking asset check and turns every
`CheckOutcome` into Dagster's check result. A partitioned step returns one outcome per month it judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ml_assets.ui_values import Markdown, for_ui

RAW_SCHEMA = "raw_schema_valid"
RAW_NOT_EMPTY = "raw_not_empty"
RAW_ROWS_IN_MONTH = "raw_rows_in_month"
RAW_TWO_CLASSES = "raw_has_two_classes"

FEATURES_NO_NULLS = "features_no_nulls"
FEATURES_RETENTION = "features_retention_ratio"
FEATURES_ENOUGH_ROWS = "features_enough_rows"

FEATURES_TARGET_IN_RANGE = "features_target_in_range"
FEATURES_ROWS_PER_CLASS = "features_enough_rows_per_class"

FIGURES_RECOMPUTED = "figures_recomputed"

FEATURE_DRIFT = "feature_drift"
PREDICTION_DRIFT = "prediction_drift"
TARGET_DRIFT = "target_drift"
DRIFT_CHECKS = [FEATURE_DRIFT, PREDICTION_DRIFT, TARGET_DRIFT]

DESCRIPTIONS = {
    RAW_SCHEMA: "The target and every declared input column are present, numeric inputs hold numbers, the "
    "target fits the task.",
    RAW_NOT_EMPTY: "The source delivered at least one row.",
    RAW_ROWS_IN_MONTH: "Share of rows whose time column falls outside the partition month is at most "
    "quality.max_outside_month_share.",
    RAW_TWO_CLASSES: "The target column holds at least two classes.",
    FEATURES_NO_NULLS: "No target is missing, nor any input of features.drop_missing (other gaps go to the "
    "model's imputers).",
    FEATURES_TARGET_IN_RANGE: "Every target lies within [target.min, target.max].",
    FEATURES_ENOUGH_ROWS: "At least quality.min_rows cleaned rows are left to train and evaluate on.",
    FEATURES_RETENTION: "Cleaning kept at least quality.min_retention_ratio of the raw rows.",
    FEATURES_ROWS_PER_CLASS: "Every class has at least as many rows as cross-validation folds (monthly: one).",
    FIGURES_RECOMPUTED: "Every primary figure reported (the model's and each baseline's) is what the "
    "stored model and the "
    "baselines refitted with their seeds give on the stored rows it was scored on, within 1e-9 (read back "
    "after storing).",
    FEATURE_DRIFT: "No model input drifted from the champion's training data beyond "
    "monitoring.drift.max_feature_drift.",
    PREDICTION_DRIFT: "The champion's predictions did not drift from those on its training data beyond "
    "max_prediction_drift.",
    TARGET_DRIFT: "The target did not drift from the champion's training data beyond max_target_drift.",
}


@dataclass
class CheckOutcome:
    """One check judged on one month (or the table): passed or not, with the figures it was judged on. A `warn`
    outcome reports real data that changed (drift); an `error` one blocks what depends on the asset."""

    check_name: str
    passed: bool
    metadata: dict[str, Any] = field(default_factory=dict)
    severity: Literal["error", "warn"] = "error"


def outcome(name: str, month: str | None, passed: bool, **metadata) -> CheckOutcome:
    """A check's outcome naming the month it judged (a partitioned asset's check shows no partition in the UI)."""
    figures = {
        key: for_ui(value) if isinstance(value, float) and value == value else value
        for key, value in metadata.items()
    }
    where = {"month": month} if month else {}
    return CheckOutcome(name, bool(passed), {**where, **figures})


def not_judged(name: str, why: str, month: str | None = None) -> CheckOutcome:
    """A check with nothing to judge (no data yet, no champion): passed, saying why."""
    severity = "warn" if name in DRIFT_CHECKS else "error"
    where = {"month": month, "not_judged": why} if month else {"months_judged": "none", "why": why}
    return CheckOutcome(name, True, where, severity)


def figures(check) -> str:
    """A failed check's figures in one line, e.g. `accuracy 0.979 < min_accuracy 0.999` (CLI, dev.py run, logs)."""
    values = {k: getattr(v, "value", v) for k, v in (check.metadata or {}).items()}
    # a re-computation's: each figure reported and recomputed
    if values.get("disagreements", "none") != "none":
        return str(values["disagreements"])
    numbers = [(k, v) for k, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) >= 2:
        (a, x), (b, y) = numbers[0], numbers[1]
        relation = "<" if x < y else (">" if x > y else "=")
        return f"{a} {x:.4g} {relation} {b} {y:.4g}"
    return ", ".join(f"{k} {v}" for k, v in values.items() if k != "month") or "no figures"


def recomputed(month: str | None, figures: list) -> CheckOutcome:
    """The re-computation of a month's reported figures (tasks/recompute.Figure): failed, naming both figures of each
    disagreement, when any differs by more than the tolerance."""
    wrong = [f for f in figures if not f.agrees]
    metadata: dict = {"month": month} if month else {}
    metadata["figures_checked"] = len(figures)
    metadata["disagreements"] = "; ".join(map(str, wrong)) or "none"
    for f in figures:
        metadata[f"{f.name} reported"] = f.stored if f.stored is not None else "unreadable"
        metadata[f"{f.name} recomputed"] = f.recomputed
    return CheckOutcome(FIGURES_RECOMPUTED, not wrong, metadata)


def drift_outcomes(
    month: str, reference: str, drifts: dict[str, list], plot_markdown: str | None = None
) -> list[CheckOutcome]:
    """One outcome per drift check (WARN: a drifted month is real data, not bad data). `drifts` maps a check name to
    its columns' Drift values, largest first ([] = nothing to compare)."""
    results = []
    for name in DRIFT_CHECKS:
        found = drifts.get(name, [])
        drifted = [d for d in found if d.drifted]
        metadata = {
            "month": month,
            "reference": reference,
            "drifted": ", ".join(f"{d.column} ({d.statistic} {d.value:.3f})" for d in drifted) or "none",
            "largest_drift": for_ui(found[0].value) if found else 0.0,
            "largest_drift_column": found[0].column if found else "none",
            "threshold": for_ui(found[0].threshold) if found else 0.0,
            **{f"{d.column}_{d.statistic}": for_ui(d.value) for d in found},
        }
        if plot_markdown and name == FEATURE_DRIFT:
            metadata["plot"] = Markdown(plot_markdown)
        results.append(CheckOutcome(name, not drifted, metadata, "warn"))
    return results
