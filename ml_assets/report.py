"""The evaluation report as Markdown: shown in the Dagster UI and written beside the metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # scikit-learn behind it: not imported when the code location loads
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
    return f"""# {dataset}: evaluation for {e.valid_month}

Trained on **{e.train_month}** ({e.train_rows:,} rows), validated on **{e.valid_month}**
({e.valid_rows:,} rows): the course protocol, train on one month and validate on the next.
Errors are in minutes.

| predictor | RMSE | MAE | R² |
|---|---:|---:|---:|
{table}

The model's RMSE is {abs(gain):.1f}% {"lower" if gain >= 0 else "HIGHER"} than the course baseline's on the same rows
(training RMSE {e.train_rmse:.3f}).
"""


def _pm(stats: dict[str, float]) -> str:
    return f"{stats['mean']:.3f} ± {stats['sd']:.3f}"


PREDICTOR_NAMES = {"model": "model", "majority_class": "majority class", "seed_script": "seed script"}


def render_classification_report(
    pipeline: str,
    rows: int,
    labels: list[str],
    folds: int,
    repeats: int,
    summary: dict,
    versus_seed: dict | None,
    seed_name: str | None,
    holdout,
    estimator: str,
    model_version: str | None = None,
    champion_version: str | None = None,
    champion_accuracy: float | None = None,
) -> str:
    """Cross-validated comparison (mean ± sd over the same folds), held-out metrics and confusion matrix."""

    def name(key: str) -> str:
        if key == "model":
            return f"model ({estimator}{', version ' + model_version if model_version else ''})"
        if key == "seed_script":
            return f"seed script ({seed_name})"
        return PREDICTOR_NAMES[key]

    cv_rows = "\n".join(
        f"| {name(k)} | {_pm(s['accuracy'])} | {_pm(s['macro_f1'])} | {_pm(s['roc_auc'])} | {_pm(s['log_loss'])} |"
        for k, s in summary.items()
    )
    holdout_rows = "\n".join(
        f"| {name(k)} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | {m['roc_auc']:.3f} | {m['log_loss']:.3f} |"
        for k, m in holdout.metrics.items()
    )
    if champion_accuracy is not None:
        holdout_rows += f"\n| current champion (version {champion_version}) | {champion_accuracy:.3f} | | | |"
    confusion = "| actual \\ predicted | " + " | ".join(labels) + " |\n|---|" + "---:|" * len(labels) + "\n"
    confusion += "\n".join(f"| {label} | " + " | ".join(str(n) for n in row) + " |" for label, row in zip(labels, holdout.confusion, strict=True))
    if versus_seed is not None:
        gain = versus_seed["mean"]
        verdict = (
            f"On the same {folds * repeats} folds the model's accuracy is **{100 * abs(gain):.1f} points "
            f"{'higher' if gain >= 0 else 'LOWER'}** than the seed script's (paired difference "
            f"{gain:+.3f} ± {versus_seed['sd']:.3f}; {versus_seed['wins']} folds won, {versus_seed['ties']} tied, "
            f"{versus_seed['losses']} lost)."
        )
    else:
        verdict = "No seed script is declared for this pipeline."
    return f"""# {pipeline}: classification report

{rows:,} rows, classes {", ".join(labels)}.

## Cross-validation: {folds} stratified folds x {repeats} repeats, the same folds for every predictor

| predictor | accuracy | macro F1 | ROC AUC | log loss |
|---|---:|---:|---:|---:|
{cv_rows}

{verdict}

## Held-out split ({holdout.rows} rows, stratified): the registered model

| predictor | accuracy | macro F1 | ROC AUC | log loss |
|---|---:|---:|---:|---:|
{holdout_rows}

Confusion matrix of the model on the held-out rows:

{confusion}
"""
