"""Every figure a report shows is what the stored model gives on the stored rows: faults an audit found, each pinned."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score

from ml_assets_tests.unit.shapes import task_of


def rows(x: list[float], labels: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"x": np.asarray(x, dtype=float), "label": labels})


def test_a_window_model_is_scored_over_every_class_it_knows():
    """A 3-month model knows a class that neither the month before nor the scored month holds: its votes for that class
    are wrong answers, not votes for the runner-up (the report said 0.806 where the model scored 0.484)."""
    task = task_of("classification", monthly=True, window=3)
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, 600)
    window = rows(x, np.where(x < -1, "a", np.where(x < 1, "b", "c")).tolist())
    model = task.build_model(window).fit(*task.xy(window))
    assert list(model.classes_) == ["a", "b", "c"]
    # the month before and the scored month hold a and b only; the scored month's large x are labelled b
    before = rows(rng.uniform(-3, 1, 200).tolist(), ["a"] * 100 + ["b"] * 100)
    scored_x = rng.uniform(-3, 3, 300)
    scored = rows(scored_x, np.where(scored_x < -1, "a", "b").tolist())
    evaluated = task.evaluate_next_month(
        model, {"2020-02": before, "2020-03": scored}, "2020-03", None, None, (None, None)
    )
    truth = accuracy_score(scored["label"], model.predict(scored[["x"]]))
    assert truth < 0.8  # the model calls a third of the month c
    assert evaluated.report["score"] == pytest.approx(truth, abs=1e-12)
    assert evaluated.report["metrics"]["model"]["accuracy"] == pytest.approx(truth, abs=1e-12)
    # the walk-forward backtest scores a stored model on a month through the same call
    assert task.primary_metric_of(model, scored) == pytest.approx(truth, abs=1e-12)
    # and the check that re-computes every reported figure confirms the report
    from ml_assets.tasks.recompute import recompute_report

    pair = {"2020-02": before, "2020-03": scored}
    assert all(
        f.agrees
        for f in recompute_report(task, json.loads(json.dumps(evaluated.report, default=str)), model, pair)
    )


def test_probabilities_are_never_dropped_silently():
    task = task_of("classification")
    frame = rows([-2, -1, 0, 1, 2, 3] * 10, ["a", "a", "b", "b", "c", "c"] * 10)
    model = task.build_model(frame).fit(*task.xy(frame))
    with pytest.raises(ValueError, match=r"class\(es\) \['c'\]"):
        task.predict_output(model, frame[["x"]], np.array(["a", "b"]))
    full = task.predict_output(model, frame[["x"]], np.array(["a", "b", "c", "d"]))
    np.testing.assert_allclose(full.sum(axis=1), 1.0)


SPECIES = pd.Series(["Gentoo", "Adelie", "Chinstrap", "Adelie"] * 5)


def test_class_names_as_a_list_over_text_labels_are_refused_with_the_mapping_to_write():
    """A list names classes by position; text labels have no position a user can know (it was the sorted order, so
    names in another order relabelled the confusion matrix with no warning)."""
    task = task_of(
        "classification",
        target={"column": "label", "class_names": ["Gentoo penguin", "Adelie penguin", "Chinstrap penguin"]},
    )
    problems = task.target_problems(SPECIES)
    assert len(problems) == 1
    assert "target.class_names" in problems[0] and "by position" in problems[0]
    assert "class_names: {Adelie: <name>, Chinstrap: <name>, Gentoo: <name>}" in problems[0]


def test_class_names_as_a_mapping_name_each_label_whatever_the_order():
    names = {"Gentoo": "Gentoo penguin", "Adelie": "Adélie penguin", "Chinstrap": "chinstrap penguin"}
    task = task_of("classification", target={"column": "label", "class_names": names})
    assert task.target_problems(SPECIES) == []
    assert task.labels(np.array(["Adelie", "Chinstrap", "Gentoo"])) == [
        "Adélie penguin",
        "chinstrap penguin",
        "Gentoo penguin",
    ]
    # the confusion matrix's rows and columns carry the names of the labels they count
    y = np.array(["Adelie", "Adelie", "Gentoo"])
    output = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, 0, 1.0]])  # columns: Adelie, Chinstrap, Gentoo
    markdown = task.extra_markdown(y, output, np.array(["Adelie", "Chinstrap", "Gentoo"]), "rows")
    assert "| Adélie penguin | 1 | 0 | 1 |" in markdown and "| Gentoo penguin | 0 | 0 | 1 |" in markdown
    # a label without a name, or (in a table) a name for no label, is refused naming both
    short = task_of(
        "classification", target={"column": "label", "class_names": {"Adelie": "a", "Gentoo": "g"}}
    )
    assert "no class for the label(s) ['Chinstrap']" in short.target_problems(SPECIES)[0]
    extra = task_of("classification", target={"column": "label", "class_names": {**names, "Emperor": "e"}})
    assert "['Emperor']" in extra.target_problems(SPECIES)[0]


def test_class_names_keys_from_yaml_numbers_and_lists_for_codes():
    """`{0: healthy, 1: sick}` in YAML has numbers as keys; a list still names labels 0..n-1."""
    codes = pd.Series([0, 1, 1, 0, 2] * 4)
    mapped = task_of(
        "classification", target={"column": "label", "class_names": {0: "healthy", 1: "mild", 2: "severe"}}
    )
    assert mapped.target_problems(codes) == [] and mapped.labels(np.array([0, 1, 2])) == [
        "healthy",
        "mild",
        "severe",
    ]
    listed = task_of(
        "classification", target={"column": "label", "class_names": ["healthy", "mild", "severe"]}
    )
    assert listed.target_problems(codes) == [] and listed.labels(np.array([2, 0])) == ["severe", "healthy"]
    # codes 1..3 are not positions
    assert "by position" in listed.target_problems(codes + 1)[0]


def high_cardinality_table(rows: int = 3000, values: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    code = rng.integers(0, values, rows)
    x = rng.normal(size=rows)
    return pd.DataFrame(
        {
            "place": [f"zone-{c:03d}" for c in code],
            "x": x,
            "y": np.sin(code / 20.0) * 5 + x**2 + rng.normal(0, 0.1, rows),
        }
    )


@pytest.mark.parametrize("task_kind, target", [("regression", "y"), ("classification", "label")])
def test_boosted_trees_on_a_high_cardinality_text_column_with_every_encoding_that_fits_them(
    task_kind, target
):
    """The one-hot output of 300 values is thin, so the ColumnTransformer made it sparse and HistGradientBoosting
    refused it inside `model` (TypeError: Sparse data was passed for X, but dense data is required). By default the
    trees now get one code column per input and split on it as categories; a declared one-hot stays dense."""
    frame = high_cardinality_table()
    if task_kind == "classification":
        frame = frame.assign(label=np.where(frame["y"] > frame["y"].median(), "high", "low")).drop(
            columns=["y"]
        )
    boosted = {"kind": "hist_gradient_boosting", "params": {"max_iter": 20}}
    task = task_of(task_kind, target={"column": target}, estimator=boosted)
    assert task.feature_spec.encoding == "auto"  # the default
    trained = task.train(frame)
    assert trained.model.predict(frame.head(10).drop(columns=[target])).shape == (10,)
    assert trained.metadata["categorical_encoding"].startswith("codes the estimator splits on as categories")
    trees = trained.model[-1][-1]
    assert trees.is_categorical_.tolist() == [True, False]  # the place's codes, then x
    declared = task_of(
        task_kind, target={"column": target}, estimator=boosted, features={"encoding": "onehot"}
    )
    onehot = declared.train(frame)
    assert "dense" in onehot.metadata["categorical_encoding"]
    assert onehot.model.predict(frame.head(10).drop(columns=[target])).shape == (10,)
    # estimators that take sparse input keep the sparse one-hot encoding
    ridge = task_of(task_kind, target={"column": target})
    assert ridge.encoding_used(frame) == "one-hot (sparse when thin)"


def monthly_regression_pair(seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    out = {}
    for month, shift in (("2020-02", 0.0), ("2020-03", 0.5)):
        x = rng.normal(size=200)
        out[month] = pd.DataFrame({"x": x, "y": 3 * x + shift + rng.normal(0, 0.3, 200)})
    return out


def test_the_recomputation_confirms_a_true_report_and_names_both_figures_of_a_planted_wrong_one():
    from ml_assets.tasks import checks
    from ml_assets.tasks.recompute import recompute_report

    task = task_of(
        "regression",
        monthly=True,
        baselines=[
            {
                "key": "forest",
                "name": "forest",
                "estimator": {"kind": "random_forest", "params": {"n_estimators": 10}},
            }
        ],
    )
    pair = monthly_regression_pair()
    model = task.build_model(pair["2020-02"]).fit(*task.xy(pair["2020-02"]))
    report = json.loads(
        json.dumps(
            task.evaluate_next_month(model, pair, "2020-03", None, None, (None, None)).report, default=str
        )
    )
    figures = recompute_report(task, report, model, pair)
    assert [f.name for f in figures] == ["score (rmse)", "model rmse", "mean_predictor rmse", "forest rmse"]
    assert all(f.agrees for f in figures), figures
    assert checks.recomputed("2020-03", figures).passed
    # a planted figure: the model's, then a baseline's, each off by more than the tolerance
    for where in (("score",), ("metrics", "model", "rmse"), ("metrics", "forest", "rmse")):
        planted = json.loads(json.dumps(report))
        holder = planted
        for part in where[:-1]:
            holder = holder[part]
        true_value = holder[where[-1]]
        holder[where[-1]] = true_value + 1e-6
        result = checks.recomputed("2020-03", recompute_report(task, planted, model, pair))
        assert not result.passed
        said = result.metadata["disagreements"]
        assert repr(true_value + 1e-6) in said and repr(true_value) in said, said
    # a figure a serializer turned into text is a disagreement too
    planted = {**report, "score": str(report["score"]) + "x"}
    assert not checks.recomputed("2020-03", recompute_report(task, planted, model, pair)).passed
    # a different model than the one stored is caught
    other = task.build_model(pair["2020-03"]).fit(*task.xy(pair["2020-03"]))
    assert not all(f.agrees for f in recompute_report(task, report, other, pair))


def test_the_recomputation_of_a_cross_validated_report_uses_its_held_out_rows():
    from ml_assets.tasks.recompute import recompute_report

    task = task_of(
        "classification",
        baselines=[
            {
                "key": "forest",
                "name": "forest",
                "estimator": {"kind": "random_forest", "params": {"n_estimators": 10}},
            }
        ],
    )
    rng = np.random.default_rng(1)
    x = rng.normal(size=300)
    frame = pd.DataFrame(
        {"x": x, "z": rng.normal(size=300), "label": np.where(x + rng.normal(0, 0.5, 300) > 0, "yes", "no")}
    )
    train = task.training_rows(frame)
    model = task.build_model(train).fit(*task.xy(train))
    report = task.evaluate_cross_validated(model, frame, None, (None, None)).report
    figures = recompute_report(task, json.loads(json.dumps(report, default=str)), model, frame)
    assert {f.name for f in figures} == {
        "score (accuracy)",
        "model accuracy",
        "majority_class accuracy",
        "forest accuracy",
    }
    assert all(f.agrees for f in figures), figures
