"""What keeps a big table's cost bounded changes no figure: scoring a part at a time gives what one call gives, and
cross-validation on a sample is seeded, sized as declared and stated."""

import copy

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_assets.learning import Fitted
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
        "model_output",
        lambda m, part: parts.append(len(part)) or type(task).model_output(task, m, part),
    )
    in_parts = task.predicted_rows(model, rows)
    assert parts == [37] * 13 + [500 - 13 * 37]
    pd.testing.assert_frame_equal(in_parts, at_once)
    # the scored frame is built around the inputs' own columns, not a copy of the table
    assert np.shares_memory(in_parts["x"].to_numpy(), rows["x"].to_numpy())
    X, y = task.xy(rows)
    expected = task.transformed_inputs(model, X).assign(actual=y)
    if task_kind == "classification":
        probabilities = model.predict_proba(X)
        expected = expected.assign(
            prediction=model.classes_[probabilities.argmax(axis=1)], probability=probabilities.max(axis=1)
        )
    else:
        expected = expected.assign(prediction=model.predict(X))
    pd.testing.assert_frame_equal(in_parts, expected.reset_index(drop=True))
    X, _ = task.xy(rows)
    np.testing.assert_array_equal(modeling.in_row_chunks(model.predict, X, rows=37), model.predict(X))


@pytest.mark.parametrize("task_kind", ["regression", "classification"])
@pytest.mark.parametrize("metric_rows", [50, 10_000])
def test_the_rows_training_measured_on_are_scored_as_predicted_rows_scores_them(task_kind, metric_rows):
    """The model step's drift reference is the training metrics' sample as `train` scored it: the same frame (rows,
    columns, dtypes, values) as predicting that seeded sample again, a class the model never saw included."""
    task = task_of(
        task_kind,
        monthly=True,
        features={"categorical": ["zone"], "numeric": ["x", "z"], "encoding": "onehot"},
    )
    rows = frame(400, task_kind)
    if task_kind == "classification":  # a label the model is fitted without, scored among the classes
        model = task.build_model(rows).fit(*task.xy(rows[rows["label"] != "mid"]))
        prefit = Fitted(model, {})
    else:
        prefit = None
    trained = task.train(rows, prefit=prefit, metric_rows=metric_rows)
    again = task.predicted_rows(trained.model, modeling.reference_sample(rows, metric_rows))
    pd.testing.assert_frame_equal(trained.measured, again)
    assert len(trained.measured) == min(metric_rows, len(rows))
    assert task.train(rows, prefit=prefit).measured is None


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


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 2_000_000),
    st.one_of(st.none(), st.integers(20, 1_000_000)),
    st.one_of(st.none(), st.integers(1, 30)),
)
def test_unset_repeats_keep_the_rows_cross_validated_within_the_cap(rows, cv_max_rows, cv_repeats):
    """A big table is cross-validated once, not ten times: with `cv_repeats` unset, repeats x rows stays within
    `cv_max_rows` (100,000 when it is null) unless one repetition is already over it; a small table gets 10."""
    from ml_assets.config import EvaluationSpec

    spec = EvaluationSpec(cv_max_rows=cv_max_rows, cv_repeats=cv_repeats)
    repeats = spec.repeats_for(rows)
    if cv_repeats is not None:
        assert repeats == cv_repeats
        return
    budget = 100_000 if cv_max_rows is None else cv_max_rows
    assert 1 <= repeats <= 10
    assert repeats * rows <= budget or repeats == 1
    assert repeats == 10 or (repeats + 1) * rows > budget  # no repetition left out that fits


