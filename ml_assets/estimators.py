"""The hyperparameters each estimator accepts, known without importing scikit-learn, so a
pipeline's YAML is validated when the code location loads (which stays fast).
`ml_assets_tests/test_config.py` checks these names against scikit-learn's own signatures.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelParams:
    # A linear per-route model first, trees on its residuals. Right for the flights, where a
    # route's air time is nearly fixed and ~200 routes are all well covered (trees alone cannot
    # extrapolate to the 600-minute Honolulu flights); wrong for the taxi, where ~40k sparse routes
    # make the one-hot model overfit: Jan->Feb 2021 gives RMSE 6.68 with it, 5.67 without.
    route_baseline: bool = True
    # 50 rounds at 0.2 match 100 at 0.1 (flights: beats the course baseline on all 11 month
    # pairs either way; green taxi Jan->Feb 2021: 5.68 vs 5.67) in half the fitting time.
    learning_rate: float = 0.2
    max_iter: int = 50
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 200
    l2_regularization: float = 1.0
    random_state: int = 42


# scikit-learn 1.x constructor parameters, minus random_state (set by `estimator.random_state`)
CLASSIFIER_PARAMS: dict[str, frozenset[str]] = {
    "logistic_regression": frozenset(
        {"C", "class_weight", "dual", "fit_intercept", "intercept_scaling", "l1_ratio", "max_iter", "n_jobs", "penalty",
         "solver", "tol", "verbose", "warm_start"}
    ),
    "random_forest": frozenset(
        {"bootstrap", "ccp_alpha", "class_weight", "criterion", "max_depth", "max_features", "max_leaf_nodes", "max_samples",
         "min_impurity_decrease", "min_samples_leaf", "min_samples_split", "min_weight_fraction_leaf", "monotonic_cst",
         "n_estimators", "n_jobs", "oob_score", "verbose", "warm_start"}
    ),
    "hist_gradient_boosting": frozenset(
        {"categorical_features", "class_weight", "early_stopping", "interaction_cst", "l2_regularization", "learning_rate",
         "loss", "max_bins", "max_depth", "max_features", "max_iter", "max_leaf_nodes", "min_samples_leaf", "monotonic_cst",
         "n_iter_no_change", "scoring", "tol", "validation_fraction", "verbose", "warm_start"}
    ),
}
