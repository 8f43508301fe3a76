"""The code location as Dagster loads it: four pipelines side by side, each its own group and prefix."""

import os
import subprocess
import sys

import dagster as dg
import pytest

from ml_assets.definitions import defs as load_defs
from ml_assets_tests.pipelines import REPO_ROOT

PIPELINES = {"nyc_flights", "nyc_taxi_green", "iris", "heart_disease"}
ASSETS = ("raw_data", "features", "model", "evaluation_report", "champion_model", "predictions")
MONTHLY_ONLY = ("backtest_report", "champion_alias", "drift_alarm")
MONTHLY = {"nyc_flights", "nyc_taxi_green"}


@pytest.fixture(scope="module")
def defs():
    return load_defs()


def test_four_pipelines_each_its_own_group_and_prefix(defs):
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {f"{p}/{a}" for p in PIPELINES for a in ASSETS} | {
        f"{p}/{a}" for p in MONTHLY for a in MONTHLY_ONLY
    }
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name == key.path[0]
        assert node.description, f"{key} needs a description for the UI"
    assert {j.name for j in defs.jobs} == {f"{p}_{w}" for p in PIPELINES for w in ("ingest", "training")}


def test_automation_is_on_by_default(defs):
    sensors = {s.name: s for s in defs.sensors}
    assert set(sensors) == {f"{p}_{w}" for p in PIPELINES for w in ("source_sensor", "automation")} | {
        "run_failure_alert",
        "failed_run_cleanup",
    }
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in sensors.values())
    schedules = {s.name: s for s in defs.schedules}
    assert set(schedules) == {"nyc_flights_ingest_schedule", "nyc_taxi_green_ingest_schedule"}
    assert all(s.default_status == dg.DefaultScheduleStatus.RUNNING for s in schedules.values())


def test_shared_resources_and_executor(defs):
    assert {
        "storage",
        "mlflow_tracking",
        "alert_webhook",
        "warehouse_io_manager",
        "model_io_manager",
        "report_io_manager",
    } <= set(defs.resources)
    assert defs.resolve_job_def("iris_training").executor_def.name == "in_process"


def test_code_location_loads_without_warnings():
    # -W error turns any warning raised while building the code location into a failure
    subprocess.run(
        [sys.executable, "-W", "error", "-c", "import ml_assets.definitions as d; d.defs()"],
        check=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )


def test_multiprocess_executor_from_the_environment():
    code = "import ml_assets.definitions as d; print(d.defs().resolve_job_def('iris_training').executor_def.name)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**os.environ, "ML_ASSETS_EXECUTOR": "multiprocess"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "multiprocess"
    bad = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**os.environ, "ML_ASSETS_EXECUTOR": "kubernetes"},
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "executor" in bad.stderr and "kubernetes" in bad.stderr


