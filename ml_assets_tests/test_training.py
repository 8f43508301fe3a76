import numpy as np
import pytest
from upath import UPath

from ml_assets.features import TARGET, DurationBounds, build_trip_features
from ml_assets.sources.flights import normalize_flights, read_flights
from ml_assets.sources.taxi import read_taxi_month
from ml_assets.training import (
    ModelParams,
    course_baseline_predictions,
    course_baseline_predictions_with_dicts,
    evaluate_duration_model,
    model_inputs,
    regression_metrics,
    train_duration_model,
)


def _taxi(tlc_dir, month):
    raw = read_taxi_month(UPath(tlc_dir / f"green_tripdata_{month}.parquet"), "green", month)
    return build_trip_features(raw, month, DurationBounds(1, 60))[0]


def test_course_baseline_reproduces_course_rmse_on_green_taxi(tlc_dir):
    train, valid = _taxi(tlc_dir, "2021-01"), _taxi(tlc_dir, "2021-02")
    rmse = regression_metrics(valid[TARGET].to_numpy(), course_baseline_predictions(train, valid))["rmse"]
    assert rmse == pytest.approx(7.76, abs=0.01)  # the course's published LinearRegression figure


def test_course_baseline_without_dicts_predicts_exactly_what_the_course_construction_does(tlc_dir):
    train, valid = _taxi(tlc_dir, "2022-01"), _taxi(tlc_dir, "2022-02")
    fast, reference = course_baseline_predictions(train, valid), course_baseline_predictions_with_dicts(train, valid)
    assert np.abs(fast - reference).max() < 1e-9


def test_model_beats_course_baseline_on_green_taxi(tlc_dir):
    train, valid = _taxi(tlc_dir, "2021-01"), _taxi(tlc_dir, "2021-02")
    model = train_duration_model(train, ModelParams(route_baseline=False))  # NycTaxiSource's choice
    evaluation, predicted = evaluate_duration_model(model, train, valid, "2021-01", "2021-02")
    assert evaluation.rmse < evaluation.course_baseline_rmse < evaluation.mean_predictor_rmse
    with_route_baseline = train_duration_model(train, ModelParams(route_baseline=True)).predict(model_inputs(valid))
    assert evaluation.rmse < regression_metrics(valid[TARGET].to_numpy(), with_route_baseline)["rmse"]
    assert evaluation.valid_rows == len(valid) == len(predicted)
    assert evaluation.rmse == pytest.approx(regression_metrics(valid[TARGET].to_numpy(), predicted)["rmse"])


def test_model_beats_course_baseline_on_flights():
    flights = read_flights()
    train, valid = (
        build_trip_features(normalize_flights(flights, m), m, DurationBounds(1, 720), day_of_week=False)[0]
        for m in ("2013-01", "2013-02")
    )
    model = train_duration_model(train, ModelParams(route_baseline=True))  # NycFlightsSource's choice
    evaluation, _ = evaluate_duration_model(model, train, valid, "2013-01", "2013-02")
    assert evaluation.course_baseline_rmse == pytest.approx(11.01, abs=0.01)
    assert evaluation.rmse < evaluation.course_baseline_rmse
    trees_alone = train_duration_model(train, ModelParams(route_baseline=False)).predict(model_inputs(valid))
    assert evaluation.rmse < regression_metrics(valid[TARGET].to_numpy(), trees_alone)["rmse"]


def test_training_is_deterministic_and_handles_unseen_routes(tlc_dir):
    train, valid = _taxi(tlc_dir, "2021-01"), _taxi(tlc_dir, "2021-02")
    small = train.sample(5_000, random_state=0)
    first = train_duration_model(small, ModelParams(max_iter=20)).predict(model_inputs(valid))
    second = train_duration_model(small, ModelParams(max_iter=20)).predict(model_inputs(valid))
    assert np.array_equal(first, second)
    assert np.isfinite(first).all()  # valid has routes the 5,000 training trips never saw


def test_empty_training_month_is_refused(tlc_dir):
    with pytest.raises(ValueError, match="empty"):
        train_duration_model(_taxi(tlc_dir, "2021-01").iloc[:0], ModelParams())
