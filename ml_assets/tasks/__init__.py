"""Task kinds: one folder each, holding its load-time config rules, target handling, metrics, baseline, checks and
report. What they share is the `Task` of `tasks/base.py` and its parts: cleaning.py (the rows), modeling.py (the
served Pipeline), protocols.py (the two evaluation protocols), report_parts.py, checks.py and results.py (what the
steps hand back). A new kind (quantile regression, ranking) is a folder with a `Task` subclass and one
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
