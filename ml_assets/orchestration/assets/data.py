"""raw_data (the source as delivered, in one schema) and features (cleaned rows, target and inputs)."""

import hashlib

import dagster as dg

from ml_assets.learning.score_cache import frame_fingerprint
from ml_assets.orchestration.assets.ranges import StepOutput, materialized, months_of
from ml_assets.orchestration.automation import on_upstream_data_change
from ml_assets.orchestration.checks import check_specs
from ml_assets.orchestration.compute import StepCompute
from ml_assets.orchestration.plan import EVALUATION_REPORT, FEATURES, RAW_DATA, PipelinePlan
from ml_assets.orchestration.prerequisites import refused
from ml_assets.sources.base import SourceDataError, SourceUnavailableError
from ml_assets.storage import ProjectStorage
from ml_assets.tasks.checks import figures
from ml_assets.tasks.cleaning import HISTORY_MARK


def _fingerprint_or_unknown(plan: PipelinePlan, partition: str | None, cache_dir: str) -> str:
    """The source version just ingested; the sensor uses it to skip what is already current."""
    try:
        return plan.source.loaded_fingerprint(partition, cache_dir) or "unknown"
    except SourceUnavailableError:
        return "unknown"


def history_before(plan: PipelinePlan, month: str, loaded: dict, cache_dir: str, log):
    """The rows of the previous month's delivery inside the as-of history (features.as_of), so the month's first
    rows have earlier rows to look back on; none if that month cannot be had (the first month, a refused one)."""
    import pandas as pd

    from ml_assets.months import month_bounds

    as_of = plan.task.feature_spec.as_of
    start, _ = month_bounds(month)
    previous = (start - pd.DateOffset(months=1)).strftime("%Y-%m")
    if not plan.partitions_def.has_partition_key(previous):
        return None
    frame = loaded.get(previous)
    if frame is None:
        try:
            frame, _ = plan.source.load(previous, cache_dir)
        except (SourceDataError, SourceUnavailableError) as exc:
            log.warning(
                f"{month}: no as-of history from {previous} ({exc}); its first rows see only the month's own"
            )
            return None
    times = pd.to_datetime(frame[plan.source.time_column])
    keep = (times >= start - pd.Timedelta(seconds=as_of.history_seconds())) & (times < start)
    return frame[keep.to_numpy()]


def refuse_a_range_without_its_past(context: dg.AssetExecutionContext, plan: PipelinePlan) -> None:
    """A run that evaluates months fails in its first step, before anything is stored, when the model its first month is
    scored on cannot exist (orchestration/prerequisites.py): one message naming the range to materialize first."""
    from ml_assets.orchestration.prerequisites import missing_before

    if not plan.monthly:
        return
    selected = context.run.asset_selection or context.job_def.asset_layer.selected_asset_keys
    if plan.key(EVALUATION_REPORT) not in selected:
        return
    missing = missing_before(plan, context.instance, min(context.partition_keys))
    if missing is not None:
        raise dg.Failure(missing.message(plan), allow_retries=False)


def ingest(plan: PipelinePlan, months: list[str | None], cache_dir: str, log) -> StepOutput:
    """Each month's rows as the source delivers them, judged by the raw checks (with as-of history before them).
    Raises SourceDataError for a month whose data is unusable: nothing of the range is stored."""
    import pandas as pd

    output, delivered, versions = StepOutput(), {}, {}
    for partition in months:
        frame, location = plan.source.load(partition, cache_dir)
        problems = plan.task.refusals(frame)
        if problems:
            raise SourceDataError(partition or "-", location, "; ".join(problems))
        step = plan.task.raw(frame, partition)  # judged on the month's own rows
        delivered[partition], extra = frame, {}
        if partition and plan.task.feature_spec.as_of is not None:
            history = history_before(plan, partition, delivered, cache_dir, log)
            if history is not None and len(history):
                frame = pd.concat(
                    [history.assign(**{HISTORY_MARK: True}), frame.assign(**{HISTORY_MARK: False})],
                    ignore_index=True,
                )
            extra = {"history_rows": 0 if history is None else len(history)}
        versions[partition] = frame_fingerprint(frame)
        output.add(
            partition,
            frame,
            {
                "source": plan.source.label,
                "location": location,
                "source_fingerprint": _fingerprint_or_unknown(plan, partition, cache_dir),
                "rows": len(frame),
                **extra,
                "columns": ", ".join(map(str, frame.columns)),
                **step.metadata,
            },
            step.check_results,
        )
    # a range records one data version for all its months: the hash of theirs
    output.data_version = (
        next(iter(versions.values()))
        if len(versions) == 1
        else hashlib.sha256(str(sorted(versions.items())).encode()).hexdigest()[:16]
    )
    return output


