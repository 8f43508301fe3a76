"""model: a scikit-learn Pipeline trained on the pipeline's data, tracked and registered in MLflow."""

# No `from __future__ import annotations` here: Dagster reads the asset's `config: ModelConfig` annotation.

from collections.abc import Callable
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
from ml_assets.tasks.modeling import reference_sample
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
        automation_condition=on_drift_alarm(plan.key(DRIFT_ALARM))
        if retrain_on_drift
        else on_upstream_data_change(),
        backfill_policy=plan.backfill_policy,
    )
    def model(
        context: dg.AssetExecutionContext,
        config: ModelConfig,
        features,
        mlflow_tracking: MlflowTracking,
        storage: ProjectStorage,
        compute: StepCompute,  # the step's native threads and fits at once (orchestration/compute.py)
        # dagster-mlflow's resource: the Dagster run's MLflow run, which each model nests under
        mlflow: DagsterRunMlflow,
    ):
        """One model per month of the range (or one for the table)."""
        registry = plan.registry(mlflow_tracking)
        partitions = list(months_of(plan, context))
        ended = registry.end_orphaned_runs(
            lambda run_id: dagster_run_ended(context.instance, run_id),
            rerun=(context.run.run_id, [p or "all" for p in partitions]),
        )
        if ended:
            context.log.warning(
                f"ended {len(ended)} MLflow run(s) a dead process had left RUNNING (KILLED): {', '.join(ended)}"
            )
        output, ready = StepOutput(), []
        for partition in partitions:
            if plan.monthly and partition not in features:
                if plan.months_read_by_model == 1:
                    raise dg.Failure(
                        missing_partition_message(plan.key(FEATURES), partition, f"the model of {partition}"),
                        allow_retries=False,
                    )
                # a backfill by partition names also targets the months after its range whose window reaches back into
                # it: with no rows of their own they train nothing (no MLflow run, no version) until their month arrives
                context.log.info(f"{partition}'s own features are not materialized: its model awaits them")
                output.add(partition, None, {"status": f"awaiting {partition}'s features: not trained"})
            else:
                ready.append(partition)
        # a month's model is the walk-forward fit of its window: fitted once, kept in the score cache (score_cache.py)
        scores = (
            WalkForwardScores(
                plan.task, features, config.random_state, storage.scores(plan.name), compute.map
            )
            if plan.monthly
            else None
        )
        windows, choices = training_windows(plan, ready, features, scores, context.log)
        trained = train_months(
            plan,
            registry,
            mlflow,
            context.run.run_id,
            ready,
            windows,
            features,
            scores,
            config.random_state,
            compute,
        )
        if scores:
            context.log.info(
                f"the months' models: {scores.fits} fitted in this step in all, {scores.loaded} read from "
                "the score cache"
            )
        for partition, (fingerprint, fitted, reference) in zip(ready, trained, strict=True):
            refuse_unless_running(
                context.instance,
                context.run.run_id,
                f"the model of {partition or 'the table'} (a registered version)",
            )
            tags = run_tags(plan, context.run.run_id, partition, fingerprint)
            output.add(
                partition,
                fitted.model,
                registered(
                    plan,
                    registry,
                    mlflow,
                    tags,
                    fitted,
                    reference,
                    partition,
                    windows[partition],
                    choices.get(partition),
                ),
            )
        return materialized(plan, context, output)

    return model


def training_windows(
    plan: PipelinePlan, ready: list, features, scores: WalkForwardScores | None, log
) -> tuple[dict[str | None, list[str]], dict[str, WindowChoice]]:
    """Each month's training window (the declared one, or with `training_window: backtest` the one chosen for it) and
    the choices made."""
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
        log.info(
            f"walk-forward scores for the window choice: {scores.cache.summary()}, {scores.fits} model(s) "
            "fitted for them, "
            f"{scores.loaded} read from the score cache"
        )
    windows = {
        partition: training_months(
            plan, partition, features, choices[partition].window if partition in choices else None
        )
        if plan.monthly
        else []
        for partition in ready
    }
    return windows, choices


def train_months(
    plan: PipelinePlan,
    registry: ModelRegistry,
    dagster_run: DagsterRunMlflow,
    run_id: str,
    ready: list,
    windows: dict,
    features,
    scores: WalkForwardScores | None,
    random_state: int | None,
    compute: StepCompute,
) -> list[tuple[str, Trained, Any]]:
    """The months' models side by side (each is logged and registered afterwards, in month order: MLflow's many small
    writes would wait on the fitting threads for the GIL): for each month its rows' fingerprint, the trained model and
    its drift reference. A failed training gets its MLflow run, ended FAILED with the error."""

    def rows_of(partition: str | None):
        return concat_months(features, windows[partition]) if plan.monthly else features

    def fit(partition: str | None):
        try:
            rows = rows_of(partition)
            sample = plan.monitoring.drift.reference_rows
            # training metrics on the drift reference's rows, not every row again
            trained = plan.task.train(
                rows,
                random_state,
                prefit=scores.fit_for(windows[partition]) if scores else None,
                metric_rows=sample,
            )
            # sampled, then scored: the same rows and predictions as scoring every row first, at a fraction of the cost
            reference = plan.task.predicted_rows(trained.model, reference_sample(rows, sample))
        except Exception as exc:
            raise TrainingFailedError(partition, exc) from exc
        return frame_fingerprint(rows), trained, reference

    try:
        return list(compute.map(fit, ready))
    except TrainingFailedError as failed:
        tags = run_tags(plan, run_id, failed.partition, frame_fingerprint(rows_of(failed.partition)))
        with registry.training_run(run_name(plan, failed.partition), tags, dagster_run):
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
    plan: PipelinePlan,
    registry: ModelRegistry,
    dagster_run: DagsterRunMlflow,
    tags: dict[str, str],
    trained: Trained,
    reference,
    partition: str | None,
    window: list[str],
    choice: WindowChoice | None,
) -> dict[str, Any]:
    """The trained model logged to an MLflow run of its own and registered as a new version with its model card; the
    month's metadata."""
    params = {
        **trained.params,
        "pipeline": plan.name,
        "partition": partition or "all",
        **({"training_months": ", ".join(window)} if len(window) > 1 else {}),
        **({"training_window": choice.window, "training_window_reason": choice.reason} if choice else {}),
    }
    try:
        with registry.training_run(run_name(plan, partition), tags, dagster_run) as run:
            info = registry.log_trained_model(
                trained.model, trained.example, trained.rows, params, trained.train_metrics, reference
            )
    except tracking.RegistryNameClashError as exc:
        raise dg.Failure(str(exc), allow_retries=False) from exc
    version = info.registered_model_version
    registry.set_model_card(
        version,
        monitoring.model_card(
            registry.name,
            str(version),
            plan.name,
            plan.task.kind,
            partition or "the table's training split",
            trained.rows,
            list(trained.example.columns),
            trained.train_metrics,
            limitations=plan.task.limitations(
                f"the months {month_span(window, count=True)}" if len(window) > 1 else partition
            ),
        ),
    )
    return {
        **({"train_month": partition} if partition else {}),
        **(
            {
                "training_window_months": choice.window,
                "training_window_reason": dg.MetadataValue.md(choice.reason),
            }
            if choice
            else {}
        ),
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


class TrainingFailedError(Exception):
    """A month's model could not be trained: which month, and the error."""

    def __init__(self, partition: str | None, error: Exception):
        super().__init__(f"training the model of {partition or 'the table'} failed: {error}")
        self.partition, self.error = partition, error


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
