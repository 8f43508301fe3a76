"""The estimators a pipeline may name, known without importing scikit-learn so a pipeline's YAML is
checked when the code location loads (which stays under a second). Anything else scikit-learn
compatible is named by import path (`package.module.Class`) and checked against its signature.

`ml_assets_tests/unit/test_estimators.py` compares every parameter list here with scikit-learn's own.
"""

from __future__ import annotations

# name -> task -> import path
NAMED: dict[str, dict[str, str]] = {
    "linear_regression": {"regression": "sklearn.linear_model.LinearRegression"},
    "ridge": {
        "regression": "sklearn.linear_model.Ridge",
        "classification": "sklearn.linear_model.RidgeClassifier",
    },
    "lasso": {"regression": "sklearn.linear_model.Lasso"},
    "elastic_net": {"regression": "sklearn.linear_model.ElasticNet"},
    "logistic_regression": {"classification": "sklearn.linear_model.LogisticRegression"},
    "random_forest": {
        "regression": "sklearn.ensemble.RandomForestRegressor",
        "classification": "sklearn.ensemble.RandomForestClassifier",
    },
    "extra_trees": {
        "regression": "sklearn.ensemble.ExtraTreesRegressor",
        "classification": "sklearn.ensemble.ExtraTreesClassifier",
    },
    "gradient_boosting": {
        "regression": "sklearn.ensemble.GradientBoostingRegressor",
        "classification": "sklearn.ensemble.GradientBoostingClassifier",
    },
    "hist_gradient_boosting": {
        "regression": "sklearn.ensemble.HistGradientBoostingRegressor",
        "classification": "sklearn.ensemble.HistGradientBoostingClassifier",
    },
    "k_neighbors": {
        "regression": "sklearn.neighbors.KNeighborsRegressor",
        "classification": "sklearn.neighbors.KNeighborsClassifier",
    },
    "dummy": {
        "regression": "sklearn.dummy.DummyRegressor",
        "classification": "sklearn.dummy.DummyClassifier",
    },
    # ml_assets' own: a linear model on a few columns, boosted trees on its residuals (see learning/composite.py)
    "linear_then_boosted_trees": {"regression": "ml_assets.learning.composite.LinearThenBoostedTrees"},
}

# estimators that split on a category's code themselves (`categorical_features`), so `encoding: native` feeds them
# codes and the default encoding (`auto`) chooses it for them: one input each rather than a one-hot block
NATIVE_CATEGORIES: frozenset[str] = frozenset(
    {"sklearn.ensemble.HistGradientBoostingRegressor", "sklearn.ensemble.HistGradientBoostingClassifier"}
)


def takes_native_categories(kind: str, task: str) -> bool:
    """Whether the estimator a YAML `kind` names splits on categories itself (no scikit-learn import)."""
    return import_path(kind, task) in NATIVE_CATEGORIES


def resolved_encoding(encoding: str, kind: str, task: str) -> str:
    """The encoding a pipeline's estimator gets: `auto` is `native` for an estimator that splits on categories
    itself (HistGradientBoosting), else `onehot`; any other value as declared."""
    if encoding != "auto":
        return encoding
    return "native" if takes_native_categories(kind, task) else "onehot"


