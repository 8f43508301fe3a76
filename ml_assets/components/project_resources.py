"""The resources, executor and alert sensor every pipeline shares, chosen in one place."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field

from ml_assets.orchestration.alerts import AlertWebhook
from ml_assets.orchestration.compute import StepCompute
from ml_assets.orchestration.sensors import failed_run_cleanup, run_failure_alert
from ml_assets.storage import ProjectStorage
from ml_assets.storage.io_managers import FrameIOManager, ModelIOManager, ReportIOManager
from ml_assets.tracking import DagsterRunMlflow, MlflowTracking

REPO_ROOT = Path(__file__).resolve().parents[2]


def _absolute(data_dir: str) -> str:
    """Local folders become absolute (the SQLite URI needs it); fsspec URLs stay as they are."""
    return data_dir if "://" in data_dir else str(Path(data_dir).expanduser().resolve())


def build_resources(
    data_dir: str,
    mlflow_ui_url: str = "http://127.0.0.1:5000",
    dagster_ui_url: str = "http://127.0.0.1:3000",
    mlflow_artifact_root: str | None = None,
    native_threads: int = 1,
    parallel_fits: int = 2,
) -> dict[str, object]:
    """Every shared resource under one data folder (a local folder, or s3://... through s3fs).

    MLFLOW_TRACKING_URI and ML_ASSETS_ALERT_WEBHOOK_URL may hold credentials: when set they are
    passed as `dg.EnvVar`, read by the run itself, so their values never reach run config or the UI.
    S3 credentials and endpoint are never configured here: s3fs reads AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY and AWS_ENDPOINT_URL from the environment of whichever process writes.
    """
    data_dir = _absolute(data_dir)
    tracking_uri = (
        dg.EnvVar("MLFLOW_TRACKING_URI")
        if os.environ.get("MLFLOW_TRACKING_URI")
        else f"sqlite:///{data_dir}/mlflow/mlflow.db"
    )
    webhook = (
        dg.EnvVar("ML_ASSETS_ALERT_WEBHOOK_URL") if os.environ.get("ML_ASSETS_ALERT_WEBHOOK_URL") else None
    )
    storage = ProjectStorage(data_dir=data_dir)
    mlflow_tracking = MlflowTracking(
        tracking_uri=tracking_uri,
        artifact_root=mlflow_artifact_root or f"{data_dir}/mlflow/artifacts",
        ui_url=mlflow_ui_url,
    )
    return {
        "storage": storage,
        "mlflow_tracking": mlflow_tracking,
        "mlflow": DagsterRunMlflow(),  # dagster-mlflow's resource: one MLflow run per Dagster run
        "alert_webhook": AlertWebhook(webhook_url=webhook, dagster_ui_url=dagster_ui_url),
        "compute": StepCompute(native_threads=native_threads, parallel_fits=parallel_fits),
        "warehouse_io_manager": FrameIOManager(base_path=f"{data_dir}/warehouse"),
        "model_io_manager": ModelIOManager(base_path=f"{data_dir}/warehouse"),
        # where storage.stored_report reads
        "report_io_manager": ReportIOManager(base_path=storage.reports_dir),
    }


class ProjectResources(dg.Component, dg.Model, dg.Resolvable):
    """Storage, MLflow, alerts and the executor shared by every pipeline in the code location."""

    deployment: Literal["local", "production"] = Field(
        default="local",
        description=(
            "local: a folder, the embedded MLflow store, steps in the run's process. production: outputs on "
            "S3 (data_dir s3://...), the MLflow server at MLFLOW_TRACKING_URI with its proxied artifact store, "
            "steps on Celery workers (deploy/production/ has the instance config)."
        ),
    )
    data_dir: str | None = Field(
        default=None,
        description="Root of every output (a folder or fsspec URL); unset = data/ in the project.",
    )
    executor: Literal["in_process", "multiprocess"] = Field(
        default="in_process",
        # a month is a chain of five steps, so one process per run beats a process per step
        # (each of those pays ~4 s of imports); multiprocess isolates steps at that cost
        description="in_process: a run's steps in one process; multiprocess: a process per step.",
    )
    mlflow_ui_url: str = Field(
        default="http://127.0.0.1:5000", description="Base of the MLflow links in metadata."
    )
    dagster_ui_url: str = Field(
        default="http://127.0.0.1:3000", description="Base of the run links in alerts."
    )
    native_threads: int = Field(
        default=1,
        description=(
            "OpenMP/BLAS threads per fit. Dagster runs steps side by side, and more threads than free CPUs make "
            "boosted trees spin (up to 16x slower on a busy 2-CPU machine): see orchestration/compute.py."
        ),
    )
    parallel_fits: int = Field(
        default=2,
        description=(
            "Models a step fits at once, a thread each with native_threads (a monthly range's models, the walk-forward "
            "fits, the months it scores; a table's cross-validation folds in processes): see orchestration/compute.py."
        ),
    )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        if self.native_threads < 1:
            raise ValueError(
                "native_threads (ML_ASSETS_NATIVE_THREADS) must be a whole number of threads, 1 or more: "
                f"not {self.native_threads}"
            )
        if self.parallel_fits < 1:
            raise ValueError(
                "parallel_fits (ML_ASSETS_PARALLEL_FITS) must be a whole number of fits at once, 1 or "
                f"more: not {self.parallel_fits}"
            )
        if self.deployment == "production":
            return self._production()
        data_dir = self.data_dir or str(Path(context.project_root) / "data")
        return dg.Definitions(
            resources=build_resources(
                data_dir,
                self.mlflow_ui_url,
                self.dagster_ui_url,
                native_threads=self.native_threads,
                parallel_fits=self.parallel_fits,
            ),
            executor=dg.in_process_executor if self.executor == "in_process" else dg.multiprocess_executor,
            sensors=[run_failure_alert, failed_run_cleanup],
        )

    def _production(self) -> dg.Definitions:
        from ml_assets.orchestration.celery import watched_celery_executor

        if not (self.data_dir or "").startswith("s3://"):
            raise ValueError(
                f"deployment production keeps outputs where every worker sees them: ML_ASSETS_DATA_DIR must be an "
                f"s3:// URL, not {self.data_dir!r}"
            )
        if not os.environ.get("MLFLOW_TRACKING_URI"):
            raise ValueError(
                "deployment production needs MLFLOW_TRACKING_URI: the MLflow server every worker logs to"
            )
        # the server stores artifacts where its --artifacts-destination says (S3); clients never need that bucket
        resources = build_resources(
            self.data_dir,
            self.mlflow_ui_url,
            self.dagster_ui_url,
            "mlflow-artifacts:/ml_assets",
            self.native_threads,
            self.parallel_fits,
        )
        return dg.Definitions(
            resources=resources,
            executor=watched_celery_executor(),
            sensors=[run_failure_alert, failed_run_cleanup],
        )
