"""The served model: DeclaredInputs -> encoder -> estimator, one scikit-learn Pipeline (pure scikit-learn)."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from sklearn.pipeline import Pipeline

from ml_assets.learning.catalog import DEFAULTS, PARAMS, import_path, resolved_encoding
from ml_assets.learning.inputs import NATIVE_MAX_CATEGORIES, DeclaredInputs, encoder

COMPOSITE = "ml_assets.learning.composite.LinearThenBoostedTrees"


def estimator_class(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def takes_sparse_input(kind: str, task: str) -> bool:
    """Whether the estimator a YAML `kind` names accepts sparse input (scikit-learn's input tags say;
    HistGradientBoosting
    and ml_assets' composite, whose boosted trees read the encoder's output, do not)."""
    path = import_path(kind, task)
    if path == COMPOSITE:
        return False
    from sklearn.utils import get_tags

    try:
        return bool(get_tags(estimator_class(path)()).input_tags.sparse)
    # an estimator that needs arguments, or predates tags: assume not
    except (TypeError, ValueError, AttributeError):
        return False


def columns_named_by(kind: str, task: str, params: dict) -> dict[str, list[str]]:
    """Input columns an estimator's parameters name (the composite's linear part), by parameter: they must be inputs."""
    if import_path(kind, task) != COMPOSITE:
        return {}
    from ml_assets.learning.composite import LinearThenBoostedTrees

    defaults = LinearThenBoostedTrees()
    return {
        name: list(params.get(name, getattr(defaults, name)))
        for name in ("linear_categorical", "linear_numeric")
    }


def build_estimator(kind: str, task: str, params: dict, random_state: int | None, input_encoder):
    """The estimator a YAML `kind` names, behind the input encoder (the composite takes the encoder itself)."""
    path = import_path(kind, task)
    cls = estimator_class(path)
    accepted = PARAMS.get(path)
    values = {**DEFAULTS.get(path, {}), **params}
    if (
        random_state is not None
        and (accepted is None or "random_state" in accepted)
        and "random_state" not in params
    ):
        try:
            cls(random_state=random_state)
            values["random_state"] = random_state
        except TypeError:
            pass
    if path == COMPOSITE:
        return cls(encoder=input_encoder, **values)
    return Pipeline([("encode", input_encoder), ("estimator", cls(**values))])


def native_codes(params: dict) -> int:
    """Codes per categorical input for `encoding: native`: fewer than the trees' bins (`max_bins`, 255 by default)."""
    return min(NATIVE_MAX_CATEGORIES, int(params.get("max_bins", NATIVE_MAX_CATEGORIES)))


def build_model(
    task: str,
    kind: str,
    params: dict,
    random_state: int | None,
    categorical: Sequence[str],
    numeric: Sequence[str],
    derived: Sequence[tuple],
    encoding: str,
    scale_numeric: bool,
) -> Pipeline:
    """The one object that is trained, registered and served: rows as delivered in, predictions out.
    `encoding` as declared (`auto` resolved here, see catalog.resolved_encoding)."""
    inputs = DeclaredInputs(tuple(categorical), tuple(numeric), tuple(derived))
    encoding = resolved_encoding(encoding, kind, task)
    dense = bool(categorical) and encoding == "onehot" and not takes_sparse_input(kind, task)
    native_max = native_codes(params)
    if encoding == "native" and categorical:  # the encoder's first columns are the codes the trees split on
        params = {"categorical_features": list(range(len(categorical))), **params}
    input_encoder = encoder(
        categorical,
        numeric,
        encoding,
        scale_numeric,
        task,
        random_state if random_state is not None else 0,
        dense,
        native_max,
    )
    return Pipeline(
        [("inputs", inputs), ("model", build_estimator(kind, task, params, random_state, input_encoder))]
    )
