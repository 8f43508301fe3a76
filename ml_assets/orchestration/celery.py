"""Steps on Celery workers that can be lost: the settings the workers and the run share, and an executor that
never waits forever.

dagster-celery's own loop polls `AsyncResult.ready()` with no deadline, and Celery acknowledges a task
when a worker takes it. A worker that dies mid-step (OOM, eviction: master and child) has then consumed
the message, and the run waits forever. Here:

- tasks are acknowledged late and rejected (requeued) when their pool process dies, so another worker
  reruns the step; a hard time limit ends a step that hangs (it fails, it is not requeued);
- a message whose worker vanished altogether is handed out again at once by RabbitMQ, the production
  broker (its acknowledgements are bound to the worker's connection, which dies with it); a Redis broker
  does it only after `redeliver_after_s` (its visibility timeout, which must exceed the time limit or a
  step still running would run twice);
- the run fails, naming the step and the limit, when no worker takes a step within `worker_wait_s`, or a
  started step neither finishes nor is taken again within `redeliver_after_s + worker_wait_s`;
- a step's task is fenced by its run (`FencedStepTask`): not started when its run is no longer running,
  and stopped, without another event, when its run ends while it runs (storage/fencing.py).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass

import dagster as dg
from celery import Task

BROKER_ENV = "ML_ASSETS_CELERY_BROKER_URL"
BACKEND_ENV = "ML_ASSETS_CELERY_BACKEND_URL"
TIME_LIMIT_ENV = "ML_ASSETS_CELERY_STEP_TIME_LIMIT_S"
REDELIVER_ENV = "ML_ASSETS_CELERY_REDELIVER_AFTER_S"
WORKER_WAIT_ENV = "ML_ASSETS_CELERY_WORKER_WAIT_S"
CHILD_MEMORY_ENV = "ML_ASSETS_CELERY_CHILD_MAX_MEMORY_MB"


RUN_WATCH_INTERVAL_S = 0.5  # how often a running step's task reads its run's status (one indexed query)
# how often the run looks at its steps' tasks (a few result-backend reads each): a finished step's successors are
# submitted this long after it ends, at most
STEP_POLL_INTERVAL_S = 0.1
FENCED_EXIT_CODE = (
    75  # the pool process's exit when its run ended: Celery requeues, the next delivery is dropped
)
CELERY_TASK_ID = "celery_task_id"  # the engine event's metadata naming a step's task (what a revoke needs)


class CeleryConfigError(ValueError):
    """The Celery settings are missing or wrong (not retried: the worker cannot start until they are set)."""


def required_url(env: str) -> str:
    """The broker's or result backend's URL from `env`; never a default (an unauthenticated local broker)."""
    value = os.environ.get(env, "").strip()
    if not value:
        raise CeleryConfigError(
            f"{env} is not set: the Celery workers and runs need it, e.g. amqp://user:password@rabbitmq:5672// "
            f"for {BROKER_ENV} and redis://:password@redis:6379/1 for {BACKEND_ENV} (docs/deploy.md)"
        )
    return value


class StepWorkerError(Exception):
    """No worker ran a step to its end within the configured limits (not retried: the limits were the wait)."""


@dataclass(frozen=True)
class CeleryLimits:
    step_time_limit_s: int = 3600  # a month's longest step takes seconds to minutes; one hour is a hang
    redeliver_after_s: int = (
        3900  # must exceed the time limit: Redis redelivers a message still unacked by then
    )
    worker_wait_s: int = 900  # a queued step nobody takes for 15 minutes fails its run
    # a worker's step process is replaced after a step that took it above this much resident memory (it would keep
    # it); below it, the next step runs in the same process, already started
    child_max_memory_mb: int = 2048

    @classmethod
    def from_env(cls, environ: os._Environ | dict[str, str] = os.environ) -> CeleryLimits:
        values = {}
        for field_name, env in (
            ("step_time_limit_s", TIME_LIMIT_ENV),
            ("redeliver_after_s", REDELIVER_ENV),
            ("worker_wait_s", WORKER_WAIT_ENV),
            ("child_max_memory_mb", CHILD_MEMORY_ENV),
        ):
            raw = environ.get(env)
            if raw is None:
                continue
            if not raw.strip().isdigit() or int(raw) <= 0:
                unit = "megabytes" if field_name == "child_max_memory_mb" else "seconds"
                raise ValueError(f"{env} must be a whole number of {unit} above 0, not {raw!r}")
            values[field_name] = int(raw)
        if "step_time_limit_s" in values and "redeliver_after_s" not in values:
            values["redeliver_after_s"] = values["step_time_limit_s"] + 300
        limits = cls(**values)
        if limits.redeliver_after_s <= limits.step_time_limit_s:
            raise ValueError(
                f"{REDELIVER_ENV} ({limits.redeliver_after_s}) must exceed {TIME_LIMIT_ENV} "
                f"({limits.step_time_limit_s}): "
                "Redis would hand a step that is still running to a second worker"
            )
        return limits

    def celery_settings(self) -> dict:
        """The Celery settings the workers (ml_assets.celery_app) and the runs' executor share."""
        return {
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "task_track_started": True,  # STARTED with the worker's name: a step waiting for a worker is told apart
            "task_time_limit": self.step_time_limit_s,
            "worker_prefetch_multiplier": 1,  # a worker holds no second step while it runs one
            # a step process serves step after step (starting one costs a second: billiard waits 1 s before a
            # retiring process exits) until a step takes it above the memory limit (KiB); each step ends the MLflow
            # runs it started and restores the process-wide settings it changed
            "worker_max_memory_per_child": self.child_max_memory_mb * 1024,
            "broker_connection_retry_on_startup": True,
            "broker_transport_options": {
                "visibility_timeout": self.redeliver_after_s,
                # sweep for abandoned messages every few seconds, not every 100 (kombu's 10 x 10 default)
                "unacked_restore_interval": 5,
                "unacked_restore_throttle": 1,
            },
            "result_backend_transport_options": {"visibility_timeout": self.redeliver_after_s},
        }


