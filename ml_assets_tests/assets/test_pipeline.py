"""Integration: materialize real months through the whole graph with an ephemeral instance."""

import json
import re
from dataclasses import replace

import dagster as dg
import pandas as pd
import pytest
from upath import UPath

from ml_assets import checks
from ml_assets.features import TARGET
from ml_assets.training import course_baseline_predictions, regression_metrics
from ml_assets_tests.assets.helpers import check_results, failure_messages, materialize_month
from ml_assets_tests.conftest import write_empty, write_truncated, write_without_column

ALL_CHECKS = set(checks.RAW_CHECKS + checks.FEATURE_CHECKS + checks.EVALUATION_CHECKS)


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def _warehouse(settings) -> UPath:
    return UPath(settings.warehouse_dir)


def _assert_month_beats_baseline(settings, instance, train_month, valid_month):
    assert materialize_month(settings, train_month, instance).success
    result = materialize_month(settings, valid_month, instance)
    assert result.success, failure_messages(result)
    assert check_results(result) == {name: True for name in ALL_CHECKS}

    features = {m: pd.read_parquet(_warehouse(settings) / "trip_features" / f"{m}.parquet") for m in (train_month, valid_month)}
    # recompute the course baseline in the test, independently of the report
    baseline = regression_metrics(
        features[valid_month][TARGET].to_numpy(), course_baseline_predictions(features[train_month], features[valid_month])
    )["rmse"]
    report = json.loads((UPath(settings.reports_dir) / "evaluation_report" / f"{valid_month}.json").read_text())
    assert report["train_month"] == train_month and report["valid_month"] == valid_month
    assert report["course_baseline_rmse"] == pytest.approx(baseline)
    assert report["rmse"] < baseline < report["mean_predictor_rmse"]
    assert (UPath(settings.reports_dir) / "evaluation_report" / f"{valid_month}.md").read_text() == report["markdown"]
    metadata = result.asset_materializations_for_node("evaluation_report")[0].metadata
    assert metadata["rmse"].value == round(report["rmse"], 4)
    assert f"evaluation for {valid_month}" in metadata["report"].value
    return report


def test_flights_two_months_end_to_end(flights_settings, instance):
    first = materialize_month(flights_settings, "2013-01", instance)
    assert first.success
    # the first month has nothing earlier to train on: the report is skipped, not failed
    assert sorted(e.asset_key.path[-1] for e in first.get_asset_materialization_events()) == [
        "duration_model", "raw_trips", "trip_features"
    ]
    report = _assert_month_beats_baseline(flights_settings, instance, "2013-01", "2013-02")
    assert report["dataset"] == "nyc_flights"
    for asset, ext in [("raw_trips", "parquet"), ("trip_features", "parquet"), ("duration_model", "joblib")]:
        for month in ("2013-01", "2013-02"):
            assert (_warehouse(flights_settings) / asset / f"{month}.{ext}").exists()


def test_green_taxi_over_http_end_to_end(taxi_settings, instance):
    report = _assert_month_beats_baseline(taxi_settings, instance, "2021-01", "2021-02")
    assert report["dataset"] == "nyc_taxi_green"
    raw = pd.read_parquet(_warehouse(taxi_settings) / "raw_trips" / "2021-01.parquet")
    assert len(raw) == 76_518  # every row as delivered (PROVENANCE.md)
    cached = UPath(taxi_settings.cache_dir) / "green" / "green_tripdata_2021-01.parquet"
    assert cached.exists()


def test_feature_metadata_counts_dropped_rows(taxi_settings, instance):
    result = materialize_month(taxi_settings, "2021-01", instance, selection=["raw_trips", "trip_features"])
    metadata = result.asset_materializations_for_node("trip_features")[0].metadata
    assert metadata["rows_in"].value == 76_518
    assert metadata["dropped_pickup_outside_month"].value == 3
    dropped = sum(metadata[f"dropped_{r}"].value for r in ("missing_values", "pickup_outside_month", "negative_distance", "duration_out_of_range"))
    assert metadata["rows_out"].value == 76_518 - dropped


def test_month_downloads_once(taxi_settings, instance, served_dir):
    assert materialize_month(taxi_settings, "2021-01", instance, selection=["raw_trips"]).success
    (served_dir / "green_tripdata_2021-01.parquet").unlink()  # the source no longer has it...
    assert materialize_month(taxi_settings, "2021-01", instance, selection=["raw_trips"]).success  # ...the cache does


def test_transient_fault_is_retried(taxi_settings, instance, trip_server):
    trip_server.faults["green_tripdata_2021-01.parquet"] = 2
    settings = replace(taxi_settings, download_retries=3, download_retry_delay_s=0.05)
    result = materialize_month(settings, "2021-01", instance, selection=["raw_trips"])
    assert result.success
    assert trip_server.faults["green_tripdata_2021-01.parquet"] == 0


@pytest.mark.parametrize(
    "month, break_file, expected",
    [
        ("2021-04", None, r"month 2021-04: .*green_tripdata_2021-04\.parquet: HTTP 404: month not published"),
        ("2021-03", write_truncated, r"month 2021-03: .*green_tripdata_2021-03\.parquet: not a readable parquet file"),
        ("2021-03", lambda s, d: write_without_column(s, d, "PULocationID"), r"month 2021-03: .*missing required column\(s\) \['PULocationID'\]"),
        ("2021-03", write_empty, r"month 2021-03: .*green_tripdata_2021-03\.parquet: the file holds no trips"),
    ],
    ids=["missing-month", "truncated", "missing-column", "empty-month"],
)
def test_bad_input_fails_with_named_problem_and_keeps_earlier_partitions(
    taxi_settings, instance, served_dir, tlc_dir, month, break_file, expected
):
    assert materialize_month(taxi_settings, "2021-02", instance, selection=["raw_trips", "trip_features"]).success
    kept = {p: p.read_bytes() for p in _warehouse(taxi_settings).rglob("*.parquet")}
    if break_file is not None:
        target = served_dir / f"green_tripdata_{month}.parquet"
        break_file(tlc_dir / target.name, target)

    result = materialize_month(taxi_settings, month, instance)
    assert not result.success
    message = failure_messages(result)
    assert re.search(expected, message), message
    assert {p: p.read_bytes() for p in _warehouse(taxi_settings).rglob("*.parquet")} == kept
    assert not (_warehouse(taxi_settings) / "raw_trips" / f"{month}.parquet").exists()


def test_corrupt_source_never_replaces_a_good_partition(taxi_settings, instance, served_dir, tlc_dir):
    assert materialize_month(taxi_settings, "2021-03", instance, selection=["raw_trips"]).success
    good = (_warehouse(taxi_settings) / "raw_trips" / "2021-03.parquet").read_bytes()
    # the source now serves a broken file and the cached copy is gone: the re-run must fail cleanly
    write_truncated(tlc_dir / "green_tripdata_2021-03.parquet", served_dir / "green_tripdata_2021-03.parquet")
    (UPath(taxi_settings.cache_dir) / "green" / "green_tripdata_2021-03.parquet").unlink()
    result = materialize_month(taxi_settings, "2021-03", instance, selection=["raw_trips"])
    assert not result.success
    assert "cached copy was moved" in failure_messages(result)
    assert (_warehouse(taxi_settings) / "raw_trips" / "2021-03.parquet").read_bytes() == good
    assert (UPath(taxi_settings.cache_dir) / "green" / "green_tripdata_2021-03.parquet.corrupt").exists()
