"""evaluation_report: the model scored against its baselines, a Markdown report with a plot,
logged to the model's MLflow run.

Monthly pipelines follow the course protocol: partition M scores the model trained on M-1 on
month M. Unpartitioned pipelines compare predictors by repeated cross-validation and score the
registered model on its held-out split.
"""


import tempfile
import warnings
from pathlib import Path
from typing import Any

import dagster as dg

from ml_assets import checks
from ml_assets.automation import on_upstream_data_change, with_its_asset
from ml_assets.plan import FEATURES, MODEL, REPORT, PipelinePlan
from ml_assets.resources import MlflowTracking, ModelRegistry
from ml_assets.tasks import Evaluated, embedded_png, scoring_rows


def months_back(start_offset: int, end_offset: int) -> dg.TimeWindowPartitionMapping:
    # The first month of a source has no previous month; allowing the missing upstream lets
    # that partition run and report "nothing to evaluate" instead of failing. The flag is
    # marked beta in Dagster 1.13 (stable behaviour since 1.5), so its notice is silenced here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=dg.BetaWarning)
        return dg.TimeWindowPartitionMapping(
            start_offset=start_offset, end_offset=end_offset, allow_nonexistent_upstream_partitions=True
        )


def champion_score_on(plan: PipelinePlan, registry: ModelRegistry, rows) -> tuple[str | None, float | None]:
    """The current champion's version and its primary metric on `rows`, or (None, None)."""
    champion = registry.champion()
    if champion is None:
        return None, None
    return str(champion.version), plan.task.score(registry.load_version(champion.version), rows)


def log_to_model_run(registry: ModelRegistry, run_id: str, evaluated: Evaluated, where: str) -> None:
    client = registry.client()
    for key, value in evaluated.logged_metrics.items():
        client.log_metric(run_id, key, value)
    client.set_tag(run_id, "ml_assets.evaluated_on", where)
    client.log_text(run_id, evaluated.markdown, f"evaluation/{where}/report.md")
    with tempfile.TemporaryDirectory() as folder:
        plot = Path(folder, "evaluation.png")
        plot.write_bytes(evaluated.png)
        client.log_artifact(run_id, str(plot), f"evaluation/{where}")


def build_evaluation_report(plan: PipelinePlan) -> dg.AssetsDefinition:
    key = plan.key(REPORT)
    if plan.monthly:
        deps = [
            dg.AssetDep(plan.key(MODEL), partition_mapping=months_back(-1, -1)),
            dg.AssetDep(plan.key(FEATURES), partition_mapping=months_back(-1, 0)),
        ]
        description = (
            "Last month's model scored on this month: RMSE, MAE and R² beside the course baseline, the mean "
            "predictor and the current champion, with a plot; logged to the model's MLflow run."
        )
    else:
        deps = [dg.AssetDep(plan.key(MODEL)), dg.AssetDep(plan.key(FEATURES))]
        description = (
            "Repeated stratified cross-validation of the model against the majority class and the seed script "
            "(mean ± sd on the same folds), the registered model on its held-out split, a confusion matrix and a plot."
        )

    # A multi_asset only to mark the output skippable: the first month of a source has no
    # previous month's model, so that partition succeeds without materializing anything.
    @dg.multi_asset(
        name=f"{plan.name}_evaluation_report",
        specs=[
            dg.AssetSpec(
                key,
                description=description,
                partitions_def=plan.partitions_def,
                group_name=plan.name,
                kinds={"scikitlearn", "markdown", "mlflow"},
                skippable=True,
                automation_condition=on_upstream_data_change(),
                deps=deps,
            ).with_io_manager_key("report_io_manager")
        ],
        ins={"model": dg.AssetIn(plan.key(MODEL)), "features": dg.AssetIn(plan.key(FEATURES))},
        # automation launches the checks with the report (see with_its_asset); subsettable so the
        # first month may skip its checks along with the report
        check_specs=checks.check_specs(key, plan.task.evaluation_check_names, automation_condition=with_its_asset()),
        can_subset=True,
    )
    def evaluation_report(context: dg.AssetExecutionContext, model: Any, features: Any, mlflow_tracking: MlflowTracking):
        partition = plan.partition(context)
        if plan.monthly and (model is None or not isinstance(features, dict)):
            context.log.info(
                f"{partition} is the first month of the source: there is no earlier month to train on, "
                "so there is nothing to evaluate."
            )
            return
        registry = plan.registry(mlflow_tracking)
        trained_on = sorted(features)[0] if plan.monthly else "all"
        run = registry.training_run_for(trained_on)
        if run is None:
            raise dg.Failure(
                f"no finished MLflow run trained the {plan.name} model on {trained_on} in experiment "
                f"{registry.experiment!r}: re-materialize {plan.key(MODEL).to_user_string()}"
                + (f"[{trained_on}]" if plan.monthly else "")
            )
        version = registry.version_for_run(run.info.run_id)
        version_label = str(version.version) if version else None
        rows = scoring_rows(plan.task, features[partition] if plan.monthly else features)
        champion = champion_score_on(plan, registry, rows)
        evaluated = plan.task.evaluate(
            model, features, partition, run.data.metrics.get("train_rmse"), version_label, champion
        )
        log_to_model_run(registry, run.info.run_id, evaluated, partition or "holdout")
        yield dg.MaterializeResult(
            value={**evaluated.report, "mlflow_run_id": run.info.run_id, "markdown": evaluated.markdown},
            metadata={
                **evaluated.ui_metadata,
                "model_version": version_label or "unregistered",
                "mlflow_run": dg.MetadataValue.url(registry.run_url(run)),
                "report": dg.MetadataValue.md(embedded_png(evaluated.markdown, evaluated.png, "evaluation plot")),
            },
            # a run that selected the report without its checks (a subset picked in the UI) gets none
            check_results=[r for r in evaluated.check_results if dg.AssetCheckKey(key, r.check_name) in context.selected_asset_check_keys],
        )

    return evaluation_report
