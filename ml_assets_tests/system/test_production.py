"""The production profile for real, at the settings a user gets: Dagster on PostgreSQL with its daemon (queued runs,
run monitoring, run retries, the run-failure sensors) and webserver, steps on two Celery workers over RabbitMQ,
outputs on an S3 server with IAM authentication, MLflow server on PostgreSQL with its artifacts on S3. PostgreSQL,
Redis, RabbitMQ, S3 and the MLflow server are the stack's own and check every credential (ml_assets/local_stack.py).

Faults are made as they happen: a whole Celery worker SIGKILLed mid step, a run worker SIGKILLed mid `model`, a run
worker and its code server SIGKILLed together; no limit is shortened for them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from ml_assets.local_stack import REPO_ROOT, Stack, StackSettings, free_port
from ml_assets_tests.system.services import require_services, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.production]
RANGE = {"dagster/asset_partition_range_start": "2013-01", "dagster/asset_partition_range_end": "2013-03"}
# Planted in every credential the stack chooses; none may appear anywhere a person or a tool can read. (S3's secret
# is made by the S3 server's IAM: it is searched for by its value.)
SENTINEL = f"sentinel{uuid.uuid4().hex[:12]}"
CLI_OUTPUT: list[str] = []
ARGV_SEEN: set[str] = set()  # every command line seen on the machine while the module's runs ran
BIN = Path(sys.executable).parent


def _sample_argv(stop: threading.Event) -> None:
    """Every 0.1 s, the command line of every process (what `ps` shows any local user), while the runs run."""
    while not stop.wait(0.1):
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                ARGV_SEEN.add(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:  # the process ended while we looked
                pass


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    require_services()
    settings = StackSettings(
        folder=tmp_path_factory.mktemp("stack"),
        prefix=f"mlat_{uuid.uuid4().hex[:8]}",
        pg_password=f"pg-{SENTINEL}",
        redis_password=f"redis-{SENTINEL}",
        amqp_password=f"amqp-{SENTINEL}",
        mlflow_password=f"mlflow-{SENTINEL}",
        alert_webhook_url=f"http://127.0.0.1:9/hooks/{SENTINEL}",
    )
    running = Stack(settings)
    stop_sampling = threading.Event()
    sampler = threading.Thread(target=_sample_argv, args=(stop_sampling,), daemon=True)
    sampler.start()
    try:
        running.start()
        running.start_dagster(webserver_port=free_port())
        yield running
    finally:
        stop_sampling.set()
        sampler.join()
        running.stop()


def _launch(stack: Stack, job: str, tags: dict | None = None, **env: str) -> subprocess.Popen:
    command = [
        str(Path(sys.executable).with_name("dagster")),
        "job",
        "execute",
        "-m",
        "ml_assets.definitions",
        "-j",
        job,
    ]
    return subprocess.Popen(
        [*command, *(["--tags", json.dumps(tags)] if tags else [])],
        cwd=REPO_ROOT,
        env={**stack.settings.env(), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
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
        if event.event_type == dg.DagsterEventType.ENGINE_EVENT and "Celery worker" in (
            event.engine_event_data.metadata or {}
        ):
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


def test_with_no_worker_the_run_fails_after_its_wait_naming_the_step(stack):
    stack.stop_workers()
    try:
        began = time.monotonic()
        waiting = _launch(stack, "iris_training", ML_ASSETS_CELERY_WORKER_WAIT_S="15")
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
    with _instance(stack) as instance:
        (run,) = instance.get_runs(limit=1)
        assert run.job_name == "iris_training" and run.status == dg.DagsterRunStatus.FAILURE
        assert instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START) == []


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
    for service, (env, on_worker) in cases.items():
        if on_worker:
            stack.stop_workers()
            stack.start_worker(1, **env)
        try:
            run = _launch(stack, "iris_training", **env, ML_ASSETS_CELERY_WORKER_WAIT_S="60")
            output = run.communicate(timeout=600)[0]
        finally:
            if on_worker:
                stack.stop_workers()
                for number in (1, 2):
                    stack.start_worker(number)
        CLI_OUTPUT.append(output)
        assert run.returncode != 0, (service, output[-3000:])
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


def _versions_by_month(stack: Stack) -> dict[str, list[tuple[int, str]]]:
    """The flights model's live registered versions by the month they were trained for: (version, Dagster run id)."""
    connection = stack.connect(f"{stack.settings.prefix}_mlflow")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.value, mv.version, d.value FROM model_versions mv "
            "JOIN tags p ON p.run_uuid = mv.run_id AND p.key = 'ml_assets.partition' "
            "JOIN tags d ON d.run_uuid = mv.run_id AND d.key = 'dagster.run_id' "
            "WHERE mv.name = 'nyc_flights_air_time' AND mv.current_stage <> 'Deleted_Internal'"
        )
        rows = cursor.fetchall()
    connection.close()
    versions: dict[str, list[tuple[int, str]]] = {}
    for month, version, run_id in rows:
        versions.setdefault(month, []).append((int(version), run_id))
    return versions


