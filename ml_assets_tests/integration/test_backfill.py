"""Backfills: queued as asset backfills from the CLI, and idempotent when run twice."""

import hashlib
import json
import os
import subprocess
import sys

import dagster as dg
import pytest
from upath import UPath

from ml_assets.orchestration.plan import ASSET_NAMES
from ml_assets_tests.pipelines import REPO_ROOT, check_results, failure_messages, materialized

MONTHS = ["2013-01", "2013-02", "2013-03"]
pytestmark = pytest.mark.slow


def _digests(pipeline) -> dict[str, str]:
    warehouse = UPath(pipeline.data_dir) / "warehouse"
    files = [
        p for p in [*warehouse.rglob("*.parquet"), *warehouse.rglob("*.joblib")] if ".journal" not in p.parts
    ]
    return {str(p.relative_to(pipeline.data_dir)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _metrics(pipeline) -> dict[str, dict]:
    keep = ("rmse", "mae", "r2", "baselines", "train_rows", "valid_rows")
    reports = UPath(pipeline.data_dir) / "reports" / pipeline.name / "evaluation_report"
    evaluated = [(p.name, json.loads(p.read_text())) for p in reports.glob("*.json")]
    return {
        name: {k: report[k] for k in keep} for name, report in evaluated if report["status"] == "evaluated"
    }


def _backtest_scores(pipeline) -> list[tuple[str, str, float]]:
    """Every policy's score on every month in the stored backtest report (version numbers aside: a second pass
    registers new versions of the same models)."""
    rows = json.loads(pipeline.report(None, "backtest_report").read_text())["rows"]
    return sorted((r["month"], r["policy"], r["score"]) for r in rows)


def test_backfilling_twice_leaves_identical_outputs(flights):
    with dg.DagsterInstance.ephemeral() as instance:
        for month in MONTHS:  # what a one-run-per-month backfill does, in dependency order
            result = flights.materialize(instance, month)
            assert result.success, failure_messages(result)
        first, first_metrics, first_backtest = _digests(flights), _metrics(flights), _backtest_scores(flights)
        champion = str(flights.registry.champion().version)
        for month in MONTHS:
            assert flights.materialize(instance, month).success
        # the second pass's gates faced the first pass's champion, the model of a later month: it stays, and the
        # backtest's "keep the champion" (replayed from none) is the first pass's
        assert str(flights.registry.champion().version) == champion
        assert _backtest_scores(flights) == first_backtest
        assert {policy for _, policy, _ in first_backtest} >= {"keep the champion", "course baseline"}
    # predictions follow whichever model is champion when they run (the second pass finds the
    # first pass's), so they are left out below; the first month, with no champion yet, is stored empty
    scored = sorted(path for path in first if "/predictions/" in path)
    assert [path.rsplit("/", 1)[1] for path in scored] == [
        "2013-01.parquet",
        "2013-02.parquet",
        "2013-03.parquet",
    ]
    first = {path: digest for path, digest in first.items() if path not in scored}
    assert len(first) == 9  # raw, features and model for each of three months
    assert {p: d for p, d in _digests(flights).items() if "/predictions/" not in p} == first  # byte for byte
    assert _metrics(flights) == first_metrics and len(first_metrics) == 2


def test_a_range_in_one_run_gives_what_month_by_month_runs_give(flights, tmp_path):
    by_month = flights.__class__(flights.component, tmp_path / "by_month")
    with dg.DagsterInstance.ephemeral() as instance, dg.DagsterInstance.ephemeral() as other:
        ranged = flights.materialize(instance, months=(MONTHS[0], MONTHS[-1]))
        assert ranged.success, failure_messages(ranged)
        for month in MONTHS:
            assert by_month.materialize(other, month).success
    # one run, one materialization per asset and month, one result per check for the range
    assert materialized(ranged) == sorted(
        ["champion_model", "evaluation_report", "features", "model", "predictions", "raw_data"] * 3
        # the alias once: the gates of a range run report it at the end
        + [
            "backtest_report",
            "champion_alias",
        ]
    )
    assert all(check_results(ranged).values())
    assert _metrics(flights) == _metrics(by_month) and len(_metrics(flights)) == 2

    # predictions differ by design: the range scores every month with the champion it ends with
    def trained(pipeline):
        return {
            k.split("/", 1)[1]: v
            for k, v in _digests(pipeline).items()
            if k.endswith(".parquet") and "/predictions/" not in k
        }

    assert trained(flights) == trained(by_month) and len(trained(flights)) == 6

    def gates(pipeline):
        return [
            json.loads(
                (pipeline.data_dir / "reports" / "nyc_flights" / "champion_model" / f"{m}.json").read_text()
            )
            for m in MONTHS
        ]

    champions = gates(flights)
    # in the range as month by month, each gate faced the champion the previous month's gate left, and decided alike
    assert champions[1]["promoted"] is True  # the first evaluated month: no champion yet
    assert champions[2]["previous_champion_version"] == champions[1]["champion_version"]
    assert [c["promoted"] for c in champions] == [c["promoted"] for c in gates(by_month)]


def test_cli_queues_an_asset_backfill_in_dependency_order(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "ML_ASSETS_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "dev.py"), "backfill", "2013-01", "2013-12"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "backfill" in done.stdout and "of nyc_flights queued for 12 month(s) 2013-01..2013-12" in done.stdout
    )
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (backfill,) = instance.get_backfills()
        assert backfill.is_asset_backfill
        targeted = backfill.asset_backfill_data.target_subset
        ranges = {
            key.to_user_string(): [
                (r.start, r.end) for r in subset.get_partition_key_ranges(subset.partitions_def)
            ]
            for key, subset in targeted.partitions_subsets_by_asset_key.items()
        }
        # one range for every asset: the daemon runs it as a single run
        assert ranges == {f"nyc_flights/{asset}": [("2013-01", "2013-12")] for asset in ASSET_NAMES}


@pytest.mark.parametrize(
    "bad",
    [
        ["2013-13"],
        ["2013-01", "2013-02", "2013-03"],
        ["2014-01", "2014-12"],
        ["2013-01", "2013-02", "--pipeline", "nope"],
    ],
)
def test_cli_backfill_refuses_bad_ranges(tmp_path, bad):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "ML_ASSETS_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "dev.py"), "backfill", *bad],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert (
        "YYYY-MM" in done.stderr
        or "no partitions" in done.stderr
        or "nope" in done.stderr
        or "usage" in done.stderr
    )
