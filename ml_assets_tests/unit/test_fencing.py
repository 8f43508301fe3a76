"""A run that ended commits nothing, and a run whose process is gone is not left STARTED: the pieces alone, on an
ephemeral instance with real (short-lived) processes; the faults themselves run in system/test_production.py."""

from __future__ import annotations

import socket
import subprocess
import sys

import dagster as dg
import pytest

from ml_assets.orchestration.celery import (
    BACKEND_ENV,
    BROKER_ENV,
    CeleryConfigError,
    FencedStepTask,
    required_url,
)
from ml_assets.orchestration.launcher import (
    RUN_HOST_TAG,
    ProcessCheckingRunLauncher,
    fail_runs_whose_process_is_gone,
    run_process_gone,
)
from ml_assets.storage.fencing import RunNoLongerRunningError, refuse_unless_running


@dg.op
def noop():
    return 1


@dg.job
def tiny():
    noop()


def _started_run(instance: dg.DagsterInstance, pid: int, tags: dict | None = None) -> dg.DagsterRun:
    """A run recorded as STARTED by the process `pid` (its RUN_START event carries the pid, as a real run's does)."""
    run = instance.create_run_for_job(tiny, tags=tags or {})
    event = dg.DagsterEvent(
        event_type_value=dg.DagsterEventType.RUN_START.value, job_name=run.job_name, pid=pid
    )
    instance.report_dagster_event(event, run.run_id)
    record = instance.get_run_by_id(run.run_id)
    assert record.status == dg.DagsterRunStatus.STARTED
    return record


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_commit_is_refused_once_its_run_has_failed_and_names_the_run_and_what():
    with dg.instance_for_test() as instance:
        run = _started_run(instance, pid=_dead_pid())
        refuse_unless_running(instance, run.run_id, "the model of 2013-01")  # STARTED: passes
        instance.report_run_failed(run, "killed")
        with pytest.raises(
            RunNoLongerRunningError,
            match=rf"run {run.run_id} is FAILURE, no longer running: the model of 2013-01",
        ):
            refuse_unless_running(instance, run.run_id, "the model of 2013-01")
    refuse_unless_running(None, "no-instance", "a bare test context")  # nothing to check against


def test_a_run_of_this_host_whose_process_is_gone_is_judged_and_a_live_one_is_not():
    here = {RUN_HOST_TAG: socket.gethostname()}
    with dg.instance_for_test() as instance:
        gone = _started_run(instance, pid=_dead_pid(), tags=here)
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        alive = _started_run(instance, pid=sleeper.pid, tags=here)
        elsewhere = _started_run(instance, pid=_dead_pid(), tags={RUN_HOST_TAG: "another-host"})
        untagged = _started_run(instance, pid=_dead_pid())  # `dagster job execute`: where it ran is unknown
        assert "is gone" in run_process_gone(instance, gone)
        assert run_process_gone(instance, alive) is None
        assert run_process_gone(instance, elsewhere) is None and run_process_gone(instance, untagged) is None
        assert fail_runs_whose_process_is_gone(instance) == [gone.run_id]
        assert instance.get_run_by_id(gone.run_id).status == dg.DagsterRunStatus.FAILURE
        assert {instance.get_run_by_id(r.run_id).status for r in (alive, elsewhere, untagged)} == {
            dg.DagsterRunStatus.STARTED
        }
        sleeper.kill()


def test_the_launcher_fails_a_gone_run_at_once_when_its_code_server_answers_else_after_the_grace():
    """A dead code server (a socket nobody listens on): RUNNING while the daemon may still be restarting
    it, FAILED after
    the grace; with no code server to wait for (a CLI run), FAILED at once."""
    with dg.instance_for_test() as instance:
        launcher = ProcessCheckingRunLauncher()
        launcher.register_instance(instance)
        assert launcher.supports_check_run_worker_health
        cli_run = _started_run(instance, pid=_dead_pid(), tags={RUN_HOST_TAG: socket.gethostname()})
        assert launcher.check_run_worker_health(cli_run).status.value == "FAILED"
        served = _started_run(
            instance,
            pid=_dead_pid(),
            tags={".dagster/grpc_info": '{"host": "localhost", "socket": "/nonexistent.sock"}'},
        )
        first = launcher.check_run_worker_health(served)
        assert first.status.value == "RUNNING" and "code server is down too" in first.msg
        launcher._first_seen_gone[served.run_id] -= launcher.code_server_grace_s + 1  # the grace has passed
        assert launcher.check_run_worker_health(served).status.value == "FAILED"


