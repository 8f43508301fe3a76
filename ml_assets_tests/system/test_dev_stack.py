"""`python3 dev.py stack` as a developer runs it: the real launch path of the production profile (webserver,
daemon, queued run coordinator, run launcher, Celery worker) driven through the webserver's GraphQL with what
`dev.py backfill` sends (a month range of every asset, run by the daemon as one run), and a stop that leaves nothing
running and nothing of the machine's own services touched."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
import uuid
from pathlib import Path

import pytest

from ml_assets.local_stack import free_port
from ml_assets.orchestration.backfills import BACKFILL_MUTATION, backfill_params
from ml_assets_tests.pipelines import REPO_ROOT
from ml_assets_tests.system.services import RUN_STATUS, graphql, require_services, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.production]
BACKFILL_STATUS = (
    "query($id: String!) "
    "{ partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status runs { runId } } } }"
)
RUN_LOGS = """query($id: ID!) { logsForRun(runId: $id) { ... on EventConnection { events {
  ... on MessageEvent { message } ... on ExecutionStepFailureEvent { error { message } }
  ... on AssetCheckEvaluationEvent { evaluation { checkName partition success } } } } } }"""


def _wait(condition, what: str, timeout_s: float, output: list[str]):
    return wait_until(
        condition,
        what,
        timeout_s,
        poll_s=1,
        explain=lambda: "; dev.py stack printed:\n" + "".join(output)[-4000:],
    )


def _machine_redis():
    """The machine's Redis on 6379, if it answers: the stack must not touch it."""
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
    except OSError:
        return None
    import redis

    return redis.Redis(host="127.0.0.1", port=6379, db=0)


def test_dev_stack_runs_a_backfill_launched_as_the_ui_does_and_stops_clean():
    require_services()
    machine_redis, marker = _machine_redis(), f"ml_assets_test_untouched_{uuid.uuid4().hex[:8]}"
    if machine_redis is not None:
        machine_redis.set(marker, "1", ex=3600)
    port, folder = free_port(), REPO_ROOT / ".stack"
    base = f"http://127.0.0.1:{port}"
    stack = subprocess.Popen(
        # sensors and schedules stopped: the backfill runs alone (started, they queue every pipeline's months)
        [sys.executable, "dev.py", "stack", "--workers", "1", "--port", str(port), "--automation", "stopped"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(iter(stack.stdout.readline, "")), daemon=True).start()
    try:
        _wait(lambda: any("stack up" in line for line in output), "the stack did not come up", 300, output)
        credentials = json.loads((folder / "credentials.json").read_text())
        assert oct((folder / "credentials.json").stat().st_mode & 0o777) == "0o600"
        secrets = [credentials[s]["password"] for s in ("postgres", "redis", "rabbitmq", "mlflow")] + [
            credentials["s3"]["secret"]
        ]

        def answers() -> bool:
            try:
                urllib.request.urlopen(f"{base}/server_info", timeout=5).close()
                return True
            except OSError:
                return False

        _wait(answers, "the Dagster UI did not answer", 300, output)
        _wait(
            lambda: graphql(
                base, "{ repositoriesOrError { ... on RepositoryConnection { nodes { name } } } }", {}
            )["repositoriesOrError"].get("nodes"),
            "the code location did not load",
            300,
            output,
        )
        # what the UI sends for a backfill over two months of every flights asset
        launched = graphql(
            base, BACKFILL_MUTATION, {"params": backfill_params("nyc_flights", ["2013-01", "2013-02"])}
        )
        backfill = launched["launchPartitionBackfill"]
        assert backfill["__typename"] == "LaunchBackfillSuccess", backfill

        def finished():
            state = graphql(base, BACKFILL_STATUS, {"id": backfill["backfillId"]})["partitionBackfillOrError"]
            return (
                state
                if state["status"] in ("COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED")
                else None
            )

        state = _wait(finished, "the backfill did not finish", 900, output)
        run_ids = [run["runId"] for run in state["runs"]]
        logs = {run_id: graphql(base, RUN_LOGS, {"id": run_id}) for run_id in run_ids}
        assert state["status"] == "COMPLETED_SUCCESS", (state, json.dumps(logs)[-3000:])
        statuses = {graphql(base, RUN_STATUS, {"id": run_id})["runOrError"]["status"] for run_id in run_ids}
        assert statuses == {"SUCCESS"}, statuses
        # the range as one run (the single-run backfill policy); every check it evaluated passed
        assert len(run_ids) == 1, run_ids
        evaluations = [
            event["evaluation"]
            for answer in logs.values()
            for event in answer["logsForRun"]["events"]
            if "evaluation" in event
        ]
        assert [e["checkName"] for e in evaluations if not e["success"]] == []
        assert {"raw_schema_valid", "features_enough_rows"} <= {e["checkName"] for e in evaluations}, (
            evaluations
        )
        log_text = json.dumps(logs)
        assert "in celery worker" in log_text  # the steps ran on the stack's Celery worker
        pids = {path.name: int(path.read_text()) for path in folder.glob("*.pid")}
        assert {"postgres", "redis", "rabbitmq", "s3", "mlflow", "worker1"} <= {
            name.removesuffix(".pid") for name in pids
        }
    finally:
        os.killpg(stack.pid, signal.SIGTERM)
        stack.wait(timeout=180)
    readable = log_text + "".join(output)
    leaks = [secret for secret in secrets if secret in readable]
    assert not leaks, "a password of the stack is in the UI's logs or dev.py's output"
    assert stack.returncode == 0, "".join(output)[-3000:]
    for name, pid in pids.items():  # every server and worker of the stack is gone
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text(), name
    assert not (folder / "credentials.json").exists()
    if machine_redis is not None:
        assert machine_redis.get(marker) == b"1"  # the machine's Redis was not flushed
        machine_redis.delete(marker)
