"""Classification on one table (pure pandas/scikit-learn, no Dagster).

With 150 (iris) or 297 (heart disease) rows one train/test split is noise: predictors are
compared by repeated stratified cross-validation on the same folds, and a stratified held-out
split is kept for the registered model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

METRICS = ("accuracy", "macro_f1", "roc_auc", "log_loss")
HIGHER_IS_BETTER = {"accuracy": True, "macro_f1": True, "roc_auc": True, "log_loss": False}
ESTIMATORS: dict[str, Callable[..., object]] = {
    "logistic_regression": lambda random_state, **p: LogisticRegression(**{"max_iter": 1000, **p}),
    "random_forest": lambda random_state, **p: RandomForestClassifier(random_state=random_state, **p),
    "hist_gradient_boosting": lambda random_state, **p: HistGradientBoostingClassifier(random_state=random_state, **p),
}


def feature_lists(frame: pd.DataFrame, target: str, numeric: list[str], categorical: list[str]) -> tuple[list[str], list[str]]:
    """(numeric, categorical) inputs; no lists given = every non-target column is numeric."""
    if not numeric and not categorical:
        return [c for c in frame.columns if c != target], []
    return list(numeric), list(categorical)


def build_classifier(
    estimator: str, params: dict, numeric: list[str], categorical: list[str], random_state: int = 42
) -> Pipeline:
    """Imputation, scaling and one-hot encoding in front of the estimator: one object to train and serve."""
    transformers = [("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric)]
    if categorical:
        transformers.append(
            (
                "categorical",
                make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
                categorical,
            )
        )
    try:
        classifier = ESTIMATORS[estimator](random_state, **params)
    except TypeError as exc:  # an unknown hyperparameter name
        raise ValueError(f"model.params {params} do not fit {estimator}: {exc}") from exc
    return Pipeline([("features", ColumnTransformer(transformers, verbose_feature_names_out=False)), ("classifier", classifier)])


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> dict[str, float]:
    """Accuracy, macro F1, ROC AUC (one-vs-rest macro for several classes) and log loss."""
    predicted = classes[np.argmax(proba, axis=1)]
    if len(classes) == 2:
        auc = roc_auc_score(y_true, proba[:, 1])
    else:
        auc = roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=classes)
    return {
        "accuracy": float(accuracy_score(y_true, predicted)),
        "macro_f1": float(f1_score(y_true, predicted, average="macro", labels=classes, zero_division=0)),
        "roc_auc": float(auc),
        "log_loss": float(log_loss(y_true, np.clip(proba, 1e-15, 1), labels=classes)),
    }


class SeedScript:
    """The seed scripts' own steps: optional StandardScaler fitted on every row before the split
    (as the Prefect flow does), then RandomForestClassifier(n_estimators). A random forest does
    not depend on feature scale, so that leak costs the seed nothing and helps it nothing."""

    def __init__(self, n_estimators: int = 100, scale_features: bool = False, random_state: int = 42):
        self.n_estimators, self.scale_features, self.random_state = n_estimators, scale_features, random_state

    def fit_predict_proba(self, X: pd.DataFrame, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
        values = X.to_numpy(dtype="float64")
        if self.scale_features:
            values = StandardScaler().fit_transform(values)
        forest = RandomForestClassifier(n_estimators=self.n_estimators, random_state=self.random_state)
        forest.fit(values[train], y[train])
        return _proba_for(forest, values[test], np.unique(y))


def _proba_for(model, X, classes: np.ndarray) -> np.ndarray:
    """predict_proba with a column for every class, even one missing from the training fold."""
    proba = model.predict_proba(X)
    if list(model.classes_) == list(classes):
        return proba
    full = np.zeros((len(X), len(classes)))
    for j, c in enumerate(model.classes_):
        full[:, list(classes).index(c)] = proba[:, j]
    return full


@dataclass
class CvResult:
    """Per-fold scores of every predictor on the same folds."""

    folds: int
    repeats: int
    scores: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        return {
            name: {m: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0} for m, v in metrics.items()}
            for name, metrics in self.scores.items()
        }

    def paired_difference(self, a: str, b: str, metric: str = "accuracy") -> dict[str, float]:
        diff = np.asarray(self.scores[a][metric]) - np.asarray(self.scores[b][metric])
        return {
            "mean": float(diff.mean()),
            "sd": float(diff.std(ddof=1)) if len(diff) > 1 else 0.0,
            "wins": int((diff > 0).sum()),
            "ties": int((diff == 0).sum()),
            "losses": int((diff < 0).sum()),
        }


def _fold_probas(model: Pipeline, X: pd.DataFrame, y: np.ndarray, train: np.ndarray, test: np.ndarray,
                 classes: np.ndarray, seed_script: SeedScript | None) -> dict[str, np.ndarray]:
    probas = {
        "model": _proba_for(clone(model).fit(X.iloc[train], y[train]), X.iloc[test], classes),
        "majority_class": _proba_for(DummyClassifier(strategy="prior").fit(X.iloc[train], y[train]), X.iloc[test], classes),
    }
    if seed_script:
        probas["seed_script"] = seed_script.fit_predict_proba(X, y, train, test)
    return probas


def cross_validate(
    model: Pipeline, X: pd.DataFrame, y: np.ndarray, folds: int, repeats: int, random_state: int,
    seed_script: SeedScript | None = None, n_jobs: int | None = None,
) -> CvResult:
    """Score the model, the seed script and the majority class on the same repeated stratified folds.

    `n_jobs` fits folds in parallel processes (joblib): the folds are independent and seeded, so
    the scores are identical whatever it is."""
    from joblib import Parallel, delayed

    classes = np.unique(y)
    result = CvResult(folds, repeats)
    names = ["model", "majority_class"] + (["seed_script"] if seed_script else [])
    result.scores = {n: {m: [] for m in METRICS} for n in names}
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=random_state)
    splits = list(splitter.split(X, y))
    fold_probas = Parallel(n_jobs=n_jobs)(
        delayed(_fold_probas)(model, X, y, train, test, classes, seed_script) for train, test in splits
    )
    for (_, test), probas in zip(splits, fold_probas, strict=True):
        for name, proba in probas.items():
            for metric, value in classification_metrics(y[test], proba, classes).items():
                result.scores[name][metric].append(value)
    return result


def holdout_indices(y: np.ndarray, share: float, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/held-out row positions (the seed DAG's 80/20, random_state=42)."""
    positions = np.arange(len(y))
    return train_test_split(positions, test_size=share, random_state=random_state, stratify=y)


