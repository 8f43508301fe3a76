"""The production profile for real, at the settings a user gets: Dagster on PostgreSQL with its daemon (queued runs,
run monitoring, run retries, the run-failure sensors) and webserver, steps on two Celery workers over RabbitMQ,
outputs on an S3 server with IAM authentication, MLflow server on PostgreSQL with its artifacts on S3. PostgreSQL,
Redis, RabbitMQ, S3 and the MLflow server are the stack's own and check every credential (ml_assets/local_stack.py).

Here: the work lands in the services, a wrong credential fails naming the service and not the credential, and no
credential is shown anywhere. The faults are in test_production_faults.py, on a stack of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import dagster as dg
import pandas as pd
import pytest

from ml_assets.local_stack import REPO_ROOT
from ml_assets_tests.system.production_stack import (
    BIN,
    CLI_OUTPUT,
    SENTINEL,
    launch,
    leaks,
    readable_places,
    sampled_argv,
    stack_instance,
    step_workers,
)

pytestmark = [pytest.mark.slow, pytest.mark.production]
BOTH_WORKERS = {1: {}, 2: {}}  # the stack's two workers as started (tests below give one a wrong setting)
RANGE = {"dagster/asset_partition_range_start": "2013-01", "dagster/asset_partition_range_end": "2013-03"}


def test_steps_run_on_two_celery_workers_and_everything_lands_in_the_services(stack):
    stack.use_workers(BOTH_WORKERS)
    flights, iris = launch(stack, "nyc_flights_training", RANGE), launch(stack, "iris_training")
    outputs = [process.communicate(timeout=900)[0] for process in (flights, iris)]
    CLI_OUTPUT.extend(outputs)
    assert flights.returncode == 0 and iris.returncode == 0, "\n".join(o[-3000:] for o in outputs)

    with stack_instance(stack) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        runs = instance.get_runs()
        assert sorted(r.job_name for r in runs) == ["iris_training", "nyc_flights_training"]
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        steps, run_pids = {}, set()
        for run in runs:
            (start,) = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_START)
            run_pids.add(start.dagster_event.pid)
            steps.update({f"{run.job_name}:{k}": v for k, v in step_workers(instance, run.run_id).items()})
    # flights: five training steps, predictions and backtest_report; iris: five and predictions
    assert len(steps) == 13 and all({"worker", "pid", "start", "end"} <= set(s) for s in steps.values()), (
        steps
    )
    # every step ran in a worker process, none in a run's own process, and both workers took steps
    assert not {s["pid"] for s in steps.values()} & run_pids
    assert {s["worker"].split("@")[0] for s in steps.values()} == {"w1", "w2"}
    overlapping = [
        (a, b)
        for a, sa in steps.items()
        for b, sb in steps.items()
        if sa["worker"] != sb["worker"] and sa["start"] < sb["end"] and sb["start"] < sa["end"]
    ]
    assert overlapping, "steps on the two workers never ran at the same time"
    # at the default memory limit a worker's step process serves step after step
    assert len({s["pid"] for s in steps.values()}) < len(steps), steps

    s3 = stack.s3()
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=stack.settings.bucket)["Contents"]}
    for month in ("2013-01", "2013-02", "2013-03"):
        assert {
            f"data/warehouse/nyc_flights/{a}/{month}.{e}"
            for a, e in [("raw_data", "parquet"), ("features", "parquet"), ("model", "joblib")]
        } <= keys
        assert f"data/reports/nyc_flights/evaluation_report/{month}.json" in keys
        # scored by the range's champion
        assert f"data/warehouse/nyc_flights/predictions/{month}.parquet" in keys
    assert {
        "data/reports/iris/evaluation_report.json",
        "data/reports/nyc_flights/backtest_report.json",
    } <= keys

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
    # each model's drift reference
    assert sum(key.endswith("/reference/training_sample.parquet") for key in artifacts) == 4

    features = pd.read_parquet(
        f"s3://{stack.settings.bucket}/data/warehouse/nyc_flights/features/2013-03.parquet",
        storage_options={
            "key": stack.settings.s3_key,
            "secret": stack.settings.s3_secret,
            "client_kwargs": {"endpoint_url": stack.settings.s3_endpoint},
        },
    )
    env = stack.settings.env()
    saved = {
        k: os.environ.get(k)
        for k in (
            "MLFLOW_TRACKING_URI",
            "MLFLOW_TRACKING_USERNAME",
            "MLFLOW_TRACKING_PASSWORD",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_ENDPOINT_URL",
            "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD",
        )
    }
    os.environ.update({k: env[k] for k in saved})
    try:
        # through the server's artifact proxy
        champion = mlflow.pyfunc.load_model("models:/nyc_flights_air_time@champion")
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    predicted = champion.predict(features.drop(columns=["duration_min"]).head(100))  # rows as delivered
    assert len(predicted) == 100 and pd.Series(predicted).between(1, 720).all()


def test_a_wrong_credential_fails_with_a_message_that_names_the_service_but_not_the_credential(stack):
    wrong = f"wrong-{uuid.uuid4().hex}"
    settings = stack.settings
    cases = {  # service: (the environment given, where the steps run too)
        "PostgreSQL": ({"DAGSTER_PG_PASSWORD": wrong}, False),
        "RabbitMQ": (
            {"ML_ASSETS_CELERY_BROKER_URL": settings.broker_url.replace(settings.amqp_password, wrong)},
            False,
        ),
        "Redis": (
            {"ML_ASSETS_CELERY_BACKEND_URL": settings.redis_url(1).replace(settings.redis_password, wrong)},
            False,
        ),
        # MLflow's and S3's are checked where the steps run: a worker given the wrong one
        "MLflow": ({"MLFLOW_TRACKING_PASSWORD": wrong}, True),
        "S3": ({"AWS_SECRET_ACCESS_KEY": wrong}, True),
    }
    expected = {
        "PostgreSQL": "password authentication failed",
        "RabbitMQ": "ACCESS_REFUSED",
        "Redis": "invalid username-password pair",
        "MLflow": "401",
        "S3": "SignatureDoesNotMatch",
    }
    outputs, codes = {}, {}
    # the three the run's own process meets, side by side (each run fails on its own)
    runs = {
        service: launch(stack, "iris_training", **env, ML_ASSETS_CELERY_WORKER_WAIT_S="60")
        for service, (env, on_worker) in cases.items()
        if not on_worker
    }
    for service, run in runs.items():
        outputs[service], codes[service] = run.communicate(timeout=600)[0], run.returncode
    for service, (env, on_worker) in cases.items():  # the two a worker meets, one worker given the wrong one
        if not on_worker:
            continue
        stack.use_workers({1: env})
        run = launch(stack, "iris_training", **env, ML_ASSETS_CELERY_WORKER_WAIT_S="60")
        outputs[service], codes[service] = run.communicate(timeout=600)[0], run.returncode
    CLI_OUTPUT.extend(outputs.values())
    for service, output in outputs.items():
        assert codes[service] != 0, (service, output[-3000:])
        assert expected[service] in output, (service, output[-3000:])
        assert wrong not in output, (service, output[output.find(wrong) - 300 : output.find(wrong) + 50])


def test_a_worker_without_the_broker_setting_refuses_to_start_naming_it(stack):
    """No silent fallback to an unauthenticated local broker (the machine's Redis or RabbitMQ)."""
    env = {k: v for k, v in stack.settings.env().items() if k != "ML_ASSETS_CELERY_BROKER_URL"}
    started = subprocess.run(
        [str(BIN / "celery"), "-A", "ml_assets.celery_app", "worker", "-Q", "dagster", "--concurrency", "1"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode != 0
    assert "ML_ASSETS_CELERY_BROKER_URL is not set" in started.stderr, started.stderr[-2000:]


def test_a_step_process_above_the_memory_limit_is_replaced_before_the_next_step(stack):
    """A worker whose limit (ML_ASSETS_CELERY_CHILD_MAX_MEMORY_MB) every step process is above: Celery replaces the
    process after each step, so no two of the run's steps share one, and the run succeeds."""
    stack.use_workers({1: {"ML_ASSETS_CELERY_CHILD_MAX_MEMORY_MB": "1"}})
    iris = launch(stack, "iris_training")
    output = iris.communicate(timeout=900)[0]
    CLI_OUTPUT.append(output)
    assert iris.returncode == 0, output[-3000:]
    with stack_instance(stack) as instance:
        (run,) = instance.get_runs(limit=1)
        steps = step_workers(instance, run.run_id)
    assert len(steps) == 6 and {s["worker"].split("@")[0] for s in steps.values()} == {"w1"}, steps
    assert len({s["pid"] for s in steps.values()}) == len(steps), steps


def test_dg_launch_runs_on_the_stacks_instance(stack):
    stack.use_workers(BOTH_WORKERS)
    done = subprocess.run(
        [str(BIN / "dg"), "launch", "--assets", "iris/raw_data"],
        cwd=REPO_ROOT,
        env=stack.settings.env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    CLI_OUTPUT.append(done.stdout + done.stderr)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    with stack_instance(stack) as instance:
        (run,) = instance.get_runs(limit=1)
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"


def test_no_credential_is_shown_anywhere(stack):
    """Every credential the stack chooses holds SENTINEL, and S3's secret is known; after the runs above (a wrong
    credential each; the faults have a module and a stack of their own), a failing run whose error names an
    unreachable tracking server with credentials in its URL, and that run's failure alert posted to an unreachable
    webhook (by the daemon's sensor, and here), none may be readable anywhere: with the daemon and the webserver up,
    and every command line sampled while they ran."""
    settings = stack.settings
    secrets = [SENTINEL, settings.s3_secret]
    # steps read the tracking URI where they run: a worker whose MLflow server does not answer
    stack.use_workers({1: {"MLFLOW_TRACKING_URI": f"http://ml_assets:mlflow-{SENTINEL}@127.0.0.1:9"}})
    failing = launch(stack, "iris_training")
    CLI_OUTPUT.append(failing.communicate(timeout=600)[0])
    assert failing.returncode != 0
    # the failure alert fires for that run, as the daemon's sensor would, at the webhook URL (which holds SENTINEL)
    from ml_assets.orchestration.alerts import AlertWebhook
    from ml_assets.orchestration.sensors import run_failure_alert

    with stack_instance(stack) as instance:
        (run,) = instance.get_runs(limit=1)
        (failure,) = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert",
            dagster_event=failure.dagster_event,
            dagster_instance=instance,
            dagster_run=run,
            resources={"alert_webhook": AlertWebhook(webhook_url=settings.alert_webhook_url)},
        ).for_run_failure()
        with pytest.raises(RuntimeError) as refused:  # nothing listens on port 9
            run_failure_alert(context)
    import traceback

    CLI_OUTPUT.append("".join(traceback.format_exception(refused.value)))
    assert "the alert webhook did not accept the alert" in CLI_OUTPUT[-1]
    places = readable_places(stack)
    # the error names the server, redacted
    assert "ml_assets:***@127.0.0.1:9" in "\n".join(text for _, text in places)
    wheres = {where.split(" ")[0] for where, _ in places}
    assert {"cli", "run", "event", "postgres", "redis", "s3", "file", "argv"} <= wheres, wheres
    files = {where for where, _ in places if where.startswith("file ")}
    assert {"file daemon.log", "file webserver.log", "file rabbitmq.log", "file worker1.log"} <= files
    assert any("compute_logs" in where for where in files), sorted(files)[:50]  # the steps' captured output
    sampled = sampled_argv(places)
    # the argv of every kind of process this module's stack and runs start was seen while it ran (a run the code
    # server starts, `spawn_main`, is test_production_faults.py's: this module launches none that way)
    for process in (
        "mlflow server",
        "uvicorn",
        "moto_server",
        "dagster-daemon",
        "dagster-webserver",
        "celery",
        "api grpc",
        "dagster job execute",
        "dg launch",
        "rabbit",
        "redis-server",
        "postgres",
    ):
        assert process in sampled, process
    assert not leaks(places, secrets), leaks(places, secrets)

    # the search is able to fail: a sentinel planted in each kind of place is found there
    import zlib

    for database in stack.databases:
        connection = stack.connect(database)
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE planted (body bytea)")
            cursor.execute(
                "INSERT INTO planted VALUES (%s)", (zlib.compress(f"planted {SENTINEL}".encode()),)
            )
        connection.close()
    stack.redis(1).set("planted", SENTINEL)
    stack.s3().put_object(Bucket=settings.artifact_bucket, Key="planted.txt", Body=SENTINEL.encode())
    planted_log = settings.folder / "dagster_home" / "storage" / "planted" / "compute_logs" / "planted.err"
    planted_log.parent.mkdir(parents=True)
    planted_log.write_text(settings.s3_secret)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", SENTINEL])
    try:
        found = set(leaks(readable_places(stack), secrets))
    finally:
        sleeper.kill()
        for database in stack.databases:
            connection = stack.connect(database)
            with connection.cursor() as cursor:
                cursor.execute("DROP TABLE planted")
            connection.close()
        stack.redis(1).delete("planted")
        stack.s3().delete_object(Bucket=settings.artifact_bucket, Key="planted.txt")
        planted_log.unlink()
    assert found == {
        *(f"postgres {d}.planted" for d in stack.databases),
        "redis db1",
        f"s3 {settings.artifact_bucket}",
        "file dagster_home/storage/planted/compute_logs/planted.err",
        "argv",
        "argv during runs",
    }, found
