"""Property tests: generated small tables across the shapes a pipeline may declare (task, labels, partitioning, window,
classes that come and go, gaps, constant and high-cardinality columns, every catalog estimator with every encoding).

Whatever the shape, each month either is refused with a message naming a setting or a row, or it yields a report whose
every figure the re-computation from the stored model and rows confirms, and classification probabilities that sum
to 1. This runs the steps' pure functions in the pipeline's order (features, model on the window, evaluation on the
next month or cross-validation) without Dagster, so it stays in the unit tier."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ml_assets.learning.catalog import NAMED
from ml_assets.tasks.recompute import recompute_report
from ml_assets_tests.unit.shapes import task_of

ENCODINGS = ["auto", "onehot", "ordinal", "target", "none"]
MONTHS = ["2020-01", "2020-02", "2020-03", "2020-04"]
SETTINGS = ("target.", "features.", "source.", "estimator.", "the source delivered no rows", "partitioning.")


# small ensembles: the shapes are what is tested, not the estimators' defaults
SMALL = {
    "k_neighbors": {"n_neighbors": 3},
    "random_forest": {"n_estimators": 10},
    "extra_trees": {"n_estimators": 10},
    "gradient_boosting": {"n_estimators": 20},
    "hist_gradient_boosting": {"max_iter": 20},
    "linear_then_boosted_trees": {"linear_categorical": ["zone"], "linear_numeric": ["x"], "max_iter": 10},
}


def estimators(task: str) -> list[str]:
    return sorted(name for name, by_task in NAMED.items() if task in by_task)


@st.composite
def shapes(draw, partitionings: tuple, estimator: str | None = None) -> dict:
    task = draw(st.sampled_from(["regression", "classification"]))
    shape = {
        "task": task,
        "monthly": draw(st.sampled_from(partitionings)),
        "window": draw(st.integers(1, 6)),
        "estimator": estimator or draw(st.sampled_from(estimators(task))),
        "encoding": None,
        "text_labels": draw(st.booleans()),
        "classes": draw(st.integers(2, 4)),
        "seed": draw(st.integers(0, 2**16)),
        "gaps": draw(st.sampled_from([0.0, 0.1, 0.4])),
        "high_cardinality": draw(st.booleans()),
        "cv_max_rows": draw(st.sampled_from([None, None, 25])),  # 25: a table's cross-validation on a sample
    }
    # none (text refused) less often; native codes where the estimator splits on categories itself
    native = ["native"] if shape["estimator"] == "hist_gradient_boosting" else []
    shape["encoding"] = draw(st.sampled_from([*ENCODINGS[:4], *ENCODINGS, *native * 2]))
    months = len(MONTHS) if shape["monthly"] else 1
    # mostly enough rows to train on; now and then one below quality.min_rows, or an empty month
    rows = draw(st.lists(st.sampled_from([40, 60, 80, 40, 60, 80, 12]), min_size=months, max_size=months))
    empty = draw(st.sampled_from([*[None] * 2 * months, *range(months)]))
    shape["rows"] = [0 if i == empty else n for i, n in enumerate(rows)]
    # the classes each month holds: all of them, a subset (classes come and go), or a single one
    shape["present"] = draw(
        st.lists(st.sampled_from(["all", "all", "subset", "subset", "one"]), min_size=months, max_size=months)
    )
    return shape


def table(shape: dict, month_index: int) -> pd.DataFrame:
    rng = np.random.default_rng(shape["seed"] + month_index)
    rows = shape["rows"][month_index]
    x = rng.normal(size=rows)
    zone = rng.choice(["north", "south", "east"], size=rows)
    frame = pd.DataFrame(
        {
            "x": x,
            "z": rng.uniform(0, 10, rows),
            "constant": np.full(rows, 1.0),
            "zone": zone,
            "place": [f"p{i + 100 * month_index}" for i in range(rows)]
            if shape["high_cardinality"]
            else rng.choice(["a", "b"], rows),
        }
    )
    for column in ("z", "zone"):
        frame.loc[rng.uniform(size=rows) < shape["gaps"], column] = None
    if shape["task"] == "regression":
        frame["y"] = 3 * x + (zone == "north") * 2 + rng.normal(0, 0.5, rows)
    else:
        k = shape["classes"]
        held = {"all": list(range(k)), "subset": list(range(1, k)), "one": [month_index % k]}[
            shape["present"][month_index]
        ]
        codes = (
            np.digitize(x, np.quantile(x, np.linspace(0, 1, len(held) + 1)[1:-1]))
            if rows
            else np.array([], dtype=int)
        )
        labels = np.asarray(held)[np.clip(codes, 0, len(held) - 1)]
        frame["label"] = [f"class-{c}" for c in labels] if shape["text_labels"] else labels
    if shape["monthly"] == "time_column":
        start = pd.Timestamp(MONTHS[month_index] + "-01")
        frame["when"] = start + pd.to_timedelta(rng.uniform(0, 27 * 24, rows), unit="h")
    return frame


def declare(shape: dict):
    overrides = {
        "estimator": {"kind": shape["estimator"], "params": SMALL.get(shape["estimator"], {})},
        "features": {
            "encoding": shape["encoding"],
            "categorical": ["zone", "place"],
            "numeric": ["x", "z", "constant"],
        },
        "quality": {"min_retention_ratio": 0.0},
        "evaluation": {"cv_max_rows": shape["cv_max_rows"]},
    }
    if shape["monthly"] == "month_path":
        overrides["source"] = {"path": "/nonexistent/{month}.csv"}
    return task_of(shape["task"], monthly=bool(shape["monthly"]), window=shape["window"], **overrides)


def refusal_names_a_setting(problem: str) -> bool:
    return any(s in problem for s in SETTINGS) or "row" in problem


def stored(frame: pd.DataFrame) -> pd.DataFrame:
    """What the features IO manager gives back: the frame through Parquet."""
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return pd.read_parquet(io.BytesIO(buffer.getvalue()))


def featured(task, shape: dict) -> dict[str, pd.DataFrame]:
    """Each month's features, as the features step stores them when its blocking checks pass."""
    out = {}
    for i, month in enumerate(MONTHS if shape["monthly"] else [None]):
        raw = table(shape, i)
        problems = task.refusals(raw)
        if problems:  # raw_data refuses the month before storing anything: the message names what to fix
            assert all(refusal_names_a_setting(p) for p in problems), problems
            event(f"a month refused: {' '.join(problems[0].split(' ')[:6])}")
            continue
        step = task.features(raw, month)
        failed = [r.check_name for r in step.check_results if not r.passed]
        # a blocking check stops the month here, named by the check (its description names the setting)
        if failed:
            event(f"a month stopped by {', '.join(failed)}")
            continue
        out[month] = stored(step.value)
    return out


