"""A local production stack, for `python3 dev.py stack` and the tests, every service checking its credential:

- its own PostgreSQL cluster (scram-sha-256) holding the Dagster instance (deploy/production/dagster.yaml,
  database `<prefix>_dagster`) and the MLflow store (`<prefix>_mlflow`);
- its own RabbitMQ node (its own user, no guest), the Celery broker: a lost worker's connection returns its step
  to the queue at once;
- its own Redis (`requirepass`), the Celery result backend (db 1);
- an S3-protocol server (moto) with IAM authentication on: every request is signed with the access key the stack
  makes there, and a wrong key is refused; it holds the outputs bucket and the MLflow artifact bucket;
- an MLflow tracking server behind its basic-auth app, whose artifacts go to S3;
- N Celery workers running the steps.

Every server binds 127.0.0.1. Credentials reach processes through their environment (or stdin) only.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
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


def postgres_bin() -> Path | None:
    """The folder of PostgreSQL's server binaries (initdb, postgres): Debian's newest, or on PATH."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name),
        reverse=True,
    )
    if found:
        return found[0].parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def services_missing() -> list[str]:
    """What the stack needs to start its own password-checking services (empty: all there)."""
    missing = []
    if postgres_bin() is None:
        missing.append("PostgreSQL's server binaries (initdb, postgres)")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    if rabbitmq_bin() is None:
        missing.append("RabbitMQ's server (rabbitmq-server)")
    return missing


def rabbitmq_bin() -> Path | None:
    """The folder of RabbitMQ's own scripts (Debian's wrapper in /usr/sbin would switch user and log elsewhere)."""
    debian = Path("/usr/lib/rabbitmq/bin")
    if (debian / "rabbitmq-server").exists():
        return debian
    on_path = shutil.which("rabbitmq-server")
    return Path(on_path).resolve().parent if on_path else None


def _token() -> str:
    return secrets.token_urlsafe(18)


@dataclass
class StackSettings:
    folder: Path  # DAGSTER_HOME, logs and pid files
    prefix: str = "ml_assets"  # database and bucket names
    workers: int = 2
    # every credential is checked by its service; each start makes fresh ones unless given
    pg_user: str = "ml_assets"
    pg_password: str = field(default_factory=_token)
    redis_password: str = field(default_factory=_token)
    amqp_user: str = "ml_assets"
    amqp_password: str = field(default_factory=_token)
    # made by the S3 server's IAM at start (it makes the secret; these are placeholders until then)
    s3_key: str = ""
    s3_secret: str = ""
    mlflow_user: str = "admin"
    mlflow_password: str = field(default_factory=_token)
    alert_webhook_url: str = ""
    pg_port: int = field(default_factory=free_port)
    redis_port: int = field(default_factory=free_port)
    amqp_port: int = field(default_factory=free_port)
    # the RabbitMQ node's Erlang distribution (rabbitmqctl)
    amqp_dist_port: int = field(default_factory=free_port)
    s3_port: int = field(default_factory=free_port)
    mlflow_port: int = field(default_factory=free_port)
    # Celery limits beyond deploy/production's defaults (the fault tests keep the defaults)
    celery_env: dict[str, str] = field(default_factory=dict)

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
        return f"postgresql+psycopg2://{self.pg_user}:{self.pg_password}@127.0.0.1:{self.pg_port}/{database}"

    def redis_url(self, db: int) -> str:
        return f"redis://:{self.redis_password}@127.0.0.1:{self.redis_port}/{db}"

    @property
    def broker_url(self) -> str:
        return f"amqp://{self.amqp_user}:{self.amqp_password}@127.0.0.1:{self.amqp_port}//"

    def env(self) -> dict[str, str]:
        """What the webserver, daemon, run and step processes of the production profile read."""
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("ML_ASSETS_", "DAGSTER_PG_", "MLFLOW_"))
        }
        env.update(
            DAGSTER_HOME=str(self.folder / "dagster_home"),
            DAGSTER_PG_HOST="127.0.0.1",
            DAGSTER_PG_PORT=str(self.pg_port),
            DAGSTER_PG_USER=self.pg_user,
            DAGSTER_PG_PASSWORD=self.pg_password,
            DAGSTER_PG_DB=f"{self.prefix}_dagster",
            ML_ASSETS_DEPLOYMENT="production",
            ML_ASSETS_DATA_DIR=f"s3://{self.bucket}/data",
            ML_ASSETS_CELERY_BROKER_URL=self.broker_url,
            ML_ASSETS_CELERY_BACKEND_URL=self.redis_url(1),
            ML_ASSETS_MLFLOW_UI_URL=self.mlflow_uri,
            MLFLOW_TRACKING_URI=self.mlflow_uri,
            MLFLOW_TRACKING_USERNAME=self.mlflow_user,  # the server's basic-auth app checks them
            MLFLOW_TRACKING_PASSWORD=self.mlflow_password,
            AWS_ACCESS_KEY_ID=self.s3_key,
            AWS_SECRET_ACCESS_KEY=self.s3_secret,
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ENDPOINT_URL=self.s3_endpoint,  # boto3 and s3fs
            MLFLOW_S3_ENDPOINT_URL=self.s3_endpoint,  # the MLflow server's artifact store
            # artifacts read through the MLflow server, not from presigned S3 URLs: moto's IAM check cannot verify a
            # signature in a URL's query (a real S3 can; deployments leave this unset)
            MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD="false",
            PYTHONPATH=str(REPO_ROOT),
            **self.celery_env,
        )
        if self.alert_webhook_url:
            env["ML_ASSETS_ALERT_WEBHOOK_URL"] = self.alert_webhook_url
        return env