class _WatchedResult:
    """An AsyncResult that turns ready, with an error, once its step outlived the limits."""

    def __init__(self, result, step_key: str, queue: str, limits: CeleryLimits):
        self.result, self.step_key, self.queue, self.limits = result, step_key, queue, limits
        self.seen, self.since, self.failure = ("PENDING", None), time.monotonic(), None

    def ready(self) -> bool:
        if self.result.ready():
            return True
        # STARTED's info names the worker: a rerun is a change
        seen = self.result.state, repr(self.result.info)
        if seen != self.seen:
            self.seen, self.since = seen, time.monotonic()
        waited = time.monotonic() - self.since
        if seen[0] == "PENDING" and waited > self.limits.worker_wait_s:
            self.failure = (
                f"no Celery worker took step {self.step_key} from queue {self.queue!r} within "
                f"{self.limits.worker_wait_s} s "
                f"({WORKER_WAIT_ENV}): start one with `celery -A ml_assets.celery_app worker -Q {self.queue}`"
            )
        elif seen[0] == "STARTED" and waited > self.limits.redeliver_after_s + self.limits.worker_wait_s:
            worker = (
                (self.result.info or {}).get("hostname", "a worker")
                if isinstance(self.result.info, dict)
                else "a worker"
            )
            self.failure = (
                f"step {self.step_key} started on {worker} {waited:.0f} s ago and neither finished nor was taken by "
                f"another worker: its worker was lost ({REDELIVER_ENV}={self.limits.redeliver_after_s}, "
                f"{WORKER_WAIT_ENV}={self.limits.worker_wait_s})"
            )
        if self.failure:
            self.result.revoke()  # a worker that starts later does not run it, orphaned
            return True
        return False

    def get(self):
        if self.failure:
            raise StepWorkerError(self.failure)
        return self.result.get()

    def revoke(self) -> None:
        self.result.revoke()


