"""Model, course baseline and metrics (pure scikit-learn, no Dagster).

The model is one scikit-learn Pipeline so training and serving share a single object.
Categorical ids (up to 265 taxi zones and ~40k origin-destination routes) are
target-encoded with cross-fitting, which keeps the gradient-boosted trees small and
avoids leaking the target into training rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, TargetEncoder

from ml_assets.estimators import ModelParams  # noqa: F401  (re-exported: the model's hyperparameters)
from ml_assets.features import TARGET, feature_columns


class BaselinePlusBoostedResidual(RegressorMixin, BaseEstimator):
    """A linear route model (the course baseline's structure), then boosted trees on its residuals.

    The linear part gives every origin-destination route its own offset plus a per-mile
    slope; the trees then learn what the route and distance do not explain (time of day,
    carrier, zone effects) from target-encoded categoricals. Both halves are Pipelines
    of a ColumnTransformer and a regressor.
    """

    def __init__(self, base: Pipeline, booster: Pipeline):
        self.base = base
        self.booster = booster

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> BaselinePlusBoostedResidual:
        self.base_ = clone(self.base).fit(X, y)
        self.booster_ = clone(self.booster).fit(X, y - self.base_.predict(X))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.base_.predict(X) + self.booster_.predict(X)


def build_model_pipeline(categorical: list[str], numeric: list[str], params: ModelParams) -> Pipeline:
    booster_steps = [
        (
            "features",
            ColumnTransformer(
                [
                    (
                        "target_encoded",
                        TargetEncoder(
                            target_type="continuous",
                            cv=KFold(5, shuffle=True, random_state=params.random_state),
                        ),
                        categorical,
                    ),
                    ("numeric", "passthrough", numeric),
                ],
                verbose_feature_names_out=False,
            ),
        ),
        (
            "regressor",
            HistGradientBoostingRegressor(
                learning_rate=params.learning_rate,
                max_iter=params.max_iter,
                max_leaf_nodes=params.max_leaf_nodes,
                min_samples_leaf=params.min_samples_leaf,
                l2_regularization=params.l2_regularization,
                early_stopping=False,
                random_state=params.random_state,
            ),
        ),
    ]
    if not params.route_baseline:
        return Pipeline(booster_steps)
    base = Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [
                        ("route_one_hot", OneHotEncoder(handle_unknown="ignore"), ["route"]),
                        ("distance", "passthrough", ["distance"]),
                    ]
                ),
            ),
            ("regressor", LinearRegression()),
        ]
    )
    return Pipeline([("model", BaselinePlusBoostedResidual(base=base, booster=Pipeline(booster_steps)))])


def model_inputs(features: pd.DataFrame) -> pd.DataFrame:
    categorical, numeric = feature_columns(features)
    frame = features[categorical + numeric].copy()
    # The encoders want plain object columns, not pandas' nullable StringDtype; numbers go in
    # as float64 so a served model's signature accepts missing values.
    for column in categorical:
        frame[column] = frame[column].astype(object)
    for column in numeric:
        frame[column] = frame[column].astype("float64")
    return frame


def train_duration_model(features: pd.DataFrame, params: ModelParams) -> Pipeline:
    if features.empty:
        raise ValueError("cannot train on an empty month of features")
    categorical, numeric = feature_columns(features)
    model = build_model_pipeline(categorical, numeric, params)
    model.fit(model_inputs(features), features[TARGET].to_numpy())
    return model


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {
        "rmse": float(root_mean_squared_error(actual, predicted)),
        "mae": float(mean_absolute_error(actual, predicted)),
        "r2": float(r2_score(actual, predicted)),
    }


def course_baseline_predictions(train: pd.DataFrame, valid: pd.DataFrame) -> np.ndarray:
    """The course baseline: DictVectorizer on {PU_DO, trip_distance}, then LinearRegression.

    Built without the per-row dicts (the course script's main cost): a one-hot PU_DO beside
    the distance column is the same design matrix, unseen routes included (both ignore them).
    """
    encoder = OneHotEncoder(handle_unknown="ignore")

    def design(frame: pd.DataFrame, fit: bool) -> sparse.csr_matrix:
        routes = frame[["route"]].astype(object)
        one_hot = encoder.fit_transform(routes) if fit else encoder.transform(routes)
        distance = sparse.csr_matrix(frame[["distance"]].to_numpy(dtype="float64"))
        return sparse.hstack([one_hot, distance], format="csr")

    baseline = LinearRegression().fit(design(train, fit=True), train[TARGET].to_numpy())
    return baseline.predict(design(valid, fit=False))


def course_baseline_predictions_with_dicts(train: pd.DataFrame, valid: pd.DataFrame) -> np.ndarray:
    """The course's own construction of the same baseline, kept as the reference for tests."""

    def as_dicts(frame: pd.DataFrame) -> list[dict]:
        return pd.DataFrame(
            {"PU_DO": frame["route"].astype(object), "trip_distance": frame["distance"]}
        ).to_dict(orient="records")

    vectorizer = DictVectorizer()
    x_train = vectorizer.fit_transform(as_dicts(train))
    baseline = LinearRegression().fit(x_train, train[TARGET].to_numpy())
    return baseline.predict(vectorizer.transform(as_dicts(valid)))


@dataclass(frozen=True)
class Evaluation:
    """Metrics of the model on the validation month beside the two reference predictors."""

    train_month: str
    valid_month: str
    train_rows: int
    valid_rows: int
    rmse: float
    mae: float
    r2: float
    mean_predictor_rmse: float
    course_baseline_rmse: float
    train_rmse: float

    def as_dict(self) -> dict:
        return asdict(self)


def evaluate_duration_model(
    model: Pipeline,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    train_month: str,
    valid_month: str,
    train_rmse: float | None = None,
) -> tuple[Evaluation, np.ndarray]:
    """Course protocol: trained on `train_month`, scored on the next month `valid_month`.

    `train_rmse`: the model's RMSE on its training rows if the caller has it (the training
    asset logs it); computed here otherwise.
    """
    if valid.empty:
        raise ValueError(f"validation month {valid_month} has no rows to evaluate on")
    actual = valid[TARGET].to_numpy()
    predicted = model.predict(model_inputs(valid))
    metrics = regression_metrics(actual, predicted)
    mean_prediction = np.full_like(actual, train[TARGET].mean(), dtype="float64")
    if train_rmse is None:
        train_rmse = regression_metrics(train[TARGET].to_numpy(), model.predict(model_inputs(train)))["rmse"]
    evaluation = Evaluation(
        train_month=train_month,
        valid_month=valid_month,
        train_rows=len(train),
        valid_rows=len(valid),
        rmse=metrics["rmse"],
        mae=metrics["mae"],
        r2=metrics["r2"],
        mean_predictor_rmse=regression_metrics(actual, mean_prediction)["rmse"],
        course_baseline_rmse=regression_metrics(actual, course_baseline_predictions(train, valid))["rmse"],
        train_rmse=float(train_rmse),
    )
    return evaluation, predicted


TUNING_SPACE = {
    "learning_rate": [0.03, 0.05, 0.1, 0.2],
    "max_iter": [50, 100, 200, 300],
    "max_leaf_nodes": [15, 31, 63],
    "min_samples_leaf": [20, 50, 100, 200, 500],
    "l2_regularization": [0.0, 0.1, 1.0, 10.0],
}


@dataclass(frozen=True)
class Trial:
    number: int
    params: ModelParams
    rmse: float
    seconds: float


def time_holdout(features: pd.DataFrame, share: float = 0.25) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split one month by pickup time: tuning never peeks at the month being evaluated."""
    ordered = features.sort_values("pickup_datetime", kind="stable")
    cut = int(len(ordered) * (1 - share))
    return ordered.iloc[:cut], ordered.iloc[cut:]


def tune_hyperparameters(
    features: pd.DataFrame,
    start: ModelParams,
    n_trials: int,
    time_budget_s: float,
    on_trial=None,
) -> tuple[ModelParams, list[Trial]]:
    """Bounded random search (trial 0 = `start`) on a time-ordered holdout of the training month.

    Stops after `n_trials` or once `time_budget_s` is spent, whichever comes first.
    """
    import time

    from sklearn.model_selection import ParameterSampler

    fit_part, holdout = time_holdout(features)
    candidates = [start] + [
        ModelParams(**{**asdict(start), **sampled})
        for sampled in ParameterSampler(TUNING_SPACE, n_iter=max(n_trials - 1, 0), random_state=start.random_state)
    ]
    trials: list[Trial] = []
    began = time.perf_counter()
    for number, params in enumerate(candidates[:n_trials]):
        if trials and time.perf_counter() - began > time_budget_s:
            break
        t0 = time.perf_counter()
        model = train_duration_model(fit_part, params)
        rmse = regression_metrics(holdout[TARGET].to_numpy(), model.predict(model_inputs(holdout)))["rmse"]
        trial = Trial(number, params, rmse, time.perf_counter() - t0)
        trials.append(trial)
        if on_trial is not None:
            on_trial(trial)
    best = min(trials, key=lambda t: t.rmse) if trials else Trial(0, start, float("nan"), 0.0)
    return best.params, trials
