"""The production profile for real: Dagster on PostgreSQL, steps on two Celery workers over Redis,
outputs on an S3 server, MLflow server on PostgreSQL with its artifacts on S3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from deploy.stack import REPO_ROOT, Stack, StackSettings, services_reachable

pytestmark = [pytest.mark.slow, pytest.mark.production]
RANGE = {"dagster/asset_partition_range_start": "2013-01", "dagster/asset_partition_range_end": "2013-03"}
# Planted in every credential the stack uses; none may appear anywhere a person or a tool can read.
SENTINEL = f"sentinel{uuid.uuid4().hex[:12]}"
CLI_OUTPUT: list[str] = []


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    missing = services_reachable()
    if missing:
        if os.environ.get("ML_ASSETS_REQUIRE_SERVICES"):
            pytest.fail(f"ML_ASSETS_REQUIRE_SERVICES is set but these do not answer: {missing}")
        pytest.skip(f"services absent: {missing}")
    settings = StackSettings(
        folder=tmp_path_factory.mktemp("stack"), prefix=f"mlat_{uuid.uuid4().hex[:8]}", redis_db=4,
        pg_password=f"pg-{SENTINEL}", s3_secret=f"s3-{SENTINEL}", mlflow_client_password=f"mlflow-{SENTINEL}",
        alert_webhook_url=f"http://127.0.0.1:9/hooks/{SENTINEL}",
    )
    running = Stack(settings)
    try:
        yield running.start()
    finally:
        running.stop()
        running.drop_databases()


def _launch(stack: Stack, job: str, tags: dict | None = None) -> subprocess.Popen:
    command = [str(Path(sys.executable).with_name("dagster")), "job", "execute", "-m", "ml_assets.definitions", "-j", job]
    return subprocess.Popen(
        [*command, *(["--tags", json.dumps(tags)] if tags else [])],
        cwd=REPO_ROOT, env=stack.settings.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _instance(stack: Stack) -> dg.DagsterInstance:
    os.environ.update({k: v for k, v in stack.settings.env().items() if k.startswith("DAGSTER_PG_")})
    return dg.DagsterInstance.from_config(str(stack.settings.folder / "dagster_home"))


def _step_workers(instance: dg.DagsterInstance, run_id: str) -> dict[str, dict]:
    """Per step: the Celery worker that ran it, its process id and when it started and ended."""
    steps: dict[str, dict] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or not event.step_key:
            continue
        step = steps.setdefault(event.step_key, {})
        if event.event_type == dg.DagsterEventType.ENGINE_EVENT and "Celery worker" in (event.engine_event_data.metadata or {}):
            step["worker"] = event.engine_event_data.metadata["Celery worker"].value
        elif event.event_type == dg.DagsterEventType.STEP_START:
            step["pid"], step["start"] = event.pid, record.timestamp
        elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            step["end"] = record.timestamp
    return steps


def test_steps_run_on_two_celery_workers_and_everything_lands_in_the_services(stack):
    flights, iris = _launch(stack, "nyc_flights_training", RANGE), _launch(stack, "iris_training")
    outputs = [process.communicate(timeout=900)[0] for process in (flights, iris)]
    CLI_OUTPUT.extend(outputs)
    assert flights.returncode == 0 and iris.returncode == 0, "\n".join(o[-3000:] for o in outputs)

    with _instance(stack) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        runs = instance.get_runs()
        assert sorted(r.job_name for r in runs) == ["iris_training", "nyc_flights_training"]
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        steps, run_pids = {}, set()
        for run in runs:
            (start,) = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_START)
            run_pids.add(start.dagster_event.pid)
            steps.update({f"{run.job_name}:{k}": v for k, v in _step_workers(instance, run.run_id).items()})
    # flights: five training steps, predictions and backtest_report; iris: five and predictions
    assert len(steps) == 13 and all({"worker", "pid", "start", "end"} <= set(s) for s in steps.values()), steps
    # every step ran in a worker process, none in a run's own process, and both workers took steps
    assert not {s["pid"] for s in steps.values()} & run_pids
    assert {s["worker"].split("@")[0] for s in steps.values()} == {"w1", "w2"}
    overlapping = [
        (a, b) for a, sa in steps.items() for b, sb in steps.items()
        if sa["worker"] != sb["worker"] and sa["start"] < sb["end"] and sb["start"] < sa["end"]
    ]
    assert overlapping, "steps on the two workers never ran at the same time"

    s3 = stack.s3()
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=stack.settings.bucket)["Contents"]}
    for month in ("2013-01", "2013-02", "2013-03"):
        assert {f"data/warehouse/nyc_flights/{a}/{month}.{e}" for a, e in
                [("raw_data", "parquet"), ("features", "parquet"), ("model", "joblib")]} <= keys
        assert f"data/reports/nyc_flights/evaluation_report/{month}.json" in keys
        assert f"data/warehouse/nyc_flights/predictions/{month}.parquet" in keys  # scored by the range's champion
    assert {"data/reports/iris/evaluation_report.json", "data/reports/nyc_flights/backtest_report.json"} <= keys

    import mlflow
    import psycopg2

    connection = psycopg2.connect(
        host="127.0.0.1", user=stack.settings.pg_user, password=stack.settings.pg_password, dbname=f"{stack.settings.prefix}_mlflow"
    )
    with connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.value, count(*) FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid AND t.key = 'ml_assets.asset' "
            "WHERE r.status = 'FINISHED' GROUP BY t.value"
        )
        # in the server's PostgreSQL store: three flight months and iris, the flights' backtest, and dagster-mlflow's
        # parent run of each Dagster run that trained (the flights range and iris)
        assert dict(cursor.fetchall()) == {"model": 4, "backtest_report": 1, "dagster_run": 2}
        cursor.execute("SELECT count(*) FROM runs WHERE status = 'RUNNING'")
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*) FROM model_versions")
        assert cursor.fetchone()[0] == 4
    connection.close()
    artifacts = [o["Key"] for o in s3.list_objects_v2(Bucket=stack.settings.artifact_bucket)["Contents"]]
    assert sum(key.endswith("/MLmodel") for key in artifacts) == 4
    assert sum(key.endswith("/reference/training_sample.parquet") for key in artifacts) == 4  # each model's drift reference

    features = pd.read_parquet(
        f"s3://{stack.settings.bucket}/data/warehouse/nyc_flights/features/2013-03.parquet",
        storage_options={"key": stack.settings.s3_key, "secret": stack.settings.s3_secret,
                         "client_kwargs": {"endpoint_url": stack.settings.s3_endpoint}},
    )
    env = stack.settings.env()
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL")}
    os.environ.update({k: env[k] for k in saved})
    try:
        champion = mlflow.pyfunc.load_model("models:/nyc_flights_air_time@champion")  # through the server's artifact proxy
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    predicted = champion.predict(features.drop(columns=["duration_min"]).head(100))  # rows as delivered
    assert len(predicted) == 100 and pd.Series(predicted).between(1, 720).all()


def test_with_no_worker_listening_the_step_waits_and_nothing_runs(stack):
    stack.stop_workers()
    try:
        waiting = _launch(stack, "iris_training")
        time.sleep(20)
        assert waiting.poll() is None  # still waiting for a worker
        with _instance(stack) as instance:
            (run,) = [r for r in instance.get_runs() if r.status == dg.DagsterRunStatus.STARTED]
            started = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)
            assert started == []
        waiting.kill()  # the run process
        waiting.wait(timeout=60)
    finally:
        stack.flush_broker()  # its queued step would otherwise run, orphaned, on the next worker
        for number in (1, 2):
            stack.start_worker(number)


def test_no_credential_is_shown_anywhere(stack):
    """Event logs (metadata, errors), run config, CLI output, MLflow tags and params, worker logs;
    with a failing run whose error names an unreachable tracking server."""
    from dagster._serdes import serialize_value

    settings = stack.settings
    # steps read the tracking URI where they run: a worker whose MLflow server does not answer
    stack.stop_workers()
    stack.start_worker(1, MLFLOW_TRACKING_URI=f"http://ml_assets:mlflow-{SENTINEL}@127.0.0.1:9")
    try:
        failing = subprocess.run(
            [str(Path(sys.executable).with_name("dagster")), "job", "execute", "-m", "ml_assets.definitions", "-j", "iris_training"],
            cwd=REPO_ROOT, env=settings.env(), capture_output=True, text=True, timeout=600,
        )
    finally:
        stack.stop_workers()
        for number in (1, 2):
            stack.start_worker(number)
    assert failing.returncode != 0
    readable = [failing.stdout + failing.stderr, *CLI_OUTPUT]
    with _instance(stack) as instance:
        runs = instance.get_runs()
        assert any(r.status == dg.DagsterRunStatus.FAILURE for r in runs) and len(runs) >= 3
        for run in runs:
            readable.append(json.dumps(run.run_config, default=str))
            readable.extend(serialize_value(record) for record in instance.all_logs(run.run_id))
    failure_text = "\n".join(readable)
    assert "ml_assets:***@127.0.0.1:9" in failure_text  # the error names the server, redacted
    import psycopg2

    connection = psycopg2.connect(host="127.0.0.1", user=settings.pg_user, password=settings.pg_password, dbname=f"{settings.prefix}_mlflow")
    with connection, connection.cursor() as cursor:
        for table in ("tags", "params", "experiment_tags", "model_versions", "registered_model_tags", "model_version_tags"):
            cursor.execute(f"SELECT * FROM {table}")
            readable.extend(map(str, cursor.fetchall()))
    connection.close()
    readable.extend(p.read_text(errors="replace") for p in settings.folder.glob("*.log"))  # workers, MLflow, S3
    # every process's command line, which any local user can read (`ps`): the stack's servers and workers included
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            readable.append(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:  # the process ended while we looked
            pass
    assert any("mlflow" in text and "server" in text for text in readable)  # the search reaches the MLflow server's argv
    leaks = [text[max(0, text.find(SENTINEL) - 200): text.find(SENTINEL) + 50] for text in readable if SENTINEL in text]
    assert not leaks, leaks[:3]


def test_a_worker_killed_mid_step_fails_the_run_tears_nothing_and_a_rerun_succeeds(stack):
    month = {"dagster/asset_partition_range_start": "2013-04", "dagster/asset_partition_range_end": "2013-04"}  # after 01..03
    run = _launch(stack, "nyc_flights_training", month)
    killed = None  # (step, pid): the first step caught running, killed with SIGKILL in its worker process
    with _instance(stack) as instance:
        deadline = time.monotonic() + 300
        while killed is None and time.monotonic() < deadline and run.poll() is None:
            newest = instance.get_runs(limit=1)
            records = instance.get_records_for_run(newest[0].run_id).records if newest else []
            finished = {r.event_log_entry.dagster_event.step_key for r in records if r.event_log_entry.dagster_event
                        and r.event_log_entry.dagster_event.event_type == dg.DagsterEventType.STEP_SUCCESS}
            for record in records:
                event = record.event_log_entry.dagster_event
                if event and event.event_type == dg.DagsterEventType.STEP_START and event.step_key not in finished:
                    try:
                        os.kill(event.pid, 9)
                        killed = (event.step_key, event.pid)
                    except ProcessLookupError:  # it finished between the query and the kill
                        pass
            time.sleep(0.05)
    output = run.communicate(timeout=600)[0]
    assert killed is not None, output[-3000:]
    assert run.returncode != 0
    assert "SIGKILL" in output or "signal 9" in output, output[-3000:]
    asset = killed[0].split("__", 1)[1]
    folder = "warehouse" if asset in ("raw_data", "features", "model") else "reports"
    keys = {o["Key"] for o in stack.s3().list_objects_v2(Bucket=stack.settings.bucket)["Contents"]}
    assert not [k for k in keys if k.endswith(".tmp")]  # nothing torn: writes are renamed into place
    assert not [k for k in keys if k.startswith(f"data/{folder}/nyc_flights/{asset}/2013-04.")], killed
    rerun = _launch(stack, "nyc_flights_training", month)
    rerun_output = rerun.communicate(timeout=900)[0]
    assert rerun.returncode == 0, rerun_output[-3000:]
    keys = {o["Key"] for o in stack.s3().list_objects_v2(Bucket=stack.settings.bucket)["Contents"]}
    assert {"data/warehouse/nyc_flights/model/2013-04.joblib", "data/reports/nyc_flights/champion_model/2013-04.json"} <= keys
