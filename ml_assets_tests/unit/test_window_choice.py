"""`training_window: backtest`: the window choice, its walk-forward scores and the cache they share with
the backtest."""

import json

import numpy as np
import pandas as pd
import pytest

from ml_assets.learning.score_cache import ScoreCache, cache_key
from ml_assets.monitoring import choose_window
from ml_assets.tasks.walk_forward import WalkForwardScores
from ml_assets_tests.pipelines import load_pipeline

MONTHS = [f"2013-{m:02d}" for m in range(1, 9)]


def scorer(table: dict[tuple[int, str], float], calls: list):
    def score(window: list[str], month: str) -> float:
        calls.append((tuple(window), month))
        # the k months just before
        assert window == MONTHS[MONTHS.index(month) - len(window) : MONTHS.index(month)]
        return table[(len(window), month)]

    return score


def test_no_month_to_judge_by_takes_the_shortest_window():
    calls = []
    for before in ([], MONTHS[:1]):
        choice = choose_window(before, [3, 1, 6], 3, scorer({}, calls), False, "rmse")
        assert choice.window == 1 and choice.judged_on == [] and "no month before" in choice.reason
    assert calls == []


def test_windows_compete_on_the_latest_months_every_candidate_covers():
    # months before 2013-06: 01..05. Window 6 cannot be scored on any of them; 3 first on 04.
    table = {(1, m): 8.0 for m in MONTHS} | {(3, "2013-04"): 7.0, (3, "2013-05"): 9.5}
    calls = []
    choice = choose_window(MONTHS[:5], [1, 3, 6], 3, scorer(table, calls), False, "rmse")
    assert choice.judged_on == ["2013-04", "2013-05"] and choice.means == {1: 8.0, 3: 8.25}
    assert choice.window == 1 and "RMSE 8.000" in choice.reason and "3 months 8.250" in choice.reason
    assert {month for _, month in calls} == {"2013-04", "2013-05"}
    # a higher-is-better metric picks the other way
    assert choose_window(MONTHS[:5], [1, 3, 6], 3, scorer(table, []), True, "accuracy").window == 3


def test_evidence_is_the_latest_months_only_and_ties_go_to_the_shorter_window():
    table = {(k, m): 5.0 for k in (1, 2) for m in MONTHS}
    calls = []
    choice = choose_window(MONTHS[:7], [2, 1], 2, scorer(table, calls), False, "rmse")
    assert choice.judged_on == ["2013-06", "2013-07"] and choice.window == 1
    assert max(month for _, month in calls) == "2013-07"


def test_the_model_step_never_scores_on_its_own_month_or_later():
    """The asset's wrapper hands only the months before M to the choice, whatever else is loaded."""
    from ml_assets.orchestration.assets.model import choose_window as asset_choice

    plan = load_pipeline("nyc_flights", "/nonexistent").plan
    assert plan.chooses_window and plan.months_read_by_model == 3 + 6 + 1

    class Recorder:
        def __init__(self):
            self.months = []

        def score(self, window, month):
            self.months += [*window, month]
            return float(len(window))

    features = {m: None for m in MONTHS}
    for month in MONTHS:
        recorder = Recorder()
        asset_choice(plan, month, features, recorder.score)
        assert (
            recorder.months and max(recorder.months) < month if month >= "2013-03" else recorder.months == []
        )


def test_training_window_refuses_anything_but_months_or_backtest():
    with pytest.raises(
        Exception, match=r"training_window=0 is not allowed: a number of months \(1, 2, ...\) or backtest"
    ):
        load_pipeline("nyc_flights", "/nonexistent", partitioning={"monthly": {"training_window": 0}})
    with pytest.raises(Exception, match=r"training_window[\s\S]*'weekly'[\s\S]*should be 'backtest'"):
        load_pipeline("nyc_flights", "/nonexistent", partitioning={"monthly": {"training_window": "weekly"}})


def _months_of_rows(seed: int) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    frames = {}
    for month in MONTHS[:4]:
        x = rng.normal(size=200)
        frames[month] = pd.DataFrame({"x": x, "target": 2 * x + rng.normal(scale=0.5, size=200)})
    return frames


