"""model: a scikit-learn Pipeline trained on the pipeline's data, tracked and registered in MLflow."""

# No `from __future__ import annotations` here: Dagster reads the asset's `config: ModelConfig` annotation.

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from pydantic import Field

from ml_assets import monitoring, tracking
from ml_assets.learning.score_cache import frame_fingerprint
from ml_assets.monitoring import WindowChoice
from ml_assets.months import month_span
from ml_assets.orchestration.assets.ranges import StepOutput, materialized, months_of, training_months
from ml_assets.orchestration.automation import on_drift_alarm, on_upstream_data_change
from ml_assets.orchestration.compute import StepCompute
from ml_assets.orchestration.plan import DRIFT_ALARM, FEATURES, MODEL, PipelinePlan
from ml_assets.storage import ProjectStorage
from ml_assets.storage.fencing import refuse_unless_running
from ml_assets.storage.io_managers import missing_partition_message
from ml_assets.tasks.results import Trained
from ml_assets.tasks.walk_forward import WalkForwardScores, concat_months
from ml_assets.tracking import DagsterRunMlflow, MlflowTracking, ModelRegistry

MODEL_CODE_VERSION = "ml-assets-model-v3"


class ModelConfig(dg.Config):
    """Launch-time overrides of the YAML (unset = the pipeline's defs.yaml)."""

    random_state: int | None = Field(default=None, description="Seed of the estimator and nothing else.")


def dagster_run_ended(instance: dg.DagsterInstance, run_id: str) -> bool:
    """Whether this instance knows the Dagster run and it is over (a run it does not know is not judged)."""
    run = instance.get_run_by_id(run_id)
    return run is not None and run.is_finished


def training_window_input(plan: PipelinePlan) -> dg.AssetIn:
    """The features the model of month M reads: M's; with `training_window: N` the N months up to M; with
    `training_window: backtest` also the months before M its candidate windows are compared on (months before the
    pipeline's first do not exist; a month not materialized is left out and the model says so)."""
    if not plan.monthly or plan.months_read_by_model == 1:
        return dg.AssetIn(key=plan.key(FEATURES))
    return dg.AssetIn(
        key=plan.key(FEATURES),
        partition_mapping=dg.TimeWindowPartitionMapping(
            start_offset=1 - plan.months_read_by_model, allow_nonexistent_upstream_partitions=True
        ),
        metadata={"allow_missing_partitions": True},
    )


def build_model(plan: PipelinePlan) -> dg.AssetsDefinition:
    retrain_on_drift = plan.monthly and plan.monitoring.retrain == "on_drift"
    automation = on_drift_alarm(plan.key(DRIFT_ALARM)) if retrain_on_drift else on_upstream_data_change()

    @dg.asset(
        key=plan.key(MODEL),
        description=(
            f"A scikit-learn Pipeline ({plan.task.kind}) trained on "
            f"{'this month' if plan.monthly else 'the training split'}; an MLflow run and a new registered version."
        ),
        ins={"features": training_window_input(plan)},
        deps=[plan.key(DRIFT_ALARM)] if retrain_on_drift else None,
        partitions_def=plan.partitions_def,
        group_name=plan.name,
        kinds={"scikitlearn", "mlflow"},
        io_manager_key="model_io_manager",
        code_version=MODEL_CODE_VERSION,
        automation_condition=automation,
        backfill_policy=plan.backfill_policy,
    )
    def model(
        context: dg.AssetExecutionContext,
        config: ModelConfig,
        features,
        mlflow_tracking: MlflowTracking,
        storage: ProjectStorage,
        compute: StepCompute,  # the step's native threads and fits at once (orchestration/compute.py)
        mlflow: DagsterRunMlflow,  # dagster-mlflow's: the Dagster run's MLflow run, each model's parent
    ):
        """One model per month of the range (or one for the table)."""
        output, partitions = StepOutput(), list(months_of(plan, context))
        registry = plan.registry(mlflow_tracking)
        training = Training(
            plan, registry, mlflow, context.run.run_id, features, config.random_state, compute
        )
        end_lost_attempts(context, training.registry, partitions)
        ready = months_with_features(plan, partitions, features, output, context.log)
        # a month's model is its window's walk-forward fit, fitted once (learning/score_cache.py)
        if plan.monthly:
            training.scores = WalkForwardScores(
                plan.task, features, config.random_state, storage.scores(plan.name), compute.map
            )
        training.windows, training.choices = training_windows(training, ready, context.log)
        trained = train_months(training, ready)
        if training.scores:
            context.log.info(f"the months' models: {training.scores.summary()}")
        for partition, (fingerprint, fitted, reference) in zip(ready, trained, strict=True):
            what = f"the model of {partition or 'the table'} (a registered version)"
            refuse_unless_running(context.instance, context.run.run_id, what)
            output.add(
                partition, fitted.model, registered(training, partition, fingerprint, fitted, reference)
            )
        return materialized(plan, context, output)

    return model


