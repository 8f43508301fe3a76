"""Small pipelines declared in a test, over tables the test builds: what the unit tier's shape tests share."""

from __future__ import annotations

from typing import Any

from ml_assets.components import TrainingPipeline
from ml_assets.local import deep_merge


def declared(task: str, monthly: bool = False, window: int | str = 1, **overrides: Any) -> TrainingPipeline:
    """A `table` pipeline as a user would write it (the file is never read by the unit tests that use this)."""
    attributes: dict[str, Any] = {
        "name": "shapes",
        "task": task,
        "source": {
            "kind": "table",
            "path": "/nonexistent/table.csv",
            **({"time_column": "when"} if monthly else {}),
        },
        "target": {"column": "label" if task == "classification" else "y"},
        "estimator": {"kind": "logistic_regression" if task == "classification" else "ridge"},
        "evaluation": {"cv_folds": 3, "cv_repeats": 1},
    }
    if monthly:
        attributes["partitioning"] = {
            "monthly": {"first_month": "2020-01", "last_month": "2020-12", "training_window": window}
        }
    return TrainingPipeline.resolve_from_dict(deep_merge(attributes, overrides))


def task_of(task: str, monthly: bool = False, window: int | str = 1, **overrides: Any):
    return declared(task, monthly, window, **overrides).plan().task
