"""evaluation_report: partition M scores the model trained on M-1 on month M's features."""


from typing import Any

import warnings

import dagster as dg
import pandas as pd


from ml_assets import checks
from ml_assets.report import render_report
from ml_assets.resources import QualityThresholds, TripSource
from ml_assets.training import evaluate_duration_model



def _months_back(start_offset: int, end_offset: int) -> dg.TimeWindowPartitionMapping:
    # The first month of a source has no previous month; allowing the missing upstream lets
    # that partition run and report "nothing to evaluate" instead of failing. The flag is
    # marked beta in Dagster 1.13 (stable behaviour since 1.5), so its notice is silenced here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=dg.BetaWarning)
        return dg.TimeWindowPartitionMapping(
            start_offset=start_offset, end_offset=end_offset, allow_nonexistent_upstream_partitions=True
        )


def build_evaluation_report(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    previous_month = _months_back(-1, -1)
    previous_and_current_month = _months_back(-1, 0)
    # A multi_asset only to mark the output skippable: the first month of a source has no
    # previous month's model, so that partition succeeds without materializing anything.
    @dg.multi_asset(
        name="evaluation_report",
        specs=[
            dg.AssetSpec(
                "evaluation_report",
                description="RMSE, MAE and R² of last month's model on this month, beside the course baseline and mean predictor.",
                partitions_def=partitions_def,
                group_name="evaluation",
                kinds={"scikitlearn", "markdown"},
                skippable=True,
                deps=[
                    dg.AssetDep("duration_model", partition_mapping=previous_month),
                    dg.AssetDep("trip_features", partition_mapping=previous_and_current_month),
                ],
            ).with_io_manager_key("report_io_manager")
        ],
        ins={
            "duration_model": dg.AssetIn(),
            "trip_features": dg.AssetIn(),
        },
        check_specs=checks.check_specs("evaluation_report", checks.EVALUATION_CHECKS),
        can_subset=True,
    )
    def evaluation_report(
        context: dg.AssetExecutionContext,
        duration_model: Any,
        trip_features: Any,
        trip_source: TripSource,
        quality_thresholds: QualityThresholds,
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
        evaluation, _ = evaluate_duration_model(duration_model, train, valid, train_month, valid_month)
        markdown = render_report(evaluation, trip_source.name)
        yield dg.MaterializeResult(
            value={**evaluation.as_dict(), "dataset": trip_source.name, "markdown": markdown},
            metadata={
                "rmse": evaluation.rmse,
                "mae": evaluation.mae,
                "r2": evaluation.r2,
                "course_baseline_rmse": evaluation.course_baseline_rmse,
                "mean_predictor_rmse": evaluation.mean_predictor_rmse,
                "train_month": train_month,
                "valid_rows": evaluation.valid_rows,
                "report": dg.MetadataValue.md(markdown),
            },
            check_results=checks.evaluation_checks(
                evaluation.rmse,
                evaluation.mean_predictor_rmse,
                evaluation.course_baseline_rmse,
                quality_thresholds.max_rmse,
            ),
        )

    return evaluation_report
