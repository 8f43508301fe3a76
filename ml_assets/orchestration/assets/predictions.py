"""predictions: each month (or the table) scored by the registered champion, with drift checks
against the champion's training data and the drift alarm that can trigger retraining."""

from dataclasses import dataclass
from typing import Any

import dagster as dg

from ml_assets import monitoring
from ml_assets.months import is_month, month_span
from ml_assets.orchestration.alerts import AlertWebhook
from ml_assets.orchestration.assets.ranges import (
    StepOutput,
    checked,
    combined_checks,
    combined_metadata,
    learned_from,
    months_of,
    stored,
    value_of,
)
from ml_assets.orchestration.automation import follows_champion, with_its_asset
from ml_assets.orchestration.checks import check_specs
from ml_assets.orchestration.compute import StepCompute
from ml_assets.orchestration.plan import (
    CHAMPION_ALIAS,
    CHAMPION_MODEL,
    DRIFT_ALARM,
    FEATURES,
    PREDICTIONS,
    PipelinePlan,
)
from ml_assets.tasks import checks
from ml_assets.tasks.checks import CheckOutcome, drift_outcomes, not_judged, recomputed
from ml_assets.tasks.modeling import ACTUAL, PREDICTION
from ml_assets.tasks.recompute import recompute_scored
from ml_assets.tasks.report_parts import embedded_png
from ml_assets.tracking import MlflowTracking, ModelRegistry
from ml_assets.ui_values import for_ui


def drift_alarm_spec(plan: PipelinePlan) -> dg.AssetSpec:
    """An external asset that `predictions` reports, month by month, when a month needs a new model."""
    return dg.AssetSpec(
        key=plan.key(DRIFT_ALARM),
        description=(
            "Raised (reported) by `predictions` for a month that drifted beyond the YAML thresholds from "
            "the champion's "
            "training data, or that no champion could score. With `monitoring.retrain: on_drift`, the "
            "model retrains on it."
        ),
        partitions_def=plan.partitions_def,
        group_name=plan.name,
        kinds={"dagster"},
    )


def month_drift(plan: PipelinePlan, reference, scored) -> dict[str, list[monitoring.Drift]]:
    """The three drift checks' columns for one month, each against the champion's training sample."""
    spec = plan.monitoring.drift
    # as-of inputs are recent values of the target itself (air times of landed flights): the target drift
    # check judges them
    skipped = {ACTUAL, PREDICTION, *spec.ignore_features, *plan.task.feature_spec.as_of_names()}
    inputs = [c for c in reference.columns if c not in skipped]
    return {
        checks.FEATURE_DRIFT: monitoring.drift_of(reference, scored, inputs, spec.max_feature_drift),
        checks.PREDICTION_DRIFT: monitoring.drift_of(
            reference, scored, [PREDICTION], spec.max_prediction_drift
        ),
        checks.TARGET_DRIFT: monitoring.drift_of(reference, scored, [ACTUAL], spec.max_target_drift),
    }


@dataclass(frozen=True)
class ServedChampion:
    """The registered champion as predictions serves it: its version, model, drift reference and training months."""

    version: str
    model: Any
    reference: (
        Any  # its drift reference (a sample of its training rows, scored), None before ml_assets logged them
    )
    trained_on: str  # its partition tag: a month, "all" or "unknown"
    window: list[str]  # the months it learned from (monthly)

    @classmethod
    def load(cls, plan: PipelinePlan, registry: ModelRegistry, champion) -> "ServedChampion":
        trained_on, window = learned_from(registry.client().get_run(champion.run_id).data)
        return cls(
            str(champion.version),
            registry.load_version(champion.version),
            registry.reference_sample(champion) if plan.monthly else None,
            trained_on,
            window if plan.monthly else [],
        )

    @property
    def where(self) -> str:
        return f"version {self.version}'s training data ({self.trained_on})"


