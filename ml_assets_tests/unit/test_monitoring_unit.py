"""The pure monitoring functions on small frames: drift statistics, the walk-forward backtest,
the verdict and model cards."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_assets import monitoring
from ml_assets.config import MonitoringSpec


def test_numeric_drift_is_the_ks_statistic():
    reference = pd.Series(np.arange(100, dtype="float64"), name="distance")
    assert monitoring.column_drift(reference, reference.copy()) == ("ks", 0.0)
    # half the mass moved past the old range
    statistic, value = monitoring.column_drift(reference, reference + 50)
    assert statistic == "ks" and value == pytest.approx(0.5)
    assert monitoring.column_drift(reference, reference + 1000)[1] == pytest.approx(1.0)


@pytest.mark.filterwarnings("ignore:ks_2samp. Exact calculation unsuccessful")  # its p-value, not our concern
@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=60),
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=60),
    st.integers(0, 3),
)
def test_the_ks_statistic_is_scipys(reference, current, rounding):
    """Drift's own statistic (no p-value) is scipy's ks_2samp statistic, ties included (values rounded): to the last
    bit for big samples, within one rounding unit for up to 10,000 rows, where scipy re-derives it as a fraction."""
    from scipy.stats import ks_2samp

    reference, current = np.round(reference, -rounding), np.round(current, -rounding)
    ours, scipys = monitoring.ks_statistic(reference, current), ks_2samp(reference, current).statistic
    assert ours == pytest.approx(scipys, rel=1e-15, abs=1e-15)


def test_the_ks_statistic_of_big_samples_is_scipys_to_the_last_bit():
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(0)
    for shift in (0.0, 0.01, 0.3):
        reference, current = rng.normal(size=20_000).round(2), rng.normal(shift, size=27_000).round(2)
        assert monitoring.ks_statistic(reference, current) == ks_2samp(reference, current).statistic


def test_categorical_drift_is_the_total_variation_distance():
    reference = pd.Series(["JFK", "LGA"] * 50, name="origin")
    assert monitoring.column_drift(reference, reference.sample(frac=1, random_state=0)) == ("tvd", 0.0)
    assert monitoring.column_drift(reference, pd.Series(["JFK"] * 10))[1] == pytest.approx(0.5)
    # a category never seen in training counts in full
    assert monitoring.column_drift(reference, pd.Series(["EWR"] * 10))[1] == pytest.approx(1.0)


def test_drift_of_sorts_largest_first_and_flags_beyond_the_threshold():
    reference = pd.DataFrame({"a": np.arange(100.0), "b": ["x", "y"] * 50})
    current = pd.DataFrame({"a": np.arange(100.0) + 30, "b": ["x", "y"] * 50})
    drifts = monitoring.drift_of(reference, current, ["b", "a"], threshold=0.2)
    assert [d.column for d in drifts] == ["a", "b"]
    assert drifts[0].drifted and drifts[0].value == pytest.approx(0.3) and not drifts[1].drifted
    assert "**drifted**" in monitoring.drift_markdown(drifts, "title")


def test_drift_of_names_a_missing_column():
    with pytest.raises(ValueError, match=r"\['c'\]"):
        monitoring.drift_of(pd.DataFrame({"a": [1.0]}), pd.DataFrame({"a": [2.0]}), ["a", "c"], 0.1)


def test_drift_of_an_empty_column_is_an_error_naming_it():
    with pytest.raises(ValueError, match="'a' has no values"):
        monitoring.column_drift(pd.Series([np.nan], name="a"), pd.Series([1.0], name="a"))


def _backtest(months, windows=(1, 3)):
    calls = []

    def score_window(window, month):
        calls.append((tuple(window), month))
        return float(len(window))  # a window's score is its length: easy to read back

    rows = monitoring.walk_forward(
        months,
        windows,
        score_window,
        lambda train, month: 9.0,
        lambda month: ("7", 5.0) if month >= "2013-03" else None,
    )
    return rows, calls


def test_walk_forward_trains_on_the_months_before_each_month_only():
    months = ["2013-04", "2013-01", "2013-02", "2013-03"]  # any order in
    rows, calls = _backtest(months)
    assert {m for _, m in calls} == {"2013-02", "2013-03", "2013-04"}
    for window, month in calls:
        assert all(w < month for w in window)  # never the month it is scored on
    # a 3-month window first exists for the 4th month
    assert [(w, m) for w, m in calls if len(w) == 3] == [(("2013-01", "2013-02", "2013-03"), "2013-04")]
    champion = [r for r in rows if r.policy == monitoring.KEEP_CHAMPION]
    assert [(r.month, r.trained_on) for r in champion] == [("2013-03", "version 7"), ("2013-04", "version 7")]
    baseline = [r for r in rows if r.policy == monitoring.COURSE_BASELINE]
    assert [r.trained_on for r in baseline] == ["2013-01", "2013-02", "2013-03"]


def test_a_source_with_gaps_trains_on_its_newest_earlier_months():
    rows, calls = _backtest(["2021-01", "2021-03", "2022-01"], windows=(1,))
    assert [(w, m) for w, m in calls] == [(("2021-01",), "2021-03"), (("2021-03",), "2022-01")]


def test_a_window_with_a_gap_is_the_one_the_pipeline_would_train_on(tmp_path):
    """A k-month window is the k calendar months ending with the newest month before t that are stored, in the
    backtest, in the window choice and in the model's own training window alike."""
    from ml_assets.orchestration.assets.ranges import training_months
    from ml_assets_tests.pipelines import load_pipeline

    months = ["2021-01", "2021-02", "2021-04", "2021-05"]  # March missing
    _, calls = _backtest(months, windows=(3,))
    assert calls == [(("2021-02", "2021-04"), "2021-05")]  # not 2021-01, which is 4 calendar months back
    plan = load_pipeline("nyc_flights", tmp_path).plan
    assert training_months(plan, "2021-04", set(months), 3) == ["2021-02", "2021-04"]
    chosen = []
    monitoring.choose_window(
        months, [1, 3], 1, lambda w, m: chosen.append((tuple(w), m)) or 1.0, False, "rmse"
    )
    assert (("2021-02", "2021-04"), "2021-05") in chosen


