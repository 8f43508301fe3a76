"""champion_model: the promotion gate that moves the MLflow `champion` alias."""

import functools
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg

from ml_assets import tracking
from ml_assets.learning.score_cache import ScoreCache, cache_key, frame_fingerprint
from ml_assets.orchestration.assets.ranges import StepOutput, materialized, months_of
from ml_assets.orchestration.automation import on_upstream_data_change
from ml_assets.orchestration.compute import StepCompute
from ml_assets.orchestration.plan import (
    CHAMPION_ALIAS,
    CHAMPION_MODEL,
    EVALUATION_REPORT,
    FEATURES,
    PipelinePlan,
)
from ml_assets.storage import ProjectStorage
from ml_assets.storage.fencing import refuse_unless_running
from ml_assets.tracking import MlflowTracking, ModelRegistry
from ml_assets.ui_values import for_ui


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str
    candidate_version: str
    champion_version: str | None  # the champion it faced
    champion_score: float | None  # the champion's score on the candidate's rows


def champion_alias_spec(plan: PipelinePlan) -> dg.AssetSpec:
    """An external asset for MLflow's `champion` alias, which `champion_model` reports when it moves.

    `predictions` depends on it (unpartitioned, so every month) to re-score when the alias moves,
    and on `champion_model` month by month for the order within a run. An all-months dependency
    on `champion_model` itself would put every month's predictions into any backfill that
    gates a few months (Dagster maps a backfill's months through partition mappings)."""
    return dg.AssetSpec(
        key=plan.key(CHAMPION_ALIAS),
        description=(
            "The registered champion, `models:/<name>@champion` in MLflow. `champion_model` reports it whenever a gate "
            "finds it moved (the version is in the metadata); `predictions` re-scores every month then."
        ),
        # no lineage edge from champion_model: `dagster asset materialize --select '<pipeline>/raw_data*'`
        # would then select this external asset, which no run can materialize, and refuse to start
        group_name=plan.name,
        kinds={"mlflow"},
    )


def build_champion_model(plan: PipelinePlan) -> dg.AssetsDefinition:
    @dg.asset(
        key=plan.key(CHAMPION_MODEL),
        description=(
            f"Moves the MLflow `champion` alias to the evaluated model only if it passed every blocking check and "
            f"beats the current champion's {plan.task.primary_metric} on the same rows; its "
            "materializations are the audit trail."
        ),
        ins={
            "evaluation_report": dg.AssetIn(plan.key(EVALUATION_REPORT)),
            # a month awaiting its data (see evaluation_report) has no features and needs none
            "features": dg.AssetIn(
                plan.key(FEATURES), metadata={"allow_missing_partitions": True} if plan.monthly else None
            ),
        },
        partitions_def=plan.partitions_def,
        group_name=plan.name,
        kinds={"mlflow"},
        io_manager_key="report_io_manager",
        automation_condition=on_upstream_data_change(),
        backfill_policy=plan.backfill_policy,
    )
    def champion_model(
        context: dg.AssetExecutionContext,
        evaluation_report,
        features,
        mlflow_tracking: MlflowTracking,
        storage: ProjectStorage,
        # scoring the champion on the candidate's rows: the step's native threads (orchestration/compute.py)
        compute: StepCompute,
    ):
        """Each month's gate: the evaluated model replaces the champion only if it passed its checks and beats it."""
        registry = plan.registry(mlflow_tracking)
        scores = storage.scores(plan.name)
        output = StepOutput()
        # month by month, oldest first: each month's gate faces the champion the previous one left
        for month in months_of(plan, context):
            report = evaluation_report[month] if plan.monthly else evaluation_report
            if report.get("status", "evaluated") != "evaluated":
                output.add(month, *nothing_to_gate(plan, registry, month, report))
                continue
            frame = features[month] if plan.monthly else features
            decision = gate(
                plan,
                registry,
                month,
                report,
                functools.partial(version_score, plan, registry, scores, frame=frame),
            )
            if decision.promote:
                refuse_unless_running(
                    context.instance,
                    context.run.run_id,
                    f"the champion alias (version {decision.candidate_version})",
                )
                registry.promote(decision.candidate_version)
            context.log.info(decision.reason)
            output.add(month, *gate_record(plan, registry, month, report, decision))
        # the data version is the champion itself: a gate that keeps it changes nothing downstream
        champion = registry.champion()
        if plan.monthly and champion is not None:
            report_alias(context, plan, registry, champion)
        output.data_version = f"{registry.name}/{champion.version}" if champion else "no champion"
        return materialized(plan, context, output)

    return champion_model


def report_alias(
    context: dg.AssetExecutionContext, plan: PipelinePlan, registry: ModelRegistry, champion
) -> None:
    """The champion_alias external asset materialized when the alias moved since it was last reported."""
    alias = plan.key(CHAMPION_ALIAS)
    last = context.instance.get_latest_materialization_event(alias)
    last_version = (
        last.asset_materialization.metadata.get("champion_version")
        if last and last.asset_materialization
        else None
    )
    if last_version is not None and getattr(last_version, "value", last_version) == str(champion.version):
        return
    context.log_event(
        dg.AssetMaterialization(
            asset_key=alias,
            metadata={
                "champion_version": str(champion.version),
                "champion_uri": registry.champion_uri,
                "champion_version_url": dg.MetadataValue.url(registry.version_url(champion.version)),
                "reported_by_months": ", ".join(months_of(plan, context)),
            },
        )
    )


