"""Model diagnostics for the evaluation report (pure pandas and scikit-learn): where the errors are, and which
inputs the model leans on."""

from __future__ import annotations

import numpy as np
import pandas as pd


def group_residuals(groups: pd.Series, y_true, predicted, top: int = 8) -> pd.DataFrame:
    """The `top` largest groups, largest first: rows, mean residual (bias) and RMSE (residual = actual - predicted)."""
    frame = pd.DataFrame(
        {"group": groups.astype(object).to_numpy(), "residual": np.asarray(y_true) - np.asarray(predicted)}
    )
    summary = frame.groupby("group", dropna=False)["residual"].agg(
        rows="size", bias="mean", rmse=lambda r: float(np.sqrt(np.mean(np.square(r))))
    )
    return summary.sort_values("rows", ascending=False).head(top)


def residuals_table(summary: pd.DataFrame) -> str:
    """`group_residuals` as a Markdown table."""
    lines = "\n".join(
        f"| {name} | {int(row.rows):,} | {row.bias:+.2f} | {row.rmse:.2f} |"
        for name, row in summary.iterrows()
    )
    return f"| group | rows | mean residual | RMSE |\n|---|---:|---:|---:|\n{lines}"


def permutation_importances(
    model, X: pd.DataFrame, y, rows: int, repeats: int, random_state: int, rows_per_predict: int = 100_000
) -> list[tuple[str, float, float]]:
    """(input, mean RMSE increase, sd) for each column of `X`, largest first, on a seeded sample of `rows` rows:
    each column shuffled `repeats` times, the model's RMSE on the shuffled rows minus its RMSE on the rows.

    The shuffled copies are predicted together, up to `rows_per_predict` rows a call, rather than one call each as
    scikit-learn's `permutation_importance` does: a Pipeline's per-call pandas work dominates small predicts."""
    rng = np.random.default_rng(random_state)
    if len(X) > rows:
        picked = rng.choice(len(X), rows, replace=False)
        X, y = X.iloc[picked], np.asarray(y)[picked]
    X, y = X.reset_index(drop=True), np.asarray(y, dtype=float)
    base = float(np.sqrt(np.mean(np.square(np.asarray(model.predict(X), dtype=float) - y))))
    shuffles = [(column, rng.permutation(len(X))) for column in X.columns for _ in range(repeats)]
    per_call = max(1, rows_per_predict // max(len(X), 1))
    increases = []
    for start in range(0, len(shuffles), per_call):
        batch = shuffles[start : start + per_call]
        copies = pd.concat(
            [X.assign(**{column: X[column].iloc[order].reset_index(drop=True)}) for column, order in batch],
            ignore_index=True,
        )
        predicted = np.asarray(model.predict(copies), dtype=float).reshape(len(batch), len(X))
        increases.extend(np.sqrt(np.mean(np.square(predicted - y), axis=1)) - base)
    by_column = np.asarray(increases).reshape(len(X.columns), repeats)
    found = [(str(c), float(v.mean()), float(v.std())) for c, v in zip(X.columns, by_column, strict=True)]
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
            lines.append(
                f"| {edges[b]:.1f}-{edges[b + 1]:.1f} | {int(inside.sum())} | {stated[inside].mean():.3f} "
                f"| {observed[inside].mean():.3f} |"
            )
    return f"| bin | rows | mean {what[0]} | {what[1]} |\n|---|---:|---:|---:|\n" + "\n".join(lines)


def calibration_error(y_true, probabilities: np.ndarray, classes: list, bins: int = 5) -> float:
    """Expected calibration error over the same bins as `calibration_table`: the row-weighted mean gap between the
    stated probability and the observed frequency (0 = perfectly calibrated)."""
    stated, observed = _stated_and_observed(np.asarray(y_true), probabilities, classes)
    which = np.clip(np.digitize(stated, np.linspace(0, 1, bins + 1)[1:-1]), 0, bins - 1)
    gaps = [
        abs(stated[which == b].mean() - observed[which == b].mean()) * (which == b).sum()
        for b in range(bins)
        if (which == b).any()
    ]
    return float(sum(gaps) / len(stated))


def _stated_and_observed(
    y_true: np.ndarray, probabilities: np.ndarray, classes: list
) -> tuple[np.ndarray, np.ndarray]:
    if len(classes) == 2:
        return probabilities[:, 1], (y_true == classes[1]).astype(float)
    return probabilities.max(axis=1), (np.asarray(classes)[probabilities.argmax(axis=1)] == y_true).astype(
        float
    )
