"""Regression: a number per row (minutes of air time, a disease-progression score). RMSE is the primary metric;
the trivial baseline predicts the training mean."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ml_assets.tasks import checks
from ml_assets.tasks.base import Task
from ml_assets.tasks.cleaning import plain
from ml_assets.tasks.modeling import ACTUAL, PREDICTION
from ml_assets.tasks.results import Diagnostics

if TYPE_CHECKING:
    import pandas as pd


class RegressionTask(Task):
    kind = "regression"
    primary_metric, higher_is_better = "rmse", False
    metric_names = ("rmse", "mae", "r2")
    lower_is_better = frozenset({"rmse", "mae"})
    trivial_key, trivial_name = "mean_predictor", "mean predictor (the training mean)"
    threshold_setting = "max_rmse"

    @classmethod
    def check_spec(cls, spec) -> None:
        from ml_assets.config import refuse

        if spec.quality.min_accuracy is not None:
            refuse(
                "quality.min_accuracy",
                spec.quality.min_accuracy,
                "a classification threshold; regression has quality.max_rmse",
            )
        if spec.target.positive_above is not None or spec.target.class_names is not None:
            refuse(
                "target.positive_above / target.class_names",
                "set",
                "classification settings; remove them or declare task: classification",
            )
        if spec.target.min is not None and spec.target.max is not None and spec.target.min > spec.target.max:
            refuse("target.min", spec.target.min, f"at most target.max ({spec.target.max})")

    def target_problems(self, values: pd.Series) -> list[str]:
        import pandas as pd

        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            return []
        example = values.dropna().iloc[0] if values.notna().any() else None
        return [
            f"target.column {self.target_column!r} holds {values.dtype} values (e.g. {plain(example)!r}): "
            "regression needs numbers; "
            "declare task: classification for labels"
        ]

    def prepare_target(self, values: pd.Series) -> pd.Series:
        return values.astype("float64")

    def row_rules(self) -> dict:
        low, high = self.target.min, self.target.max
        if low is None and high is None:
            return {}
        return {"target_out_of_range": lambda f: self._within(f[self.target_column], low, high)}

    def extra_feature_checks(self) -> list[str]:
        return (
            [checks.FEATURES_TARGET_IN_RANGE]
            if (self.target.min is not None or self.target.max is not None)
            else []
        )

    def feature_extras(self, frame, partition) -> tuple[list, dict]:
        if not self.extra_feature_checks():
            return [], {}
        outside = int((~self._within(frame[self.target_column], self.target.min, self.target.max)).sum())
        bounds = (
            f"[{self.target.min if self.target.min is not None else '-inf'}, "
            f"{self.target.max if self.target.max is not None else 'inf'}]"
        )
        return [
            checks.outcome(
                checks.FEATURES_TARGET_IN_RANGE,
                partition,
                outside == 0 and len(frame) > 0,
                rows_out_of_range=outside,
                bounds=bounds,
            )
        ], {}

    def trivial_model(self):
        from sklearn.dummy import DummyRegressor

        return DummyRegressor(strategy="mean")

    def cv_splitter(self, repeats: int):
        from sklearn.model_selection import RepeatedKFold

        e = self.evaluation
        return RepeatedKFold(n_splits=e.cv_folds, n_repeats=repeats, random_state=e.random_state)

    def metrics(self, y_true, output, classes) -> dict[str, float]:
        from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

        return {
            "rmse": float(root_mean_squared_error(y_true, output)),
            "mae": float(mean_absolute_error(y_true, output)),
            "r2": float(r2_score(y_true, output)) if len(y_true) > 1 else float("nan"),
        }

    def primary_from_predictions(self, y_true, predicted) -> float:
        """The primary metric (RMSE; MAE or R² for a kind built on this one) by its plain formula: the re-computation of
        a reported figure (tasks/recompute.py)."""
        import numpy as np

        y, error = (
            np.asarray(y_true, dtype=float),
            np.asarray(predicted, dtype=float) - np.asarray(y_true, dtype=float),
        )
        formulas = {
            "rmse": lambda: np.sqrt(np.mean(error**2)),
            "mae": lambda: np.mean(np.abs(error)),
            "r2": lambda: 1.0 - np.sum(error**2) / np.sum((y - y.mean()) ** 2),
        }
        if self.primary_metric not in formulas:
            raise NotImplementedError(
                f"{type(self).__name__}: no plain formula for its primary metric {self.primary_metric!r}"
            )
        return float(formulas[self.primary_metric]())

    def metrics_of_predicted(self, scored: pd.DataFrame) -> dict[str, Any]:
        known = scored[scored[ACTUAL].notna()]
        out = {"mean_prediction": float(scored[PREDICTION].mean())}
        if len(known):
            out.update(self.metrics(known[ACTUAL].to_numpy(), known[PREDICTION].to_numpy(), None))
        return out

    def diagnostics(self, model, X, y, output, month: str) -> Diagnostics:
        """Residuals by the largest groups of the finest categorical input, and permutation importance of each declared
        input on the evaluation rows (a sample of 2,000 rows, 2 repeats); the importances, the mean residual and the
        worst large group's RMSE also as numbers Dagster plots month by month."""
        import numpy as np

        from ml_assets.learning.diagnostics import group_residuals, permutation_importances, residuals_table

        parts, figures = [], {}
        residual = np.asarray(y, dtype=float) - np.asarray(output, dtype=float)
        figures["mean_residual"] = float(residual.mean())
        # the declared inputs (a derived route included), permuted as the model's later steps see them: no column is
        # derived again for each of the ~70 predictions
        declared, rest = (
            (model[0].transform(X), model[1:])
            if hasattr(model, "steps") and len(model.steps) > 1
            else (X, model)
        )
        categorical = [c for c in self.feature_spec.categorical if c in declared.columns]
        if categorical:
            # routes rather than airports, zone pairs rather than zones
            finest = max(categorical, key=lambda c: declared[c].nunique())
            groups = group_residuals(declared[finest], y, output, top=8)
            figures[f"worst_large_{finest}_rmse"] = float(groups["rmse"].max())
            parts.append(
                f"\nResiduals on {month} by its largest `{finest}` groups (actual - "
                f"predicted):\n\n{residuals_table(groups)}\n"
            )
        importances = permutation_importances(
            rest, declared, y, rows=2000, repeats=2, random_state=self.estimator.random_state
        )
        figures.update({f"importance_{name}": mean for name, mean, _ in importances})
        lines = "\n".join(f"| {name} | {mean:.3f} | {sd:.3f} |" for name, mean, sd in importances[:10])
        parts.append(
            f"\nPermutation importance on {month} (RMSE increase when the input is shuffled; the ten largest):\n\n"
            f"| input | RMSE increase | sd |\n|---|---:|---:|\n{lines}\n"
        )
        return Diagnostics("".join(parts), figures, [(name, mean) for name, mean, _ in importances[:10]])

    def plot_png(self, y_true, output, classes, per_fold, title: str, bars: list | None = None) -> bytes:
        from ml_assets.plots import prediction_plot_png

        return prediction_plot_png(y_true, output, title, self.target_column, importances=bars)
