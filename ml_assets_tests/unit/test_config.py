"""The TrainingPipeline YAML schema: the shipped defs.yaml files load, bad values name the setting."""

import re

import pytest

from ml_assets.components import ProjectResources, TrainingPipeline
from ml_assets.sources.taxi import TLC_URL_TEMPLATE
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
    monkeypatch.setenv(
        "ML_ASSETS_TAXI_URL_TEMPLATE", "http://127.0.0.1:8000/{color}_tripdata_{month}.parquet"
    )
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
    source = overrides.pop("_source", None)  # replaces the source instead of merging into it
    attributes = pipeline_attributes(name, **overrides)
    if source is not None:
        attributes["source"] = source
    with pytest.raises(Exception) as caught:
        TrainingPipeline.resolve_from_dict(attributes)
    return str(caught.value)


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"task": "ranking"}, "task='ranking' is not allowed: one of ['classification', 'regression']"),
        (
            {"estimator": {"kind": "xgboost"}},
            "estimator.kind='xgboost' is not allowed: 'xgboost' is neither a named classification estimator",
        ),
        (
            {"estimator": {"kind": "linear_regression"}},
            "'linear_regression' is not a classification estimator",
        ),
        (
            {"estimator": {"params": {"C": 1.0, "n_trees": 5}}},
            "estimator.params ['n_trees'] are not hyperparameters of logistic_regression",
        ),
        ({"estimator": {"params": {"random_state": 5}}}, "random_state is set by estimator.random_state"),
        ({"estimator": {"kind": "sklearn.svm.NoSuchModel"}}, "cannot import 'sklearn.svm.NoSuchModel'"),
        ({"source": {"dataset": "titanic"}}, "source.dataset='titanic' is not allowed"),
        ({"_source": {"kind": "excel"}}, "source.kind='excel' is not allowed: one of ["),
        (
            {"_source": {"kind": "sklearn", "dataset": "iris", "pth": "x"}},
            "source.pth is not a setting of kind 'sklearn'; its settings are",
        ),
        ({"_source": {"kind": "table"}}, "source.path is not set"),
        (
            {"_source": {"kind": "sql", "url_env": "postgresql://u:p@h/db", "table": "t"}},
            "the NAME of an environment variable",
        ),
        ({"_source": {"kind": "sql", "url_env": "DB_URL"}}, "give exactly one of them"),
        ({"quality": {"min_accuracy": 1.5}}, "min_accuracy"),
        ({"quality": {"max_rmse": 3}}, "quality.max_rmse=3.0 is not allowed: a regression threshold"),
        (
            {"target": {"class_names": ["only"]}},
            "target.class_names=['only'] is not allowed: two or more names",
        ),
        (
            {"features": {"numeric": ["a"], "categorical": ["a"]}},
            "each column under only one of numeric and categorical",
        ),
        (
            {"features": {"derived": [{"name": "r", "join": ["a", "b"]}]}},
            "a derived column is used only when listed",
        ),
        (
            {
                "features": {
                    "categorical": ["x"],
                    "derived": [{"name": "x", "part_of": "t", "part": "fortnight"}],
                }
            },
            "part='fortnight' is not allowed",
        ),
        (
            {"baselines": [{"key": "seed script", "name": "x", "estimator": {"kind": "random_forest"}}]},
            "baselines[].key='seed script'",
        ),
        ({"evaluation": {"cv_folds": 1}}, "cv_folds"),
        ({"evaluation": {"cv_jobs": 0}}, "evaluation.cv_jobs=0 is not allowed"),
        ({"name": "iris flowers"}, "name='iris flowers' is not allowed"),
        (
            {"partitioning": {"monthly": {"first_month": "2013-01"}}},
            "partitioning.monthly='set' is not allowed: source kind 'sklearn' is one table",
        ),
        (
            {"_pipeline": "nyc_flights", "partitioning": {"monthly": {"first_month": "2013-13"}}},
            "partitioning.monthly.first_month='2013-13'",
        ),
        ({"_pipeline": "nyc_flights", "partitioning": {"monthly": None}}, "delivers one month at a time"),
        ({"_pipeline": "nyc_flights", "target": {"class_names": ["a", "b"]}}, "classification settings"),
        ({"_pipeline": "nyc_taxi_green", "source": {"color": "blue"}}, "color"),
        (
            {"_pipeline": "nyc_taxi_green", "source": {"url_template": "http://x/y.parquet"}},
            "must contain '{month}'",
        ),
        (
            {"_pipeline": "nyc_flights", "estimator": {"params": {"learning_rat": 0.1}}},
            "estimator.params ['learning_rat']",
        ),
        ({"champion": {"min_improvement": 2}}, "min_improvement"),
    ],
)
def test_bad_values_name_the_setting(overrides, expected):
    message = _error(**overrides)
    assert expected in message, message


