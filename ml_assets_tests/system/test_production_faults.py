"""Production faults made as they happen, at the settings a user gets (no limit is shortened for them): a whole Celery
worker SIGKILLed mid step, a run worker SIGKILLed mid `model`, a run worker and its code server SIGKILLed together, no
worker at all. On a stack of its own (ml_assets_tests/system/production_stack.py), beside test_production.py's."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from ml_assets.local_stack import REPO_ROOT
from ml_assets_tests.system.production_stack import (
    BIN,
    SENTINEL,
    children,
    launch,
    launched,
    leaks,
    mlflow_runs_running,
    new_run,
    readable_places,
    retry_of,
    run_pid,
    sampled_argv,
    stack_instance,
    step_running,
    versions_by_month,
)
from ml_assets_tests.system.services import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.production]


def test_a_whole_worker_killed_during_the_model_step_reruns_it_on_the_other_within_minutes_at_the_defaults(
    stack,
):
    """SIGKILL of a worker's process group (master and pool child, as the OOM killer or an eviction does) while it fits
    and registers the models of three months, at the default limits: RabbitMQ returns the step to the queue as the
    worker's connection drops, the other worker runs it, the run succeeds; each month has one registered version and
    no MLflow run is left RUNNING."""
    months = ("2013-07", "2013-08", "2013-09")
    with stack_instance(stack) as instance:
        earlier = {r.run_id for r in instance.get_runs()}
        run = subprocess.Popen(
            [
                str(BIN / "dagster"),
                "asset",
                "materialize",
                "-m",
                "ml_assets.definitions",
                "--select",
                "nyc_flights/raw_data,nyc_flights/features,nyc_flights/model",
                "--partition-range",
                f"{months[0]}...{months[-1]}",
            ],
            cwd=REPO_ROOT,
            env=stack.settings.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        output: list[str] = []
        threading.Thread(target=lambda: output.extend(iter(run.stdout.readline, "")), daemon=True).start()
        record = wait_until(lambda: new_run(instance, earlier), "the run did not start", 300)
        step = wait_until(
            lambda: step_running(instance, record.run_id, "nyc_flights__model") or run.poll() is not None,
            "the model step did not start",
            600,
        )
        assert isinstance(step, dict), "".join(output)[-3000:]
        killed_worker, killed_at = step["worker"], time.monotonic()
        stack.kill_worker(int(killed_worker.split("@")[0][1:]))
        run.wait(timeout=900)
        recovered_in = time.monotonic() - killed_at
        try:
            assert run.returncode == 0, "".join(output)[-3000:]
            record = instance.get_run_by_id(record.run_id)
            assert record.status == dg.DagsterRunStatus.SUCCESS
            engine = [
                e.dagster_event.engine_event_data.metadata["Celery worker"].value
                for e in instance.all_logs(record.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
                if e.dagster_event.step_key == "nyc_flights__model"
                and "Celery worker" in (e.dagster_event.engine_event_data.metadata or {})
            ]
            successes = [
                e
                for e in instance.all_logs(record.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)
                if e.dagster_event.step_key == "nyc_flights__model"
            ]
        finally:
            stack.start_worker(int(killed_worker.split("@")[0][1:]))
    print(f"\n[faults] whole worker killed mid model: the run succeeded {recovered_in:.0f} s after the kill")
    # taken again by the other worker
    assert engine == [killed_worker, engine[1]] and engine[1] != killed_worker, engine
    assert len(successes) == 1
    assert recovered_in < 300, recovered_in  # minutes, not the hour of a Redis visibility timeout
    versions = versions_by_month(stack)
    assert all(len(versions.get(month, [])) == 1 for month in months), versions
    assert {run_id for month in months for _, run_id in versions[month]} == {record.run_id}
    assert mlflow_runs_running(stack) == []


def test_a_run_worker_killed_mid_model_its_step_commits_nothing_and_the_retry_does(stack):
    """SIGKILL of the run's process while its model step runs on a Celery worker: the code server fails the run, the
    step stops without recording anything more into the failed run, its task is revoked, run retries launch the rest;
    one registered version per month (the retry's), the model files are the retry's, no MLflow run left RUNNING."""
    months = ("2013-01", "2013-02", "2013-03")  # the first months: nothing before them to build first
    run_id = launched(
        stack,
        "nyc_flights_training",
        {"dagster/asset_partition_range_start": months[0], "dagster/asset_partition_range_end": months[-1]},
    )
    with stack_instance(stack) as instance:
        wait_until(
            lambda: step_running(instance, run_id, "nyc_flights__model"), "the model step did not start", 600
        )
        os.kill(run_pid(instance, run_id), 9)
        killed_at = time.time()
        retry = wait_until(lambda: retry_of(instance, run_id), "no retry was launched", 300)
        retry = wait_until(
            lambda: (r := instance.get_run_by_id(retry.run_id)).is_finished and r,
            "the retry did not finish",
            900,
        )
        failed = instance.get_run_by_id(run_id)
        failed_events = instance.all_logs(run_id)
        retry_model = [
            e
            for e in instance.all_logs(retry.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)
            if e.dagster_event.step_key == "nyc_flights__model"
        ]
    print(
        f"\n[faults] run worker killed mid model: retry {retry.status.value} "
        f"{retry_model[0].timestamp - killed_at:.0f} s "
        "after the kill (its model step's end)"
    )
    assert failed.status == dg.DagsterRunStatus.FAILURE
    assert retry.status == dg.DagsterRunStatus.SUCCESS
    ended = next(
        i
        for i, e in enumerate(failed_events)
        if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.RUN_FAILURE
    )
    # after it failed, the failed run recorded no output, materialization, check or success of any step (the fenced
    # step's process ends within RUN_WATCH_INTERVAL_S of the failure; a log line of that moment is all it could add)
    committed = {
        dg.DagsterEventType.STEP_OUTPUT,
        dg.DagsterEventType.HANDLED_OUTPUT,
        dg.DagsterEventType.ASSET_MATERIALIZATION,
        dg.DagsterEventType.ASSET_CHECK_EVALUATION,
        dg.DagsterEventType.STEP_SUCCESS,
    }
    late = [
        e.dagster_event.event_type_value
        for e in failed_events[ended + 1 :]
        if e.dagster_event and e.dagster_event.step_key
    ]
    print(f"[faults] events of steps recorded into the failed run after its failure: {late or 'none'}")
    assert not [t for t in late if dg.DagsterEventType(t) in committed], late
    assert not [
        e
        for e in failed_events
        if e.dagster_event
        and e.dagster_event.event_type
        in (dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.STEP_SUCCESS)
        and e.dagster_event.step_key == "nyc_flights__model"
    ]
    logs = "".join(path.read_text(errors="replace") for path in stack.settings.folder.glob("worker*.log"))
    assert f"run {run_id} is FAILURE" in logs  # the step's task saw its run end and stopped
    versions = versions_by_month(stack)
    assert {month: [r for _, r in versions.get(month, [])] for month in months} == {
        month: [retry.run_id] for month in months
    }
    s3 = stack.s3()
    for month in months:  # the files are the retry's: written after its model step started, by nobody since
        written = s3.head_object(
            Bucket=stack.settings.bucket, Key=f"data/warehouse/nyc_flights/model/{month}.joblib"
        )["LastModified"]
        assert written.timestamp() <= retry_model[0].timestamp + 1
        assert written.timestamp() > killed_at
    assert mlflow_runs_running(stack) == []


def test_a_run_whose_worker_and_code_server_are_killed_is_failed_and_retried_within_minutes(stack):
    """`dagster job launch` on the stack (the daemon dequeues it to its code server, which starts the run); then the
    code server and the run's process are SIGKILLed, so nobody is left to report the run. Run monitoring finds its
    process gone and fails it once the daemon has a code server again, run retries launch it, and the retry succeeds."""
    run_id = launched(stack, "iris_training")
    with stack_instance(stack) as instance:
        wait_until(
            lambda: (
                run_pid(instance, run_id)
                and instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)
            ),
            "the run did not start a step",
            600,
        )
        killed_pid = run_pid(instance, run_id)
        code_servers = [
            pid
            for pid in children(stack.processes["daemon"].pid)
            if b"api grpc" in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        ]
        # the daemon may hold a replaced code server beside the new one while it drains: one of them started the run
        assert any(killed_pid in children(pid) for pid in code_servers), (code_servers, killed_pid)
        for pid in (*code_servers, killed_pid):
            os.kill(pid, 9)
        killed_at = time.monotonic()
        failed = wait_until(
            lambda: (r := instance.get_run_by_id(run_id)).is_finished and r, "the run was not failed", 600
        )
        failed_in = time.monotonic() - killed_at
        retry = wait_until(lambda: retry_of(instance, run_id), "no retry was launched", 300)
        retry = wait_until(
            lambda: (r := instance.get_run_by_id(retry.run_id)).is_finished and r,
            "the retry did not finish",
            900,
        )
        retried_in = time.monotonic() - killed_at
        failure = [e.message for e in instance.all_logs(run_id) if "is gone" in (e.message or "")]
    print(
        f"\n[faults] run worker and code server killed: FAILED after {failed_in:.0f} s, retry SUCCESS "
        f"after {retried_in:.0f} s"
    )
    assert failed.status == dg.DagsterRunStatus.FAILURE
    assert failure, "the run's failure does not say its process is gone"
    assert retry.status == dg.DagsterRunStatus.SUCCESS
    assert failed_in < 300
    assert mlflow_runs_running(stack) == []


def test_with_no_worker_the_run_fails_after_its_wait_naming_the_step(stack):
    stack.stop_workers()
    try:
        began = time.monotonic()
        waiting = launch(stack, "iris_training", ML_ASSETS_CELERY_WORKER_WAIT_S="15")
        output = waiting.communicate(timeout=600)[0]
        waited = time.monotonic() - began
    finally:
        stack.flush_broker()  # its revoked step stays queued on RabbitMQ until then
        for number in (1, 2):
            stack.start_worker(number)
    assert waiting.returncode != 0
    assert "no Celery worker took step iris__raw_data from queue 'dagster' within 15 s" in output, output[
        -3000:
    ]
    assert waited < 300, waited  # the run's start-up, 15 s of waiting, and its failure: never a hang
    with stack_instance(stack) as instance:
        (run,) = instance.get_runs(limit=1)
        assert run.job_name == "iris_training" and run.status == dg.DagsterRunStatus.FAILURE
        assert instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START) == []


def test_nothing_the_faults_left_shows_a_credential(stack):
    """The killed processes' last words, the failed runs and their retries: no credential of this stack anywhere
    readable (the search is the one test_production.py proves able to fail on planted credentials)."""
    places = readable_places(stack)
    assert {where.split(" ")[0] for where, _ in places} >= {
        "cli",
        "run",
        "event",
        "postgres",
        "s3",
        "file",
        "argv",
    }
    # the runs `dagster job launch` sent through the daemon ran in processes their code server spawned: sampled too
    sampled = sampled_argv(places)
    assert "spawn_main" in sampled and "api grpc" in sampled
    assert not leaks(places, [SENTINEL, stack.settings.s3_secret]), leaks(
        places, [SENTINEL, stack.settings.s3_secret]
    )
