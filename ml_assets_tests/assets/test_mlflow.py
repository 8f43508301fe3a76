"""MLflow tracking, registry and the champion gate, against a real SQLite store in a temp dir."""

from dataclasses import replace

import dagster as dg
import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from ml_assets.features import TARGET
from ml_assets.training import model_inputs, regression_metrics
from ml_assets_tests.assets.helpers import check_results, failure_messages, materialize_month


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def _client(settings) -> MlflowClient:
    uri = settings.default_mlflow_tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _training_runs(settings):
    client = _client(settings)
    experiment = client.get_experiment_by_name(settings.mlflow_experiment)
    return client.search_runs(
        [experiment.experiment_id], filter_string="tags.`ml_assets.asset` = 'duration_model'", order_by=["attributes.start_time ASC"]
    )


def _champion(settings):
    return _client(settings).get_model_version_by_alias(settings.registered_model_name, "champion")


TUNED = {"ops": {"duration_model": {"config": {"tuning_trials": 6, "tuning_time_budget_s": 120}}}}


@pytest.fixture
def two_months(flights_settings, instance):
    for month in ("2013-01", "2013-02"):
        # January with a 6-trial search (nested runs), February with the default parameters
        result = materialize_month(flights_settings, month, instance, run_config=TUNED if month == "2013-01" else None)
        assert result.success, failure_messages(result)
    return result


