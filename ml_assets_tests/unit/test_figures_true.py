"""Every figure a report shows is what the stored model gives on the stored rows: faults an audit found, each pinned."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score

from ml_assets_tests.unit.shapes import task_of


def rows(x: list[float], labels: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"x": np.asarray(x, dtype=float), "label": labels})


def test_a_window_model_is_scored_over_every_class_it_knows():
    """A 3-month model knows a class that neither the month before nor the scored month holds: its votes for that class
    are wrong answers, not votes for the runner-up (the report said 0.806 where the model scored 0.484)."""
    task = task_of("classification", monthly=True, window=3)
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, 600)
    window = rows(x, np.where(x < -1, "a", np.where(x < 1, "b", "c")).tolist())
    model = task.build_model(window).fit(*task.xy(window))
    assert list(model.classes_) == ["a", "b", "c"]
    # the month before and the scored month hold a and b only; the scored month's large x are labelled b
    before = rows(rng.uniform(-3, 1, 200).tolist(), ["a"] * 100 + ["b"] * 100)
    scored_x = rng.uniform(-3, 3, 300)
    scored = rows(scored_x, np.where(scored_x < -1, "a", "b").tolist())
    evaluated = task.evaluate_next_month(model, {"2020-02": before, "2020-03": scored}, "2020-03", None, None, (None, None))
    truth = accuracy_score(scored["label"], model.predict(scored[["x"]]))
    assert truth < 0.8  # the model calls a third of the month c
    assert evaluated.report["score"] == pytest.approx(truth, abs=1e-12)
    assert evaluated.report["metrics"]["model"]["accuracy"] == pytest.approx(truth, abs=1e-12)
    # the walk-forward backtest scores a stored model on a month through the same call
    assert task.score(model, scored) == pytest.approx(truth, abs=1e-12)


def test_probabilities_are_never_dropped_silently():
    task = task_of("classification")
    frame = rows([-2, -1, 0, 1, 2, 3] * 10, ["a", "a", "b", "b", "c", "c"] * 10)
    model = task.build_model(frame).fit(*task.xy(frame))
    with pytest.raises(ValueError, match=r"class\(es\) \['c'\]"):
        task.predict_output(model, frame[["x"]], np.array(["a", "b"]))
    full = task.predict_output(model, frame[["x"]], np.array(["a", "b", "c", "d"]))
    np.testing.assert_allclose(full.sum(axis=1), 1.0)