def test_a_step_task_whose_run_has_ended_does_nothing(capsys):
    """A requeued or late-delivered step of a failed run: the task returns no events and never runs the step."""
    from dagster._grpc.types import ExecuteStepArgs
    from dagster._serdes import pack_value

    with dg.instance_for_test() as instance:
        run = _started_run(instance, pid=_dead_pid())
        instance.report_run_failed(run, "killed")
        args = ExecuteStepArgs(
            job_origin=dg.reconstructable(tiny).get_python_origin(),
            run_id=run.run_id,
            step_keys_to_execute=["noop"],
            instance_ref=instance.get_ref(),
        )
        from celery import Celery

        app = Celery("fencing-test", broker="memory://", backend="cache+memory://")

        @app.task(bind=True, base=FencedStepTask, name="execute_plan")
        def step(self, execute_step_args_packed, executable_dict):
            pytest.fail("the step ran for a failed run")

        result = step.apply(
            kwargs={"execute_step_args_packed": pack_value(args), "executable_dict": {}}, task_id="task-1"
        )
        assert result.get() == []
    assert f"run {run.run_id} is FAILURE: its step task task-1 is dropped" in capsys.readouterr().err


def test_the_broker_url_has_no_default(monkeypatch):
    monkeypatch.delenv(BROKER_ENV, raising=False)
    with pytest.raises(
        CeleryConfigError, match=rf"{BROKER_ENV} is not set: .*amqp://user:password@rabbitmq:5672//"
    ):
        required_url(BROKER_ENV)
    monkeypatch.setenv(BACKEND_ENV, "redis://:x@127.0.0.1:6379/1")
    assert required_url(BACKEND_ENV) == "redis://:x@127.0.0.1:6379/1"


def test_a_rerun_step_ends_its_lost_attempts_mlflow_run_and_deletes_the_version_it_registered(tmp_path):
    """A worker lost mid `model` leaves its MLflow run RUNNING, maybe with a version registered; when the same step of
    the same Dagster run runs again, that run is KILLED and the version deleted (one version per materialization).
    Runs of other months, of other Dagster runs or of other assets are left alone."""
    from mlflow import MlflowClient

    from ml_assets.tracking import TAG_ASSET, TAG_PARTITION, MlflowTracking

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    registry = MlflowTracking(tracking_uri=uri, artifact_root=str(tmp_path / "artifacts")).registry(
        "exp", "model_name", "ds"
    )
    registry.ensure_registered_model()
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    def running(dagster_run: str, asset: str, month: str, register: bool) -> str:
        run = client.create_run(
            registry.experiment_id(),
            tags={"dagster.run_id": dagster_run, TAG_ASSET: asset, TAG_PARTITION: month},
        )
        if register:
            client.create_model_version(
                "model_name", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
            )
        return run.info.run_id

    lost = running("R1", "model", "2013-01", register=True)
    other_month = running("R1", "model", "2013-02", register=True)
    other_run = running("R2", "model", "2013-01", register=False)
    ended = registry.end_orphaned_runs(lambda run_id: False, rerun=("R1", ["2013-01"]))
    assert ended == [lost]
    assert client.get_run(lost).info.status == "KILLED"
    assert {client.get_run(r).info.status for r in (other_month, other_run)} == {"RUNNING"}
    live = {v.run_id for v in client.search_model_versions("name = 'model_name'")}
    assert live == {other_month}


def test_a_failed_dagster_runs_mlflow_runs_are_ended_wherever_they_ran(tmp_path):
    """What the failed_run_cleanup sensor does: every MLflow run of every experiment that the failed Dagster run left
    RUNNING (ml_assets' `dagster.run_id` tag and dagster-mlflow's `dagster_run_id`), whatever host or pid it names."""
    from mlflow import MlflowClient

    from ml_assets.tracking import TAG_HOST, TAG_PID, MlflowTracking

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracking = MlflowTracking(tracking_uri=uri, artifact_root=str(tmp_path / "artifacts"))
    client = MlflowClient(tracking_uri=uri)
    first, second = client.create_experiment("a"), client.create_experiment("b")
    # on Kubernetes: a pid on another host says nothing here
    elsewhere = {
        TAG_HOST: "another-pod",
        TAG_PID: "1",
    }
    step = client.create_run(first, tags={"dagster.run_id": "R1", **elsewhere}).info.run_id
    parent = client.create_run(second, tags={"dagster_run_id": "R1"}).info.run_id
    other = client.create_run(first, tags={"dagster.run_id": "R2", **elsewhere}).info.run_id
    assert sorted(tracking.end_runs_of("R1", "FAILURE")) == sorted([step, parent])
    assert {client.get_run(r).info.status for r in (step, parent)} == {"KILLED"}
    assert client.get_run(step).data.tags["ml_assets.ended_because"] == "its Dagster run R1 ended FAILURE"
    assert client.get_run(other).info.status == "RUNNING"


def test_a_process_is_alive_until_it_ends_and_a_zombie_counts_as_ended():
    """The one liveness test (processes.py) that the journal, run monitoring and MLflow's orphan clean-up share."""
    import subprocess
    import sys
    import time

    from ml_assets.processes import process_alive

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert process_alive(child.pid)
        child.kill()
        deadline = time.monotonic() + 30
        while process_alive(child.pid) and time.monotonic() < deadline:  # killed, not yet reaped: a zombie
            time.sleep(0.05)
        assert not process_alive(child.pid) and child.poll() is not None  # poll reaps it only now
    finally:
        child.kill()
        child.wait()
    assert not process_alive(child.pid)
