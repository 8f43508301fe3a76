"""dev.py, the fresh-machine entry point: the asset backfill it launches, and `run`'s summary."""

import os
import subprocess
import sys

import pytest

from benchmarks.backfill import timed_backfill
from ml_assets.orchestration.backfills import backfill_params
from ml_assets.orchestration.plan import ASSET_NAMES
from ml_assets_tests.pipelines import REPO_ROOT

FLIGHT_MONTHS = [f"2013-{m:02d}" for m in range(1, 13)]


def _ranges(params: dict) -> dict[str, tuple[str, str]]:
    return {
        "/".join(p["assetKey"]["path"]): (p["partitions"]["range"]["start"], p["partitions"]["range"]["end"])
        for p in params["partitionsByAssets"]
    }


def test_backfill_gives_every_asset_the_same_range():
    ranges = _ranges(backfill_params("nyc_flights", FLIGHT_MONTHS[:3]))
    assert ranges == {f"nyc_flights/{a}": ("2013-01", "2013-03") for a in ASSET_NAMES}


@pytest.mark.filterwarnings("ignore:Function `AssetSelection.sources` is deprecated")  # Dagster's own call
def test_a_ui_backfill_targets_the_months_picked_and_at_most_the_next():
    """The months Dagster targets when the UI launches the group over 2013-01..04 by partition names.

    It maps the picked months through every partition mapping, so an all-months dependency (as
    `predictions` once had on `champion_model`) pulled the whole year's predictions into the
    backfill, and they failed for want of features. Dagster's own code computes the target here
    (an internal API: the daemon test below is the public proof)."""
    import time

    import dagster as dg
    from dagster._core.execution.asset_backfill import AssetBackfillData

    from ml_assets.definitions import defs

    graph = defs().resolve_asset_graph()
    with dg.DagsterInstance.ephemeral() as instance:
        target = AssetBackfillData.from_asset_partitions(
            asset_graph=graph,
            partition_names=FLIGHT_MONTHS[:4],
            asset_selection=[dg.AssetKey(["nyc_flights", a]) for a in ASSET_NAMES],
            dynamic_partitions_store=instance,
            backfill_start_timestamp=time.time(),
            all_partitions=False,
        ).target_subset
    from ml_assets.cli import load_pipelines

    # training_window: backtest: a month's features are read by the models of the next months_read_by_model - 1 months
    window = load_pipelines()[1]["nyc_flights"].months_read_by_model
    for asset in ASSET_NAMES:
        months = set(target.get_partitions_subset(dg.AssetKey(["nyc_flights", asset])).get_partition_keys())
        if asset in ("raw_data", "features"):
            assert months == set(FLIGHT_MONTHS[:4]), (asset, sorted(months))
        else:  # models whose window reaches back into the range, and the evaluations after them: they await their data
            assert set(FLIGHT_MONTHS[:4]) <= months <= set(FLIGHT_MONTHS[: 4 + window]), (
                asset,
                sorted(months),
            )