def test_verdict_compares_policies_on_the_months_they_all_cover():
    rows = [
        monitoring.BacktestRow("2013-02", "retrain monthly on the last month", 10.0, "2013-01"),
        monitoring.BacktestRow("2013-03", "retrain monthly on the last month", 12.0, "2013-02"),
        monitoring.BacktestRow("2013-03", monitoring.KEEP_CHAMPION, 11.0, "version 1"),
    ]
    found = monitoring.verdict(rows, "rmse", higher_is_better=False)
    assert found.months == ["2013-03"]  # 2013-02 has no champion score: not a fair month
    assert found.winner == monitoring.KEEP_CHAMPION and found.means[monitoring.KEEP_CHAMPION] == 11.0
    assert "keep the champion" in found.sentence and "12.000" in found.sentence
    assert (
        monitoring.verdict(rows, "accuracy", higher_is_better=True).winner
        == "retrain monthly on the last month"
    )
    table = monitoring.backtest_markdown(rows, found, "rmse")
    assert "| 2013-02 | 10.000 | – |" in table


def test_verdict_without_a_common_month_says_so():
    rows = [
        monitoring.BacktestRow("2013-02", "a", 1.0, "x"),
        monitoring.BacktestRow("2013-03", "b", 1.0, "x"),
    ]
    found = monitoring.verdict(rows, "rmse", False)
    assert found.winner is None and "Too few months" in found.sentence


def test_model_card_names_data_metrics_and_limitations():
    card = monitoring.model_card(
        "m",
        "3",
        "nyc_flights",
        "regression",
        "2013-01",
        27004,
        ["origin", "distance"],
        {"rmse": 9.87654},
        evaluation={"val_rmse": 10.5},
        limitations=["one month only"],
    )
    assert card.startswith("# m version 3")
    assert "2013-01, 27,004 rows" in card and "rmse 9.877" in card and "origin, distance" in card
    assert "## Evaluation" in card and "val_rmse**: 10.500" in card and "- one month only" in card


def test_monitoring_yaml_refuses_bad_settings():
    with pytest.raises(ValueError, match="backtest_windows"):
        MonitoringSpec(backtest_windows=[0])
    with pytest.raises(ValueError, match="retrain"):
        MonitoringSpec(retrain="sometimes")
    with pytest.raises(ValueError, match="max_feature_drift"):
        MonitoringSpec(drift={"max_feature_drift": 1.5})


