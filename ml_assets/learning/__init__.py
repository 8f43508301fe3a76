"""Pure pandas/scikit-learn below the Dagster wiring, shared by every task kind: the declared
inputs (one transformer inside the served Pipeline), encoders, estimators and evaluation protocols."""

from typing import Any, NamedTuple


class Fitted(NamedTuple):
    """A fitted model and what its search chose."""

    model: Any  # the Pipeline to serve (a search replaced by its refitted best estimator)
    picked: dict[str, Any]  # the hyperparameters the search chose; empty without a search