def test_training_runs_carry_params_metrics_tags_and_model(flights_settings, two_months):
    runs = _training_runs(flights_settings)
    assert [r.data.tags["ml_assets.partition"] for r in runs] == ["2013-01", "2013-02"]
    for run in runs:
        assert run.info.status == "FINISHED"
        params, tags = run.data.params, run.data.tags
        assert params["source"] == "nyc_flights" and params["partition"] == tags["dagster.partition_key"]
        assert int(params["training_rows"]) > 20_000
        assert params["features"] == "origin,destination,route,carrier,distance,pickup_hour,pickup_minute_of_day"
        assert {"learning_rate", "max_iter", "max_leaf_nodes", "min_samples_leaf", "l2_regularization"} <= params.keys()
        assert tags["dagster.asset_key"] == "duration_model" and tags["dagster.code_version"]
        assert len(tags["dagster.input.trip_features.data_version"]) == 16 and tags["dagster_run_id"]
        assert {"train_rmse", "train_mae", "train_r2"} <= run.data.metrics.keys()
    # the model trained on January was validated on February, in its own run
    january = runs[0].data.metrics
    assert january["val_rmse"] < january["val_course_baseline_rmse"] < january["val_mean_predictor_rmse"]
    artifacts = {a.path for a in _client(flights_settings).list_artifacts(runs[0].info.run_id, "evaluation/2013-02")}
    assert artifacts == {"evaluation/2013-02/report.md", "evaluation/2013-02/predicted_vs_actual.png"}
    # every tuning trial is a nested run of the training run
    trials = _client(flights_settings).search_runs(
        [runs[0].info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{runs[0].info.run_id}'"
    )
    assert len(trials) == 6 and all("holdout_rmse" in t.data.metrics for t in trials)
    assert runs[0].data.params["tuning_trials_run"] == "6" and runs[1].data.params["tuning_trials_run"] == "0"


def test_two_versions_and_champion_on_the_evaluated_one(flights_settings, two_months):
    versions = _client(flights_settings).search_model_versions(f"name = '{flights_settings.registered_model_name}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    runs = _training_runs(flights_settings)
    champion = _champion(flights_settings)
    assert str(champion.version) == "1" and champion.run_id == runs[0].info.run_id
    metadata = two_months.asset_materializations_for_node("champion_model")[0].metadata
    assert metadata["decision"].value == "promoted" and metadata["champion_version"].value == "1"
    assert metadata["champion_uri"].value == f"models:/{flights_settings.registered_model_name}@champion"
    model_metadata = two_months.asset_materializations_for_node("duration_model")[0].metadata
    assert model_metadata["mlflow_run_id"].value == runs[1].info.run_id
    assert model_metadata["mlflow_run"].value.endswith(f"/runs/{runs[1].info.run_id}")


def test_champion_loads_from_registry_and_predicts(flights_settings, two_months):
    mlflow.set_tracking_uri(flights_settings.default_mlflow_tracking_uri)
    mlflow.set_registry_uri(flights_settings.default_mlflow_tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{flights_settings.registered_model_name}@champion")
    features = pd.read_parquet(f"{flights_settings.warehouse_dir}/trip_features/2013-02.parquet")
    predicted = model.predict(model_inputs(features))
    rmse = regression_metrics(features[TARGET].to_numpy(), predicted)["rmse"]
    report = two_months.asset_materializations_for_node("evaluation_report")[0].metadata
    assert round(rmse, 4) == report["rmse"].value  # the UI shows 4 decimals


def test_alias_moves_for_better_model_and_stays_within_tolerance(flights_settings, instance, two_months):
    result = materialize_month(flights_settings, "2013-03", instance)
    assert result.success, failure_messages(result)
    moved = result.asset_materializations_for_node("champion_model")[0].metadata
    assert moved["decision"].value == "promoted", moved["reason"].value
    assert str(_champion(flights_settings).version) == "2"
    assert moved["candidate_rmse"].value < moved["previous_champion_rmse"].value  # measured on the same month

    strict = replace(flights_settings, champion_min_improvement=0.5)  # must halve the champion's RMSE
    result = materialize_month(strict, "2013-04", instance)
    assert result.success, failure_messages(result)
    kept = result.asset_materializations_for_node("champion_model")[0].metadata
    assert kept["decision"].value == "kept" and "the champion stays" in kept["reason"].value
    assert str(_champion(flights_settings).version) == "2"


def test_failed_blocking_check_stops_promotion(flights_settings, instance, two_months):
    strict = replace(flights_settings, max_rmse_override=1.0)  # no model predicts flights within a minute
    result = materialize_month(strict, "2013-03", instance)
    assert not result.success
    assert check_results(result)["rmse_within_threshold"] is False
    assert result.asset_materializations_for_node("champion_model") == []
    assert str(_champion(flights_settings).version) == "1"


def test_failed_training_marks_the_mlflow_run_failed(flights_settings, instance, two_months, monkeypatch):
    import ml_assets.assets.training as training_asset

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory while fitting (injected)")

    monkeypatch.setattr(training_asset, "train_duration_model", broken)
    result = materialize_month(flights_settings, "2013-03", instance, run_config={
        "ops": {"duration_model": {"config": {"tuning_trials": 0}}}
    })
    assert not result.success and "injected" in failure_messages(result)
    assert _training_runs(flights_settings)[-1].info.status == "FAILED"


@pytest.mark.parametrize(
    "uri, message", [("bogus://nowhere", "scheme 'bogus'"), ("http://127.0.0.1:9", "does not answer")]
)
def test_bad_tracking_uri_fails_the_run_with_a_clear_message(flights_settings, instance, uri, message):
    settings = replace(flights_settings, mlflow_tracking_uri_value=uri)
    result = materialize_month(settings, "2013-01", instance)
    assert not result.success
    events = [e for e in result.all_events if e.event_type in (dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.ENGINE_EVENT)]
    text = failure_messages(result) + "\n".join(str(e.event_specific_data) for e in events)
    assert message in text and uri in text


def test_registry_name_taken_by_another_dataset_fails_clearly(flights_settings, instance):
    client = _client(flights_settings)
    from ml_assets.tracking import check_tracking_uri

    check_tracking_uri(flights_settings.default_mlflow_tracking_uri)  # creates the store's folder
    client.create_registered_model(flights_settings.registered_model_name, tags={"ml_assets.dataset": "nyc_taxi_green"})
    result = materialize_month(flights_settings, "2013-01", instance)
    assert not result.success
    message = failure_messages(result)
    assert f"registered model '{flights_settings.registered_model_name}' already exists" in message
    assert "dataset 'nyc_taxi_green'" in message and "ML_ASSETS_REGISTERED_MODEL" in message
    assert client.search_model_versions(f"name = '{flights_settings.registered_model_name}'") == []