# import path -> constructor parameters (scikit-learn 1.9)
PARAMS: dict[str, frozenset[str]] = {
    "sklearn.linear_model.LinearRegression": frozenset(
        ("copy_X", "fit_intercept", "n_jobs", "positive", "tol")
    ),
    "sklearn.linear_model.Ridge": frozenset(
        ("alpha", "copy_X", "fit_intercept", "max_iter", "positive", "random_state", "solver", "tol")
    ),
    "sklearn.linear_model.RidgeClassifier": frozenset(
        (
            "alpha",
            "class_weight",
            "copy_X",
            "fit_intercept",
            "max_iter",
            "positive",
            "random_state",
            "solver",
            "tol",
        )
    ),
    "sklearn.linear_model.Lasso": frozenset(
        (
            "alpha",
            "copy_X",
            "fit_intercept",
            "max_iter",
            "positive",
            "precompute",
            "random_state",
            "selection",
            "tol",
            "warm_start",
        )
    ),
    "sklearn.linear_model.ElasticNet": frozenset(
        (
            "alpha",
            "copy_X",
            "fit_intercept",
            "l1_ratio",
            "max_iter",
            "positive",
            "precompute",
            "random_state",
            "selection",
            "tol",
            "warm_start",
        )
    ),
    "sklearn.linear_model.LogisticRegression": frozenset(
        (
            "C",
            "class_weight",
            "dual",
            "fit_intercept",
            "intercept_scaling",
            "l1_ratio",
            "max_iter",
            "n_jobs",
            "penalty",
            "random_state",
            "solver",
            "tol",
            "verbose",
            "warm_start",
        )
    ),
    "sklearn.ensemble.RandomForestRegressor": frozenset(
        (
            "bootstrap",
            "ccp_alpha",
            "criterion",
            "max_depth",
            "max_features",
            "max_leaf_nodes",
            "max_samples",
            "min_impurity_decrease",
            "min_samples_leaf",
            "min_samples_split",
            "min_weight_fraction_leaf",
            "monotonic_cst",
            "n_estimators",
            "n_jobs",
            "oob_score",
            "random_state",
            "verbose",
            "warm_start",
        )
    ),
    "sklearn.ensemble.RandomForestClassifier": frozenset(
        (
            "bootstrap",
            "ccp_alpha",
            "class_weight",
            "criterion",
            "max_depth",
            "max_features",
            "max_leaf_nodes",
            "max_samples",
            "min_impurity_decrease",
            "min_samples_leaf",
            "min_samples_split",
            "min_weight_fraction_leaf",
            "monotonic_cst",
            "n_estimators",
            "n_jobs",
            "oob_score",
            "random_state",
            "verbose",
            "warm_start",
        )
    ),
    "sklearn.ensemble.ExtraTreesRegressor": frozenset(
        (
            "bootstrap",
            "ccp_alpha",
            "criterion",
            "max_depth",
            "max_features",
            "max_leaf_nodes",
            "max_samples",
            "min_impurity_decrease",
            "min_samples_leaf",
            "min_samples_split",
            "min_weight_fraction_leaf",
            "monotonic_cst",
            "n_estimators",
            "n_jobs",
            "oob_score",
            "random_state",
            "verbose",
            "warm_start",
        )
    ),
    "sklearn.ensemble.ExtraTreesClassifier": frozenset(
        (
            "bootstrap",
            "ccp_alpha",
            "class_weight",
            "criterion",
            "max_depth",
            "max_features",
            "max_leaf_nodes",
            "max_samples",
            "min_impurity_decrease",
            "min_samples_leaf",
            "min_samples_split",
            "min_weight_fraction_leaf",
            "monotonic_cst",
            "n_estimators",
            "n_jobs",
            "oob_score",
            "random_state",
            "verbose",
            "warm_start",
        )
    ),
    "sklearn.ensemble.GradientBoostingRegressor": frozenset(
        (
            "alpha",
            "ccp_alpha",
            "criterion",
            "init",
            "learning_rate",
            "loss",
            "max_depth",
            "max_features",
            "max_leaf_nodes",
            "min_impurity_decrease",
            "min_samples_leaf",
            "min_samples_split",
            "min_weight_fraction_leaf",
            "n_estimators",
            "n_iter_no_change",
            "random_state",
            "subsample",
            "tol",
            "validation_fraction",
            "verbose",
            "warm_start",
        )
    ),
    "sklearn.ensemble.GradientBoostingClassifier": frozenset(
        (
            "ccp_alpha",
            "criterion",
            "init",
            "learning_rate",
            "loss",
            "max_depth",
            "max_features",
            "max_leaf_nodes",
            "min_impurity_decrease",
            "min_samples_leaf",
            "min_samples_split",
            "min_weight_fraction_leaf",
            "n_estimators",
            "n_iter_no_change",
            "random_state",
            "subsample",
            "tol",
            "validation_fraction",
            "verbose",
            "warm_start",
        )
    ),
    "sklearn.ensemble.HistGradientBoostingRegressor": frozenset(
        (
            "categorical_features",
            "early_stopping",
            "interaction_cst",
            "l2_regularization",
            "learning_rate",
            "loss",
            "max_bins",
            "max_depth",
            "max_features",
            "max_iter",
            "max_leaf_nodes",
            "min_samples_leaf",
            "monotonic_cst",
            "n_iter_no_change",
            "quantile",
            "random_state",
            "scoring",
            "tol",
            "validation_fraction",
            "verbose",
            "warm_start",
        )
    ),
    "sklearn.ensemble.HistGradientBoostingClassifier": frozenset(
        (
            "categorical_features",
            "class_weight",
            "early_stopping",
            "interaction_cst",
            "l2_regularization",
            "learning_rate",
            "loss",
            "max_bins",
            "max_depth",
            "max_features",
            "max_iter",
            "max_leaf_nodes",
            "min_samples_leaf",
            "monotonic_cst",
            "n_iter_no_change",
            "random_state",
            "scoring",
            "tol",
            "validation_fraction",
            "verbose",
            "warm_start",
        )
    ),
    "sklearn.neighbors.KNeighborsRegressor": frozenset(
        ("algorithm", "leaf_size", "metric", "metric_params", "n_jobs", "n_neighbors", "p", "weights")
    ),
    "sklearn.neighbors.KNeighborsClassifier": frozenset(
        ("algorithm", "leaf_size", "metric", "metric_params", "n_jobs", "n_neighbors", "p", "weights")
    ),
    "sklearn.dummy.DummyRegressor": frozenset(("constant", "quantile", "strategy")),
    "sklearn.dummy.DummyClassifier": frozenset(("constant", "random_state", "strategy")),
    "ml_assets.learning.composite.LinearThenBoostedTrees": frozenset(
        (
            "linear_categorical",
            "linear_numeric",
            "learning_rate",
            "max_iter",
            "max_leaf_nodes",
            "min_samples_leaf",
            "l2_regularization",
            "random_state",
        )
    ),
}

