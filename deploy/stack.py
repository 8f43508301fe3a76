"""A local production stack on this machine's services, for `python3 dev.py stack` and the tests.

- Dagster instance on PostgreSQL (deploy/production/dagster.yaml, database `<prefix>_dagster`);
- an S3-protocol server (moto) holding the outputs bucket and the MLflow artifact bucket;
- an MLflow tracking server on PostgreSQL (`<prefix>_mlflow`) whose artifacts go to S3;
- N Celery workers over Redis running the steps.

Every server binds 127.0.0.1. Credentials are passed to processes through their environment only.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PRODUCTION_CONFIG = REPO_ROOT / "deploy" / "production" / "dagster.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def services_reachable() -> list[str]:
    """The services the production profile needs that do not answer (empty: all up)."""
    missing = []
    for name, port in (("PostgreSQL", 5432), ("Redis", 6379)):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError:
            missing.append(f"{name} on 127.0.0.1:{port}")
    return missing


@dataclass
class StackSettings:
    folder: Path  # DAGSTER_HOME, logs and pid files
    prefix: str = "ml_assets"  # database and bucket names
    workers: int = 2
    pg_user: str = "postgres"
    pg_password: str = ""
    s3_key: str = "ml-assets-local"
    s3_secret: str = "ml-assets-local-secret"
    redis_db: int = 0
    mlflow_client_password: str = ""  # sent by clients as http://ml_assets:<password>@host (a proxy in front would check it)
    alert_webhook_url: str = ""
    s3_port: int = field(default_factory=free_port)
    mlflow_port: int = field(default_factory=free_port)

    @property
    def bucket(self) -> str:
        return f"{self.prefix.replace('_', '-')}-outputs"

    @property
    def artifact_bucket(self) -> str:
        return f"{self.prefix.replace('_', '-')}-mlflow"

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def mlflow_uri(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    def pg_url(self, database: str) -> str:
        auth = f"{self.pg_user}:{self.pg_password}" if self.pg_password else self.pg_user
        return f"postgresql+psycopg2://{auth}@127.0.0.1:5432/{database}"

    def env(self) -> dict[str, str]:
        """What the webserver, daemon, run and step processes of the production profile read."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ML_ASSETS_", "DAGSTER_PG_", "MLFLOW_"))}
        env.update(
            DAGSTER_HOME=str(self.folder / "dagster_home"),
            DAGSTER_PG_HOST="127.0.0.1",
            DAGSTER_PG_PORT="5432",
            DAGSTER_PG_USER=self.pg_user,
            DAGSTER_PG_PASSWORD=self.pg_password,
            DAGSTER_PG_DB=f"{self.prefix}_dagster",
            ML_ASSETS_DEPLOYMENT="production",
            ML_ASSETS_DATA_DIR=f"s3://{self.bucket}/data",
            ML_ASSETS_CELERY_BROKER_URL=f"redis://127.0.0.1:6379/{self.redis_db}",
            ML_ASSETS_CELERY_BACKEND_URL=f"redis://127.0.0.1:6379/{self.redis_db + 1}",
            ML_ASSETS_MLFLOW_UI_URL=self.mlflow_uri,
            MLFLOW_TRACKING_URI=(
                self.mlflow_uri.replace("http://", f"http://ml_assets:{self.mlflow_client_password}@")
                if self.mlflow_client_password else self.mlflow_uri
            ),
            AWS_ACCESS_KEY_ID=self.s3_key,
            AWS_SECRET_ACCESS_KEY=self.s3_secret,
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ENDPOINT_URL=self.s3_endpoint,  # boto3 and s3fs
            MLFLOW_S3_ENDPOINT_URL=self.s3_endpoint,  # the MLflow server's artifact store
            PYTHONPATH=str(REPO_ROOT),
        )
        if self.alert_webhook_url:
            env["ML_ASSETS_ALERT_WEBHOOK_URL"] = self.alert_webhook_url
        return env


