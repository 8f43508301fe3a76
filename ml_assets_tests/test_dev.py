"""dev.py, the fresh-machine entry point: the asset backfill it launches, and `run`'s summary."""

import os
import subprocess
import sys

import pytest

from benchmarks.backfill import timed_backfill
from dev import backfill_params
from ml_assets_tests.pipelines import REPO_ROOT

FLIGHT_MONTHS = [f"2013-{m:02d}" for m in range(1, 13)]


def _ranges(params: dict) -> dict[str, tuple[str, str]]:
    return {
        "/".join(p["assetKey"]["path"]): (p["partitions"]["range"]["start"], p["partitions"]["range"]["end"])
        for p in params["partitionsByAssets"]
    }


def test_backfill_from_the_first_month_evaluates_from_the_second():
    ranges = _ranges(backfill_params("nyc_flights", FLIGHT_MONTHS[:3], FLIGHT_MONTHS))
    assert ranges["nyc_flights/raw_data"] == ranges["nyc_flights/features"] == ranges["nyc_flights/model"] == ("2013-01", "2013-03")
    # nothing to evaluate in the source's first month, and never the month after the range
    assert ranges["nyc_flights/evaluation_report"] == ranges["nyc_flights/champion_model"] == ("2013-02", "2013-03")


def test_backfill_of_later_months_evaluates_every_month():
    ranges = _ranges(backfill_params("nyc_flights", FLIGHT_MONTHS[4:6], FLIGHT_MONTHS))
    assert set(ranges.values()) == {("2013-05", "2013-06")}
    assert {k.split("/")[1] for k in ranges} == {"raw_data", "features", "model", "evaluation_report", "champion_model"}


def test_backfill_of_only_the_first_month_trains_without_evaluating():
    ranges = _ranges(backfill_params("nyc_flights", FLIGHT_MONTHS[:1], FLIGHT_MONTHS))
    assert set(ranges) == {"nyc_flights/raw_data", "nyc_flights/features", "nyc_flights/model"}


@pytest.mark.slow
def test_backfill_runs_to_success_through_the_daemon():
    # a real dagster-daemon and the launch dev.py sends: a range ending before the last month
    # must not pull in the next month's evaluation (that ended the backfill failed)
    result = timed_backfill(2, FLIGHT_MONTHS[:2], timeout_s=600)
    assert result["status"] == "COMPLETED_SUCCESS", result
    assert result["runs"] >= 2


@pytest.mark.slow
def test_dev_run_materializes_pipelines_and_prints_one_summary(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "ML_ASSETS_DATA_DIR": str(tmp_path / "data")}
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "dev.py"), "run", "--pipelines", "iris", "nyc_flights", "--months", "2013-01", "2013-02"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    out = done.stdout
    assert "2 evaluation report(s)" in out
    iris_line = next(line for line in out.splitlines() if line.strip().startswith("iris"))
    assert "CV accuracy" in iris_line and "seed script" in iris_line and "majority class" in iris_line
    flights_line = next(line for line in out.splitlines() if line.strip().startswith("nyc_flights"))
    assert "2013-02" in flights_line and "course baseline" in flights_line
    assert "dev.py run finished in" in out
    # the runs are in the persistent instance, so `dagster dev` shows them
    import dagster as dg

    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        assert len(instance.get_runs()) == 3
