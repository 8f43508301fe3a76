"""Cleaning and features of one table for classification (pure pandas, no Dagster)."""

from __future__ import annotations

import pandas as pd


def required_columns(target: str, numeric: list[str], categorical: list[str]) -> list[str]:
    return [target, *numeric, *categorical]


def tabular_schema_problems(raw: pd.DataFrame, target: str, numeric: list[str], categorical: list[str]) -> list[str]:
    """Missing columns and non-numeric inputs, as readable sentences."""
    problems = [f"missing column {c!r}" for c in required_columns(target, numeric, categorical) if c not in raw.columns]
    for column in [*numeric, *categorical, target]:
        if column in raw.columns and not pd.api.types.is_numeric_dtype(raw[column]):
            problems.append(f"column {column!r} has dtype {raw[column].dtype}, expected a number")
    if target in raw.columns and raw[target].nunique() < 2:
        problems.append(f"target column {target!r} holds {raw[target].nunique()} class(es), at least 2 are needed")
    return problems


def build_tabular_features(
    raw: pd.DataFrame,
    target: str,
    numeric: list[str],
    categorical: list[str],
    positive_above: float | None = None,
    drop_missing: bool = False,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Model inputs plus the class label; returns the rows kept and how many each rule dropped.

    Rows without a label are always dropped; `drop_missing` also drops rows with a missing input
    (the Prefect seed's `dropna`); otherwise the model's imputers fill them.
    """
    inputs = set(numeric) | set(categorical)
    frame = raw[[c for c in raw.columns if c in inputs] + [target]].copy()  # the file's column order
    dropped = {"missing_target": int(frame[target].isna().sum())}
    frame = frame[frame[target].notna()]
    if drop_missing:
        incomplete = frame[[*numeric, *categorical]].isna().any(axis=1)
        dropped["missing_values"] = int(incomplete.sum())
        frame = frame[~incomplete]
    for column in numeric + categorical:
        frame[column] = frame[column].astype("float64")
    label = frame[target]
    frame[target] = (label > positive_above).astype("int64") if positive_above is not None else label.astype("int64")
    return frame.reset_index(drop=True), dropped