def _one_column_task(tmp_path):
    """The flights pipeline's task, reduced to boosted trees on the one input `x` of `_months_of_rows`, and
    its config."""
    plan = load_pipeline(
        "nyc_flights",
        tmp_path,
        features={"numeric": ["x"], "categorical": [], "derived": [], "as_of": None},
        target={"column": "target", "min": None, "max": None},
        estimator={"kind": "hist_gradient_boosting", "params": {"max_iter": 20}},
        baselines=[],
    ).plan
    return plan.task, None  # the launch-time seed: the YAML's


def test_walk_forward_scores_fit_once_and_are_reused_across_steps(tmp_path):
    task, config = _one_column_task(tmp_path)
    features = _months_of_rows(0)
    cache = ScoreCache(str(tmp_path / "scores"))
    first = WalkForwardScores(task, features, config, cache)
    a = first.score(MONTHS[:2], MONTHS[2])
    assert first.score(MONTHS[:2], MONTHS[2]) == a and first.fits == 1
    assert first.score(MONTHS[1:2], MONTHS[2]) != a and first.fits == 2
    # another step (the backtest, a later single-month run): the same rows and config are read, not refitted
    again = WalkForwardScores(task, features, config, ScoreCache(str(tmp_path / "scores")))
    assert again.score(MONTHS[:2], MONTHS[2]) == a and again.fits == 0 and again.cache.hits == 1
    # a changed month is a new key: scored afresh
    changed = dict(features, **{MONTHS[0]: features[MONTHS[0]].assign(target=lambda f: f["target"] + 1)})
    fresh = WalkForwardScores(task, changed, config, ScoreCache(str(tmp_path / "scores")))
    assert fresh.score(MONTHS[:2], MONTHS[2]) != a and fresh.fits == 1


def test_prefetched_scores_fit_side_by_side_and_equal_the_ones_asked_one_by_one(tmp_path):
    """A step first computes every score its window choices will ask for, the fits in threads (StepCompute.map); the
    answers are the same as asking one by one, each window is fitted once, and the chosen window's fit is the
    model itself (`train(prefit=...)` predicts exactly as a fresh fit)."""
    from ml_assets.orchestration.assets.model import choose_window as asset_choice
    from ml_assets.orchestration.compute import StepCompute

    plan = load_pipeline(
        "nyc_flights",
        tmp_path,
        features={"numeric": ["x"], "categorical": [], "derived": [], "as_of": None},
        target={"column": "target", "min": None, "max": None},
        estimator={"kind": "hist_gradient_boosting", "params": {"max_iter": 20}},
        baselines=[],
        partitioning={
            "monthly": {
                "first_month": MONTHS[0],
                "last_month": MONTHS[3],
                "training_window": "backtest",
                "window_evidence_months": 1,
            }
        },
        monitoring={"backtest_windows": [1, 2]},
    ).plan
    task, config = plan.task, None
    features = _months_of_rows(1)

    def choices(score):
        return [asset_choice(plan, month, features, score) for month in MONTHS[:4]]

    one_by_one = WalkForwardScores(task, features, config)
    expected = choices(one_by_one.score)
    threads = StepCompute(parallel_fits=2)
    side_by_side = WalkForwardScores(
        task, features, config, ScoreCache(str(tmp_path / "scores")), threads.map
    )
    side_by_side.prefetch(choices)
    assert (
        side_by_side.fits == one_by_one.fits > 1
        and side_by_side.cache.summary() == f"0 cached, {len(side_by_side._scores)} computed"
    )
    fits = side_by_side.fits
    assert choices(side_by_side.score) == expected and side_by_side.fits == fits  # every answer was ready
    chosen = MONTHS[:2][-expected[2].window :]  # the window month 3's model would train on
    prefit = side_by_side.fit_for(chosen)
    assert side_by_side.fits == fits  # the window's fit from the prefetch, not fitted again
    X, _ = task.xy(features[MONTHS[3]])
    rows = pd.concat([features[m] for m in chosen], ignore_index=True)
    assert np.array_equal(
        task.train(rows, config, prefit=prefit).model.predict(X), task.train(rows, config).model.predict(X)
    )
    # a later step finds them all in the cache and fits nothing
    later = WalkForwardScores(task, features, config, ScoreCache(str(tmp_path / "scores")), threads.map)
    later.prefetch(choices)
    assert later.fits == 0 and choices(later.score) == expected
    # and the month's model is the stored fit of its window, read back, not fitted again
    assert np.array_equal(later.fit_for(chosen).model.predict(X), prefit.model.predict(X)) and (
        later.fits,
        later.loaded,
    ) == (0, 1)


