"""Shared resources: where outputs live, MLflow (tracking, registry, run life) and alerts.

Every pipeline uses the same resource keys; what differs per pipeline (experiment, registered
model) is passed by the pipeline to `MlflowTracking.registry`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from ml_assets import tracking

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import ActiveRun, MlflowClient


@dataclasses.dataclass(frozen=True)
class DagsterRunInfo:
    """What dagster-mlflow needs of the Dagster run a step belongs to."""

    run_id: str
    job_name: str
    log: object


class ProjectStorage(dg.ConfigurableResource):
    """The data folder (any fsspec URL): warehouse, reports, download cache and the embedded MLflow store."""

    data_dir: str = Field(description="Root of every output; ML_ASSETS_DATA_DIR, default data/ in the repo.")

    def path(self, *parts: str) -> str:
        return "/".join([self.data_dir.rstrip("/"), *parts])

    @property
    def cache_dir(self) -> str:
        return self.path("source_cache")


_CHECKED_URIS: set[str] = set()  # tracking URIs this process has found usable


class MlflowTracking(dg.ConfigurableResource):
    """MLflow tracking and registry; the one owner of every MLflow run's life (start, FINISHED, FAILED)."""

    tracking_uri: str = Field(description="MLFLOW_TRACKING_URI when set (read at run time), else the embedded SQLite store.")
    artifact_root: str = Field(description="Where new experiments keep their artifacts.")
    ui_url: str = Field(default="http://127.0.0.1:5000", description="Where `mlflow ui` (or the server) is browsed.")

    def client(self) -> MlflowClient:
        from mlflow import MlflowClient

        if self.tracking_uri not in _CHECKED_URIS:  # once per process: a step asks for clients several times
            tracking.check_tracking_uri(self.tracking_uri)
            _CHECKED_URIS.add(self.tracking_uri)
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def registry(self, experiment: str, registered_model: str, dataset: str) -> ModelRegistry:
        return ModelRegistry(self, experiment, registered_model, dataset)


