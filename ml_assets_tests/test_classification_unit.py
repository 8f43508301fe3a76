"""Pure classification pieces on small frames built here (no shared data, no Dagster)."""

import numpy as np
import pandas as pd
import pytest

from ml_assets.classification import (
    SeedScript,
    build_classifier,
    classification_metrics,
    cross_validate,
    evaluate_holdout,
    feature_lists,
    holdout_indices,
)
from ml_assets.tabular_features import build_tabular_features, tabular_schema_problems
from ml_assets.tracking import decide_champion, redact_uri


def _blobs(n_per_class=30, classes=3, seed=0) -> pd.DataFrame:
    """Well-separated numeric classes plus a categorical column that carries no signal."""
    rng = np.random.default_rng(seed)
    rows = []
    for label in range(classes):
        centre = label * 4.0
        for _ in range(n_per_class):
            rows.append({"x1": centre + rng.normal(), "x2": -centre + rng.normal(), "colour": float(rng.integers(0, 3)), "y": label})
    return pd.DataFrame(rows)


def test_metrics_of_a_perfect_and_a_prior_predictor():
    y = np.array([0, 0, 1, 1])
    classes = np.array([0, 1])
    perfect = classification_metrics(y, np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=float), classes)
    assert perfect["accuracy"] == 1.0 and perfect["macro_f1"] == 1.0 and perfect["roc_auc"] == 1.0
    assert perfect["log_loss"] < 1e-6
    prior = classification_metrics(y, np.full((4, 2), 0.5), classes)
    assert prior["roc_auc"] == 0.5 and prior["log_loss"] == pytest.approx(np.log(2))


def test_multiclass_metrics_use_one_vs_rest_auc():
    y = np.array([0, 1, 2, 2])
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.9, 0.05, 0.05]])
    metrics = classification_metrics(y, proba, np.array([0, 1, 2]))
    assert metrics["accuracy"] == 0.75 and 0.5 < metrics["roc_auc"] < 1.0


def test_classifier_pipeline_imputes_scales_and_encodes():
    frame = _blobs()
    frame.loc[0, "x1"] = np.nan  # the imputer fills it
    model = build_classifier("logistic_regression", {"C": 1.0}, ["x1", "x2"], ["colour"])
    model.fit(frame[["x1", "x2", "colour"]], frame["y"])
    assert (model.predict(frame[["x1", "x2", "colour"]]) == frame["y"]).mean() > 0.95
    with pytest.raises(ValueError, match="do not fit logistic_regression"):
        build_classifier("logistic_regression", {"n_trees": 3}, ["x1"], [])


def test_cross_validation_scores_every_predictor_on_the_same_folds():
    frame = _blobs()
    X, y = frame[["x1", "x2", "colour"]], frame["y"].to_numpy()
    model = build_classifier("logistic_regression", {}, ["x1", "x2"], ["colour"])
    result = cross_validate(model, X, y, folds=3, repeats=2, random_state=0, seed_script=SeedScript(n_estimators=10))
    assert set(result.scores) == {"model", "majority_class", "seed_script"}
    assert all(len(values) == 6 for metrics in result.scores.values() for values in metrics.values())
    summary = result.summary()
    assert summary["majority_class"]["accuracy"]["mean"] == pytest.approx(1 / 3)
    assert summary["model"]["accuracy"]["mean"] > 0.9
    diff = result.paired_difference("model", "majority_class")
    assert diff["wins"] == 6 and diff["losses"] == 0 and diff["mean"] > 0.5
    # deterministic: the same folds give the same scores, also when two processes fit them
    again = cross_validate(model, X, y, folds=3, repeats=2, random_state=0, seed_script=SeedScript(n_estimators=10), n_jobs=2)
    assert again.scores == result.scores


