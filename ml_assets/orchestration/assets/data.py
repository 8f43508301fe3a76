"""raw_data (the source as delivered, in one schema) and features (cleaned rows, target and inputs)."""


import hashlib

import dagster as dg

from ml_assets.learning.score_cache import frame_fingerprint
from ml_assets.orchestration.assets.ranges import combined_checks, combined_metadata, log_failed_checks, months_of, value_of
from ml_assets.orchestration.automation import on_upstream_data_change
from ml_assets.orchestration.checks import check_specs
from ml_assets.orchestration.plan import FEATURES, RAW, REPORT, PipelinePlan
from ml_assets.sources.base import SourceDataError, SourceUnavailableError
from ml_assets.storage import ProjectStorage
from ml_assets.tasks import checks
from ml_assets.tasks.base import HISTORY_MARK

REFUSED = "refused"  # the metadata key of the observation raw_data records on a month whose data it refused


def refusal(instance: dg.DagsterInstance, plan: PipelinePlan, month: str) -> str | None:
    """Why raw_data last refused `month`, if its latest record of that month is a refusal."""
    observed = instance.fetch_observations(dg.AssetRecordsFilter(asset_key=plan.key(RAW), asset_partitions=[month]), limit=1).records
    if not observed or REFUSED not in observed[0].asset_observation.metadata:
        return None
    stored = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=plan.key(RAW), asset_partitions=[month]), limit=1).records
    if stored and stored[0].timestamp > observed[0].timestamp:
        return None  # a later good copy replaced the refusal
    return str(observed[0].asset_observation.metadata[REFUSED].value)


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
            log.warning(f"{month}: no as-of history from {previous} ({exc}); its first rows see only the month's own")
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
    if plan.key(REPORT) not in selected:
        return
    missing = missing_before(plan, context.instance, min(context.partition_keys))
    if missing is not None:
        raise dg.Failure(missing.message(plan), allow_retries=False)


def build_raw_data(plan: PipelinePlan) -> dg.AssetsDefinition:
    key = plan.key(RAW)
    spec = plan.automation

    @dg.asset(
        key=key,
        description=f"{plan.source.label} data as the source delivers it{' (one month)' if plan.monthly else ''}, in one schema"
        + (", with the rows just before the month that its as-of inputs look back on." if plan.monthly and plan.task.feature_spec.as_of else "."),
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
        frames, metadata, check_results, versions, delivered = {}, {}, {}, {}, {}
        for partition in months_of(plan, context):
            try:
                frame, location = plan.source.load(partition, storage.cache_dir)
                problems = plan.task.refusals(frame)
                if problems:
                    raise SourceDataError(partition or "-", location, "; ".join(problems))
            except SourceDataError as exc:
                if partition:  # recorded on the month, so the next month's evaluation can say why this one has no model
                    context.log_event(dg.AssetObservation(
                        asset_key=plan.key(RAW), partition=partition, metadata={REFUSED: exc.problem, "location": exc.location}
                    ))
                # Bad data does not get better by retrying; network faults (other errors) do.
                raise dg.Failure(
                    description=str(exc),
                    metadata={"partition": partition or "-", "location": exc.location, "problem": exc.problem},
                    allow_retries=False,
                ) from exc
            step = plan.task.raw(frame, partition)  # judged on the month's own rows
            delivered[partition], extra = frame, {}
            if partition and plan.task.feature_spec.as_of is not None:
                import pandas as pd

                history = history_before(plan, partition, delivered, storage.cache_dir, context.log)
                if history is not None and len(history):
                    frame = pd.concat([history.assign(**{HISTORY_MARK: True}), frame.assign(**{HISTORY_MARK: False})], ignore_index=True)
                extra = {"history_rows": 0 if history is None else len(history)}
            frames[partition], check_results[partition] = frame, step.check_results
            versions[partition] = frame_fingerprint(frame)
            metadata[partition] = {
                "source": plan.source.label,
                "location": location,
                "source_fingerprint": _fingerprint_or_unknown(plan, partition, storage.cache_dir),
                "rows": len(frame),
                **extra,
                "columns": ", ".join(map(str, frame.columns)),
                **step.metadata,
            }
        # the months' own data is judged first (its problem is the one to fix); then, before anything is stored, whether
        # the run's first evaluation can have the model it scores
        refuse_a_range_without_its_past(context, plan)
        log_failed_checks(context, [r for results in check_results.values() for r in results])
        # A range run records one data version for all its months: the hash of theirs.
        version = next(iter(versions.values())) if len(versions) == 1 else hashlib.sha256(str(sorted(versions.items())).encode()).hexdigest()[:16]
        return dg.MaterializeResult(
            value=value_of(plan, frames),
            metadata=combined_metadata(metadata, context),
            check_results=combined_checks(check_results),
            data_version=dg.DataVersion(version),
        )

    return raw_data


def build_features(plan: PipelinePlan) -> dg.AssetsDefinition:
    key = plan.key(FEATURES)

    @dg.asset(
        key=key,
        description="Cleaned rows with the target and the model inputs; metadata counts what each cleaning rule dropped.",
        ins={"raw_data": dg.AssetIn(key=plan.key(RAW))},
        partitions_def=plan.partitions_def,
        group_name=plan.name,
        kinds={"pandas", "parquet"},
        io_manager_key="warehouse_io_manager",
        check_specs=check_specs(key, plan.task.feature_check_names),
        automation_condition=on_upstream_data_change(),
        backfill_policy=plan.backfill_policy,
    )
    def features(context: dg.AssetExecutionContext, raw_data):
        steps = {partition: plan.task.features(raw_data[partition] if plan.monthly else raw_data, partition) for partition in months_of(plan, context)}
        log_failed_checks(context, [r for step in steps.values() for r in step.check_results])
        for partition, step in steps.items():
            failed = [r for r in step.check_results if not r.passed]
            if partition and failed:  # no model can learn from this month: the next month's report says why (refusal)
                why = "; ".join(f"its features failed {r.check_name} ({checks.figures(r)})" for r in failed)
                context.log_event(dg.AssetObservation(asset_key=plan.key(RAW), partition=partition, metadata={REFUSED: why}))
        return dg.MaterializeResult(
            value=value_of(plan, {p: step.value for p, step in steps.items()}),
            metadata=combined_metadata({p: step.metadata for p, step in steps.items()}, context),
            check_results=combined_checks({p: step.check_results for p, step in steps.items()}),
        )

    return features
