"""Model diagnostics for the evaluation report (pure pandas and scikit-learn): where the errors are, and which
inputs the model leans on."""

from __future__ import annotations

import numpy as np
import pandas as pd


def group_residuals(groups: pd.Series, y_true, predicted, top: int = 8) -> pd.DataFrame:
    """The `top` largest groups, largest first: rows, mean residual (bias) and RMSE (residual = actual - predicted)."""
    frame = pd.DataFrame({"group": groups.astype(object).to_numpy(), "residual": np.asarray(y_true) - np.asarray(predicted)})
    summary = frame.groupby("group", dropna=False)["residual"].agg(
        rows="size", bias="mean", rmse=lambda r: float(np.sqrt(np.mean(np.square(r))))
    )
    return summary.sort_values("rows", ascending=False).head(top)


def residuals_table(summary: pd.DataFrame) -> str:
    """`group_residuals` as a Markdown table."""
    lines = "\n".join(f"| {name} | {int(row.rows):,} | {row.bias:+.2f} | {row.rmse:.2f} |" for name, row in summary.iterrows())
    return f"| group | rows | mean residual | RMSE |\n|---|---:|---:|---:|\n{lines}"


def permutation_importances(model, X: pd.DataFrame, y, rows: int, repeats: int, random_state: int) -> list[tuple[str, float, float]]:
    """(input, mean RMSE increase, sd) for each column of `X`, largest first, on a sample of the rows."""
    from sklearn.inspection import permutation_importance

    if len(X) > rows:
        picked = np.random.default_rng(random_state).choice(len(X), rows, replace=False)
        X, y = X.iloc[picked], np.asarray(y)[picked]
    result = permutation_importance(
        model, X, y, scoring="neg_root_mean_squared_error", n_repeats=repeats, random_state=random_state, n_jobs=1
    )
    found = [(str(c), float(m), float(s)) for c, m, s in zip(X.columns, result.importances_mean, result.importances_std, strict=True)]
    return sorted(found, key=lambda item: item[1], reverse=True)


def calibration_table(y_true, probabilities: np.ndarray, classes: list, bins: int = 5) -> str:
    """Reliability by equal-width bins: for two classes the predicted probability of the second class against its
    observed frequency; for more, the top class's probability (the confidence) against the accuracy."""
    stated, observed = _stated_and_observed(np.asarray(y_true), probabilities, classes)
    what = (f"P({classes[1]})", f"share {classes[1]}") if len(classes) == 2 else ("confidence", "accuracy")
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(stated, edges[1:-1]), 0, bins - 1)
    lines = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            lines.append(f"| {edges[b]:.1f}-{edges[b + 1]:.1f} | {int(inside.sum())} | {stated[inside].mean():.3f} | {observed[inside].mean():.3f} |")
    return f"| bin | rows | mean {what[0]} | {what[1]} |\n|---|---:|---:|---:|\n" + "\n".join(lines)


def calibration_error(y_true, probabilities: np.ndarray, classes: list, bins: int = 5) -> float:
    """Expected calibration error over the same bins as `calibration_table`: the row-weighted mean gap between the
    stated probability and the observed frequency (0 = perfectly calibrated)."""
    stated, observed = _stated_and_observed(np.asarray(y_true), probabilities, classes)
    which = np.clip(np.digitize(stated, np.linspace(0, 1, bins + 1)[1:-1]), 0, bins - 1)
    gaps = [abs(stated[which == b].mean() - observed[which == b].mean()) * (which == b).sum() for b in range(bins) if (which == b).any()]
    return float(sum(gaps) / len(stated))


def _stated_and_observed(y_true: np.ndarray, probabilities: np.ndarray, classes: list) -> tuple[np.ndarray, np.ndarray]:
    if len(classes) == 2:
        return probabilities[:, 1], (y_true == classes[1]).astype(float)
    return probabilities.max(axis=1), (np.asarray(classes)[probabilities.argmax(axis=1)] == y_true).astype(float)
