"""evaluation_report: partition M scores the model trained on M-1 on month M's features."""

import base64
import tempfile
import warnings
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from ml_assets import checks, tracking
from ml_assets.automation import on_upstream_data_change
from ml_assets.features import TARGET
from ml_assets.report import render_report, shown
from ml_assets.resources import ModelRegistry, QualityThresholds, TripSource
from ml_assets.training import evaluate_duration_model, model_inputs, regression_metrics


def months_back(start_offset: int, end_offset: int) -> dg.TimeWindowPartitionMapping:
    # The first month of a source has no previous month; allowing the missing upstream lets
    # that partition run and report "nothing to evaluate" instead of failing. The flag is
    # marked beta in Dagster 1.13 (stable behaviour since 1.5), so its notice is silenced here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=dg.BetaWarning)
        return dg.TimeWindowPartitionMapping(
            start_offset=start_offset, end_offset=end_offset, allow_nonexistent_upstream_partitions=True
        )


def champion_rmse_on(model_registry: ModelRegistry, features: pd.DataFrame) -> tuple[str | None, float | None]:
    champion = model_registry.champion()
    if champion is None:
        return None, None
    model = model_registry.load_version(champion.version)
    predicted = model.predict(model_inputs(features))
    return str(champion.version), regression_metrics(features[TARGET].to_numpy(), predicted)["rmse"]


def build_evaluation_report(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    previous_month = months_back(-1, -1)
    previous_and_current_month = months_back(-1, 0)

    # A multi_asset only to mark the output skippable: the first month of a source has no
    # previous month's model, so that partition succeeds without materializing anything.
    @dg.multi_asset(
        name="evaluation_report",
        specs=[
            dg.AssetSpec(
                "evaluation_report",
                description=(
                    "Last month's model scored on this month: RMSE, MAE and R² beside the course baseline, "
                    "the mean predictor and the current champion, with a plot; logged to the model's MLflow run."
                ),
                partitions_def=partitions_def,
                group_name="modeling",
                kinds={"scikitlearn", "markdown", "mlflow"},
                skippable=True,
                automation_condition=on_upstream_data_change(),
                deps=[
                    dg.AssetDep("duration_model", partition_mapping=previous_month),
                    dg.AssetDep("trip_features", partition_mapping=previous_and_current_month),
                ],
            ).with_io_manager_key("report_io_manager")
        ],
        ins={"duration_model": dg.AssetIn(), "trip_features": dg.AssetIn()},
        check_specs=checks.check_specs("evaluation_report", checks.EVALUATION_CHECKS),
        can_subset=True,
    )
    def evaluation_report(
        context: dg.AssetExecutionContext,
        duration_model: Any,
        trip_features: Any,
        trip_source: TripSource,
        quality_thresholds: QualityThresholds,
        model_registry: ModelRegistry,
    ):
        """Partition M: the model trained on M-1 scored on M (the course protocol)."""
        valid_month = context.partition_key
        if duration_model is None or not isinstance(trip_features, dict):
            context.log.info(
                f"{valid_month} is the first month of the source: there is no earlier month to train on, "
                "so there is nothing to evaluate."
            )
            return
        train_month, valid_month = sorted(trip_features)
        train: pd.DataFrame = trip_features[train_month]
        valid: pd.DataFrame = trip_features[valid_month]
        run = model_registry.training_run(train_month)
        if run is None:
            raise dg.Failure(
                f"no finished MLflow run trained the {trip_source.name} model on {train_month} in experiment "
                f"{model_registry.experiment_name!r} at {model_registry.tracking_uri}: re-materialize duration_model[{train_month}]"
            )
        evaluation, predicted = evaluate_duration_model(
            duration_model, train, valid, train_month, valid_month, train_rmse=run.data.metrics.get("train_rmse")
        )
        version = model_registry.version_for_run(run.info.run_id)
        champion_version, champion_rmse = champion_rmse_on(model_registry, valid)
        check_results = checks.evaluation_checks(
            valid_month,
            evaluation.rmse, evaluation.mean_predictor_rmse, evaluation.course_baseline_rmse, quality_thresholds.max_rmse
        )
        png = tracking.prediction_plot_png(
            valid[TARGET].to_numpy(), predicted, f"{trip_source.name}: trained {train_month}, validated {valid_month}"
        )
        markdown = render_report(
            evaluation,
            trip_source.name,
            model_version=str(version.version) if version else None,
            champion_version=champion_version,
            champion_rmse=champion_rmse,
        )
        ui_markdown = markdown + f"\n![predicted vs actual](data:image/png;base64,{base64.b64encode(png).decode()})\n"

        client = model_registry.client()
        run_id = run.info.run_id
        for key, value in {
            "val_rmse": evaluation.rmse,
            "val_mae": evaluation.mae,
            "val_r2": evaluation.r2,
            "val_course_baseline_rmse": evaluation.course_baseline_rmse,
            "val_mean_predictor_rmse": evaluation.mean_predictor_rmse,
        }.items():
            client.log_metric(run_id, key, value)
        client.set_tag(run_id, "ml_assets.validated_on", valid_month)
        client.log_text(run_id, markdown, f"evaluation/{valid_month}/report.md")
        with tempfile.TemporaryDirectory() as folder:
            plot_path = Path(folder, "predicted_vs_actual.png")
            plot_path.write_bytes(png)
            client.log_artifact(run_id, str(plot_path), f"evaluation/{valid_month}")

        yield dg.MaterializeResult(
            value={
                **evaluation.as_dict(),
                "dataset": trip_source.name,
                "mlflow_run_id": run_id,
                "model_version": str(version.version) if version else None,
                "champion_version": champion_version,
                "champion_rmse": champion_rmse,
                "checks": {r.check_name: r.passed for r in check_results},
                "markdown": markdown,
            },
            metadata={
                "rmse": shown(evaluation.rmse),
                "mae": shown(evaluation.mae),
                "r2": shown(evaluation.r2),
                "course_baseline_rmse": shown(evaluation.course_baseline_rmse),
                "mean_predictor_rmse": shown(evaluation.mean_predictor_rmse),
                "champion_rmse": shown(champion_rmse) if champion_rmse is not None else "no champion yet",
                "train_month": train_month,
                "valid_rows": evaluation.valid_rows,
                "model_version": str(version.version) if version else "unregistered",
                "mlflow_run": dg.MetadataValue.url(model_registry.run_url(run)),
                "report": dg.MetadataValue.md(ui_markdown),
            },
            check_results=check_results,
        )

    return evaluation_report