def _submit_watched(app, plan_context, step, queue, priority, known_state):
    from dagster._core.events import EngineEventData
    from dagster_celery.executor import _submit_task

    limits = plan_context.executor.limits
    result = _submit_task(app, plan_context, step, queue, priority, known_state)
    # in the run's event log: the failed-run sensor revokes a failed run's tasks by these ids
    plan_context.instance.report_engine_event(
        f"step {step.key} queued on {queue!r} as Celery task {result.id}",
        plan_context.dagster_run,
        EngineEventData({CELERY_TASK_ID: result.id}),
        step_key=step.key,
    )
    return _WatchedResult(result, step.key, queue, limits)


def _run_of(step_args_packed: dict) -> tuple[str, object]:
    from dagster._grpc.types import ExecuteStepArgs
    from dagster._serdes import unpack_value

    args = unpack_value(step_args_packed, as_type=ExecuteStepArgs)
    return args.run_id, args.instance_ref


def _watch_run(instance_ref, run_id: str, steps: str, done: threading.Event) -> None:
    """In the step's pool process: when its run is no longer STARTED, end the process at once, recording nothing
    more. (Celery then requeues the task, whose next delivery finds the run ended and drops it.)"""
    with dg.DagsterInstance.from_ref(instance_ref) as instance:
        while not done.wait(RUN_WATCH_INTERVAL_S):
            try:
                run = instance.get_run_by_id(run_id)
            except Exception:  # noqa: BLE001 - the instance's database unreachable a moment: look again
                continue
            if run is not None and run.status != dg.DagsterRunStatus.STARTED:
                print(
                    f"[ml_assets] run {run_id} is {run.status.value}: step {steps} stops here, committing nothing",
                    file=sys.stderr,
                    flush=True,
                )
                os._exit(FENCED_EXIT_CODE)


class FencedStepTask(Task):
    """dagster-celery's step task, fenced by its run: a task whose run is no longer STARTED does nothing (a revoked
    or requeued task delivered after its run failed), and a running one ends its process when the run ends."""

    def __call__(self, *args, **kwargs):
        step_args = kwargs.get("execute_step_args_packed", args[0] if args else None)
        run_id, instance_ref = _run_of(step_args)
        with dg.DagsterInstance.from_ref(instance_ref) as instance:
            run = instance.get_run_by_id(run_id)
        if run is None or run.status != dg.DagsterRunStatus.STARTED:
            status = run.status.value if run is not None else "unknown to the instance"
            print(
                f"[ml_assets] run {run_id} is {status}: its step task {self.request.id} is dropped",
                file=sys.stderr,
                flush=True,
            )
            return []
        steps = ", ".join(step_args.get("step_keys_to_execute") or []) if isinstance(step_args, dict) else "?"
        done = threading.Event()
        threading.Thread(
            target=_watch_run,
            args=(instance_ref, run_id, steps, done),
            daemon=True,
            name="ml_assets-run-watch",
        ).start()
        try:
            return super().__call__(*args, **kwargs)
        finally:
            done.set()


# What a step imports where it uses it (the code location loads without these, so that it loads fast), besides
# ml_assets' own modules and the estimators its catalog names
STEP_MODULES = (
    "pandas",
    "pyarrow.parquet",
    "scipy.stats",
    "sklearn.compose",
    "sklearn.metrics",
    "sklearn.model_selection",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "mlflow",
    "mlflow.sklearn",
    "dagster_mlflow",
    "skops.io",
    "s3fs",
    "matplotlib.figure",
)


