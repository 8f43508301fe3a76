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
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error
from sklearn.pipeline import Pipeline
from sklearn.model_selection import KFold
from sklearn.preprocessing import OneHotEncoder, TargetEncoder

from ml_assets.features import TARGET, feature_columns


@dataclass(frozen=True)
class ModelParams:
    learning_rate: float = 0.1
    max_iter: int = 100
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 200
    l2_regularization: float = 1.0
    random_state: int = 42


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

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> "BaselinePlusBoostedResidual":
        self.base_ = clone(self.base).fit(X, y)
        self.booster_ = clone(self.booster).fit(X, y - self.base_.predict(X))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.base_.predict(X) + self.booster_.predict(X)


def build_model_pipeline(categorical: list[str], numeric: list[str], params: ModelParams) -> Pipeline:
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
    booster = Pipeline(
        [
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
    )
    return Pipeline([("model", BaselinePlusBoostedResidual(base=base, booster=booster))])


def model_inputs(features: pd.DataFrame) -> pd.DataFrame:
    categorical, numeric = feature_columns(features)
    frame = features[categorical + numeric].copy()
    # The encoders want plain object columns, not pandas' nullable StringDtype.
    for column in categorical:
        frame[column] = frame[column].astype(object)
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
    """The course baseline: DictVectorizer on {PU_DO, trip_distance} then LinearRegression."""

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
    model: Pipeline, train: pd.DataFrame, valid: pd.DataFrame, train_month: str, valid_month: str
) -> tuple[Evaluation, np.ndarray]:
    """Course protocol: trained on `train_month`, scored on the next month `valid_month`."""
    if valid.empty:
        raise ValueError(f"validation month {valid_month} has no rows to evaluate on")
    actual = valid[TARGET].to_numpy()
    predicted = model.predict(model_inputs(valid))
    metrics = regression_metrics(actual, predicted)
    mean_prediction = np.full_like(actual, train[TARGET].mean(), dtype="float64")
    train_pred = model.predict(model_inputs(train))
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
        train_rmse=regression_metrics(train[TARGET].to_numpy(), train_pred)["rmse"],
    )
    return evaluation, predicted
