"""The production stack the production tests share: one per test module (ml_assets_tests/system/conftest.py), so
two modules run side by side, each on a stack of its own; and the helpers that launch runs on it, read its instance,
MLflow store and S3 bucket, and search everything readable for a credential.

Every credential a stack chooses holds SENTINEL; none may appear anywhere a person or a tool can read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from ml_assets.local_stack import REPO_ROOT, Stack, StackSettings, free_port
from ml_assets_tests.system.services import require_services

# Planted in every credential the stack chooses; none may appear anywhere a person or a tool can read. (S3's secret
# is made by the S3 server's IAM: it is searched for by its value.)
SENTINEL = f"sentinel{uuid.uuid4().hex[:12]}"
CLI_OUTPUT: list[str] = []
ARGV_SEEN: set[str] = set()  # every command line seen on the machine while the stacks' runs ran
BIN = Path(sys.executable).parent


def command_lines() -> list[str]:
    """The command line of every process now (what `ps` shows any local user). /proc is listed, not globbed:
    Path.glob checks each entry it matches, and one of a process that just ended raised out of the loop."""
    lines = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            lines.append(
                Path("/proc", pid, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            )
        except OSError:  # the process ended while we looked
            pass
    return lines


def sample_argv(stop: threading.Event) -> None:
    """Every 0.1 s, every process's command line, while the runs run."""
    while not stop.wait(0.1):
        ARGV_SEEN.update(command_lines())


def running_stack(folder: Path) -> Iterator[Stack]:
    """A started stack (services and Dagster's daemon and webserver) in `folder`, every command line on the machine
    sampled while it runs; stopped at the end."""
    require_services()
    settings = StackSettings(
        folder=folder,
        prefix=f"mlat_{uuid.uuid4().hex[:8]}",
        pg_password=f"pg-{SENTINEL}",
        redis_password=f"redis-{SENTINEL}",
        amqp_password=f"amqp-{SENTINEL}",
        mlflow_password=f"mlflow-{SENTINEL}",
        alert_webhook_url=f"http://127.0.0.1:9/hooks/{SENTINEL}",
    )
    running = Stack(settings)
    stop_sampling = threading.Event()
    sampler = threading.Thread(target=sample_argv, args=(stop_sampling,), daemon=True)
    sampler.start()
    try:
        running.start()
        running.start_dagster(webserver_port=free_port())
        yield running
    finally:
        stop_sampling.set()
        sampler.join()
        running.stop()


def launch(stack: Stack, job: str, tags: dict | None = None, **env: str) -> subprocess.Popen:
    command = [
        str(BIN / "dagster"),
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


def stack_instance(stack: Stack) -> dg.DagsterInstance:
    os.environ.update({k: v for k, v in stack.settings.env().items() if k.startswith("DAGSTER_PG_")})
    return dg.DagsterInstance.from_config(str(stack.settings.folder / "dagster_home"))


def step_workers(instance: dg.DagsterInstance, run_id: str) -> dict[str, dict]:
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


def versions_by_month(stack: Stack) -> dict[str, list[tuple[int, str]]]:
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


def mlflow_runs_running(stack: Stack) -> list[str]:
    connection = stack.connect(f"{stack.settings.prefix}_mlflow")
    with connection.cursor() as cursor:
        cursor.execute("SELECT run_uuid FROM runs WHERE status = 'RUNNING'")
        running = [row[0] for row in cursor.fetchall()]
    connection.close()
    return running


def new_run(instance: dg.DagsterInstance, earlier: set[str]) -> dg.DagsterRun | None:
    newest = [
        r
        for r in instance.get_runs(limit=5)
        if r.run_id not in earlier and not r.tags.get("dagster/parent_run_id")
    ]
    return newest[0] if newest else None


def step_running(instance: dg.DagsterInstance, run_id: str, step_key: str) -> dict | None:
    step = step_workers(instance, run_id).get(step_key, {})
    return step if "worker" in step and "pid" in step and "end" not in step else None


def launched(stack: Stack, job: str, tags: dict | None = None) -> str:
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
    with stack_instance(stack) as instance:
        return instance.get_runs(limit=1)[0].run_id


def retry_of(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun | None:
    retries = [r for r in instance.get_runs(limit=20) if r.tags.get("dagster/parent_run_id") == run_id]
    return retries[0] if retries else None


def run_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    starts = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_START)
    return starts[-1].dagster_event.pid if starts else None


def children(pid: int) -> list[int]:
    found = []
    for tasks in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in tasks.read_text().split():
            found.extend([int(child), *children(int(child))])
    return found


def readable_places(stack: Stack) -> list[tuple[str, str]]:
    """Everything a person or a tool can read, as (where, text)."""
    import zlib

    from dagster._serdes import serialize_value

    places = [("cli output", text) for text in CLI_OUTPUT]
    with stack_instance(stack) as instance:
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
    places.extend(("argv", line) for line in command_lines())
    places.extend(("argv during runs", line) for line in sorted(ARGV_SEEN))
    return places


def sampled_argv(places: list[tuple[str, str]]) -> str:
    """The command lines `readable_places` holds from the sampling while the runs ran, one per line."""
    return "\n".join(text for where, text in places if where == "argv during runs")


def leaks(places: list[tuple[str, str]], secrets: list[str]) -> dict[str, str]:
    found = {}
    for where, text in places:
        for secret in secrets:
            if secret in text:
                found[where] = text[max(0, text.find(secret) - 200) : text.find(secret) + 50]
    return found
