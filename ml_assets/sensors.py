"""Sensors: source changes -> raw_trips runs; automation for the rest; failure alerts."""

from __future__ import annotations

import json

import dagster as dg

from ml_assets.resources import AlertWebhook, TripSource
from ml_assets.sources.taxi import SourceUnavailableError

SOURCE_FINGERPRINT_TAG = "ml_assets/source_fingerprint"


def months_to_watch(partitions_def: dg.PartitionsDefinition, lookback_months: int) -> list[str]:
    keys = partitions_def.get_partition_keys()
    return keys[-lookback_months:] if lookback_months > 0 else keys


def _materialized_fingerprint(instance: dg.DagsterInstance, month: str) -> str | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("raw_trips"), asset_partitions=[month]), limit=1
    ).records
    if not records:
        return None
    value = records[0].asset_materialization.metadata.get("source_fingerprint")
    return value.value if value is not None else None


def changed_months(
    fingerprints: dict[str, str | None], seen: dict[str, str], materialized: dict[str, str | None]
) -> list[str]:
    """Months whose source version is new: not seen by the cursor nor already materialized."""
    return [
        month
        for month, fingerprint in fingerprints.items()
        if fingerprint is not None and seen.get(month) != fingerprint and materialized.get(month) != fingerprint
    ]


def build_source_change_sensor(
    ingest_job: dg.UnresolvedAssetJobDefinition,
    partitions_def: dg.PartitionsDefinition,
    lookback_months: int,
    interval_s: int,
) -> dg.SensorDefinition:
    @dg.sensor(
        name="source_change_sensor",
        job=ingest_job,
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Requests raw_trips for every month that appeared or changed at the source.",
    )
    def source_change_sensor(context: dg.SensorEvaluationContext, trip_source: TripSource):
        seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        fingerprints: dict[str, str | None] = {}
        for month in months_to_watch(partitions_def, lookback_months):
            try:
                fingerprints[month] = trip_source.fingerprint(month)
            except SourceUnavailableError as exc:
                context.log.warning(f"cannot reach the source for {month}: {exc}")
        unseen = [m for m, f in fingerprints.items() if f is not None and seen.get(m) != f]
        materialized = {m: _materialized_fingerprint(context.instance, m) for m in unseen}
        requests = [
            dg.RunRequest(
                partition_key=month,
                run_key=f"{month}:{fingerprints[month]}",
                tags={SOURCE_FINGERPRINT_TAG: fingerprints[month]},
            )
            for month in changed_months(fingerprints, seen, materialized)
        ]
        seen.update({m: f for m, f in fingerprints.items() if f is not None})
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))

    return source_change_sensor


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
        context.log.info(f"run {run.run_id} failed; ML_ASSETS_ALERT_WEBHOOK_URL is not set, so no alert was posted")
        return
    alert_webhook.post(payload)
