"""The resources, executor and alert sensor every pipeline shares, chosen in one place."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field

from ml_assets.io_managers import FrameIOManager, ModelIOManager, ReportIOManager
from ml_assets.resources import AlertWebhook, MlflowTracking, ProjectStorage
from ml_assets.sensors import run_failure_alert

REPO_ROOT = Path(__file__).resolve().parents[2]


def _absolute(data_dir: str) -> str:
    """Local folders become absolute (the SQLite URI needs it); fsspec URLs stay as they are."""
    return data_dir if "://" in data_dir else str(Path(data_dir).expanduser().resolve())


def build_resources(
    data_dir: str, mlflow_ui_url: str = "http://127.0.0.1:5000", dagster_ui_url: str = "http://127.0.0.1:3000"
) -> dict[str, object]:
    """Every shared resource under one data folder.

    MLFLOW_TRACKING_URI and ML_ASSETS_ALERT_WEBHOOK_URL may hold credentials: when set they are
    passed as `dg.EnvVar`, read by the run itself, so their values never reach run config or the UI.
    """
    data_dir = _absolute(data_dir)
    tracking_uri = (
        dg.EnvVar("MLFLOW_TRACKING_URI") if os.environ.get("MLFLOW_TRACKING_URI") else f"sqlite:///{data_dir}/mlflow/mlflow.db"
    )
    webhook = dg.EnvVar("ML_ASSETS_ALERT_WEBHOOK_URL") if os.environ.get("ML_ASSETS_ALERT_WEBHOOK_URL") else None
    return {
        "storage": ProjectStorage(data_dir=data_dir),
        "mlflow_tracking": MlflowTracking(
            tracking_uri=tracking_uri, artifact_root=f"{data_dir}/mlflow/artifacts", ui_url=mlflow_ui_url
        ),
        "alert_webhook": AlertWebhook(webhook_url=webhook, dagster_ui_url=dagster_ui_url),
        "warehouse_io_manager": FrameIOManager(base_path=f"{data_dir}/warehouse"),
        "model_io_manager": ModelIOManager(base_path=f"{data_dir}/warehouse"),
        "report_io_manager": ReportIOManager(base_path=f"{data_dir}/reports"),
    }


class ProjectResources(dg.Component, dg.Model, dg.Resolvable):
    """Storage, MLflow, alerts and the executor shared by every pipeline in the code location."""

    data_dir: str | None = Field(
        default=None, description="Root of every output (a folder or fsspec URL); unset = data/ in the project."
    )
    executor: Literal["in_process", "multiprocess"] = Field(
        default="in_process",
        # a month is a chain of five steps, so one process per run beats a process per step
        # (each of those pays ~4 s of imports); multiprocess isolates steps at that cost
        description="in_process: a run's steps in one process; multiprocess: a process per step.",
    )
    mlflow_ui_url: str = Field(default="http://127.0.0.1:5000", description="Base of the MLflow links in metadata.")
    dagster_ui_url: str = Field(default="http://127.0.0.1:3000", description="Base of the run links in alerts.")

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        data_dir = self.data_dir or str(Path(context.project_root) / "data")
        return dg.Definitions(
            resources=build_resources(data_dir, self.mlflow_ui_url, self.dagster_ui_url),
            executor=dg.in_process_executor if self.executor == "in_process" else dg.multiprocess_executor,
            sensors=[run_failure_alert],
        )
