"""A linear model on a few columns, then boosted trees on its residuals (pure scikit-learn).

Right for the flights, where an origin-destination route's air time is nearly fixed and ~200 routes
are all well covered: the linear part gives each route its own offset plus a per-mile slope (the
course baseline's structure), and the trees learn what the route and distance do not explain (time
of day, carrier) from the declared, encoded inputs. Trees alone cannot extrapolate to the
600-minute Honolulu flights. Wrong for the green taxis, where ~40k sparse routes make the one-hot
linear part overfit (Jan->Feb 2021: RMSE 6.68 with it, 5.67 with boosted trees alone).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder


class LinearThenBoostedTrees(RegressorMixin, BaseEstimator):
    """`linear_categorical` one-hot and `linear_numeric` as they are -> LinearRegression; then
    HistGradientBoostingRegressor on `encoder`'s output fits what the linear model left."""

    def __init__(
        self,
        encoder=None,
        linear_categorical: Sequence[str] = ("route",),
        linear_numeric: Sequence[str] = ("distance",),
        learning_rate: float = 0.2,
        max_iter: int = 50,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 200,
        l2_regularization: float = 1.0,
        random_state: int = 42,
    ):
        self.encoder = encoder
        self.linear_categorical = linear_categorical
        self.linear_numeric = linear_numeric
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state

    def _linear(self) -> Pipeline:
        return Pipeline(
            [
                (
                    "features",
                    ColumnTransformer(
                        [
                            (
                                "one_hot",
                                OneHotEncoder(handle_unknown="ignore"),
                                list(self.linear_categorical),
                            ),
                            ("numeric", "passthrough", list(self.linear_numeric)),
                        ]
                    ),
                ),
                ("regressor", LinearRegression()),
            ]
        )

    def _booster(self) -> Pipeline:
        trees = HistGradientBoostingRegressor(
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=False,
            random_state=self.random_state,
        )
        return (
            Pipeline([("features", clone(self.encoder)), ("regressor", trees)])
            if self.encoder is not None
            else Pipeline([("regressor", trees)])
        )

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> LinearThenBoostedTrees:
        self.linear_ = self._linear().fit(X, y)
        self.booster_ = self._booster().fit(X, y - self.linear_.predict(X))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.linear_.predict(X) + self.booster_.predict(X)
