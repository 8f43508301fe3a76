"""Hyperparameter search declared in YAML (ml_assets/learning/search.py)."""

import pandas as pd
import pytest
from sklearn.datasets import load_iris

from ml_assets.local import load_pipeline


def test_a_searched_model_registers_the_refitted_best_pipeline_and_logs_what_it_chose(tmp_path):
    iris = load_pipeline("iris", tmp_path)
    frame = load_iris(as_frame=True).frame
    trained = iris.plan.task.train(frame)
    # the search's best estimator, refitted on the training rows
    assert type(trained.model).__name__ == "Pipeline"
    assert 0.01 <= trained.params["C"] <= 100 and trained.params["search"] == "6 random candidates x 3 folds"
    assert trained.model.named_steps["model"].named_steps["estimator"].C == trained.params["C"]
    assert trained.metadata["searched_hyperparameters"].startswith("C=")


def test_the_searched_model_is_a_fresh_search_in_every_fit_the_evaluation_makes(tmp_path):
    """Nested: the unfitted model the evaluation clones per outer fold is the search itself, not a fixed C."""
    from sklearn.base import clone

    iris = load_pipeline("iris", tmp_path)
    frame = load_iris(as_frame=True).frame
    model = iris.plan.task.predictors(frame)["model"]
    search = model.named_steps["model"].named_steps["estimator"]
    assert type(search).__name__ == "RandomizedSearchCV" and not hasattr(
        clone(model).named_steps["model"].named_steps["estimator"], "best_params_"
    )
    X, y = iris.plan.task.xy(frame)
    half = clone(model).fit(X.iloc[::2], y[::2])
    fitted = half.named_steps["model"].named_steps["estimator"]
    # the search saw only the 75 rows this fit was given: its inner folds split them, 6 candidates each
    assert fitted.cv_results_["split0_test_score"].shape == (6,) and fitted.n_splits_ == 3
    assert sum(len(test) for _, test in fitted.cv.split(half[:-1].transform(X.iloc[::2]), y[::2])) == 75
    assert half.named_steps["model"].named_steps["encode"].n_features_in_ == 4


@pytest.mark.parametrize(
    ("search", "message"),
    [
        (
            {"space": {"n_trees": [1, 2]}},
            "estimator.search.space ['n_trees'] are not hyperparameters of logistic_regression",
        ),
        ({"space": {"C": {"low": 0, "high": 10, "log": True}}}, "low < high, and low > 0 with log: true"),
        (
            {"space": {"C": [1.0]}, "folds": 1},
            "estimator.search.folds=1 is not allowed: 2 or more inner folds",
        ),
    ],
)
def test_a_bad_search_names_the_setting_and_what_is_allowed(tmp_path, search, message):
    with pytest.raises(Exception) as caught:  # Dagster's resolver wraps the config error
        load_pipeline("iris", tmp_path, estimator={"kind": "logistic_regression", "search": search})
    assert message in str(caught.value), str(caught.value)


def test_a_pipeline_without_a_search_trains_its_fixed_hyperparameters(tmp_path):
    iris = load_pipeline(
        "iris", tmp_path, estimator={"kind": "logistic_regression", "params": {"C": 3.0}, "search": None}
    )
    trained = iris.plan.task.train(load_iris(as_frame=True).frame)
    assert trained.params["C"] == 3.0 and "search" not in trained.params
    # 80% of 150
    assert isinstance(trained.example, pd.DataFrame) and len(trained.example) == 5 and trained.rows == 120
