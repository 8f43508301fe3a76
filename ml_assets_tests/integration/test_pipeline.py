"""Integration: the regression pipelines' real months through the whole graph, with an ephemeral instance."""

import json
import re

import pandas as pd
import pytest

from ml_assets.tasks import checks
from ml_assets_tests.conftest import write_empty, write_truncated, write_without_column
from ml_assets_tests.pipelines import check_results, failure_messages, load_pipeline, materialized

pytestmark = pytest.mark.slow


def all_checks(pipeline) -> set[str]:
    task = pipeline.plan.task
    return set(
        task.raw_check_names + task.feature_check_names + task.evaluation_check_names + checks.DRIFT_CHECKS
    )


def course_baseline_rmse(train: pd.DataFrame, valid: pd.DataFrame) -> float:
    """The course's own construction, written here apart from ml_assets: DictVectorizer on {PU_DO, trip_distance},
    then LinearRegression, trained on one month and scored on the next."""
    import numpy as np
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LinearRegression

    def as_dicts(frame: pd.DataFrame) -> list[dict]:
        route = frame["origin"].astype(str) + "_" + frame["destination"].astype(str)
        return pd.DataFrame({"PU_DO": route, "trip_distance": frame["distance"]}).to_dict(orient="records")

    vectorizer = DictVectorizer()
    model = LinearRegression().fit(
        vectorizer.fit_transform(as_dicts(train)), train["duration_min"].to_numpy()
    )
    predicted = model.predict(vectorizer.transform(as_dicts(valid)))
    return float(np.sqrt(np.mean((valid["duration_min"].to_numpy() - predicted) ** 2)))


def _assert_month_beats_baseline(pipeline, instance, train_month, valid_month):
    assert pipeline.materialize(instance, train_month).success
    result = pipeline.materialize(instance, valid_month)
    assert result.success, failure_messages(result)
    assert check_results(result) == {name: True for name in all_checks(pipeline)}

    features = {
        m: pd.read_parquet(pipeline.warehouse("features") / f"{m}.parquet")
        for m in (train_month, valid_month)
    }
    # recompute the course baseline in the test, independently of the report
    baseline = course_baseline_rmse(features[train_month], features[valid_month])
    report = json.loads(pipeline.report(valid_month).read_text())
    assert report["train_month"] == train_month and report["valid_month"] == valid_month
    assert report["baselines"]["course_baseline"] == pytest.approx(baseline, rel=1e-6)
    assert report["rmse"] < baseline < report["baselines"]["mean_predictor"]
    assert pipeline.report(valid_month).with_suffix(".md").read_text() == report["markdown"]
    metadata = result.asset_materializations_for_node(f"{pipeline.name}__evaluation_report")[0].metadata
    assert metadata["rmse"].value == round(report["rmse"], 4)
    assert f"evaluation for {valid_month}" in metadata["report"].value
    return report


def test_flights_two_months_end_to_end(flights, instance):
    first = flights.materialize(instance, "2013-01")
    assert first.success
    # the first month has nothing earlier to train on: its report and gate say so (never Missing);
    # with no champion yet, the month's predictions are stored empty and its drift alarm says so
    assert materialized(first) == [
        "backtest_report",
        "champion_model",
        "drift_alarm",
        "evaluation_report",
        "features",
        "model",
        "predictions",
        "raw_data",
    ]
    first_report = json.loads(flights.report("2013-01").read_text())
    assert first_report["status"] == "first month" and "nothing to evaluate" in first_report["markdown"]
    assert all(check_results(first).values())
    report = _assert_month_beats_baseline(flights, instance, "2013-01", "2013-02")
    assert report["pipeline"] == "nyc_flights"
    # diagnostics: permutation importance of each declared input (a derived route, not origin and destination) as
    # numbers Dagster plots across months, and residuals by the largest routes
    evaluation = flights.materialize(instance, "2013-02", assets=["evaluation_report"])
    metadata = {
        k: v.value
        for k, v in evaluation.asset_materializations_for_node("nyc_flights__evaluation_report")[
            0
        ].metadata.items()
    }
    declared = [*flights.plan.task.feature_spec.categorical, *flights.plan.task.feature_spec.numeric]
    assert {k.removeprefix("importance_") for k in metadata if k.startswith("importance_")} == set(declared)
    assert max(declared, key=lambda c: metadata[f"importance_{c}"]) in (
        "distance",
        "route_air_24h",
        "route_air_7d",
        "route_air_3h",
    )
    assert metadata["worst_large_route_rmse"] > 0 and abs(metadata["mean_residual"]) < 2
    assert (
        "Permutation importance on 2013-02" in report["markdown"]
        and "largest `route` groups" in report["markdown"]
    )
    for asset, ext in [("raw_data", "parquet"), ("features", "parquet"), ("model", "joblib")]:
        for month in ("2013-01", "2013-02"):
            assert (flights.warehouse(asset) / f"{month}.{ext}").exists()


