"""Declared inputs inside the served Pipeline, and the named estimators (pure pandas/scikit-learn)."""

import importlib
import inspect

import numpy as np
import pandas as pd
import pytest

from ml_assets.learning.catalog import NAMED, PARAMS, EstimatorNameError, import_path, parameters_of
from ml_assets.learning.estimators import build_model
from ml_assets.learning.inputs import DeclaredInputs, join_labels


def rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "start": pd.to_datetime(
                ["2024-01-06 08:15", "2024-01-07 17:45", "2024-01-08 23:59", "2024-01-09 00:00"]
            ),
            "end": pd.to_datetime(
                ["2024-01-06 08:45", "2024-01-07 18:00", "2024-01-09 00:29", "2024-01-09 01:00"]
            ),
            "origin": ["A", "B", None, "A"],
            "destination": ["B", "B", "C", "C"],
            "size": [1.0, None, 3.0, 4.0],
            "colour": ["red", "blue", None, "red"],
        }
    )


def test_derived_columns_are_computed_from_rows_as_delivered():
    inputs = DeclaredInputs(
        categorical=("route", "colour"),
        numeric=("size", "hour", "minute_of_day", "weekend", "minutes"),
        derived=(
            ("route", "join", ("origin", "destination"), None),
            ("hour", "date_part", ("start",), "hour"),
            ("minute_of_day", "date_part", ("start",), "minute_of_day"),
            ("weekend", "date_part", ("start",), "is_weekend"),
            ("minutes", "minutes_between", ("start", "end"), None),
        ),
    )
    out = inputs.fit(rows()).transform(rows())
    assert list(out.columns) == ["route", "colour", "size", "hour", "minute_of_day", "weekend", "minutes"]
    # a missing part stays missing
    assert out["route"].tolist()[:2] == ["A_B", "B_B"] and pd.isna(out["route"].iloc[2])
    assert out["hour"].tolist() == [8, 17, 23, 0]
    assert out["minute_of_day"].tolist() == [495, 1065, 1439, 0]
    assert out["weekend"].tolist() == [1, 1, 0, 0]  # Saturday, Sunday, Monday, Tuesday
    assert out["minutes"].tolist() == [30, 15, 30, 60]
    assert np.isnan(out["size"].iloc[1])  # left for the imputer
    assert inputs.source_columns() == ["origin", "destination", "colour", "size", "start", "end"]


def test_a_missing_input_column_is_named_with_what_is_there():
    with pytest.raises(
        ValueError, match=r"lack the declared input column\(s\) \['weight'\]; they hold \['start'"
    ):
        DeclaredInputs(numeric=("weight",)).fit(rows())


def test_join_labels_match_plain_concatenation():
    left, right = pd.Series(["1", "2", "1", "3"]), pd.Series(["9", "9", "8", "9"])
    assert join_labels(left, right).tolist() == (left + "_" + right).tolist()


@pytest.mark.parametrize("encoding", ["onehot", "ordinal", "target", "auto"])
def test_one_pipeline_trains_and_serves_with_text_dates_and_gaps(encoding):
    frame = pd.concat([rows()] * 10, ignore_index=True)
    y = np.arange(len(frame), dtype=float) % 7
    model = build_model(
        "regression",
        "random_forest",
        {"n_estimators": 5},
        0,
        ["route", "colour"],
        ["size", "hour"],
        [("route", "join", ("origin", "destination"), None), ("hour", "date_part", ("start",), "hour")],
        encoding,
        True,
    )
    model.fit(frame, y)
    # categories never seen in training
    unseen = rows().assign(origin=["Z", "Z", "Z", "Z"], colour=["green"] * 4)
    assert model.predict(unseen).shape == (4,)