def build_predictions(plan: PipelinePlan) -> dg.AssetsDefinition:
    key = plan.key(PREDICTIONS)
    # a month awaiting its data (a backfill can add the month after its range) has no features
    may_be_missing = {"allow_missing_partitions": True} if plan.monthly else None
    alias = plan.key(CHAMPION_ALIAS) if plan.monthly else None

    @dg.asset(
        key=key,
        description=predictions_description(plan),
        ins={"features": dg.AssetIn(plan.key(FEATURES), metadata=may_be_missing)},
        # month by month, so a run scores after its own gates; the alias (every month) re-scores when it moves
        deps=[plan.key(CHAMPION_MODEL), *([alias] if alias else [])],
        partitions_def=plan.partitions_def,
        group_name=plan.name,
        kinds={"scikitlearn", "parquet"},
        io_manager_key="warehouse_io_manager",
        automation_condition=follows_champion(plan.key(CHAMPION_MODEL), alias),
        check_specs=prediction_check_specs(plan, key),
        backfill_policy=plan.backfill_policy,
    )
    def predictions(
        context: dg.AssetExecutionContext,
        features: Any,
        mlflow_tracking: MlflowTracking,
        alert_webhook: AlertWebhook,
        compute: StepCompute,  # the step's native threads and fits at once (orchestration/compute.py)
    ):
        registry = plan.registry(mlflow_tracking)
        months = months_of(plan, context)
        awaiting = [m for m in months if plan.monthly and m not in features]
        with_data = [m for m in months if m not in awaiting]
        # Every targeted month is stored, scored or empty with its status: a month a run targeted and left
        # unmaterialized is what Dagster's backfill daemon calls stalled (it fails the backfill). The alias moving
        # re-scores them.
        champion = registry.champion() if with_data else None
        if champion is None:
            yield from nothing_to_score(context, plan, registry, months, with_data)
            return
        served = ServedChampion.load(plan, registry, champion)
        output, reported = scored_months(plan, registry, served, features, with_data, compute)
        judge_months(context, plan, alert_webhook, served, output, with_data, awaiting)
        yield stored(plan, context, output)
        # each reported figure against the registered champion's own predict on the month's stored rows
        figures_by_month = recomputed_figures(plan, served, features, reported, with_data, compute)
        for month, figures in zip(with_data, figures_by_month, strict=True):
            output.checks.setdefault(month, []).append(recomputed(month, figures))
        yield from checked(context, output)

    return predictions


def judge_months(
    context: dg.AssetExecutionContext,
    plan: PipelinePlan,
    webhook: AlertWebhook,
    served: ServedChampion,
    output: StepOutput,
    with_data: list,
    awaiting: list,
) -> None:
    """Each scored month's drift checks (monthly), and an empty month for each month of the range awaiting its data."""
    for month in with_data if plan.monthly else []:
        output.checks[month] = judge_drift(context, plan, webhook, served, month, output.values[month])
        output.metadata[month].update(drift_figures(output.checks[month]))
    for month in awaiting:  # in a range with months that have data: an empty month, until its data comes
        empty = next(iter(output.values.values())).iloc[:0]
        not_yet = [not_judged(name, "awaiting data") for name in recomputed_checks(plan)]
        output.add(month, empty, {"status": "awaiting data", "rows": 0}, not_yet)


def recomputed_figures(
    plan: PipelinePlan, served: ServedChampion, features, reported: dict, months: list, compute: StepCompute
) -> list:
    """Each month's reported figures against the champion's own predict on its stored rows, side by side."""

    def recompute(month):
        return recompute_scored(plan.task, served.model, scored_rows(plan, features, month), reported[month])

    return list(compute.map(recompute, months))


