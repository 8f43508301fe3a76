"""evaluation_report: the model scored against its baselines, a Markdown report with a plot,
logged to the model's MLflow run.

Monthly pipelines follow the course protocol: partition M scores the model trained on M-1 on
month M. Unpartitioned pipelines compare predictors by repeated cross-validation and score the
registered model on its held-out split.
"""

import warnings
from dataclasses import dataclass
from typing import Any

import dagster as dg

from ml_assets.orchestration.assets.champion import version_score
from ml_assets.orchestration.assets.ranges import StepOutput, checked, learned_from, months_of, stored
from ml_assets.orchestration.automation import on_upstream_data_change, with_its_asset
from ml_assets.orchestration.checks import check_specs
from ml_assets.orchestration.compute import StepCompute
from ml_assets.orchestration.plan import EVALUATION_REPORT, FEATURES, MODEL, PipelinePlan
from ml_assets.orchestration.prerequisites import missing_before, refusal
from ml_assets.storage import ProjectStorage
from ml_assets.storage.io_managers import missing_partition_message
from ml_assets.tasks.checks import not_judged, recomputed
from ml_assets.tasks.recompute import recompute_report
from ml_assets.tasks.report_parts import embedded_png
from ml_assets.tasks.results import Evaluated
from ml_assets.tracking import MlflowTracking, ModelRegistry


def months_back(start_offset: int, end_offset: int) -> dg.TimeWindowPartitionMapping:
    # The first month of a source has no previous month; allowing the missing upstream lets
    # that partition run and report "nothing to evaluate" instead of failing. The flag is
    # marked beta in Dagster 1.13 (stable behaviour since 1.5), so its notice is silenced here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=dg.BetaWarning)
        return dg.TimeWindowPartitionMapping(
            start_offset=start_offset, end_offset=end_offset, allow_nonexistent_upstream_partitions=True
        )


def card_evaluation(plan: PipelinePlan, evaluated: Evaluated, month: str | None) -> str:
    """The model card's Evaluation section: where it was scored, its metrics and its baselines."""
    where = f"the next month, {month}" if plan.monthly else "its held-out split and repeated cross-validation"
    figures = "\n".join(f"- {name}: {value:.3f}" for name, value in evaluated.logged_metrics.items())
    checks_line = ", ".join(
        f"{r.check_name} {'passed' if r.passed else '**failed**'}" for r in evaluated.check_results
    )
    return f"Scored on {where}:\n\n{figures}\n\nBlocking checks: {checks_line}.\n"


def first_month_report(plan: PipelinePlan, month: str) -> dict:
    markdown = (
        f"**{month}** is the first month of {plan.name}'s source: no earlier month trained a model, "
        "so there is nothing to evaluate here. The model trained on it is evaluated in the next month."
    )
    return {
        "pipeline": plan.name,
        "task": plan.task.kind,
        "partition": month,
        "status": "first month",
        "model_version": None,
        "score": None,
        "checks": {},
        "markdown": markdown,
    }


def awaiting_report(plan: PipelinePlan, month: str, trained_on: str) -> dict:
    markdown = (
        f"**{month}** has no features yet, so the model trained on {trained_on} waits to be evaluated on it. "
        f"Automation evaluates it as soon as {month} is materialized."
    )
    return {
        "pipeline": plan.name,
        "task": plan.task.kind,
        "partition": month,
        "status": "awaiting data",
        "trained_on": trained_on,
        "model_version": None,
        "score": None,
        "checks": {},
        "markdown": markdown,
    }


def refused_report(plan: PipelinePlan, month: str, trained_on: str, why: str) -> dict:
    markdown = (
        f"**{month}** has nothing to evaluate: {trained_on}'s data was refused ({why}), so no model was trained on it. "
        f"The model trained on {month} is evaluated in the next month; {trained_on} is retried when its source changes."
    )
    return {
        "pipeline": plan.name,
        "task": plan.task.kind,
        "partition": month,
        "status": "previous month refused",
        "trained_on": trained_on,
        "why": why,
        "model_version": None,
        "score": None,
        "checks": {},
        "markdown": markdown,
    }