def test_native_codes_are_what_boosted_trees_split_on_as_categories_however_rows_arrive():
    """`encoding: native`: the served pipeline gives HistGradientBoosting one code column per categorical input and
    marks it categorical; a category unseen in training or missing scores as the trees' missing branch (the same as
    None), and more categories than the trees have bins share one code. Its predictions are the plain script's:
    OrdinalEncoder codes and `categorical_features` by hand."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder

    rng = np.random.default_rng(5)
    n = 3000
    frame = pd.DataFrame(
        {
            "shop": [f"s{c}" for c in rng.integers(0, 400, n)],  # more than 255 values
            "channel": rng.choice(np.array(["web", "app", None], dtype=object), n),
            "x": rng.normal(size=n),
        }
    )
    y = frame["x"] + frame["shop"].str[1:].astype(int) % 5 + (frame["channel"] == "web")
    model = build_model(
        "regression",
        "hist_gradient_boosting",
        {"max_iter": 30},
        0,
        ["shop", "channel"],
        ["x"],
        [],
        "native",
        False,
    )
    model.fit(frame, y)
    trees = model[-1][-1]
    assert trees.is_categorical_.tolist() == [True, True, False]
    codes = model[-1][0].transform(model[0].transform(frame))
    assert np.nanmax(codes[:, 0]) == 254 and np.isnan(codes[:, 1]).sum() == (frame["channel"].isna()).sum()
    unseen = frame.head(20).assign(channel="phone", shop="never-seen")
    missing = frame.head(20).assign(channel=None, shop=None)
    np.testing.assert_array_equal(model.predict(unseen), model.predict(missing))
    by_hand = make_pipeline(
        ColumnTransformer(
            [
                (
                    "c",
                    OrdinalEncoder(
                        handle_unknown="use_encoded_value",
                        unknown_value=np.nan,
                        encoded_missing_value=np.nan,
                        max_categories=255,
                    ),
                    ["shop", "channel"],
                ),
                ("n", "passthrough", ["x"]),
            ]
        ),
        HistGradientBoostingRegressor(max_iter=30, random_state=0, categorical_features=[0, 1]),
    ).fit(frame, y)
    np.testing.assert_allclose(model.predict(frame), by_hand.predict(frame))


def test_native_codes_fit_the_trees_bins_and_only_estimators_that_split_on_categories():
    from ml_assets.components.pipeline_rules import check_native
    from ml_assets.config import EstimatorSpec, PipelineConfigError
    from ml_assets.learning.catalog import resolved_encoding

    frame = pd.DataFrame({"shop": [f"s{c % 100}" for c in range(1000)], "x": np.arange(1000) % 7})
    model = build_model(
        "classification",
        "hist_gradient_boosting",
        {"max_iter": 5, "max_bins": 32},
        0,
        ["shop"],
        ["x"],
        [],
        "auto",
        False,
    )
    model.fit(frame, np.arange(1000) % 2)
    assert np.nanmax(model[-1][0].transform(model[0].transform(frame))[:, 0]) == 31  # 32 bins: codes 0..31
    assert resolved_encoding("auto", "hist_gradient_boosting", "regression") == "native"
    assert resolved_encoding("auto", "random_forest", "regression") == "onehot"
    assert resolved_encoding("auto", "linear_then_boosted_trees", "regression") == "onehot"
    assert resolved_encoding("ordinal", "hist_gradient_boosting", "regression") == "ordinal"
    with pytest.raises(
        PipelineConfigError,
        match=r"features.encoding='native' is not allowed: native codes need an estimator that splits on "
        r"categories itself \(hist_gradient_boosting; random_forest does not\)",
    ):
        check_native("features.encoding", "native", EstimatorSpec(kind="random_forest"), "classification")
    check_native(
        "features.encoding", "native", EstimatorSpec(kind="hist_gradient_boosting"), "classification"
    )


def test_catalog_parameters_match_scikit_learn():
    for path, params in PARAMS.items():
        module, _, name = path.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        assert params == frozenset(inspect.signature(cls).parameters) - {"encoder"}, path
    for kind, by_task in NAMED.items():
        for task, path in by_task.items():
            assert import_path(kind, task) == path


def test_unknown_names_say_what_is_allowed():
    with pytest.raises(EstimatorNameError, match="not a classification estimator.*logistic_regression"):
        import_path("linear_regression", "classification")
    with pytest.raises(EstimatorNameError, match="neither a named regression estimator"):
        import_path("xgboost", "regression")
    with pytest.raises(EstimatorNameError, match="cannot import 'sklearn.svm.NoSuchModel'"):
        parameters_of("sklearn.svm.NoSuchModel")
    assert "C" in parameters_of("sklearn.svm.SVR")