def test_seed_script_scales_on_all_rows_before_the_split():
    frame = _blobs(classes=2)
    X, y = frame[["x1", "x2"]], frame["y"].to_numpy()
    train, test = holdout_indices(y, 0.25, 42)
    scaled = SeedScript(n_estimators=20, scale_features=True).fit_predict_proba(X, y, train, test)
    plain = SeedScript(n_estimators=20, scale_features=False).fit_predict_proba(X, y, train, test)
    assert scaled.shape == (len(test), 2)
    np.testing.assert_allclose(scaled, plain)  # a forest does not care about scale


def test_holdout_is_stratified_and_reproducible():
    y = np.array([0] * 40 + [1] * 10)
    train, test = holdout_indices(y, 0.2, 42)
    assert len(test) == 10 and (y[test] == 1).sum() == 2
    assert np.array_equal(test, holdout_indices(y, 0.2, 42)[1])


def test_holdout_evaluation_has_a_confusion_matrix():
    frame = _blobs()
    X, y = frame[["x1", "x2", "colour"]], frame["y"].to_numpy()
    train, test = holdout_indices(y, 0.2, 1)
    model = build_classifier("random_forest", {"n_estimators": 20}, ["x1", "x2"], ["colour"]).fit(X.iloc[train], y[train])
    evaluation, predicted = evaluate_holdout(model, X, y, train, test, SeedScript(n_estimators=5))
    assert np.asarray(evaluation.confusion).sum() == len(test) == evaluation.rows
    assert evaluation.classes == [0, 1, 2] and set(evaluation.metrics) == {"model", "majority_class", "seed_script"}
    assert len(predicted) == len(test)


def test_tabular_features_drop_missing_rows_and_binarize():
    raw = pd.DataFrame({"a": [1.0, None, 3.0, 4.0], "b": [1, 2, 3, 4], "num": [0, 2, 3, 0]})
    features, dropped = build_tabular_features(raw, "num", ["a"], ["b"], positive_above=0, drop_missing=True)
    assert dropped == {"missing_target": 0, "missing_values": 1}
    assert features["num"].tolist() == [0, 1, 0] and list(features.columns) == ["a", "b", "num"]
    kept, _ = build_tabular_features(raw, "num", ["a"], ["b"], drop_missing=False)
    assert len(kept) == 4 and kept["num"].tolist() == [0, 2, 3, 0]


def test_tabular_schema_problems_are_sentences():
    raw = pd.DataFrame({"a": ["x", "y"], "num": [1, 1]})
    problems = tabular_schema_problems(raw, "num", ["a", "b"], [])
    assert "missing column 'b'" in problems
    assert "column 'a' has dtype object, expected a number" in problems
    assert any("holds 1 class(es)" in p for p in problems)


def test_feature_lists_default_to_every_other_column():
    frame = pd.DataFrame({"a": [1], "b": [2], "target": [0]})
    assert feature_lists(frame, "target", [], []) == (["a", "b"], [])
    assert feature_lists(frame, "target", ["a"], ["b"]) == (["a"], ["b"])


def test_champion_gate_for_a_higher_is_better_metric():
    first = decide_champion("1", 0.9, True, None, None, 0.0, metric="accuracy", higher_is_better=True)
    assert first.promote
    better = decide_champion("2", 0.95, True, "1", 0.9, 0.01, metric="accuracy", higher_is_better=True)
    assert better.promote and "accuracy 0.950 beats" in better.reason
    tie = decide_champion("3", 0.95, True, "2", 0.95, 0.0, metric="accuracy", higher_is_better=True)
    assert not tie.promote and "needed >= 0.950" in tie.reason


@pytest.mark.parametrize(
    "uri, shown",
    [
        ("postgresql+psycopg2://ml:s3cret@db:5432/mlflow", "postgresql+psycopg2://ml:***@db:5432/mlflow"),
        ("https://token@mlflow.example.com/", "https://***@mlflow.example.com/"),
        ("http://127.0.0.1:5000?key=abc", "http://127.0.0.1:5000?***"),
        ("sqlite:////tmp/mlflow.db", "sqlite:////tmp/mlflow.db"),
    ],
)
def test_uris_are_redacted_for_messages(uri, shown):
    assert redact_uri(uri) == shown
