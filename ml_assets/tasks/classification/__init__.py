"""Classification: a label per row (a species, a diagnosis). Accuracy is the primary metric, with macro F1, ROC AUC
and log loss beside it; the trivial baseline predicts the class frequencies of the training rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ml_assets.tasks import checks
from ml_assets.tasks.base import Task
from ml_assets.tasks.cleaning import plain
from ml_assets.tasks.modeling import ACTUAL, PREDICTION, with_columns
from ml_assets.tasks.results import Diagnostics

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

MAX_CLASSES = 100  # more distinct labels than this is a number, not a class
MAX_NUMERIC_CODES = (
    20  # numbers as labels: more than this without target.class_names looks like a measurement
)


class ClassificationTask(Task):
    kind = "classification"
    primary_metric, higher_is_better = "accuracy", True
    metric_names = ("accuracy", "macro_f1", "roc_auc", "log_loss")
    lower_is_better = frozenset({"log_loss"})
    trivial_key, trivial_name = "majority_class", "majority class (training class frequencies)"
    threshold_setting = "min_accuracy"

    @classmethod
    def check_spec(cls, spec) -> None:
        from ml_assets.config import refuse

        if spec.quality.max_rmse is not None:
            refuse(
                "quality.max_rmse",
                spec.quality.max_rmse,
                "a regression threshold; classification has quality.min_accuracy",
            )
        if spec.target.min is not None or spec.target.max is not None:
            refuse("target.min / target.max", "set", "regression settings (they drop rows by target value)")
        names = spec.target.class_names
        if names is not None and len(names) < 2:
            refuse("target.class_names", names, "two or more names, one per class")
        named = list(names.values()) if isinstance(names, dict) else names
        if names is not None and len(set(named)) != len(named):
            refuse("target.class_names", names, "distinct names")
        if spec.target.positive_above is not None and names and len(names) != 2:
            refuse("target.class_names", names, "two names: target.positive_above makes two classes")

    # ---- the target -----------------------------------------------------------------------------------------
    def prepare_target(self, values: pd.Series) -> pd.Series:
        import pandas as pd

        if self.target.positive_above is not None:
            return (pd.to_numeric(values) > self.target.positive_above).astype("int64")
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            numbers = pd.to_numeric(values)
            if (numbers.dropna() % 1 == 0).all():
                return numbers.astype("int64")
            return numbers
        return values.astype(str)

    def target_problems(self, values: pd.Series) -> list[str]:
        import pandas as pd

        present = values.dropna()
        if self.target.positive_above is not None and not pd.api.types.is_numeric_dtype(values):
            return [
                f"target.positive_above needs a numeric target; {self.target_column!r} holds "
                f"{values.dtype} (e.g. {plain(present.iloc[0])!r})"
            ]
        labels = self.prepare_target(present)
        classes = sorted(labels.unique().tolist(), key=str)
        numeric_codes = pd.api.types.is_numeric_dtype(labels) and self.target.class_names is None
        if (
            pd.api.types.is_float_dtype(labels)
            or len(classes) > MAX_CLASSES
            or (numeric_codes and len(classes) > MAX_NUMERIC_CODES)
        ):
            return [
                f"target.column {self.target_column!r} looks like a measurement ({len(classes)} distinct "
                f"values, e.g. {plain(present.iloc[0])!r}): "
                "declare task: regression, target.positive_above to make two classes, or "
                "target.class_names if they are codes"
            ]
        problems = []
        if len(classes) < 2:
            problems.append(
                f"target.column {self.target_column!r} holds {len(classes)} class ({classes}): at least two are needed"
            )
        return problems + self.class_name_problems([plain(c) for c in classes])

    def class_name_problems(self, classes: list) -> list[str]:
        """`target.class_names` against the labels found: a list names labels 0..n-1 by position, a mapping names any
        label; every label found needs a name (a month may lack some classes, a table may not)."""
        names = self.target.class_names
        if names is None:
            return []
        where = "this month holds" if self.monthly else "the data holds"
        if isinstance(names, list):
            if not all(isinstance(c, int) for c in classes) or any(c < 0 or c >= len(names) for c in classes):
                mapping = "{" + ", ".join(f"{c}: <name>" for c in classes) + "}"
                return [
                    f"target.class_names {names} names classes by position, which only labels "
                    f"0..{len(names) - 1} have, but "
                    f"{where} {classes}: write it as a mapping from label to name, class_names: {mapping}"
                ]
            if not self.monthly and len(names) != len(classes):
                return [
                    f"target.class_names names {len(names)} classes {names}, but the data holds "
                    f"{len(classes)}: {classes}"
                ]
            return []
        unnamed = [c for c in classes if str(c) not in names]
        if unnamed:
            return [
                f"target.class_names names no class for the label(s) {unnamed} ({where} {classes}); it "
                f"names {sorted(names)}"
            ]
        unknown = sorted(set(names) - {str(c) for c in classes})
        if unknown and not self.monthly:
            return [
                f"target.class_names names label(s) {unknown} that the data does not hold (it holds {classes})"
            ]
        return []

    def extra_raw_checks(self) -> list[str]:
        return [checks.RAW_TWO_CLASSES]

    def raw_extras(self, raw, partition) -> tuple[list, dict]:
        present = raw[self.target_column].dropna() if self.target_column in raw else raw.iloc[:0, 0]
        try:
            classes = int(self.prepare_target(present).nunique()) if len(present) else 0
        except (ValueError, TypeError):
            classes = 0
        return [checks.outcome(checks.RAW_TWO_CLASSES, partition, classes >= 2, classes=classes)], {
            "classes": classes
        }

    def extra_feature_checks(self) -> list[str]:
        return [checks.FEATURES_ROWS_PER_CLASS]

    def feature_extras(self, frame, partition) -> tuple[list, dict]:
        counts = frame[self.target_column].value_counts().sort_index()
        smallest = int(counts.min()) if len(counts) else 0
        needed = 1 if self.monthly else self.evaluation.cv_folds
        result = checks.outcome(
            checks.FEATURES_ROWS_PER_CLASS,
            partition,
            smallest >= needed and len(counts) >= 2,
            smallest_class_rows=smallest,
            needed=needed,
        )
        return [result], {"class_counts": ", ".join(f"{k}: {v}" for k, v in counts.items())}

    def stratify(self, y):
        """The classes as integer codes in the labels' sorted order, which scikit-learn's stratified splits draw
        from exactly as from the labels (they take `np.unique`'s codes), without sorting millions of strings."""
        import pandas as pd

        codes = pd.factorize(y, sort=True)[0]
        return y if (codes < 0).any() else codes

    # ---- models and metrics ---------------------------------------------------------------------------------
    def trivial_model(self):
        from sklearn.dummy import DummyClassifier

        return DummyClassifier(strategy="prior")

    def cv_splitter(self, repeats: int):
        from sklearn.model_selection import RepeatedStratifiedKFold

        e = self.evaluation
        return RepeatedStratifiedKFold(n_splits=e.cv_folds, n_repeats=repeats, random_state=e.random_state)

    def classes_of(self, y) -> np.ndarray:
        import numpy as np

        return np.unique(y)

    def classes_for(self, model, *ys) -> np.ndarray:
        import numpy as np

        known = [np.asarray(getattr(model, "classes_", []))] + [np.asarray(y) for y in ys]
        return np.unique(np.concatenate([k for k in known if len(k)]))

    def predict_output(self, model, X, classes) -> np.ndarray:
        """Class probabilities with a column for every class in `classes`, even one the model never saw."""
        import numpy as np

        if hasattr(model, "predict_proba"):
            proba = model.predict_proba(X)
            fitted = list(model.classes_)
        else:  # a classifier without probabilities: its votes
            predicted = model.predict(X)
            fitted = list(classes)
            proba = (predicted[:, None] == np.asarray(classes)[None, :]).astype(float)
        if fitted == list(classes):
            return proba
        wanted = list(classes)
        dropped = [c for c in fitted if c not in wanted]
        if dropped:  # its probability would vanish and the arg-max would name another class
            raise ValueError(
                f"the model predicts class(es) {dropped} that are not among the classes scored {wanted}"
            )
        full = np.zeros((len(X), len(classes)))
        for j, c in enumerate(fitted):
            full[:, wanted.index(c)] = proba[:, j]
        return full

    def metrics(self, y_true, output, classes) -> dict[str, float]:
        import numpy as np
        from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

        predicted = np.asarray(classes)[np.argmax(output, axis=1)]
        present = np.unique(y_true)
        try:
            if len(classes) == 2:
                auc = roc_auc_score(y_true, output[:, 1]) if len(present) == 2 else float("nan")
            else:
                auc = (
                    roc_auc_score(y_true, output, multi_class="ovr", average="macro", labels=classes)
                    if len(present) == len(classes)
                    else float("nan")
                )
        except ValueError:
            auc = float("nan")
        return {
            "accuracy": float(accuracy_score(y_true, predicted)),
            "macro_f1": float(f1_score(y_true, predicted, average="macro", labels=classes, zero_division=0)),
            "roc_auc": float(auc),
            "log_loss": float(log_loss(y_true, np.clip(output, 1e-15, 1), labels=classes)),
        }

    def primary_from_predictions(self, y_true, predicted) -> float:
        """Accuracy by its formula, on the classifier's own predict (the re-computation of a reported figure)."""
        import numpy as np

        return float(np.mean(np.asarray(predicted) == np.asarray(y_true)))

    def model_output(self, model, X: pd.DataFrame) -> np.ndarray:
        return model.predict_proba(X)

    def output_classes(self, model) -> Any:
        return model.classes_

    def scored_part(self, model, features: pd.DataFrame, output, classes) -> pd.DataFrame:
        """Each row's class and its probability from the model's output over `classes` (`predict_output`'s or
        `predict_proba`'s): the columns of the model's own classes, in its order, are `predict_proba`'s (a class it
        never saw has a column of zeros, never the arg-max)."""
        X, y = self.xy(features)
        own = output[:, [list(classes).index(c) for c in model.classes_]]
        inputs = self.transformed_inputs(model, X)
        return with_columns(
            inputs,
            {ACTUAL: y, PREDICTION: model.classes_[own.argmax(axis=1)], "probability": own.max(axis=1)},
        )

    def metrics_of_predicted(self, scored: pd.DataFrame) -> dict[str, Any]:
        return {
            "accuracy": float((scored[ACTUAL] == scored[PREDICTION]).mean()),
            "mean_probability": float(scored["probability"].mean()),
        }

    # ---- report --------------------------------------------------------------------------------------------------
    def labels(self, classes) -> list[str]:
        """Each class's name: by label from a mapping, by position (label 0..n-1) from a list, else the label itself."""
        names = self.target.class_names
        out = []
        for c in (plain(c) for c in classes):
            if isinstance(names, dict) and str(c) in names:
                out.append(names[str(c)])
            elif isinstance(names, list) and isinstance(c, int) and 0 <= c < len(names):
                out.append(names[c])
            else:
                out.append(str(c))
        return out

    def rows_note(self, y) -> str:
        return f", classes {', '.join(self.labels(self.classes_of(y)))}"

    def confusion(self, y_true, output, classes) -> list[list[int]]:
        import numpy as np
        from sklearn.metrics import confusion_matrix

        predicted = np.asarray(classes)[np.argmax(output, axis=1)]
        return confusion_matrix(y_true, predicted, labels=classes).tolist()

    def holdout_extras(self, y_true, output, classes) -> dict:
        return {"confusion_matrix": self.confusion(y_true, output, classes), "classes": self.labels(classes)}

    def extra_markdown(self, y_true, output, classes, rows: str) -> str:
        labels = self.labels(classes)
        matrix = self.confusion(y_true, output, classes)
        table = "| actual \\ predicted | " + " | ".join(labels) + " |\n|---|" + "---:|" * len(labels) + "\n"
        table += "\n".join(
            f"| {label} | " + " | ".join(str(n) for n in row) + " |"
            for label, row in zip(labels, matrix, strict=True)
        )
        return f"\nConfusion matrix of the model on {rows}:\n\n{table}\n"

    def diagnostics(self, model, X, y, output, month: str) -> Diagnostics:
        """Calibration: do the model's probabilities mean what they say? (its stated confidence against how often it is
        right, by bins of confidence; for two classes, the probability of the second class against its frequency),
        and the expected calibration error as a number."""
        from ml_assets.learning.diagnostics import calibration_error, calibration_table

        classes = list(getattr(model, "classes_", []))
        if not classes or output.shape[1] != len(classes):
            return Diagnostics()
        table = calibration_table(y, output, classes, bins=5)
        return Diagnostics(
            f"\nCalibration on {month} (a well-calibrated model's stated and observed columns agree):\n\n{table}\n",
            {"calibration_error": calibration_error(y, output, classes, bins=5)},
        )

    def plot_png(self, y_true, output, classes, per_fold, title: str, bars: list | None = None) -> bytes:
        from ml_assets.plots import classification_plot_png

        return classification_plot_png(
            self.confusion(y_true, output, classes), self.labels(classes), per_fold, title
        )
