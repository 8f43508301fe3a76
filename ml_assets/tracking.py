"""Every MLflow write in ml_assets goes through this module: the `MlflowTracking` resource, each pipeline's
`ModelRegistry` (runs, models, evaluations, model cards, the backtest, the `champion` alias) and the helpers
below them (tracking URI checks, champion decisions).

MLflow keeps the runs, the registered model versions and the `champion` alias; it keeps
no history of the alias, so the `champion_model` asset's materializations are that history.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import sys
import urllib.parse
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field, PrivateAttr

from ml_assets.files import read_parquet, write_parquet
from ml_assets.processes import process_alive

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import ActiveRun, MlflowClient

SUPPORTED_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "file", "http", "https", "databricks")


class TrackingUnavailableError(RuntimeError):
    """The MLflow tracking URI is malformed or its server does not answer."""


class RegistryNameClashError(RuntimeError):
    """The registered model name is taken by another dataset or by something outside ml_assets."""


def redact_uri(uri: str) -> str:
    """The URI with any password (user:password@host) and query string masked, for messages."""
    parsed = urllib.parse.urlsplit(uri)
    if "@" not in parsed.netloc and not parsed.query:
        return uri
    netloc = parsed.netloc
    if "@" in netloc:
        credentials, host = netloc.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in credentials else f"***@{host}"
    query = "***" if parsed.query else ""
    return urllib.parse.urlunsplit((parsed.scheme, netloc, parsed.path, query, ""))


def without_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """(the URI without user:password@, user, password) for an http(s) tracking server; other URIs as they are
    (a database URL's password stays with SQLAlchemy, which masks it)."""
    parsed = urllib.parse.urlsplit(uri)
    if parsed.scheme not in ("http", "https") or "@" not in parsed.netloc:
        return uri, None, None
    credentials, host = parsed.netloc.rsplit("@", 1)
    user, _, password = credentials.partition(":")
    clean = urllib.parse.urlunsplit((parsed.scheme, host, parsed.path, parsed.query, parsed.fragment))
    return clean, urllib.parse.unquote(user) or None, urllib.parse.unquote(password) or None


# MLflow prints `View run <name> at: <tracking URI>/...` when a run ends and, on an error, puts the URI in its
# message; and it sends telemetry unless told not to (Dagster's is off in dagster.yaml). Both off for the process.
QUIET_MLFLOW = {"MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}


def quiet_mlflow() -> None:
    for name, value in QUIET_MLFLOW.items():
        os.environ.setdefault(name, value)


def check_tracking_uri(uri: str, timeout_s: float = 5.0) -> None:
    """Fail fast, naming the (redacted) URI, instead of letting MLflow retry for minutes or log nowhere."""
    scheme = urllib.parse.urlparse(uri).scheme.split("+")[0]
    if scheme not in SUPPORTED_SCHEMES:
        raise TrackingUnavailableError(
            f"MLflow tracking URI {redact_uri(uri)!r} is not usable: scheme {scheme or '(none)'!r} is not one of "
            f"{SUPPORTED_SCHEMES} (a local store is written sqlite:///path/mlflow.db)"
        )
    if scheme == "sqlite":
        prepare_sqlite_store(uri)
    if scheme in ("http", "https"):
        import requests

        shown = redact_uri(uri)
        clean, user, password = without_credentials(uri)
        try:
            auth = (user, password or "") if user else None
            requests.get(clean.rstrip("/") + "/health", timeout=timeout_s, auth=auth).raise_for_status()
        except requests.RequestException as exc:
            raise TrackingUnavailableError(
                f"MLflow tracking server {shown} does not answer at {shown.rstrip('/')}/health ({type(exc).__name__})"
            ) from None


def prepare_sqlite_store(uri: str) -> None:
    """Create the embedded store's tables under a file lock.

    MLflow creates and migrates a new SQLite store on first use; two runs doing it at once (two
    months of a backfill, say) fail with "table runs already exists" or "duplicate column". A new
    store starts as a copy of an empty one this MLflow version migrated once (`empty_store_template`):
    its migrations take seconds each time otherwise.
    """
    from filelock import FileLock
    from mlflow import MlflowClient

    database = Path(urllib.parse.urlparse(uri).path)
    database.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{database}.init-lock"):
        if not database.exists():
            template = empty_store_template()
            if template is not None:
                copy = database.with_name(f".{database.name}.{os.getpid()}.tmp")
                shutil.copyfile(template, copy)
                os.replace(copy, database)
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)  # MLflow caches the store per process
        client.search_experiments(max_results=1)
        client.search_registered_models(max_results=1)


def empty_store_template() -> Path | None:
    """An empty SQLite store at this MLflow version's schema, made once per machine and version in the cache folder
    (`ML_ASSETS_CACHE_DIR`, else ~/.cache/ml_assets). It holds no experiment: MLflow makes its Default experiment, with
    the artifact location and time of the store it opens, as for a store it creates. None when no cache folder can be
    written: the store is then created and migrated by MLflow as usual."""
    import sqlite3

    import mlflow
    from filelock import FileLock
    from mlflow import MlflowClient

    folder = Path(os.environ.get("ML_ASSETS_CACHE_DIR") or Path.home() / ".cache" / "ml_assets") / "mlflow"
    template = folder / f"empty-store-{mlflow.__version__}.db"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{template}.lock"):
            if template.exists():
                return template
            made = folder / f".{template.name}.{os.getpid()}.tmp"
            made.unlink(missing_ok=True)
            store = f"sqlite:///{made}"
            client = MlflowClient(tracking_uri=store, registry_uri=store)
            client.search_experiments(max_results=1)
            client.search_registered_models(max_results=1)
            with contextlib.closing(sqlite3.connect(made)) as connection, connection:
                connection.execute("DELETE FROM experiment_tags WHERE experiment_id = 0")
                connection.execute("DELETE FROM experiments WHERE experiment_id = 0")
            os.replace(made, template)
            return template
    except OSError:
        return None


def run_url(ui_base_url: str, experiment_id: str, run_id: str) -> str:
    return f"{ui_base_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def model_version_url(ui_base_url: str, name: str, version: str | int) -> str:
    return f"{ui_base_url.rstrip('/')}/#/models/{urllib.parse.quote(name)}/versions/{version}"


@dataclass(frozen=True)
class ChampionDecision:
    promote: bool
    reason: str


def decide_champion(
    candidate_version: str,
    candidate_score: float,
    checks_passed: bool,
    champion_version: str | None,
    champion_score: float | None,
    min_relative_improvement: float,
    metric: str = "RMSE",
    higher_is_better: bool = False,
    candidate_month: str | None = None,
    champion_month: str | None = None,
) -> ChampionDecision:
    """Promote only a checked model that beats the champion on the same rows by the tolerance.

    Lower-is-better metrics (RMSE) must fall to champion x (1 - tolerance); higher-is-better
    ones (accuracy) must rise to champion x (1 + tolerance); a tie never moves the alias.
    A monthly pipeline's candidate (the model of `candidate_month`) never replaces the model of a later month: a
    re-run of an earlier month would otherwise move the alias back to a model that learned from older months.
    """
    if not checks_passed:
        return ChampionDecision(
            False, f"version {candidate_version} failed a blocking check; the champion stays"
        )
    if candidate_month and champion_month and champion_month > candidate_month:
        return ChampionDecision(
            False,
            f"champion version {champion_version} is the model of {champion_month}, a later month than "
            f"{candidate_month}: the gate of an earlier month never moves the alias back; the champion stays",
        )
    if champion_version is None or champion_score is None:
        return ChampionDecision(
            True,
            f"no champion yet: version {candidate_version} ({metric} {candidate_score:.3f}) becomes the first",
        )
    if str(champion_version) == str(candidate_version):
        return ChampionDecision(False, f"version {candidate_version} already is the champion")
    if higher_is_better:
        needed = champion_score * (1.0 + min_relative_improvement)
        better = candidate_score > champion_score and candidate_score >= needed
        gain = 100 * (candidate_score / champion_score - 1) if champion_score else float("inf")
        bound = f">= {needed:.3f}"
    else:
        needed = champion_score * (1.0 - min_relative_improvement)
        better = candidate_score < champion_score and candidate_score <= needed
        gain = 100 * (1 - candidate_score / champion_score) if champion_score else 0.0
        bound = f"<= {needed:.3f}"
    if better:
        return ChampionDecision(
            True,
            f"version {candidate_version} {metric} {candidate_score:.3f} beats champion version {champion_version} "
            f"{metric} {champion_score:.3f} on the same rows by {gain:.2f}% (needed "
            f"{100 * min_relative_improvement:.2f}%)",
        )
    return ChampionDecision(
        False,
        f"version {candidate_version} {metric} {candidate_score:.3f} does not beat champion version {champion_version} "
        f"{metric} {champion_score:.3f} by {100 * min_relative_improvement:.2f}% (needed {bound}); the champion stays",
    )


# where a run's process lives: a dead one leaves it RUNNING
TAG_HOST, TAG_PID = "ml_assets.host", "ml_assets.pid"
TAG_ASSET = "ml_assets.asset"
TAG_PARTITION = "ml_assets.partition"
TAG_DATASET = "ml_assets.dataset"


def ensure_experiment(client, name: str, artifact_location: str | None) -> str:
    """The experiment's id, creating it with our artifact root (not MLflow's ./mlruns) if new."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location)
    except Exception:  # created concurrently by another step or run
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


_CHECKED_URIS: set[str] = set()  # tracking URIs this process has found usable


class MlflowTracking(dg.ConfigurableResource):
    """MLflow tracking and registry; the one owner of every MLflow run's life (start, FINISHED, FAILED)."""

    tracking_uri: str = Field(
        description="MLFLOW_TRACKING_URI when set (read at run time), else the embedded SQLite store."
    )
    artifact_root: str = Field(description="Where new experiments keep their artifacts.")
    ui_url: str = Field(
        default="http://127.0.0.1:5000", description="Where `mlflow ui` (or the server) is browsed."
    )

    def client(self) -> MlflowClient:
        from mlflow import MlflowClient

        if self.tracking_uri not in _CHECKED_URIS:  # once per process: a step asks for clients several times
            check_tracking_uri(self.tracking_uri)
            _CHECKED_URIS.add(self.tracking_uri)
        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    @property
    def uri(self) -> str:
        """The URI MLflow is given: without user:password@, which reach the server through MLflow's
        MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD instead, so no URI MLflow prints, logs or puts in an
        error carries them. (A process talks to one tracking server: the variables are process-wide.)"""
        quiet_mlflow()
        clean, user, password = without_credentials(self.tracking_uri)
        if user is not None:
            os.environ["MLFLOW_TRACKING_USERNAME"] = user
            os.environ["MLFLOW_TRACKING_PASSWORD"] = password or ""
        return clean

    def registry(self, experiment: str, registered_model: str, dataset: str) -> ModelRegistry:
        return ModelRegistry(self, experiment, registered_model, dataset)

    def end_runs_of(self, dagster_run_id: str, dagster_status: str) -> list[str]:
        """End (KILLED) every MLflow run of every experiment that a Dagster run, now ended with `dagster_status`, left
        RUNNING: its steps' runs and dagster-mlflow's parent run, wherever they ran. Returns the run ids ended."""
        client = self.client()
        experiments = [e.experiment_id for e in client.search_experiments()]
        ended = []
        for key in ("dagster.run_id", "dagster_run_id"):  # ml_assets' tag, dagster-mlflow's
            if not experiments:
                break
            for run in client.search_runs(
                experiments,
                filter_string=f"tags.`{key}` = '{dagster_run_id}' and attributes.status = 'RUNNING'",
                max_results=500,
            ):
                if run.info.run_id in ended:
                    continue
                client.set_tag(
                    run.info.run_id,
                    "ml_assets.ended_because",
                    f"its Dagster run {dagster_run_id} ended {dagster_status}",
                )
                client.set_terminated(run.info.run_id, "KILLED")
                ended.append(run.info.run_id)
        return ended


@contextlib.contextmanager
def fluent_mlflow_at(uri: str) -> Iterator[None]:
    """Aim MLflow's process-wide fluent API (start_run, log_model, load_model) at `uri`, then put it back.

    `mlflow.set_tracking_uri` also exports MLFLOW_TRACKING_URI (and the registry likewise) to the
    process environment; left there, the next Definitions built in this process would mistake it
    for the user's setting (and a URI with credentials would linger). Both are restored on exit.
    """
    import mlflow
    import mlflow.tracking.fluent as fluent

    saved = {
        name: os.environ.get(name)
        for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID")
    }
    # dagster-mlflow's set_experiment changes it (and the variable)
    saved_experiment = fluent._active_experiment_id
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


DAGSTER_RUNS_EXPERIMENT = "ml_assets/dagster_runs"


class DagsterRunMlflow(dg.ConfigurableResource):
    """dagster-mlflow's `mlflow_tracking` resource, made with the step's own init context: one MLflow run per Dagster
    run, in the project's `ml_assets/dagster_runs` experiment, which every model the Dagster run trains nests under.

    It is entered on first use (`parent_run_id`, called inside `ModelRegistry.training_run` with MLflow's fluent state
    aimed at this project's store), so a step that trains nothing opens no MLflow run, and an unusable tracking URI
    fails the step with the tracking resource's own message."""

    experiment_name: str = Field(
        default=DAGSTER_RUNS_EXPERIMENT, description="The MLflow experiment of the Dagster runs."
    )
    mlflow_tracking_uri: str | None = Field(
        default=None, description="Unset: the tracking resource's URI, already in force."
    )
    _context: Any = PrivateAttr(default=None)
    _stack: Any = PrivateAttr(default=None)
    _parent_run_id: str | None = PrivateAttr(default=None)

    @contextlib.contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[DagsterRunMlflow]:
        with contextlib.ExitStack() as stack:
            self._context, self._stack = context, stack
            yield self

    def parent_run_id(self, tracking: MlflowTracking) -> str:
        """The Dagster run's MLflow run in `tracking`'s store, found (by its `dagster_run_id` tag) or started by
        dagster-mlflow."""
        import mlflow

        if self._parent_run_id is None:
            ensure_experiment(
                tracking.client(), self.experiment_name, f"{tracking.artifact_root.rstrip('/')}/dagster_runs"
            )
            # dagster-mlflow's resource is marked beta in 1.13 and nothing stable does this, and it reads the init
            # context's deprecated `dagster_run` and `run_id`: silenced here only
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=dg.BetaWarning)
                warnings.filterwarnings("ignore", category=DeprecationWarning, message="InitResourceContext")
                from dagster_mlflow import mlflow_tracking

                run = self._stack.enter_context(
                    contextlib.contextmanager(mlflow_tracking.resource_fn)(self._context)
                )
            mlflow.set_tags({TAG_ASSET: "dagster_run", "dagster.job_name": run.run_name, **process_tags()})
            self._parent_run_id = mlflow.active_run().info.run_id
        return self._parent_run_id