def build_evaluation_report(plan: PipelinePlan) -> dg.AssetsDefinition:
    key = plan.key(EVALUATION_REPORT)

    @dg.asset(
        key=key,
        description=report_description(plan),
        ins=report_inputs(plan),
        partitions_def=plan.partitions_def,
        group_name=plan.name,
        kinds={"scikitlearn", "markdown", "mlflow"},
        io_manager_key="report_io_manager",
        automation_condition=on_upstream_data_change(),
        check_specs=report_check_specs(plan, key),
        backfill_policy=plan.backfill_policy,
    )
    def evaluation_report(
        context: dg.AssetExecutionContext,
        model: Any,
        features: Any,
        mlflow_tracking: MlflowTracking,
        storage: ProjectStorage,
        compute: StepCompute,  # the step's native threads and fits at once (orchestration/compute.py)
    ):
        registry = plan.registry(mlflow_tracking)
        output = StepOutput()
        asked = months_to_evaluate(context, plan, registry, model, features, output)
        # all scored (side by side) before any is logged, here in month order: MLflow's small writes wait for the
        # GIL beside scoring threads
        evaluated = evaluated_months(plan, registry, storage, compute, asked)
        for month, result in zip(asked, evaluated, strict=True):
            output.add(month.month, *record(plan, registry, month, result))
        yield stored(plan, context, output)
        # every figure reported, read back as stored, against the stored model and rows (tasks/recompute.py)
        for month, figures in zip(asked, recomputed_reports(plan, key, storage, compute, asked), strict=True):
            output.checks[month.month].append(recomputed(month.month, figures))
        # no month here could be judged (the first month, months without data): the checks say so
        if not output.checks:
            why = "; ".join(f"{m}: {md['status']}" for m, md in sorted(output.metadata.items()))
            output.checks = {None: [not_judged(name, why) for name in plan.task.evaluation_check_names]}
        yield from checked(context, output)

    return evaluation_report


def months_to_evaluate(
    context: dg.AssetExecutionContext,
    plan: PipelinePlan,
    registry: ModelRegistry,
    model,
    features,
    output: StepOutput,
) -> "list[MonthToEvaluate]":
    """The range's months that can be evaluated, each with its model, rows and training run; a month with nothing to
    evaluate goes to `output` with the report that says why."""
    ready = []
    for month in months_of(plan, context):
        trained_on = previous_month(plan, month) if plan.monthly else "all"
        unready = nothing_to_evaluate(plan, context.instance, month, trained_on, model, features)
        if unready is not None:
            output.add(month, *unready)
        else:
            ready.append((month, trained_on))
    return [
        MonthToEvaluate(
            month,
            trained_on,
            model[trained_on] if plan.monthly else model,
            {trained_on: features[trained_on], month: features[month]} if plan.monthly else features,
            *training_run_of(plan, registry, trained_on),
        )
        for month, trained_on in ready
    ]


def recomputed_reports(
    plan: PipelinePlan, key: dg.AssetKey, storage: ProjectStorage, compute: StepCompute, asked: list
) -> list:
    """Each stored report, read back, recomputed from the stored model and rows, side by side."""

    def recompute(month: MonthToEvaluate):
        stored_report = storage.stored_report(key.path, month.month)
        return recompute_report(plan.task, stored_report, month.model, month.features)

    return list(compute.map(recompute, asked))


