"""The ml_assets code location: one Definitions assembled from the environment's Settings."""

from __future__ import annotations

import dagster as dg

from ml_assets.assets import build_assets
from ml_assets.io_managers import ModelIOManager, ReportIOManager, TripFrameIOManager
from ml_assets.partitions import monthly_partitions
from ml_assets.resources import (
    AlertWebhook,
    ModelRegistry,
    NycFlightsSource,
    NycTaxiSource,
    QualityThresholds,
    TripSource,
    checked_mlflow_tracking,
)
from ml_assets.schedules import build_ingest_job, build_monthly_schedule
from ml_assets.sensors import build_source_change_sensor, run_failure_alert
from ml_assets.settings import Settings

MONTHLY_TRAINING_JOB = "monthly_training_job"


def build_trip_source(settings: Settings) -> TripSource:
    if settings.source == "nyc_flights":
        return NycFlightsSource()
    return NycTaxiSource(color=settings.taxi_color, url_template=settings.taxi_url_template, cache_dir=settings.cache_dir)


def build_resources(settings: Settings) -> dict:
    """Every resource, chosen for the environment in this one place."""
    # MLFLOW_TRACKING_URI, when set, is read at run time (it may hold credentials); otherwise
    # the embedded SQLite store under data/mlflow/ is used.
    if settings.mlflow_tracking_uri_from_env:
        tracking_uri_config, tracking_uri = {"env": "MLFLOW_TRACKING_URI"}, dg.EnvVar("MLFLOW_TRACKING_URI")
    else:
        tracking_uri_config = tracking_uri = settings.default_mlflow_tracking_uri
    return {
        "mlflow": checked_mlflow_tracking.configured(
            {
                "experiment_name": settings.mlflow_experiment,
                "mlflow_tracking_uri": tracking_uri_config,
                "artifact_location": settings.mlflow_artifact_location,
            }
        ),
        "model_registry": ModelRegistry(
            tracking_uri=tracking_uri,
            experiment_name=settings.mlflow_experiment,
            artifact_location=settings.mlflow_artifact_location,
            registered_model_name=settings.registered_model_name,
            min_relative_improvement=settings.champion_min_improvement,
            ui_base_url=settings.mlflow_ui_url,
        ),
        "trip_source": build_trip_source(settings),
        "quality_thresholds": QualityThresholds(max_rmse=settings.max_rmse),
        "alert_webhook": AlertWebhook(
            webhook_url=dg.EnvVar("ML_ASSETS_ALERT_WEBHOOK_URL") if settings.alert_webhook_from_env else None,
            dagster_ui_url=settings.dagster_ui_url,
        ),
        "trip_frame_io_manager": TripFrameIOManager(base_path=settings.warehouse_dir),
        "model_io_manager": ModelIOManager(base_path=settings.warehouse_dir),
        "report_io_manager": ReportIOManager(base_path=settings.reports_dir),
    }


def build_executor(settings: Settings) -> dg.ExecutorDefinition:
    return dg.in_process_executor if settings.executor == "in_process" else dg.multiprocess_executor


def build_definitions(settings: Settings) -> dg.Definitions:
    partitions_def = monthly_partitions(settings)
    ingest_job = build_ingest_job()
    return dg.Definitions(
        assets=build_assets(partitions_def, settings),
        schedules=[build_monthly_schedule(ingest_job)],
        sensors=[
            build_source_change_sensor(
                ingest_job, partitions_def, settings.sensor_lookback_months, settings.sensor_interval_s
            ),
            dg.AutomationConditionSensorDefinition(
                "ml_assets_automation",
                target=dg.AssetSelection.all(),
                default_status=dg.DefaultSensorStatus.RUNNING,
                minimum_interval_seconds=settings.automation_interval_s,
                description="Materializes features, model, evaluation and champion when their inputs' data changed.",
            ),
            run_failure_alert,
        ],
        jobs=[
            ingest_job,
            dg.define_asset_job(
                MONTHLY_TRAINING_JOB,
                selection=dg.AssetSelection.all(),
                description="Materialize one month through the whole graph: raw -> features -> model -> report.",
            )
        ],
        resources=build_resources(settings),
        executor=build_executor(settings),
    )


defs = build_definitions(Settings.from_env())
