from upath import UPath

from ml_assets import checks
from ml_assets.features import DurationBounds, build_trip_features
from ml_assets.sources.taxi import read_taxi_month


def _by_name(results):
    return {r.check_name: r for r in results}


def test_raw_checks_pass_on_real_month_with_stray_timestamps(tlc_dir):
    raw = read_taxi_month(UPath(tlc_dir / "green_tripdata_2022-03.parquet"), "green", "2022-03")
    results = _by_name(checks.raw_trip_checks(raw, "2022-03", max_outside_share=0.01))
    assert all(r.passed for r in results.values())
    assert results[checks.RAW_PICKUPS_IN_MONTH].metadata["rows_outside_month"].value == 24  # PROVENANCE.md


def test_raw_checks_fail_on_wrong_month_schema_and_negative_distance(tlc_dir):
    raw = read_taxi_month(UPath(tlc_dir / "green_tripdata_2021-01.parquet"), "green", "2021-01")
    broken = raw.drop(columns=["origin"]).assign(distance=-raw["distance"])
    results = _by_name(checks.raw_trip_checks(broken, "2021-02", max_outside_share=0.01))
    assert not results[checks.RAW_SCHEMA].passed
    assert "missing column 'origin'" in results[checks.RAW_SCHEMA].metadata["problems"].value
    assert not results[checks.RAW_PICKUPS_IN_MONTH].passed  # January's trips are not February's
    assert not results[checks.RAW_NO_NEGATIVE_DISTANCE].passed
    assert not _by_name(checks.raw_trip_checks(raw.iloc[:0], "2021-01", 0.01))[checks.RAW_NOT_EMPTY].passed


def test_feature_checks_enforce_nulls_range_and_retention(tlc_dir):
    raw = read_taxi_month(UPath(tlc_dir / "green_tripdata_2021-01.parquet"), "green", "2021-01")
    features, _ = build_trip_features(raw, "2021-01", DurationBounds(1, 60))
    ok = _by_name(checks.feature_checks(features, "2021-01", len(raw), DurationBounds(1, 60), 0.9))
    assert all(r.passed for r in ok.values())
    assert ok[checks.FEATURES_RETENTION].metadata["retention_ratio"].value == round(len(features) / len(raw), 4)
    broken = features.copy()
    broken.loc[0, "distance"] = None
    bad = _by_name(checks.feature_checks(broken, "2021-01", len(raw), DurationBounds(1, 30), 0.99))
    assert not bad[checks.FEATURES_NO_NULLS].passed
    assert not bad[checks.FEATURES_TARGET_IN_RANGE].passed
    assert not bad[checks.FEATURES_RETENTION].passed


def test_evaluation_checks():
    good = _by_name(checks.evaluation_checks(month="2021-02", rmse=5.0, mean_predictor_rmse=12.0, course_baseline_rmse=7.7, max_rmse=10))
    assert all(r.passed for r in good.values())
    assert {r.metadata["month"].value for r in good.values()} == {"2021-02"}  # the UI shows no partition for these
    bad = _by_name(checks.evaluation_checks(month="2021-02", rmse=8.0, mean_predictor_rmse=7.0, course_baseline_rmse=7.7, max_rmse=7.9))
    assert not any(r.passed for r in bad.values())


def test_every_check_is_blocking_and_described():
    for names in (checks.RAW_CHECKS, checks.FEATURE_CHECKS, checks.EVALUATION_CHECKS):
        for spec in checks.check_specs("some_asset", names):
            assert spec.blocking and spec.description
