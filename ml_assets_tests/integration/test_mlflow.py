"""MLflow tracking, registry and the champion gate, against a real SQLite store in a temp dir."""

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from ml_assets.tracking import DAGSTER_RUNS_EXPERIMENT
from ml_assets_tests.pipelines import (
    check_results,
    failure_messages,
    load_pipeline,
    materialization_metadata,
    materialized,
)

pytestmark = pytest.mark.slow


def _client(pipeline) -> MlflowClient:
    return MlflowClient(tracking_uri=pipeline.tracking_uri, registry_uri=pipeline.tracking_uri)


def _runs(pipeline, asset="model"):
    client = _client(pipeline)
    experiment = client.get_experiment_by_name(pipeline.plan.experiment)
    return client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`ml_assets.asset` = '{asset}'",
        order_by=["attributes.start_time ASC"],
    )


def _champion(pipeline):
    return _client(pipeline).get_model_version_by_alias(pipeline.plan.registered_model, "champion")


def _materialize_two_months(flights, instance):
    for month in ("2013-01", "2013-02"):
        result = flights.materialize(instance, month)
        assert result.success, failure_messages(result)
    return result


@pytest.fixture
def two_months(flights, instance):
    return _materialize_two_months(flights, instance)


@pytest.fixture(scope="module")
def stored_two_months(tmp_path_factory):
    """2013-01 and 2013-02 materialized once, for the tests that only read what they stored: (pipeline, result)."""
    import os

    import dagster as dg

    flights = load_pipeline("nyc_flights", tmp_path_factory.mktemp("two_months") / "data")
    with dg.DagsterInstance.ephemeral() as instance:
        result = _materialize_two_months(flights, instance)
        # what no_mlflow_uri_from_earlier_tests does for each test, once for this module's materialization
        for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
            os.environ.pop(name, None)
        yield flights, result


def test_training_runs_carry_params_metrics_tags_and_model(stored_two_months):
    flights, two_months = stored_two_months
    runs = _runs(flights)
    assert [r.data.tags["ml_assets.partition"] for r in runs] == ["2013-01", "2013-02"]
    for run in runs:
        assert run.info.status == "FINISHED"
        params, tags = run.data.params, run.data.tags
        assert params["pipeline"] == "nyc_flights" and params["partition"] == tags["dagster.partition_key"]
        assert int(params["training_rows"]) > 20_000
        spec = flights.plan.task.feature_spec
        assert params["features"] == ",".join([*spec.categorical, *spec.numeric])  # as-of inputs included
        assert {"estimator", "learning_rate", "max_iter", "random_state"} <= params.keys()
        # the training window: the month and the two before it, where the pipeline has them
        month = params["partition"]
        assert params.get("training_months", month).split(", ")[-1] == month
        assert tags["dagster.asset_key"] == "nyc_flights/model" and tags["dagster.code_version"]
        assert len(tags["dagster.input.features.data_version"]) == 16 and tags["dagster.run_id"]
        assert {"train_rmse", "train_mae", "train_r2"} <= run.data.metrics.keys()
    # the YAML's hyperparameters reach the model
    assert runs[1].data.params["learning_rate"] == "0.2" and runs[1].data.params["max_iter"] == "120"
    assert runs[1].data.params["estimator"] == "hist_gradient_boosting"
    # the model trained on January was validated on February, in its own run
    january = runs[0].data.metrics
    assert january["val_rmse"] < january["val_course_baseline_rmse"] < january["val_mean_predictor_rmse"]
    assert mlflow.active_run() is None  # nothing left open in this process
    artifacts = {a.path for a in _client(flights).list_artifacts(runs[0].info.run_id, "evaluation/2013-02")}
    assert artifacts == {"evaluation/2013-02/report.md", "evaluation/2013-02/evaluation.png"}


