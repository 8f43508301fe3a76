"""The production profile for real: Dagster on PostgreSQL, steps on two Celery workers over Redis,
outputs on an S3 server, MLflow server on PostgreSQL with its artifacts on S3. PostgreSQL, Redis and
the MLflow server are the stack's own and check every password (deploy/stack.py)."""

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

from deploy.stack import REPO_ROOT, Stack, StackSettings
from ml_assets_tests.system.services import require_services

pytestmark = [pytest.mark.slow, pytest.mark.production]
RANGE = {"dagster/asset_partition_range_start": "2013-01", "dagster/asset_partition_range_end": "2013-03"}
# Planted in every credential the stack uses; none may appear anywhere a person or a tool can read.
SENTINEL = f"sentinel{uuid.uuid4().hex[:12]}"
CLI_OUTPUT: list[str] = []


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    require_services()
    settings = StackSettings(
        folder=tmp_path_factory.mktemp("stack"), prefix=f"mlat_{uuid.uuid4().hex[:8]}",
        pg_password=f"pg-{SENTINEL}", redis_password=f"redis-{SENTINEL}", s3_secret=f"s3-{SENTINEL}",
        mlflow_password=f"mlflow-{SENTINEL}", alert_webhook_url=f"http://127.0.0.1:9/hooks/{SENTINEL}",
        # steps of these runs take seconds; a waiting step fails its run after two minutes (not fifteen)
        celery_env={"ML_ASSETS_CELERY_STEP_TIME_LIMIT_S": "300", "ML_ASSETS_CELERY_WORKER_WAIT_S": "120"},
    )
    running = Stack(settings)
    try:
        yield running.start()
    finally:
        running.stop()


def _launch(stack: Stack, job: str, tags: dict | None = None, **env: str) -> subprocess.Popen:
    command = [str(Path(sys.executable).with_name("dagster")), "job", "execute", "-m", "ml_assets.definitions", "-j", job]
    return subprocess.Popen(
        [*command, *(["--tags", json.dumps(tags)] if tags else [])],
        cwd=REPO_ROOT, env={**stack.settings.env(), **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
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

    connection = stack.connect(f"{stack.settings.prefix}_mlflow")
    with connection.cursor() as cursor:
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
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
                                           "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL")}
    os.environ.update({k: env[k] for k in saved})
    try:
        champion = mlflow.pyfunc.load_model("models:/nyc_flights_air_time@champion")  # through the server's artifact proxy
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    predicted = champion.predict(features.drop(columns=["duration_min"]).head(100))  # rows as delivered
    assert len(predicted) == 100 and pd.Series(predicted).between(1, 720).all()


def test_with_no_worker_the_run_fails_after_its_wait_naming_the_step(stack):
    stack.stop_workers()
    try:
        began = time.monotonic()
        waiting = _launch(stack, "iris_training", ML_ASSETS_CELERY_WORKER_WAIT_S="15")
        output = waiting.communicate(timeout=600)[0]
        waited = time.monotonic() - began
    finally:
        stack.flush_broker()  # its revoked step stays queued in Redis until then
        for number in (1, 2):
            stack.start_worker(number)
    assert waiting.returncode != 0
    assert "no Celery worker took step iris__raw_data from queue 'dagster' within 15 s" in output, output[-3000:]
    assert waited < 300, waited  # the run's start-up, 15 s of waiting, and its failure: never a hang
    with _instance(stack) as instance:
        (run,) = instance.get_runs(limit=1)
        assert run.job_name == "iris_training" and run.status == dg.DagsterRunStatus.FAILURE
        assert instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START) == []


def test_a_wrong_password_fails_with_a_message_that_names_the_service_but_not_the_password(stack):
    wrong = f"wrong-{uuid.uuid4().hex}"
    cases = {
        "PostgreSQL": {"DAGSTER_PG_PASSWORD": wrong},
        "Redis": {"ML_ASSETS_CELERY_BROKER_URL": stack.settings.redis_url(0).replace(stack.settings.redis_password, wrong)},
        "MLflow": {"MLFLOW_TRACKING_PASSWORD": wrong},
    }
    expected = {
        "PostgreSQL": "password authentication failed",
        "Redis": "invalid username-password pair",
        "MLflow": "401",
    }
    for service, env in cases.items():
        # MLflow's password is checked where the steps run: a worker given the wrong one
        if service == "MLflow":
            stack.stop_workers()
            stack.start_worker(1, **env)
        try:
            run = _launch(stack, "iris_training", **env, ML_ASSETS_CELERY_WORKER_WAIT_S="60")
            output = run.communicate(timeout=600)[0]
        finally:
            if service == "MLflow":
                stack.stop_workers()
                for number in (1, 2):
                    stack.start_worker(number)
        CLI_OUTPUT.append(output)
        assert run.returncode != 0, (service, output[-3000:])
        assert expected[service] in output, (service, output[-3000:])
        assert wrong not in output, (service, output[output.find(wrong) - 300: output.find(wrong) + 50])


