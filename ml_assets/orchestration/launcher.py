"""Runs whose process is gone are failed, not left STARTED.

Dagster's DefaultRunLauncher starts a run as a child of the code server, and only that code server notices when
the run's process dies. When both die (an OOM kill of the whole group, a restarted `dagster dev`), the run stays
STARTED until `max_runtime_seconds`, shown as running in the UI; a run executed in the CLI's own process (`dev.py
run`, `dagster job execute`) has no supervisor at all. Here:

- `ProcessCheckingRunLauncher`, the DefaultRunLauncher with a run-worker health check: the daemon's run monitoring
  asks it about every STARTED run every `poll_interval_seconds`, fails a run whose process is gone, and run retries
  launch it again;
- `fail_runs_whose_process_is_gone`, the same judgement at the start of `dev.py run`.

A run's process is judged only where it is knowable: on this host (a code server on localhost or a socket, or a
run tagged with this host by the CLI), by the pid of its RUN_START event. Anything else is left to its launcher.
"""

from __future__ import annotations

import json
import socket
import time

import dagster as dg

# the health check's result types are not exported by dagster; DefaultRunLauncher is
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG

from ml_assets.processes import process_alive

RUN_HOST_TAG = "ml_assets/run_host"  # set by runs executed in the CLI's own process
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


def _runs_here(run: dg.DagsterRun) -> bool:
    if run.tags.get(RUN_HOST_TAG) == socket.gethostname():
        return True
    grpc = run.tags.get(GRPC_INFO_TAG)
    if not grpc:
        return False
    info = json.loads(grpc)
    return (
        bool(info.get("socket"))
        or info.get("host") in LOCAL_HOSTS
        or info.get("host") == socket.gethostname()
    )


def run_process_gone(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str | None:
    """Why the STARTED run's process is known to be gone, or None (alive, not started yet, or not knowable here)."""
    if not _runs_here(run):
        return None
    starts = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_START)
    pid = starts[-1].dagster_event.pid if starts else None
    if pid is None or process_alive(pid):
        return None
    # the process may have ended a moment ago, its RUN_SUCCESS or RUN_FAILURE on the way: judge by the newest record
    latest = instance.get_run_by_id(run.run_id)
    if latest is None or latest.status != dg.DagsterRunStatus.STARTED:
        return None
    return (
        f"its process {pid} on {socket.gethostname()} is gone (killed, or its machine restarted) and it "
        "never recorded an end"
    )


def fail_runs_whose_process_is_gone(instance: dg.DagsterInstance) -> list[str]:
    """Mark FAILED every STARTED run of this host whose process is gone; returns their ids."""
    failed = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        reason = run_process_gone(instance, record.dagster_run)
        if reason:
            instance.report_run_failed(
                record.dagster_run, f"run {record.dagster_run.run_id} failed: {reason}"
            )
            failed.append(record.dagster_run.run_id)
    return failed


class ProcessCheckingRunLauncher(dg.DefaultRunLauncher):
    """DefaultRunLauncher whose runs the daemon's run monitoring checks (dagster.yaml `run_launcher`).

    A run whose process is gone is failed at once when its code server still answers. When the code server died
    too, the run is failed `code_server_grace_s` after its process was first seen gone: the daemon restarts a code
    server it manages when it reloads its workspace (every 60 s), and a run failed before then could not be retried
    (its retry needs the code location)."""

    code_server_grace_s = 90.0

    def __init__(self, inst_data=None):
        super().__init__(inst_data=inst_data)
        self._first_seen_gone: dict[str, float] = {}

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def _code_server_answers(self, run_id: str) -> bool:
        client = self._get_grpc_client_for_termination(run_id)
        if client is None:
            return True  # a run of the CLI's own process: no code server to wait for
        try:
            client.ping("")
            return True
        except Exception:  # noqa: BLE001 - DagsterUserCodeUnreachableError and whatever gRPC raises
            return False

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        reason = run_process_gone(self._instance, run)
        if not reason:
            self._first_seen_gone.pop(run.run_id, None)
            # alive, or not knowable from here: RUNNING, since monitoring fails a run on any other answer
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        seen = self._first_seen_gone.setdefault(run.run_id, time.monotonic())
        if not self._code_server_answers(run.run_id) and time.monotonic() - seen < self.code_server_grace_s:
            return CheckRunHealthResult(
                WorkerStatus.RUNNING, f"{reason}; its code server is down too: failed once it is back"
            )
        self._first_seen_gone.pop(run.run_id, None)
        return CheckRunHealthResult(WorkerStatus.FAILED, reason)
