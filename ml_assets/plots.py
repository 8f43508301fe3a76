"""Small PNG plots for the reports (matplotlib, Agg backend; imported only when a report is drawn)."""

from __future__ import annotations

import io

import numpy as np


def _subplots(*grid: int, figsize: tuple[float, float], dpi: int, **kwargs):
    """A figure and its axes without pyplot: no global figure registry, so steps may draw from several threads."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    return fig, fig.subplots(*grid, **kwargs)


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def prediction_plot_png(
    actual: np.ndarray,
    predicted: np.ndarray,
    title: str,
    target: str = "target",
    importances: list[tuple[str, float]] | None = None,
) -> bytes:
    """Predicted vs actual (hexbin), the residual histogram and, given, the permutation importances."""
    if importances:
        fig, (left, right, third) = _subplots(
            1, 3, figsize=(12, 3.2), dpi=80, gridspec_kw={"width_ratios": [1, 1, 1.2]}
        )
        names, values = [n for n, _ in importances][::-1], [v for _, v in importances][::-1]
        third.barh(range(len(names)), values, color="darkorange")
        third.set_yticks(range(len(names)), names, fontsize=7)
        third.set_xlabel(f"{target} RMSE increase when shuffled")
    else:
        fig, (left, right) = _subplots(1, 2, figsize=(8, 3.2), dpi=80)
    low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    left.hexbin(actual, predicted, gridsize=40, bins="log", cmap="viridis", extent=(low, high, low, high))
    left.plot([low, high], [low, high], color="red", linewidth=1)
    left.set_xlabel(f"actual {target}")
    left.set_ylabel(f"predicted {target}")
    right.hist(predicted - actual, bins=60, color="steelblue", histtype="stepfilled")  # one patch, not 60
    right.set_xlabel("predicted - actual")
    right.set_ylabel("rows")
    fig.suptitle(title, fontsize=10)
    # fixed: tight_layout cost 0.1 s a plot
    fig.subplots_adjust(
        left=0.07 if importances else 0.1,
        right=0.98,
        bottom=0.16,
        top=0.86,
        wspace=0.55 if importances else 0.3,
    )
    return _png(fig)


def classification_plot_png(
    confusion: list[list[int]], labels: list[str], cv_accuracy: dict[str, list[float]] | None, title: str
) -> bytes:
    """Held-out confusion matrix and the cross-validated accuracy of each predictor per fold."""
    fig, (left, right) = _subplots(1, 2, figsize=(8, 3.4), dpi=80)
    matrix = np.asarray(confusion)
    left.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        left.text(
            j, i, str(count), ha="center", va="center", color="black" if count < matrix.max() / 2 else "white"
        )
    left.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
    left.set_yticks(range(len(labels)), labels, fontsize=8)
    left.set_xlabel("predicted")
    left.set_ylabel("actual")
    left.set_title("confusion matrix", fontsize=9)
    if cv_accuracy:
        names = list(cv_accuracy)
        right.boxplot([cv_accuracy[n] for n in names], tick_labels=[n.replace("_", " ") for n in names])
        right.set_ylabel("accuracy per fold")
        right.set_title("cross-validation, same folds", fontsize=9)
        right.tick_params(axis="x", labelsize=8)
    else:  # scored on one month: the share of each class, actual vs predicted
        totals = matrix.sum(axis=1), matrix.sum(axis=0)
        positions = np.arange(len(labels))
        right.bar(positions - 0.2, totals[0], width=0.4, label="actual")
        right.bar(positions + 0.2, totals[1], width=0.4, label="predicted")
        right.set_xticks(positions, labels, rotation=30, ha="right", fontsize=8)
        right.set_ylabel("rows")
        right.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    # fixed: tight_layout cost 0.1 s a plot
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.16, top=0.86, wspace=0.3)
    return _png(fig)


def drift_plot_png(columns: list[str], values: list[float], threshold: float, title: str) -> bytes:
    """Each column's drift as a bar, the threshold as a line; drifted bars in red."""
    fig, axis = _subplots(figsize=(5, 0.35 * len(columns) + 1.0), dpi=80)
    colors = ["firebrick" if v > threshold else "steelblue" for v in values]
    axis.barh(columns[::-1], values[::-1], color=colors[::-1])
    axis.axvline(threshold, color="black", linestyle="--", linewidth=1)
    axis.set_xlim(0, max(1.1 * max(values, default=0.0), 1.2 * threshold))
    axis.set_xlabel("drift (KS statistic or total variation distance)")
    axis.set_title(title, fontsize=9)
    fig.subplots_adjust(left=0.3, right=0.97, bottom=0.25 if len(columns) < 4 else 0.12, top=0.85)
    return _png(fig)


def decay_plot_png(
    months: list[str], policies: list[str], scores: dict[str, dict[str, float]], metric: str, title: str
) -> bytes:
    """One line per retraining policy (in `policies` order): its score on each month (the walk-forward backtest)."""
    fig, axis = _subplots(figsize=(9, 3.6), dpi=80)
    positions = {m: i for i, m in enumerate(months)}
    for policy in policies:
        by_month = scores[policy]
        shown_months = [m for m in months if m in by_month]
        axis.plot(
            [positions[m] for m in shown_months],
            [by_month[m] for m in shown_months],
            marker="o",
            markersize=3,
            label=policy,
        )
    axis.set_xticks(range(len(months)), months, rotation=45, ha="right", fontsize=8)
    axis.set_ylabel(metric)
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the lines, not over them
    axis.grid(alpha=0.3)
    fig.subplots_adjust(left=0.07, right=0.68, bottom=0.22, top=0.9)
    return _png(fig)
