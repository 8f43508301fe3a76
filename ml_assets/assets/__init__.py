"""The monthly asset graph: raw_trips -> trip_features -> duration_model -> evaluation_report -> champion_model."""

from __future__ import annotations

import dagster as dg

from ml_assets.assets.deployment import build_champion_model
from ml_assets.assets.evaluation import build_evaluation_report
from ml_assets.assets.features import build_trip_features_asset
from ml_assets.assets.ingestion import build_raw_trips
from ml_assets.assets.training import build_duration_model
from ml_assets.settings import Settings


def build_assets(partitions_def: dg.PartitionsDefinition, settings: Settings) -> list[dg.AssetsDefinition]:
    return [
        build_raw_trips(partitions_def, settings),
        build_trip_features_asset(partitions_def),
        build_duration_model(partitions_def),
        build_evaluation_report(partitions_def),
        build_champion_model(partitions_def),
    ]
