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


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"ML_ASSETS_CELERY_STEP_TIME_LIMIT_S": "ten"},
            "ML_ASSETS_CELERY_STEP_TIME_LIMIT_S must be a whole number of seconds above 0, not 'ten'",
        ),
        ({"ML_ASSETS_CELERY_WORKER_WAIT_S": "0"}, "ML_ASSETS_CELERY_WORKER_WAIT_S must be a whole number"),
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