def _mlflow_runs_running(stack: Stack) -> list[str]:
    connection = stack.connect(f"{stack.settings.prefix}_mlflow")
    with connection.cursor() as cursor:
        cursor.execute("SELECT run_uuid FROM runs WHERE status = 'RUNNING'")
        running = [row[0] for row in cursor.fetchall()]
    connection.close()
    return running


def _new_run(instance: dg.DagsterInstance, earlier: set[str]) -> dg.DagsterRun | None:
    newest = [
        r
        for r in instance.get_runs(limit=5)
        if r.run_id not in earlier and not r.tags.get("dagster/parent_run_id")
    ]
    return newest[0] if newest else None


def _step_running(instance: dg.DagsterInstance, run_id: str, step_key: str) -> dict | None:
    step = _step_workers(instance, run_id).get(step_key, {})
    return step if "worker" in step and "pid" in step and "end" not in step else None


def test_a_whole_worker_killed_during_the_model_step_reruns_it_on_the_other_within_minutes_at_the_defaults(
    stack,
):
    """SIGKILL of a worker's process group (master and pool child, as the OOM killer or an eviction does) while it fits
    and registers the models of three months, at the default limits: RabbitMQ returns the step to the queue as the
    worker's connection drops, the other worker runs it, the run succeeds; each month has one registered version and
    no MLflow run is left RUNNING."""
    months = ("2013-07", "2013-08", "2013-09")
    with _instance(stack) as instance:
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
        record = wait_until(lambda: _new_run(instance, earlier), "the run did not start", 300)
        step = wait_until(
            lambda: _step_running(instance, record.run_id, "nyc_flights__model") or run.poll() is not None,
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
    versions = _versions_by_month(stack)
    assert all(len(versions.get(month, [])) == 1 for month in months), versions
    assert {run_id for month in months for _, run_id in versions[month]} == {record.run_id}
    assert _mlflow_runs_running(stack) == []


def _launched(stack: Stack, job: str, tags: dict | None = None) -> str:
    """`dagster job launch` against the stack's instance (queued; the daemon dequeues it to the code server)."""
    command = [
        str(BIN / "dagster"),
        "job",
        "launch",
        "-m",
        "ml_assets.definitions",
        "-j",
        job,
        *(["--tags", json.dumps(tags)] if tags else []),
    ]
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=stack.settings.env(), capture_output=True, text=True, timeout=300
    )
    CLI_OUTPUT.append(done.stdout + done.stderr)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    with _instance(stack) as instance:
        return instance.get_runs(limit=1)[0].run_id


def _retry_of(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun | None:
    retries = [r for r in instance.get_runs(limit=20) if r.tags.get("dagster/parent_run_id") == run_id]
    return retries[0] if retries else None


def _run_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    starts = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_START)
    return starts[-1].dagster_event.pid if starts else None


def test_a_run_worker_killed_mid_model_its_step_commits_nothing_and_the_retry_does(stack):
    """SIGKILL of the run's process while its model step runs on a Celery worker: the code server fails the run, the
    step stops without recording anything more into the failed run, its task is revoked, run retries launch the rest;
    one registered version per month (the retry's), the model files are the retry's, no MLflow run left RUNNING."""
    months = ("2013-04", "2013-05", "2013-06")
    run_id = _launched(
        stack,
        "nyc_flights_training",
        {"dagster/asset_partition_range_start": months[0], "dagster/asset_partition_range_end": months[-1]},
    )
    with _instance(stack) as instance:
        wait_until(
            lambda: _step_running(instance, run_id, "nyc_flights__model"), "the model step did not start", 600
        )
        os.kill(_run_pid(instance, run_id), 9)
        killed_at = time.time()
        retry = wait_until(lambda: _retry_of(instance, run_id), "no retry was launched", 300)
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
    versions = _versions_by_month(stack)
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
    assert _mlflow_runs_running(stack) == []


def _children(pid: int) -> list[int]:
    found = []
    for tasks in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in tasks.read_text().split():
            found.extend([int(child), *_children(int(child))])
    return found