def test_project_resources_validate_the_executor():
    with pytest.raises(Exception, match="executor"):
        ProjectResources.resolve_from_dict({"executor": "kubernetes"})
    assert ProjectResources.resolve_from_dict({"executor": "multiprocess"}).executor == "multiprocess"


def test_every_schema_field_is_described():
    """What `dg utils inspect-component` shows: every field of the pipeline and of every source kind has a
    description."""
    from ml_assets.sources import SOURCE_KINDS, spec_class

    schema = TrainingPipeline.model().model_json_schema()
    assert {
        "name",
        "task",
        "source",
        "target",
        "estimator",
        "baselines",
        "quality",
        "partitioning",
        "mlflow",
    } <= set(schema["properties"])
    undocumented = []

    def walk(properties: dict, where: str):
        for field, spec in properties.items():
            if not spec.get("description"):
                undocumented.append(f"{where}.{field}")

    walk(schema["properties"], "TrainingPipeline")
    for name, definition in schema.get("$defs", {}).items():
        walk(definition.get("properties", {}), name)
    for kind in SOURCE_KINDS:
        walk({k: v for k, v in spec_class(kind).model_json_schema()["properties"].items()}, f"source[{kind}]")
    assert undocumented == []


def test_the_code_location_loads_without_the_heavy_libraries():
    """What `dagster dev`, every sensor tick and every run pay first: kept to Dagster plus our own code."""
    import subprocess
    import sys

    code = (
        "import sys; from ml_assets.definitions import defs; defs(); "
        "print(sorted(m for m in ('sklearn', 'mlflow', 'pandas', 'numpy', 'scipy', 'pyarrow', "
        "'matplotlib', 'requests') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_configuration_reference_is_rendered_from_the_current_models():
    from ml_assets.components.reference import render
    from ml_assets_tests.pipelines import REPO_ROOT

    written = (REPO_ROOT / "docs" / "configuration-reference.md").read_text()
    assert written == render(), "docs/configuration-reference.md is stale: run python3 dev.py docs"
    # every field of every source kind is in it, each under its kind
    from ml_assets.sources import SOURCE_KINDS, spec_class

    for kind in SOURCE_KINDS:
        section = written.split("### `kind: ")[1:]
        mine = next(s for s in section if kind in s.split("`")[0].split(" / "))
        assert all(f"| `{field}` |" in mine for field in spec_class(kind).model_fields), kind


def test_the_component_schema_types_every_source_kind_and_refuses_what_none_takes():
    """`dg utils inspect-component` (what editors and `dg check yaml` read) lists each source kind's fields under
    `source`; the shipped YAML validates against it and a setting no kind has is refused."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    import jsonschema
    import yaml

    dg_cli = Path(sys.executable).parent / "dg"
    out = subprocess.run(
        [
            str(dg_cli),
            "utils",
            "inspect-component",
            "ml_assets.components.TrainingPipeline",
            "--defs-yaml-json-schema",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    attributes = json.loads(out.stdout)["properties"]["attributes"]  # its $defs sit beside its properties
    source = json.dumps(attributes["properties"]["source"])
    kinds = {ref.split("/")[-1] for ref in re.findall(r'"\$ref": "(#/\$defs/\w+)"', source)}
    assert {"TableSpec", "SqlSpec", "SklearnSpec", "FlightsSpec", "TlcTaxiSpec"} <= kinds
    fields = {kind: set(attributes["$defs"][kind]["properties"]) for kind in kinds}
    assert (
        "url_env" in fields["SqlSpec"]
        and "time_column" in fields["TableSpec"]
        and "dataset" in fields["SklearnSpec"]
    )
    for name in ("iris", "heart_disease"):
        shipped = yaml.safe_load((DEFS / name / "defs.yaml").read_text())["attributes"]
        jsonschema.validate(shipped, attributes)
        # a sql setting on another kind
        planted = {
            **shipped,
            "source": {**shipped["source"], "url_env": "DB_URL"},
        }
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(planted, attributes)