@dataclass
class Training:
    """What a model step trains with: the pipeline, its registry and the Dagster run's MLflow run, the features (a
    table's are cut down to its training rows as the model is fitted), the seed, the step's compute, and (monthly)
    the walk-forward fits and each month's window."""

    plan: PipelinePlan
    registry: ModelRegistry
    dagster_run: DagsterRunMlflow
    run_id: str
    features: Any
    random_state: int | None
    compute: StepCompute
    scores: WalkForwardScores | None = None
    windows: dict[str | None, list[str]] = field(default_factory=dict)
    choices: dict[str, WindowChoice] = field(default_factory=dict)

    def rows_of(self, partition: str | None):
        return concat_months(self.features, self.windows[partition]) if self.plan.monthly else self.features


def end_lost_attempts(context: dg.AssetExecutionContext, registry: ModelRegistry, partitions: list) -> None:
    """MLflow runs left RUNNING by a dead process, this step's lost earlier attempt's included, ended KILLED."""
    ended = registry.end_orphaned_runs(
        lambda run_id: dagster_run_ended(context.instance, run_id),
        rerun=(context.run.run_id, [p or "all" for p in partitions]),
    )
    if ended:
        context.log.warning(
            f"ended {len(ended)} MLflow run(s) a dead process had left RUNNING (KILLED): {', '.join(ended)}"
        )


def months_with_features(plan: PipelinePlan, partitions: list, features, output: StepOutput, log) -> list:
    """The months whose own features exist, to train on; a month without them is stored awaiting them (or, when the
    model reads that month alone, the step fails naming it)."""
    ready = []
    for partition in partitions:
        if not plan.monthly or partition in features:
            ready.append(partition)
            continue
        if plan.months_read_by_model == 1:
            message = missing_partition_message(plan.key(FEATURES), partition, f"the model of {partition}")
            raise dg.Failure(message, allow_retries=False)
        # a backfill by partition names also targets the months after its range whose window reaches back into
        # it: with no rows of their own they train nothing (no MLflow run, no version) until their month arrives
        log.info(f"{partition}'s own features are not materialized: its model awaits them")
        output.add(partition, None, {"status": f"awaiting {partition}'s features: not trained"})
    return ready


def training_windows(
    training: Training, ready: list, log
) -> tuple[dict[str | None, list[str]], dict[str, WindowChoice]]:
    """Each month's training window (the declared one, or with `training_window: backtest` the one chosen for it) and
    the choices made."""
    plan, features, scores = training.plan, training.features, training.scores
    choices: dict[str, WindowChoice] = {}
    if plan.chooses_window:
        # every window the range's choices compare, fitted side by side; the chosen one is the month's model itself
        scores.prefetch(
            lambda score: [choose_window(plan, partition, features, score) for partition in ready]
        )
        for partition in ready:
            choices[partition] = choose_window(plan, partition, features, scores.score)
            log.info(
                f"{partition}: training window {choices[partition].window} month(s): {choices[partition].reason}"
            )
        log.info(f"walk-forward scores for the window choice: {scores.summary()}")
    windows = {
        partition: training_months(
            plan, partition, features, choices[partition].window if partition in choices else None
        )
        if plan.monthly
        else []
        for partition in ready
    }
    return windows, choices


def train_months(training: Training, ready: list) -> list[tuple[str, Trained, Any]]:
    """The months' models side by side (each is logged and registered afterwards, in month order: MLflow's many small
    writes would wait on the fitting threads for the GIL): for each month its rows' fingerprint, the trained model and
    its drift reference. A failed training gets its MLflow run, ended FAILED with the error."""
    plan, sample = training.plan, training.plan.monitoring.drift.reference_rows

    def fit(partition: str | None):
        rows = training.rows_of(partition)
        fingerprint = frame_fingerprint(rows)  # of every row, as the features' data version
        try:
            prefit = training.scores.fit_for(training.windows[partition]) if training.scores else None
            # training metrics on the drift reference's rows (a seeded sample, scored once), not every row again;
            # a table's features (read from the store for this step alone, held by Dagster all along) are cut down
            # to the training rows, not copied
            trained = plan.task.train(
                rows, training.random_state, prefit=prefit, metric_rows=sample, consume=not plan.monthly
            )
            reference = trained.measured
        except Exception as exc:
            raise TrainingFailedError(partition, exc, fingerprint) from exc
        return fingerprint, trained, reference

    try:
        return list(training.compute.map(fit, ready))
    except TrainingFailedError as failed:
        tags = run_tags(plan, training.run_id, failed.partition, failed.fingerprint)
        with training.registry.training_run(run_name(plan, failed.partition), tags, training.dagster_run):
            raise failed.error from None