def report_check_specs(plan: PipelinePlan, key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """The blocking checks on the model's figures; automation launches them with the report (`with_its_asset`)."""
    names, described = plan.task.evaluation_check_names, plan.task.check_descriptions()
    return check_specs(key, names, automation_condition=with_its_asset(), descriptions=described)


def report_inputs(plan: PipelinePlan) -> dict[str, dg.AssetIn]:
    """A month's model (trained on the month before) and the features of both months; the table's model and features.
    A month's inputs may be absent: the source's first month has no earlier one, and a backfill picked by
    partition names
    also evaluates the month after its range (Dagster adds every child of the range's last model). The asset says which,
    rather than failing on a read."""
    if not plan.monthly:
        return {"model": dg.AssetIn(plan.key(MODEL)), "features": dg.AssetIn(plan.key(FEATURES))}
    may_be_missing = {"allow_missing_partitions": True}
    return {
        "model": dg.AssetIn(plan.key(MODEL), partition_mapping=months_back(-1, -1), metadata=may_be_missing),
        "features": dg.AssetIn(
            plan.key(FEATURES), partition_mapping=months_back(-1, 0), metadata=may_be_missing
        ),
    }


def report_description(plan: PipelinePlan) -> str:
    against = ", ".join(name for k, name in plan.task.predictor_names().items() if k != "model")
    metrics = ", ".join(plan.task.metric_names)
    if plan.monthly:
        return (
            f"Last month's model scored on this month ({metrics}) beside {against} and the current champion, with a "
            "plot; logged to the model's MLflow run. The source's first month says it has nothing to evaluate."
        )
    return (
        f"Repeated cross-validation of the model ({metrics}, mean ± sd) against {against} on the same folds, and "
        "the registered model on its held-out split, with a plot; logged to the model's MLflow run."
    )


def previous_month(plan: PipelinePlan, month: str) -> str | None:
    keys = plan.partitions_def.get_partition_keys()
    at = keys.index(month) if month in keys else -1
    return keys[at - 1] if at > 0 else None


def nothing_to_evaluate(
    plan: PipelinePlan,
    instance: dg.DagsterInstance,
    month: str | None,
    trained_on: str | None,
    model,
    features,
) -> tuple[dict, dict] | None:
    """The report and metadata of a month with nothing to evaluate (the source's first month, a month awaiting its data,
    a month after a refused one); None when the month can be evaluated. Fails naming the range to materialize first
    when what it needs was never stored."""
    if not plan.monthly:
        return None
    if trained_on is None:
        return first_month_report(plan, month), {"status": "first month: nothing to evaluate"}
    # nothing to score yet: a backfill by partition names adds the months after its range (children of its last
    # models, some trained on the part of their window that exists), and they wait for their data
    if month not in features:
        return awaiting_report(plan, month, trained_on), {
            "status": f"awaiting {month}'s features",
            "train_month": trained_on,
        }
    if trained_on not in model or trained_on not in features:
        why = refusal(instance, plan, trained_on)
        if why is not None:  # a refused month stops nothing after it: this month says why it has no score
            return refused_report(plan, month, trained_on, why), {
                "status": f"{trained_on} was refused: nothing to evaluate",
                "train_month": trained_on,
            }
        lacking = missing_before(plan, instance, month)  # the one range to materialize first
        missing = MODEL if trained_on not in model else FEATURES
        raise dg.Failure(
            lacking.message(plan)
            if lacking
            else missing_partition_message(plan.key(missing), trained_on, f"the evaluation of {month}"),
            allow_retries=False,
        )
    if model[trained_on] is None:  # stored while its month awaited its features
        raise dg.Failure(
            f"{plan.key(MODEL).to_user_string()}[{trained_on}] was stored before {trained_on}'s features existed and "
            f"holds no model: materialize {plan.key(MODEL).to_user_string()} for {trained_on} (automation does once "
            "its features are materialized)",
            allow_retries=False,
        )
    return None


def evaluated_months(
    plan: PipelinePlan,
    registry: ModelRegistry,
    storage: ProjectStorage,
    compute: StepCompute,
    asked: "list[MonthToEvaluate]",
) -> list[Evaluated]:
    """Each month's model scored beside its baselines and the current champion (its MLflow lookups first, here)."""
    champion, scores = registry.champion(), storage.scores(plan.name)
    champion_months: set[str] = set()  # the months the champion learned from: its score there is in sample
    if champion:  # looked up here, not by each thread
        registry.load_version(champion.version)
        registry.version_source(champion.version)
        if plan.monthly:
            champion_months = set(learned_from(registry.client().get_run(champion.run_id).data)[1])

    def score(month: MonthToEvaluate) -> Evaluated:
        frame = month.features[month.month] if plan.monthly else month.features
        # a champion's score on a month is computed once (an earlier gate or backtest may have)
        champion_score = (
            (str(champion.version), version_score(plan, registry, scores, str(champion.version), frame))
            if champion
            else (None, None)
        )
        return plan.task.evaluate(
            month.model,
            month.features,
            month.month,
            month.run.data.metrics.get(f"train_{plan.task.primary_metric}"),
            month.version,
            champion_score,
            model_months=month.run.data.params.get("training_months"),
            scores=scores,
            window_reason=month.run.data.params.get("training_window_reason"),
            jobs=compute.parallel_fits,  # the folds of a table's cross-validation, in processes
            champion_in_sample=month.month in champion_months,
        )

    return list(compute.map(score, asked))


@dataclass(frozen=True)
class MonthToEvaluate:
    month: str | None
    trained_on: str
    model: Any
    features: Any  # {trained_on: frame, month: frame}, or the table
    run: Any  # the MLflow run that trained the model
    version: str | None  # its registered version


def training_run_of(plan: PipelinePlan, registry: ModelRegistry, trained_on: str) -> tuple[Any, str | None]:
    """The finished MLflow run that trained the model on `trained_on`, and its registered version."""
    run = registry.training_run_for(trained_on)
    if run is None:
        raise dg.Failure(
            f"no finished MLflow run trained the {plan.name} model on {trained_on} in experiment "
            f"{registry.experiment!r}: re-materialize {plan.key(MODEL).to_user_string()}"
            + (f"[{trained_on}]" if plan.monthly else "")
        )
    version = registry.version_for_run(run.info.run_id)
    return run, str(version.version) if version else None


def record(plan: PipelinePlan, registry: ModelRegistry, month: MonthToEvaluate, evaluated: Evaluated):
    """The evaluation logged to the model's run and card: the stored report, UI metadata and check results."""
    run = month.run
    registry.log_evaluation(
        run.info.run_id, evaluated.logged_metrics, evaluated.markdown, evaluated.png, month.month or "holdout"
    )
    if month.version:
        registry.add_to_model_card(month.version, "Evaluation", card_evaluation(plan, evaluated, month.month))
    report = {
        **evaluated.report,
        "status": "evaluated",
        "mlflow_run_id": run.info.run_id,
        "markdown": evaluated.markdown,
    }
    ui = {
        **evaluated.ui_metadata,
        "model_version": month.version or "unregistered",
        "mlflow_run": dg.MetadataValue.url(registry.run_url(run)),
        "report": dg.MetadataValue.md(embedded_png(evaluated.markdown, evaluated.png, "evaluation plot")),
    }
    return report, ui, evaluated.check_results