@pytest.mark.slow
def test_a_ui_backfill_by_partition_names_completes_on_a_busy_machine():
    """What the UI sends for "Materialize all" over 2013-01..2013-02 picked by partition names on a machine kept at
    a 1-minute load average of 1.5 times the cores or more throughout (by the other tests beside it, topped up with
    busy loops when they fall short: ml_assets.processes.busy_machine). The daemon then splits the backfill into
    several runs, in an order that once ran a first month's predictions before any champion existed.

    Dagster adds months after the range (children of the range's last months through the models, whose
    window choice reads months back into it): those months report they await their data instead of failing, and
    their models train nothing, so the backfill ends successful. A failure names its runs, steps and
    errors, or says Dagster recorded none (backfill_outcome)."""
    import json

    import dagster as dg

    seen = {}

    def inspect(instance, data_dir, result):
        reports = data_dir / "reports" / "nyc_flights" / "evaluation_report"
        seen["reports"] = {p.stem: json.loads(p.read_text())["status"] for p in reports.glob("*.json")}
        seen["models"] = {
            r.partition_key: r.asset_materialization.metadata.get(
                "status", dg.MetadataValue.text("trained")
            ).value
            for r in instance.fetch_materializations(dg.AssetKey(["nyc_flights", "model"]), limit=100).records
        }
        seen["warnings"] = [
            record.message
            for run in instance.get_runs(
                filters=dg.RunsFilter(tags={"dagster/backfill": result["backfill_id"]})
            )
            for record in instance.all_logs(run.run_id)
            if "emitted no result" in (record.message or "")
        ]

    from ml_assets.processes import busy_machine

    with busy_machine(limit_s=1800) as lowest_load:
        result = timed_backfill("names", FLIGHT_MONTHS[:2], timeout_s=1500, inspect=inspect)
        least_busy = lowest_load()
    print(
        f"\n[busy] names backfill of 2 months: {result['seconds']:.0f} s at a 1-minute load average of at least "
        f"{least_busy:.1f}"
    )
    assert least_busy >= 1.5 * (os.cpu_count() or 1), (
        f"the machine was not kept busy: load average {least_busy:.1f}"
    )
    assert result["status"] == "COMPLETED_SUCCESS", (
        result["failures"],
        result["failed_partitions"],
        result["daemon_log"],
    )
    assert result["checks_failed"] == 0 and not result["failures"], result
    assert {m: s for m, s in seen["reports"].items() if m <= "2013-02"} == {
        "2013-01": "first month",
        "2013-02": "evaluated",
    }
    later = {m: s for m, s in seen["reports"].items() if m > "2013-02"}
    assert "2013-03" in later and set(later.values()) == {"awaiting data"}, later
    # the models of those months trained nothing: no MLflow run, no registered version
    assert {m: s for m, s in seen["models"].items() if m <= "2013-02"} == {
        "2013-01": "trained",
        "2013-02": "trained",
    }
    assert all(s.startswith("awaiting") for m, s in seen["models"].items() if m > "2013-02"), seen["models"]
    assert seen["warnings"] == []


@pytest.mark.slow
def test_dev_run_materializes_pipelines_and_prints_one_summary(tmp_path):
    """The README's main command as written, on a new DAGSTER_HOME and data folder: every offline pipeline, the
    flights' 12 months as one range run beside iris then heart disease in a process each (one pipeline per CPU), and
    one summary table. (.ci/run leaves it to this test.)"""
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "ML_ASSETS_DATA_DIR": str(tmp_path / "data")}
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "dev.py"), "run"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    out = done.stdout
    assert (
        "[run] iris: ok" in out
        and "[run] heart_disease: ok" in out
        and "[run] nyc_flights[2013-01..2013-12]: ok" in out
    )
    # every flights month but the first (no earlier model to score it), iris and heart disease
    assert f"{len(FLIGHT_MONTHS) - 1 + 2} evaluation report(s)" in out
    iris_line = next(line for line in out.splitlines() if line.strip().startswith("iris"))
    assert "CV accuracy" in iris_line and "seed script" in iris_line and "majority class" in iris_line
    flights_line = next(line for line in out.splitlines() if line.strip().startswith("nyc_flights"))
    assert "2013-02" in flights_line and "course baseline" in flights_line
    assert "heart_disease  -        CV accuracy" in out
    # the window the backtest chose for the model of 2013-01 (nothing to judge by yet: 1 month)
    assert "model trained on 2013-01 (1 month, chosen by the backtest)" in flights_line
    assert "backtest_report (walk-forward)" in out
    assert "dev.py run finished in" in out
    # the runs are in the persistent instance, so `dagster dev` shows them
    import dagster as dg

    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        assert len(instance.get_runs()) == 3  # iris, heart disease, and the flight months as one range run