class ModelRegistry:
    """One pipeline's experiment, registered model and `champion` alias."""

    champion_alias = "champion"

    def __init__(
        self, tracking_resource: MlflowTracking, experiment: str, registered_model: str, dataset: str
    ):
        self.mlflow, self.experiment, self.name, self.dataset = (
            tracking_resource,
            experiment,
            registered_model,
            dataset,
        )
        self._loaded: dict[str, object] = {}  # a range run scores one champion on many months: load it once
        self._references: dict[str, object] = {}  # drift references by version, likewise
        self._versions: dict[str, object] = {}  # each version's registry entry (source, run), read once
        self._months: dict[str, str | None] = {}  # the month each version is the model of
        self._experiment_id: str | None = None
        self._registered_model_checked = False

    def client(self) -> MlflowClient:
        return self.mlflow.client()

    def experiment_id(self) -> str:
        if self._experiment_id is None:  # one lookup per step, not one per month of a range
            self._experiment_id = ensure_experiment(
                self.client(), self.experiment, f"{self.mlflow.artifact_root.rstrip('/')}/{self.dataset}"
            )
        return self._experiment_id

    @contextlib.contextmanager
    def training_run(
        self, run_name: str, tags: dict[str, str], dagster_run: DagsterRunMlflow | None = None
    ) -> Iterator[ActiveRun]:
        """An MLflow run that ends FINISHED when the block completes and FAILED when it raises.

        With `dagster_run` (the `mlflow` resource, dagster-mlflow's: one MLflow run per Dagster run, found by its
        `dagster_run_id` tag, so every step and process of the Dagster run shares it), the run is nested under it.
        The parent is ended here too, FINISHED or FAILED with the training; the next training resumes it. MLflow's
        fluent API (log_model needs it) keeps one active run per process; its `with` always ends every run it started.
        """
        import mlflow

        experiment_id = self.experiment_id()
        if not self._registered_model_checked:
            self.ensure_registered_model()
            self._registered_model_checked = True
        tags = {**tags, **process_tags()}
        with fluent_mlflow_at(self.mlflow.uri):
            if dagster_run is not None:
                parent = dagster_run.parent_run_id(self.mlflow)
                if mlflow.active_run() is None:
                    mlflow.start_run(run_id=parent)  # resumed: the previous training ended it
            status = "FAILED"
            try:
                with mlflow.start_run(
                    experiment_id=experiment_id, run_name=run_name, tags=tags, nested=dagster_run is not None
                ) as run:
                    yield run
                status = "FINISHED"
            finally:
                while mlflow.active_run() is not None:  # the parent (and anything a failure left open)
                    mlflow.end_run(status=status)

    def end_orphaned_runs(
        self, dagster_run_ended: Callable[[str], bool], rerun: tuple[str, list[str]] | None = None
    ) -> list[str]:
        """End (KILLED) this experiment's runs left RUNNING by a process that died, wherever it ran: one whose Dagster
        run has ended, one of an earlier attempt of this very step (`rerun`: this Dagster run's id and the partitions
        the step trains; a step runs again only when its earlier attempt is gone, its worker lost, say), or one on this
        host whose process is gone. A version an earlier attempt registered is deleted: a month's materialization has
        one version. A run of a live process, or of a Dagster run this instance does not know, is left alone. Returns
        the run ids ended."""
        import socket

        client = self.client()
        ended = []
        for run in client.search_runs(
            [self.experiment_id()], filter_string="attributes.status = 'RUNNING'", max_results=200
        ):
            tags = run.data.tags
            pid, host = tags.get(TAG_PID), tags.get(TAG_HOST)
            dagster_run_id = tags.get("dagster.run_id") or tags.get("dagster_run_id")
            earlier_attempt = (
                rerun is not None
                and dagster_run_id == rerun[0]
                and tags.get(TAG_ASSET) == "model"
                and tags.get(TAG_PARTITION) in rerun[1]
            )
            if earlier_attempt:
                reason = (
                    f"an earlier attempt of this step of Dagster run {dagster_run_id} (its worker was lost)"
                )
                for version in client.search_model_versions(
                    f"name = '{self.name}' and run_id = '{run.info.run_id}'"
                ):
                    client.delete_model_version(self.name, version.version)
            elif dagster_run_id and dagster_run_ended(dagster_run_id):
                reason = f"its Dagster run {dagster_run_id} has ended"
            elif host == socket.gethostname() and pid and pid.isdigit() and not process_alive(int(pid)):
                reason = f"its process {pid} on {host} is gone"
            else:
                continue
            client.set_tag(run.info.run_id, "ml_assets.ended_because", reason)
            client.set_terminated(run.info.run_id, "KILLED")
            ended.append(run.info.run_id)
        return ended

    def log_trained_model(
        self,
        model,
        example: pd.DataFrame,
        rows: int,
        params: dict,
        train_metrics: dict[str, float],
        reference: pd.DataFrame,
    ):
        """Inside `training_run`: the parameters, training metrics, the model (registered as a new version, with its
        signature from `example`, a few of the `rows` it was fitted on, the input example, the ml_assets code it needs
        and its pip requirements) and the drift reference."""
        import tempfile

        import mlflow
        import mlflow.sklearn
        import pandas as pd
        from mlflow.models import infer_signature

        mlflow.log_params({**params, "training_rows": rows})
        mlflow.log_metrics({f"train_{k}": v for k, v in train_metrics.items() if v == v})
        # whole numbers logged as floats: a served row with a gap in such a column still fits the signature
        example = example.head(5)
        example = example.astype(
            {c: "float64" for c in example.columns if pd.api.types.is_integer_dtype(example[c])}
        )
        with tempfile.TemporaryDirectory() as code:
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(example, model.predict(example)),
                input_example=example,
                registered_model_name=self.name,
                code_paths=[str(stage_model_code(Path(code)))],
                pip_requirements=list(_pip_requirements()),
                # skops refuses types outside its default allow-list; these are the ones this very pipeline consists of
                skops_trusted_types=skops_types_of(model),
            )
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder, Path(self.REFERENCE_ARTIFACT).name)
            write_parquet(reference, path)
            mlflow.log_artifact(str(path), str(Path(self.REFERENCE_ARTIFACT).parent))
        return info

    def log_evaluation(
        self, run_id: str, metrics: dict[str, float], markdown: str, png: bytes, where: str
    ) -> None:
        """The evaluation of a model on `where` (a month, or the held-out split), added to the run that trained it."""
        import tempfile

        client = self.client()
        for key, value in metrics.items():
            client.log_metric(run_id, key, value)
        client.set_tag(run_id, "ml_assets.evaluated_on", where)
        client.log_text(run_id, markdown, f"evaluation/{where}/report.md")
        with tempfile.TemporaryDirectory() as folder:
            plot = Path(folder, "evaluation.png")
            plot.write_bytes(png)
            client.log_artifact(run_id, str(plot), f"evaluation/{where}")

    def log_backtest(
        self,
        pipeline: str,
        scores: list[tuple[str, str, float]],
        means: dict[str, float],
        winner: str | None,
        metric: str,
        markdown: str,
        png: bytes | None,
    ) -> str | None:
        """One MLflow run per backtest: each policy's score per month (step = month index), the means, the table and
        the plot; ended FINISHED, or FAILED if logging fails. Returns its URL."""
        import tempfile

        if not scores:
            return None
        client = self.client()
        run = client.create_run(
            self.experiment_id(),
            run_name=f"{pipeline} backtest",
            tags={TAG_ASSET: "backtest_report", TAG_DATASET: pipeline},
        )
        try:
            months = sorted({month for month, _, _ in scores})
            for month, policy, score in scores:
                client.log_metric(
                    run.info.run_id, f"backtest_{policy}_{metric}", score, step=months.index(month)
                )
            for policy, mean in means.items():
                client.log_metric(run.info.run_id, f"mean_{policy}_{metric}", mean)
            client.set_tag(run.info.run_id, "ml_assets.backtest_winner", winner or "none")
            client.log_text(run.info.run_id, markdown, "backtest/report.md")
            if png:
                with tempfile.TemporaryDirectory() as folder:
                    plot = Path(folder, "decay.png")
                    plot.write_bytes(png)
                    client.log_artifact(run.info.run_id, str(plot), "backtest")
        except Exception:
            client.set_terminated(run.info.run_id, "FAILED")
            raise
        client.set_terminated(run.info.run_id, "FINISHED")
        return self.run_url(client.get_run(run.info.run_id))

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
                self.name, tags={TAG_DATASET: self.dataset}, description=f"ml_assets model of {self.dataset}"
            )
            return
        owner = model.tags.get(TAG_DATASET)
        if owner != self.dataset:
            raise RegistryNameClashError(
                f"registered model {self.name!r} already exists in {redact_uri(self.mlflow.tracking_uri)} "
                f"for {'pipeline ' + repr(owner) if owner else 'something other than ml_assets'}, not "
                f"{self.dataset!r}; "
                "choose another name with mlflow.registered_model in the pipeline's defs.yaml"
            )

    def training_run_for(self, partition: str) -> object | None:
        """The newest finished MLflow run that trained this pipeline's model on `partition`."""
        runs = self.client().search_runs(
            [self.experiment_id()],
            filter_string=(
                f"tags.`{TAG_ASSET}` = 'model' and tags.`{TAG_PARTITION}` = '{partition}' "
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

    def version_source(self, version: str | int) -> str:
        """Where a registered version's model was logged (its identity: a version number is only unique within one
        tracking store)."""
        return self._model_version(version).source

    def _model_version(self, version: str | int):
        """The registry's entry of a version (a version's source and run never change), read once."""
        if str(version) not in self._versions:
            self._versions[str(version)] = self.client().get_model_version(self.name, str(version))
        return self._versions[str(version)]

    def version_month(self, version: str | int) -> str | None:
        """The month whose model a registered version is (its training run's partition tag); None for a table's model
        or a version logged without the tag."""
        if str(version) not in self._months:
            run_id = self._model_version(version).run_id
            month = self.client().get_run(run_id).data.tags.get(TAG_PARTITION) if run_id else None
            self._months[str(version)] = month if month and month != "all" else None
        return self._months[str(version)]

    def load_version(self, version: str | int):
        """A registered version's model, loaded once per process: a version's model never changes, and a worker's
        step process serves the evaluation, champion, backtest and predictions steps, which load the same ones.
        Keyed by the version's source (its logged model), so a store made again at the same URI loads afresh."""
        import mlflow.sklearn

        if str(version) not in self._loaded:
            key = (self.mlflow.uri, self.name, str(version), self.version_source(version))
            model = _LOADED_MODELS.pop(key, None)
            if model is None:
                saved_path = list(sys.path)
                try:
                    with fluent_mlflow_at(self.mlflow.uri):
                        model = mlflow.sklearn.load_model(f"models:/{self.name}/{version}")
                finally:
                    # MLflow puts the model's code folder (a download, deleted later) first on sys.path for good
                    sys.path[:] = saved_path
            _LOADED_MODELS[key] = model  # the newest last
            while len(_LOADED_MODELS) > LOADED_MODELS_KEPT:
                _LOADED_MODELS.pop(next(iter(_LOADED_MODELS)))
            self._loaded[str(version)] = model
        return self._loaded[str(version)]

    REFERENCE_ARTIFACT = "reference/training_sample.parquet"

    def reference_sample(self, version) -> pd.DataFrame | None:
        """The sample of training data (inputs, target, the model's predictions) logged with a
        version as its drift reference; None for a version trained before ml_assets logged one."""
        import tempfile

        from mlflow.exceptions import MlflowException

        key = str(version.version)
        if key not in self._references:
            with tempfile.TemporaryDirectory() as folder:
                try:
                    path = self.client().download_artifacts(version.run_id, self.REFERENCE_ARTIFACT, folder)
                except (MlflowException, OSError):
                    self._references[key] = None
                else:
                    self._references[key] = read_parquet(path)
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
        return run_url(self.mlflow.ui_url, run.info.experiment_id, run.info.run_id)

    def version_url(self, version: str | int) -> str:
        return model_version_url(self.mlflow.ui_url, self.name, version)

    @property
    def champion_uri(self) -> str:
        return f"models:/{self.name}@{self.champion_alias}"


# what a logged model needs of ml_assets to load and predict anywhere: the learning layer (its transformers and
# estimators are in the served Pipeline) and what that imports
MODEL_CODE = ("__init__.py", "files.py", "learning")


def stage_model_code(folder: Path) -> Path:
    """`folder`/ml_assets holding MODEL_CODE's sources (no bytecode): the model's `code_paths`, importable as
    `ml_assets.learning` wherever MLflow loads it. (The whole package is some 90 files, each one request to log and
    another to load through an MLflow server.)"""
    import ml_assets

    source, target = Path(ml_assets.__file__).parent, folder / "ml_assets"
    target.mkdir()
    for name in MODEL_CODE:
        if (source / name).is_dir():
            shutil.copytree(
                source / name, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy2(source / name, target / name)
    return target


def skops_types_of(model) -> list[str]:
    """The types skops must be told to trust to load `model`: those of its own classes, found
    by dumping it once per model structure and process (a range trains one structure many times)."""
    structure = tuple(
        sorted({f"{type(v).__module__}.{type(v).__qualname__}" for v in model.get_params(deep=True).values()})
    )
    return list(_untrusted_types(type(model), structure, model))


def _untrusted_types(model_type: type, structure: tuple[str, ...], model) -> tuple[str, ...]:
    import skops.io

    key = (model_type, structure)
    if key not in _SKOPS_TYPES:
        _SKOPS_TYPES[key] = tuple(skops.io.get_untrusted_types(data=skops.io.dumps(model)))
    return _SKOPS_TYPES[key]


_SKOPS_TYPES: dict[tuple, tuple[str, ...]] = {}

# registered versions' models kept by the process (ModelRegistry.load_version), the least recently used dropped first:
# a year of monthly champions
LOADED_MODELS_KEPT = 12
_LOADED_MODELS: dict[tuple, object] = {}


@functools.cache
def _pip_requirements() -> tuple[str, ...]:
    """The logged models' pinned requirements: read from the installed packages' metadata once per process."""
    from importlib.metadata import version

    return tuple(f"{pkg}=={version(pkg)}" for pkg in ("scikit-learn", "pandas", "numpy", "scipy"))


def process_tags() -> dict[str, str]:
    import socket

    return {TAG_HOST: socket.gethostname(), TAG_PID: str(os.getpid())}