def nothing_to_gate(
    plan: PipelinePlan, registry: ModelRegistry, month: str, report: dict
) -> tuple[dict, dict]:
    champion = registry.champion()
    version = str(champion.version) if champion else None
    reason = f"no model was evaluated on {month} ({report['status']})"
    markdown = (
        f"**{month}**: kept — {reason}.\n\nChampion now: "
        f"{f'version {version}' if version else 'none yet'} of `{registry.name}`."
    )
    value = {
        "pipeline": plan.name,
        "evaluated_on": month,
        "metric": plan.task.primary_metric,
        "promoted": False,
        "champion_version": version,
        "candidate_version": None,
        "reason": reason,
        "markdown": markdown,
    }
    return value, {"decision": "nothing to gate", "reason": reason, "champion_version": str(version)}


def version_score(
    plan: PipelinePlan, registry: ModelRegistry, scores: ScoreCache, version: str, frame
) -> float:
    """A registered version's primary metric on the evaluation rows of `frame` (a month's features, or the table's),
    computed once: the gate of month t and the backtest's "keep the champion" on t score the same champion on the same
    rows. Keyed by the version's logged model, the declared task and the rows' content, never by a version number
    alone (a tracking store made again numbers its versions from 1)."""
    key = cache_key(
        "version_score",
        registry.name,
        registry.version_source(version),
        plan.task.declared(),
        frame_fingerprint(frame),
    )
    return float(
        scores.remember(
            "version_score",
            key,
            lambda: plan.task.primary_metric_of(
                registry.load_version(version), plan.task.evaluation_rows(frame)
            ),
        )
    )


def gate(
    plan: PipelinePlan,
    registry: ModelRegistry,
    month: str | None,
    report: dict,
    score_version: Callable[[str], float],
) -> GateDecision:
    """Whether the evaluated model replaces the champion: every blocking check passed and it beats the champion's score
    on the same rows (`score_version(version)`) by the declared margin."""
    metric = plan.task.primary_metric
    candidate = report["model_version"]
    if candidate is None:
        raise dg.Failure(
            f"the model evaluated on {month or 'the held-out split'} has no registered MLflow version"
        )
    champion = registry.champion()
    # the months whose models they are: a re-run of an earlier month never replaces the model of a later one
    candidate_month = champion_month = None
    if plan.monthly and champion is not None and str(champion.version) != str(candidate):
        candidate_month = registry.version_month(candidate)
        champion_month = registry.version_month(champion.version)
    later = bool(candidate_month and champion_month and champion_month > candidate_month)
    if champion is not None and str(champion.version) == str(report.get("champion_version")):
        # the report already scored this champion on the same rows
        previous_version, previous_score = str(champion.version), report[f"champion_{metric}"]
    elif champion is not None and later:  # kept whatever its score: not scored again
        previous_version, previous_score = str(champion.version), None
    elif champion is not None:
        previous_version = str(champion.version)
        previous_score = score_version(previous_version)
    else:
        previous_version, previous_score = None, None
    decision = tracking.decide_champion(
        candidate_version=candidate,
        candidate_score=report["score"],
        checks_passed=all(report["checks"].values()),
        champion_version=previous_version,
        champion_score=previous_score,
        min_relative_improvement=plan.champion_min_improvement,
        metric=metric.upper() if metric == "rmse" else metric,
        higher_is_better=plan.task.higher_is_better,
        candidate_month=candidate_month,
        champion_month=champion_month,
    )
    return GateDecision(decision.promote, decision.reason, candidate, previous_version, previous_score)


def gate_record(
    plan: PipelinePlan, registry: ModelRegistry, month: str | None, report: dict, decision: GateDecision
) -> tuple[dict, dict]:
    """The gate's stored decision and its metadata (the audit trail)."""
    metric, candidate = plan.task.primary_metric, report["model_version"]
    previous_version, previous_score = decision.champion_version, decision.champion_score
    champion_version = candidate if decision.promote else previous_version
    where = month or "the held-out split"
    markdown = (
        f"**{where}**: {'promoted' if decision.promote else 'kept'} — {decision.reason}.\n\n"
        f"Champion now: version {champion_version} of `{registry.name}`."
    )
    value = {
        "pipeline": plan.name,
        "evaluated_on": month or "holdout",
        "metric": metric,
        "candidate_version": candidate,
        "candidate_score": report["score"],
        "previous_champion_version": previous_version,
        "previous_champion_score": previous_score,
        "checks_passed": all(report["checks"].values()),
        "promoted": decision.promote,
        "champion_version": champion_version,
        "reason": decision.reason,
        "markdown": markdown,
    }
    return value, {
        "decision": "promoted" if decision.promote else "kept",
        "reason": decision.reason,
        "candidate_version": str(candidate),
        f"candidate_{metric}": for_ui(report["score"]),
        "previous_champion_version": str(previous_version),
        f"previous_champion_{metric}": for_ui(previous_score) if previous_score is not None else "none",
        "champion_version": str(champion_version),
        "champion_uri": registry.champion_uri,
        "champion_version_url": dg.MetadataValue.url(registry.version_url(champion_version))
        if champion_version
        else "none",
        "summary": dg.MetadataValue.md(markdown),
    }