def test_green_taxi_over_http_end_to_end(taxi, instance):
    report = _assert_month_beats_baseline(taxi, instance, "2021-01", "2021-02")
    assert report["pipeline"] == "nyc_taxi_green"
    raw = pd.read_parquet(taxi.warehouse("raw_data") / "2021-01.parquet")
    assert len(raw) == 76_518  # every row as delivered (PROVENANCE.md)
    assert (taxi.data_dir / "source_cache" / "green" / "green_tripdata_2021-01.parquet").exists()


def test_feature_metadata_counts_dropped_rows(taxi, instance):
    result = taxi.materialize(instance, "2021-01", assets=["raw_data", "features"])
    metadata = result.asset_materializations_for_node("nyc_taxi_green__features")[0].metadata
    assert metadata["rows_in"].value == 76_518
    assert metadata["dropped_outside_month"].value == 3
    dropped = sum(
        metadata[f"dropped_{r}"].value
        for r in (
            "missing_target",
            "outside_month",
            "missing_values",
            "distance_out_of_range",
            "target_out_of_range",
        )
    )
    assert metadata["rows_out"].value == 76_518 - dropped


def test_a_month_costs_one_head_and_one_download_then_one_head(taxi, instance, trip_server):
    name = "green_tripdata_2021-01.parquet"
    result = taxi.materialize(instance, "2021-01", assets=["raw_data"])
    assert result.success, failure_messages(result)
    assert [r for r in trip_server.requests if r[1] == name] == [("HEAD", name), ("GET", name)]
    metadata = result.asset_materializations_for_node("nyc_taxi_green__raw_data")[0].metadata
    assert metadata["source_fingerprint"].value.startswith("http:")  # what the download recorded
    trip_server.requests.clear()
    assert taxi.materialize(instance, "2021-01", assets=["raw_data"]).success
    assert trip_server.requests == [("HEAD", name)]  # unchanged at the source: the cached copy is read


def test_month_downloads_once(taxi, instance, served_dir):
    assert taxi.materialize(instance, "2021-01", assets=["raw_data"]).success
    (served_dir / "green_tripdata_2021-01.parquet").unlink()  # the source no longer has it...
    assert taxi.materialize(instance, "2021-01", assets=["raw_data"]).success  # ...the cache does


def test_transient_fault_is_retried(data_dir, instance, trip_server):
    trip_server.faults["green_tripdata_2021-01.parquet"] = 2
    taxi = load_pipeline(
        "nyc_taxi_green",
        data_dir,
        source={"url_template": trip_server.url_template},
        automation={"ingest_retries": 3, "ingest_retry_delay_s": 0.05},
    )
    result = taxi.materialize(instance, "2021-01", assets=["raw_data"])
    assert result.success
    assert trip_server.faults["green_tripdata_2021-01.parquet"] == 0


