"""What a task's steps hand back to the assets: plain values, which the wiring turns into Dagster's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from ml_assets.tasks.checks import CheckOutcome

# the key of the model a report scores among its predictors (beside the trivial baseline and the declared ones)
CANDIDATE = "model"


@dataclass
class StepResult:
    value: Any
    metadata: dict[str, Any]
    check_results: list[CheckOutcome] = field(default_factory=list)


@dataclass
class Trained:
    model: Any
    # five of the rows as delivered that it was fitted on: its signature and input example
    example: pd.DataFrame
    rows: int  # how many rows it was fitted on
    params: dict[str, Any]
    train_metrics: dict[str, float]
    metadata: dict[str, Any]
    # the rows the training metrics were measured on, scored (`predicted_rows`' columns): with `metric_rows`, the
    # seeded sample that is the model's drift reference
    measured: pd.DataFrame | None = None


@dataclass
class Evaluated:
    report: dict[str, Any]  # stored as JSON (full precision) with its Markdown
    markdown: str
    png: bytes
    score: float  # the primary metric of the candidate on the evaluation rows
    logged_metrics: dict[str, float]
    ui_metadata: dict[str, Any]
    check_results: list[CheckOutcome]


@dataclass
class Diagnostics:
    """A report's diagnostics: Markdown tables, numbers Dagster plots across partitions (fixed names), and bars for
    the report's plot ((label, value) pairs, e.g. permutation importances)."""

    markdown: str = ""
    figures: dict[str, float] = field(default_factory=dict)
    bars: list[tuple[str, float]] = field(default_factory=list)
