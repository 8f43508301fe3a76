"""A step killed while writing a range of months: each month stays stored with its materialization, or as it was."""

import io
import os
import signal
import subprocess
import sys
import time

import dagster as dg
import pandas as pd
import pytest

from ml_assets_tests.pipelines import REPO_ROOT

pytestmark = pytest.mark.slow

MONTHS = ("2013-01", "2013-03")

# The real flights pipeline and the real store, with a writer that is slow at one chosen moment: after the
# first month's file is written and before the second's. Its frames carry one more column, so a file it
# wrote is told apart from the good run's.
KILLED_WRITER = """
import sys, time
from pathlib import Path
import dagster as dg
from ml_assets.local import load_pipeline
from ml_assets.storage import io_managers

data_dir, marker = Path(sys.argv[1]), Path(sys.argv[2])

class StopsBeforeTheSecondMonth(io_managers.ParquetFrameStore):
    def encode(self, obj, path, owner=""):
        return super().encode(obj.assign(written_by_the_killed_run=1), path, owner)

    def write_file(self, path, data):
        if path.name == "2013-02.parquet":
            marker.write_text(str(path))
            time.sleep(3600)
        super().write_file(path, data)

io_managers.FrameIOManager._store = lambda self: StopsBeforeTheSecondMonth
with dg.DagsterInstance.get() as instance:
    load_pipeline("nyc_flights", data_dir).materialize(instance, assets=["raw_data"], months=("2013-01", "2013-03"))
"""


def _wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.2)


def _latest_run(instance: dg.DagsterInstance, key: dg.AssetKey, month: str) -> str:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[month]), limit=1
    ).records
    return records[0].run_id


def test_a_step_killed_between_two_months_leaves_every_month_as_its_materialization_says(flights, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    raw = flights.warehouse("raw_data")
    key = flights.key("raw_data")
    months = ["2013-01", "2013-02", "2013-03"]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        good = flights.materialize(instance, assets=["raw_data"], months=MONTHS)
        assert good.success
    stored = {m: (raw / f"{m}.parquet").read_bytes() for m in months}

    marker = tmp_path / "killed_here"
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(flights.data_dir), str(marker)],
        cwd=REPO_ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(lambda: marker.exists() or writer.poll() is not None, 300, "the writer to reach 2013-02")
        assert marker.exists(), writer.communicate()[0][-3000:]
    finally:
        os.killpg(writer.pid, signal.SIGKILL)
        writer.wait()

    # what the kill left on disk: 2013-01 replaced by the dead run, with no materialization saying so
    torn = pd.read_parquet(io.BytesIO((raw / "2013-01.parquet").read_bytes()))
    assert "written_by_the_killed_run" in torn.columns
    assert (raw / "2013-02.parquet").read_bytes() == stored["2013-02"]
    journal = flights.warehouse("..") / ".journal" / "nyc_flights__raw_data"
    assert list(journal.glob("*.json")), "the dead run wrote no journal"
    # the months it had serialized and not yet stored: hidden temporary files beside their targets
    assert sorted(p.name.split(".")[1] for p in raw.glob(".*.tmp")) == ["2013-02", "2013-03"]

    with dg.DagsterInstance.from_config(str(home)) as instance:
        killed = [r for r in instance.get_runs() if r.run_id != good.run_id]
        # no daemon marked it: nothing needs one
        assert [r.status for r in killed] == [dg.DagsterRunStatus.STARTED]
        # the next run that reads the months settles the dead run's journal first
        after = flights.materialize(instance, assets=["features"], months=MONTHS)
        assert after.success
        assert {m: (raw / f"{m}.parquet").read_bytes() for m in months} == stored
        assert all(_latest_run(instance, key, m) == good.run_id for m in months)
    assert not [p for p in journal.rglob("*") if p.is_file()], (
        "the settled journal or its copies were left behind"
    )
    assert not list(raw.glob(".*.tmp")), "what the dead run staged was left behind"
    features = pd.read_parquet(io.BytesIO((flights.warehouse("features") / "2013-01.parquet").read_bytes()))
    assert "written_by_the_killed_run" not in features.columns