@pytest.mark.parametrize(("cv_max_rows", "repeats"), [(200, 1), (2_000, 2), (None, 10)])
def test_the_report_scores_and_states_as_many_folds_as_the_unset_repeats_give(cv_max_rows, repeats):
    task = task_of(
        "classification",
        evaluation={"cv_folds": 3, "cv_repeats": None, "cv_max_rows": cv_max_rows, "cv_jobs": 1},
    )
    assert task.evaluation.cv_repeats is None
    rows = frame(900, "classification")
    trained = task.train(rows)
    report = task.evaluate_cross_validated(trained.model, rows, None, (None, None))
    cv = report.report["cv"]
    assert cv["repeats"] == repeats
    paired = cv["paired"]
    assert paired["wins"] + paired["ties"] + paired["losses"] == 3 * repeats  # the folds scored
    plural = "s" if repeats > 1 else ""
    assert (
        f"## Cross-validation: 3 folds x {repeats} repeat{plural} (`evaluation.cv_repeats` unset"
        in report.markdown
    )
    assert f"On the same {3 * repeats} folds" in report.markdown


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from(["yes", "no", "maybe", "b", "A", "a b"]), min_size=12, max_size=300),
    st.integers(0, 2**31 - 1),
    st.booleans(),
)
def test_the_held_out_split_and_the_cv_sample_are_those_the_labels_themselves_give(labels, seed, as_numbers):
    """Classes are split by their codes (no sort of millions of strings): the same rows as scikit-learn's stratified
    split of the labels themselves, for text and for number labels."""
    from sklearn.model_selection import train_test_split

    y = np.array([len(v) * 10 + ord(v[0]) for v in labels] if as_numbers else labels, dtype=object)
    task = task_of("classification", evaluation={"random_state": seed, "cv_max_rows": 20, "cv_folds": 2})
    try:
        expected = train_test_split(
            np.arange(len(y)), test_size=task.evaluation.holdout_share, random_state=seed, stratify=y
        )
    except ValueError:  # a class of one row, or more classes than held-out rows: refused alike
        with pytest.raises(ValueError):
            task.split(y)
        return
    train, test = task.split(y)
    np.testing.assert_array_equal(train, expected[0])
    np.testing.assert_array_equal(test, expected[1])

    class StratifiedByLabels(type(task)):
        def stratify(self, y):
            return y

    by_labels = copy.copy(task)
    by_labels.__class__ = StratifiedByLabels
    np.testing.assert_array_equal(task.cv_rows(y), by_labels.cv_rows(y))


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


def test_the_inputs_share_the_frames_columns_and_leave_the_frame_whole():
    task = task_of("regression", features={"categorical": ["zone"], "numeric": ["x", "z"]})
    rows = frame(50, "regression")
    X, y = task.xy(rows)
    assert list(X.columns) == ["x", "zone", "z"] and list(rows.columns) == ["x", "zone", "z", "y"]
    np.testing.assert_array_equal(y, rows["y"].to_numpy())
    assert np.shares_memory(X["x"].to_numpy(), rows["x"].to_numpy())  # no copy of a big table's inputs


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(1, 4),
    st.integers(0, 2**32 - 1),
    st.floats(0, 1),
    st.booleans(),
)
def test_the_median_imputer_fills_what_scikit_learns_simple_imputer_fills(
    rows, columns, seed, missing, empty
):
    from sklearn.impute import SimpleImputer

    from ml_assets.learning.inputs import MedianImputer

    rng = np.random.default_rng(seed)
    values = rng.integers(-3, 4, size=(rows, columns)).astype(float) / 2  # ties and even counts
    values[rng.uniform(size=values.shape) < missing] = np.nan
    if empty:
        values[:, 0] = np.nan
    fitted = pd.DataFrame(values, columns=[f"c{j}" for j in range(columns)])
    scored = pd.DataFrame(rng.normal(size=(9, columns)), columns=fitted.columns)
    scored.iloc[::2] = np.nan
    theirs = SimpleImputer(strategy="median", keep_empty_features=True).fit(fitted)
    ours = MedianImputer().fit(fitted)
    np.testing.assert_array_equal(ours.statistics_, theirs.statistics_)
    np.testing.assert_array_equal(ours.transform(scored), theirs.transform(scored))
    assert list(ours.get_feature_names_out()) == list(theirs.get_feature_names_out())
    assert scored.iloc[::2].isna().all().all()  # the rows scored are left as they were


def test_a_table_read_whole_is_not_kept_and_a_month_cut_from_one_file_is_parsed_once(tmp_path, monkeypatch):
    import gc
    import weakref

    from ml_assets.sources import table
    from ml_assets.sources.table import TableSpec

    stamps = pd.date_range("2024-01-01", periods=60, freq="D")
    pd.DataFrame({"at": stamps, "x": np.arange(60.0)}).to_parquet(tmp_path / "t.parquet")
    source = TableSpec(kind="parquet", path=str(tmp_path / "t.parquet")).build()
    whole, _ = source.load(None, str(tmp_path / "cache"))
    held = weakref.ref(whole)
    del whole
    gc.collect()
    assert held() is None and not table._month_slice_table

    parses = []
    parse = table.parse_table
    monkeypatch.setattr(table, "parse_table", lambda *a: parses.append(1) or parse(*a))
    monthly = TableSpec(kind="parquet", path=str(tmp_path / "t.parquet"), time_column="at").build()
    january, _ = monthly.load("2024-01", str(tmp_path / "cache"))
    january["x"] = -1.0  # a month is the caller's own: the next month is cut from the table as read
    february, _ = monthly.load("2024-02", str(tmp_path / "cache"))
    assert len(parses) == 1
    assert (len(january), len(february)) == (31, 29)
    assert february["x"].tolist() == [float(d) for d in range(31, 60)]


