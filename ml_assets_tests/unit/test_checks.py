"""Raw and feature checks of both task kinds, on real trips and on frames built here."""

import pandas as pd
from upath import UPath

from ml_assets.orchestration.checks import check_specs
from ml_assets.sources.taxi import read_taxi_month
from ml_assets.tasks import checks
from ml_assets_tests.pipelines import load_pipeline


def _by_name(results):
    return {r.check_name: r for r in results}


def test_raw_checks_pass_on_a_real_month_with_stray_timestamps(tlc_dir, tmp_path):
    task = load_pipeline("nyc_taxi_green", tmp_path).plan.task
    raw = read_taxi_month(UPath(tlc_dir / "green_tripdata_2022-03.parquet"), "green", "2022-03")
    results = _by_name(task.raw(raw, "2022-03").check_results)
    assert set(results) == set(task.raw_check_names)
    assert all(r.passed for r in results.values())
    assert results[checks.RAW_ROWS_IN_MONTH].metadata["rows_outside_month"] == 24  # PROVENANCE.md


def test_raw_checks_fail_on_the_wrong_month_and_a_missing_column(tlc_dir, tmp_path):
    task = load_pipeline("nyc_taxi_green", tmp_path).plan.task
    raw = read_taxi_month(UPath(tlc_dir / "green_tripdata_2021-01.parquet"), "green", "2021-01")
    results = _by_name(task.raw(raw.drop(columns=["origin"]), "2021-02").check_results)
    assert not results[checks.RAW_SCHEMA].passed
    problems = results[checks.RAW_SCHEMA].metadata["problems"]
    # lists what is there
    assert "['origin']" in problems and "delivered columns" in problems and "'destination'" in problems
    assert not results[checks.RAW_ROWS_IN_MONTH].passed  # January's trips are not February's


def test_feature_checks_count_every_rule_and_enforce_range_and_retention(tlc_dir, tmp_path):
    task = load_pipeline("nyc_taxi_green", tmp_path).plan.task
    raw = read_taxi_month(UPath(tlc_dir / "green_tripdata_2021-01.parquet"), "green", "2021-01")
    step = task.features(raw, "2021-01")
    assert all(r.passed for r in step.check_results)
    dropped = {k: v for k, v in step.metadata.items() if k.startswith("dropped_")}
    assert set(dropped) == {
        "dropped_missing_target",
        "dropped_outside_month",
        "dropped_missing_values",
        "dropped_distance_out_of_range",
        "dropped_target_out_of_range",
    }
    assert sum(dropped.values()) == len(raw) - len(step.value)
    assert step.value["duration_min"].between(1, 60).all()
    strict = load_pipeline("nyc_taxi_green", tmp_path, quality={"min_retention_ratio": 0.99}).plan.task
    bad = _by_name(strict.features(raw, "2021-01").check_results)
    assert not bad[checks.FEATURES_RETENTION].passed


def test_every_declared_check_is_blocking_and_described(tmp_path):
    for name in ("nyc_flights", "iris", "heart_disease", "nyc_taxi_green"):
        task = load_pipeline(name, tmp_path).plan.task
        for names in (task.raw_check_names, task.feature_check_names, task.evaluation_check_names):
            for spec in check_specs("some_asset", names, descriptions=task.check_descriptions()):
                assert spec.blocking and spec.description, spec.name


def test_failed_check_figures_read_as_a_comparison():
    result = checks.outcome("accuracy_within_threshold", None, False, accuracy=0.979, min_accuracy=0.999)
    assert checks.figures(result) == "accuracy 0.979 < min_accuracy 0.999"
    frame = pd.DataFrame({"x": [1]})
    assert len(frame) == 1
