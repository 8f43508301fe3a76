"""Hyperparameters chosen by a random search on the training rows (pure scikit-learn).

The searched model is a `RandomizedSearchCV` around the served Pipeline. Wherever the evaluation fits the model
(each outer fold of its cross-validation, or a month's training window) the search runs on those rows alone, so
the reported figures are nested: the folds that score the model never chose its hyperparameters. Training then
registers the refitted best Pipeline, and the chosen values go to MLflow and the report.
"""

from __future__ import annotations

from typing import Any

from sklearn.pipeline import Pipeline

SCORING = {"rmse": "neg_root_mean_squared_error", "accuracy": "accuracy"}


def distributions(space: dict[str, Any], prefix: str) -> dict[str, Any]:
    """YAML ranges ({low, high, log, integer}) and lists as scipy distributions and lists."""
    from scipy.stats import loguniform, randint, uniform

    out = {}
    for name, value in space.items():
        if isinstance(value, list):
            out[prefix + name] = value
        elif value.integer:
            out[prefix + name] = randint(int(value.low), int(value.high) + 1)
        elif value.log:
            out[prefix + name] = loguniform(value.low, value.high)
        else:
            out[prefix + name] = uniform(value.low, value.high - value.low)
    return out


def searched(model: Pipeline, search, task: str, primary_metric: str, random_state: int):
    from sklearn.model_selection import KFold, RandomizedSearchCV, StratifiedKFold

    inner = model.named_steps["model"]
    prefix = "model__estimator__" if isinstance(inner, Pipeline) else "model__"
    folds = (StratifiedKFold if task == "classification" else KFold)(search.folds, shuffle=True, random_state=random_state)
    return RandomizedSearchCV(
        model, distributions(search.space, prefix), n_iter=search.iterations, cv=folds, scoring=SCORING[primary_metric],
        random_state=random_state, refit=True, n_jobs=1,
    )


def chosen(model) -> tuple[Any, dict[str, Any]]:
    """(the Pipeline to register, the values the search chose); a model without a search is returned as it is."""
    if not hasattr(model, "best_estimator_"):
        return model, {}
    values = {name.rsplit("__", 1)[-1]: value for name, value in model.best_params_.items()}
    return model.best_estimator_, {k: (float(v) if isinstance(v, float) else v) for k, v in values.items()}
