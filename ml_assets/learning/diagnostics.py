"""Model diagnostics for the evaluation report (pure pandas and scikit-learn): where the errors are, and which
inputs the model leans on."""

from __future__ import annotations

import numpy as np
import pandas as pd


def residuals_by_group(groups: pd.Series, y_true, predicted, top: int = 8) -> str:
    """A Markdown table of the `top` largest groups: rows, mean residual (bias) and RMSE, largest first."""
    frame = pd.DataFrame({"group": groups.astype(object).to_numpy(), "residual": np.asarray(y_true) - np.asarray(predicted)})
    summary = frame.groupby("group", dropna=False)["residual"].agg(
        rows="size", bias="mean", rmse=lambda r: float(np.sqrt(np.mean(np.square(r))))
    )
    summary = summary.sort_values("rows", ascending=False).head(top)
    lines = "\n".join(f"| {name} | {int(row.rows):,} | {row.bias:+.2f} | {row.rmse:.2f} |" for name, row in summary.iterrows())
    return f"| group | rows | mean residual | RMSE |\n|---|---:|---:|---:|\n{lines}"


def permutation_importances(model, X: pd.DataFrame, y, rows: int, repeats: int, random_state: int) -> list[tuple[str, float, float]]:
    """(input, mean RMSE increase, sd) for each delivered input column, largest first, on a sample of the rows."""
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
    y_true = np.asarray(y_true)
    if len(classes) == 2:
        stated, observed = probabilities[:, 1], (y_true == classes[1]).astype(float)
        what = f"P({classes[1]})", f"share {classes[1]}"
    else:
        stated = probabilities.max(axis=1)
        observed = (np.asarray(classes)[probabilities.argmax(axis=1)] == y_true).astype(float)
        what = "confidence", "accuracy"
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(stated, edges[1:-1]), 0, bins - 1)
    lines = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            lines.append(f"| {edges[b]:.1f}-{edges[b + 1]:.1f} | {int(inside.sum())} | {stated[inside].mean():.3f} | {observed[inside].mean():.3f} |")
    return f"| bin | rows | mean {what[0]} | {what[1]} |\n|---|---:|---:|---:|\n" + "\n".join(lines)