@dataclass(frozen=True)
class HoldoutEvaluation:
    metrics: dict[str, dict[str, float]]  # predictor -> metric -> value
    confusion: list[list[int]]
    classes: list
    rows: int


def evaluate_holdout(
    model: Pipeline, X: pd.DataFrame, y: np.ndarray, train: np.ndarray, test: np.ndarray,
    seed_script: SeedScript | None = None,
) -> tuple[HoldoutEvaluation, np.ndarray]:
    """The registered model (fitted on `train`) and the baselines on the held-out rows."""
    classes = np.unique(y)
    proba = _proba_for(model, X.iloc[test], classes)
    metrics = {
        "model": classification_metrics(y[test], proba, classes),
        "majority_class": classification_metrics(
            y[test], _proba_for(DummyClassifier(strategy="prior").fit(X.iloc[train], y[train]), X.iloc[test], classes), classes
        ),
    }
    if seed_script:
        metrics["seed_script"] = classification_metrics(y[test], seed_script.fit_predict_proba(X, y, train, test), classes)
    predicted = classes[np.argmax(proba, axis=1)]
    matrix = confusion_matrix(y[test], predicted, labels=classes).tolist()
    return HoldoutEvaluation(metrics, matrix, [c.item() if hasattr(c, "item") else c for c in classes], len(test)), predicted

ESTIMATOR_CLASSES = {
    "logistic_regression": LogisticRegression,
    "random_forest": RandomForestClassifier,
    "hist_gradient_boosting": HistGradientBoostingClassifier,
}
