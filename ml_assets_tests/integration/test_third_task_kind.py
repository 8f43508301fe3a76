"""A third task kind is one folder and one registry line (docs/architecture.md): median regression, written here
in a temporary package the way a contributor would write ml_assets/tasks/median_regression/, then declared by a
pipeline's YAML and materialized for real."""

import json
import textwrap

import pytest

from ml_assets.components import TrainingPipeline
from ml_assets.tasks import TASK_KINDS
from ml_assets_tests.pipelines import Pipeline, check_results, failure_messages

pytestmark = pytest.mark.slow

MEDIAN_REGRESSION = '''
"""Median regression: the absolute error is what counts; the trivial baseline predicts the training median."""

from ml_assets.tasks.regression import RegressionTask


class MedianRegressionTask(RegressionTask):
    kind = "median_regression"
    catalog = "regression"  # its estimators are the regression ones
    primary_metric, higher_is_better = "mae", False
    metric_names = ("mae", "rmse", "r2")
    trivial_key, trivial_name = "median_predictor", "median predictor (the training median)"
    threshold_setting = "max_mae"  # no such quality setting: no threshold check

    def trivial_model(self):
        from sklearn.dummy import DummyRegressor

        return DummyRegressor(strategy="median")
'''


def test_a_third_task_kind_is_one_folder_and_one_registry_line(tmp_path, monkeypatch, instance):
    folder = tmp_path / "contrib_tasks" / "median_regression"
    folder.mkdir(parents=True)
    (folder.parent / "__init__.py").write_text("")
    (folder / "__init__.py").write_text(textwrap.dedent(MEDIAN_REGRESSION))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(
        TASK_KINDS, "median_regression", "contrib_tasks.median_regression:MedianRegressionTask"
    )  # the line

    component = TrainingPipeline.resolve_from_dict(
        {
            "name": "diabetes_median",
            "task": "median_regression",
            "source": {"kind": "sklearn", "dataset": "diabetes"},
            "target": {"column": "target"},
            "estimator": {
                "kind": "sklearn.ensemble.HistGradientBoostingRegressor",
                "params": {"loss": "absolute_error", "max_iter": 50},
            },
            # folds in this process: the worker processes would not see the temporary package
            # (ml_assets/tasks/ they would)
            "evaluation": {"cv_folds": 3, "cv_repeats": 1, "cv_jobs": 1},
        }
    )
    pipeline = Pipeline(component, tmp_path / "data")
    result = pipeline.materialize(instance)
    assert result.success, failure_messages(result)
    assert check_results(result)["beats_median_predictor"] is True
    report = json.loads(pipeline.report().read_text())
    assert report["task"] == "median_regression" and report["primary_metric"] == "mae"
    summary = report["cv"]["summary"]
    assert summary["model"]["mae"]["mean"] < summary["median_predictor"]["mae"]["mean"]