def test_memory_a_step_freed_below_the_heap_s_top_is_handed_back_before_the_next_step_reads():
    """glibc keeps freed memory below its heap's top for reuse (a big table's step frees gigabytes of such
    pieces); `release_memory`, which the stores call before a step reads its inputs, hands it back."""
    from ml_assets.files import release_memory

    def resident_mb() -> float:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024

    pieces = [np.ones(100_000 // 8) for _ in range(3000)]  # 100 kB each: from the heap, not mapped alone
    top = np.ones(100_000 // 8)  # allocated last: the heap's top stays in use
    del pieces
    freed = resident_mb()
    release_memory()
    assert freed - resident_mb() > 200, (freed, resident_mb())
    assert top.sum() == 100_000 // 8


def part_values(kind: str, rows: int, rng) -> pd.Series:
    if kind == "number":
        return pd.Series([rng.choice([0.5, float("nan"), 2.0]) for _ in range(rows)], dtype="float64")
    if kind == "count":
        return pd.Series([rng.randint(-5, 5) for _ in range(rows)], dtype="int64")
    if kind == "flag":
        return pd.Series([rng.random() < 0.5 for _ in range(rows)], dtype="bool")
    return pd.Series([rng.choice(["a", None]) for _ in range(rows)], dtype=object)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(["number", "count", "flag", "text", "category"]), min_size=1, max_size=4),
    st.integers(0, 40),
    st.randoms(use_true_random=False),
)
def test_rows_kept_in_place_are_the_rows_iloc_takes_in_their_order(kinds, rows, rng):
    """`keep_rows_in_place` turns the frame itself into `frame.iloc[positions]` (the positions' order, values, dtypes
    and the positions as the index), for any subset of the rows in any order, whatever its columns hold."""
    from ml_assets.tasks.modeling import keep_rows_in_place

    frame = pd.DataFrame(
        {
            f"c{i}": part_values("text" if kind == "category" else kind, rows, rng)
            for i, kind in enumerate(kinds)
        }
    )
    for i, kind in enumerate(kinds):
        if kind == "category":
            frame[f"c{i}"] = frame[f"c{i}"].astype("category")
    positions = np.array(rng.sample(range(rows), rng.randint(0, rows)), dtype=np.int64)
    expected = frame.iloc[positions]
    kept = keep_rows_in_place(frame, positions)
    assert kept is frame
    pd.testing.assert_frame_equal(kept, expected, check_exact=True)


def test_a_tables_training_rows_cut_in_place_free_the_whole_table_and_train_the_same_model():
    """A table's features cut down to its training rows in place (the model step's input, held by Dagster for the
    whole step): the whole table's column arrays are freed, and the model trained so is the one trained on a copy."""
    import weakref

    def array_of(
        column: pd.Series,
    ) -> np.ndarray:  # the array pandas keeps the column in (a 2D block for numbers)
        values = column.to_numpy()
        while values.base is not None:
            values = values.base
        return values

    task = task_of("regression")
    features = frame(20_000, "regression")
    whole = copy.deepcopy(features)
    arrays = [weakref.ref(array_of(features[name])) for name in features.columns]
    trained = task.train(features, random_state=0, consume=True)
    train, _ = task.split(whole["y"].to_numpy())
    pd.testing.assert_frame_equal(features, whole.iloc[train])  # the caller's frame is now the training rows
    assert [array() for array in arrays] == [None] * len(arrays)  # and the whole table is gone
    on_a_copy = task.train(whole, random_state=0)
    assert on_a_copy.metadata == trained.metadata and len(whole) == 20_000
    np.testing.assert_array_equal(trained.model.predict(whole), on_a_copy.model.predict(whole))
