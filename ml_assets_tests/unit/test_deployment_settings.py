"""The production profile's settings read from the environment: Celery's limits and the automation switch."""

import pytest

from ml_assets.orchestration.automation import AUTOMATION_ENV, sensors_start_running
from ml_assets.orchestration.celery import CeleryLimits


def test_celery_limits_default_to_a_redelivery_after_the_time_limit():
    limits = CeleryLimits.from_env({})
    settings = limits.celery_settings()
    assert (
        settings["task_acks_late"]
        and settings["task_reject_on_worker_lost"]
        and settings["task_track_started"]
    )
    assert settings["broker_transport_options"]["visibility_timeout"] > settings["task_time_limit"]
    # a time limit alone moves the redelivery with it
    assert CeleryLimits.from_env({"ML_ASSETS_CELERY_STEP_TIME_LIMIT_S": "60"}).redeliver_after_s == 360
    # a step process serves step after step until one leaves it above the memory limit (Celery counts KiB)
    assert (
        "worker_max_tasks_per_child" not in settings
        and settings["worker_max_memory_per_child"] == 2048 * 1024
    )
    smaller = CeleryLimits.from_env({"ML_ASSETS_CELERY_CHILD_MAX_MEMORY_MB": "512"}).celery_settings()
    assert smaller["worker_max_memory_per_child"] == 512 * 1024


def test_the_runs_poll_interval_reaches_dagster_celerys_loop():
    """dagster-celery's loop has no setting for how long it sleeps between looks at its steps; the executor sets its
    module's TICK_SECONDS, which a release that renamed it would silently ignore."""
    import inspect

    import dagster_celery.core_execution_loop as celery_loop

    assert "time.sleep(TICK_SECONDS)" in inspect.getsource(celery_loop.core_celery_execution_loop)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"ML_ASSETS_CELERY_STEP_TIME_LIMIT_S": "ten"},
            "ML_ASSETS_CELERY_STEP_TIME_LIMIT_S must be a whole number of seconds above 0, not 'ten'",
        ),
        ({"ML_ASSETS_CELERY_WORKER_WAIT_S": "0"}, "ML_ASSETS_CELERY_WORKER_WAIT_S must be a whole number"),
        (
            {"ML_ASSETS_CELERY_CHILD_MAX_MEMORY_MB": "2G"},
            "ML_ASSETS_CELERY_CHILD_MAX_MEMORY_MB must be a whole number of megabytes above 0, not '2G'",
        ),
        (
            {"ML_ASSETS_CELERY_STEP_TIME_LIMIT_S": "600", "ML_ASSETS_CELERY_REDELIVER_AFTER_S": "300"},
            "ML_ASSETS_CELERY_REDELIVER_AFTER_S (300) must exceed ML_ASSETS_CELERY_STEP_TIME_LIMIT_S (600)",
        ),
    ],
)
def test_celery_limits_refuse_what_would_hang_or_run_a_step_twice(environ, expected):
    with pytest.raises(ValueError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        CeleryLimits.from_env(environ)


def test_automation_switch(monkeypatch):
    monkeypatch.delenv(AUTOMATION_ENV, raising=False)
    assert sensors_start_running()
    monkeypatch.setenv(AUTOMATION_ENV, "stopped")
    assert not sensors_start_running()
    monkeypatch.setenv(AUTOMATION_ENV, "off")
    with pytest.raises(ValueError, match="ML_ASSETS_AUTOMATION must be 'running' or 'stopped', not 'off'"):
        sensors_start_running()


def test_native_threads_limit_openmp_for_the_step_and_restore_it():
    """Boosted trees spin on a busy machine with one OpenMP thread per CPU (orchestration/compute.py): each step that
    fits or scores runs with the configured number, and the process gets its own limit back afterwards."""
    import dagster as dg
    import sklearn.utils._openmp_helpers  # noqa: F401  (loads the OpenMP runtime the limit must reach)
    from threadpoolctl import threadpool_info, threadpool_limits

    from ml_assets.orchestration.compute import StepCompute

    def openmp_threads() -> set[int]:
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "openmp"}

    with threadpool_limits(limits=3):
        assert openmp_threads() == {3}
        with dg.build_resources({"compute": StepCompute(native_threads=1)}):
            assert openmp_threads() == {1}
        assert openmp_threads() == {3}


