"""Month ranges that just work: what a new user's first commands do on a fresh instance."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from ml_assets_tests.pipelines import REPO_ROOT, failure_messages, materialized

pytestmark = pytest.mark.slow


def test_materialize_all_for_a_later_month_names_the_missing_month(flights, instance):
    result = flights.materialize(instance, "2013-02")
    assert not result.success
    message = failure_messages(result)
    assert "nyc_flights/model has never been materialized for 2013-01" in message
    assert "the evaluation of 2013-02 needs it" in message
    assert "dg launch --assets 'group:nyc_flights' --partition 2013-01" in message and "Materialize all > partition 2013-01" in message
    assert "FileNotFoundError" not in message and "No such file" not in message
    # the month's own work is kept; following the message then succeeds
    assert materialized(result) == ["features", "model", "raw_data"]
    assert flights.materialize(instance, "2013-01").success
    assert flights.materialize(instance, "2013-02", assets=["evaluation_report", "champion_model"]).success


def test_a_step_whose_input_month_is_missing_names_it(flights, instance):
    result = flights.materialize(instance, "2013-03", assets=["features"])
    assert not result.success
    message = failure_messages(result)
    assert "nyc_flights/raw_data has never been materialized for 2013-03" in message
    assert "FileNotFoundError" not in message


def test_the_obvious_first_cli_command_fails_at_once_with_the_fix(tmp_path):
    """`dg launch --assets 'group:nyc_flights' --partition 2013-02` on a fresh instance: the month's
    own steps run, then the evaluation stops naming 2013-01 and the command that fills it."""
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "ML_ASSETS_DATA_DIR": str(tmp_path / "data")}
    command = [str(Path(sys.executable).with_name("dg")), "launch", "--assets", "group:nyc_flights"]
    done = subprocess.run([*command, "--partition", "2013-02"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "nyc_flights/model has never been materialized for 2013-01" in output
    assert "FileNotFoundError" not in output
    assert "dg launch --assets 'group:nyc_flights' --partition 2013-01" in output
    # the command the message gives, then the first one again
    for month in ("2013-01", "2013-02"):
        again = subprocess.run([*command, "--partition", month], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr[-3000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        key = dg.AssetKey(["nyc_flights", "evaluation_report"])
        assert instance.get_materialized_partitions(key) == {"2013-01", "2013-02"}