@pytest.mark.slow
def test_dg_and_dagster_clis_see_the_four_pipelines(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    bin_dir = os.path.dirname(sys.executable)
    check = subprocess.run(
        [f"{bin_dir}/dg", "check", "defs"], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    listed = subprocess.run(
        [f"{bin_dir}/dagster", "asset", "list", "-m", "ml_assets.definitions"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert listed.returncode == 0, listed.stderr
    assert {f"{p}/{a}" for p in PIPELINES for a in ASSETS} <= set(listed.stdout.split())
    components = subprocess.run(
        [f"{bin_dir}/dg", "list", "components", "--json"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert components.returncode == 0, components.stderr
    assert "ml_assets.components.TrainingPipeline" in components.stdout


@pytest.mark.slow
def test_cli_materializes_a_taxi_month_through_the_local_server(trip_server, tmp_path):
    """The documented CLI, end to end, with the URL template from the environment (a local mirror)."""
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "ML_ASSETS_TAXI_URL_TEMPLATE": trip_server.url_template,
        "ML_ASSETS_TAXI_END_MONTH": "2021-03",
        "ML_ASSETS_DATA_DIR": str(tmp_path / "data"),
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    (tmp_path / "dagster_home").mkdir()
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    for month in ("2021-01", "2021-02"):
        done = subprocess.run(
            [
                dagster,
                "asset",
                "materialize",
                "-m",
                "ml_assets.definitions",
                "--select",
                "nyc_taxi_green/raw_data*",
                "--partition",
                month,
            ],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    assert "Asset check 'beats_course_baseline' on 'nyc_taxi_green/evaluation_report' passed" in done.stderr
    assert (tmp_path / "data" / "reports" / "nyc_taxi_green" / "evaluation_report" / "2021-02.md").exists()
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path}/data/mlflow/mlflow.db"
    client = MlflowClient(uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("ml_assets/nyc_taxi_green")
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.`ml_assets.asset` = 'model'")
    assert sorted(r.data.tags["ml_assets.partition"] for r in runs) == ["2021-01", "2021-02"]
    assert {r.info.status for r in runs} == {"FINISHED"}
    # one parent run per Dagster run (dagster-mlflow's), each model run nested under its own; nothing left RUNNING
    # dagster-mlflow's runs, one per Dagster run
    dagster_runs = client.get_experiment_by_name("ml_assets/dagster_runs")
    everything = client.search_runs([experiment.experiment_id, dagster_runs.experiment_id])
    assert "RUNNING" not in {r.info.status for r in everything}
    parents = {r.info.run_id: r for r in everything if r.data.tags.get("ml_assets.asset") == "dagster_run"}
    assert {r.data.tags["mlflow.parentRunId"] for r in runs} <= set(parents) and len(parents) == 2
    assert all(p.data.tags["dagster_run_id"] for p in parents.values())
    assert str(client.get_model_version_by_alias("nyc_taxi_green_trip_duration", "champion").version) == "1"


def test_every_step_that_fits_or_scores_limits_its_native_threads(defs):
    """The per-step OpenMP limit (orchestration/compute.py) applies only where the step asks for the resource."""
    fitting = {"model", "evaluation_report", "champion_model", "backtest_report", "predictions"}
    seen = set()
    for assets_def in (a for a in defs.assets if isinstance(a, dg.AssetsDefinition)):
        for key in assets_def.keys:
            if key.path[-1] in fitting:
                assert "compute" in assets_def.required_resource_keys, key.to_user_string()
                seen.add(key.path[0])
    assert seen == {"nyc_flights", "nyc_taxi_green", "iris", "heart_disease"}


def test_the_definitions_are_built_once_per_process_while_nothing_they_come_from_changes(
    monkeypatch, tmp_path
):
    """Dagster asks for a code location's definitions several times in one run (each job subset, each repository
    load data); they are built once, and again when the environment or a file of the defs folder changes."""
    import shutil

    # what the CLI, the daemon's runs and the code server load a code location through
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    import ml_assets.definitions as location

    built = []
    real = dg.load_from_defs_folder

    def counted(**kwargs):
        built.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(dg, "load_from_defs_folder", counted)
    monkeypatch.setattr(location, "_LOADED", {})
    monkeypatch.setenv("ML_ASSETS_TEST_MARKER", "one")
    repository = ReconstructableRepository.for_module("ml_assets.definitions", "defs", str(REPO_ROOT))
    first = repository.get_definition()
    job = repository.get_reconstructable_job("__ASSET_JOB").get_subset(
        asset_selection={dg.AssetKey(["iris", "raw_data"])}
    )
    assert job.get_definition().name == "__ASSET_JOB"
    assert repository.get_definition() is first and len(built) == 1

    monkeypatch.setenv("ML_ASSETS_TEST_MARKER", "two")
    assert repository.get_definition() is not first and len(built) == 2

    # a changed defs file: the key covers every file of the folder (a copy here, so the project's stays untouched)
    folder = tmp_path / "defs"
    shutil.copytree(location.DEFS_FOLDER, folder, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(location, "DEFS_FOLDER", folder)
    before = location._built_from()
    assert location._built_from() == before
    yaml = next(folder.rglob("defs.yaml"))
    yaml.write_text(yaml.read_text() + "\n# edited\n")
    assert location._built_from() != before
