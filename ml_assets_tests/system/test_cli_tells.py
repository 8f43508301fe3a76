"""The command line as a user meets it: a month range on fresh storage, a range Dagster's CLI launches without its
past, and a summary that tells what failed or why a month has no score."""

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ml_assets_tests.pipelines import REPO_ROOT

pytestmark = pytest.mark.slow


def fresh_env(tmp_path, **extra) -> dict:
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "ML_ASSETS_DATA_DIR": str(tmp_path / "data"),
        **extra,
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    (tmp_path / "home").mkdir(exist_ok=True)
    return env


def dev_run(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "dev.py"), "run", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def side_process_priorities(home: str, stop) -> list[int]:
    """The scheduling priority (nice value) of each `--no-summary` side process with DAGSTER_HOME `home`, read from
    /proc every 0.1 s until `stop` is set."""
    seen: dict[int, int] = {}
    while not stop.wait(0.1):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) in seen:
                continue
            try:
                argv = (Path(entry.path) / "cmdline").read_bytes().split(b"\0")
                environ = (Path(entry.path) / "environ").read_bytes().split(b"\0")
                if b"--no-summary" in argv and f"DAGSTER_HOME={home}".encode() in environ:
                    seen[int(entry.name)] = os.getpriority(os.PRIO_PROCESS, int(entry.name))
            except OSError:  # gone, or not ours to read
                continue
    return list(seen.values())


def test_a_month_range_on_fresh_storage_builds_what_it_needs_and_says_so(tmp_path):
    env = fresh_env(tmp_path)
    done = dev_run(env, "--pipelines", "nyc_flights", "--months", "2013-03", "2013-04", "--jobs", "1")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert (
        "2013-03 is scored by the model of 2013-02, which learns from 2013-01..2013-02: building raw_data, "
        "features and model" in out
    )
    assert "2 evaluation report(s)" in out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("nyc_flights  2013-0")]
    assert [r[1] for r in rows] == ["2013-03", "2013-04"], out


def test_pipelines_beside_the_longest_run_in_one_process_and_a_failing_one_stops_none_of_the_others(tmp_path):
    """On two CPUs the flights month runs here and heart disease, then iris, in one process beside it: heart
    disease's file is malformed, its step fails naming the file, and iris still runs and is summarized."""
    bad = tmp_path / "heart.csv"
    bad.write_text("a,b\n1,2\n")
    env = fresh_env(tmp_path, ML_ASSETS_HEART_URL=str(bad))
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        priorities = pool.submit(side_process_priorities, env["DAGSTER_HOME"], stop)
        try:
            done = dev_run(
                env,
                "--pipelines",
                "nyc_flights",
                "heart_disease",
                "iris",
                "--months",
                "2013-01",
                "--jobs",
                "2",
            )
        finally:
            stop.set()
    out = done.stdout + done.stderr
    # the side process runs at the priority it was started with: at nice 10 any other work on the machine took its CPU
    assert priorities.result() == [os.getpriority(os.PRIO_PROCESS, 0)], out[-3000:]
    assert done.returncode == 1, out[-3000:]
    assert "[run] failed: heart_disease (their errors are above)" in out, out[-3000:]
    assert "[run] iris: ok in" in out and "[run] nyc_flights[2013-01]: ok in" in out
    failures = out[out.index("failure(s): pipeline, month, what failed, figures") :]
    assert "heart_disease  -  step heart_disease__raw_data failed" in failures and "heart.csv" in failures
    assert "iris  -  CV accuracy" in out  # its report is in the summary


def test_a_range_launched_from_dagsters_cli_without_its_past_fails_at_once_naming_the_range(tmp_path):
    env = fresh_env(tmp_path)
    began = time.perf_counter()
    done = subprocess.run(
        [
            str(REPO_ROOT / ".venv" / "bin" / "dagster"),
            "asset",
            "materialize",
            "-m",
            "ml_assets.definitions",
            "--select",
            "nyc_flights/raw_data*",
            "--partition-range",
            "2013-05...2013-06",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    said = done.stdout + done.stderr
    assert done.returncode != 0
    assert "materialize raw_data, features and model for 2013-01..2013-04 first" in said, said[-3000:]
    assert "--partition-range 2013-01...2013-04" in said
    # at once: the first step refused, nothing was fitted or stored
    assert not (tmp_path / "data" / "warehouse" / "nyc_flights" / "features").exists()
    assert "STEP_SUCCESS" not in said
    print(f"\n[cli] refused in {time.perf_counter() - began:.1f} s")


def test_the_summary_tells_what_failed_and_why_a_month_has_no_score(tmp_path, tlc_dir):
    """The TLC serves 2022-02 but not 2022-01 (404): 2022-02 has nothing to be scored by, and the table says why; a
    blocking check that fails is a row with its month and figures, and the summary is printed all the same."""
    import shutil

    from ml_assets_tests.conftest import TripServer

    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(tlc_dir / "green_tripdata_2022-02.parquet", served)
    with TripServer(served) as server:
        env = fresh_env(tmp_path, ML_ASSETS_TAXI_URL_TEMPLATE=server.url_template)
        done = dev_run(env, "--pipelines", "nyc_taxi_green", "--months", "2022-02", "--jobs", "1")
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "2022-01 was refused" in out and "404" in out
    assert "0 evaluation report(s)" in out and "(2022-02: 2022-01 was refused" in out, out[-3000:]