def run_name(plan: PipelinePlan, partition: str | None) -> str:
    return f"{plan.name} model {partition or ''}".strip()


def run_tags(plan: PipelinePlan, run_id: str, partition: str | None, fingerprint: str) -> dict[str, str]:
    return {
        tracking.TAG_ASSET: MODEL,
        tracking.TAG_PARTITION: partition or "all",
        tracking.TAG_DATASET: plan.name,
        "dagster.run_id": run_id,
        "dagster.asset_key": plan.key(MODEL).to_user_string(),
        "dagster.partition_key": partition or "",
        "dagster.code_version": MODEL_CODE_VERSION,
        "dagster.input.features.data_version": fingerprint,
    }


def registered(
    training: Training, partition: str | None, fingerprint: str, trained: Trained, reference
) -> dict:
    """The trained model logged to an MLflow run of its own and registered as a new version with its model card; the
    month's metadata."""
    plan, registry = training.plan, training.registry
    window, choice = training.windows[partition], training.choices.get(partition)
    params = {
        **trained.params,
        "pipeline": plan.name,
        "partition": partition or "all",
        **({"training_months": ", ".join(window)} if len(window) > 1 else {}),
        **({"training_window": choice.window, "training_window_reason": choice.reason} if choice else {}),
    }
    tags = run_tags(plan, training.run_id, partition, fingerprint)
    try:
        with registry.training_run(run_name(plan, partition), tags, training.dagster_run) as run:
            info = registry.log_trained_model(
                trained.model, trained.example, trained.rows, params, trained.train_metrics, reference
            )
    except tracking.RegistryNameClashError as exc:
        raise dg.Failure(str(exc), allow_retries=False) from exc
    version = info.registered_model_version
    registry.set_model_card(version, model_card(plan, registry, str(version), partition, window, trained))
    return {
        **({"train_month": partition} if partition else {}),
        **({"training_window_months": choice.window} if choice else {}),
        **({"training_window_reason": dg.MetadataValue.md(choice.reason)} if choice else {}),
        **({"training_months": ", ".join(window)} if plan.monthly and plan.months_read_by_model > 1 else {}),
        **trained.metadata,
        "hyperparameters": dg.MetadataValue.json(trained.params),
        "mlflow_run_id": run.info.run_id,
        "mlflow_run": dg.MetadataValue.url(registry.run_url(run)),
        "registered_model": registry.name,
        "model_version": str(version),
        "model_version_url": dg.MetadataValue.url(registry.version_url(version)),
        "pipeline": dg.MetadataValue.md(f"```\n{trained.model}\n```"),
    }


def model_card(
    plan: PipelinePlan,
    registry: ModelRegistry,
    version: str,
    partition: str | None,
    window: list[str],
    trained: Trained,
) -> str:
    learned_from = f"the months {month_span(window, count=True)}" if len(window) > 1 else partition
    return monitoring.model_card(
        registry.name,
        version,
        plan.name,
        plan.task.kind,
        partition or "the table's training split",
        trained.rows,
        list(trained.example.columns),
        trained.train_metrics,
        limitations=plan.task.limitations(learned_from),
    )


class TrainingFailedError(Exception):
    """A month's model could not be trained: which month, and the error."""

    def __init__(self, partition: str | None, error: Exception, fingerprint: str):
        super().__init__(f"training the model of {partition or 'the table'} failed: {error}")
        self.partition, self.error, self.fingerprint = partition, error, fingerprint


def choose_window(
    plan: PipelinePlan, month: str, features: dict, score: Callable[[list[str], str], float]
) -> WindowChoice:
    """`training_window: backtest`: the candidate window scored best on the months with data before `month`."""
    before = [m for m in sorted(features) if m < month]
    return monitoring.choose_window(
        before,
        plan.monitoring.backtest_windows,
        plan.window_evidence_months,
        score,
        plan.task.higher_is_better,
        plan.task.primary_metric,
    )
