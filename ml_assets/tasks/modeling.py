"""The served scikit-learn Pipeline of a task: the model and its baselines built from what is declared, the
training rows and held-out split, fitting and training, and predictions scored by the kind's metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ml_assets.files import release_memory
from ml_assets.learning import Fitted
from ml_assets.tasks.results import CANDIDATE, Trained
from ml_assets.ui_values import for_ui

if TYPE_CHECKING:  # imported where used: the code location loads without them
    import numpy as np
    import pandas as pd

    from ml_assets.config import BaselineSpec

# columns of the scored rows (predictions) and of a drift reference
ACTUAL, PREDICTION = "actual", "prediction"


def reference_sample(frame: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    """At most `rows` of a model's training rows, seeded: its drift reference, once scored."""
    return (
        frame.sample(n=rows, random_state=seed).reset_index(drop=True)
        if len(frame) > rows
        else frame.reset_index(drop=True)
    )


# rows scored per call: a big table's scoring holds this many rows' transients, not all of them
SCORED_AT_ONCE = 1_000_000


def keep_rows_in_place(frame: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    """`frame` itself cut down to the rows at `positions`, in their order (what `frame.iloc[positions]` holds, with the
    positions as its index), and returned: its columns are replaced, so the whole table's are freed where nothing
    else holds them. For a frame whose holder keeps it for nothing else (a Dagster step's input is held for the
    whole step): a copy of its part would keep the whole table beside it."""
    import numpy as np

    order = np.full(len(frame), len(positions), dtype=np.int64)  # the rows not kept go last, then are dropped
    order[positions] = np.arange(len(positions))
    frame.reset_index(drop=True, inplace=True)
    frame.drop(index=np.flatnonzero(order == len(positions)), inplace=True)
    frame.sort_index(key=lambda labels: order[labels], inplace=True)
    release_memory()  # the freed columns (Arrow allocated those of a frame read from Parquet) go back to the system
    return frame


def with_columns(frame: pd.DataFrame, columns: dict) -> pd.DataFrame:
    """`frame.assign(**columns).reset_index(drop=True)` without copying `frame`'s columns (each of those copies the
    whole frame): a frame sharing them, with `columns` added and a fresh RangeIndex."""
    import pandas as pd

    out = frame.copy(deep=False)
    for name, values in columns.items():
        out[name] = values
    out.index = pd.RangeIndex(len(out))
    return out


def in_row_chunks(score: Callable[[pd.DataFrame], np.ndarray], frame: pd.DataFrame, rows: int | None = None):
    """`score` (an array per row, such as a model's predictions) over consecutive parts of `frame`, joined: what one
    call gives (scoring is row by row), with the transients of one part."""
    import numpy as np

    rows = rows or SCORED_AT_ONCE
    if len(frame) <= rows:
        return score(frame)
    return np.concatenate([score(frame.iloc[start : start + rows]) for start in range(0, len(frame), rows)])


class ModelFitting:
    """Mixed into `Task`: the model and baselines, training, and scoring with the kind's metrics."""

    # ---- models --------------------------------------------------------------------------------------------------
    def xy(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """The inputs and the target of `frame`, sharing its columns (no copy: nothing downstream writes to them)."""
        X = frame.copy(deep=False)
        return X, X.pop(self.target_column).to_numpy()

    def build_model(self, frame: pd.DataFrame, random_state: int | None = None):
        from ml_assets.learning.estimators import build_model

        categorical, numeric = self.inputs(frame)
        spec = self.estimator
        seed = spec.random_state if random_state is None else random_state
        model = build_model(
            self.estimator_task(),
            spec.kind,
            dict(spec.params),
            seed,
            categorical,
            numeric,
            self.derived(),
            self.feature_spec.encoding,
            self.feature_spec.scale_numeric,
        )
        if spec.search is None:
            return model
        from ml_assets.learning.search import searched

        return searched(model, spec.search, self.estimator_task(), self.primary_metric, seed)

    def encoding_used(self, frame: pd.DataFrame) -> str | None:
        """How the model's categorical inputs are encoded, in words (None without categorical inputs)."""
        from ml_assets.learning.catalog import resolved_encoding
        from ml_assets.learning.estimators import native_codes, takes_sparse_input
        from ml_assets.learning.inputs import encoding_description

        if not self.inputs(frame)[0]:
            return None
        kind, task = self.estimator.kind, self.estimator_task()
        encoding = resolved_encoding(self.feature_spec.encoding, kind, task)
        return encoding_description(
            encoding,
            encoding == "onehot" and not takes_sparse_input(kind, task),
            native_codes(self.estimator.params),
        )

    def build_baseline(self, baseline: BaselineSpec, frame: pd.DataFrame):
        from ml_assets.learning.estimators import build_model

        categorical, numeric = self.inputs(frame)
        columns = baseline.columns or [*categorical, *numeric]
        derived = tuple(d for d in self.derived() if d[0] in columns)
        # every column read as a number, in the order given (the seed scripts' X.to_numpy())
        if baseline.encoding == "none":
            if not baseline.columns:
                columns = [c for c in frame.columns if c in set(columns)]
            base_categorical, base_numeric = [], columns
        else:
            base_categorical = [c for c in columns if c in categorical]
            base_numeric = [c for c in columns if c in numeric]
        return build_model(
            self.estimator_task(),
            baseline.estimator.kind,
            dict(baseline.estimator.params),
            baseline.estimator.random_state,
            base_categorical,
            base_numeric,
            derived,
            baseline.encoding,
            baseline.scale_numeric,
        )

    def trivial_model(self):
        raise NotImplementedError

    def predictors(self, frame: pd.DataFrame, random_state: int | None = None) -> dict[str, Any]:
        """Unfitted: the model, the trivial baseline and every declared baseline, by key."""
        out = {CANDIDATE: self.build_model(frame, random_state), self.trivial_key: self.trivial_model()}
        out.update({b.key: self.build_baseline(b, frame) for b in self.baselines})
        return out

    def predictor_names(self) -> dict[str, str]:
        return {
            CANDIDATE: f"model ({self.estimator.kind})",
            self.trivial_key: self.trivial_name,
            **{b.key: b.name for b in self.baselines},
        }

    def split(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The registered model's training rows and its held-out rows (unpartitioned pipelines)."""
        import numpy as np
        from sklearn.model_selection import train_test_split

        positions = np.arange(len(y))
        return train_test_split(
            positions,
            test_size=self.evaluation.holdout_share,
            random_state=self.evaluation.random_state,
            stratify=self.stratify(y),
        )

    def cv_rows(self, y: np.ndarray) -> np.ndarray | None:
        """The positions cross-validated when the table has more rows than `evaluation.cv_max_rows`: a sample seeded
        by `evaluation.random_state`, stratified like the held-out split, with each class topped up to `cv_folds`
        rows (or all it has) so that every fold can hold it; in table order. None: every row."""
        import numpy as np
        from sklearn.model_selection import train_test_split

        spec = self.evaluation
        if spec.cv_max_rows is None or len(y) <= spec.cv_max_rows:
            return None
        strata = self.stratify(y)

        def drawn(stratify) -> np.ndarray:
            return train_test_split(
                np.arange(len(y)),
                train_size=spec.cv_max_rows,
                random_state=spec.random_state,
                stratify=stratify,
            )[0]

        try:
            sample = drawn(strata)
        except ValueError:  # more classes than the sample's rows, or a class of one row: drawn unstratified
            sample = drawn(None)
        chosen = np.zeros(len(y), dtype=bool)
        chosen[sample] = True
        if strata is not None:
            for label in np.unique(strata):
                members = np.flatnonzero(strata == label)
                short = min(spec.cv_folds, len(members)) - int(chosen[members].sum())
                if short > 0:
                    chosen[members[~chosen[members]][:short]] = True
        return np.flatnonzero(chosen)

    def stratify(self, y):
        return None

    def training_rows(self, features: pd.DataFrame, in_place: bool = False) -> pd.DataFrame:
        """The rows the registered model is fitted on: every row of a month, a table's training split (with
        `in_place`, `features` itself cut down to them: see `keep_rows_in_place`)."""
        if self.monthly:
            return features
        _, y = self.xy(features)
        train, _ = self.split(y)
        return keep_rows_in_place(features, train) if in_place else features.iloc[train]

    def train(
        self,
        features: pd.DataFrame,
        random_state: int | None = None,
        prefit: Fitted | None = None,
        metric_rows: int | None = None,
        consume: bool = False,
    ) -> Trained:
        """The model fitted on `features` with its training metrics, parameters and metadata. `prefit` is what `fit`
        returned for the same rows and seed (the walk-forward fit of the same window is the same model). The training
        metrics are measured on at most `metric_rows` of the training rows, the seeded sample `reference_sample`
        draws (the drift reference), rather than predicting every training row again only to measure them. With
        `consume`, a table's `features` are cut down to its training rows in place rather than copied (the caller
        has no other use for them): the whole table is not held beside them while the model fits."""
        if features.empty:
            raise ValueError("cannot train on no rows of features")
        all_rows = len(features)
        rows = self.training_rows(features, in_place=consume)
        X, y = self.xy(rows)
        categorical, numeric = self.inputs(rows)
        model, picked = prefit or self.fit_rows(rows, X, y, random_state)
        measured = reference_sample(rows, metric_rows) if metric_rows and len(rows) > metric_rows else rows
        X_measured, y_measured = (X, y) if measured is rows else self.xy(measured)
        classes = self.classes_for(model, y)
        output = self.predict_output(model, X_measured, classes)
        fitted = self.metrics(y_measured, output, classes)
        params = {
            "estimator": self.estimator.kind,
            **self.estimator.params,
            **picked,
            "random_state": random_state if random_state is not None else self.estimator.random_state,
            "features": ",".join([*categorical, *numeric]),
        }
        if picked:
            params["search"] = (
                f"{self.estimator.search.iterations} random candidates x {self.estimator.search.folds} folds"
            )
        metadata = {
            "train_rows": len(rows),
            **({} if self.monthly else {"held_out_rows": all_rows - len(rows)}),
            f"train_{self.primary_metric}": for_ui(fitted[self.primary_metric]),
            **({"train_metric_rows": len(measured)} if measured is not rows else {}),
            "categorical_features": ", ".join(categorical) or "none",
            **({"categorical_encoding": self.encoding_used(rows)} if categorical else {}),
            "numeric_features": ", ".join(numeric) or "none",
            **(
                {
                    "searched_hyperparameters": ", ".join(
                        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in picked.items()
                    )
                }
                if picked
                else {}
            ),
        }
        scored = self.scored_part(model, measured, output, classes) if metric_rows else None
        return Trained(model, X.head(5), len(X), params, fitted, metadata, scored)

    def fit(self, features: pd.DataFrame, random_state: int | None = None) -> Fitted:
        """The fitted model and the hyperparameters its search chose (none without a search), on the rows `train`
        uses, without training metrics: what a backtest retrains."""
        rows = self.training_rows(features)
        X, y = self.xy(rows)
        return self.fit_rows(rows, X, y, random_state)

    def fit_rows(
        self, rows: pd.DataFrame, X: pd.DataFrame, y: np.ndarray, random_state: int | None
    ) -> Fitted:
        """`fit` on training rows already taken from the features (and split into X and y): no second copy."""
        from ml_assets.learning.search import chosen

        return Fitted(*chosen(self.build_model(rows, random_state).fit(X, y)))

    def classes_of(self, y) -> Any:
        return None

    def classes_for(self, model, *ys) -> Any:
        """The classes a model's output is scored over: every class the model knows and every label in `ys`."""
        return None

    def predict_output(self, model, X: pd.DataFrame, classes) -> np.ndarray:
        return model.predict(X)

    def metrics(self, y_true, output, classes) -> dict[str, float]:
        raise NotImplementedError

    def primary_from_predictions(self, y_true, predicted) -> float:
        """The primary metric by its plain formula from predictions (tasks/recompute.py checks every report with it)."""
        raise NotImplementedError

    def evaluation_rows(self, features: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """The rows a report scores on: the whole month, or the held-out split."""
        X, y = self.xy(features)
        if self.monthly:
            return X, y
        _, test = self.split(y)
        return X.iloc[test], y[test]

    def primary_metric_of(self, model, rows) -> float:
        """The primary metric of `model` on `rows`: (X, y), or a features frame."""
        X, y = self.xy(rows) if hasattr(rows, "columns") else rows
        classes = self.classes_for(model, y)
        return self.metrics(y, self.predict_output(model, X, classes), classes)[self.primary_metric]

    def transformed_inputs(self, model, X: pd.DataFrame) -> pd.DataFrame:
        """The model's inputs after DeclaredInputs (derived columns made): what drift is measured on."""
        return (
            model.named_steps["inputs"].transform(X)
            if hasattr(model, "named_steps") and "inputs" in model.named_steps
            else X
        )

    def predicted_rows(self, model, features: pd.DataFrame) -> pd.DataFrame:
        """Each row's model inputs (derived columns made), actual and prediction: the model's output computed a part
        at a time (a part's transients, not the table's), the frame built once around the inputs' own columns."""
        X, _ = self.xy(features)
        output = in_row_chunks(lambda part: self.model_output(model, part), X)
        return self.scored_part(model, features, output, self.output_classes(model))

    def model_output(self, model, X: pd.DataFrame) -> np.ndarray:
        """What `scored_part` scores: the model's predictions (a classifier's: its probabilities)."""
        return model.predict(X)

    def output_classes(self, model) -> Any:
        """The classes `model_output`'s columns stand for (None: one prediction per row)."""
        return None

    def scored_part(self, model, features: pd.DataFrame, output, classes) -> pd.DataFrame:
        """`predicted_rows` from the model's output on `features` (`predict_output`'s or `model_output`'s, over
        `classes`), computed already: not predicted again (tested equal to predicting them)."""
        X, y = self.xy(features)
        return with_columns(self.transformed_inputs(model, X), {ACTUAL: y, PREDICTION: output})

    def metrics_of_predicted(self, scored: pd.DataFrame) -> dict[str, float]:
        raise NotImplementedError
