"""A month range of nyc_flights as one asset backfill through a real `dagster-daemon`.

    python -m benchmarks.backfill [--launch range names] [--first 2013-01 --last 2013-12]

For each launch style: a throwaway DAGSTER_HOME, a real `dagster-daemon`, the backfill launched
through GraphQL, timed from launch until it completes, with the peak memory (VmHWM) of every run
process it started.

- `range`: what `python3 dev.py backfill` sends, the same month range for every asset;
- `names`: what the UI sends for "Materialize all" over a range picked by partition names
  (partition names + the group's assets; Dagster derives each asset's months from the roots).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.runner import REPO_ROOT
from ml_assets.months import months_between

# what `dev.py backfill` sends
from ml_assets.orchestration.backfills import BACKFILL_MUTATION, backfill_outcome, backfill_params
from ml_assets.orchestration.plan import ASSET_NAMES

FLIGHTS_FIRST_MONTH, FLIGHTS_LAST_MONTH = "2013-01", "2013-12"  # ml_assets/defs/nyc_flights/defs.yaml
# The backfill daemon evaluates backfills every 30 s (DEFAULT_DAEMON_INTERVAL_SECONDS, not
# configurable in Dagster 1.13): a backfill takes at least one such round after its last run.
DAEMON_LOOP_S = 30
BEFORE = "before: 275 s with one run per month and 1 process, 214 s with 2"

DONE = {"COMPLETED_SUCCESS", "COMPLETED_FAILED", "COMPLETED", "FAILED", "CANCELED"}


def ui_params(pipeline: str, months: list[str]) -> dict:
    """What the UI's launch dialog sends for the group's assets over a range of partition names."""
    return {
        "assetSelection": [{"path": [pipeline, asset]} for asset in ASSET_NAMES],
        "partitionNames": months,
        "fromFailure": False,
    }


class RunMemoryWatch:
    """Peak resident memory (VmHWM, from /proc) of every run process under a process tree."""

    def __init__(self, root_pid: int):
        self.root_pid, self.peak_mb, self._stop = root_pid, {}, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            for pid in self._descendants(self.root_pid):
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                    # the code server starts each run as a multiprocessing child (spawn_main)
                    if "execute_run" not in cmdline and "spawn_main" not in cmdline:
                        continue
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        self.peak_mb[pid] = max(self.peak_mb.get(pid, 0.0), int(line.split()[1]) / 1024)

    @staticmethod
    def _descendants(root: int) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int(Path(entry, "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(entry.name))
        found, stack = [], [root]
        while stack:
            for child in children.get(stack.pop(), []):
                found.append(child)
                stack.append(child)
        return found


def timed_backfill(
    launch: str, months: list[str], timeout_s: float, processes: int = 2, inspect=None
) -> dict:
    """`inspect(instance, data_dir, result)`, if given, looks at the outcome before the folder goes."""
    import dagster as dg

    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        (home / "dagster.yaml").write_text(
            "telemetry:\n  enabled: false\n"
            f"run_queue:\n  max_concurrent_runs: {processes}\n  dequeue_interval_seconds: 1\n"
        )
        workspace = Path(tmp) / "workspace.yaml"
        workspace.write_text(
            "load_from:\n  - python_module:\n      module_name: ml_assets.definitions\n      "
            f"working_directory: {REPO_ROOT}\n"
        )
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("ML_ASSETS_") and k != "MLFLOW_TRACKING_URI"
        }
        # the backfill alone is timed: every pipeline's sensors start stopped, or they would queue their own runs
        env.update(
            DAGSTER_HOME=str(home), ML_ASSETS_DATA_DIR=str(Path(tmp) / "data"), ML_ASSETS_AUTOMATION="stopped"
        )
        # the storage is made here, before the daemon and dagster-graphql start together: two processes making a new
        # SQLite storage at once left it with two alembic heads, unreadable by both (CI lost a busy-machine test so)
        dg.DagsterInstance.from_config(str(home)).dispose()
        log = (Path(tmp) / "daemon.log").open("w")
        daemon = subprocess.Popen(
            [str(bin_dir / "dagster-daemon"), "run", "-w", str(workspace)],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            params = (
                backfill_params("nyc_flights", months)
                if launch == "range"
                else ui_params("nyc_flights", months)
            )
            with RunMemoryWatch(daemon.pid) as memory:
                started = time.perf_counter()
                out = subprocess.run(
                    [
                        str(bin_dir / "dagster-graphql"),
                        "-w",
                        str(workspace),
                        "-t",
                        BACKFILL_MUTATION,
                        "-v",
                        json.dumps({"params": params}),
                    ],
                    cwd=REPO_ROOT,
                    env=env,
                    capture_output=True,
                    text=True,
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
                    time.sleep(1)
                seconds = time.perf_counter() - started
            backfill = instance.get_backfill(launched["backfillId"])
            # Dagster's own record: from the backfill's creation (the UI's click) to its completion
            recorded = (backfill.backfill_end_timestamp or time.time()) - backfill.backfill_timestamp
            runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": launched["backfillId"]}))
            records = [instance.get_run_record_by_id(run.run_id) for run in runs]
            run_seconds = [r.end_time - r.start_time for r in records if r.start_time and r.end_time]
            outcome = backfill_outcome(instance, launched["backfillId"])
            checks_failed = sum(
                1
                for run in runs
                for record in instance.all_logs(
                    run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
                )
                if not record.dagster_event.event_specific_data.passed
            )
            result = {
                "launch": launch,
                "seconds": seconds,
                "recorded_seconds": recorded,
                "status": status,
                "runs": len(runs),
                "run_seconds": sorted(run_seconds),
                "peak_rss_mb": max(memory.peak_mb.values(), default=float("nan")),
                "failures": [f[:600] for f in outcome["failures"]],
                "failed_partitions": outcome["failed_partitions"],
                "checks_failed": checks_failed,
                "backfill_id": launched["backfillId"],
            }
            log.flush()
            # the daemon's own account of a failure (a stalled backfill, a launch that raised) is only in its log
            result["daemon_log"] = [
                line.rstrip()[:400]
                for line in (Path(tmp) / "daemon.log").read_text(errors="replace").splitlines()
                if any(
                    word in line
                    for word in ("Marking them as failed", "Error", "error", "Traceback", "Exception")
                )
            ][:40]
            if inspect is not None:
                inspect(instance, Path(tmp) / "data", result)
            return result
        finally:
            os.killpg(daemon.pid, signal.SIGTERM)
            try:  # a throwaway instance: measured, the daemon often outlasted a 60 s wait for nothing
                daemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
            log.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--launch", nargs="+", choices=["range", "names"], default=["range", "names"])
    parser.add_argument("--first", default=FLIGHTS_FIRST_MONTH)
    parser.add_argument("--last", default=FLIGHTS_LAST_MONTH)
    parser.add_argument("--timeout-s", type=float, default=1200)
    args = parser.parse_args(argv)
    months = months_between(args.first, args.last)
    print(
        f"nyc_flights {months[0]}..{months[-1]} ({len(months)} months) as an asset backfill, real daemon; {BEFORE}"
    )
    for launch in args.launch:
        result = timed_backfill(launch, months, args.timeout_s)
        runs = ", ".join(f"{s:.1f}" for s in result["run_seconds"])
        print(
            f"  {launch:<6} {result['recorded_seconds']:5.0f} s from launch to completion "
            f"({result['seconds']:.0f} s with our "
            f"CLI's launch call)  {result['status']}, {result['runs']} run(s) of {runs} s, "
            f"checks failed: {result['checks_failed']}, peak RSS of a run {result['peak_rss_mb']:.0f} MB   "
            "(target <= 60 s)",
            flush=True,
        )
        for failure in result["failures"]:
            print(f"    {failure}")
    print(
        f"  the daemon evaluates backfills every {DAEMON_LOOP_S} s: up to that long before the first run "
        "and after the last"
    )


if __name__ == "__main__":
    main()