def build_raw_data(plan: PipelinePlan) -> dg.AssetsDefinition:
    key = plan.key(RAW_DATA)
    spec = plan.automation

    @dg.asset(
        key=key,
        description=f"{plan.source.label} data as the source delivers "
        f"it{' (one month)' if plan.monthly else ''}, in one schema"
        + (
            ", with the rows just before the month that its as-of inputs look back on."
            if plan.monthly and plan.task.feature_spec.as_of
            else "."
        ),
        partitions_def=plan.partitions_def,
        group_name=plan.name,
        kinds={"pandas", "parquet"},
        io_manager_key="warehouse_io_manager",
        check_specs=check_specs(key, plan.task.raw_check_names),
        backfill_policy=plan.backfill_policy,
        retry_policy=dg.RetryPolicy(
            max_retries=spec.ingest_retries,
            delay=spec.ingest_retry_delay_s,
            backoff=dg.Backoff.EXPONENTIAL,
            jitter=dg.Jitter.PLUS_MINUS,
        ),
    )
    def raw_data(context: dg.AssetExecutionContext, storage: ProjectStorage):
        try:
            output = ingest(plan, months_of(plan, context), storage.cache_dir, context.log)
        except SourceDataError as exc:
            # recorded on the month, so the next month's evaluation can say why this one has no model
            if plan.monthly and exc.month and exc.month != "-":
                context.log_event(refused(plan, exc.month, exc.problem, exc.location))
            # Bad data does not get better by retrying; network faults (other errors) do.
            raise dg.Failure(
                description=str(exc),
                metadata={"partition": exc.month or "-", "location": exc.location, "problem": exc.problem},
                allow_retries=False,
            ) from exc
        # the months' own data is judged first (its problem is the one to fix); then, before anything is stored, whether
        # the run's first evaluation can have the model it scores
        refuse_a_range_without_its_past(context, plan)
        return materialized(plan, context, output)

    return raw_data


def build_features(plan: PipelinePlan) -> dg.AssetsDefinition:
    key = plan.key(FEATURES)

    @dg.asset(
        key=key,
        description="Cleaned rows with the target and the model inputs; metadata counts what each cleaning "
        "rule dropped.",
        ins={"raw_data": dg.AssetIn(key=plan.key(RAW_DATA))},
        partitions_def=plan.partitions_def,
        group_name=plan.name,
        kinds={"pandas", "parquet"},
        io_manager_key="warehouse_io_manager",
        check_specs=check_specs(key, plan.task.feature_check_names),
        automation_condition=on_upstream_data_change(),
        backfill_policy=plan.backfill_policy,
    )
    def features(context: dg.AssetExecutionContext, raw_data, compute: StepCompute):
        """Each month's (or the table's) cleaned rows and model inputs, the months side by side."""
        output = StepOutput()
        partitions = list(months_of(plan, context))
        steps = compute.map(
            lambda partition: plan.task.features(
                raw_data[partition] if plan.monthly else raw_data, partition
            ),
            partitions,
        )
        for partition, step in zip(partitions, steps, strict=True):
            output.add(partition, step.value, step.metadata, step.check_results)
            failed = [r for r in step.check_results if not r.passed]
            # no model can learn from this month: the next month's report says why (refusal)
            if partition and failed:
                context.log_event(
                    refused(
                        plan,
                        partition,
                        "; ".join(f"its features failed {r.check_name} ({figures(r)})" for r in failed),
                    )
                )
        return materialized(plan, context, output)

    return features