def test_a_run_whose_worker_and_code_server_are_killed_is_failed_and_retried_within_minutes(stack):
    """`dagster job launch` on the stack (the daemon dequeues it to its code server, which starts the run); then the
    code server and the run's process are SIGKILLed, so nobody is left to report the run. Run monitoring finds its
    process gone and fails it once the daemon has a code server again, run retries launch it, and the retry succeeds."""
    run_id = _launched(stack, "iris_training")
    with _instance(stack) as instance:
        wait_until(
            lambda: (
                _run_pid(instance, run_id)
                and instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)
            ),
            "the run did not start a step",
            600,
        )
        run_pid = _run_pid(instance, run_id)
        code_servers = [
            pid
            for pid in _children(stack.processes["daemon"].pid)
            if b"api grpc" in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        ]
        # the daemon may hold a replaced code server beside the new one while it drains: one of them started the run
        assert any(run_pid in _children(pid) for pid in code_servers), (code_servers, run_pid)
        for pid in (*code_servers, run_pid):
            os.kill(pid, 9)
        killed_at = time.monotonic()
        failed = wait_until(
            lambda: (r := instance.get_run_by_id(run_id)).is_finished and r, "the run was not failed", 600
        )
        failed_in = time.monotonic() - killed_at
        retry = wait_until(lambda: _retry_of(instance, run_id), "no retry was launched", 300)
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
    assert _mlflow_runs_running(stack) == []


def test_dg_launch_runs_on_the_stacks_instance(stack):
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
    with _instance(stack) as instance:
        (run,) = instance.get_runs(limit=1)
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"


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
            readers = {
                "string": client.get,
                "list": lambda k, c=client: c.lrange(k, 0, -1),
                "hash": client.hgetall,
                "set": client.smembers,
                "zset": lambda k, c=client: c.zrange(k, 0, -1),
            }
            value = readers[kind](key) if kind in readers else b""
            places.append((f"redis db{db}", f"{key!r} {value!r}"))
    s3 = stack.s3()
    for bucket in (stack.settings.bucket, stack.settings.artifact_bucket):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                places.append((f"s3 {bucket}", item["Key"] + " " + body.decode("latin-1")))
    # every file of the stack, searched whole and recursively: the logs of every server, worker, daemon and webserver
    # (appended across restarts), the instance's compute logs under dagster_home/storage, the RabbitMQ node's and the
    # MLflow auth store's folders (PostgreSQL's data folder is read through SQL above)
    roots = [stack.settings.folder, *(f for f in (stack.scratch, stack.rabbitmq_scratch) if f is not None)]
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and "pgdata" not in path.relative_to(root).parts:
                try:
                    places.append((f"file {path.relative_to(root)}", path.read_bytes().decode("latin-1")))
                except OSError:  # a file gone while we looked (a rotated log, a finished step's capture)
                    pass
    # every process's command line, which any local user can read (`ps`), now and as sampled while the runs ran
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            places.append(("argv", cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")))
        except OSError:  # the process ended while we looked
            pass
    places.extend(("argv during runs", line) for line in sorted(ARGV_SEEN))
    return places


def _leaks(places: list[tuple[str, str]], secrets: list[str]) -> dict[str, str]:
    found = {}
    for where, text in places:
        for secret in secrets:
            if secret in text:
                found[where] = text[max(0, text.find(secret) - 200) : text.find(secret) + 50]
    return found


def test_no_credential_is_shown_anywhere(stack):
    """Every credential the stack chooses holds SENTINEL, and S3's secret is known; after the runs above (a wrong
    credential each, the faults), a failing run whose error names an unreachable tracking server with credentials in
    its URL, and that run's failure alert posted to an unreachable webhook (by the daemon's sensor, and here), none
    may be readable anywhere: with the daemon and the webserver up, and every command line sampled while they ran."""
    settings = stack.settings
    secrets = [SENTINEL, settings.s3_secret]
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
    places = _readable_places(stack)
    # the error names the server, redacted
    assert "ml_assets:***@127.0.0.1:9" in "\n".join(text for _, text in places)
    wheres = {where.split(" ")[0] for where, _ in places}
    assert {"cli", "run", "event", "postgres", "redis", "s3", "file", "argv"} <= wheres, wheres
    files = {where for where, _ in places if where.startswith("file ")}
    assert {"file daemon.log", "file webserver.log", "file rabbitmq.log", "file worker1.log"} <= files
    assert any("compute_logs" in where for where in files), sorted(files)[:50]  # the steps' captured output
    sampled = "\n".join(text for where, text in places if where == "argv during runs")
    for process in (
        "mlflow server",
        "dagster-daemon",
        "dagster-webserver",
        "celery",
        "api grpc",
        "spawn_main",
        "rabbit",
    ):
        assert process in sampled, process  # the argv of every kind of process was seen while it ran
    assert not _leaks(places, secrets), _leaks(places, secrets)

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
        found = set(_leaks(_readable_places(stack), secrets))
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