@pytest.mark.parametrize(
    "month, break_file, expected",
    [
        ("2021-04", None, r"month 2021-04: .*green_tripdata_2021-04\.parquet: HTTP 404: month not published"),
        (
            "2021-03",
            write_truncated,
            r"month 2021-03: .*green_tripdata_2021-03\.parquet: not a readable parquet file",
        ),
        (
            "2021-03",
            lambda s, d: write_without_column(s, d, "PULocationID"),
            r"month 2021-03: .*missing required column\(s\) \['PULocationID'\]",
        ),
        (
            "2021-03",
            write_empty,
            r"month 2021-03: .*green_tripdata_2021-03\.parquet: the file holds no trips",
        ),
    ],
    ids=["missing-month", "truncated", "missing-column", "empty-month"],
)
def test_bad_input_fails_with_named_problem_and_keeps_earlier_partitions(
    taxi, instance, served_dir, tlc_dir, month, break_file, expected
):
    assert taxi.materialize(instance, "2021-02", assets=["raw_data", "features"]).success
    warehouse = taxi.data_dir / "warehouse"
    kept = {p: p.read_bytes() for p in warehouse.rglob("*.parquet")}
    if break_file is not None:
        target = served_dir / f"green_tripdata_{month}.parquet"
        break_file(tlc_dir / target.name, target)

    result = taxi.materialize(instance, month)
    assert not result.success
    message = failure_messages(result)
    assert re.search(expected, message), message
    assert {p: p.read_bytes() for p in warehouse.rglob("*.parquet")} == kept
    assert not (taxi.warehouse("raw_data") / f"{month}.parquet").exists()


def test_corrupt_source_never_replaces_a_good_partition(taxi, instance, served_dir, tlc_dir):
    assert taxi.materialize(instance, "2021-03", assets=["raw_data"]).success
    good = (taxi.warehouse("raw_data") / "2021-03.parquet").read_bytes()
    # the source now serves a broken file and the cached copy is gone: the re-run must fail cleanly
    write_truncated(tlc_dir / "green_tripdata_2021-03.parquet", served_dir / "green_tripdata_2021-03.parquet")
    cached = taxi.data_dir / "source_cache" / "green" / "green_tripdata_2021-03.parquet"
    cached.unlink()
    result = taxi.materialize(instance, "2021-03", assets=["raw_data"])
    assert not result.success
    assert "cached copy was moved" in failure_messages(result)
    assert (taxi.warehouse("raw_data") / "2021-03.parquet").read_bytes() == good
    assert cached.with_name(cached.name + ".corrupt").exists()


def test_a_damaged_stored_model_names_its_file_and_the_command_that_rebuilds_it(flights, instance):
    assert flights.materialize(instance, "2013-01").success
    model_file = flights.warehouse("model") / "2013-01.joblib"
    model_file.write_bytes(model_file.read_bytes()[:200])  # cut short on disk
    result = flights.materialize(instance, "2013-02", assets=["raw_data", "features", "evaluation_report"])
    assert not result.success
    message = failure_messages(result)
    assert f"{model_file}, the stored nyc_flights/model of 2013-01, cannot be read" in message, message
    assert (
        "dagster asset materialize -m ml_assets.definitions --select 'nyc_flights/model' --partition 2013-01"
        in message
    )
    # the command it names rebuilds it, and the evaluation then runs
    assert flights.materialize(instance, "2013-01", assets=["model"]).success
    assert flights.materialize(instance, "2013-02", assets=["evaluation_report"]).success


def test_a_refused_month_breaks_neither_the_next_month_nor_the_backtest(taxi, instance, served_dir, tlc_dir):
    training = ["raw_data", "features", "model", "evaluation_report", "champion_model"]
    assert taxi.materialize(instance, "2021-01", assets=training).success
    write_truncated(tlc_dir / "green_tripdata_2021-02.parquet", served_dir / "green_tripdata_2021-02.parquet")
    refused = taxi.materialize(instance, "2021-02", assets=training)
    assert not refused.success and "2021-02" in failure_messages(refused)
    later = taxi.materialize(instance, "2021-03", assets=training)
    assert later.success, failure_messages(later)
    evaluation = json.loads(taxi.report("2021-03").read_text())
    assert (
        evaluation["status"] == "previous month refused"
        and "2021-02's data was refused" in evaluation["markdown"]
    )
    backtest = taxi.materialize(instance, assets=["backtest_report"])
    assert backtest.success, failure_messages(backtest)
    report = json.loads(taxi.report(None, "backtest_report").read_text())
    assert report["months"] == ["2021-01", "2021-03"]
