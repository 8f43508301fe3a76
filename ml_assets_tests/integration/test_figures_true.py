"""Integration: the faults an audit of reported figures found, each on real data, and the check that re-computes every
reported figure from what was stored."""

import json

import pyarrow.parquet as pq
import pytest

from ml_assets_tests.pipelines import check_results, failure_messages, load_pipeline

pytestmark = pytest.mark.slow


def write_times_swapped(source, dest) -> None:
    """The month with every trip's dropoff before its pickup (the two timestamps exchanged)."""
    table = pq.read_table(source)
    pickup, dropoff = table["lpep_pickup_datetime"], table["lpep_dropoff_datetime"]
    table = table.set_column(
        table.schema.get_field_index("lpep_pickup_datetime"), "lpep_pickup_datetime", dropoff
    )
    table = table.set_column(
        table.schema.get_field_index("lpep_dropoff_datetime"), "lpep_dropoff_datetime", pickup
    )
    pq.write_table(table, dest)


def test_a_month_without_usable_rows_breaks_neither_its_neighbour_nor_the_backtest(
    data_dir, instance, trip_server, served_dir
):
    """2022-03 with every dropoff before its pickup keeps no row; re-materializing the whole graph of the good month
    2022-02 then failed in backtest_report (ValueError: Found array with 0 sample(s))."""
    taxi = load_pipeline(
        "nyc_taxi_green",
        data_dir,
        source={"url_template": trip_server.url_template},
        partitioning={"monthly": {"first_month": "2022-01", "last_month": "2022-03"}},
        automation={"ingest_retries": 0},
    )
    write_times_swapped(
        served_dir / "green_tripdata_2022-03.parquet", served_dir / "green_tripdata_2022-03.parquet"
    )
    for month in ("2022-01", "2022-02"):
        done = taxi.materialize(
            instance, month, assets=["raw_data", "features", "model", "evaluation_report", "champion_model"]
        )
        assert done.success, failure_messages(done)
    broken = taxi.materialize(
        instance, "2022-03", assets=["raw_data", "features", "model", "evaluation_report", "champion_model"]
    )
    assert not broken.success
    # the good month's whole graph, the backtest included
    again = taxi.materialize(instance, "2022-02")
    assert again.success, failure_messages(again)
    assert check_results(again)["figures_recomputed"]
    report = json.loads(taxi.report(None, "backtest_report").read_text())
    assert "2022-03" not in report["months"] and report["months"] == ["2022-01", "2022-02"]


def test_a_month_stopped_by_its_feature_checks_then_a_good_month(data_dir, instance, trip_server, served_dir):
    """2022-02 keeps no row (every dropoff before its pickup): its features' blocking checks stop it, so it has no
    model. The good month after it is evaluated as "previous month refused", naming why, not failed for want of
    2022-02's model; and the one-range message never sends the user to rebuild a month that cannot train."""
    taxi = load_pipeline(
        "nyc_taxi_green",
        data_dir,
        source={"url_template": trip_server.url_template},
        partitioning={"monthly": {"first_month": "2022-01", "last_month": "2022-03"}},
        automation={"ingest_retries": 0},
    )
    write_times_swapped(
        served_dir / "green_tripdata_2022-02.parquet", served_dir / "green_tripdata_2022-02.parquet"
    )
    training = ["raw_data", "features", "model", "evaluation_report", "champion_model"]
    assert taxi.materialize(instance, "2022-01", assets=training).success
    stopped = taxi.materialize(instance, "2022-02", assets=training)
    assert not stopped.success and check_results(stopped)["features_retention_ratio"] is False
    good = taxi.materialize(instance, "2022-03")
    assert good.success, failure_messages(good)
    report = json.loads(taxi.report("2022-03").read_text())
    assert report["status"] == "previous month refused" and "features_retention_ratio" in report["why"], (
        report
    )
