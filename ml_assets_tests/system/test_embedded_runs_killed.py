"""The embedded profile when a run's process is killed (OOM, a closed laptop lid, Ctrl-\\): the run is never left
STARTED. The next `dev.py run` marks it FAILED at its start; under `dagster dev` the daemon's run monitoring does
it within a poll (the instance dev.py writes: ProcessCheckingRunLauncher, run_monitoring on)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import dagster as dg
import pytest

from ml_assets_tests.pipelines import REPO_ROOT

pytestmark = pytest.mark.slow
BIN = os.path.dirname(sys.executable)


def _env(tmp_path) -> dict:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "ML_ASSETS_DATA_DIR": str(tmp_path / "data")}
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def _killed_mid_run(env: dict, instance: dg.DagsterInstance) -> str:
    """`dev.py run --pipelines iris`, SIGKILLed (its whole group) once its run has started a step; the run's id."""
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "dev.py"), "run", "--pipelines", "iris"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        runs = [r for r in instance.get_runs(limit=1) if r.status == dg.DagsterRunStatus.STARTED]
        if runs and instance.all_logs(runs[0].run_id, of_type=dg.DagsterEventType.STEP_START):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
            return runs[0].run_id
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    pytest.fail("the run did not start a step within 600 s")


def test_a_killed_runs_status_is_failed_by_the_next_start_and_by_the_daemon(tmp_path):
    env = _env(tmp_path)
    # dev.py writes the embedded instance's dagster.yaml on its first start
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "dev.py"), "run", "--pipelines", "iris"],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=900,
    )
    config = (tmp_path / "home" / "dagster.yaml").read_text()
    assert "ProcessCheckingRunLauncher" in config and "run_monitoring" in config
    os.environ["DAGSTER_HOME"] = env["DAGSTER_HOME"]
    try:
        with dg.DagsterInstance.get() as instance:
            # 1. the next dev.py run marks it FAILED before it starts its own
            killed = _killed_mid_run(env, instance)
            # nobody else would ever change it
            assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.STARTED
            again = subprocess.run(
                [sys.executable, str(REPO_ROOT / "dev.py"), "run", "--pipelines", "iris"],
                cwd=REPO_ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert again.returncode == 0, again.stderr[-3000:]
            assert (
                f"run {killed} of an earlier start was still STARTED though its process is gone: marked FAILED"
                in again.stdout
            )
            assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.FAILURE

            # 2. with the daemon of `dagster dev` up, its run monitoring fails the next one within a poll
            killed = _killed_mid_run(env, instance)
            daemon = subprocess.Popen(
                [os.path.join(BIN, "dagster-daemon"), "run", "-w", str(REPO_ROOT / "workspace.yaml")],
                cwd=REPO_ROOT,
                env={**env, "ML_ASSETS_AUTOMATION": "stopped"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            began = time.monotonic()
            try:
                while (
                    time.monotonic() - began < 300
                    and instance.get_run_by_id(killed).status == dg.DagsterRunStatus.STARTED
                ):
                    time.sleep(0.5)
                waited = time.monotonic() - began
            finally:
                os.killpg(daemon.pid, signal.SIGTERM)
                daemon.wait(timeout=60)
            record = instance.get_run_by_id(killed)
            said = [e.message for e in instance.all_logs(killed) if "is gone" in (e.message or "")]
    finally:
        os.environ.pop("DAGSTER_HOME", None)
    print(f"\n[embedded] a killed run was marked FAILED by the daemon {waited:.0f} s after it started")
    assert record.status == dg.DagsterRunStatus.FAILURE, waited
    assert said, "the failure does not say the run's process is gone"
