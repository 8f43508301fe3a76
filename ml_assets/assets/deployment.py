"""champion_model: the promotion gate that moves the MLflow `champion` alias."""

import dagster as dg
import pandas as pd

from ml_assets import tracking
from ml_assets.automation import on_upstream_data_change
from ml_assets.assets.evaluation import champion_rmse_on
from ml_assets.report import shown
from ml_assets.resources import ModelRegistry, TripSource


def build_champion_model(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="champion_model",
        partitions_def=partitions_def,
        group_name="modeling",
        kinds={"mlflow"},
        io_manager_key="report_io_manager",
        automation_condition=on_upstream_data_change(),
    )
    def champion_model(
        context: dg.AssetExecutionContext,
        evaluation_report: dict,
        trip_features: pd.DataFrame,
        trip_source: TripSource,
        model_registry: ModelRegistry,
    ):
        """Moves the MLflow `champion` alias to last month's model only if it passed every blocking check and beats the champion on this month."""
        month = context.partition_key
        candidate = evaluation_report["model_version"]
        if candidate is None:
            raise dg.Failure(f"the model evaluated on {month} has no registered MLflow version; nothing to promote")
        previous_version, previous_rmse = champion_rmse_on(model_registry, trip_features)
        decision = tracking.decide_champion(
            candidate_version=candidate,
            candidate_rmse=evaluation_report["rmse"],
            checks_passed=all(evaluation_report["checks"].values()),
            champion_version=previous_version,
            champion_rmse=previous_rmse,
            min_relative_improvement=model_registry.min_relative_improvement,
        )
        if decision.promote:
            model_registry.promote(candidate)
        champion = candidate if decision.promote else previous_version
        context.log.info(decision.reason)
        markdown = (
            f"**{month}**: {'promoted' if decision.promote else 'kept'} — {decision.reason}.\n\n"
            f"Champion now: version {champion} of `{model_registry.registered_model_name}`."
        )
        return dg.MaterializeResult(
            value={
                "evaluated_month": month,
                "candidate_version": candidate,
                "candidate_rmse": evaluation_report["rmse"],
                "previous_champion_version": previous_version,
                "previous_champion_rmse": previous_rmse,
                "promoted": decision.promote,
                "champion_version": champion,
                "reason": decision.reason,
                "markdown": markdown,
            },
            metadata={
                "decision": "promoted" if decision.promote else "kept",
                "reason": decision.reason,
                "candidate_version": str(candidate),
                "candidate_rmse": shown(evaluation_report["rmse"]),
                "previous_champion_version": str(previous_version),
                "previous_champion_rmse": shown(previous_rmse) if previous_rmse is not None else "none",
                "champion_version": str(champion),
                "champion_uri": f"models:/{model_registry.registered_model_name}@{model_registry.champion_alias}",
                "champion_version_url": dg.MetadataValue.url(model_registry.version_url(champion))
                if champion
                else "none",
                "summary": dg.MetadataValue.md(markdown),
            },
        )

    return champion_model
