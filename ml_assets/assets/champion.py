"""champion_model: the promotion gate that moves the MLflow `champion` alias."""


from typing import Any

import dagster as dg

from ml_assets import tracking
from ml_assets.assets.evaluation import champion_score_on
from ml_assets.automation import on_upstream_data_change
from ml_assets.plan import CHAMPION, FEATURES, REPORT, PipelinePlan
from ml_assets.report import shown
from ml_assets.resources import MlflowTracking
from ml_assets.tasks import scoring_rows


def build_champion_model(plan: PipelinePlan) -> dg.AssetsDefinition:
    metric, higher_is_better = plan.task.primary_metric, plan.task.higher_is_better

    @dg.asset(
        key=plan.key(CHAMPION),
        description=(
            f"Moves the MLflow `champion` alias to the evaluated model only if it passed every blocking check and "
            f"beats the current champion's {metric} on the same rows; its materializations are the audit trail."
        ),
        ins={"evaluation_report": dg.AssetIn(plan.key(REPORT)), "features": dg.AssetIn(plan.key(FEATURES))},
        partitions_def=plan.partitions_def,
        group_name=plan.name,
        kinds={"mlflow"},
        io_manager_key="report_io_manager",
        automation_condition=on_upstream_data_change(),
    )
    def champion_model(
        context: dg.AssetExecutionContext, evaluation_report: dict, features: Any, mlflow_tracking: MlflowTracking
    ):
        partition = plan.partition(context)
        registry = plan.registry(mlflow_tracking)
        candidate = evaluation_report["model_version"]
        if candidate is None:
            raise dg.Failure(f"the model evaluated on {partition or 'the held-out split'} has no registered MLflow version")
        previous_version, previous_score = champion_score_on(plan, registry, scoring_rows(plan.task, features))
        decision = tracking.decide_champion(
            candidate_version=candidate,
            candidate_score=evaluation_report["score"],
            checks_passed=all(evaluation_report["checks"].values()),
            champion_version=previous_version,
            champion_score=previous_score,
            min_relative_improvement=plan.champion_min_improvement,
            metric=metric.upper() if metric == "rmse" else metric,
            higher_is_better=higher_is_better,
        )
        if decision.promote:
            registry.promote(candidate)
        champion = candidate if decision.promote else previous_version
        context.log.info(decision.reason)
        where = partition or "the held-out split"
        markdown = (
            f"**{where}**: {'promoted' if decision.promote else 'kept'} — {decision.reason}.\n\n"
            f"Champion now: version {champion} of `{registry.name}`."
        )
        return dg.MaterializeResult(
            value={
                "pipeline": plan.name,
                "evaluated_on": partition or "holdout",
                "metric": metric,
                "candidate_version": candidate,
                "candidate_score": evaluation_report["score"],
                "previous_champion_version": previous_version,
                "previous_champion_score": previous_score,
                "promoted": decision.promote,
                "champion_version": champion,
                "reason": decision.reason,
                "markdown": markdown,
            },
            metadata={
                "decision": "promoted" if decision.promote else "kept",
                "reason": decision.reason,
                "candidate_version": str(candidate),
                f"candidate_{metric}": shown(evaluation_report["score"]),
                "previous_champion_version": str(previous_version),
                f"previous_champion_{metric}": shown(previous_score) if previous_score is not None else "none",
                "champion_version": str(champion),
                "champion_uri": registry.champion_uri,
                "champion_version_url": dg.MetadataValue.url(registry.version_url(champion)) if champion else "none",
                "summary": dg.MetadataValue.md(markdown),
            },
        )

    return champion_model
