"""Asset backfills: launching one over a month range (`dev.py backfill`, through the GraphQL API the UI uses), and
what a finished one did and why it failed if it did: every failed run with its step and error, the backfill's own
error (a launch the daemon gave up on), canceled runs, and the asset partitions Dagster marked failed (with those
downstream of them). A backfill that failed with none of these says so plainly."""

from __future__ import annotations

from typing import Any

import dagster as dg

from ml_assets.orchestration.plan import ASSET_NAMES

BACKFILL_MUTATION = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}"""


def backfill_params(pipeline: str, months: list[str]) -> dict:
    """Backfill launch parameters: the same month range for every monthly asset of the pipeline (automation runs its
    backtest_report after).

    With the same range everywhere, Dagster runs the whole backfill as one run (the assets' single-run backfill
    policy). Partition names alone, as a range picked in the UI sends them, also evaluate the month after the range
    (Dagster adds every child of the range's last model); that works too, as a second run whose extra month reports
    it awaits its data.
    """
    return {
        "partitionsByAssets": [
            {
                "assetKey": {"path": [pipeline, asset]},
                "partitions": {"range": {"start": months[0], "end": months[-1]}},
            }
            for asset in ASSET_NAMES
        ]
    }


def launch_backfill(pipeline: str, months: list[str], env: dict[str, str] | None = None) -> str:
    """Queue an asset backfill of `months` on the instance of DAGSTER_HOME (the daemon runs it); its id."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    graphql = Path(sys.executable).parent / "dagster-graphql"
    variables = json.dumps({"params": backfill_params(pipeline, months)})
    out = subprocess.run(
        [str(graphql), "-m", "ml_assets.definitions", "-t", BACKFILL_MUTATION, "-v", variables],
        env=env,
        capture_output=True,
        text=True,
    )
    # dagster-graphql prints its code server's log lines around the JSON answer
    answers = [json.loads(line) for line in out.stdout.splitlines() if line.startswith('{"data"')]
    launched = (answers[0] if answers else {}).get("data", {}).get("launchPartitionBackfill", {})
    if launched.get("__typename") != "LaunchBackfillSuccess":
        raise RuntimeError(
            f"the backfill of {pipeline} was not launched: "
            f"{launched.get('message') or (out.stderr or out.stdout).strip()[-2000:]}"
        )
    return launched["backfillId"]


def run_failure(instance: dg.DagsterInstance, run_id: str) -> str:
    """The first error a failed run recorded, with its step: a step's, else the run's own (e.g. resource set-up)."""
    for event_type in (
        dg.DagsterEventType.STEP_FAILURE,
        dg.DagsterEventType.ENGINE_EVENT,
        dg.DagsterEventType.RUN_FAILURE,
    ):
        for record in instance.all_logs(run_id, of_type=event_type):
            event = record.dagster_event
            error = getattr(event.event_specific_data, "error", None)
            step = f"step {event.step_key}: " if event.step_key else ""
            if error is not None:
                while error.cause is not None:  # Dagster wraps the user's exception
                    error = error.cause
                return f"{step}{error.cls_name}: {error.message.strip()}"
            if event_type == dg.DagsterEventType.RUN_FAILURE:
                return f"{step}{record.message or 'the run failed without an error'}"
    return "no failure event recorded"


def backfill_outcome(instance: dg.DagsterInstance, backfill_id: str) -> dict[str, Any]:
    backfill = instance.get_backfill(backfill_id)
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
    failures = [
        f"run {run.run_id[:8]} {run_failure(instance, run.run_id)}"
        for run in runs
        if run.status == dg.DagsterRunStatus.FAILURE
    ]
    canceled = [
        f"run {run.run_id[:8]} was canceled" for run in runs if run.status == dg.DagsterRunStatus.CANCELED
    ]
    failed_partitions: dict[str, list[str]] = {}
    data = getattr(backfill, "asset_backfill_data", None)
    if data is not None:
        subset = data.failed_and_downstream_subset
        for key in sorted(subset.asset_keys, key=lambda k: k.to_user_string()):
            partitions = (
                subset.get_partitions_subset(key).get_partition_keys()
                if key in subset.partitions_subsets_by_asset_key
                else []
            )
            failed_partitions[key.to_user_string()] = sorted(partitions)
    reasons = failures + canceled
    if backfill.error is not None:
        reasons.append(f"the backfill itself: {backfill.error.cls_name}: {backfill.error.message.strip()}")
    status = backfill.status.value
    if status != "COMPLETED_SUCCESS" and not reasons and failed_partitions:
        # Dagster's daemon marks a backfill "stalled" when every run has finished and targeted partitions still have
        # no materialization: it fails them without a failed run. Which runs, if any, were to materialize them?
        requested = data.requested_subset if data is not None else None
        for asset, partitions in failed_partitions.items():
            key = dg.AssetKey.from_user_string(asset)
            for partition in partitions or [None]:
                planned = [run.run_id[:8] for run in runs if _planned(run, key, partition)]
                was_requested = requested is not None and _in_subset(requested, key, partition)
                reasons.append(
                    f"{asset}{f'[{partition}]' if partition else ''} marked failed with every run finished: "
                    + (
                        f"planned by run(s) {', '.join(planned)}, which did not materialize it"
                        if planned
                        else "requested, but no run of the backfill planned it"
                        if was_requested
                        else "never requested (the daemon did not see its parents materialized)"
                    )
                )
    if status != "COMPLETED_SUCCESS" and not reasons:
        reasons.append(f"Dagster recorded no failed run and no error for this {status} backfill")
    return {
        "status": status,
        "runs": len(runs),
        "failures": reasons,
        "failed_partitions": failed_partitions,
    }


def _planned(run: dg.DagsterRun, key: dg.AssetKey, partition: str | None) -> bool:
    if run.asset_selection is not None and key not in run.asset_selection:
        return False
    if partition is None:
        return True
    tags = run.tags
    if tags.get("dagster/partition") is not None:
        return tags["dagster/partition"] == partition
    start, end = (
        tags.get("dagster/asset_partition_range_start"),
        tags.get("dagster/asset_partition_range_end"),
    )
    return start is not None and end is not None and start <= partition <= end


def _in_subset(subset, key: dg.AssetKey, partition: str | None) -> bool:
    if partition is None:
        return key in subset.non_partitioned_asset_keys
    return (
        key in subset.partitions_subsets_by_asset_key
        and partition in subset.get_partitions_subset(key).get_partition_keys()
    )