def check_report(task, report: dict, model, features) -> None:
    figures = recompute_report(task, json.loads(json.dumps(report, default=str)), model, features)
    assert figures and all(f.agrees for f in figures), [str(f) for f in figures if not f.agrees]


EXAMPLES = {
    "max_examples": 30,
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow],
    "derandomize": True,
}


@settings(**EXAMPLES)
@given(shapes(partitionings=(None,)))
def test_every_table_shape_yields_a_confirmed_cross_validated_report_or_a_named_refusal(shape):
    confirm_table_shape(shape)


@settings(**EXAMPLES)
@given(shapes(partitionings=("time_column", "month_path")))
def test_every_monthly_shape_yields_confirmed_next_month_reports_or_named_refusals(shape):
    confirm_monthly_shape(shape)


@settings(**{**EXAMPLES, "max_examples": 16})
@given(shapes(partitionings=(None, "time_column"), estimator="hist_gradient_boosting"))
def test_boosted_trees_splitting_on_categories_yield_confirmed_reports_or_named_refusals(shape):
    """The default encoding of boosted trees (native codes) and the others, through both protocols."""
    (confirm_monthly_shape if shape["monthly"] else confirm_table_shape)(shape)


def confirm_table_shape(shape: dict) -> None:
    task = declare(shape)
    event(f"encoding {shape['encoding']} for {shape['estimator']}")
    features = featured(task, shape)
    if None not in features:
        event("table refused")
        return
    frame = features[None]
    trained = task.train(frame)
    evaluated = task.evaluate_cross_validated(trained.model, frame, None, (None, None))
    check_report(task, evaluated.report, trained.model, frame)
    cv, limit = evaluated.report["cv"], shape["cv_max_rows"]
    if limit is None or len(frame) <= limit:
        assert cv["rows"] == len(frame) and not cv["sampled"]
    else:  # a seeded sample, each class topped up to a fold's worth, and the report says so
        _, y = task.xy(frame)
        assert cv["sampled"] and limit <= cv["rows"] < len(frame), (cv["rows"], len(frame))
        assert f"On a sample of {cv['rows']:,} of the {len(frame):,} rows" in evaluated.markdown
        sample = y[task.cv_rows(y)]
        assert np.array_equal(sample, y[task.cv_rows(y)])
        if shape["task"] == "classification":
            in_table = dict(zip(*np.unique(y, return_counts=True), strict=True))
            in_sample = dict(zip(*np.unique(sample, return_counts=True), strict=True))
            assert all(in_sample.get(k, 0) >= min(3, n) for k, n in in_table.items()), (in_sample, in_table)
        event("table: cross-validated on a sample")
    if shape["task"] == "classification":
        X, y = task.xy(frame)
        output = task.predict_output(trained.model, X, task.classes_for(trained.model, y))
        np.testing.assert_allclose(output.sum(axis=1), 1.0, atol=1e-9)
    event("table: cross-validated report confirmed")


def confirm_monthly_shape(shape: dict) -> None:
    task = declare(shape)
    event(f"encoding {shape['encoding']} for {shape['estimator']}")
    features = featured(task, shape)
    config = None  # the launch-time seed: the YAML's
    reports = 0
    for i, month in enumerate(MONTHS[1:], start=1):
        previous = MONTHS[i - 1]
        if month not in features or previous not in features:
            continue  # nothing to score on, or no model of the month before: the report says which
        window = [m for m in MONTHS[max(0, i - shape["window"]) : i] if m in features]
        rows = pd.concat([features[m] for m in window], ignore_index=True)
        model = task.train(rows, config).model
        pair = {previous: features[previous], month: features[month]}
        evaluated = task.evaluate_next_month(model, pair, month, None, None, (None, None))
        check_report(task, evaluated.report, model, pair)
        if shape["task"] == "classification":
            _, y_before = task.xy(features[previous])
            X, y = task.xy(features[month])
            output = task.predict_output(model, X, task.classes_for(model, y_before, y))
            np.testing.assert_allclose(output.sum(axis=1), 1.0, atol=1e-9)
        reports += 1
    event(f"monthly: {reports} report(s) confirmed")
