"""Pure pandas/scikit-learn below the Dagster wiring, shared by every task kind: the declared
inputs (one transformer inside the served Pipeline), encoders, estimators and evaluation protocols."""
