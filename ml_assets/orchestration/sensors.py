"""Sensors: source changes -> raw_data runs (automation does the rest); run-failure alerts and clean-up."""

from __future__ import annotations

import json

import dagster as dg

from ml_assets.orchestration.alerts import AlertWebhook
from ml_assets.orchestration.automation import default_schedule_status, default_sensor_status
from ml_assets.orchestration.plan import RAW_DATA, PipelinePlan
from ml_assets.sources.base import SourceUnavailableError
from ml_assets.tracking import MlflowTracking

SOURCE_FINGERPRINT_TAG = "ml_assets/source_fingerprint"
WHOLE_TABLE = "all"  # the cursor's key for an unpartitioned source


def partitions_to_watch(plan: PipelinePlan) -> list[str | None]:
    if not plan.monthly:
        return [None]
    keys = plan.partitions_def.get_partition_keys()
    lookback = plan.automation.sensor_lookback_months
    return keys[-lookback:] if lookback > 0 else keys


def _materialized_fingerprint(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None
) -> str | None:
    records_filter = dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None)
    records = instance.fetch_materializations(records_filter, limit=1).records
    if not records:
        return None
    metadata = records[0].asset_materialization.metadata
    if "source_fingerprint" in metadata:
        return metadata["source_fingerprint"].value
    by_month = metadata.get("by_month")  # a range run: one entry per month
    return by_month.value.get(partition, {}).get("source_fingerprint") if by_month is not None else None


def changed_partitions(
    fingerprints: dict[str, str | None], seen: dict[str, str], materialized: dict[str, str | None]
) -> list[str]:
    """Partitions whose source version is new: not seen by the cursor nor already materialized."""
    return [
        partition
        for partition, fingerprint in fingerprints.items()
        if fingerprint is not None
        and seen.get(partition) != fingerprint
        and materialized.get(partition) != fingerprint
    ]


def build_source_sensor(
    plan: PipelinePlan, ingest_job: dg.UnresolvedAssetJobDefinition
) -> dg.SensorDefinition:
    raw_key = plan.key(RAW_DATA)

    @dg.sensor(
        name=plan.job_name("source_sensor"),
        job=ingest_job,
        minimum_interval_seconds=plan.automation.sensor_interval_s,
        default_status=default_sensor_status(),
        description=f"Requests {raw_key.to_user_string()} whenever the source's data appears or changes "
        "(fingerprints).",
    )
    def source_sensor(context: dg.SensorEvaluationContext):
        seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        fingerprints: dict[str, str | None] = {}
        unreachable: list[str] = []
        for partition in partitions_to_watch(plan):
            label = partition or WHOLE_TABLE
            try:
                fingerprints[label] = plan.source.fingerprint(partition)
            except SourceUnavailableError as exc:
                # one month unreachable means the source is (offline, say): do not wait on every month
                unreachable.append(f"{plan.source.location(partition)} ({exc})")
                break
        unseen = [p for p, f in fingerprints.items() if f is not None and seen.get(p) != f]
        materialized = {
            p: _materialized_fingerprint(context.instance, raw_key, None if p == WHOLE_TABLE else p)
            for p in unseen
        }
        requests = [
            dg.RunRequest(
                partition_key=None if label == WHOLE_TABLE else label,
                run_key=f"{label}:{fingerprints[label]}",
                tags={SOURCE_FINGERPRINT_TAG: fingerprints[label]},
            )
            for label in changed_partitions(fingerprints, seen, materialized)
        ]
        seen.update({p: f for p, f in fingerprints.items() if f is not None})
        cursor = json.dumps(seen, sort_keys=True)
        if unreachable and not requests:
            return dg.SkipReason(f"the source did not answer: {'; '.join(unreachable[:3])}")
        if unreachable:
            context.log.warning(f"the source did not answer for: {'; '.join(unreachable[:3])}")
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return source_sensor


def build_ingest_schedule(
    plan: PipelinePlan, ingest_job: dg.UnresolvedAssetJobDefinition
) -> dg.ScheduleDefinition:
    """On the 3rd of each month, ingest the newest month the source has published.

    The partitions end publication_lag_months before the current month, so the last partition
    at tick time is that month. (Dagster's build_schedule_from_partitioned_job does the same but
    calls a deprecated API internally on every tick.)
    """

    @dg.schedule(
        name=plan.job_name("ingest_schedule"),
        job=ingest_job,
        cron_schedule="0 6 3 * *",
        execution_timezone="UTC",
        default_status=default_schedule_status(),
        description="On the 3rd of each month, ingest the newest published month; automation does the rest.",
    )
    def ingest_schedule(context: dg.ScheduleEvaluationContext):
        months = plan.partitions_def.get_partition_keys(current_time=context.scheduled_execution_time)
        month = months[-1] if months else None
        if month is None:
            return dg.SkipReason("the source has published no month yet")
        return dg.RunRequest(run_key=f"scheduled:{month}", partition_key=month)

    return ingest_schedule


def failure_payload(job_name: str, run_id: str, partition: str | None, error: str, link: str) -> dict:
    text = f"ml_assets run failed: job `{job_name}`, partition `{partition or '-'}`, run `{run_id}`\n{error}\n{link}"
    return {
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        "job": job_name,
        "run_id": run_id,
        "partition": partition,
        "error": error,
        "link": link,
    }


@dg.run_failure_sensor(
    name="run_failure_alert",
    default_status=dg.DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=False,
    description="Posts a Slack-compatible message for every failed run to ML_ASSETS_ALERT_WEBHOOK_URL.",
)
def run_failure_alert(context: dg.RunFailureSensorContext, alert_webhook: AlertWebhook):
    run = context.dagster_run
    payload = failure_payload(
        run.job_name,
        run.run_id,
        run.tags.get("dagster/partition"),
        context.failure_event.message or "run failed",
        f"{alert_webhook.dagster_ui_url.rstrip('/')}/runs/{run.run_id}",
    )
    if not alert_webhook.webhook_url:
        context.log.info(
            f"run {run.run_id} failed; ML_ASSETS_ALERT_WEBHOOK_URL is not set, so no alert was posted"
        )
        return
    alert_webhook.post(payload)


@dg.run_failure_sensor(
    name="failed_run_cleanup",
    default_status=dg.DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=False,
    minimum_interval_seconds=5,
    description=(
        "When a run fails: revokes its Celery step tasks still queued or running (production), and ends (KILLED) the "
        "MLflow runs it left RUNNING, wherever they ran."
    ),
)
def failed_run_cleanup(context: dg.RunFailureSensorContext, mlflow_tracking: MlflowTracking):
    import os

    from ml_assets.orchestration.celery import BROKER_ENV, revoke_run_steps

    run = context.dagster_run
    if os.environ.get(BROKER_ENV):
        revoked = revoke_run_steps(context.instance, run.run_id)
        if revoked:
            context.log.info(f"run {run.run_id} failed: revoked its {len(revoked)} Celery step task(s)")
    ended = mlflow_tracking.end_runs_of(run.run_id, run.status.value)
    if ended:
        context.log.info(
            f"run {run.run_id} failed: ended {len(ended)} MLflow run(s) it left RUNNING: {', '.join(ended)}"
        )
