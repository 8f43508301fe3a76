"""Hyperparameters chosen by a random search on the training rows (pure scikit-learn).

The search is a `RandomizedSearchCV` around the served Pipeline's final estimator, inside the Pipeline: wherever
the evaluation fits the model (each outer fold of its cross-validation, or a month's training window) the inputs
are encoded on those rows and the search picks the estimator's hyperparameters on them alone, so the reported
figures are nested: the folds that score the model never chose its hyperparameters. The search's inner folds
share that one encoding: the hyperparameters searched are the estimator's, and refitting the encoder for every
candidate and inner fold would dominate the search's cost. Training then
registers the Pipeline with the refitted best estimator in the search's place, and the chosen values go to MLflow
and the report.
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


def searched(model: Pipeline, search, task: str, primary_metric: str, random_state: int) -> Pipeline:
    """`model` with its final estimator wrapped in the declared search."""
    from sklearn.model_selection import KFold, RandomizedSearchCV, StratifiedKFold

    folds = (StratifiedKFold if task == "classification" else KFold)(
        search.folds, shuffle=True, random_state=random_state
    )
    inner = model.named_steps["model"]
    step = "model__estimator" if isinstance(inner, Pipeline) else "model"
    estimator = inner.named_steps["estimator"] if isinstance(inner, Pipeline) else inner
    tuned = RandomizedSearchCV(
        estimator,
        distributions(search.space, ""),
        n_iter=search.iterations,
        cv=folds,
        scoring=SCORING[primary_metric],
        random_state=random_state,
        refit=True,
        n_jobs=1,
    )
    return model.set_params(**{step: tuned})


def chosen(model: Pipeline) -> tuple[Pipeline, dict[str, Any]]:
    """(the Pipeline to register: the search replaced by its refitted best estimator, the values the search chose);
    a model without a search is returned as it is."""
    inner = model.named_steps["model"]
    step = "model__estimator" if isinstance(inner, Pipeline) else "model"
    search = inner.named_steps["estimator"] if isinstance(inner, Pipeline) else inner
    if not hasattr(search, "best_estimator_"):
        return model, {}
    values = dict(search.best_params_)
    model.set_params(**{step: search.best_estimator_})
    return model, {k: (float(v) if isinstance(v, float) else v) for k, v in values.items()}