class Stack:
    """Start with `start()`, stop with `stop()`; every process is in its own group and is killed on stop.

    The stack starts its own PostgreSQL cluster (scram-sha-256) and Redis (`requirepass`) on free ports, so the
    tests prove that every component sends the right credential, and the machine's own services are never touched.
    Both, like the S3 server, are fresh on every start: Dagster's records, MLflow's and the objects stay in step.
    """

    def __init__(self, settings: StackSettings):
        self.settings = settings
        self.processes: dict[str, subprocess.Popen] = {}
        self._worker_log_offsets: dict[int, int] = {}  # where each worker's log was when it was last started
        self.worker_env: dict[int, dict[str, str]] = {}  # each running worker's overrides of the settings
        self.scratch: Path | None = (
            None  # the PostgreSQL cluster and Redis's folder (outside `folder`: see _scratch)
        )
        self.rabbitmq_scratch: Path | None = (
            None  # the RabbitMQ node's own (its user cannot enter PostgreSQL's)
        )

    def _spawn(self, name: str, args: list[str], env: dict[str, str], **popen) -> subprocess.Popen:
        # appended, not truncated: a restarted worker keeps what the one before it logged (the secrets test
        # reads it all)
        log = (self.settings.folder / f"{name}.log").open("a")
        process = subprocess.Popen(
            args,
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **popen,
        )
        self.processes[name] = process
        (self.settings.folder / f"{name}.pid").write_text(str(process.pid))
        return process

    def _scratch(self) -> Path:
        """A private folder under the system temp dir: PostgreSQL refuses to run as root, so as root the cluster
        belongs to the `postgres` user, who cannot reach pytest's per-user (0700) temp folders."""
        if self.scratch is None:
            self.scratch = Path(tempfile.mkdtemp(prefix="ml_assets-stack-"))
        return self.scratch

    def _as_postgres(self) -> dict:
        return {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}

    def _start_postgres(self) -> None:
        s, pg_bin = self.settings, postgres_bin()
        scratch = self._scratch()
        data, sockets, pwfile = scratch / "pgdata", scratch / "pgsocket", scratch / "pgpass"
        sockets.mkdir()
        pwfile.write_text(s.pg_password + "\n")  # initdb reads it from a file: never in argv
        pwfile.chmod(0o600)
        if os.geteuid() == 0:
            for path in (scratch, sockets, pwfile):
                shutil.chown(path, "postgres", "postgres")
        env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}
        subprocess.run(
            [
                str(pg_bin / "initdb"),
                "-D",
                str(data),
                "-U",
                s.pg_user,
                "--pwfile",
                str(pwfile),
                "--auth",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--no-sync",
            ],
            env=env,
            check=True,
            capture_output=True,
            **self._as_postgres(),
        )
        pwfile.unlink()
        self._spawn(
            "postgres",
            [
                str(pg_bin / "postgres"),
                "-D",
                str(data),
                "-p",
                str(s.pg_port),
                "-k",
                str(sockets),
                "-c",
                "listen_addresses=127.0.0.1",
                # a disposable cluster: durability off (commits ~10x faster on this machine's disk)
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ],
            env,
            **self._as_postgres(),
        )
        self._wait_ready("postgres", "PostgreSQL", lambda: self.connect().close(), timeout_s=60, poll_s=0.2)

    def _start_redis(self) -> None:
        s = self.settings
        process = self._spawn(
            "redis",
            ["redis-server", "-"],
            {"PATH": os.environ.get("PATH", "")},
            stdin=subprocess.PIPE,
            text=True,
        )
        # its configuration on stdin: the password is in neither argv nor a file
        process.stdin.write(
            f'bind 127.0.0.1\nport {s.redis_port}\nrequirepass {s.redis_password}\nsave ""\nappendonly no\n'
            f"dir {self._scratch()}\n"
        )
        process.stdin.close()
        self._wait_ready("redis", "Redis", lambda: self.redis(0).ping(), timeout_s=60, poll_s=0.2)

    def _start_rabbitmq(self) -> None:
        """A RabbitMQ node of its own: one user, whose password reaches the server through its environment
        (RABBITMQ_DEFAULT_PASS), so there is no guest; listeners on 127.0.0.1 only. Its consumer timeout (how long a
        delivered step may stay unacknowledged) exceeds the steps' time limit, which ends a hung step first."""
        s = self.settings
        folder = Path(tempfile.mkdtemp(prefix="ml_assets-rabbitmq-"))
        self.rabbitmq_scratch = folder
        config, plugins = folder / "rabbitmq.conf", folder / "enabled_plugins"
        config.write_text(
            f"listeners.tcp.1 = 127.0.0.1:{s.amqp_port}\n"
            "log.console = true\nlog.file = false\n"
            # 2 h: above ML_ASSETS_CELERY_STEP_TIME_LIMIT_S's default (1 h); a longer limit needs a longer timeout
            "consumer_timeout = 7200000\n"
        )
        plugins.write_text("[].\n")
        as_rabbitmq = {"user": "rabbitmq", "group": "rabbitmq"} if os.geteuid() == 0 else {}
        if as_rabbitmq:
            for path in (folder, config, plugins):
                shutil.chown(path, "rabbitmq", "rabbitmq")
        env = {
            "PATH": os.environ.get("PATH", ""),
            "LANG": "C.UTF-8",
            # its Erlang cookie (made at first start), shared with rabbitmqctl run the same way
            "HOME": str(folder),
            "RABBITMQ_NODENAME": f"{s.prefix}@localhost",
            "RABBITMQ_DIST_PORT": str(s.amqp_dist_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_CONFIG_FILE": str(config),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
            "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(folder / "log"),
            "RABBITMQ_PID_FILE": str(folder / "pid"),
            "RABBITMQ_DEFAULT_USER": s.amqp_user,
            "RABBITMQ_DEFAULT_PASS": s.amqp_password,
        }
        self._spawn("rabbitmq", [str(rabbitmq_bin() / "rabbitmq-server")], env, **as_rabbitmq)
        self._wait_ready("rabbitmq", "RabbitMQ", lambda: self.amqp().close(), timeout_s=120, poll_s=0.3)

    def _wait_ready(self, name: str, service: str, probe, timeout_s: float, poll_s: float) -> None:
        """Until `probe()` (a login with the service's credential) succeeds; a server that exits, or does not answer
        within `timeout_s`, fails the start naming its log."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                probe()
                return
            except Exception as error:  # refused or unauthenticated while the server starts
                if self.processes[name].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{service} did not start: see {self.settings.folder / (name + '.log')}"
                    ) from error
                time.sleep(poll_s)

    def amqp(self):
        """A connection to the stack's RabbitMQ as its user (the broker's queues)."""
        import amqp

        s = self.settings
        connection = amqp.Connection(
            f"127.0.0.1:{s.amqp_port}", userid=s.amqp_user, password=s.amqp_password, connect_timeout=5
        )
        connection.connect()
        return connection

    def redis(self, db: int):
        """A client of the stack's own Redis (db 0: the broker, 1: the result backend)."""
        import redis

        return redis.Redis(
            host="127.0.0.1", port=self.settings.redis_port, db=db, password=self.settings.redis_password
        )

    def connect(self, database: str = "postgres"):
        """An autocommit connection to a database of the stack's cluster (CREATE DATABASE, and the tests' reads)."""
        import psycopg2

        s = self.settings
        connection = psycopg2.connect(
            host="127.0.0.1", port=s.pg_port, user=s.pg_user, password=s.pg_password, dbname=database
        )
        connection.autocommit = True
        return connection

    @property
    def databases(self) -> tuple[str, str]:
        return f"{self.settings.prefix}_dagster", f"{self.settings.prefix}_mlflow"

    def _create_databases(self) -> None:
        connection = self.connect()
        with connection.cursor() as cursor:
            for database in self.databases:
                cursor.execute(f'CREATE DATABASE "{database}"')
        connection.close()

    def s3(self):
        import boto3

        s = self.settings
        return boto3.client(
            "s3",
            endpoint_url=s.s3_endpoint,
            aws_access_key_id=s.s3_key,
            aws_secret_access_key=s.s3_secret,
            region_name="us-east-1",
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
        """Empty the steps' queue on the stack's RabbitMQ and the results in its own Redis: nothing else lives there."""
        connection = self.amqp()
        try:
            connection.channel().queue_purge("dagster")
        except Exception as error:  # amqp.NotFound: no step was ever queued
            if "NOT_FOUND" not in str(error):
                raise
        finally:
            connection.close()
        self.redis(1).flushall()

    def _start_s3(self, env: dict[str, str]) -> None:
        """moto's S3 with IAM authentication: a user allowed S3 only, its access key made by moto (the secret is
        moto's), the buckets; then every request must be signed with that key (moto-api/reset-auth to 0)."""
        import boto3

        s = self.settings
        self._spawn("s3", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(s.s3_port)], env)
        self._wait_http(s.s3_endpoint, "s3")
        bootstrap = {
            "endpoint_url": s.s3_endpoint,
            "region_name": "us-east-1",
            "aws_access_key_id": "bootstrap",
            "aws_secret_access_key": "bootstrap",
        }  # before auth is on
        iam = boto3.client("iam", **bootstrap)
        iam.create_user(UserName="ml-assets")
        iam.put_user_policy(
            UserName="ml-assets",
            PolicyName="outputs-and-artifacts",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="ml-assets")["AccessKey"]
        s.s3_key, s.s3_secret = key["AccessKeyId"], key["SecretAccessKey"]
        request = urllib.request.Request(
            f"{s.s3_endpoint}/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},
        )  # a form body would reach moto empty
        urllib.request.urlopen(request, timeout=30).close()
        for bucket in (s.bucket, s.artifact_bucket):
            self.s3().create_bucket(Bucket=bucket)

    def _mlflow_auth_config(self) -> Path:
        """The basic-auth app's settings: users in a SQLite file of the stack; the admin's password comes from
        MLFLOW_AUTH_ADMIN_PASSWORD in the server's environment, and nobody else may read or write."""
        config = self.settings.folder / "mlflow_auth.ini"
        config.write_text(
            "[mlflow]\ndefault_permission = NO_PERMISSIONS\n"
            # with the cluster's scratch folder: the admin's password is set when the store is created, so the store
            # is as fresh as the password (a kept one answered every new password with 401)
            f"database_uri = sqlite:///{self._scratch() / 'mlflow_auth.db'}\n"
            f"admin_username = {self.settings.mlflow_user}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            # the password check (PBKDF2) runs once a minute per user rather than on every request of every step
            "auth_cache_ttl_seconds = 60\n"
        )
        return config

    def start(self) -> Stack:
        s = self.settings
        s.folder.mkdir(parents=True, exist_ok=True)
        home = s.folder / "dagster_home"
        home.mkdir(exist_ok=True)
        shutil.copy(PRODUCTION_CONFIG, home / "dagster.yaml")
        try:
            self._start_postgres()
            self._start_redis()
            self._start_rabbitmq()
            self._create_databases()
            self._start_s3({k: v for k, v in s.env().items() if not k.startswith("AWS_")})
            env = s.env()
            server_env = {k: v for k, v in env.items() if not k.startswith("MLFLOW_TRACKING_")}
            self._spawn(
                "mlflow",
                [
                    str(BIN / "mlflow"),
                    "server",
                    "--app-name",
                    "basic-auth",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(s.mlflow_port),
                    "--workers",
                    "1",
                    "--artifacts-destination",
                    f"s3://{s.artifact_bucket}/",
                    "--serve-artifacts",
                ],
                # URLs and passwords in the environment, never in argv (`ps` shows argv to every local user)
                {
                    **server_env,
                    "MLFLOW_BACKEND_STORE_URI": s.pg_url(f"{s.prefix}_mlflow"),
                    "MLFLOW_AUTH_CONFIG_PATH": str(self._mlflow_auth_config()),
                    "MLFLOW_AUTH_ADMIN_PASSWORD": s.mlflow_password,
                    "MLFLOW_FLASK_SERVER_SECRET_KEY": _token(),
                    # MLflow's job runner (GenAI jobs) serves nothing ml_assets logs: no consumer processes
                    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
                },
            )
            self._wait_http(f"{s.mlflow_uri}/health", "mlflow")
            for number in range(1, s.workers + 1):
                self.start_worker(number)
            self.wait_for_workers(range(1, s.workers + 1))
        except BaseException:
            self.stop()
            raise
        return self

    def start_worker(self, number: int, **env_overrides: str) -> subprocess.Popen:
        log = self.settings.folder / f"worker{number}.log"
        self._worker_log_offsets[number] = log.stat().st_size if log.exists() else 0
        self.worker_env[number] = dict(env_overrides)
        return self._spawn(
            f"worker{number}",
            [
                str(BIN / "celery"),
                "-A",
                "ml_assets.celery_app",
                "worker",
                "-Q",
                "dagster",
                "-n",
                f"w{number}@%h",
                "--concurrency",
                "1",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            {**self.settings.env(), **env_overrides},
        )

    def start_dagster(self, webserver_port: int | None = None) -> None:
        """Dagster's daemon (queued runs, run monitoring, run retries, sensors) and, given a port, its webserver, on
        workspace.yaml; each starts its own code server, which starts the runs the daemon launches. The pipelines'
        own sensors and schedules are stopped (runs come only from the tests); the run-failure sensors run."""
        env = {**self.settings.env(), "ML_ASSETS_AUTOMATION": "stopped"}
        workspace = str(REPO_ROOT / "workspace.yaml")
        self._spawn("daemon", [str(BIN / "dagster-daemon"), "run", "-w", workspace], env)
        if webserver_port is not None:
            self._spawn(
                "webserver",
                [
                    str(BIN / "dagster-webserver"),
                    "-w",
                    workspace,
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(webserver_port),
                ],
                env,
            )
            self._wait_http(f"http://127.0.0.1:{webserver_port}/server_info", "webserver", timeout_s=300)

    def wait_for_workers(self, numbers, timeout_s: float = 300) -> None:
        """Until each worker says it is ready (its imports and the definitions loaded, its queue consumed), from what
        it logged since it was started; a worker that exits first fails here, naming its log."""
        deadline = time.monotonic() + timeout_s
        waiting = set(numbers)
        while waiting:
            for number in sorted(waiting):
                name = f"worker{number}"
                log = self.settings.folder / f"{name}.log"
                with log.open("rb") as f:
                    f.seek(self._worker_log_offsets.get(number, 0))
                    since_start = f.read()
                if re.search(rb"\bw%d@\S+ ready\." % number, since_start):  # Celery's "w1@host ready."
                    waiting.discard(number)
                    continue
                if self.processes[name].poll() is not None:
                    raise RuntimeError(f"{name} exited before it was ready: see {log}")
            if waiting and time.monotonic() > deadline:
                raise RuntimeError(
                    f"worker(s) {sorted(waiting)} not ready within {timeout_s:.0f} s: see their logs"
                )
            if waiting:
                time.sleep(0.2)

    def kill_worker(self, number: int) -> None:
        """SIGKILL of the worker's whole process group, master and pool child: what the OOM killer or an
        eviction does."""
        self._stop(f"worker{number}", signal.SIGKILL, 30)

    def stop_workers(self, timeout_s: float = 30) -> None:
        """Warm shutdown (a worker finishes its step), then SIGKILL for one that does not within `timeout_s`."""
        for name in [n for n in self.processes if n.startswith("worker")]:
            self._stop(name, signal.SIGTERM, timeout_s)

    def use_workers(self, wanted: dict[int, dict[str, str]]) -> None:
        """Exactly the workers `wanted`, {number: overrides of the settings}; one already running with its overrides
        is kept (a worker's start imports what every step uses: seconds of CPU)."""
        for number, env in list(self.worker_env.items()):
            if wanted.get(number) != env:
                self._stop(f"worker{number}", signal.SIGTERM, 30)
        for number, env in wanted.items():
            if number not in self.worker_env:
                self.start_worker(number, **env)

    def _stop(self, name: str, how: signal.Signals, timeout_s: float) -> None:
        process = self.processes.pop(name)
        if name.startswith("worker"):
            self.worker_env.pop(int(name.removeprefix("worker")), None)
        try:
            os.killpg(process.pid, how)
            process.wait(timeout=timeout_s)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        (self.settings.folder / f"{name}.pid").unlink(missing_ok=True)

    def stop(self) -> None:
        """Workers and servers first, then Redis and PostgreSQL (fast shutdown: SIGINT), then their scratch folder."""
        for name in [n for n in self.processes if n not in ("postgres", "redis")]:
            self._stop(name, signal.SIGTERM, 20)
        for name in ("rabbitmq", "redis"):
            if name in self.processes:
                self._stop(name, signal.SIGTERM, 30)
        if "postgres" in self.processes:
            self._stop("postgres", signal.SIGINT, 30)
        for scratch in (self.scratch, self.rabbitmq_scratch):
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
        self.scratch = self.rabbitmq_scratch = None


def main(argv: list[str] | None = None) -> int:
    """`python3 dev.py stack`: the stack and `dagster dev` on it until Ctrl-C or SIGTERM, then all of it stops."""
    import argparse

    parser = argparse.ArgumentParser(prog="dev.py stack")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=3000, help="the Dagster UI's port")
    parser.add_argument(
        "--automation",
        choices=("running", "stopped"),
        default="running",
        help="the pipelines' sensors and schedules at start (stopped: nothing runs until turned on in the UI)",
    )
    args = parser.parse_args(argv)
    missing = services_missing()
    if missing:
        print(f"[dev.py] the local production stack needs {', '.join(missing)}", file=sys.stderr)
        return 1
    folder = (REPO_ROOT / ".stack").resolve()
    folder.mkdir(exist_ok=True)
    stack = Stack(StackSettings(folder=folder, workers=args.workers, s3_port=9100, mlflow_port=5001))
    # this start's passwords, for psql, redis-cli and the MLflow login
    credentials = folder / "credentials.json"
    s = stack.settings
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stopped like Ctrl-C: the stack goes too
    dev = None
    try:
        stack.start()
        credentials.touch(mode=0o600)
        credentials.chmod(0o600)
        credentials.write_text(
            json.dumps(
                {
                    "postgres": {"port": s.pg_port, "user": s.pg_user, "password": s.pg_password},
                    "redis": {"port": s.redis_port, "password": s.redis_password},
                    "rabbitmq": {"port": s.amqp_port, "user": s.amqp_user, "password": s.amqp_password},
                    "s3": {"endpoint": s.s3_endpoint, "key": s.s3_key, "secret": s.s3_secret},
                    "mlflow": {"url": s.mlflow_uri, "user": s.mlflow_user, "password": s.mlflow_password},
                },
                indent=2,
            )
        )
        print(
            f"[dev.py] stack up: MLflow {s.mlflow_uri} (user {s.mlflow_user}, password in {credentials}), "
            f"S3 {s.s3_endpoint}, "
            f"{args.workers} Celery worker(s), logs in {folder}; Dagster UI on http://127.0.0.1:{args.port}",
            flush=True,
        )
        # its own process group, stopped as a terminal's Ctrl-C would: webserver, daemon and code servers with it
        dev = subprocess.Popen(
            [str(BIN / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(args.port)],
            cwd=REPO_ROOT,
            env={**s.env(), "ML_ASSETS_AUTOMATION": args.automation},
            start_new_session=True,
        )
        dev.wait()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        if dev is not None and dev.poll() is None:
            os.killpg(dev.pid, signal.SIGINT)
            try:
                dev.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(dev.pid, signal.SIGKILL)
        stack.stop()
        credentials.unlink(missing_ok=True)  # the next start makes new ones
    return 0


if __name__ == "__main__":
    sys.exit(main())