def prediction_check_specs(plan: PipelinePlan, key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """The figures' re-computation (blocking) and, monthly, the drift checks: drift is news, not bad data, so they
    do not block."""
    drift = check_specs(key, checks.DRIFT_CHECKS, automation_condition=with_its_asset(), blocking=False)
    figures = check_specs(key, [checks.FIGURES_RECOMPUTED], automation_condition=with_its_asset())
    return [*(drift if plan.monthly else []), *figures]


def nothing_to_score(
    context: dg.AssetExecutionContext,
    plan: PipelinePlan,
    registry: ModelRegistry,
    months: list,
    with_data: list,
):
    """No champion yet, or no month with features: every month stored empty with its status (a month with data and
    no champion raises the drift alarm, so a model is trained for it)."""
    status = f"no champion yet: {registry.name} has none" if with_data else "awaiting data"
    hint = ". The champion gate names one." if with_data else ""
    context.log.info(f"{month_span(months, count=True)}: {status}; stored empty{hint}")
    for month in with_data if plan.monthly else []:
        raise_alarm(context, plan, month, "no champion to score this month", {})
    yield from stored_empty(context, plan, months, status)


def predictions_description(plan: PipelinePlan) -> str:
    return (
        f"{'Each month' if plan.monthly else 'The table'} scored by the registered champion "
        "(models:/<name>@champion; the "
        "version is in the metadata), re-scored by automation when the alias moves. "
        + ("Drift checks compare the month with the champion's training data. " if plan.monthly else "")
        + "No champion yet, or no features yet: the month is stored empty with its status, and the run still succeeds."
    )


def scored_rows(plan: PipelinePlan, features, month: str | None):
    """The rows a month's reported figures are measured on: the month, or the table's held-out split."""
    rows = features[month] if plan.monthly else features
    return rows if plan.monthly else rows.iloc[plan.task.split(plan.task.xy(rows)[1])[1]]


def recomputed_checks(plan: PipelinePlan) -> list[str]:
    return [*(checks.DRIFT_CHECKS if plan.monthly else []), checks.FIGURES_RECOMPUTED]


def scored_months(
    plan: PipelinePlan,
    registry: ModelRegistry,
    served: ServedChampion,
    features,
    months: list,
    compute: StepCompute,
) -> tuple[StepOutput, dict]:
    """Each month (or the table) predicted by the champion, side by side (the trees' prediction leaves Python's lock),
    with its figures; and the figures reported, by month (none for a month the champion learned from)."""
    output, reported = StepOutput(), {}
    predicted = compute.map(
        lambda month: plan.task.predicted_rows(served.model, features[month] if plan.monthly else features),
        months,
    )
    for month, rows in zip(months, predicted, strict=True):
        # a table's champion trained on most of its rows: its figures come from the held-out rest only
        unseen = rows if plan.monthly else rows.iloc[plan.task.split(rows[ACTUAL].to_numpy())[1]]
        out_of_sample = month not in served.window if plan.monthly else True
        figures = plan.task.metrics_of_predicted(unseen)
        reported[month] = figures if out_of_sample else {}
        output.add(
            month,
            rows,
            {
                "champion_version": served.version,
                "champion_uri": registry.champion_uri,
                "champion_training_months": (month_span(served.window) if served.window else "unknown")
                if plan.monthly
                else "the table's training split",
                "out_of_sample": out_of_sample,
                "rows": len(rows),
                "scored_on": scored_on(month, served.window, len(unseen), out_of_sample)
                if plan.monthly
                else (
                    f"the {len(unseen)} held-out rows the champion never saw (the table's seeded split); every row is "
                    "predicted and stored"
                ),
                # a month the champion learned from measures its fit, not its skill: those figures are marked in_sample_
                **{
                    (name if out_of_sample else f"in_sample_{name}"): for_ui(value)
                    for name, value in figures.items()
                },
            },
        )
    return output, reported


def stored_empty(context: dg.AssetExecutionContext, plan: PipelinePlan, months: list[str], status: str):
    """Each month stored with no rows and its status; the checks say why they judged nothing."""
    import pandas as pd

    frames = {month: pd.DataFrame({ACTUAL: [], PREDICTION: []}) for month in months}
    metadata = {month: {"status": status, "rows": 0} for month in months}
    yield dg.Output(value_of(plan, frames), metadata=combined_metadata(metadata, context))
    # Dagster requires every check's
    yield from combined_checks({None: [not_judged(name, status) for name in recomputed_checks(plan)]})


def judge_drift(
    context: dg.AssetExecutionContext,
    plan: PipelinePlan,
    webhook: AlertWebhook,
    served: ServedChampion,
    month: str,
    rows,
) -> list[CheckOutcome]:
    """The month's drift checks against the champion's training data; a month newer than that data and drifted raises
    the drift alarm (and posts the alert)."""
    if served.reference is None:
        reason = f"version {served.version} was trained before ml_assets logged drift references: retrain to monitor it"
        return [not_judged(name, reason, month) for name in checks.DRIFT_CHECKS]
    from ml_assets.plots import drift_plot_png

    drifts = month_drift(plan, served.reference, rows)
    features_drift = drifts[checks.FEATURE_DRIFT]
    png = drift_plot_png(
        [d.column for d in features_drift],
        [d.value for d in features_drift],
        plan.monitoring.drift.max_feature_drift,
        f"{plan.name} {month} vs {served.where}",
    )
    table = monitoring.drift_markdown(
        [d for found in drifts.values() for d in found], f"**{month}** against {served.where}:"
    )
    results = drift_outcomes(month, served.where, drifts, embedded_png(table, png, "feature drift"))
    drifted = [d for found in drifts.values() for d in found if d.drifted]
    # Only a month newer than the champion's training data asks for a new model: an older month drifting from a newer
    # champion is history the world has left (the checks still show it), and alarming on it made champions trained on
    # old and new months replace each other forever.
    if drifted and not (is_month(served.trained_on) and month <= served.trained_on):
        raise_alarm(
            context,
            plan,
            month,
            "drifted from " + served.where,
            {
                "drifted": ", ".join(
                    f"{d.column} {d.statistic} {d.value:.3f} > {d.threshold:.3f}" for d in drifted
                )
            },
        )
        alert(context, plan, webhook, month, served.where, drifted)
    return results


def raise_alarm(
    context: dg.AssetExecutionContext, plan: PipelinePlan, month: str, reason: str, details: dict
) -> None:
    # reported as a materialization of the external asset: automation conditions see an external asset (one without an
    # observation function) update through materializations
    context.log_event(
        dg.AssetMaterialization(
            asset_key=plan.key(DRIFT_ALARM),
            partition=month,
            metadata={"reason": reason, "retrain": plan.monitoring.retrain, **details},
        )
    )
    # drift is news; a first month without a champion is not
    log = context.log.warning if details else context.log.info
    log(f"{plan.name} {month}: drift alarm raised ({reason})")


def alert(
    context: dg.AssetExecutionContext,
    plan: PipelinePlan,
    webhook: AlertWebhook,
    month: str,
    where: str,
    drifted: list[monitoring.Drift],
) -> None:
    if not webhook.webhook_url:
        return
    action = (
        "a model is being trained on it"
        if plan.monitoring.retrain == "on_drift"
        else "models retrain every month"
    )
    text = (
        f":warning: {plan.name} {month} drifted from {where}: "
        + ", ".join(f"{d.column} {d.statistic} {d.value:.3f} (limit {d.threshold:.3f})" for d in drifted)
        + f"; {action}. {webhook.dagster_ui_url.rstrip('/')}/runs/{context.run.run_id}"
    )
    try:
        webhook.post(
            {"text": text, "pipeline": plan.name, "month": month, "drifted": [d.column for d in drifted]}
        )
    except RuntimeError as exc:  # the alert is best-effort: the scored month is still stored
        context.log.warning(f"drift alert not delivered: {exc}")


def scored_on(month: str, window: list[str], rows: int, out_of_sample: bool) -> str:
    learned = f"the champion learned from {month_span(window) if window else 'unknown'}"
    if out_of_sample:
        return f"every row of the month ({rows:,}), which {learned} without: out of sample"
    return f"every row of the month ({rows:,}), which {learned} with: in sample, so its figures are marked in_sample_"


def drift_figures(results: list[CheckOutcome]) -> dict[str, float]:
    """The largest drift of each check as plain numbers, so the UI plots them across months."""
    return {
        f"{r.check_name}_largest": getattr(r.metadata["largest_drift"], "value", r.metadata["largest_drift"])
        for r in results
        if r.metadata and "largest_drift" in r.metadata
    }