@contextlib.contextmanager
def fluent_mlflow_at(uri: str) -> Iterator[None]:
    """Aim MLflow's process-wide fluent API (start_run, log_model, load_model) at `uri`, then put it back.

    `mlflow.set_tracking_uri` also exports MLFLOW_TRACKING_URI (and the registry likewise) to the
    process environment; left there, the next Definitions built in this process would mistake it
    for the user's setting (and a URI with credentials would linger). Both are restored on exit.
    """
    import mlflow
    import mlflow.tracking.fluent as fluent

    saved = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID")}
    saved_experiment = fluent._active_experiment_id  # dagster-mlflow's set_experiment changes it (and the variable)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved["MLFLOW_TRACKING_URI"])  # None unsets it
        mlflow.set_registry_uri(saved["MLFLOW_REGISTRY_URI"])
        fluent._active_experiment_id = saved_experiment
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class ModelRegistry:
    """One pipeline's experiment, registered model and `champion` alias."""

    champion_alias = "champion"

    def __init__(self, tracking_resource: MlflowTracking, experiment: str, registered_model: str, dataset: str):
        self.mlflow, self.experiment, self.name, self.dataset = tracking_resource, experiment, registered_model, dataset
        self._loaded: dict[str, object] = {}  # a range run scores one champion on many months: load it once
        self._references: dict[str, object] = {}  # drift references by version, likewise
        self._experiment_id: str | None = None
        self._registered_model_checked = False

    def client(self) -> MlflowClient:
        return self.mlflow.client()

    def experiment_id(self) -> str:
        if self._experiment_id is None:  # one lookup per step, not one per month of a range
            self._experiment_id = tracking.ensure_experiment(
                self.client(), self.experiment, f"{self.mlflow.artifact_root.rstrip('/')}/{self.dataset}"
            )
        return self._experiment_id

    @contextlib.contextmanager
    def training_run(self, run_name: str, tags: dict[str, str], dagster_run: DagsterRunInfo | None = None) -> Iterator[ActiveRun]:
        """An MLflow run that ends FINISHED when the block completes and FAILED when it raises.

        With `dagster_run`, the run is nested under one parent run per Dagster run, opened by dagster-mlflow's
        `mlflow_tracking` resource (it finds the parent by its `dagster_run_id` tag, so every step and process of
        the Dagster run shares it). The parent is ended here too, FINISHED or FAILED with the step; a later step of
        the same Dagster run resumes it. MLflow's fluent API (log_model needs it) keeps one active run per process;
        this is the only place that starts one, and its `with` always ends every run it started.
        """
        import mlflow

        experiment_id = self.experiment_id()
        if not self._registered_model_checked:
            self.ensure_registered_model()
            self._registered_model_checked = True
        with fluent_mlflow_at(self.mlflow.tracking_uri):
            parent = self._dagster_parent_run(dagster_run) if dagster_run else None
            status = "FAILED"
            try:
                with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags, nested=parent is not None) as run:
                    yield run
                status = "FINISHED"
            finally:
                while mlflow.active_run() is not None:  # the parent (and anything a failure left open)
                    mlflow.end_run(status=status)

    def _dagster_parent_run(self, dagster_run: DagsterRunInfo):
        """dagster-mlflow's MlFlow: sets the experiment, finds or starts the Dagster run's MLflow run, tags it."""
        import warnings
        from types import SimpleNamespace

        # dagster-mlflow's resource is marked beta in 1.13 and nothing stable does this; silenced here only
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=dg.BetaWarning)
            from dagster_mlflow.resources import MlFlow

            init = SimpleNamespace(
                log=dagster_run.log,
                dagster_run=SimpleNamespace(job_name=dagster_run.job_name),
                run_id=dagster_run.run_id,
                resource_config={
                    "experiment_name": self.experiment,
                    "mlflow_tracking_uri": None,  # already set (and restored after) by fluent_mlflow_at
                    "extra_tags": {tracking.TAG_DATASET: self.dataset, tracking.TAG_ASSET: "dagster_run",
                                   "dagster.job_name": dagster_run.job_name},
                },
            )
            return MlFlow(init)

    def ensure_registered_model(self) -> None:
        """Create the registered model for this dataset, or refuse a name that belongs to something else."""
        from mlflow.exceptions import MlflowException

        client = self.client()
        try:
            model = client.get_registered_model(self.name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            client.create_registered_model(
                self.name, tags={tracking.TAG_DATASET: self.dataset}, description=f"ml_assets model of {self.dataset}"
            )
            return
        owner = model.tags.get(tracking.TAG_DATASET)
        if owner != self.dataset:
            raise tracking.RegistryNameClashError(
                f"registered model {self.name!r} already exists in {tracking.redact_uri(self.mlflow.tracking_uri)} "
                f"for {'pipeline ' + repr(owner) if owner else 'something other than ml_assets'}, not {self.dataset!r}; "
                "choose another name with mlflow.registered_model in the pipeline's defs.yaml"
            )

    def training_run_for(self, partition: str) -> object | None:
        """The newest finished MLflow run that trained this pipeline's model on `partition`."""
        runs = self.client().search_runs(
            [self.experiment_id()],
            filter_string=(
                f"tags.`{tracking.TAG_ASSET}` = 'model' and tags.`{tracking.TAG_PARTITION}` = '{partition}' "
                "and attributes.status = 'FINISHED'"
            ),
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        return runs[0] if runs else None

    def version_for_run(self, run_id: str):
        versions = self.client().search_model_versions(f"name = '{self.name}' and run_id = '{run_id}'")
        return max(versions, key=lambda v: int(v.version)) if versions else None

    def champion(self):
        """The version holding the champion alias, or None (first run, or no model registered yet)."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client().get_model_version_by_alias(self.name, self.champion_alias)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise

    def load_version(self, version: str | int):
        import mlflow.sklearn

        if str(version) not in self._loaded:
            with fluent_mlflow_at(self.mlflow.tracking_uri):
                self._loaded[str(version)] = mlflow.sklearn.load_model(f"models:/{self.name}/{version}")
        return self._loaded[str(version)]

    REFERENCE_ARTIFACT = "reference/training_sample.parquet"

    def reference_sample(self, version) -> pd.DataFrame | None:
        """The sample of training data (inputs, target, the model's predictions) logged with a
        version as its drift reference; None for a version trained before ml_assets logged one."""
        import tempfile

        import pandas as pd
        from mlflow.exceptions import MlflowException

        key = str(version.version)
        if key not in self._references:
            with tempfile.TemporaryDirectory() as folder:
                try:
                    path = self.client().download_artifacts(version.run_id, self.REFERENCE_ARTIFACT, folder)
                except (MlflowException, OSError):
                    self._references[key] = None
                else:
                    self._references[key] = pd.read_parquet(path)
        return self._references[key]

    def set_model_card(self, version: str | int, markdown: str) -> None:
        """The version's description in the MLflow registry is its model card."""
        self.client().update_model_version(self.name, str(version), description=markdown)

    def add_to_model_card(self, version: str | int, heading: str, markdown: str) -> None:
        """Put a `## heading` section into the version's card, replacing an earlier one of that heading."""
        card = self.client().get_model_version(self.name, str(version)).description or ""
        marker = f"\n## {heading}\n"
        if marker in card:
            before, _, after = card.partition(marker)
            rest = after.split("\n## ", 1)
            card = before + ("\n## " + rest[1] if len(rest) > 1 else "")
        self.set_model_card(version, card.rstrip("\n") + f"\n{marker}\n{markdown.strip()}\n")

    def promote(self, version: str | int) -> None:
        self.client().set_registered_model_alias(self.name, self.champion_alias, str(version))

    def run_url(self, run) -> str:
        return tracking.run_url(self.mlflow.ui_url, run.info.experiment_id, run.info.run_id)

    def version_url(self, version: str | int) -> str:
        return tracking.model_version_url(self.mlflow.ui_url, self.name, version)

    @property
    def champion_uri(self) -> str:
        return f"models:/{self.name}@{self.champion_alias}"


class AlertWebhook(dg.ConfigurableResource):
    """Where run-failure alerts go: a Slack-compatible incoming-webhook URL, or nowhere."""

    webhook_url: str | None = Field(default=None, description="ML_ASSETS_ALERT_WEBHOOK_URL; unset = log only.")
    dagster_ui_url: str = Field(default="http://127.0.0.1:3000", description="Base of the run links.")
    timeout_s: float = 10.0

    def post(self, payload: dict) -> None:
        import requests

        try:
            requests.post(self.webhook_url, json=payload, timeout=self.timeout_s).raise_for_status()
        except requests.RequestException as exc:  # the URL is a secret: never put it in the message
            raise RuntimeError(f"the alert webhook did not accept the alert ({type(exc).__name__})") from None
