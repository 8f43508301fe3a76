"""One flights month through the whole graph from the CLI, beside Dagster's own floor.

    python -m benchmarks.cli_month [--repeat 3] [--profile]

Both go through the same CLI (`dagster asset materialize`) on one throwaway instance, in the
same minute: the floor is two trivial monthly assets (benchmarks/floor_defs.py); ours is
`nyc_flights/raw_data*` (raw data -> features -> model -> evaluation report -> champion) for
2013-02..2013-04, each after the month before it. Also printed: how long the code location takes
to import (beside `import dagster`), and how much of our run is the steps' own work.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.runner import REPO_ROOT, ratio, throwaway_env

BEFORE = "before: 8.4 s a month, 2.4x the floor of 3.4 s; code location 1.7-2.5 s"
DAGSTER = str(Path(sys.executable).with_name("dagster"))


def materialize(env: dict, target: list[str], select: str, month: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [DAGSTER, "asset", "materialize", *target, "--select", select, "--partition", month],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"{select} {month} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def step_seconds(home: Path, month: str) -> float:
    """The steps' own time in the latest run of `month` (Dagster's STEP_SUCCESS durations)."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs(
            filters=dg.RunsFilter(tags={"dagster/partition": month}, job_name="__ASSET_JOB"), limit=1
        )
        steps = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)
        return sum(r.dagster_event.event_specific_data.duration_ms for r in steps) / 1000


def import_seconds(statement: str, repeat: int) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    runs = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(repeat)
    ]
    return min(runs)


# what any month's steps import that Dagster's floor does not: the model (scikit-learn), its registration (MLflow, its
# SQL store, skops) and the report's plot (matplotlib); each step process pays them once
STEP_LIBRARIES = (
    "sklearn.ensemble",
    "sklearn.compose",
    "mlflow.sklearn",
    "mlflow.store.tracking.sqlalchemy_store",
    "skops.io",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
)


def measure_imports(repeat: int) -> dict:
    dagster_import = import_seconds("import dagster", repeat)
    location = import_seconds("import dagster; from ml_assets.definitions import defs; defs()", repeat)
    libraries = import_seconds(
        "import dagster, pandas, pyarrow.parquet; t = time.perf_counter(); "
        + "; ".join(f"import {name}" for name in STEP_LIBRARIES),
        repeat,
    )
    return {"location_s": location, "dagster_s": dagster_import, "step_libraries_s": libraries}


def measure_month(repeat: int, profile: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = throwaway_env(Path(tmp))
        home = Path(env["DAGSTER_HOME"])
        floor_target = ["-f", str(REPO_ROOT / "benchmarks" / "floor_defs.py")]
        ours_target = ["-m", "ml_assets.definitions"]
        materialize(env, floor_target, "*", "2013-01")  # instance tables created, untimed
        # the month before, and the MLflow store
        materialize(env, ours_target, "nyc_flights/raw_data*", "2013-01")
        floors, ours, work = [], [], []
        for month in ("2013-02", "2013-03", "2013-04")[:repeat]:
            floors.append(materialize(env, floor_target, "*", month))
            ours.append(materialize(env, ours_target, "nyc_flights/raw_data*", month))
            work.append(step_seconds(home, month))
        best = min(range(len(ours)), key=ours.__getitem__)
        result = {
            "ours_s": ours[best],
            "all_ours_s": ours,
            "floor_s": min(floors),
            "work_s": work[best],
            "profile": "",
        }
        if profile:
            out = Path(tmp) / "profile.txt"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pyinstrument",
                    "-o",
                    str(out),
                    "-m",
                    "dagster",
                    "asset",
                    "materialize",
                    *ours_target,
                    "--select",
                    "nyc_flights/raw_data*",
                    "--partition",
                    "2013-05",
                ],
                cwd=REPO_ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
            result["profile"] = "\n".join(out.read_text().splitlines()[:60])
        return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--profile", action="store_true", help="also profile one month's CLI run with pyinstrument"
    )
    args = parser.parse_args(argv)
    imports = measure_imports(args.repeat)
    print(
        f"code location import: {imports['location_s']:.2f} s; `import dagster` {imports['dagster_s']:.2f} s "
        f"({ratio(imports['location_s'], imports['dagster_s'])})   (target <= 1 s and < 3x)"
    )
    month = measure_month(args.repeat, args.profile)
    print(
        f"one flights month through the whole graph: {month['ours_s']:.1f} s (fastest of {len(month['all_ours_s'])}: "
        f"{', '.join(f'{s:.1f}' for s in month['all_ours_s'])}); Dagster's floor {month['floor_s']:.1f} s -> "
        f"{ratio(month['ours_s'], month['floor_s'])}   (target <= 1.5x)"
    )
    print(
        f"  the steps' own time in that run: {month['work_s']:.2f} s; the rest is process start, imports "
        "and run bookkeeping"
    )
    least = month["floor_s"] + imports["step_libraries_s"]
    print(
        f"  the libraries any month's steps import and the floor does not ({', '.join(STEP_LIBRARIES)}): "
        f"{imports['step_libraries_s']:.2f} s, so no month can take less than {least:.1f} s "
        f"({ratio(least, month['floor_s'])} the floor) in a process of its own"
    )
    print(f"  {BEFORE}")
    if month["profile"]:
        print("\nprofile of one month's CLI run (pyinstrument; its own overhead inflates pure-Python code):")
        print(month["profile"])


if __name__ == "__main__":
    main()
