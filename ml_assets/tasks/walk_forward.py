"""Walk-forward scores: a model trained on a window of months, scored on a later month.

The model asset (`training_window: backtest` compares windows on the months before each month) and the backtest
report (every window on every month) ask for the same scores. Each is computed once: scores and fitted models are
kept in the pipeline's ScoreCache under the rows' fingerprints, the declared model and the run's model config, so a
single-month run or the backtest after a backfill reuses what the backfill scored and fitted, and the model of a
month is the very fit its window was scored with. A step first `prefetch`es every score it will ask for, so the fits
it needs run side by side.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ml_assets.learning import Fitted
from ml_assets.learning.score_cache import ScoreCache, cache_key, frame_fingerprint

if TYPE_CHECKING:
    import pandas as pd

    from ml_assets.tasks.base import Task


def concat_months(features: dict[str, pd.DataFrame], months: list[str]) -> pd.DataFrame:
    """The rows of `months`, oldest first, as one frame."""
    import pandas as pd

    return (
        features[months[0]]
        if len(months) == 1
        else pd.concat([features[m] for m in months], ignore_index=True)
    )


class WalkForwardScores:
    """Scores of models fitted on windows of months. `map` runs independent fits (a step's `StepCompute.map`, which
    fits side by side; one after the other by default)."""

    def __init__(
        self,
        task: Task,
        features: dict[str, pd.DataFrame],
        random_state: int | None = None,
        cache: ScoreCache | None = None,
        map: Callable[[Callable, list], list] | None = None,  # noqa: A002  (what it is)
    ):
        self.task, self.features, self.random_state = task, features, random_state
        self.cache = cache or ScoreCache(None)
        self.map = map or (lambda work, items: [work(item) for item in items])
        # what every key shares, dumped once per step rather than once per score
        # the launch-time seed, as the model config held it
        self._declared = task.declared(), {"random_state": random_state}
        self._fitted: dict[tuple[str, ...], Fitted] = {}
        self._scores: dict[tuple[tuple[str, ...], str], float] = {}  # looked up in the cache once per step
        self._fingerprints: dict[str, str] = {}
        self._lock = threading.Lock()  # `fit_for` runs in a step's fitting threads
        self.fits = 0  # fitted by this step
        self.loaded = 0  # read from the cache's stored fits

    def summary(self) -> str:
        """What this step's scores and fits cost, e.g. `scores 4 cached, 2 computed; 2 model(s) fitted, 1 read`."""
        fits = f"{self.fits} model(s) fitted in this step, {self.loaded} read from the cache"
        return f"scores {self.cache.summary()}; {fits}"

    def fingerprint(self, month: str) -> str:
        if month not in self._fingerprints:
            self._fingerprints[month] = frame_fingerprint(self.features[month])
        return self._fingerprints[month]

    def _key(self, window: tuple[str, ...], month: str) -> str:
        return cache_key(
            "walk_forward",
            *self._declared,
            [(m, self.fingerprint(m)) for m in window],
            (month, self.fingerprint(month)),
        )

    def _fit(self, window: tuple[str, ...]) -> tuple[Fitted, bool]:
        """The fit of `window` stored in the cache, else fitted now and stored; True when fitted now."""
        key = cache_key("fit", *self._declared, [(m, self.fingerprint(m)) for m in window])
        stored = self.cache.get_fit(key)
        if isinstance(stored, Fitted):
            return stored, False
        return self.cache.keep_fit(
            key, self.task.fit(concat_months(self.features, list(window)), self.random_state)
        ), True

    def _keep(self, window: tuple[str, ...], fitted: Fitted, new: bool) -> Fitted:
        with self._lock:
            kept = self._fitted.setdefault(window, fitted)
            if kept is fitted:
                self.fits += new
                self.loaded += not new
            return kept

    def fit_for(self, window: list[str]) -> Fitted:
        """The model fitted on `window`'s rows and the hyperparameters its search chose: this step's, the cache's, or
        fitted now (a month's model is the fit its window was scored with)."""
        window = tuple(window)
        if window in self._fitted:
            return self._fitted[window]
        return self._keep(window, *self._fit(window))

    def model(self, window: list[str]):
        """The model fitted on `window`'s rows (fitted once, then kept)."""
        return self.fit_for(window).model

    def remember(self, window: list[str], model) -> None:
        """A model the step fitted on `window` anyway (the pipeline's own): later scores reuse it."""
        self._fitted.setdefault(tuple(window), Fitted(model, {}))

    def score(self, window: list[str], month: str) -> float:
        pair = (tuple(window), month)
        if pair not in self._scores:
            self._scores[pair] = float(
                self.cache.remember(
                    "walk_forward",
                    self._key(*pair),
                    lambda: self.task.primary_metric_of(self.model(window), self.features[month]),
                )
            )
        return self._scores[pair]

    def prefetch(self, ask: Callable[[Callable[[list[str], str], float]], Any]) -> None:
        """Compute every score `ask(score)` asks for, the fits side by side (`map`), so that asking for real finds them.

        `ask` is called once with a stand-in `score` that records (window, month) and answers 0.0: which scores a window
        choice or a backtest asks for depends on the months with data, never on the scores."""
        asked: list[tuple[tuple[str, ...], str]] = []
        ask(lambda window, month: asked.append((tuple(window), month)) or 0.0)
        missing: dict[tuple[str, ...], list[str]] = {}
        keys: dict[tuple[tuple[str, ...], str], str] = {}
        for window, month in dict.fromkeys(asked):
            if (window, month) in self._scores:
                continue
            keys[(window, month)] = self._key(window, month)
            cached = self.cache.get("walk_forward", keys[(window, month)])
            if cached is not None:
                self._scores[(window, month)] = float(cached)
            else:
                missing.setdefault(window, []).append(month)

        def fit_and_score(window: tuple[str, ...]) -> tuple[Fitted, list[float]]:
            fitted = self.fit_for(window)
            return fitted, [
                self.task.primary_metric_of(fitted.model, self.features[month]) for month in missing[window]
            ]

        for window, (_, values) in zip(missing, self.map(fit_and_score, list(missing)), strict=True):
            for month, value in zip(missing[window], values, strict=True):
                self.cache.put("walk_forward", keys[(window, month)], value)
                self._scores[(window, month)] = float(value)
