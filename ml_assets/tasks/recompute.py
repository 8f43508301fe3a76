"""Every figure a report shows, computed again from what was stored: the model, and the rows it was scored on.

The re-computation takes its own path: the model's (or baseline's) own `predict` and the metric's plain formula, not
the probabilities and class list the report was built from, so a fault on the report's path (a class dropped before
the arg-max, a mislabelled column) shows up as a disagreement. Pure pandas/scikit-learn: the wiring turns the figures
into a blocking asset check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ml_assets.tasks.modeling import in_row_chunks
from ml_assets.tasks.results import CANDIDATE

if TYPE_CHECKING:
    import pandas as pd

TOLERANCE = 1e-9


@dataclass(frozen=True)
class Figure:
    """One reported figure beside its re-computation."""

    name: str  # e.g. "model rmse", "mean_predictor rmse"
    stored: float | None
    recomputed: float

    @property
    def agrees(self) -> bool:
        if self.stored is None:
            return False
        if math.isnan(self.stored) or math.isnan(self.recomputed):
            return math.isnan(self.stored) and math.isnan(self.recomputed)
        return abs(self.stored - self.recomputed) <= TOLERANCE

    def __str__(self) -> str:
        return f"{self.name}: reported {self.stored!r}, recomputed {self.recomputed!r}"


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):  # a figure stored as text (a serializer's default=str) is a disagreement
        return None


def scored_and_fitting_rows(task, report: dict, features) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows the report scored and the rows its baselines were fitted on, from the stored features."""
    if report["protocol"] == "next month":
        return features[report["valid_month"]], features[report["train_month"]]
    _, y = task.xy(features)
    train, test = task.split(y)
    return features.iloc[test], features.iloc[train]


def reported_figures(report: dict) -> dict[str, Any]:
    """The primary metric of the model and of every baseline, as the stored report holds them."""
    metric = report["primary_metric"]
    table = report["metrics"] if report["protocol"] == "next month" else report["holdout"]["metrics"]
    return {key: figures.get(metric) for key, figures in table.items()}


def recompute_report(task, report: dict, model, features) -> list[Figure]:
    """The stored report's primary figures (the headline score, the model's, every baseline's) against the stored model
    and baselines refitted with their seeds on the stored rows. An unevaluated report (a first month, one awaiting data)
    has none."""
    if report.get("status", "evaluated") != "evaluated":
        return []
    metric = report["primary_metric"]
    scored, fitting = scored_and_fitting_rows(task, report, features)
    X, y = task.xy(scored)
    X_fit, y_fit = task.xy(fitting)
    predictors = task.predictors(fitting)
    out = []
    model_figure = task.primary_from_predictions(y, model.predict(X))
    out.append(Figure(f"score ({metric})", _number(report.get("score")), model_figure))
    for key, stored in reported_figures(report).items():
        if key == CANDIDATE:
            recomputed = model_figure
        elif key in predictors:
            recomputed = task.primary_from_predictions(y, predictors[key].fit(X_fit, y_fit).predict(X))
        else:  # a baseline the report names that the pipeline no longer declares
            continue
        out.append(Figure(f"{key} {metric}", _number(stored), recomputed))
    return out


def recompute_scored(task, model, rows: pd.DataFrame, reported: dict[str, Any]) -> list[Figure]:
    """A month's reported primary metric (`predictions`) against the stored champion's predictions on the
    stored rows."""
    metric = task.primary_metric
    if metric not in reported:
        return []
    import pandas as pd

    X, y = task.xy(rows)
    known = ~pd.isna(y)
    return [
        Figure(
            metric,
            _number(reported[metric]),
            task.primary_from_predictions(y[known], in_row_chunks(model.predict, X[known])),
        )
    ]