class Stack:
    """Start with `start()`, stop with `stop()`; every process is in its own group and is killed on stop."""

    def __init__(self, settings: StackSettings):
        self.settings = settings
        self.processes: dict[str, subprocess.Popen] = {}

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        # appended, not truncated: a restarted worker keeps what the one before it logged (the secrets test reads it all)
        log = (self.settings.folder / f"{name}.log").open("a")
        process = subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[name] = process
        (self.settings.folder / f"{name}.pid").write_text(str(process.pid))
        return process

    def _admin(self):
        """An autocommit connection to the server's `postgres` database (CREATE/DROP DATABASE)."""
        import psycopg2

        s = self.settings
        connection = psycopg2.connect(host="127.0.0.1", port=5432, user=s.pg_user, password=s.pg_password or None, dbname="postgres")
        connection.autocommit = True
        return connection

    @property
    def databases(self) -> tuple[str, str]:
        return f"{self.settings.prefix}_dagster", f"{self.settings.prefix}_mlflow"

    def _create_databases(self) -> None:
        connection = self._admin()
        with connection.cursor() as cursor:
            for database in self.databases:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
                if cursor.fetchone() is None:
                    cursor.execute(f'CREATE DATABASE "{database}"')
        connection.close()

    def drop_databases(self) -> None:
        connection = self._admin()
        with connection.cursor() as cursor:
            for database in self.databases:
                cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        connection.close()

    def s3(self):
        import boto3

        s = self.settings
        return boto3.client(
            "s3", endpoint_url=s.s3_endpoint, aws_access_key_id=s.s3_key, aws_secret_access_key=s.s3_secret, region_name="us-east-1"
        )

    def _wait_http(self, url: str, name: str, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited: see {self.settings.folder / (name + '.log')}")
            try:
                urllib.request.urlopen(url, timeout=2).close()
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"{name} did not answer at {url} within {timeout_s:.0f} s")

    def flush_broker(self) -> None:
        """Empty the stack's two Redis databases (queued tasks, results)."""
        import redis

        for db in (self.settings.redis_db, self.settings.redis_db + 1):
            redis.Redis(host="127.0.0.1", port=6379, db=db).flushdb()

    def start(self) -> Stack:
        s = self.settings
        self.flush_broker()
        s.folder.mkdir(parents=True, exist_ok=True)
        home = s.folder / "dagster_home"
        home.mkdir(exist_ok=True)
        shutil.copy(PRODUCTION_CONFIG, home / "dagster.yaml")
        self._create_databases()
        env = s.env()
        self._spawn("s3", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(s.s3_port)], env)
        self._wait_http(s.s3_endpoint, "s3")
        for bucket in (s.bucket, s.artifact_bucket):
            self.s3().create_bucket(Bucket=bucket)
        self._spawn(
            "mlflow",
            [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(s.mlflow_port), "--workers", "1",
             "--artifacts-destination", f"s3://{s.artifact_bucket}/", "--serve-artifacts"],
            # the store's URL holds the PostgreSQL password: in the environment, never in argv (`ps` shows argv to all)
            {**env, "MLFLOW_BACKEND_STORE_URI": s.pg_url(f"{s.prefix}_mlflow")},
        )
        self._wait_http(f"{s.mlflow_uri}/health", "mlflow")
        for number in range(1, s.workers + 1):
            self.start_worker(number)
        return self

    def start_worker(self, number: int, **env_overrides: str) -> subprocess.Popen:
        return self._spawn(
            f"worker{number}",
            [str(BIN / "celery"), "-A", "ml_assets.celery_app", "worker", "-Q", "dagster", "-n", f"w{number}@%h",
             "--concurrency", "1", "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
            {**self.settings.env(), **env_overrides},
        )

    def stop_workers(self, timeout_s: float = 30) -> None:
        """Warm shutdown (a worker finishes its step), then SIGKILL for one that does not within `timeout_s`."""
        for name in [n for n in self.processes if n.startswith("worker")]:
            process = self.processes.pop(name)
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for name, process in self.processes.items():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
            (self.settings.folder / f"{name}.pid").unlink(missing_ok=True)
        self.processes.clear()
        self.flush_broker()
