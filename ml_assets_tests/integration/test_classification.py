"""Integration: the iris and heart-disease pipelines materialized for real, compared with their seed scripts."""

import hashlib
import http.server
import json
import shutil
import threading
from functools import partial

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.preprocessing import StandardScaler

from ml_assets.tracking import fluent_mlflow_at
from ml_assets_tests.conftest import BUNDLED_HEART
from ml_assets_tests.pipelines import check_results, failure_messages, load_pipeline, materialized


def all_checks(pipeline) -> set[str]:
    task = pipeline.plan.task
    return set(task.raw_check_names + task.feature_check_names + task.evaluation_check_names)


HEART_SHA256 = (
    "a74b7efa387bc9d108d7d0115d831fe9b414b29ae7124f331b622b4efa0427c8"  # ../shared/data/heart/PROVENANCE.md
)


def test_bundled_heart_file_is_the_uci_original():
    data = BUNDLED_HEART.read_bytes()
    assert hashlib.sha256(data).hexdigest() == HEART_SHA256
    # the attribution travels with it
    assert HEART_SHA256 in (BUNDLED_HEART.parent / "PROVENANCE.md").read_text()


@pytest.mark.slow
def test_iris_end_to_end_beats_the_airflow_dag(iris, instance):
    result = iris.materialize(instance)
    assert result.success, failure_messages(result)
    # the gate names a champion in the same run, so the table is also scored by it
    assert materialized(result) == [
        "champion_model",
        "evaluation_report",
        "features",
        "model",
        "predictions",
        "raw_data",
    ]
    assert check_results(result) == {name: True for name in all_checks(iris)}

    report = json.loads(iris.report().read_text())
    summary = report["cv"]["summary"]
    assert report["rows"] == 150 and report["classes"] == ["setosa", "versicolor", "virginica"]
    assert report["cv"]["folds"] * report["cv"]["repeats"] == 50
    assert summary["model"]["accuracy"]["mean"] >= summary["seed_script"]["accuracy"]["mean"]
    assert summary["majority_class"]["accuracy"]["mean"] == pytest.approx(1 / 3)
    assert summary["model"]["log_loss"]["mean"] < summary["majority_class"]["log_loss"]["mean"]
    holdout = report["holdout"]
    assert holdout["rows"] == 30 and np.asarray(holdout["confusion_matrix"]).sum() == 30
    assert np.trace(holdout["confusion_matrix"]) / 30 == pytest.approx(
        holdout["metrics"]["model"]["accuracy"]
    )
    markdown = iris.report().with_suffix(".md").read_text()
    assert (
        "| Airflow iris DAG, RandomForestClassifier(n_estimators=100) |" in markdown
        and "Confusion matrix" in markdown
    )
    metadata = result.asset_materializations_for_node("iris__evaluation_report")[0].metadata
    assert metadata["cv_accuracy_mean"].value == round(summary["model"]["accuracy"]["mean"], 4)
    assert "data:image/png;base64," in metadata["report"].value
    assert 0 <= metadata["calibration_error"].value < 0.3 and "Calibration on the held-out rows" in markdown

    # MLflow: one finished run with the CV and held-out metrics; the champion reproduces the held-out accuracy
    client = MlflowClient(iris.tracking_uri, registry_uri=iris.tracking_uri)
    experiment = client.get_experiment_by_name("ml_assets/iris")
    (run,) = client.search_runs([experiment.experiment_id], filter_string="tags.`ml_assets.asset` = 'model'")
    assert run.info.status == "FINISHED" and run.data.params["estimator"] == "logistic_regression"
    assert run.data.metrics["cv_accuracy_mean"] == pytest.approx(summary["model"]["accuracy"]["mean"])
    assert run.data.metrics["holdout_accuracy"] == pytest.approx(holdout["metrics"]["model"]["accuracy"])
    assert str(client.get_model_version_by_alias("iris_species", "champion").version) == "1"
    features = pd.read_parquet(iris.warehouse("features.parquet"))
    with fluent_mlflow_at(iris.tracking_uri):
        champion = mlflow.pyfunc.load_model("models:/iris_species@champion")
    X, y = features.drop(columns=["target"]), features["target"].to_numpy()
    _, test = iris.plan.task.split(y)
    assert (champion.predict(X.iloc[test]) == y[test]).mean() == pytest.approx(
        holdout["metrics"]["model"]["accuracy"]
    )
    # `predictions` stores every row, and reports figures only on the 30 rows the champion never saw
    scoring = result.asset_materializations_for_node("iris__predictions")[0].metadata
    assert (
        scoring["rows"].value == 150
        and "the 30 held-out rows the champion never saw" in scoring["scored_on"].value
    )
    assert scoring["accuracy"].value == pytest.approx(holdout["metrics"]["model"]["accuracy"], abs=1e-3)

    # the same data again: a new version, identical scores, and the tie does not move the alias
    again = iris.materialize(instance)
    assert again.success
    # the 50 nested folds (about 1,000 fits) are not run again for the same rows and declared model: the figures are
    # the first run's, and the report says they were reused
    assert report["cv"]["reused"] is False
    reused = json.loads(iris.report().read_text())
    assert reused["cv"]["reused"] is True and reused["cv"]["summary"] == summary
    assert "The fold scores are reused" in iris.report().with_suffix(".md").read_text()
    assert (
        again.asset_materializations_for_node("iris__evaluation_report")[0]
        .metadata["cv_scores"]
        .value.startswith("reused")
    )
    decision = again.asset_materializations_for_node("iris__champion_model")[0].metadata
    assert decision["decision"].value == "kept" and "does not beat" in decision["reason"].value
    assert str(client.get_model_version_by_alias("iris_species", "champion").version) == "1"


