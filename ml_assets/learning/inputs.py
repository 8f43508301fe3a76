"""Declared model inputs: the first step of every served scikit-learn Pipeline.

A pipeline's YAML names its numeric and categorical columns and any derived ones (a route joined
from two columns, a part of a timestamp, the minutes between two timestamps). `DeclaredInputs`
computes them from the rows as delivered, so a registered model scores raw rows: what was trained
is what is served. `encoder` turns the inputs into numbers (imputed numbers; one-hot, ordinal or
target-encoded categories).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin


def join_labels(left: pd.Series, right: pd.Series, separator: str = "_") -> pd.Series:
    """`<left>_<right>` per row, formatted once per distinct pair rather than per row."""
    left_codes, lefts = pd.factorize(left)
    right_codes, rights = pd.factorize(right)
    if (left_codes < 0).any() or (right_codes < 0).any():  # missing values: plain concatenation keeps <NA>
        return (left.astype("string") + separator + right.astype("string")).astype(object)
    pair_codes, pairs = pd.factorize(left_codes.astype("int64") * len(rights) + right_codes)
    labels = np.array(
        [f"{lefts[p // len(rights)]}{separator}{rights[p % len(rights)]}" for p in pairs], dtype=object
    )
    return pd.Series(labels[pair_codes], index=left.index, dtype=object)


def date_part(values: pd.Series, part: str) -> pd.Series:
    """A part of a timestamp (the parts config.DATE_PARTS allows): pandas' own, plus minute_of_day and is_weekend."""
    # already timestamps: pd.to_datetime would still box a sample of them to decide on caching, which costs seconds
    stamps = values if pd.api.types.is_datetime64_any_dtype(values) else pd.to_datetime(values)
    if part == "minute_of_day":
        return stamps.dt.hour * 60 + stamps.dt.minute
    if part == "is_weekend":
        return (stamps.dt.dayofweek >= 5).astype("int64")
    return getattr(stamps.dt, part)


def derive(
    frame: pd.DataFrame, name: str, kind: str, columns: Sequence[str], part: str | None = None
) -> pd.Series:
    """One derived column (pure pandas): join, date_part, minutes_between or bin."""
    if kind == "join":
        out = frame[columns[0]]
        for column in columns[1:]:
            out = join_labels(out, frame[column])
        return out.rename(name)
    if kind == "date_part":
        return date_part(frame[columns[0]], part).rename(name)
    if kind == "minutes_between":
        start, end = (pd.to_datetime(frame[c]) for c in columns)
        return ((end - start).dt.total_seconds() / 60.0).rename(name)
    if kind == "bin":  # `part` is the width: 95 degrees in bins of 30 -> "90"
        lower = np.floor(pd.to_numeric(frame[columns[0]], errors="coerce").to_numpy("float64") / part) * part
        # each distinct bin formatted once, not once per row
        bins, which = np.unique(lower, return_inverse=True)
        names = np.array([f"{v:g}" if np.isfinite(v) else np.nan for v in bins], dtype=object)
        return pd.Series(names[which.reshape(-1)], index=frame.index, dtype=object).rename(name)
    raise ValueError(f"unknown derived column kind {kind!r}")


def as_category_values(values: pd.Series) -> pd.Series:
    """Plain Python objects with NaN for missing: what scikit-learn's encoders and imputers take. A column that
    already is one is passed on as it is (the transformers after this copy what they change)."""
    out = values.astype(object, copy=False)
    missing = values.isna()
    if not missing.any():
        return out
    return out.where(~missing, np.nan)


class DeclaredInputs(TransformerMixin, BaseEstimator):
    """Rows as delivered -> the declared inputs: derived columns computed, categories as objects,
    numbers as float64 (missing values stay missing for the imputers), categorical columns first.

    `derived` holds (name, kind, columns, part) tuples; `categorical` and `numeric` may name them.
    """

    def __init__(
        self, categorical: Sequence[str] = (), numeric: Sequence[str] = (), derived: Sequence[tuple] = ()
    ):
        self.categorical = categorical
        self.numeric = numeric
        self.derived = derived

    def source_columns(self) -> list[str]:
        """The delivered columns these inputs are computed from."""
        made = {d[0] for d in self.derived}
        needed: list[str] = []
        for name in [*self.categorical, *self.numeric]:
            spec = next((d for d in self.derived if d[0] == name), None)
            for column in spec[2] if spec else [name]:
                if column not in made and column not in needed:
                    needed.append(column)
        return needed

    def fit(self, X: pd.DataFrame, y=None) -> DeclaredInputs:
        missing = [c for c in self.source_columns() if c not in X.columns]
        if missing:
            raise ValueError(
                f"the rows lack the declared input column(s) {missing}; they hold {list(X.columns)}"
            )
        self.n_features_in_ = len(X.columns)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.source_columns() if c not in X.columns]
        if missing:
            raise ValueError(
                f"the rows lack the declared input column(s) {missing}; they hold {list(X.columns)}"
            )
        made = {d[0]: derive(X, *d) for d in self.derived if d[0] in (*self.categorical, *self.numeric)}
        out = {}
        for column in self.categorical:
            out[column] = as_category_values(made[column] if column in made else X[column])
        for column in self.numeric:
            values = made[column] if column in made else X[column]
            out[column] = pd.to_numeric(values, errors="coerce").astype("float64", copy=False)
        # the columns as they are (no block copy): the transformers after this copy what they take
        return pd.DataFrame(out, index=X.index, copy=False)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray([*self.categorical, *self.numeric], dtype=object)


class MedianImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Missing numbers replaced by each column's median in the rows fitted on (0 for a column with none): what
    `SimpleImputer(strategy="median", keep_empty_features=True)` computes, one column at a time, rather than through a
    masked copy of the whole matrix that costs several times the data on a big table."""

    def fit(self, X, y=None) -> MedianImputer:
        from sklearn.utils.validation import validate_data

        values = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan")
        medians = []
        for j in range(values.shape[1]):
            column = values[:, j]
            present = column[~np.isnan(column)]
            medians.append(float(np.median(present, overwrite_input=True)) if len(present) else 0.0)
        self.statistics_ = np.asarray(medians, dtype=np.float64)
        return self

    def transform(self, X) -> np.ndarray:
        from sklearn.utils.validation import check_is_fitted, validate_data

        check_is_fitted(self)
        values = validate_data(
            self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False, copy=True
        )
        for j, median in enumerate(self.statistics_):
            missing = np.isnan(values[:, j])
            if missing.any():
                values[missing, j] = median
        return values


# one-hot columns per categorical input for an estimator that takes no sparse input (the rarer categories share one)
DENSE_ONEHOT_MAX_CATEGORIES = 64
# codes per categorical input for an estimator's own categorical splits: HistGradientBoosting's default max_bins
NATIVE_MAX_CATEGORIES = 255


def encoding_description(encoding: str, dense: bool, native_max: int = NATIVE_MAX_CATEGORIES) -> str:
    """How the categorical inputs reach the estimator, in words (the model's metadata and report say it)."""
    if encoding == "native":
        return (
            f"codes the estimator splits on as categories: at most {native_max} per input, the rarer sharing one, "
            "unseen and missing ones as missing"
        )
    if encoding == "onehot" and dense:
        return (
            f"one-hot, dense (the estimator takes no sparse input): at most {DENSE_ONEHOT_MAX_CATEGORIES} columns per "
            "input, the rarer categories sharing one"
        )
    return {
        "onehot": "one-hot (sparse when thin)",
        "ordinal": "ordinal codes",
        "target": "cross-fitted target encoding",
        "none": "passed through as they are",
    }[encoding]


def encoder(
    categorical: Sequence[str],
    numeric: Sequence[str],
    encoding: str,
    scale_numeric: bool,
    task: str,
    random_state: int,
    dense: bool = False,
    native_max: int = NATIVE_MAX_CATEGORIES,
):
    """A ColumnTransformer after DeclaredInputs: categories encoded (`onehot`, `ordinal`, `target`, `native` codes
    for an estimator's own categorical splits, or `none` for estimators that take them as they are), numbers
    median-imputed and optionally scaled. The categorical inputs' columns come first (the native codes are the first
    `len(categorical)` columns).

    `dense`: the estimator refuses sparse input (HistGradientBoosting). The ColumnTransformer turns sparse when the
    one-hot output is thin, so its output is kept dense, and the one-hot width per input is bounded so that a column of
    thousands of values does not make a dense matrix of thousands of columns."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import KFold, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler, TargetEncoder

    transformers = []
    if categorical:
        if encoding == "target":
            folds = (KFold if task == "regression" else StratifiedKFold)(
                5, shuffle=True, random_state=random_state
            )
            target_type = "continuous" if task == "regression" else "auto"
            transformers.append(
                ("categorical", TargetEncoder(target_type=target_type, cv=folds), list(categorical))
            )
        elif encoding == "ordinal":
            transformers.append(
                (
                    "categorical",
                    OrdinalEncoder(
                        handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1
                    ),
                    list(categorical),
                )
            )
        elif encoding == "native":
            # codes 0..native_max-1, the rarer categories sharing one; unseen and missing ones NaN, which trees route
            transformers.append(
                (
                    "categorical",
                    OrdinalEncoder(
                        handle_unknown="use_encoded_value",
                        unknown_value=np.nan,
                        encoded_missing_value=np.nan,
                        max_categories=native_max,
                    ),
                    list(categorical),
                )
            )
        elif encoding == "onehot":
            onehot = (
                OneHotEncoder(
                    handle_unknown="ignore", sparse_output=False, max_categories=DENSE_ONEHOT_MAX_CATEGORIES
                )
                if dense
                else OneHotEncoder(handle_unknown="ignore")
            )
            transformers.append(
                (
                    "categorical",
                    make_pipeline(SimpleImputer(strategy="most_frequent"), onehot),
                    list(categorical),
                )
            )
        else:
            transformers.append(("categorical", "passthrough", list(categorical)))
    if numeric:
        steps = [MedianImputer()] + ([StandardScaler()] if scale_numeric else [])
        transformers.append(("numeric", make_pipeline(*steps), list(numeric)))
    return ColumnTransformer(
        transformers, verbose_feature_names_out=False, **({"sparse_threshold": 0.0} if dense else {})
    )