# Defaults ml_assets sets where scikit-learn's would stop short on real tables
DEFAULTS: dict[str, dict] = {"sklearn.linear_model.LogisticRegression": {"max_iter": 1000}}


class EstimatorNameError(ValueError):
    pass


def import_path(kind: str, task: str) -> str:
    """The class a YAML `kind` names for a task: a catalog name, or an import path as written."""
    if kind in NAMED:
        by_task = NAMED[kind]
        if task not in by_task:
            allowed = sorted(n for n, t in NAMED.items() if task in t)
            raise EstimatorNameError(
                f"{kind!r} is not a {task} estimator; {task} names are {allowed} or an import path"
            )
        return by_task[task]
    if "." not in kind:
        allowed = sorted(n for n, t in NAMED.items() if task in t)
        raise EstimatorNameError(
            f"{kind!r} is neither a named {task} estimator {allowed} nor an import path like 'sklearn.svm.SVR'"
        )
    return kind


def parameters_of(path: str) -> frozenset[str]:
    """Constructor parameters: from the table for the catalog, else from the class's signature (imports it)."""
    if path in PARAMS:
        return PARAMS[path]
    import importlib
    import inspect

    module, _, name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise EstimatorNameError(f"cannot import {path!r} ({type(exc).__name__}: {exc})") from None
    if not (hasattr(cls, "fit") and hasattr(cls, "predict")):
        raise EstimatorNameError(
            f"{path!r} is not a scikit-learn estimator: it has no fit and predict methods"
        )
    return frozenset(p for p in inspect.signature(cls).parameters if p not in ("self", "args", "kwargs"))
