"""One train/validate pair: the project's pipeline vs the course script vs the read floor.

    python -m benchmarks.month                                   # green 2021-01 -> 2021-02 from ../shared
    python -m benchmarks.month --train FILE [FILE ...] --val FILE [--color green] [--repeat 3] [--no-dagster]

Each pipeline runs in a fresh process (fastest of --repeat runs); stages are timed after
imports. Dagster's overhead is the whole graph through `dagster asset materialize` for the
training and the validation month minus the pure functions' total.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.pipelines import month_of
from benchmarks.runner import REPO_ROOT, SHARED_TLC, print_table, ratio, raw_month_mb, run_pipeline


def dagster_seconds(train: str, valid: str, color: str) -> float:
    """Wall time of `dagster asset materialize --select 'nyc_taxi_green/raw_data*'` for both months, in a
    throwaway instance."""
    folder = Path(train).resolve().parent
    if color != "green":
        raise SystemExit("--dagster measures the nyc_taxi_green pipeline: green files only (or --no-dagster)")
    if Path(valid).resolve().parent != folder:
        raise SystemExit("--dagster needs the training and validation files in one folder (the URL template)")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("ML_ASSETS_") and k != "MLFLOW_TRACKING_URI"
        }
        env.update(
            DAGSTER_HOME=str(home),
            ML_ASSETS_DATA_DIR=str(Path(tmp) / "data"),
            ML_ASSETS_TAXI_URL_TEMPLATE=str(folder / "{color}_tripdata_{month}.parquet"),
            ML_ASSETS_TAXI_START_MONTH=month_of(train),
            ML_ASSETS_TAXI_END_MONTH=month_of(valid),
        )
        dagster = str(Path(sys.executable).with_name("dagster"))
        started = time.perf_counter()
        for month in (month_of(train), month_of(valid)):
            subprocess.run(
                [
                    dagster,
                    "asset",
                    "materialize",
                    "-m",
                    "ml_assets.definitions",
                    "--select",
                    "nyc_taxi_green/raw_data*",
                    "--partition",
                    month,
                ],
                cwd=REPO_ROOT,
                env=env,
                check=True,
                capture_output=True,
            )
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", nargs="+", default=[str(SHARED_TLC / "green_tripdata_2021-01.parquet")])
    parser.add_argument("--val", default=str(SHARED_TLC / "green_tripdata_2021-02.parquet"))
    parser.add_argument("--color", default="green", choices=["green", "yellow"])
    parser.add_argument(
        "--repeat", type=int, default=3, help="fresh-process runs per pipeline; the fastest counts"
    )
    parser.add_argument("--no-dagster", action="store_true", help="skip the Dagster overhead measurement")
    args = parser.parse_args(argv)

    print(
        f"train {', '.join(Path(p).name for p in args.train)} -> validate {Path(args.val).name}; "
        f"{os.cpu_count()} CPUs; fastest of {args.repeat} fresh-process runs\n"
    )
    results = {
        name: run_pipeline(
            name, args.train, args.val, args.color, repeat=args.repeat if name != "course_xgboost" else 1
        )
        for name in ("ours", "course_lr", "course_xgboost", "floor")
    }
    print_table(results)
    ours, lr, xgb, floor = (results[n] for n in ("ours", "course_lr", "course_xgboost", "floor"))
    raw_mb = raw_month_mb(args.train[0])
    print()
    print(
        f"RMSE: ours {ours['rmse']:.3f}, course XGBoost {xgb['rmse']:.3f}, course LinearRegression {lr['rmse']:.3f}"
    )
    print(
        f"time, course XGBoost / ours:          {ratio(xgb['seconds']['total'], ours['seconds']['total'])} "
        "  (target >= 5x)"
    )
    print(
        f"time, course LinearRegression / ours: {ratio(lr['seconds']['total'], ours['seconds']['total'])}  "
        " (target >= 1x)"
    )
    print(
        "time, ours / read floor:              "
        f"{ratio(ours['seconds']['total'], floor['seconds']['total'])}   (target <= 3x)"
    )
    print(
        "      ours read+features / read floor: "
        f"{ratio(ours['seconds']['read'] + ours['seconds']['features'], floor['seconds']['total'])}"
    )
    print(f"peak RSS, course XGBoost / ours:      {ratio(xgb['peak_rss_mb'], ours['peak_rss_mb'])}")
    working = ours["peak_rss_mb"] - ours["after_imports_mb"]
    print(
        f"memory: raw training month in pandas {raw_mb:.1f} MB; ours peak RSS {ours['peak_rss_mb']:.0f} MB "
        f"({ratio(ours['peak_rss_mb'], raw_mb)}), above the imports {working:.0f} MB "
        f"({ratio(working, raw_mb)})   (target <= 3x)"
    )
    if not args.no_dagster and len(args.train) == 1:
        seconds = dagster_seconds(args.train[0], args.val, args.color)
        print(
            f"dagster: whole graph for both months via `dagster asset materialize` {seconds:.1f} s; "
            f"pure functions {ours['seconds']['total']:.2f} s; overhead {seconds - ours['seconds']['total']:.1f} s"
        )


if __name__ == "__main__":
    main()
