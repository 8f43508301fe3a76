"""trip_features: cleaned trips plus model features, with a count of what each rule dropped."""


import dagster as dg
import pandas as pd

from ml_assets import checks
from ml_assets.automation import on_upstream_data_change
from ml_assets.features import build_trip_features
from ml_assets.report import shown
from ml_assets.resources import QualityThresholds, TripSource


def build_trip_features_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="trip_features",
        partitions_def=partitions_def,
        group_name="trip_data",
        kinds={"pandas", "parquet"},
        io_manager_key="trip_frame_io_manager",
        check_specs=checks.check_specs("trip_features", checks.FEATURE_CHECKS),
        automation_condition=on_upstream_data_change(),
    )
    def trip_features(
        context: dg.AssetExecutionContext,
        raw_trips: pd.DataFrame,
        trip_source: TripSource,
        quality_thresholds: QualityThresholds,
    ):
        """Cleaned trips with the target (minutes) and features: route, distance, time of day and week."""
        month = context.partition_key
        bounds = trip_source.duration_bounds
        features, dropped = build_trip_features(raw_trips, month, bounds, trip_source.day_of_week_feature)
        retention = len(features) / len(raw_trips) if len(raw_trips) else 0.0
        return dg.MaterializeResult(
            value=features,
            metadata={
                "rows_in": len(raw_trips),
                "rows_out": len(features),
                "retention_ratio": shown(retention),
                **{f"dropped_{rule}": count for rule, count in dropped.items()},
                "feature_columns": ", ".join(c for c in features.columns if c != "duration_min"),
            },
            check_results=checks.feature_checks(
                features, month, len(raw_trips), bounds, quality_thresholds.min_retention_ratio
            ),
        )

    return trip_features
