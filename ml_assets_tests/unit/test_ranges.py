"""Per-month step results combined into one materialization of a range of months."""

import dagster as dg

from ml_assets.cli import month_ranges
from ml_assets.months import month_span
from ml_assets.orchestration.assets.ranges import combined_checks, combined_metadata


def _check(name, month, passed, **figures):
    return dg.AssetCheckResult(check_name=name, passed=passed, metadata={"month": month, **figures})


def test_one_month_keeps_its_own_metadata_and_results():
    results = [_check("rmse_within_threshold", "2013-02", True, rmse=10.9)]
    assert combined_checks({"2013-02": results}) == results
    assert combined_metadata({"2013-02": {"rows": 5}}) == {"rows": 5}


def test_a_range_check_fails_if_any_month_failed_and_shows_that_month():
    by_month = {
        "2013-02": [_check("rmse_within_threshold", "2013-02", True, rmse=10.9)],
        "2013-03": [_check("rmse_within_threshold", "2013-03", False, rmse=19.5)],
        "2013-04": [_check("rmse_within_threshold", "2013-04", False, rmse=18.0)],
    }
    (result,) = combined_checks(by_month)
    assert not result.passed
    assert result.metadata["months_judged"].value == "2013-02..2013-04 (3 months)"
    assert result.metadata["months_failed"].value == "2013-03, 2013-04"
    assert result.metadata["figures_of"].value == "2013-03" and result.metadata["rmse"].value == 19.5


def test_a_passing_range_shows_the_newest_month():
    by_month = {m: [_check("c", m, True, rmse=float(i))] for i, m in enumerate(["2013-05", "2013-06"])}
    (result,) = combined_checks(by_month)
    assert (
        result.passed
        and result.metadata["figures_of"].value == "2013-06"
        and result.metadata["rmse"].value == 1.0
    )


def test_range_metadata_names_the_months_and_keeps_plain_figures_per_month():
    metadata = combined_metadata(
        {"2013-02": {"rows": 5, "link": dg.MetadataValue.url("http://x")}, "2013-01": {"rows": 7}}
    )
    assert (
        metadata["months"] == "2013-01..2013-02 (2 months)" == month_span(["2013-01", "2013-02"], count=True)
    )
    assert metadata["by_month"].value == {"2013-01": {"rows": 7}, "2013-02": {"rows": 5}}


def test_chosen_months_become_contiguous_runs_within_the_size_limit():
    keys = ["2013-01", "2013-02", "2013-03", "2013-04", "2013-05"]
    assert month_ranges(keys, keys, None) == [keys]
    assert month_ranges(keys, ["2013-01", "2013-02", "2013-04"], None) == [
        ["2013-01", "2013-02"],
        ["2013-04"],
    ]
    assert month_ranges(keys, keys, 2) == [["2013-01", "2013-02"], ["2013-03", "2013-04"], ["2013-05"]]


def test_months_are_taken_the_same_way_as_dev_py_backfill():
    from ml_assets.cli import months_of_argument, parse_months_argument

    assert parse_months_argument("2013-03") == ["2013-03"]
    assert parse_months_argument("2013-01..2013-03") == ["2013-01", "2013-02", "2013-03"]
    # FIRST LAST is a range
    assert months_of_argument(["2013-01", "2013-03"]) == [
        "2013-01",
        "2013-02",
        "2013-03",
    ]
    assert months_of_argument(["2013-03"]) == ["2013-03"]
    import argparse

    import pytest

    with pytest.raises(argparse.ArgumentTypeError, match="'2013-13' is not a month written YYYY-MM"):
        parse_months_argument("2013-01..2013-13")


def test_months_arguments_as_the_command_line_gives_them():
    from ml_assets.cli import months_of_argument

    assert months_of_argument(["2013-01", "2013-02"]) == ["2013-01", "2013-02"]
    assert months_of_argument(["2013-01..2013-02", "2013-05"]) == ["2013-01", "2013-02", "2013-05"]
    assert months_of_argument(["2013-01", "2013-02", "2013-05"]) == ["2013-01", "2013-02", "2013-05"]
    assert months_of_argument(None) is None


def test_the_run_command_refuses_a_bad_jobs_count_or_month_before_running_anything(
    capsys, tmp_path, monkeypatch
):
    from ml_assets.cli import main

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    assert main(["run", "--jobs", "0"]) == 2
    assert "--jobs is how many pipelines run at once, 1 or more: not 0" in capsys.readouterr().err
    assert main(["run", "--pipelines", "nyc_flights", "--months", "2014-01"]) == 2
    assert "nyc_flights has no partitions ['2014-01']; it has 2013-01..2013-12" in capsys.readouterr().err
    assert main(["run", "--months", "2013-13"]) == 2
    assert "--months: '2013-13' is not a month written YYYY-MM" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # refused before the instance was touched


def test_the_pipelines_beside_the_longest_are_dealt_to_as_many_processes_as_there_are_cpus_left():
    from ml_assets.cli import lanes_of

    assert lanes_of(["heart", "iris"], 1) == [["heart", "iris"]]  # two CPUs: one process beside the longest
    assert lanes_of(["heart", "iris"], 3) == [["heart"], ["iris"]]
    assert lanes_of(["a", "b", "c", "d", "e"], 2) == [["a", "c", "e"], ["b", "d"]]
    assert lanes_of([], 1) == []