def test_stored_fits_are_read_back_refitted_when_damaged_and_never_reused_for_changed_rows(tmp_path):
    task, config = _one_column_task(tmp_path)
    features, folder = _months_of_rows(2), tmp_path / "scores"
    X, _ = task.xy(features[MONTHS[3]])
    first = WalkForwardScores(task, features, config, ScoreCache(str(folder)))
    expected = first.model(MONTHS[:3]).predict(X)
    assert (first.fits, first.loaded) == (1, 0)
    (stored,) = folder.glob("fit-*.joblib")
    again = WalkForwardScores(task, features, config, ScoreCache(str(folder)))
    assert np.array_equal(again.model(MONTHS[:3]).predict(X), expected) and (again.fits, again.loaded) == (
        0,
        1,
    )
    # a torn entry is a miss: fitted again, the same model, and stored whole
    stored.write_bytes(stored.read_bytes()[:1000])
    torn = WalkForwardScores(task, features, config, ScoreCache(str(folder)))
    assert np.array_equal(torn.model(MONTHS[:3]).predict(X), expected) and (torn.fits, torn.loaded) == (1, 0)
    whole = WalkForwardScores(task, features, config, ScoreCache(str(folder)))
    assert np.array_equal(whole.model(MONTHS[:3]).predict(X), expected) and (whole.fits, whole.loaded) == (
        0,
        1,
    )
    # one changed row in the window is another key: a new fit, whose predictions differ
    changed = dict(
        features,
        **{MONTHS[1]: features[MONTHS[1]].assign(target=lambda f: f["target"].where(f.index > 0, 50.0))},
    )
    fresh = WalkForwardScores(task, changed, config, ScoreCache(str(folder)))
    assert not np.array_equal(fresh.model(MONTHS[:3]).predict(X), expected) and (
        fresh.fits,
        fresh.loaded,
    ) == (1, 0)
    assert len(list(folder.glob("fit-*.joblib"))) == 2


def test_score_cache_misses_on_a_damaged_entry_and_on_any_declared_change(tmp_path):
    cache = ScoreCache(str(tmp_path))
    key = cache_key("cross_validation", {"C": [0.01, 100]}, "rows-1")
    assert cache.remember("cross_validation", key, lambda: [{"model": {"accuracy": 0.9}}]) == [
        {"model": {"accuracy": 0.9}}
    ]
    assert cache.get("cross_validation", key) == [{"model": {"accuracy": 0.9}}]
    (entry,) = list(tmp_path.glob("cross_validation-*.json"))
    entry.write_bytes(b'{"value": [')  # torn
    assert cache.get("cross_validation", key) is None
    assert cache.remember("cross_validation", key, lambda: [1.5]) == [1.5]  # computed again, and stored whole
    assert json.loads(entry.read_bytes()) == {"value": [1.5]}
    assert (
        key
        != cache_key("cross_validation", {"C": [0.01, 10]}, "rows-1")
        != cache_key("cross_validation", {"C": [0.01, 100]}, "rows-2")
    )
    nothing = ScoreCache(None)
    assert nothing.remember("x", key, lambda: 1) == 1 and nothing.get("x", key) is None


def test_the_declared_search_space_is_part_of_the_key():
    iris = load_pipeline("iris", "/nonexistent").plan.task
    wider = load_pipeline(
        "iris",
        "/nonexistent",
        estimator={"search": {"space": {"C": {"low": 0.001, "high": 1000, "log": True}}}},
    ).plan.task
    assert iris.declared() != wider.declared()
    assert cache_key("cv", iris.declared(), "rows") != cache_key("cv", wider.declared(), "rows")
    assert cache_key("cv", iris.declared(), "rows") == cache_key(
        "cv", load_pipeline("iris", "/x").plan.task.declared(), "rows"
    )