def test_a_month_after_a_gap_is_marked_in_the_table():
    assert monitoring.after_a_gap(["2021-01", "2021-02", "2022-01", "2021-03"]) == {"2022-01"}
    assert monitoring.after_a_gap(["2012-12", "2013-01"]) == set()  # across a year end is no gap
    rows = [
        monitoring.BacktestRow("2021-02", monitoring.window_policy(1), 5.0, "2021-01"),
        monitoring.BacktestRow("2022-01", monitoring.window_policy(1), 6.0, "2021-02"),
    ]
    table = monitoring.backtest_markdown(rows, monitoring.verdict(rows, "rmse", False), "rmse")
    assert "| 2022-01 † | 6.000 |" in table and "| 2021-02 | 5.000 |" in table
    assert "† the month before has no data" in table


def _gate_history(scores: dict, checks: dict, margin: float, first_champion: str | None) -> dict:
    """Gate records as the champion step stores them, gated month by month from `first_champion` (None: a fresh
    history; a version: the alias a re-run of these months found, the model of a later month). Each month's
    candidate is version "v<month>"; `scores[(version, month)]` its score on a month."""
    from ml_assets.tracking import decide_champion

    standing, gates = first_champion, {}
    for month in sorted({m for _, m in scores}):
        candidate = f"v{month}"
        if (candidate, month) not in scores:
            gates[month] = {"candidate_version": None, "champion_version": standing}
            continue
        standing_score = scores[(standing, month)] if standing else None
        decision = decide_champion(
            candidate, scores[(candidate, month)], checks[month], standing, standing_score, margin
        )
        gates[month] = {
            "candidate_version": candidate,
            "candidate_score": scores[(candidate, month)],
            "checks_passed": checks[month],
            "previous_champion_version": standing,
            "promoted": decision.promote,
            "champion_version": candidate if decision.promote else standing,
            "reason": decision.reason,
        }
        standing = gates[month]["champion_version"]
    return gates


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 9),
    seed=st.integers(0, 2**31 - 1),
    margin=st.sampled_from([0.0, 0.02]),
)
def test_keep_the_champion_replays_the_gates_from_none(n, seed, margin):
    """The backtest's "keep the champion" is the chain of a fresh history, whatever champion the stored gates faced: a
    re-run of these months that found the model of a later month as the alias gives the same figures."""
    from ml_assets.tracking import decide_champion

    rng = np.random.default_rng(seed)
    months = [f"2013-{m:02d}" for m in range(1, n + 1)]
    versions = ["vlater"] + [f"v{m}" for m in months]
    scores = {(v, m): float(rng.uniform(5, 10)) for v in versions for m in months if v != f"v{months[0]}"}
    checks = {m: bool(rng.random() > 0.2) for m in months}

    def promotes(candidate, candidate_score, passed, champion, champion_score):
        return decide_champion(candidate, candidate_score, passed, champion, champion_score, margin).promote

    def score(version, month):
        return scores[(version, month)]

    fresh = _gate_history(scores, checks, margin, None)
    replayed = monitoring.replay_champion(months, fresh, score, promotes)
    # a fresh history: the champion standing at t is the one the gate before t left, scored on t
    for at, month in enumerate(months):
        before = [fresh[m]["champion_version"] for m in months[:at] if fresh[m]["champion_version"]]
        assert replayed.get(month) == ((before[-1], scores[(before[-1], month)]) if before else None)
    # gates that faced a later month's model (a re-run) replay to the same figures, and never to that model
    rerun = _gate_history(scores, checks, margin, "vlater")
    assert monitoring.replay_champion(months, rerun, score, promotes) == replayed
    assert all(version != "vlater" for version, _ in replayed.values())
    # a candidate that failed a blocking check never stands (gates stored without `checks_passed` say so in reason)
    failed = {f"v{m}" for m in months if not checks[m]}
    assert not failed & {version for version, _ in replayed.values()}
    legacy = {m: {k: v for k, v in g.items() if k != "checks_passed"} for m, g in fresh.items()}
    assert monitoring.replay_champion(months, legacy, score, promotes) == replayed
