"""Walk-forward scores: a model trained on a window of months, scored on a later month.

The model asset (`training_window: backtest` compares windows on the months before each month) and the backtest
report (every window on every month) ask for the same scores. Each is computed once: fitted models are kept for
the step, scores in the pipeline's ScoreCache under the rows' fingerprints, the declared model and the run's
model config, so a single-month run or the backtest after a backfill reuses what the backfill scored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ml_assets.storage.score_cache import ScoreCache, cache_key, frame_fingerprint

if TYPE_CHECKING:
    import pandas as pd

    from ml_assets.tasks.base import Task


def concat_months(features: dict[str, pd.DataFrame], months: list[str]) -> pd.DataFrame:
    """The rows of `months`, oldest first, as one frame."""
    import pandas as pd

    return features[months[0]] if len(months) == 1 else pd.concat([features[m] for m in months], ignore_index=True)


class WalkForwardScores:
    def __init__(self, task: Task, features: dict[str, pd.DataFrame], config: Any, cache: ScoreCache | None = None):
        self.task, self.features, self.config = task, features, config
        self.cache = cache or ScoreCache(None)
        # what every key shares, dumped once per step rather than once per score
        self._declared = (task.declared(), config.model_dump(mode="json"))
        self._fitted: dict[tuple[str, ...], Any] = {}
        self._fingerprints: dict[str, str] = {}
        self.fits = 0

    def fingerprint(self, month: str) -> str:
        if month not in self._fingerprints:
            self._fingerprints[month] = frame_fingerprint(self.features[month])
        return self._fingerprints[month]

    def model(self, window: list[str]):
        """The model fitted on `window`'s rows (fitted once per step)."""
        if tuple(window) not in self._fitted:
            self._fitted[tuple(window)] = self.task.fit(concat_months(self.features, window), self.config)
            self.fits += 1
        return self._fitted[tuple(window)]

    def remember(self, window: list[str], model) -> None:
        """A model the step fitted on `window` anyway (the pipeline's own): later scores reuse it."""
        self._fitted.setdefault(tuple(window), model)

    def score(self, window: list[str], month: str) -> float:
        key = cache_key(
            "walk_forward", *self._declared, [(m, self.fingerprint(m)) for m in window], (month, self.fingerprint(month)),
        )
        return float(self.cache.remember("walk_forward", key, lambda: self.task.score(self.model(window), self.features[month])))
