"""dev.py, the fresh-machine entry point: the asset backfill it launches."""

from benchmarks.backfill import timed_backfill
from dev import backfill_params

FLIGHT_MONTHS = [f"2013-{m:02d}" for m in range(1, 13)]


def _ranges(params: dict) -> dict[str, tuple[str, str]]:
    return {
        p["assetKey"]["path"][0]: (p["partitions"]["range"]["start"], p["partitions"]["range"]["end"])
        for p in params["partitionsByAssets"]
    }


def test_backfill_from_the_first_month_evaluates_from_the_second():
    ranges = _ranges(backfill_params(FLIGHT_MONTHS[:3], FLIGHT_MONTHS))
    assert ranges["raw_trips"] == ranges["trip_features"] == ranges["duration_model"] == ("2013-01", "2013-03")
    # nothing to evaluate in the source's first month, and never the month after the range
    assert ranges["evaluation_report"] == ranges["champion_model"] == ("2013-02", "2013-03")


def test_backfill_of_later_months_evaluates_every_month():
    ranges = _ranges(backfill_params(FLIGHT_MONTHS[4:6], FLIGHT_MONTHS))
    assert set(ranges.values()) == {("2013-05", "2013-06")}
    assert set(ranges) == {"raw_trips", "trip_features", "duration_model", "evaluation_report", "champion_model"}


def test_backfill_of_only_the_first_month_trains_without_evaluating():
    assert set(_ranges(backfill_params(FLIGHT_MONTHS[:1], FLIGHT_MONTHS))) == {"raw_trips", "trip_features", "duration_model"}


def test_backfill_runs_to_success_through_the_daemon():
    # a real dagster-daemon and the launch dev.py sends: a range ending before the last month
    # must not pull in the next month's evaluation (that ended the backfill failed)
    result = timed_backfill(2, FLIGHT_MONTHS[:2], timeout_s=600)
    assert result["status"] == "COMPLETED_SUCCESS", result
    assert result["runs"] >= 2