def preload_for_steps(definitions_module: str = "ml_assets.definitions") -> list[str]:
    """Import what steps import and load the definitions once, in a worker's main process before its pool forks the
    step process: one replacing a process retired for its memory starts with them too, rather than paying the imports
    again. Returns what could not be loaded: the module, the error's type and an import error's message (another
    error's message might quote a setting's value, a credential; the step meets the same error and reports it in its
    run)."""
    import importlib
    import pkgutil

    import ml_assets
    from ml_assets.learning.catalog import NAMED

    # not the defs folder (the definitions' load imports it), the worker's own app, nor the developer commands
    skipped = ("ml_assets.defs", "ml_assets.celery_app", "ml_assets.cli", "ml_assets.local_stack")
    names = [
        module.name
        for module in pkgutil.walk_packages(ml_assets.__path__, "ml_assets.")
        if not module.name.startswith(skipped)
    ]
    names += STEP_MODULES
    names += sorted({path.rsplit(".", 1)[0] for paths in NAMED.values() for path in paths.values()})

    def problem(name: str, exc: Exception) -> str:
        return f"{name}: {type(exc).__name__}" + (f": {exc}" if isinstance(exc, ImportError) else "")

    failed = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - an optional module missing costs only its import later
            failed.append(problem(name, exc))
    try:
        load = importlib.import_module(definitions_module).defs
        load()  # the components' modules, imported as the code location loads them
    except Exception as exc:  # noqa: BLE001 - the step's own load reports it, in its run
        failed.append(problem(f"{definitions_module}.defs", exc))
    return failed


def create_step_task(app):
    """The step task the workers run (ml_assets.celery_app): dagster-celery's, with FencedStepTask as its base."""
    from dagster_celery.tasks import create_task

    return create_task(app, base=FencedStepTask)


def revoke_run_steps(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """Revoke every Celery task of the run (queued ones are dropped; running ones get SIGTERM); returns their ids.
    Needs the broker (ML_ASSETS_CELERY_BROKER_URL): a run of another executor has no such tasks."""
    ids = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        metadata = record.dagster_event.engine_event_data.metadata or {}
        if CELERY_TASK_ID in metadata:
            ids.append(metadata[CELERY_TASK_ID].value)
    if ids:
        from dagster_celery.make_app import make_app

        app = make_app({"broker": required_url(BROKER_ENV), "backend": required_url(BACKEND_ENV)})
        app.control.revoke(ids, terminate=True, signal="SIGTERM")
    return ids


def watched_celery_executor() -> dg.ExecutorDefinition:
    """dagster-celery's executor with the shared settings and a deadline on every step. Broker and backend URLs
    are read from the environment by name, so no password reaches run config."""
    from dagster_celery.core_execution_loop import core_celery_execution_loop
    from dagster_celery.executor import CELERY_CONFIG, CeleryExecutor

    class WatchedCeleryExecutor(CeleryExecutor):
        def __init__(self, limits: CeleryLimits, **kwargs):
            super().__init__(**kwargs)
            self.limits = limits

        def execute(self, plan_context, execution_plan):
            import dagster_celery.core_execution_loop as celery_loop

            # dagster-celery's loop sleeps TICK_SECONDS (1 s) between its looks at the steps, with no setting for
            # it: each step would wait up to a second to be seen done and its successors submitted
            celery_loop.TICK_SECONDS = STEP_POLL_INTERVAL_S
            return core_celery_execution_loop(plan_context, execution_plan, step_execution_fn=_submit_watched)

    @dg.executor(
        name="celery", config_schema=CELERY_CONFIG, requirements=dg.multiple_process_executor_requirements()
    )
    def celery(init_context):
        from dagster._core.execution.retries import RetryMode

        config = init_context.executor_config
        limits = CeleryLimits.from_env()
        return WatchedCeleryExecutor(
            limits=limits,
            broker=config.get("broker"),
            backend=config.get("backend"),
            include=config.get("include"),
            config_source={**limits.celery_settings(), **(config.get("config_source") or {})},
            retries=RetryMode.from_config(config["retries"]),
        )

    return celery.configured({"broker": {"env": BROKER_ENV}, "backend": {"env": BACKEND_ENV}}, name="celery")
