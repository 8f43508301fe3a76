"""Backfills: queued as asset backfills from the CLI, and idempotent when run twice."""

import hashlib
import json
import os
import subprocess
import sys

import dagster as dg
import pytest
from upath import UPath

from ml_assets_tests.pipelines import REPO_ROOT, failure_messages

MONTHS = ["2013-01", "2013-02", "2013-03"]
pytestmark = pytest.mark.slow


def _digests(pipeline) -> dict[str, str]:
    warehouse = UPath(pipeline.data_dir) / "warehouse"
    files = [*warehouse.rglob("*.parquet"), *warehouse.rglob("*.joblib")]
    return {str(p.relative_to(pipeline.data_dir)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _metrics(pipeline) -> dict[str, dict]:
    keep = ("rmse", "mae", "r2", "course_baseline_rmse", "mean_predictor_rmse", "train_rows", "valid_rows")
    reports = UPath(pipeline.data_dir) / "reports" / pipeline.name / "evaluation_report"
    return {p.name: {k: json.loads(p.read_text())[k] for k in keep} for p in reports.glob("*.json")}


def test_backfilling_twice_leaves_identical_outputs(flights):
    with dg.DagsterInstance.ephemeral() as instance:
        for month in MONTHS:  # what a one-run-per-month backfill does, in dependency order
            result = flights.materialize(instance, month)
            assert result.success, failure_messages(result)
        first, first_metrics = _digests(flights), _metrics(flights)
        for month in MONTHS:
            assert flights.materialize(instance, month).success
    assert len(first) == 9  # raw, features and model for each of three months
    assert _digests(flights) == first  # byte for byte
    assert _metrics(flights) == first_metrics and len(first_metrics) == 2


def test_cli_queues_an_asset_backfill_in_dependency_order(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "ML_ASSETS_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "dev.py"), "backfill", "2013-01", "2013-12"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "backfill" in done.stdout and "of nyc_flights queued for 12 month(s) 2013-01..2013-12" in done.stdout
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (backfill,) = instance.get_backfills()
        assert backfill.is_asset_backfill
        targeted = backfill.asset_backfill_data.target_subset
        ranges = {
            key.to_user_string(): [(r.start, r.end) for r in subset.get_partition_key_ranges(subset.partitions_def)]
            for key, subset in targeted.partitions_subsets_by_asset_key.items()
        }
        # Evaluation needs the previous month's model, so it starts one month into the source.
        full, from_second = [("2013-01", "2013-12")], [("2013-02", "2013-12")]
        assert ranges == {
            "nyc_flights/raw_data": full, "nyc_flights/features": full, "nyc_flights/model": full,
            "nyc_flights/evaluation_report": from_second, "nyc_flights/champion_model": from_second,
        }


@pytest.mark.parametrize("bad", [["2013-01"], ["2014-01", "2014-12"], ["2013-01", "2013-02", "--pipeline", "nope"]])
def test_cli_backfill_refuses_bad_ranges(tmp_path, bad):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "ML_ASSETS_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "dev.py"), "backfill", *bad], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "usage" in done.stderr or "no partitions" in done.stderr or "nope" in done.stderr