def test_two_versions_and_champion_on_the_evaluated_one(stored_two_months):
    flights, two_months = stored_two_months
    versions = _client(flights).search_model_versions(f"name = '{flights.plan.registered_model}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    runs = _runs(flights)
    champion = _champion(flights)
    assert str(champion.version) == "1" and champion.run_id == runs[0].info.run_id
    metadata = materialization_metadata(two_months, "nyc_flights", "champion_model")
    assert metadata["decision"].value == "promoted" and metadata["champion_version"].value == "1"
    alias = materialization_metadata(two_months, "nyc_flights", "champion_alias")  # reported: it moved
    assert alias["champion_version"].value == "1" and alias["reported_by_months"].value == "2013-02"
    assert metadata["champion_uri"].value == "models:/nyc_flights_air_time@champion"
    model_metadata = two_months.asset_materializations_for_node("nyc_flights__model")[0].metadata
    assert model_metadata["mlflow_run_id"].value == runs[1].info.run_id
    assert model_metadata["mlflow_run"].value.endswith(f"/runs/{runs[1].info.run_id}")


def test_champion_loads_from_registry_and_predicts(stored_two_months):
    flights, two_months = stored_two_months
    from ml_assets.tracking import fluent_mlflow_at

    with fluent_mlflow_at(flights.tracking_uri):
        model = mlflow.pyfunc.load_model(f"models:/{flights.plan.registered_model}@champion")
    features = pd.read_parquet(flights.warehouse("features") / "2013-02.parquet")
    # the served model takes the rows as delivered: the route and the time of day are computed inside it
    predicted = model.predict(features.drop(columns=["duration_min"]))
    rmse = float(((features["duration_min"].to_numpy() - predicted) ** 2).mean() ** 0.5)
    report = two_months.asset_materializations_for_node("nyc_flights__evaluation_report")[0].metadata
    assert round(rmse, 4) == report["rmse"].value  # the UI shows 4 decimals


_LOAD_IN_A_FRESH_INTERPRETER = """
import json, sys
import mlflow.pyfunc, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
import ml_assets.learning.inputs
rows = pd.read_parquet(sys.argv[2]).drop(columns=["duration_min"])
print(json.dumps({"module": ml_assets.learning.inputs.__file__, "predicted": model.predict(rows).tolist()}))
"""


def test_a_logged_model_carries_the_code_it_needs_and_loads_from_it(stored_two_months, tmp_path):
    flights, two_months = stored_two_months
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from ml_assets.tracking import fluent_mlflow_at

    uri = f"models:/{flights.plan.registered_model}@champion"
    with fluent_mlflow_at(flights.tracking_uri):
        folder = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / "model")))
        served = mlflow.pyfunc.load_model(uri)
    code = folder / "code" / "ml_assets"
    # the learning layer and what it imports, as sources: not the whole package (its wiring, YAML, bytecode)
    assert sorted(p.name for p in code.iterdir()) == ["__init__.py", "files.py", "learning"]
    assert (code / "learning" / "inputs.py").is_file() and not list(code.rglob("*.pyc"))
    features = flights.warehouse("features") / "2013-02.parquet"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")}
    done = subprocess.run(
        [sys.executable, "-c", _LOAD_IN_A_FRESH_INTERPRETER, str(folder), str(features)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    # the model's classes came from its own code folder, and it predicts what the registry's model predicts here
    assert Path(loaded["module"]).resolve().is_relative_to(code.resolve()), loaded["module"]
    expected = served.predict(pd.read_parquet(features).drop(columns=["duration_min"]))
    assert loaded["predicted"] == pytest.approx(list(expected), rel=1e-12)


def test_a_version_is_loaded_once_per_process_and_leaves_sys_path_as_it_was(stored_two_months, monkeypatch):
    flights, two_months = stored_two_months
    import sys

    import mlflow.sklearn

    from ml_assets import tracking

    monkeypatch.setattr(tracking, "_LOADED_MODELS", {})
    loads = []
    real_load = mlflow.sklearn.load_model
    monkeypatch.setattr(mlflow.sklearn, "load_model", lambda uri: loads.append(uri) or real_load(uri))
    path_before = list(sys.path)
    # two steps' registries (each step makes its own) asking for the same versions
    first, second = flights.registry, flights.registry
    models = [first.load_version("1"), first.load_version("2"), second.load_version("1")]
    assert loads == [f"models:/{flights.plan.registered_model}/{v}" for v in ("1", "2")]
    assert models[2] is models[0] and models[1] is not models[0]
    assert sys.path == path_before  # MLflow prepends each download's code folder; none stays
    # a store made again at the same URI has other sources: the process loads those afresh
    monkeypatch.setattr(
        tracking,
        "_LOADED_MODELS",
        {key[:3] + ("elsewhere",): m for key, m in tracking._LOADED_MODELS.items()},
    )
    flights.registry.load_version("1")
    assert len(loads) == 3


def test_alias_moves_for_better_model_and_stays_within_tolerance(flights, data_dir, instance, two_months):
    # January's model is champion. Each later gate promotes its candidate exactly when it beats the champion on the
    # same month (February's one-month model loses to January's on March, 7.990 vs 7.932; March's wins on April)
    promoted = None
    for month in ("2013-03", "2013-04"):
        result = flights.materialize(instance, month)
        assert result.success, failure_messages(result)
        gate = materialization_metadata(result, "nyc_flights", "champion_model")
        # measured on the same month
        better = gate["candidate_rmse"].value < gate["previous_champion_rmse"].value
        assert gate["decision"].value == ("promoted" if better else "kept"), gate["reason"].value
        assert ("champion_alias" in materialized(result)) == better  # the alias moves only with a promotion
        if better:
            promoted = gate["candidate_version"].value
    assert promoted is not None, "no month's model beat the champion"
    assert str(_champion(flights).version) == promoted

    strict = load_pipeline("nyc_flights", data_dir, champion={"min_improvement": 0.5})  # must halve the RMSE
    result = strict.materialize(instance, "2013-05")
    assert result.success, failure_messages(result)
    kept = materialization_metadata(result, "nyc_flights", "champion_model")
    assert kept["decision"].value == "kept" and "the champion stays" in kept["reason"].value
    assert "champion_alias" not in materialized(result)  # it did not move
    assert str(_champion(flights).version) == promoted


def test_failed_blocking_check_stops_promotion(data_dir, instance, two_months, flights):
    # no model predicts flights within a minute
    strict = load_pipeline("nyc_flights", data_dir, quality={"max_rmse": 1.0})
    result = strict.materialize(instance, "2013-03")
    assert not result.success
    assert check_results(result)["rmse_within_threshold"] is False
    assert result.asset_materializations_for_node("nyc_flights__champion_model") == []
    assert str(_champion(flights).version) == "1"


def test_one_parent_run_per_dagster_run_holds_each_months_model_run(flights, instance):
    """dagster-mlflow's resource opens one MLflow run per Dagster run; a range trains every month's model in it."""
    result = flights.materialize(
        instance, months=("2013-01", "2013-03"), assets=["raw_data", "features", "model"]
    )
    assert result.success, failure_messages(result)
    client = _client(flights)
    experiments = [
        client.get_experiment_by_name(name).experiment_id
        for name in (flights.plan.experiment, DAGSTER_RUNS_EXPERIMENT)
    ]
    everything = client.search_runs(experiments)
    (parent,) = [r for r in everything if r.data.tags.get("ml_assets.asset") == "dagster_run"]
    assert parent.info.experiment_id == experiments[1]  # the project's experiment of Dagster runs
    assert parent.data.tags["dagster_run_id"] == result.run_id and parent.info.status == "FINISHED"
    children = [r for r in everything if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.data.tags["ml_assets.partition"] for r in children) == ["2013-01", "2013-02", "2013-03"]
    assert "RUNNING" not in {r.info.status for r in everything} and mlflow.active_run() is None


def test_failed_training_marks_the_mlflow_run_failed(flights, instance, two_months, monkeypatch):
    import ml_assets.learning.estimators as estimators

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory while fitting (injected)")

    monkeypatch.setattr(estimators, "build_model", broken)
    result = flights.materialize(instance, "2013-03")
    assert not result.success and "injected" in failure_messages(result)
    assert _runs(flights)[-1].info.status == "FAILED"
    assert mlflow.active_run() is None
    # the failing step's Dagster run has its parent run ended FAILED too: no run anywhere is left RUNNING
    names = (flights.plan.experiment, DAGSTER_RUNS_EXPERIMENT)
    everything = _client(flights).search_runs(
        [_client(flights).get_experiment_by_name(name).experiment_id for name in names]
    )
    assert "RUNNING" not in {r.info.status for r in everything}
    failed_parent = [r for r in everything if r.data.tags.get("dagster_run_id") == result.run_id]
    assert [r.info.status for r in failed_parent] == ["FAILED"]


@pytest.mark.parametrize(
    "uri, message, shown",
    [
        ("bogus://nowhere", "scheme 'bogus'", "bogus://nowhere"),
        ("http://ml:s3cret-token@127.0.0.1:9", "does not answer", "http://ml:***@127.0.0.1:9"),
    ],
)
def test_bad_tracking_uri_fails_the_run_with_a_clear_message(
    flights, instance, monkeypatch, uri, message, shown
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    result = flights.materialize(instance, "2013-01")
    assert not result.success
    text = failure_messages(result)
    assert message in text and shown in text
    assert "s3cret-token" not in text  # a password in the URI is never shown


def test_registry_name_taken_by_another_pipeline_fails_clearly(flights, instance):
    from ml_assets.tracking import check_tracking_uri

    check_tracking_uri(flights.tracking_uri)  # creates the store's folder
    client = _client(flights)
    client.create_registered_model(
        flights.plan.registered_model, tags={"ml_assets.dataset": "nyc_taxi_green"}
    )
    result = flights.materialize(instance, "2013-01")
    assert not result.success
    message = failure_messages(result)
    assert f"registered model '{flights.plan.registered_model}' already exists" in message
    assert "pipeline 'nyc_taxi_green'" in message and "mlflow.registered_model" in message
    assert client.search_model_versions(f"name = '{flights.plan.registered_model}'") == []
    assert {
        r.info.status
        for r in _client(flights).search_runs([r.experiment_id for r in client.search_experiments()])
    } <= {"FAILED"}


class _HealthyThenDropping:
    """An 'MLflow server' on 127.0.0.1 that passes the health check, then drops every API call without an answer
    (a server restarting mid-run); it records the Authorization headers it was sent."""

    def __init__(self):
        import http.server
        import threading

        seen = self.authorizations = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _any(self):
                seen.append(self.headers.get("Authorization"))
                if self.path.rstrip("/").endswith("/health"):
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(b"OK")
                else:
                    self.close_connection = True
                    self.connection.close()

            do_GET = do_POST = _any  # noqa: N815

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_port

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _run_against_a_dropping_server(flights, instance, monkeypatch, capfd, sentinel):
    import base64
    import json

    import dagster as dg

    server = _HealthyThenDropping()
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://ml:{sentinel}@127.0.0.1:{server.port}")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            monkeypatch.delenv(name, raising=False)
        result = flights.materialize(instance, "2013-01")
    finally:
        server.close()
    assert not result.success
    expected = "Basic " + base64.b64encode(f"ml:{sentinel}".encode()).decode()
    assert expected in server.authorizations  # the credentials did reach the server...
    captured = capfd.readouterr()
    said = "\n".join(
        [failure_messages(result), captured.out, captured.err]
        + [json.dumps(dg.serialize_value(e)) for e in instance.all_logs(result.run_id)]
    )
    return said


def test_mlflow_credentials_reach_the_server_but_never_a_message(flights, instance, monkeypatch, capfd):
    sentinel = "s3ntinel-pw-4821"
    said = _run_against_a_dropping_server(flights, instance, monkeypatch, capfd, sentinel)
    assert "127.0.0.1" in said and "API request" in said  # the failure after the health check is told...
    assert sentinel not in said  # ...without the password: not in the error, the event log or the output


def test_the_credential_search_finds_a_planted_leak(flights, instance, monkeypatch, capfd):
    """The same search fails when the URI goes to MLflow with its credentials (as before this release)."""
    import ml_assets.tracking as tracking

    monkeypatch.setattr(tracking, "without_credentials", lambda uri: (uri, None, None))
    sentinel = "s3ntinel-pw-4821"
    said = _run_against_a_dropping_server(flights, instance, monkeypatch, capfd, sentinel)
    assert sentinel in said


def test_a_process_killed_mid_training_leaves_no_mlflow_run_running_after_the_next_run(
    flights, data_dir, instance
):
    """SIGKILL of the process while its model trains: MLflow keeps the run RUNNING (nothing in the dead process can
    end it); the pipeline's next model step finds it and ends it KILLED, saying why."""
    import signal
    import subprocess
    import sys
    import time

    script = (
        "import dagster as dg\n"
        "from ml_assets.local import load_pipeline\n"
        f"p = load_pipeline('nyc_flights', {str(data_dir)!r})\n"
        "with dg.DagsterInstance.ephemeral() as instance:\n"
        "    p.materialize(instance, '2013-01', assets=['raw_data', 'features', 'model'])\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    client = None
    try:
        deadline = time.monotonic() + 300  # the child imports, reads the month and starts its MLflow run
        running = []
        while time.monotonic() < deadline and child.poll() is None:
            if (flights.data_dir / "mlflow" / "mlflow.db").exists():
                if client is None:
                    from ml_assets.tracking import check_tracking_uri

                    # waits on the child's store creation (a file lock)
                    check_tracking_uri(flights.tracking_uri)
                    client = _client(flights)
                experiment = client.get_experiment_by_name(flights.plan.experiment)
                if experiment is not None:
                    running = client.search_runs(
                        [experiment.experiment_id], filter_string="attributes.status = 'RUNNING'"
                    )
                    if any(r.data.tags.get("ml_assets.asset") == "model" for r in running):
                        break
            time.sleep(0.2)
        assert running, "the child never had a model run RUNNING"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    orphans = {r.info.run_id for r in running}
    assert {client.get_run(r).info.status for r in orphans} == {"RUNNING"}  # what a killed process leaves

    result = flights.materialize(instance, "2013-01", assets=["raw_data", "features", "model"])
    assert result.success, failure_messages(result)
    for run_id in orphans:
        run = client.get_run(run_id)
        assert run.info.status == "KILLED" and "is gone" in run.data.tags["ml_assets.ended_because"]
    experiment = client.get_experiment_by_name(flights.plan.experiment)
    assert "RUNNING" not in {r.info.status for r in client.search_runs([experiment.experiment_id])}