def _readable_places(stack: Stack) -> list[tuple[str, str]]:
    """Everything a person or a tool can read, as (where, text)."""
    import zlib

    from dagster._serdes import serialize_value

    places = [("cli output", text) for text in CLI_OUTPUT]
    with _instance(stack) as instance:
        for run in instance.get_runs():
            places.append(("run config", json.dumps(run.run_config, default=str)))
            places.extend(("event log", serialize_value(record)) for record in instance.all_logs(run.run_id))
    for database in stack.databases:  # every table of both databases; Dagster keeps snapshots zlib-compressed
        connection = stack.connect(database)
        with connection.cursor() as cursor:
            cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
            for (table,) in cursor.fetchall():
                cursor.execute(f'SELECT * FROM "{table}"')
                for row in cursor.fetchall():
                    for value in row:
                        if isinstance(value, (bytes, memoryview)):
                            value = bytes(value)
                            try:
                                value = zlib.decompress(value)
                            except zlib.error:
                                pass
                            value = value.decode("latin-1")
                        places.append((f"postgres {database}.{table}", str(value)))
        connection.close()
    for db in (0, 1):  # the broker's queues and the result backend
        client = stack.redis(db)
        for key in client.scan_iter():
            kind = client.type(key).decode()
            readers = {"string": client.get, "list": lambda k, c=client: c.lrange(k, 0, -1), "hash": client.hgetall,
                       "set": client.smembers, "zset": lambda k, c=client: c.zrange(k, 0, -1)}
            value = readers[kind](key) if kind in readers else b""
            places.append((f"redis db{db}", f"{key!r} {value!r}"))
    s3 = stack.s3()
    for bucket in (stack.settings.bucket, stack.settings.artifact_bucket):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                places.append((f"s3 {bucket}", item["Key"] + " " + body.decode("latin-1")))
    # the logs of PostgreSQL, Redis, S3, the MLflow server and every worker (appended across restarts)
    places.extend((f"log {path.name}", path.read_text(errors="replace")) for path in stack.settings.folder.glob("*.log"))
    # every process's command line, which any local user can read (`ps`): the stack's servers and workers included
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            places.append(("argv", cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")))
        except OSError:  # the process ended while we looked
            pass
    return places


def _leaks(places: list[tuple[str, str]]) -> dict[str, str]:
    return {where: text[max(0, text.find(SENTINEL) - 200): text.find(SENTINEL) + 50] for where, text in places if SENTINEL in text}


def test_no_credential_is_shown_anywhere(stack):
    """Every credential of the stack holds SENTINEL; after the runs above (a wrong password each), a failing run
    whose error names an unreachable tracking server with credentials in its URL, and that run's failure alert posted
    to an unreachable webhook, none may be readable anywhere."""
    settings = stack.settings
    # steps read the tracking URI where they run: a worker whose MLflow server does not answer
    stack.stop_workers()
    stack.start_worker(1, MLFLOW_TRACKING_URI=f"http://ml_assets:mlflow-{SENTINEL}@127.0.0.1:9")
    try:
        failing = _launch(stack, "iris_training")
        CLI_OUTPUT.append(failing.communicate(timeout=600)[0])
    finally:
        stack.stop_workers()
        for number in (1, 2):
            stack.start_worker(number)
    assert failing.returncode != 0
    # the failure alert fires for that run, as the daemon's sensor would, at the webhook URL (which holds SENTINEL)
    from ml_assets.orchestration.alerts import AlertWebhook
    from ml_assets.orchestration.sensors import run_failure_alert

    with _instance(stack) as instance:
        (run,) = instance.get_runs(limit=1)
        (failure,) = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert", dagster_event=failure.dagster_event, dagster_instance=instance, dagster_run=run,
            resources={"alert_webhook": AlertWebhook(webhook_url=settings.alert_webhook_url)},
        ).for_run_failure()
        with pytest.raises(RuntimeError) as refused:  # nothing listens on port 9
            run_failure_alert(context)
    import traceback

    CLI_OUTPUT.append("".join(traceback.format_exception(refused.value)))
    assert "the alert webhook did not accept the alert" in CLI_OUTPUT[-1]
    places = _readable_places(stack)
    assert "ml_assets:***@127.0.0.1:9" in "\n".join(text for _, text in places)  # the error names the server, redacted
    wheres = {where.split(" ")[0] for where, _ in places}
    assert {"cli", "run", "event", "postgres", "redis", "s3", "log", "argv"} <= wheres, wheres
    assert any(where == "argv" and "mlflow" in text and "server" in text for where, text in places)  # the servers' argv
    assert not _leaks(places), _leaks(places)

    # the search is able to fail: a sentinel planted in each kind of place is found there
    import zlib

    for database in stack.databases:
        connection = stack.connect(database)
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE planted (body bytea)")
            cursor.execute("INSERT INTO planted VALUES (%s)", (zlib.compress(f"planted {SENTINEL}".encode()),))
        connection.close()
    stack.redis(1).set("planted", SENTINEL)
    stack.s3().put_object(Bucket=settings.artifact_bucket, Key="planted.txt", Body=SENTINEL.encode())
    (settings.folder / "planted.log").write_text(SENTINEL)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", SENTINEL])
    try:
        found = set(_leaks(_readable_places(stack)))
    finally:
        sleeper.kill()
        for database in stack.databases:
            connection = stack.connect(database)
            with connection.cursor() as cursor:
                cursor.execute("DROP TABLE planted")
            connection.close()
        stack.redis(1).delete("planted")
        stack.s3().delete_object(Bucket=settings.artifact_bucket, Key="planted.txt")
        (settings.folder / "planted.log").unlink()
    assert found == {*(f"postgres {d}.planted" for d in stack.databases), "redis db1", f"s3 {settings.artifact_bucket}",
                     "log planted.log", "argv"}, found


def test_a_whole_worker_killed_mid_step_its_step_reruns_on_the_other_and_the_run_succeeds(stack):
    """SIGKILL of a worker's process group (master and pool child, as the OOM killer or an eviction does) while it runs
    a step: Redis hands the unacknowledged step to the other worker after its redelivery delay and the run succeeds."""
    # short limits, so the step is handed out again within a minute and a half rather than an hour
    limits = {"ML_ASSETS_CELERY_STEP_TIME_LIMIT_S": "60", "ML_ASSETS_CELERY_REDELIVER_AFTER_S": "75"}
    stack.stop_workers()
    for number in (1, 2):
        stack.start_worker(number, **limits)
    try:
        with _instance(stack) as instance:
            earlier = {r.run_id for r in instance.get_runs()}
            # raw_data and features alone: steps of seconds, well inside the shortened time limit
            run = subprocess.Popen(
                [str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-m", "ml_assets.definitions",
                 "--select", "nyc_flights/raw_data,nyc_flights/features", "--partition", "2013-01"],
                cwd=REPO_ROOT, env={**stack.settings.env(), **limits}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
            killed = None  # (step, worker name, when)
            deadline = time.monotonic() + 300
            while killed is None and time.monotonic() < deadline and run.poll() is None:
                newest = [r for r in instance.get_runs(limit=1) if r.run_id not in earlier]
                steps = _step_workers(instance, newest[0].run_id) if newest else {}
                running = [(key, step["worker"]) for key, step in steps.items() if "worker" in step and "pid" in step and "end" not in step]
                if running:
                    step_key, worker = running[0]
                    stack.kill_worker(int(worker.split("@")[0][1:]))
                    killed = (step_key, worker, time.monotonic())
                time.sleep(0.05)
        output = run.communicate(timeout=900)[0]
        finished = time.monotonic()
    finally:
        stack.stop_workers()
        for number in (1, 2):
            stack.start_worker(number)
    assert killed is not None, output[-3000:]
    assert run.returncode == 0, output[-3000:]
    assert finished - killed[2] < 75 + 180, finished - killed[2]  # its redelivery delay, the rerun and the rest of the run
    with _instance(stack) as instance:
        (record,) = instance.get_runs(limit=1)
        assert record.status == dg.DagsterRunStatus.SUCCESS
        engine = [e for e in instance.all_logs(record.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
                  if e.dagster_event.step_key == killed[0] and "Celery worker" in (e.dagster_event.engine_event_data.metadata or {})]
        workers = [e.dagster_event.engine_event_data.metadata["Celery worker"].value for e in engine]
        starts = instance.all_logs(record.run_id, of_type=dg.DagsterEventType.STEP_START)
        debug = [(e.dagster_event.step_key, e.dagster_event.event_type_value, e.message[:80]) for e in instance.all_logs(record.run_id) if e.dagster_event]
    assert len(workers) == 2 and workers[0] == killed[1] and workers[1] != killed[1], (killed, workers, debug)  # rerun on the other worker
    assert sum(e.dagster_event.step_key == killed[0] for e in starts) == 2
    keys = {o["Key"] for o in stack.s3().list_objects_v2(Bucket=stack.settings.bucket)["Contents"]}
    assert {"data/warehouse/nyc_flights/raw_data/2013-01.parquet", "data/warehouse/nyc_flights/features/2013-01.parquet"} <= keys
