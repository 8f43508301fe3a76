"""The 12 flight months of 2013 as one asset backfill through Dagster, with 1 and with 2 processes.

    python -m benchmarks.backfill [--processes 1 2] [--first 2013-01 --last 2013-12]

For each process count: a throwaway DAGSTER_HOME whose run queue allows that many concurrent runs,
a real `dagster-daemon`, the same asset backfill `python3 dev.py backfill` queues (one run per month,
ordered by dependencies), timed from launch until the backfill completes.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.runner import PIPELINE_SENSORS, REPO_ROOT, stop_sensors
from dev import backfill_params  # the launch parameters `python3 dev.py backfill` sends
from ml_assets.months import months_between

FLIGHTS_FIRST_MONTH, FLIGHTS_LAST_MONTH = "2013-01", "2013-12"  # ml_assets/defs/nyc_flights/defs.yaml

MUTATION = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}"""
DONE = {"COMPLETED_SUCCESS", "COMPLETED_FAILED", "COMPLETED", "FAILED", "CANCELED"}


def _failure_detail(instance, run_id: str) -> str:
    """The first error a failed run recorded: a step's, else the run's own (e.g. resource set-up)."""
    import dagster as dg

    for event_type in (dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.ENGINE_EVENT, dg.DagsterEventType.RUN_FAILURE):
        for record in instance.all_logs(run_id, of_type=event_type):
            error = getattr(record.dagster_event.event_specific_data, "error", None)
            if error is not None:
                while error.cause is not None:  # Dagster wraps the user's exception
                    error = error.cause
                return error.message
            if event_type == dg.DagsterEventType.RUN_FAILURE:
                return record.message or ""
    return ""


def timed_backfill(processes: int, months: list[str], timeout_s: float) -> dict:
    import dagster as dg

    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        (home / "dagster.yaml").write_text(
            f"telemetry:\n  enabled: false\nrun_queue:\n  max_concurrent_runs: {processes}\n"
        )
        workspace = Path(tmp) / "workspace.yaml"
        workspace.write_text(
            f"load_from:\n  - python_module:\n      module_name: ml_assets.definitions\n      working_directory: {REPO_ROOT}\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("ML_ASSETS_") and k != "MLFLOW_TRACKING_URI"}
        # flights, the default source
        env.update(DAGSTER_HOME=str(home), ML_ASSETS_DATA_DIR=str(Path(tmp) / "data"))
        # the backfill alone is timed: sensors would queue their own runs (every pipeline's)
        stop_sensors(workspace, env, PIPELINE_SENSORS)
        log = (Path(tmp) / "daemon.log").open("w")
        daemon = subprocess.Popen(
            [str(bin_dir / "dagster-daemon"), "run", "-w", str(workspace)],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            variables = {"params": backfill_params("nyc_flights", months, months_between(FLIGHTS_FIRST_MONTH, FLIGHTS_LAST_MONTH))}
            started = time.perf_counter()
            out = subprocess.run(
                [str(bin_dir / "dagster-graphql"), "-w", str(workspace), "-t", MUTATION, "-v", json.dumps(variables)],
                cwd=REPO_ROOT, env=env, capture_output=True, text=True,
            )
            answers = [json.loads(line) for line in out.stdout.splitlines() if line.startswith('{"data"')]
            launched = answers[0]["data"]["launchPartitionBackfill"] if answers else {}
            if launched.get("__typename") != "LaunchBackfillSuccess":
                raise SystemExit(f"backfill not launched: {out.stdout[-2000:]} {out.stderr[-2000:]}")
            instance = dg.DagsterInstance.from_config(str(home))
            status = None
            while time.perf_counter() - started < timeout_s:
                status = instance.get_backfill(launched["backfillId"]).status.value
                if status in DONE:
                    break
                time.sleep(2)
            seconds = time.perf_counter() - started
            runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": launched["backfillId"]}))
            run_seconds = [
                (r.end_time - r.start_time) for r in (instance.get_run_record_by_id(run.run_id) for run in runs)
                if r.start_time and r.end_time
            ]
            for run in runs:
                if run.status == dg.DagsterRunStatus.FAILURE:
                    detail = _failure_detail(instance, run.run_id)
                    print(f"  failed run {run.run_id[:8]} {run.tags.get('dagster/partition')}: {detail.strip()[:300]}")
            return {"processes": processes, "seconds": seconds, "status": status, "runs": len(runs),
                    "run_seconds_sum": sum(run_seconds)}
        finally:
            os.killpg(daemon.pid, signal.SIGTERM)
            try:
                daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
            log.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--first", default=FLIGHTS_FIRST_MONTH)
    parser.add_argument("--last", default=FLIGHTS_LAST_MONTH)
    parser.add_argument("--timeout-s", type=float, default=3600)
    args = parser.parse_args(argv)
    months = months_between(args.first, args.last)
    results = []
    for processes in args.processes:
        result = timed_backfill(processes, months, args.timeout_s)
        results.append(result)
        print(f"{processes} process(es): {len(months)} months in {result['seconds']:.0f} s ({result['status']}, "
              f"{result['runs']} runs, {result['run_seconds_sum']:.0f} s of run time)", flush=True)
    if len(results) >= 2:
        print(f"speed-up {results[-1]['processes']} vs {results[0]['processes']} processes: "
              f"{results[0]['seconds'] / results[-1]['seconds']:.2f}x   (target >= 1.7x)")


if __name__ == "__main__":
    main()
