"""What keeps a big table's cost bounded changes no figure: scoring a part at a time gives what one call gives, and
cross-validation on a sample is seeded, sized as declared and stated."""

import numpy as np
import pandas as pd
import pytest

from ml_assets.tasks import modeling
from ml_assets_tests.unit.shapes import task_of


def frame(rows: int, task: str, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    zone = rng.choice(["north", "south", "east"], size=rows).astype(object)
    zone[rng.uniform(size=rows) < 0.1] = None
    out = pd.DataFrame({"x": x, "zone": zone, "z": rng.uniform(0, 10, rows)})
    if task == "regression":
        out["y"] = 2 * x + (zone == "north") + rng.normal(0, 0.3, rows)
    else:
        out["label"] = np.where(x > 0.5, "high", np.where(x < -0.5, "low", "mid"))
    return out


@pytest.mark.parametrize("task_kind", ["regression", "classification"])
def test_rows_scored_a_part_at_a_time_are_the_rows_scored_at_once(task_kind, monkeypatch):
    task = task_of(task_kind, features={"categorical": ["zone"], "numeric": ["x", "z"], "encoding": "onehot"})
    rows = frame(500, task_kind)
    model = task.build_model(rows).fit(*task.xy(rows))
    at_once = task.predicted_rows(model, rows)
    monkeypatch.setattr(modeling, "SCORED_AT_ONCE", 37)  # 14 parts, the last one short
    parts = []
    monkeypatch.setattr(
        task,
        "predicted_part",
        lambda m, part: parts.append(len(part)) or type(task).predicted_part(task, m, part),
    )
    in_parts = task.predicted_rows(model, rows)
    assert parts == [37] * 13 + [500 - 13 * 37]
    pd.testing.assert_frame_equal(in_parts, at_once)
    X, _ = task.xy(rows)
    np.testing.assert_array_equal(modeling.in_row_chunks(model.predict, X, rows=37), model.predict(X))


def test_a_table_over_cv_max_rows_is_cross_validated_on_a_seeded_sample_the_report_states():
    task = task_of("regression", evaluation={"cv_folds": 3, "cv_repeats": 1, "cv_max_rows": 200})
    rows = frame(900, "regression")
    _, y = task.xy(rows)
    sample = task.cv_rows(y)
    assert len(sample) == 200 and np.array_equal(sample, np.sort(np.unique(sample)))
    assert np.array_equal(sample, task.cv_rows(y))  # seeded
    other = task_of(
        "regression", evaluation={"cv_folds": 3, "cv_repeats": 1, "cv_max_rows": 200, "random_state": 7}
    )
    assert not np.array_equal(sample, other.cv_rows(y))
    trained = task.train(rows)
    report = task.evaluate_cross_validated(trained.model, rows, None, (None, None))
    assert report.report["cv"]["rows"] == 200 and report.report["cv"]["sampled"]
    assert (
        report.report["rows"] == 900 and report.report["holdout"]["rows"] == 180
    )  # the whole table's held-out fifth
    assert "On a sample of 200 of the 900 rows (`evaluation.cv_max_rows`" in report.markdown
    unlimited = task_of("regression", evaluation={"cv_folds": 3, "cv_repeats": 1, "cv_max_rows": None})
    assert unlimited.cv_rows(y) is None
    assert (
        unlimited.evaluate_cross_validated(trained.model, rows, None, (None, None)).report["cv"]["rows"]
        == 900
    )


def test_a_rare_class_keeps_a_fold_s_worth_of_rows_in_the_sample():
    task = task_of("classification", evaluation={"cv_folds": 3, "cv_repeats": 1, "cv_max_rows": 50})
    y = np.array(["common"] * 995 + ["rare"] * 5, dtype=object)
    sample = task.cv_rows(y)
    assert (y[sample] == "rare").sum() == 3 and len(sample) >= 50


def test_cross_validation_on_two_processes_leaves_no_worker_process_behind():
    """joblib keeps its workers 300 s after a parallel call, and a step's process (started by Dagster's multiprocess
    executor through multiprocessing) waits for every child it has before it exits: a table's evaluation step then
    outlived its work by five minutes. After the call, no child process is left to wait for."""
    import multiprocessing

    task = task_of("regression", evaluation={"cv_folds": 2, "cv_repeats": 2})
    rows = frame(300, "regression")
    trained = task.train(rows)
    task.evaluate_cross_validated(trained.model, rows, None, (None, None), jobs=2)
    assert multiprocessing.active_children() == []
