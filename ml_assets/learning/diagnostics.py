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