def test_parallel_fits_run_in_threads_each_held_to_the_native_threads_and_stop_on_an_error():
    """A new thread starts with one OpenMP thread per CPU whatever the step set, so each worker of StepCompute.map
    sets its own; results come back in order, at most `parallel_fits` at once, and an error drops what has not begun."""
    import threading
    import time

    import sklearn.utils._openmp_helpers as openmp

    from ml_assets.orchestration.compute import StepCompute

    compute = StepCompute(native_threads=1, parallel_fits=2)
    running, most, lock = [0], [0], threading.Lock()

    def work(item):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return item, openmp._openmp_effective_n_threads(), threading.current_thread().name

    out = list(compute.map(work, range(6)))
    assert [item for item, _, _ in out] == list(range(6))
    assert {threads for _, threads, _ in out} == {1}
    assert len({name for _, _, name in out}) == 2 and most[0] == 2
    started = []

    def failing(item):
        started.append(item)
        if item == 1:
            raise ValueError("fit 1 failed")
        time.sleep(0.2)
        return item

    with pytest.raises(ValueError, match="fit 1 failed"):
        list(compute.map(failing, range(20)))
    assert len(started) < 20
    # one at a time runs in the step's own thread
    assert {name for _, _, name in StepCompute(parallel_fits=1).map(work, range(3))} == {
        threading.current_thread().name
    }


def test_native_threads_setting_is_checked(monkeypatch):
    from ml_assets.components import ProjectResources

    with pytest.raises(
        ValueError,
        match="native_threads \\(ML_ASSETS_NATIVE_THREADS\\) must be a whole number of threads, 1 or more: not 0",
    ):
        ProjectResources.resolve_from_dict({"native_threads": 0}).build_defs(None)
    with pytest.raises(
        ValueError,
        match="parallel_fits \\(ML_ASSETS_PARALLEL_FITS\\) must be a whole number of fits at once, 1 or more: not 0",
    ):
        ProjectResources.resolve_from_dict({"parallel_fits": 0}).build_defs(None)


# a few of what steps import: third-party packages imported where used, and ml_assets' own layers
PRELOADED = (
    "pandas",
    "sklearn.ensemble",
    "mlflow.sklearn",
    "skops.io",
    "s3fs",
    "ml_assets.learning.inputs",
    "ml_assets.orchestration.assets.model",
    "ml_assets.tasks.regression",
)
_PRELOAD = """
import sys
from ml_assets.orchestration.celery import preload_for_steps
problems = preload_for_steps(sys.argv[1])
print("problems=" + "|".join(problems))
print("imported=" + ",".join(m for m in sys.argv[2:] if m in sys.modules))
"""


@pytest.mark.slow  # two interpreters importing everything: out of the fast tier
@pytest.mark.parametrize(
    "definitions", ["ml_assets.definitions", "ml_assets_tests.no_such_definitions", "definitions_that_fail"]
)
def test_a_worker_preloads_what_steps_import_and_names_what_it_could_not(definitions, tmp_path):
    """What a Celery worker's main process imports before its pool forks the step process; a failure to load is
    reported, not raised (the step meets it again and fails its run with it)."""
    import os
    import subprocess
    import sys

    # a load that fails quoting a credential (as a database driver's error may): named by its type only
    (tmp_path / "definitions_that_fail.py").write_text(
        "def defs():\n    raise ValueError('cannot reach postgresql://ml:planted-secret@db:5432/dagster')\n"
    )
    env = {**os.environ, "ML_ASSETS_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", _PRELOAD, definitions, *PRELOADED],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = dict(
        line.split("=", 1) for line in done.stdout.splitlines() if line.startswith(("problems=", "imported="))
    )
    problems, imported = lines["problems"], lines["imported"]
    assert imported.split(",") == list(PRELOADED)
    if definitions == "ml_assets.definitions":
        assert problems == ""
    elif definitions == "definitions_that_fail":
        assert (
            problems == "definitions_that_fail.defs: ValueError"
            and "planted-secret" not in done.stdout + done.stderr
        )
    else:
        assert problems.startswith("ml_assets_tests.no_such_definitions.defs: ModuleNotFoundError")
