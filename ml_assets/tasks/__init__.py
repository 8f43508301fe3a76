"""Task kinds: one folder each, holding its load-time config rules, target handling, metrics, baseline, checks and
report. Everything they share (declared inputs, the two evaluation protocols, the step results the assets take)
lives in `tasks/base.py`. A new kind (quantile regression, ranking) is a folder with a `Task` subclass and one
line in `TASK_KINDS` (docs/architecture.md)."""

from __future__ import annotations

import importlib

TASK_KINDS: dict[str, str] = {
    "regression": "ml_assets.tasks.regression:RegressionTask",
    "classification": "ml_assets.tasks.classification:ClassificationTask",
}


def task_class(kind: str):
    if kind not in TASK_KINDS:
        raise ValueError(f"task={kind!r} is not allowed: one of {sorted(TASK_KINDS)}")
    module, _, name = TASK_KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), name)
