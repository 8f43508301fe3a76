"""The evaluation report as Markdown: shown in the Dagster UI and written beside the metrics."""

from __future__ import annotations

from ml_assets.training import Evaluation

UI_DECIMALS = 4


def shown(value: float) -> float:
    """A metric as the Dagster UI shows it in metadata; files keep full precision."""
    return round(float(value), UI_DECIMALS)


def render_report(
    evaluation: Evaluation,
    dataset: str,
    model_version: str | None = None,
    champion_version: str | None = None,
    champion_rmse: float | None = None,
) -> str:
    e = evaluation
    model_name = f"model version {model_version}" if model_version else "model (this pipeline)"
    rows = [
        (model_name, e.rmse, e.mae, e.r2),
        ("course baseline (DictVectorizer + LinearRegression)", e.course_baseline_rmse, None, None),
        ("mean predictor (training-month mean)", e.mean_predictor_rmse, None, None),
    ]
    if champion_rmse is not None:
        rows.insert(1, (f"current champion (version {champion_version})", champion_rmse, None, None))
    table = "\n".join(
        f"| {name} | {rmse:.3f} | {'' if mae is None else f'{mae:.3f}'} | {'' if r2 is None else f'{r2:.4f}'} |"
        for name, rmse, mae, r2 in rows
    )
    gain = 100.0 * (1.0 - e.rmse / e.course_baseline_rmse)
    return f"""# Trip duration model: evaluation for {e.valid_month}

Dataset `{dataset}`. Trained on **{e.train_month}** ({e.train_rows:,} trips), validated on
**{e.valid_month}** ({e.valid_rows:,} trips): the course protocol, train on one month and
validate on the next. Errors are in minutes.

| predictor | RMSE | MAE | R² |
|---|---:|---:|---:|
{table}

The model's RMSE is {abs(gain):.1f}% {"lower" if gain >= 0 else "HIGHER"} than the course baseline's on the same rows
(training RMSE {e.train_rmse:.3f}).
"""