@pytest.mark.slow
def test_heart_disease_end_to_end_beats_the_prefect_flow_on_the_same_folds(heart, instance):
    result = heart.materialize(instance)
    assert result.success, failure_messages(result)
    assert check_results(result) == {name: True for name in all_checks(heart)}
    features_meta = result.asset_materializations_for_node("heart_disease__features")[0].metadata
    # 4 ca, 2 thal
    assert features_meta["rows_in"].value == 303 and features_meta["dropped_missing_values"].value == 6

    # the Prefect flow's steps re-implemented here, independently: dropna, StandardScaler, RF(100), on the same folds.
    # The flow fits its scaler on every row before splitting (a leak); the declared baseline fits it on each
    # training fold, as any honest comparison must.
    raw = pd.read_csv(BUNDLED_HEART, header=None, na_values="?").dropna()
    X, y = raw.iloc[:, :13].to_numpy(dtype=float), (raw.iloc[:, 13] > 0).astype(int).to_numpy()
    accuracies = []
    for tr, te in RepeatedStratifiedKFold(n_splits=5, n_repeats=10, random_state=42).split(X, y):
        scaler = StandardScaler().fit(X[tr])
        forest = RandomForestClassifier(n_estimators=100, random_state=42).fit(scaler.transform(X[tr]), y[tr])
        accuracies.append((forest.predict(scaler.transform(X[te])) == y[te]).mean())
    report = json.loads(heart.report().read_text())
    summary = report["cv"]["summary"]
    assert report["rows"] == 297 and report["classes"] == ["no disease", "disease"]
    assert summary["seed_script"]["accuracy"]["mean"] == pytest.approx(np.mean(accuracies))
    assert summary["model"]["accuracy"]["mean"] > summary["seed_script"]["accuracy"]["mean"]
    versus = report["cv"]["paired"]
    assert versus["against"] == "seed_script"
    assert versus["wins"] > versus["losses"] and versus["wins"] + versus["ties"] + versus["losses"] == 50
    assert summary["model"]["roc_auc"]["mean"] > 0.85


@pytest.fixture
def heart_server(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    shutil.copy(BUNDLED_HEART, folder)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{server.server_port}/processed.cleveland.data"
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_heart_disease_from_a_url_in_the_environment(data_dir, instance, heart_server, monkeypatch):
    folder, url = heart_server
    monkeypatch.setenv("ML_ASSETS_HEART_URL", url)  # the defs.yaml templates it in
    heart = load_pipeline("heart_disease", data_dir)
    assert heart.plan.source.location(None) == url
    result = heart.materialize(instance, assets=["raw_data", "features"])
    assert result.success, failure_messages(result)
    assert (
        result.asset_materializations_for_node("heart_disease__raw_data")[0].metadata["location"].value == url
    )


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"63.0,1.0,1.0\n67.0,1.0,4.0\n", "line 1 has 3 fields where source.columns names 14"),
        (
            b"63.0,1.0,1.0,145.0,233.0,1.0,2.0,150.0,0.0,2.3,3.0,0.0,6.0,high\n",
            "needs a numeric target; 'num' holds",
        ),
        (b"", "the file is empty"),
        # pandas alone would take the first field as the index and shift every column by one
        (b"1," * 14 + b"0\n" + b"2," * 14 + b"1\n", "line 1 has 15 fields where source.columns names 14"),
        (
            b"63.0,1.0,1.0,145.0,233.0,1.0,2.0,150.0,0.0,2.3,3.0,0.0,6.0,0\n67.0,1.0,4.0,160.0",
            "the file ends mid-line",
        ),
        (
            b"63.0,1.0,1.0,145.0,233.0,1.0,2.0,150.0,0.0,2.3,3.0,0.0,6.0,0\n" * 20,
            "holds 1 class ([0]): at least two are needed",
        ),
    ],
    ids=["short-rows", "text-label", "empty-file", "extra-field", "cut-off", "one-class"],
)
def test_bad_heart_file_fails_with_a_named_problem_and_keeps_the_good_table(
    data_dir, instance, heart_server, monkeypatch, content, expected
):
    folder, url = heart_server
    monkeypatch.setenv("ML_ASSETS_HEART_URL", url)
    heart = load_pipeline("heart_disease", data_dir)
    assert heart.materialize(instance, assets=["raw_data"]).success
    good = heart.warehouse("raw_data.parquet").read_bytes()
    (folder / "processed.cleveland.data").write_bytes(content)
    result = heart.materialize(instance, assets=["raw_data", "features"])
    assert not result.success
    message = failure_messages(result)
    assert url in message and expected in message, message
    assert heart.warehouse("raw_data.parquet").read_bytes() == good
