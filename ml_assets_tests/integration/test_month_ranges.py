"""Month ranges that just work: what a new user's first commands do on a fresh instance."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from ml_assets_tests.pipelines import REPO_ROOT, failure_messages, materialized

pytestmark = pytest.mark.slow


def test_materialize_all_for_a_later_month_names_the_one_range_to_materialize_first(flights, instance):
    """Not a chain of "materialize M-1 first" back to the first month: one range, named at once, nothing stored."""
    result = flights.materialize(instance, months=("2013-05", "2013-06"))
    assert not result.success
    message = failure_messages(result)
    assert (
        "nyc_flights/evaluation_report[2013-05] scores the model of 2013-04, which learns from the "
        "features of 2013-01..2013-04" in message
    )
    assert (
        "--partition-range 2013-01...2013-04" in message
        and "python3 dev.py run --pipelines nyc_flights --months 2013-05" in message
    )
    assert "FileNotFoundError" not in message and "No such file" not in message
    assert materialized(result) == []  # the first step refused before anything was stored
    # following the message: the range's raw data, features and models, then the months asked for
    assert flights.materialize(
        instance, months=("2013-01", "2013-04"), assets=["raw_data", "features", "model"]
    ).success
    again = flights.materialize(instance, months=("2013-05", "2013-06"))
    assert again.success, failure_messages(again)


def test_a_step_whose_input_month_is_missing_names_it(flights, instance):
    result = flights.materialize(instance, "2013-03", assets=["features"])
    assert not result.success
    message = failure_messages(result)
    assert "nyc_flights/raw_data has never been materialized for 2013-03" in message
    assert "FileNotFoundError" not in message


def test_the_obvious_first_cli_command_fails_at_once_with_the_fix(tmp_path):
    """`dg launch --assets 'group:nyc_flights' --partition 2013-02` on a fresh instance stops in its first step,
    naming 2013-01 and the command that fills it; that command, then the first one again, succeed."""
    import re
    import shlex

    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "ML_ASSETS_DATA_DIR": str(tmp_path / "data")}
    dg_cli = str(Path(sys.executable).with_name("dg"))
    command = [dg_cli, "launch", "--assets", "group:nyc_flights"]
    done = subprocess.run(
        [*command, "--partition", "2013-02"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "materialize raw_data, features and model for 2013-01 first" in output
    assert "FileNotFoundError" not in output
    fix = re.search(r"`(dg launch [^`]+)`", output).group(1)
    assert fix.endswith("--partition 2013-01")
    filled = subprocess.run(
        [dg_cli, *shlex.split(fix)[1:]], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert filled.returncode == 0, filled.stderr[-3000:]
    again = subprocess.run(
        [*command, "--partition", "2013-02"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_materialized_partitions(dg.AssetKey(["nyc_flights", "evaluation_report"])) == {
            "2013-02"
        }
        assert instance.get_materialized_partitions(dg.AssetKey(["nyc_flights", "model"])) == {
            "2013-01",
            "2013-02",
        }
