"""The "Bring your own data" examples, run as written (docs/examples/<name>/defs.yaml, quoted verbatim in
docs/bring-your-own-data.md), on the real data the packages ship: the four combinations of task and partitioning
across source kinds."""

import json

import pandas as pd
import pytest

from ml_assets_tests.pipelines import EXAMPLES, REPO_ROOT, check_results, failure_messages, load_yaml_pipeline

pytestmark = pytest.mark.slow
GUIDE = (REPO_ROOT / "docs" / "bring-your-own-data.md").read_text()  # where the examples are quoted


@pytest.mark.parametrize("name", ["penguins", "diabetes", "flight_delays", "penguins_sql"])
def test_the_guide_quotes_each_example_verbatim(name):
    text = (EXAMPLES / name / "defs.yaml").read_text()
    assert text.strip() in GUIDE, (
        f"docs/bring-your-own-data.md does not quote docs/examples/{name}/defs.yaml as it is"
    )


def test_a_csv_with_text_and_missing_values(data_dir, instance):
    penguins = load_yaml_pipeline(EXAMPLES / "penguins" / "defs.yaml", data_dir)
    result = penguins.materialize(instance)
    assert result.success, failure_messages(result)
    assert all(check_results(result).values()), check_results(result)
    raw = pd.read_parquet(penguins.warehouse("raw_data.parquet"))
    # read as delivered
    assert len(raw) == 344 and raw["island"].dtype == object and raw["sex"].isna().sum() == 11
    features = pd.read_parquet(penguins.warehouse("features.parquet"))
    assert len(features) == 344 and features["sex"].isna().sum() == 11  # kept: the imputer fills the gaps
    report = json.loads(penguins.report().read_text())
    assert report["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    summary = report["cv"]["summary"]
    assert summary["model"]["accuracy"]["mean"] > 0.97 > summary["majority_class"]["accuracy"]["mean"]


def test_a_regression_on_a_table(data_dir, instance):
    diabetes = load_yaml_pipeline(EXAMPLES / "diabetes" / "defs.yaml", data_dir)
    result = diabetes.materialize(instance)
    assert result.success, failure_messages(result)
    assert all(check_results(result).values()), check_results(result)
    report = json.loads(diabetes.report().read_text())
    summary = report["cv"]["summary"]
    assert report["protocol"] == "cross-validation" and report["rows"] == 442
    assert summary["model"]["rmse"]["mean"] < 0.75 * summary["mean_predictor"]["rmse"]["mean"]
    # the served model scores rows as delivered
    served = diabetes.registry.load_version(report["model_version"])
    rows = pd.read_parquet(diabetes.warehouse("features.parquet")).drop(columns=["target"]).head(3)
    assert served.predict(rows).shape == (3,)


def test_a_monthly_table_split_by_its_time_column(data_dir, instance):
    delays = load_yaml_pipeline(EXAMPLES / "flight_delays" / "defs.yaml", data_dir)
    first = delays.materialize(instance, "2013-01")
    assert first.success, failure_messages(first)
    result = delays.materialize(instance, "2013-02")
    assert result.success, failure_messages(result)
    assert all(check_results(result).values()), check_results(result)
    raw = pd.read_parquet(delays.warehouse("raw_data") / "2013-02.parquet")
    # February's departures by their time_hour (UTC, as the package writes it), and only them: counted here apart
    everything = pd.read_csv(delays.plan.source.location("2013-02"), usecols=["time_hour"])
    stamps = pd.to_datetime(everything["time_hour"])
    assert len(raw) == int(((stamps >= "2013-02-01") & (stamps < "2013-03-01")).sum()) > 24_000
    # UTC, kept without a zone
    assert raw["time_hour"].dt.month.eq(2).all() and raw["time_hour"].dt.tz is None
    report = json.loads(delays.report("2013-02").read_text())
    assert report["train_month"] == "2013-01" and report["valid_month"] == "2013-02"
    assert report["score"] > report["baselines"]["majority_class"]
    assert report["metrics"]["model"]["roc_auc"] > 0.6


def test_a_database_table(data_dir, instance, postgres_source, monkeypatch):
    """The SQL example of docs/bring-your-own-data.md as written, on the penguins loaded into the machine's
    PostgreSQL."""
    url, password = postgres_source
    monkeypatch.setenv("PENGUINS_DB_URL", url)
    penguins = load_yaml_pipeline(EXAMPLES / "penguins_sql" / "defs.yaml", data_dir)
    result = penguins.materialize(instance)
    assert result.success, failure_messages(result)
    assert all(check_results(result).values()), check_results(result)
    report = json.loads(penguins.report().read_text())
    assert report["rows"] == 344 and report["classes"] == ["Adélie", "Chinstrap", "Gentoo"]
    assert report["cv"]["summary"]["model"]["accuracy"]["mean"] > 0.97
    assert password not in penguins.report().read_text()
